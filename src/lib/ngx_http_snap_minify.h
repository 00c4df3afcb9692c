
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The SNAP minifier: whitespace outside JSON strings removed, nothing else
 * changed, streamed to a callback.
 */


#ifndef _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_
#define _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_


#include "ngx_http_snap_api.h"


/*
 * Skips string text eight bytes at a time up to a word that holds a quote,
 * a backslash, a control character, or with high set a byte >= 0x80; the
 * caller goes on byte by byte from there.  Bodies are mostly such text.
 */

static inline const unsigned char *
ngx_http_snap_skip_text(const unsigned char *p, const unsigned char *end,
    int high)
{
    uint64_t  w, q, b;

    const uint64_t  ones = 0x0101010101010101ULL;
    const uint64_t  highs = 0x8080808080808080ULL;

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');

        /* (x - ones) & ~x has a high bit set where x has a zero byte */
        if ((((q - ones) & ~q) | ((b - ones) & ~b)
             | ((w - ones * 0x20) & ~w) | (high ? w : 0)) & highs)
        {
            break;
        }

        p += 8;
    }

    return p;
}


typedef struct {
    unsigned                  in_string:1;
    unsigned                  escape:1;
} ngx_http_snap_minify_t;


/* returns 0, or what stops the stream */
typedef int (*ngx_http_snap_emit_pt)(void *data, const unsigned char *p,
    size_t len);


NGX_HTTP_SNAP_API int ngx_http_snap_minify(ngx_http_snap_minify_t *st,
    const unsigned char *p, size_t len, ngx_http_snap_emit_pt emit,
    void *data);
NGX_HTTP_SNAP_API int ngx_http_snap_copy_emit(void *data,
    const unsigned char *p, size_t len);
NGX_HTTP_SNAP_API size_t ngx_http_snap_minify_buf(const unsigned char *src,
    size_t len, unsigned char *dst);


#endif /* _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_ */
