
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The Prometheus text format.  Every function writes to dst and returns
 * the bytes written, or with dst NULL returns the bytes it would write,
 * so the caller sizes its buffer exactly in a first pass.  No nginx
 * runtime here.
 */


#include <string.h>

#include "ngx_http_snap_prom.h"


static size_t ngx_http_snap_prom_put(unsigned char *dst, size_t at,
    const void *src, size_t len);
static size_t ngx_http_snap_prom_number(unsigned char *dst, size_t at,
    uint64_t v, unsigned decimals);


static size_t
ngx_http_snap_prom_put(unsigned char *dst, size_t at, const void *src,
    size_t len)
{
    if (dst) {
        memcpy(dst + at, src, len);
    }

    return at + len;
}


/* a label value: backslash, double quote and line feed escaped */

size_t
ngx_http_snap_prom_escape(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        switch (src[i]) {

        case '\\':
            n = ngx_http_snap_prom_put(dst, n, "\\\\", 2);
            break;

        case '"':
            n = ngx_http_snap_prom_put(dst, n, "\\\"", 2);
            break;

        case '\n':
            n = ngx_http_snap_prom_put(dst, n, "\\n", 2);
            break;

        default:
            n = ngx_http_snap_prom_put(dst, n, &src[i], 1);
            break;
        }
    }

    return n;
}


size_t
ngx_http_snap_prom_header(unsigned char *dst, const char *name,
    const char *type, const char *help)
{
    size_t  n;

    n = ngx_http_snap_prom_put(dst, 0, "# HELP ", 7);
    n = ngx_http_snap_prom_put(dst, n, name, strlen(name));
    n = ngx_http_snap_prom_put(dst, n, " ", 1);
    n = ngx_http_snap_prom_put(dst, n, help, strlen(help));
    n = ngx_http_snap_prom_put(dst, n, "\n# TYPE ", 8);
    n = ngx_http_snap_prom_put(dst, n, name, strlen(name));
    n = ngx_http_snap_prom_put(dst, n, " ", 1);
    n = ngx_http_snap_prom_put(dst, n, type, strlen(type));
    n = ngx_http_snap_prom_put(dst, n, "\n", 1);

    return n;
}


/* v as a decimal, with a point before its last `decimals` digits */

static size_t
ngx_http_snap_prom_number(unsigned char *dst, size_t at, uint64_t v,
    unsigned decimals)
{
    size_t         n;
    unsigned char  tmp[24];

    n = 0;

    do {
        if (decimals && n == decimals) {
            tmp[n++] = '.';
        }

        tmp[n++] = '0' + v % 10;
        v /= 10;

    } while (v || (decimals && n <= decimals));

    while (n) {
        at = ngx_http_snap_prom_put(dst, at, &tmp[--n], 1);
    }

    return at;
}


/* name[suffix]{label="value",...} value */

size_t
ngx_http_snap_prom_sample(unsigned char *dst, const char *name,
    const char *suffix, const ngx_http_snap_prom_label_t *labels, size_t n,
    uint64_t value, unsigned decimals)
{
    size_t  i, at;

    at = ngx_http_snap_prom_put(dst, 0, name, strlen(name));

    if (suffix) {
        at = ngx_http_snap_prom_put(dst, at, suffix, strlen(suffix));
    }

    for (i = 0; i < n; i++) {
        at = ngx_http_snap_prom_put(dst, at, i ? "," : "{", 1);
        at = ngx_http_snap_prom_put(dst, at, labels[i].name,
                                    strlen(labels[i].name));
        at = ngx_http_snap_prom_put(dst, at, "=\"", 2);
        at += ngx_http_snap_prom_escape(dst ? dst + at : NULL,
                                        labels[i].value, labels[i].len);
        at = ngx_http_snap_prom_put(dst, at, "\"", 1);
    }

    if (n) {
        at = ngx_http_snap_prom_put(dst, at, "}", 1);
    }

    at = ngx_http_snap_prom_put(dst, at, " ", 1);
    at = ngx_http_snap_prom_number(dst, at, value, decimals);
    at = ngx_http_snap_prom_put(dst, at, "\n", 1);

    return at;
}
