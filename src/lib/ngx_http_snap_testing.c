
/*
 * Copyright (C) ngx_http_snap_module authors
 */


#include <string.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"


int
ngx_http_snap_test_hmac_sha512(const unsigned char *key, size_t key_len,
    const unsigned char *msg, size_t len, unsigned char *out)
{
    ngx_http_snap_key_t  k;

    k.data = key;
    k.len = key_len;
    k.inner = NULL;
    k.outer = NULL;

    return ngx_http_snap_hmac(&k, 512, msg, len, out);
}


size_t
ngx_http_snap_test_minify(const unsigned char *src, size_t len,
    unsigned char *dst)
{
    unsigned char           *p;
    ngx_http_snap_minify_t   st;

    memset(&st, 0, sizeof(st));
    p = dst;

    (void) ngx_http_snap_minify(&st, src, len, ngx_http_snap_copy_emit, &p);

    return p - dst;
}


const ngx_http_snap_field_t *
ngx_http_snap_test_profile(unsigned code)
{
    const ngx_http_snap_service_t  *s;

    for (s = ngx_http_snap_services; s->name; s++) {
        if (s->code == code) {
            return s->profile;
        }
    }

    return NULL;
}
