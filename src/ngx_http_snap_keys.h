
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Key and secret files, read once at configuration time: partners'
 * public keys, HMAC secrets, the merchant's private key.
 */


#ifndef _NGX_HTTP_SNAP_KEYS_H_INCLUDED_
#define _NGX_HTTP_SNAP_KEYS_H_INCLUDED_


#include "ngx_http_snap.h"


EVP_PKEY_CTX *ngx_http_snap_load_public_key(ngx_conf_t *cf, ngx_str_t *file);
ngx_int_t ngx_http_snap_load_secret(ngx_conf_t *cf, ngx_str_t *file,
    ngx_str_t *secret, size_t min);
EVP_PKEY_CTX *ngx_http_snap_load_private_key(ngx_conf_t *cf, ngx_str_t *file,
    size_t *sig_size);
ngx_int_t ngx_http_snap_load_key(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_snap_key_t *key, size_t min, int bits);


#endif /* _NGX_HTTP_SNAP_KEYS_H_INCLUDED_ */
