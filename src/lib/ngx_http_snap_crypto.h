
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The string to sign, HMAC, RSA verification, constant-time comparison.
 */


#ifndef _NGX_HTTP_SNAP_CRYPTO_H_INCLUDED_
#define _NGX_HTTP_SNAP_CRYPTO_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_http_snap_api.h"


/* an HMAC key; inner and outer hold its precomputed pads, when prepared */
typedef struct {
    const unsigned char      *data;
    size_t                    len;
    EVP_MD_CTX               *inner;
    EVP_MD_CTX               *outer;
} ngx_http_snap_key_t;


/* as hex: the string to sign without a hash field (compat=no_hash_field) */
NGX_HTTP_SNAP_API extern const unsigned char  ngx_http_snap_no_hash_field[1];


NGX_HTTP_SNAP_API size_t ngx_http_snap_string_to_sign_len(size_t method,
    size_t url, size_t token, int with_token, size_t ts);
NGX_HTTP_SNAP_API size_t ngx_http_snap_string_to_sign(unsigned char *dst,
    const unsigned char *method, size_t method_len,
    const unsigned char *url, size_t url_len,
    const unsigned char *token, size_t token_len, int with_token,
    const unsigned char *hex, const unsigned char *ts, size_t ts_len);

NGX_HTTP_SNAP_API int ngx_http_snap_key_prepare(ngx_http_snap_key_t *key,
    int bits);
NGX_HTTP_SNAP_API void ngx_http_snap_key_free(ngx_http_snap_key_t *key);
NGX_HTTP_SNAP_API int ngx_http_snap_hmac(const ngx_http_snap_key_t *key,
    int bits, const unsigned char *msg, size_t len, unsigned char *out);
NGX_HTTP_SNAP_API EVP_PKEY_CTX *ngx_http_snap_rsa_verifier(EVP_PKEY *pkey);
NGX_HTTP_SNAP_API int ngx_http_snap_rsa_verify(EVP_PKEY_CTX *verifier,
    const unsigned char *msg, size_t len, const unsigned char *sig,
    size_t sig_len);

NGX_HTTP_SNAP_API EVP_PKEY_CTX *ngx_http_snap_rsa_signer(EVP_PKEY *pkey);
NGX_HTTP_SNAP_API int ngx_http_snap_rsa_sign(EVP_PKEY_CTX *signer,
    const unsigned char *msg, size_t len, unsigned char *sig,
    size_t *sig_len);
NGX_HTTP_SNAP_API int ngx_http_snap_ct_equal(const unsigned char *a,
    const unsigned char *b, size_t len);


#endif /* _NGX_HTTP_SNAP_CRYPTO_H_INCLUDED_ */
