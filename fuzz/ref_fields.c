/*
 * The field checks as they were on a cJSON tree (cJSON, the old strictness
 * wrapper, a walk per field), plus what the one-pass checker added: a
 * checked member given twice makes the body invalid.  Independent of
 * src/ngx_http_snap_json.c on purpose: the fuzzer compares the two.
 */

#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ref_fields.h"


typedef struct ref_walk_s  ref_walk_t;

static cJSON *ref_json_parse(const unsigned char *p, size_t len);
static int ref_dup(const cJSON *node, const char *path);
static int ref_walk(const cJSON *node, const char *path, ref_walk_t *w);
static void ref_failed_path(ref_walk_t *w, char *err, size_t errlen);
static int ref_segments_before(const char *path, const char *at);
static int ref_arrays_before(const char *path, const char *at);
static int ref_check_value(const cJSON *v, const ngx_http_snap_field_t *f);


static cJSON *
ref_json_parse(const unsigned char *p, size_t len)
{
    size_t                i;
    cJSON                *json;
    const char           *end;
    const unsigned char  *last;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return NULL;
        }
    }

    end = NULL;
    json = cJSON_ParseWithLengthOpts((const char *) p, len, &end, 0);

    if (json == NULL) {
        return NULL;
    }

    last = p + len;

    for (p = (const unsigned char *) end; p < last; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(json);
            return NULL;
        }
    }

    return json;
}



/* a checked name given twice, anywhere the path goes */

static int
ref_dup(const cJSON *node, const char *path)
{
    int           n, array;
    size_t        len;
    char          name[NGX_HTTP_SNAP_FIELD_MAX + 1];
    const char   *dot;
    const cJSON  *c, *child, *el;

    if (!cJSON_IsObject(node)) {
        return 0;
    }

    dot = strchr(path, '.');
    len = dot ? (size_t) (dot - path) : strlen(path);
    array = len > 2 && path[len - 2] == '[' && path[len - 1] == ']';

    memcpy(name, path, array ? len - 2 : len);
    name[array ? len - 2 : len] = '\0';

    n = 0;
    child = NULL;

    cJSON_ArrayForEach(c, node) {
        if (c->string && strcmp(c->string, name) == 0) {
            if (n++ == 0) {
                child = c;
            }
        }
    }

    if (n > 1) {
        return 1;
    }

    if (child == NULL || (dot == NULL && !array)) {
        return 0;
    }

    if (!array) {
        return ref_dup(child, dot + 1);
    }

    if (!cJSON_IsArray(child) || dot == NULL) {
        return 0;
    }

    cJSON_ArrayForEach(el, child) {
        if (ref_dup(el, dot + 1)) {
            return 1;
        }
    }

    return 0;
}


static int
ref_check_value(const cJSON *v, const ngx_http_snap_field_t *f)
{
    switch (f->type) {

    case NGX_HTTP_SNAP_JSON_STRING:
        if (!cJSON_IsString(v)) {
            return 0;
        }

        if (f->max_len && strlen(v->valuestring) > f->max_len) {
            return 0;
        }

        return ngx_http_snap_format_ok((const unsigned char *) v->valuestring,
                                       strlen(v->valuestring), f->format);

    case NGX_HTTP_SNAP_JSON_OBJECT:
        return cJSON_IsObject(v);

    case NGX_HTTP_SNAP_JSON_ARRAY:
        return cJSON_IsArray(v);

    case NGX_HTTP_SNAP_JSON_INTEGER:
        /* cJSON keeps numbers as doubles: an integer has no fraction */
        return cJSON_IsNumber(v) && v->valuedouble == (double) v->valueint;

    case NGX_HTTP_SNAP_JSON_SCALAR:
        return cJSON_IsString(v) || cJSON_IsNumber(v);

    default:
        return 1;
    }
}


struct ref_walk_s {
    const ngx_http_snap_field_t  *field;
    int                           index[NGX_HTTP_SNAP_FIELD_MAX / 3 + 1];
    int                           arrays;
    int                           segments;
};


/* how many segments, and how many arrays, the path has up to at */

static int
ref_segments_before(const char *path, const char *at)
{
    int  n;

    for (n = 1; path < at; path++) {
        n += (*path == '.');
    }

    return n;
}


static int
ref_arrays_before(const char *path, const char *at)
{
    int  n;

    for (n = 0; path < at; path++) {
        n += (*path == '[');
    }

    return n;
}


static int
ref_walk(const cJSON *node, const char *path,
    ref_walk_t *w)
{
    int           rc, array, i;
    size_t        len, n;
    char          name[NGX_HTTP_SNAP_FIELD_MAX + 1];
    const char   *dot;
    const cJSON  *child, *el;

    dot = strchr(path, '.');
    len = dot ? (size_t) (dot - path) : strlen(path);

    array = len > 2 && path[len - 2] == '[' && path[len - 1] == ']';
    n = array ? len - 2 : len;

    memcpy(name, path, n);
    name[n] = '\0';

    w->segments++;

    if (!cJSON_IsObject(node)) {
        return NGX_HTTP_SNAP_FIELD_BAD;
    }

    child = cJSON_GetObjectItemCaseSensitive(node, name);

    if (child == NULL || cJSON_IsNull(child)) {
        return w->field->required ? NGX_HTTP_SNAP_FIELD_MISSING
                                  : NGX_HTTP_SNAP_FIELD_OK;
    }

    if (!array) {
        if (dot == NULL) {
            return ref_check_value(child, w->field)
                   ? NGX_HTTP_SNAP_FIELD_OK : NGX_HTTP_SNAP_FIELD_BAD;
        }

        return ref_walk(child, dot + 1, w);
    }

    if (!cJSON_IsArray(child)) {
        return NGX_HTTP_SNAP_FIELD_BAD;
    }

    i = 0;
    w->arrays++;

    cJSON_ArrayForEach(el, child) {
        w->index[w->arrays - 1] = i;

        if (dot == NULL) {
            rc = ref_check_value(el, w->field)
                 ? NGX_HTTP_SNAP_FIELD_OK : NGX_HTTP_SNAP_FIELD_BAD;

        } else {
            rc = ref_walk(el, dot + 1, w);
        }

        if (rc != NGX_HTTP_SNAP_FIELD_OK) {
            return rc;
        }

        /* the next element walks the rest of the path again */
        if (dot) {
            w->segments = ref_segments_before(w->field->path, dot);
            w->arrays = ref_arrays_before(w->field->path, dot);
        }

        i++;
    }

    return NGX_HTTP_SNAP_FIELD_OK;
}


/* the failing path: w->segments names, "[]" given their element index */

static void
ref_failed_path(ref_walk_t *w, char *err, size_t errlen)
{
    int          seg, arr;
    size_t       used;
    const char  *p, *end, *dot;

    used = 0;
    arr = 0;
    p = w->field->path;
    end = p + strlen(p);

    for (seg = 0; seg < w->segments && p < end; seg++) {
        dot = strchr(p, '.');
        if (dot == NULL) {
            dot = end;
        }

        if (dot - p > 2 && dot[-2] == '[' && dot[-1] == ']') {
            used += snprintf(err + used, errlen - used, "%s%.*s",
                             used ? "." : "", (int) (dot - p - 2), p);

            /* an array the walk went into has an element to name */
            if (arr < w->arrays && used < errlen) {
                used += snprintf(err + used, errlen - used, "[%d]",
                                 w->index[arr]);
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


int
ref_fields_check(const unsigned char *p, size_t len,
    const ngx_http_snap_field_t *fields, size_t n, char *err, size_t errlen)
{
    int          rc;
    size_t       i;
    cJSON       *root;
    ref_walk_t   w;

    err[0] = '\0';

    root = ref_json_parse(p, len);
    if (root == NULL) {
        return NGX_HTTP_SNAP_FIELD_JSON;
    }

    rc = NGX_HTTP_SNAP_FIELD_OK;

    if (n && !cJSON_IsObject(root)) {
        rc = NGX_HTTP_SNAP_FIELD_JSON;
    }

    for (i = 0; i < n && rc == NGX_HTTP_SNAP_FIELD_OK; i++) {
        if (ref_dup(root, fields[i].path)) {
            rc = NGX_HTTP_SNAP_FIELD_JSON;
        }
    }

    for (i = 0; i < n && rc == NGX_HTTP_SNAP_FIELD_OK; i++) {
        w.field = &fields[i];
        w.arrays = 0;
        w.segments = 0;

        rc = ref_walk(root, fields[i].path, &w);

        if (rc != NGX_HTTP_SNAP_FIELD_OK) {
            ref_failed_path(&w, err, errlen);
        }
    }

    cJSON_Delete(root);

    return rc;
}
