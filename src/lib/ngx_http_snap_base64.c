
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Strict base64 and base64url: one spelling per value.  No nginx runtime
 * here.
 */


#include <string.h>

#include "ngx_http_snap_base64.h"


static int ngx_http_snap_b64_value(unsigned char c, int url);


static const char  ngx_http_snap_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  ngx_http_snap_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


size_t
ngx_http_snap_base64_encode(unsigned char *dst, const unsigned char *src,
    size_t len, int url)
{
    unsigned char  *d;
    const char     *tab;

    tab = url ? ngx_http_snap_b64url : ngx_http_snap_b64;
    d = dst;

    while (len > 2) {
        *d++ = tab[src[0] >> 2];
        *d++ = tab[((src[0] & 0x03) << 4) | (src[1] >> 4)];
        *d++ = tab[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
        *d++ = tab[src[2] & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = tab[src[0] >> 2];

        if (len == 1) {
            *d++ = tab[(src[0] & 0x03) << 4];

            if (!url) {
                *d++ = '=';
            }

        } else {
            *d++ = tab[((src[0] & 0x03) << 4) | (src[1] >> 4)];
            *d++ = tab[(src[1] & 0x0f) << 2];
        }

        if (!url) {
            *d++ = '=';
        }
    }

    return d - dst;
}


/* a base64 digit's value in each alphabet, -1 for anything else */

static const signed char  ngx_http_snap_b64_values[2][256] = { {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
}, {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
} };


static int
ngx_http_snap_b64_value(unsigned char c, int url)
{
    return ngx_http_snap_b64_values[url != 0][c];
}


/*
 * Canonical base64 only: standard alphabet with '=' padding to a multiple
 * of 4, or base64url without padding; no whitespace, no stray bits.  A
 * signature has exactly one spelling, so nothing else has to be accepted.
 * dst must hold len / 4 * 3 + 2 bytes.
 */

int
ngx_http_snap_base64_decode(unsigned char *dst, size_t *dlen,
    const unsigned char *src, size_t len, int url)
{
    int            v[4];
    size_t         i, n, pad, rest;
    unsigned char  *d;

    pad = 0;

    if (url) {
        if (len % 4 == 1) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

    } else {
        if (len == 0 || len % 4 != 0) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        if (src[len - 1] == '=') {
            pad++;

            if (src[len - 2] == '=') {
                pad++;
            }
        }

        len -= pad;
    }

    d = dst;
    n = len / 4 * 4;

    for (i = 0; i < n; i += 4) {
        v[0] = ngx_http_snap_b64_value(src[i], url);
        v[1] = ngx_http_snap_b64_value(src[i + 1], url);
        v[2] = ngx_http_snap_b64_value(src[i + 2], url);
        v[3] = ngx_http_snap_b64_value(src[i + 3], url);

        if ((v[0] | v[1] | v[2] | v[3]) < 0) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);
        *d++ = (unsigned char) (v[1] << 4 | v[2] >> 2);
        *d++ = (unsigned char) (v[2] << 6 | v[3]);
    }

    rest = len - n;

    if (rest == 2) {
        v[0] = ngx_http_snap_b64_value(src[n], url);
        v[1] = ngx_http_snap_b64_value(src[n + 1], url);

        if ((v[0] | v[1]) < 0 || (v[1] & 0x0f)) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);

    } else if (rest == 3) {
        v[0] = ngx_http_snap_b64_value(src[n], url);
        v[1] = ngx_http_snap_b64_value(src[n + 1], url);
        v[2] = ngx_http_snap_b64_value(src[n + 2], url);

        if ((v[0] | v[1] | v[2]) < 0 || (v[2] & 0x03)) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);
        *d++ = (unsigned char) (v[1] << 4 | v[2] >> 2);
    }

    if (!url && rest != (pad ? 4 - pad : 0)) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    *dlen = d - dst;

    return NGX_HTTP_SNAP_LIB_OK;
}
