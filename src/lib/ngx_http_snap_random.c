
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Random bytes for what a request draws (a token's jti).  OpenSSL 3's
 * RAND_bytes() costs about the same for 16 bytes as for 4 KB (its DRBG
 * reseed checks, locks and cipher set-up dominate: 1.8 us against 9 ns a
 * 16 bytes here), so the pool is filled 4 KB at a time.  Each byte is
 * handed out once and wiped from the pool; a process that is not the one
 * that filled the pool (a worker forked after it) starts a pool of its
 * own, so no two processes ever hand out the same bytes.
 */


#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_http_snap_random.h"


static unsigned char  ngx_http_snap_pool[NGX_HTTP_SNAP_RANDOM_POOL];
static size_t         ngx_http_snap_pool_left;
static long           ngx_http_snap_pool_owner = -1;


/* owner: the calling process's id */

int
ngx_http_snap_random(unsigned char *out, size_t len, long owner)
{
    unsigned char  *p;

    if (len > NGX_HTTP_SNAP_RANDOM_POOL) {
        return RAND_bytes(out, (int) len) == 1 ? NGX_HTTP_SNAP_LIB_OK
                                               : NGX_HTTP_SNAP_LIB_ERROR;
    }

    if (owner != ngx_http_snap_pool_owner) {
        /* inherited bytes are another process's: never handed out here */
        OPENSSL_cleanse(ngx_http_snap_pool, sizeof(ngx_http_snap_pool));
        ngx_http_snap_pool_left = 0;
        ngx_http_snap_pool_owner = owner;
    }

    if (ngx_http_snap_pool_left < len) {
        if (RAND_bytes(ngx_http_snap_pool, sizeof(ngx_http_snap_pool)) != 1) {
            ngx_http_snap_pool_left = 0;
            return NGX_HTTP_SNAP_LIB_ERROR;
        }

        ngx_http_snap_pool_left = sizeof(ngx_http_snap_pool);
    }

    p = ngx_http_snap_pool + sizeof(ngx_http_snap_pool)
        - ngx_http_snap_pool_left;

    memcpy(out, p, len);
    OPENSSL_cleanse(p, len);
    ngx_http_snap_pool_left -= len;

    return NGX_HTTP_SNAP_LIB_OK;
}


void
ngx_http_snap_random_cleanup(void)
{
    OPENSSL_cleanse(ngx_http_snap_pool, sizeof(ngx_http_snap_pool));
    ngx_http_snap_pool_left = 0;
}
