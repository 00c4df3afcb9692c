
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * One pass over a body: strict RFC 8259 JSON and, on the way, the field
 * checks of a schema compiled at configuration time from the service's
 * profile and snap_require.  Nothing is allocated.  cJSON built a tree
 * with a malloc per node to read a dozen members, a sixth of what a
 * notification cost; it also took the first of two equal names where
 * most applications take the last, and let a BOM and invalid UTF-8 pass.
 * No nginx runtime here, so the unit tests and the fuzzers use it as it is.
 */


#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_json.h"


/* the kinds of value */
#define NGX_HTTP_SNAP_V_NULL       0
#define NGX_HTTP_SNAP_V_BOOL       1
#define NGX_HTTP_SNAP_V_NUMBER     2
#define NGX_HTTP_SNAP_V_STRING     3
#define NGX_HTTP_SNAP_V_OBJECT     4
#define NGX_HTTP_SNAP_V_ARRAY      5

/* a checked path opens at most an array and an object per segment */
#define NGX_HTTP_SNAP_JSON_FRAMES   (NGX_HTTP_SNAP_FIELD_MAX + 2)
#define NGX_HTTP_SNAP_JSON_INDEXES  (NGX_HTTP_SNAP_FIELD_MAX / 3 + 1)

/* longest string a format can accept (a timestamp: 35 bytes) */
#define NGX_HTTP_SNAP_FORMAT_MAX   64


typedef struct {
    unsigned short                 node;
    unsigned char                  array;
    int                            depth;     /* the container's level */
    int                            index;     /* arrays: the element */
} ngx_http_snap_frame_t;


typedef struct {
    int                            kind;
    int                            escaped;
    const unsigned char           *start;     /* strings: inside the quotes */
    const unsigned char           *end;
} ngx_http_snap_value_t;


typedef struct {
    const ngx_http_snap_schema_t  *schema;
    int                            nframes;
    unsigned                       fail_field;
    int                            fail_rc;
    int                            fail_segments;
    int                            fail_arrays;
    int                            fail_index[NGX_HTTP_SNAP_JSON_INDEXES];
    ngx_http_snap_frame_t          frame[NGX_HTTP_SNAP_JSON_FRAMES];
    unsigned char                  seen[NGX_HTTP_SNAP_SCHEMA_NODES];
} ngx_http_snap_json_t;


static size_t ngx_http_snap_schema_count(const ngx_http_snap_field_t *fields,
    size_t n);
static unsigned ngx_http_snap_schema_node(ngx_http_snap_schema_t *s,
    unsigned parent, const char *name, size_t len, unsigned depth);
static const unsigned char *ngx_http_snap_json_string(const unsigned char *p,
    const unsigned char *end, int *escaped);
static const unsigned char *ngx_http_snap_json_number(const unsigned char *p,
    const unsigned char *end);
static int ngx_http_snap_json_gap(const unsigned char **pp,
    const unsigned char *end, const unsigned char **run,
    ngx_http_snap_emit_pt emit, void *data);
static const unsigned char *ngx_http_snap_json_scalar(const unsigned char *p,
    const unsigned char *end, ngx_http_snap_value_t *v);
static int ngx_http_snap_json_hex4(const unsigned char *p, unsigned *cp);
static size_t ngx_http_snap_json_decode(const unsigned char *p,
    const unsigned char *end, unsigned char *buf, size_t size);
static int ngx_http_snap_json_integer(const ngx_http_snap_value_t *v);
static int ngx_http_snap_json_value_ok(const ngx_http_snap_field_t *f,
    const ngx_http_snap_value_t *v);
static void ngx_http_snap_json_fail(ngx_http_snap_json_t *st, unsigned field,
    int rc, int segments);
static void ngx_http_snap_json_slot(ngx_http_snap_json_t *st, unsigned slot,
    int elem, const ngx_http_snap_value_t *v);
static int ngx_http_snap_json_member(ngx_http_snap_json_t *st,
    const ngx_http_snap_frame_t *f, const ngx_http_snap_value_t *key,
    unsigned *slot);
static void ngx_http_snap_json_open(ngx_http_snap_json_t *st, unsigned node,
    int array, int depth);
static void ngx_http_snap_json_close(ngx_http_snap_json_t *st);
static void ngx_http_snap_json_path(const ngx_http_snap_json_t *st,
    char *err, size_t errlen);


/*
 * What a byte means inside a string: 0 copies through; 1 the closing
 * quote; 2 an escape; 3 a control character, never raw in JSON; 4 to 6 a
 * UTF-8 lead byte of 2 to 4 bytes (6 is refined below); 7 a byte no
 * UTF-8 text starts with.
 */

static const unsigned char  ngx_http_snap_json_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7
};


#define ngx_http_snap_json_ws(c)                                              \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')


/*
 * The schema is a tree of the names the fields' paths go through: a node
 * per member, an element node under a member written "name[]".  Each node
 * keeps the lowest field index that fails with it in each way, since only
 * the first field of the list that fails is answered.
 */

static size_t
ngx_http_snap_schema_count(const ngx_http_snap_field_t *fields, size_t n)
{
    size_t       i, nodes;
    const char  *p;

    nodes = 1;

    for (i = 0; i < n; i++) {
        nodes++;

        for (p = fields[i].path; *p; p++) {
            nodes += (*p == '.' || *p == '[');
        }
    }

    return nodes;
}


size_t
ngx_http_snap_schema_size(const ngx_http_snap_field_t *fields, size_t n)
{
    return sizeof(ngx_http_snap_schema_t)
           + ngx_http_snap_schema_count(fields, n)
             * sizeof(ngx_http_snap_schema_node_t)
           + n * sizeof(unsigned short);
}


/*
 * Lays the schema out in mem (ngx_http_snap_schema_size() bytes); NULL
 * when the paths need more than NGX_HTTP_SNAP_SCHEMA_NODES nodes.
 */

ngx_http_snap_schema_t *
ngx_http_snap_schema_init(void *mem, const ngx_http_snap_field_t *fields,
    size_t n)
{
    size_t                        i, len;
    unsigned                      cur, prev, elem, f;
    const char                   *p, *dot;
    ngx_http_snap_schema_t       *s;
    ngx_http_snap_schema_node_t  *node;

    if (n >= NGX_HTTP_SNAP_SCHEMA_NONE) {
        return NULL;
    }

    s = mem;
    s->fields = fields;
    s->nfields = (unsigned short) n;
    s->nodes = (ngx_http_snap_schema_node_t *) (s + 1);
    s->own_next = (unsigned short *)
                      (s->nodes + ngx_http_snap_schema_count(fields, n));
    s->nnodes = 0;

    if (ngx_http_snap_schema_node(s, NGX_HTTP_SNAP_SCHEMA_NONE, NULL, 0, 0)
        != 0)
    {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        f = (unsigned) i;
        s->own_next[f] = NGX_HTTP_SNAP_SCHEMA_NONE;
        cur = 0;
        p = fields[i].path;

        for ( ;; ) {
            dot = strchr(p, '.');
            len = dot ? (size_t) (dot - p) : strlen(p);

            elem = len > 2 && p[len - 2] == '[' && p[len - 1] == ']';

            prev = cur;
            cur = ngx_http_snap_schema_node(s, cur, p, elem ? len - 2 : len,
                                            s->nodes[cur].depth + 1u);
            if (cur == NGX_HTTP_SNAP_SCHEMA_NONE) {
                return NULL;
            }

            /* the fields come in order: the first one set is the lowest */

            if (s->nodes[prev].obj_min == NGX_HTTP_SNAP_SCHEMA_NONE) {
                s->nodes[prev].obj_min = (unsigned short) f;
            }

            if (fields[f].required
                && s->nodes[cur].req_min == NGX_HTTP_SNAP_SCHEMA_NONE)
            {
                s->nodes[cur].req_min = (unsigned short) f;
            }

            if (elem) {
                if (s->nodes[cur].elem_min == NGX_HTTP_SNAP_SCHEMA_NONE) {
                    s->nodes[cur].elem_min = (unsigned short) f;
                }

                if (s->nodes[cur].elem == 0) {
                    prev = ngx_http_snap_schema_node(s,
                                                 NGX_HTTP_SNAP_SCHEMA_NONE,
                                                 NULL, 0,
                                                 s->nodes[cur].depth);
                    if (prev == NGX_HTTP_SNAP_SCHEMA_NONE) {
                        return NULL;
                    }

                    s->nodes[cur].elem = (unsigned short) prev;
                }

                cur = s->nodes[cur].elem;
            }

            if (dot == NULL) {
                break;
            }

            p = dot + 1;
        }

        node = &s->nodes[cur];

        if (node->own == NGX_HTTP_SNAP_SCHEMA_NONE) {
            node->own = (unsigned short) f;
            continue;
        }

        for (cur = node->own;
             s->own_next[cur] != NGX_HTTP_SNAP_SCHEMA_NONE;
             cur = s->own_next[cur])
        {
            /* void */
        }

        s->own_next[cur] = (unsigned short) f;
    }

    return s;
}


/*
 * The member of parent with that name, added when it is new; a parent of
 * NGX_HTTP_SNAP_SCHEMA_NONE adds a node of its own (the root, an element
 * node).
 */

static unsigned
ngx_http_snap_schema_node(ngx_http_snap_schema_t *s, unsigned parent,
    const char *name, size_t len, unsigned depth)
{
    unsigned                      k, last;
    ngx_http_snap_schema_node_t  *node;

    last = 0;

    if (parent != NGX_HTTP_SNAP_SCHEMA_NONE) {
        for (k = s->nodes[parent].child; k; k = s->nodes[k].next) {
            if (s->nodes[k].name_len == len
                && memcmp(s->nodes[k].name, name, len) == 0)
            {
                return k;
            }

            last = k;
        }
    }

    if (s->nnodes == NGX_HTTP_SNAP_SCHEMA_NODES) {
        return NGX_HTTP_SNAP_SCHEMA_NONE;
    }

    k = s->nnodes++;
    node = &s->nodes[k];

    memset(node, 0, sizeof(ngx_http_snap_schema_node_t));
    node->name = name;
    node->name_len = (unsigned short) len;
    node->depth = (unsigned short) depth;
    node->own = NGX_HTTP_SNAP_SCHEMA_NONE;
    node->req_min = NGX_HTTP_SNAP_SCHEMA_NONE;
    node->obj_min = NGX_HTTP_SNAP_SCHEMA_NONE;
    node->elem_min = NGX_HTTP_SNAP_SCHEMA_NONE;

    if (parent != NGX_HTTP_SNAP_SCHEMA_NONE) {
        if (last) {
            s->nodes[last].next = (unsigned short) k;

        } else {
            s->nodes[parent].child = (unsigned short) k;
        }
    }

    return k;
}


/*
 * Whitespace between tokens, skipped from *pp: what came before it since
 * the last gap goes to emit, so the tokens reach it minified.  Returns -1
 * when emit fails.
 */

static inline int
ngx_http_snap_json_gap(const unsigned char **pp, const unsigned char *end,
    const unsigned char **run, ngx_http_snap_emit_pt emit, void *data)
{
    const unsigned char  *p;

    p = *pp;

    if (p == end || !ngx_http_snap_json_ws(*p)) {
        return 0;
    }

    if (emit && p > *run && emit(data, *run, p - *run) != 0) {
        return -1;
    }

    do { p++; } while (p < end && ngx_http_snap_json_ws(*p));

    *run = p;
    *pp = p;

    return 0;
}


/* a string, literal or number at p; NULL when it is none */

static const unsigned char *
ngx_http_snap_json_scalar(const unsigned char *p, const unsigned char *end,
    ngx_http_snap_value_t *v)
{
    switch (*p) {

    case '"':
        v->kind = NGX_HTTP_SNAP_V_STRING;
        v->start = p + 1;
        p = ngx_http_snap_json_string(p + 1, end, &v->escaped);
        if (p == NULL) {
            return NULL;
        }

        v->end = p - 1;
        return p;

    case 't':
        v->kind = NGX_HTTP_SNAP_V_BOOL;
        return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;

    case 'f':
        v->kind = NGX_HTTP_SNAP_V_BOOL;
        return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;

    case 'n':
        v->kind = NGX_HTTP_SNAP_V_NULL;
        return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;

    default:
        v->kind = NGX_HTTP_SNAP_V_NUMBER;
        v->start = p;
        p = ngx_http_snap_json_number(p, end);
        v->end = p;
        return p;
    }
}


/*
 * Checks a body: NGX_HTTP_SNAP_FIELD_JSON when it is not one JSON value
 * (or, with a schema, not an object, or a checked member is given twice),
 * else the first field of the schema's list that fails, with its path in
 * err ("additionalInfo.items[1].price.value"), or NGX_HTTP_SNAP_FIELD_OK.
 * With emit, a JSON body also goes to emit minified, as SNAP hashes it;
 * NGX_HTTP_SNAP_FIELD_ERROR when emit fails.  A state machine over the
 * bytes, as nginx's own parsers are: a value, what follows a value, the
 * close of a container, an array element, an object member.
 */

int
ngx_http_snap_json_check(const unsigned char *p, size_t len,
    const ngx_http_snap_schema_t *schema, char *err, size_t errlen,
    ngx_http_snap_emit_pt emit, void *data)
{
    int                     depth, elem;
    unsigned                slot;
    unsigned char           array[NGX_HTTP_SNAP_JSON_DEPTH + 1];
    const unsigned char    *end, *run;
    ngx_http_snap_json_t    st;
    ngx_http_snap_value_t   v, key;
    ngx_http_snap_frame_t  *top;

    enum {
        sw_value = 0,
        sw_next,
        sw_close,
        sw_element,
        sw_member
    } state;

    end = p + len;
    run = p;
    depth = 0;
    elem = 0;

    st.schema = schema;
    st.nframes = 0;
    st.fail_field = NGX_HTTP_SNAP_SCHEMA_NONE;

    slot = (schema && schema->nfields) ? 0 : NGX_HTTP_SNAP_SCHEMA_NONE;

    if (errlen) {
        err[0] = '\0';
    }

    state = sw_value;

    for ( ;; ) {

        switch (state) {

        case sw_value:

            if (ngx_http_snap_json_gap(&p, end, &run, emit, data) != 0) {
                return NGX_HTTP_SNAP_FIELD_ERROR;
            }

            if (p == end) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            if (*p != '{' && *p != '[') {
                p = ngx_http_snap_json_scalar(p, end, &v);
                if (p == NULL) {
                    return NGX_HTTP_SNAP_FIELD_JSON;
                }

                if (slot != NGX_HTTP_SNAP_SCHEMA_NONE) {
                    if (depth == 0) {
                        return NGX_HTTP_SNAP_FIELD_JSON;
                    }

                    ngx_http_snap_json_slot(&st, slot, elem, &v);
                }

                state = sw_next;
                break;
            }

            if (depth == NGX_HTTP_SNAP_JSON_DEPTH) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            v.kind = (*p == '{') ? NGX_HTTP_SNAP_V_OBJECT
                                 : NGX_HTTP_SNAP_V_ARRAY;
            array[++depth] = (v.kind == NGX_HTTP_SNAP_V_ARRAY);
            p++;

            if (slot != NGX_HTTP_SNAP_SCHEMA_NONE) {
                if (depth == 1) {
                    /* the root of a schema */
                    if (v.kind != NGX_HTTP_SNAP_V_OBJECT) {
                        return NGX_HTTP_SNAP_FIELD_JSON;
                    }

                    ngx_http_snap_json_open(&st, 0, 0, depth);

                } else {
                    ngx_http_snap_json_slot(&st, slot, elem, &v);

                    if (v.kind == NGX_HTTP_SNAP_V_OBJECT
                        && schema->nodes[slot].child)
                    {
                        ngx_http_snap_json_open(&st, slot, 0, depth);

                    } else if (v.kind == NGX_HTTP_SNAP_V_ARRAY && !elem
                               && schema->nodes[slot].elem)
                    {
                        ngx_http_snap_json_open(&st,
                                                schema->nodes[slot].elem, 1,
                                                depth);
                    }
                }
            }

            if (ngx_http_snap_json_gap(&p, end, &run, emit, data) != 0) {
                return NGX_HTTP_SNAP_FIELD_ERROR;
            }

            if (p == end) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            if (*p == (v.kind == NGX_HTTP_SNAP_V_OBJECT ? '}' : ']')) {
                p++;
                state = sw_close;

            } else {
                state = (v.kind == NGX_HTTP_SNAP_V_OBJECT) ? sw_member
                                                           : sw_element;
            }

            break;

        case sw_next:

            if (ngx_http_snap_json_gap(&p, end, &run, emit, data) != 0) {
                return NGX_HTTP_SNAP_FIELD_ERROR;
            }

            if (depth == 0) {
                if (p != end) {
                    return NGX_HTTP_SNAP_FIELD_JSON;
                }

                if (emit && p > run && emit(data, run, p - run) != 0) {
                    return NGX_HTTP_SNAP_FIELD_ERROR;
                }

                if (st.fail_field == NGX_HTTP_SNAP_SCHEMA_NONE) {
                    return NGX_HTTP_SNAP_FIELD_OK;
                }

                ngx_http_snap_json_path(&st, err, errlen);

                return st.fail_rc;
            }

            if (p == end) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            if (*p == ',') {
                p++;

                if (ngx_http_snap_json_gap(&p, end, &run, emit, data) != 0) {
                    return NGX_HTTP_SNAP_FIELD_ERROR;
                }

                state = array[depth] ? sw_element : sw_member;
                break;
            }

            if (*p != (array[depth] ? ']' : '}')) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            p++;
            state = sw_close;
            break;

        case sw_close:

            if (st.nframes && st.frame[st.nframes - 1].depth == depth) {
                ngx_http_snap_json_close(&st);
            }

            depth--;
            state = sw_next;
            break;

        case sw_element:

            top = st.nframes ? &st.frame[st.nframes - 1] : NULL;

            if (top && top->depth == depth) {
                top->index++;
                slot = top->node;
                elem = 1;

            } else {
                slot = NGX_HTTP_SNAP_SCHEMA_NONE;
            }

            state = sw_value;
            break;

        default: /* sw_member */

            if (p == end || *p != '"') {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            key.start = p + 1;
            p = ngx_http_snap_json_string(p + 1, end, &key.escaped);
            if (p == NULL) {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            key.end = p - 1;

            if (ngx_http_snap_json_gap(&p, end, &run, emit, data) != 0) {
                return NGX_HTTP_SNAP_FIELD_ERROR;
            }

            if (p == end || *p != ':') {
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            p++;

            top = st.nframes ? &st.frame[st.nframes - 1] : NULL;
            elem = 0;
            slot = NGX_HTTP_SNAP_SCHEMA_NONE;

            if (top && top->depth == depth
                && ngx_http_snap_json_member(&st, top, &key, &slot) != 0)
            {
                /* a checked member given twice */
                return NGX_HTTP_SNAP_FIELD_JSON;
            }

            state = sw_value;
            break;
        }
    }
}


/* a value for a schema node: a member's, or an array element's */

static void
ngx_http_snap_json_slot(ngx_http_snap_json_t *st, unsigned slot, int elem,
    const ngx_http_snap_value_t *v)
{
    unsigned                      f;
    const ngx_http_snap_schema_t       *s;
    const ngx_http_snap_schema_node_t  *node;

    s = st->schema;
    node = &s->nodes[slot];

    /* a member set to null is a member left out; an element is not */
    if (v->kind == NGX_HTTP_SNAP_V_NULL && !elem) {
        if (node->req_min != NGX_HTTP_SNAP_SCHEMA_NONE) {
            ngx_http_snap_json_fail(st, node->req_min,
                                    NGX_HTTP_SNAP_FIELD_MISSING, node->depth);
        }

        return;
    }

    for (f = node->own; f != NGX_HTTP_SNAP_SCHEMA_NONE; f = s->own_next[f]) {
        if (!ngx_http_snap_json_value_ok(&s->fields[f], v)) {
            ngx_http_snap_json_fail(st, f, NGX_HTTP_SNAP_FIELD_BAD,
                                    node->depth);
            break;
        }
    }

    if (node->child && v->kind != NGX_HTTP_SNAP_V_OBJECT) {
        ngx_http_snap_json_fail(st, node->obj_min, NGX_HTTP_SNAP_FIELD_BAD,
                                node->depth + 1);
    }

    if (node->elem && v->kind != NGX_HTTP_SNAP_V_ARRAY) {
        ngx_http_snap_json_fail(st, node->elem_min, NGX_HTTP_SNAP_FIELD_BAD,
                                node->depth);
    }
}


/*
 * The schema node a member name stands for, in *slot (left
 * NGX_HTTP_SNAP_SCHEMA_NONE when it is unchecked); -1 when a checked
 * member is given twice.
 */

static int
ngx_http_snap_json_member(ngx_http_snap_json_t *st,
    const ngx_http_snap_frame_t *f, const ngx_http_snap_value_t *key,
    unsigned *slot)
{
    size_t                              len;
    unsigned                            k;
    const unsigned char                *name;
    unsigned char                       buf[NGX_HTTP_SNAP_FIELD_MAX + 1];
    const ngx_http_snap_schema_node_t  *nodes;

    name = key->start;
    len = key->end - key->start;

    if (key->escaped) {
        len = ngx_http_snap_json_decode(key->start, key->end, buf,
                                        sizeof(buf));
        if (len > sizeof(buf)) {
            return 0;
        }

        name = buf;
    }

    nodes = st->schema->nodes;

    for (k = nodes[f->node].child; k; k = nodes[k].next) {
        if (nodes[k].name_len == len && memcmp(nodes[k].name, name, len) == 0)
        {
            if (st->seen[k]) {
                return -1;
            }

            st->seen[k] = 1;
            *slot = k;

            return 0;
        }
    }

    return 0;
}


static void
ngx_http_snap_json_open(ngx_http_snap_json_t *st, unsigned node, int array,
    int depth)
{
    unsigned                            k;
    ngx_http_snap_frame_t              *f;
    const ngx_http_snap_schema_node_t  *nodes;

    f = &st->frame[st->nframes++];
    f->node = (unsigned short) node;
    f->array = (unsigned char) array;
    f->depth = depth;
    f->index = -1;

    if (!array) {
        nodes = st->schema->nodes;

        for (k = nodes[node].child; k; k = nodes[k].next) {
            st->seen[k] = 0;
        }
    }
}


/* an object's checked members that never came are missing */

static void
ngx_http_snap_json_close(ngx_http_snap_json_t *st)
{
    unsigned                            k;
    ngx_http_snap_frame_t              *f;
    const ngx_http_snap_schema_node_t  *nodes;

    f = &st->frame[st->nframes - 1];

    if (!f->array) {
        nodes = st->schema->nodes;

        for (k = nodes[f->node].child; k; k = nodes[k].next) {
            if (!st->seen[k] && nodes[k].req_min != NGX_HTTP_SNAP_SCHEMA_NONE) {
                ngx_http_snap_json_fail(st, nodes[k].req_min,
                                        NGX_HTTP_SNAP_FIELD_MISSING,
                                        nodes[k].depth);
            }
        }
    }

    st->nframes--;
}


/*
 * A failure of a field: the lowest field wins, and for one field the
 * first place in the body.  Where the walk is, the element of each array
 * on the way, is kept to name the place.
 */

static void
ngx_http_snap_json_fail(ngx_http_snap_json_t *st, unsigned field, int rc,
    int segments)
{
    int  i;

    if (field >= st->fail_field) {
        return;
    }

    st->fail_field = field;
    st->fail_rc = rc;
    st->fail_segments = segments;
    st->fail_arrays = 0;

    for (i = 0; i < st->nframes; i++) {
        if (st->frame[i].array
            && st->fail_arrays < NGX_HTTP_SNAP_JSON_INDEXES)
        {
            st->fail_index[st->fail_arrays++] = st->frame[i].index;
        }
    }
}


/* the failing path: fail_segments names, "[]" given their element index */

static void
ngx_http_snap_json_path(const ngx_http_snap_json_t *st, char *err,
    size_t errlen)
{
    int          seg, arr;
    size_t       used;
    const char  *p, *end, *dot;

    if (errlen == 0) {
        return;
    }

    used = 0;
    arr = 0;
    p = st->schema->fields[st->fail_field].path;
    end = p + strlen(p);

    for (seg = 0; seg < st->fail_segments && p < end; seg++) {
        dot = memchr(p, '.', end - p);
        if (dot == NULL) {
            dot = end;
        }

        if (dot - p > 2 && dot[-2] == '[' && dot[-1] == ']') {
            used += snprintf(err + used, errlen - used, "%s%.*s",
                             used ? "." : "", (int) (dot - p - 2), p);

            /* an array the walk went into has an element to name */
            if (arr < st->fail_arrays && used < errlen) {
                used += snprintf(err + used, errlen - used, "[%d]",
                                 st->fail_index[arr]);
            }

            arr++;

        } else {
            used += snprintf(err + used, errlen - used, "%s%.*s",
                             used ? "." : "", (int) (dot - p), p);
        }

        if (used >= errlen) {
            err[errlen - 1] = '\0';
            return;
        }

        p = dot + 1;
    }
}


static int
ngx_http_snap_json_value_ok(const ngx_http_snap_field_t *f,
    const ngx_http_snap_value_t *v)
{
    size_t         len;
    unsigned char  buf[NGX_HTTP_SNAP_FORMAT_MAX];

    switch (f->type) {

    case NGX_HTTP_SNAP_JSON_STRING:
        if (v->kind != NGX_HTTP_SNAP_V_STRING) {
            return 0;
        }

        if (f->max_len == 0 && f->format == NGX_HTTP_SNAP_FMT_NONE) {
            return 1;
        }

        len = ngx_http_snap_json_decode(v->start, v->end, buf, sizeof(buf));

        if (f->max_len && len > f->max_len) {
            return 0;
        }

        if (f->format == NGX_HTTP_SNAP_FMT_NONE) {
            return 1;
        }

        return len <= sizeof(buf)
               && ngx_http_snap_format_ok(buf, len, f->format);

    case NGX_HTTP_SNAP_JSON_OBJECT:
        return v->kind == NGX_HTTP_SNAP_V_OBJECT;

    case NGX_HTTP_SNAP_JSON_ARRAY:
        return v->kind == NGX_HTTP_SNAP_V_ARRAY;

    case NGX_HTTP_SNAP_JSON_INTEGER:
        return v->kind == NGX_HTTP_SNAP_V_NUMBER
               && ngx_http_snap_json_integer(v);

    case NGX_HTTP_SNAP_JSON_SCALAR:
        return v->kind == NGX_HTTP_SNAP_V_STRING
               || v->kind == NGX_HTTP_SNAP_V_NUMBER;

    default:
        return 1;
    }
}


/* a number with no fraction that an int holds: 7, -3, 1.0 and 2e2 */

static int
ngx_http_snap_json_integer(const ngx_http_snap_value_t *v)
{
    char    buf[64];
    double  d;
    size_t  len;

    len = v->end - v->start;

    if (len >= sizeof(buf)) {
        return 0;
    }

    memcpy(buf, v->start, len);
    buf[len] = '\0';

    d = strtod(buf, NULL);

    return d >= (double) INT_MIN && d <= (double) INT_MAX
           && d == (double) (int) d;
}


/*
 * A string from after its opening quote; returns what follows the closing
 * quote, NULL when it is not RFC 8259 UTF-8 text: a raw control
 * character, an unknown escape, a lone surrogate, an overlong or
 * truncated sequence.
 */

static const unsigned char *
ngx_http_snap_json_string(const unsigned char *p, const unsigned char *end,
    int *escaped)
{
    unsigned        cp, lo;
    unsigned char   c;

    *escaped = 0;

    for ( ;; ) {
        p = ngx_http_snap_skip_text(p, end, 1);

        while (p < end && ngx_http_snap_json_class[*p] == 0) {
            p++;
        }

        if (p == end) {
            return NULL;
        }

        c = *p;

        switch (ngx_http_snap_json_class[c]) {

        case 1:
            return p + 1;

        case 2:
            *escaped = 1;

            if (end - p < 2) {
                return NULL;
            }

            switch (p[1]) {
            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;

            case 'u':
                break;

            default:
                return NULL;
            }

            if (end - p < 6 || ngx_http_snap_json_hex4(p + 2, &cp) != 0) {
                return NULL;
            }

            p += 6;

            if (cp >= 0xdc00 && cp <= 0xdfff) {
                return NULL;
            }

            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || ngx_http_snap_json_hex4(p + 2, &lo) != 0
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    return NULL;
                }

                p += 6;
            }

            continue;

        case 4:
            if (end - p < 2 || (p[1] & 0xc0) != 0x80) {
                return NULL;
            }

            p += 2;
            continue;

        case 5:
            if (end - p < 3 || (p[1] & 0xc0) != 0x80
                || (p[2] & 0xc0) != 0x80
                || (c == 0xe0 && p[1] < 0xa0)
                || (c == 0xed && p[1] > 0x9f))
            {
                return NULL;
            }

            p += 3;
            continue;

        case 6:
            if (end - p < 4 || (p[1] & 0xc0) != 0x80
                || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80
                || (c == 0xf0 && p[1] < 0x90)
                || (c == 0xf4 && p[1] > 0x8f))
            {
                return NULL;
            }

            p += 4;
            continue;

        default:
            return NULL;
        }
    }
}


static int
ngx_http_snap_json_hex4(const unsigned char *p, unsigned *cp)
{
    int            i;
    unsigned       v;
    unsigned char  c;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = v * 16 + (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = v * 16 + ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    *cp = v;

    return 0;
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static const unsigned char *
ngx_http_snap_json_number(const unsigned char *p, const unsigned char *end)
{
    const unsigned char  *d;

    if (*p == '-') {
        p++;
    }

    if (p == end || *p < '0' || *p > '9') {
        return NULL;
    }

    if (*p++ != '0') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && *p == '.') {
        for (d = ++p; p < end && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == d) {
            return NULL;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        for (d = p; p < end && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == d) {
            return NULL;
        }
    }

    return p;
}


/*
 * The text of a valid string's inside, escapes resolved, into buf; the
 * length is returned whole even when more than size (then buf holds its
 * start).
 */

static size_t
ngx_http_snap_json_decode(const unsigned char *p, const unsigned char *end,
    unsigned char *buf, size_t size)
{
    size_t         n, i, len;
    unsigned       cp, lo;
    unsigned char  c, tmp[4];

    n = 0;

    while (p < end) {
        c = *p;

        if (c != '\\') {
            if (n < size) {
                buf[n] = c;
            }

            n++;
            p++;
            continue;
        }

        c = p[1];
        p += 2;

        switch (c) {
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'u':
            break;
        default:
            /* '"', '\\' and '/' stand for themselves */
            break;
        }

        if (c != 'u') {
            if (n < size) {
                buf[n] = c;
            }

            n++;
            continue;
        }

        (void) ngx_http_snap_json_hex4(p, &cp);
        p += 4;

        if (cp >= 0xd800 && cp <= 0xdbff) {
            (void) ngx_http_snap_json_hex4(p + 2, &lo);
            p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }

        if (cp < 0x80) {
            tmp[0] = (unsigned char) cp;
            len = 1;

        } else if (cp < 0x800) {
            tmp[0] = (unsigned char) (0xc0 | (cp >> 6));
            tmp[1] = (unsigned char) (0x80 | (cp & 0x3f));
            len = 2;

        } else if (cp < 0x10000) {
            tmp[0] = (unsigned char) (0xe0 | (cp >> 12));
            tmp[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            tmp[2] = (unsigned char) (0x80 | (cp & 0x3f));
            len = 3;

        } else {
            tmp[0] = (unsigned char) (0xf0 | (cp >> 18));
            tmp[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            tmp[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            tmp[3] = (unsigned char) (0x80 | (cp & 0x3f));
            len = 4;
        }

        for (i = 0; i < len; i++, n++) {
            if (n < size) {
                buf[n] = tmp[i];
            }
        }
    }

    return n;
}
