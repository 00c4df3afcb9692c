/*
 * Differential: on valid JSON (as ngx_http_snap_json_check judges it) the
 * JSON check's own minified output (what the module hashes) and the
 * minifier must both give
 * exactly what an independent re-emitter gives, one that walks the JSON
 * grammar and copies every token verbatim, dropping only the whitespace
 * between tokens.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned char        *out;
    int                   depth;
} ref_t;


static int ref_value(ref_t *r);


static void
ref_ws(ref_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r'
               || *r->p == '\n'))
    {
        r->p++;
    }
}


static int
ref_string(ref_t *r)
{
    *r->out++ = *r->p++;

    while (r->p < r->end) {
        if (*r->p == '\\') {
            if (r->p + 1 >= r->end) {
                return -1;
            }
            *r->out++ = *r->p++;
            *r->out++ = *r->p++;
            continue;
        }

        if (*r->p == '"') {
            *r->out++ = *r->p++;
            return 0;
        }

        *r->out++ = *r->p++;
    }

    return -1;
}


static int
ref_container(ref_t *r, unsigned char close)
{
    int  object = (close == '}');

    if (++r->depth > 2000) {
        return -1;
    }

    *r->out++ = *r->p++;
    ref_ws(r);

    if (r->p < r->end && *r->p == close) {
        *r->out++ = *r->p++;
        r->depth--;
        return 0;
    }

    for ( ;; ) {
        ref_ws(r);

        if (object) {
            if (r->p >= r->end || *r->p != '"' || ref_string(r) != 0) {
                return -1;
            }
            ref_ws(r);
            if (r->p >= r->end || *r->p != ':') {
                return -1;
            }
            *r->out++ = *r->p++;
            ref_ws(r);
        }

        if (ref_value(r) != 0) {
            return -1;
        }

        ref_ws(r);

        if (r->p >= r->end) {
            return -1;
        }

        if (*r->p == ',') {
            *r->out++ = *r->p++;
            continue;
        }

        if (*r->p == close) {
            *r->out++ = *r->p++;
            r->depth--;
            return 0;
        }

        return -1;
    }
}


static int
ref_value(ref_t *r)
{
    if (r->p >= r->end) {
        return -1;
    }

    switch (*r->p) {
    case '"':
        return ref_string(r);
    case '{':
        return ref_container(r, '}');
    case '[':
        return ref_container(r, ']');
    default:
        /* number or literal: every byte up to a delimiter */
        while (r->p < r->end && !strchr(",]} \t\r\n", *r->p)) {
            *r->out++ = *r->p++;
        }
        return 0;
    }
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t          n;
    ref_t           r;
    unsigned char  *a, *b, *c, *end;

    c = malloc(size + 1);
    end = c;

    if (ngx_http_snap_json_check(data, size, NULL, NULL, 0,
                                 ngx_http_snap_copy_emit, &end)
        != NGX_HTTP_SNAP_FIELD_OK)
    {
        free(c);
        return 0;
    }

    a = malloc(size + 1);
    b = malloc(size + 1);

    n = ngx_http_snap_test_minify(data, size, a);

    if ((size_t) (end - c) != n || memcmp(a, c, n) != 0) {
        abort();
    }

    r.p = data;
    r.end = data + size;
    r.out = b;
    r.depth = 0;

    ref_ws(&r);

    if (ref_value(&r) == 0) {
        ref_ws(&r);

        if (r.p == r.end
            && ((size_t) (r.out - b) != n || memcmp(a, b, n) != 0))
        {
            abort();
        }
    }

    free(a);
    free(b);
    free(c);

    return 0;
}
