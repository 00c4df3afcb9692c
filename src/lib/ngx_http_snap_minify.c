
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The SNAP minifier: whitespace outside JSON strings removed, nothing else
 * changed.  No nginx runtime here.
 */


#include <string.h>

#include "ngx_http_snap_minify.h"


/*
 * SNAP's minify is "remove the whitespace outside JSON strings": every other
 * byte, escapes and number spellings included, goes through untouched, so
 * the hash matches what JSON.stringify(JSON.parse()) or json.Compact give
 * for ordinary bodies without re-serialising anything.  The state carries
 * over between calls, so a body split across buffers minifies the same.
 */

int
ngx_http_snap_minify(ngx_http_snap_minify_t *st, const unsigned char *p,
    size_t len, ngx_http_snap_emit_pt emit, void *data)
{
    const unsigned char  *start, *end;

    /* the bytes that end a run: outside strings, and inside them */
    static const unsigned char  out[256] = {
        [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['"'] = 2
    };
    static const unsigned char  in[256] = { ['"'] = 1, ['\\'] = 2 };

    start = p;
    end = p + len;

    while (p < end) {

        if (st->in_string) {
            if (st->escape) {
                st->escape = 0;
                p++;
                continue;
            }

            p = ngx_http_snap_skip_text(p, end, 0);

            while (p < end && !in[*p]) {
                p++;
            }

            if (p == end) {
                break;
            }

            if (*p == '\\') {
                st->escape = 1;

            } else {
                st->in_string = 0;
            }

            p++;
            continue;
        }

        while (p < end && !out[*p]) {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p == '"') {
            st->in_string = 1;
            p++;
            continue;
        }

        /* whitespace: emit the run before it, skip the whole gap */
        if (p > start && emit(data, start, p - start) != 0) {
            return -1;
        }

        while (p < end && out[*p] == 1) {
            p++;
        }

        start = p;
    }

    if (end > start && emit(data, start, end - start) != 0) {
        return -1;
    }

    return 0;
}


/* an emit callback that appends to *(unsigned char **) data */

int
ngx_http_snap_copy_emit(void *data, const unsigned char *p, size_t len)
{
    unsigned char  **dst = data;

    memcpy(*dst, p, len);
    *dst += len;

    return 0;
}

