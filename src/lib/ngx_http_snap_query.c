
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * compat=sorted_query: the query string as BCA-style senders put it into
 * the string to sign.  Parameters are split at '&', each at its first
 * '=', percent-decoded ('+' is a space, as forms send it), sorted by name
 * then value, and encoded again as RFC 3986 says: unreserved bytes as
 * they are, every other byte %XX in upper-case hex.  A name without '='
 * stays without it.  No nginx runtime here.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_query.h"


typedef struct {
    const unsigned char      *name;
    size_t                    name_len;
    const unsigned char      *value;
    size_t                    value_len;
    int                       has_value;
} ngx_http_snap_query_param_t;


static size_t ngx_http_snap_query_decode(unsigned char *dst,
    const unsigned char *src, size_t len);
static int ngx_http_snap_query_hex(unsigned char c);
static int ngx_http_snap_query_cmp(const void *a, const void *b);
static int ngx_http_snap_query_bytes_cmp(const unsigned char *a,
    size_t alen, const unsigned char *b, size_t blen);
static unsigned char *ngx_http_snap_query_encode(unsigned char *p,
    const unsigned char *s, size_t len);


static int
ngx_http_snap_query_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* a "%" without two hex digits stays a "%", encoded again as %25 */

static size_t
ngx_http_snap_query_decode(unsigned char *dst, const unsigned char *src,
    size_t len)
{
    int             hi, lo;
    size_t          i;
    unsigned char  *p;

    p = dst;

    for (i = 0; i < len; i++) {
        if (src[i] == '+') {
            *p++ = ' ';
            continue;
        }

        if (src[i] == '%' && i + 2 < len) {
            hi = ngx_http_snap_query_hex(src[i + 1]);
            lo = ngx_http_snap_query_hex(src[i + 2]);

            if (hi >= 0 && lo >= 0) {
                *p++ = (unsigned char) (hi * 16 + lo);
                i += 2;
                continue;
            }
        }

        *p++ = src[i];
    }

    return p - dst;
}


static int
ngx_http_snap_query_bytes_cmp(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    return (alen > blen) - (alen < blen);
}


static int
ngx_http_snap_query_cmp(const void *a, const void *b)
{
    int                                 rc;
    const ngx_http_snap_query_param_t  *x = a, *y = b;

    rc = ngx_http_snap_query_bytes_cmp(x->name, x->name_len, y->name,
                                       y->name_len);
    if (rc != 0) {
        return rc;
    }

    return ngx_http_snap_query_bytes_cmp(x->value, x->value_len, y->value,
                                         y->value_len);
}


static unsigned char *
ngx_http_snap_query_encode(unsigned char *p, const unsigned char *s,
    size_t len)
{
    size_t  i;

    static const char  hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        if ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
            || (s[i] >= '0' && s[i] <= '9')
            || s[i] == '-' || s[i] == '.' || s[i] == '_' || s[i] == '~')
        {
            *p++ = s[i];
            continue;
        }

        *p++ = '%';
        *p++ = hex[s[i] >> 4];
        *p++ = hex[s[i] & 0x0f];
    }

    return p;
}


/*
 * The canonical form of q (without its '?') into dst, which holds
 * ngx_http_snap_query_sorted_len(len) bytes, with scratch of len bytes;
 * NGX_HTTP_SNAP_LIB_INVALID when it has more than
 * NGX_HTTP_SNAP_QUERY_PARAMS parameters.
 */

int
ngx_http_snap_query_sorted(unsigned char *dst, size_t *dlen,
    const unsigned char *q, size_t len, unsigned char *scratch)
{
    size_t                        n, i;
    unsigned char                *p;
    const unsigned char          *s, *end, *amp, *eq;
    ngx_http_snap_query_param_t   params[NGX_HTTP_SNAP_QUERY_PARAMS];

    n = 0;
    s = q;
    end = q + len;
    p = scratch;

    while (s < end) {
        amp = memchr(s, '&', end - s);
        if (amp == NULL) {
            amp = end;
        }

        if (amp > s) {
            if (n == NGX_HTTP_SNAP_QUERY_PARAMS) {
                return NGX_HTTP_SNAP_LIB_INVALID;
            }

            eq = memchr(s, '=', amp - s);

            params[n].has_value = (eq != NULL);
            if (eq == NULL) {
                eq = amp;
            }

            params[n].name = p;
            params[n].name_len = ngx_http_snap_query_decode(p, s, eq - s);
            p += params[n].name_len;

            params[n].value = p;
            params[n].value_len = 0;

            if (eq < amp) {
                params[n].value_len = ngx_http_snap_query_decode(p, eq + 1,
                                                           amp - eq - 1);
                p += params[n].value_len;
            }

            n++;
        }

        s = amp + 1;
    }

    qsort(params, n, sizeof(ngx_http_snap_query_param_t),
          ngx_http_snap_query_cmp);

    p = dst;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = '&';
        }

        p = ngx_http_snap_query_encode(p, params[i].name, params[i].name_len);

        if (params[i].has_value) {
            *p++ = '=';
            p = ngx_http_snap_query_encode(p, params[i].value,
                                           params[i].value_len);
        }
    }

    *dlen = p - dst;

    return NGX_HTTP_SNAP_LIB_OK;
}
