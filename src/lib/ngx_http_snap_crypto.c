
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The string to sign, HMAC with precomputed pads, RSA verification and
 * signing, the constant-time comparison.  No nginx runtime here.
 */


#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "ngx_http_snap_crypto.h"
#include "ngx_http_snap_digest.h"


static EVP_PKEY_CTX *ngx_http_snap_rsa_ctx(EVP_PKEY *pkey, int sign);
static int ngx_http_snap_sha256(const unsigned char *msg, size_t len,
    unsigned char *digest);


size_t
ngx_http_snap_string_to_sign_len(size_t method, size_t url, size_t token,
    int with_token, size_t ts)
{
    return method + 1 + url + 1 + (with_token ? token + 1 : 0)
           + NGX_HTTP_SNAP_SHA256_HEX_LEN + 1 + ts;
}


/* compat=no_hash_field: the hash field and its colon left out */
const unsigned char  ngx_http_snap_no_hash_field[1];


/* METHOD:EndpointUrl[:AccessToken]:hex(sha256(minify(body))):X-TIMESTAMP */

size_t
ngx_http_snap_string_to_sign(unsigned char *dst,
    const unsigned char *method, size_t method_len,
    const unsigned char *url, size_t url_len,
    const unsigned char *token, size_t token_len, int with_token,
    const unsigned char *hex, const unsigned char *ts, size_t ts_len)
{
    unsigned char  *p;

    p = dst;

    memcpy(p, method, method_len);
    p += method_len;
    *p++ = ':';

    memcpy(p, url, url_len);
    p += url_len;
    *p++ = ':';

    if (with_token) {
        /* an empty token (compat=rsa_empty_token) may come as NULL */
        if (token_len) {
            memcpy(p, token, token_len);
            p += token_len;
        }

        *p++ = ':';
    }

    /* NULL: the empty field some senders sign an empty body with */
    if (hex != ngx_http_snap_no_hash_field) {
        if (hex) {
            memcpy(p, hex, NGX_HTTP_SNAP_SHA256_HEX_LEN);
            p += NGX_HTTP_SNAP_SHA256_HEX_LEN;
        }

        *p++ = ':';
    }

    memcpy(p, ts, ts_len);
    p += ts_len;

    return p - dst;
}


/*
 * HMAC's inner and outer pads hashed once, at configuration time; a
 * request then only copies the two states (RFC 2104, section 4).
 */

int
ngx_http_snap_key_prepare(ngx_http_snap_key_t *key, int bits)
{
    int             rc;
    size_t          i, j, block;
    unsigned int    n;
    EVP_MD_CTX     *md_ctx;
    unsigned char   k[128], pad[128];
    const EVP_MD   *md;

    md = ngx_http_snap_md(bits);
    block = (bits == 512) ? 128 : 64;

    memset(k, 0, sizeof(k));

    if (key->len > block) {
        if (EVP_Digest(key->data, key->len, k, &n, md, NULL) != 1) {
            return -1;
        }

    } else {
        memcpy(k, key->data, key->len);
    }

    key->inner = EVP_MD_CTX_new();
    key->outer = EVP_MD_CTX_new();

    rc = (key->inner && key->outer) ? 0 : -1;

    /* the inner pad (0x36), then the outer (0x5c), each hashed once */
    for (j = 0; j < 2 && rc == 0; j++) {
        md_ctx = j ? key->outer : key->inner;

        for (i = 0; i < block; i++) {
            pad[i] = k[i] ^ (j ? 0x5c : 0x36);
        }

        if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1
            || EVP_DigestUpdate(md_ctx, pad, block) != 1)
        {
            rc = -1;
        }
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));

    if (rc != 0) {
        ngx_http_snap_key_free(key);
    }

    return rc;
}


void
ngx_http_snap_key_free(ngx_http_snap_key_t *key)
{
    EVP_MD_CTX_free(key->inner);
    EVP_MD_CTX_free(key->outer);
    key->inner = NULL;
    key->outer = NULL;
}


/* HMAC-SHA256 or HMAC-SHA512 into out (32 or 64 bytes) */

int
ngx_http_snap_hmac(const ngx_http_snap_key_t *key, int bits,
    const unsigned char *msg, size_t len, unsigned char *out)
{
    unsigned int    n, size;
    EVP_MD_CTX     *w;
    unsigned char   in[EVP_MAX_MD_SIZE];

    size = (bits == 512) ? 64 : 32;

    if (key->inner == NULL) {
        if (HMAC(ngx_http_snap_md(bits), key->data, (int) key->len, msg, len,
                 out, &n)
            == NULL || n != size)
        {
            return -1;
        }

        return 0;
    }

    w = ngx_http_snap_work_ctx();

    if (w == NULL
        || EVP_MD_CTX_copy_ex(w, key->inner) != 1
        || EVP_DigestUpdate(w, msg, len) != 1
        || EVP_DigestFinal_ex(w, in, &n) != 1
        || EVP_MD_CTX_copy_ex(w, key->outer) != 1
        || EVP_DigestUpdate(w, in, n) != 1
        || EVP_DigestFinal_ex(w, out, &n) != 1
        || n != size)
    {
        return -1;
    }

    return 0;
}


/*
 * A SHA256withRSA context, PKCS#1 v1.5, made once per key, to verify a
 * partner's signatures or make the merchant's: EVP_DigestVerifyInit()
 * fetches the algorithm and exports the key again on every call, a fifth
 * of what an RSA-2048 verification costs.
 */

static EVP_PKEY_CTX *
ngx_http_snap_rsa_ctx(EVP_PKEY *pkey, int sign)
{
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if ((sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) != 1
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_CTX_set_signature_md(ctx, ngx_http_snap_md(256)) != 1)
    {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


EVP_PKEY_CTX *
ngx_http_snap_rsa_verifier(EVP_PKEY *pkey)
{
    return ngx_http_snap_rsa_ctx(pkey, 0);
}


EVP_PKEY_CTX *
ngx_http_snap_rsa_signer(EVP_PKEY *pkey)
{
    return ngx_http_snap_rsa_ctx(pkey, 1);
}


static int
ngx_http_snap_sha256(const unsigned char *msg, size_t len,
    unsigned char *digest)
{
    EVP_MD_CTX  *md;

    md = ngx_http_snap_work_ctx();

    if (md == NULL
        || EVP_DigestInit_ex(md, ngx_http_snap_md(256), NULL) != 1
        || EVP_DigestUpdate(md, msg, len) != 1
        || EVP_DigestFinal_ex(md, digest, NULL) != 1)
    {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}


/* whether sig is the SHA256withRSA signature of msg under the verifier's key */

int
ngx_http_snap_rsa_verify(EVP_PKEY_CTX *verifier, const unsigned char *msg,
    size_t len, const unsigned char *sig, size_t sig_len)
{
    unsigned char  digest[32];

    if (ngx_http_snap_sha256(msg, len, digest) != NGX_HTTP_SNAP_LIB_OK) {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    if (EVP_PKEY_verify(verifier, sig, sig_len, digest, sizeof(digest)) != 1)
    {
        /* a forged signature is no error to leave queued for others */
        ERR_clear_error();
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}


/* the SHA256withRSA signature of msg; *sig_len is sig's size on entry */

int
ngx_http_snap_rsa_sign(EVP_PKEY_CTX *signer, const unsigned char *msg,
    size_t len, unsigned char *sig, size_t *sig_len)
{
    unsigned char  digest[32];

    if (ngx_http_snap_sha256(msg, len, digest) != NGX_HTTP_SNAP_LIB_OK
        || EVP_PKEY_sign(signer, sig, sig_len, digest, sizeof(digest)) != 1)
    {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}


/*
 * Constant-time equality through CRYPTO_memcmp(), sixteen bytes a call:
 * OpenSSL compares 16 bytes at once and any other length a byte at a
 * time, and a token is some 230 bytes.  Every call is made whatever the
 * bytes are, and the results are only ORed: nothing returns early.
 */

int
ngx_http_snap_ct_equal(const unsigned char *a, const unsigned char *b,
    size_t len)
{
    int     diff;
    size_t  i;

    diff = 0;

    for (i = 0; i + 16 <= len; i += 16) {
        diff |= CRYPTO_memcmp(a + i, b + i, 16);
    }

    if (i < len) {
        diff |= CRYPTO_memcmp(a + i, b + i, len - i);
    }

    return diff == 0;
}
