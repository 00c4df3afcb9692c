
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The SNAP minifier: whitespace outside JSON strings removed, nothing else
 * changed, streamed to a callback.
 */


#ifndef _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_
#define _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_


#include "ngx_http_snap_api.h"

#if (defined __SSE2__)
#include <emmintrin.h>
#endif


/*
 * Skips string text up to a byte that is a quote, a backslash, a control
 * character, or with high set a byte >= 0x80, sixteen bytes at a time
 * with SSE2 (every x86-64 has it), eight in a word elsewhere; the caller
 * goes on byte by byte from where it stops.  Bodies are mostly such text.
 */

static inline const unsigned char *
ngx_http_snap_skip_text(const unsigned char *p, const unsigned char *end,
    int high)
{
    uint64_t  w, q, b;

    const uint64_t  ones = 0x0101010101010101ULL;
    const uint64_t  highs = 0x8080808080808080ULL;

#if (defined __SSE2__)
    int       m;
    __m128i   v, s;

    const __m128i  quote = _mm_set1_epi8('"');
    const __m128i  bslash = _mm_set1_epi8('\\');
    const __m128i  below = _mm_set1_epi8(0x1f);
    const __m128i  space = _mm_set1_epi8(0x20);

    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) (const void *) p);

        s = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash));

        /*
         * signed, a byte >= 0x80 is below 0x20 too; unsigned, a byte is
         * below 0x20 when the smaller of it and 0x1f is itself
         */
        s = _mm_or_si128(s, high ? _mm_cmplt_epi8(v, space)
                                 : _mm_cmpeq_epi8(_mm_min_epu8(v, below), v));

        m = _mm_movemask_epi8(s);

        if (m) {
            return p + __builtin_ctz((unsigned) m);
        }

        p += 16;
    }
#endif

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


#endif /* _NGX_HTTP_SNAP_MINIFY_H_INCLUDED_ */
