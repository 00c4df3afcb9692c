
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The token format: an HS256 JWT with a fixed header and the claims jti,
 * clientId, iat, nbf, exp.  No nginx runtime here.
 */


#include <string.h>

#include "ngx_http_snap_jwt.h"
#include "ngx_http_snap_fields.h"
#include "ngx_http_snap_base64.h"
#include "ngx_http_snap_digest.h"
#include "ngx_http_snap_crypto.h"


static const unsigned char *ngx_http_snap_expect(const unsigned char *p,
    const unsigned char *end, const char *lit);
static const unsigned char *ngx_http_snap_parse_uint(const unsigned char *p,
    const unsigned char *end, int64_t *v);


#define NGX_HTTP_SNAP_TOKEN_HEADER  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


/*
 * base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256), the
 * HS256 JWT layout; dst must hold NGX_HTTP_SNAP_TOKEN_MAX_LEN bytes and
 * client_id at most NGX_HTTP_SNAP_TOKEN_MAX_CLIENT bytes that need no JSON
 * escaping (checked at configuration time).
 */

size_t
ngx_http_snap_token_create(unsigned char *dst, const ngx_http_snap_key_t *key,
    const unsigned char *jti, const unsigned char *client_id,
    size_t client_id_len, int64_t iat, int64_t exp)
{
    size_t         i, n;
    unsigned char  *p, claims[256], md[EVP_MAX_MD_SIZE];

    if (client_id_len > NGX_HTTP_SNAP_TOKEN_MAX_CLIENT || iat < 0 || exp < 0) {
        return 0;
    }

    p = claims;

    memcpy(p, "{\"jti\":\"", 8);
    p += 8;

    for (i = 0; i < NGX_HTTP_SNAP_TOKEN_JTI_LEN; i++) {
        *p++ = ngx_http_snap_hex[jti[i] >> 4];
        *p++ = ngx_http_snap_hex[jti[i] & 0x0f];
    }

    memcpy(p, "\",\"clientId\":\"", 14);
    p += 14;
    memcpy(p, client_id, client_id_len);
    p += client_id_len;

    memcpy(p, "\",\"iat\":", 8);
    p += 8;
    p += ngx_http_snap_put_uint(p, (uint64_t) iat);
    memcpy(p, ",\"nbf\":", 7);
    p += 7;
    p += ngx_http_snap_put_uint(p, (uint64_t) iat);
    memcpy(p, ",\"exp\":", 7);
    p += 7;
    p += ngx_http_snap_put_uint(p, (uint64_t) exp);
    *p++ = '}';

    n = sizeof(NGX_HTTP_SNAP_TOKEN_HEADER) - 1;
    memcpy(dst, NGX_HTTP_SNAP_TOKEN_HEADER, n);
    dst[n++] = '.';
    n += ngx_http_snap_base64_encode(dst + n, claims, p - claims, 1);

    if (ngx_http_snap_hmac(key, 256, dst, n, md) != 0) {
        return 0;
    }

    dst[n++] = '.';
    n += ngx_http_snap_base64_encode(dst + n, md, 32, 1);

    return n;
}


static const unsigned char *
ngx_http_snap_expect(const unsigned char *p, const unsigned char *end,
    const char *lit)
{
    size_t  n;

    n = strlen(lit);

    if ((size_t) (end - p) < n || memcmp(p, lit, n) != 0) {
        return NULL;
    }

    return p + n;
}


static const unsigned char *
ngx_http_snap_parse_uint(const unsigned char *p, const unsigned char *end,
    int64_t *v)
{
    size_t  n;

    *v = 0;

    for (n = 0; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        if (n == 12) {
            return NULL;
        }

        *v = *v * 10 + (*p - '0');
    }

    return n ? p : NULL;
}


/* only the exact claims layout ngx_http_snap_token_create() writes */

int
ngx_http_snap_token_parse_claims(const unsigned char *p, size_t len,
    ngx_http_snap_claims_t *claims)
{
    size_t                i;
    const unsigned char  *end, *id;

    end = p + len;

    p = ngx_http_snap_expect(p, end, "{\"jti\":\"");
    if (p == NULL || end - p < 2 * NGX_HTTP_SNAP_TOKEN_JTI_LEN) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    for (i = 0; i < 2 * NGX_HTTP_SNAP_TOKEN_JTI_LEN; i++) {
        if (strchr(ngx_http_snap_hex, p[i]) == NULL || p[i] == '\0') {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }
    }

    p = ngx_http_snap_expect(p + i, end, "\",\"clientId\":\"");
    if (p == NULL) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    id = p;

    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x7f) {
        p++;
    }

    if (p == id || p - id > NGX_HTTP_SNAP_TOKEN_MAX_CLIENT) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    claims->client_id = id;
    claims->client_id_len = p - id;

    if ((p = ngx_http_snap_expect(p, end, "\",\"iat\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->iat)) == NULL
        || (p = ngx_http_snap_expect(p, end, ",\"nbf\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->nbf)) == NULL
        || (p = ngx_http_snap_expect(p, end, ",\"exp\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->exp)) == NULL
        || (p = ngx_http_snap_expect(p, end, "}")) == NULL
        || p != end)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}


/*
 * Checks the layout and the HMAC against every key (rotation), then parses
 * the claims into scratch (NGX_HTTP_SNAP_TOKEN_MAX_LEN bytes).  Time checks
 * are the caller's.  NGX_HTTP_SNAP_LIB_OK when the token is authentic.
 */

int
ngx_http_snap_token_verify(const unsigned char *tok, size_t len,
    const ngx_http_snap_key_t *keys, size_t nkeys, unsigned char *scratch,
    ngx_http_snap_claims_t *claims)
{
    int                   ok;
    size_t                i, hlen, slen, clen, n;
    unsigned char         md[EVP_MAX_MD_SIZE], sig[48];
    const unsigned char  *dot, *end;

    hlen = sizeof(NGX_HTTP_SNAP_TOKEN_HEADER) - 1;

    if (len > NGX_HTTP_SNAP_TOKEN_MAX_LEN || len < hlen + 2
        || memcmp(tok, NGX_HTTP_SNAP_TOKEN_HEADER, hlen) != 0
        || tok[hlen] != '.')
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    end = tok + len;
    dot = memchr(tok + hlen + 1, '.', end - (tok + hlen + 1));
    if (dot == NULL) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    slen = end - (dot + 1);

    /* an HMAC-SHA256 is 43 base64url characters */
    if (slen != 43
        || ngx_http_snap_base64_decode(sig, &n, dot + 1, slen, 1) != 0
        || n != 32)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    ok = 0;

    for (i = 0; i < nkeys; i++) {
        if (ngx_http_snap_hmac(&keys[i], 256, tok, dot - tok, md) != 0) {
            return NGX_HTTP_SNAP_LIB_ERROR;
        }

        ok |= ngx_http_snap_ct_equal(md, sig, 32);
    }

    if (!ok) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    clen = dot - (tok + hlen + 1);

    if (ngx_http_snap_base64_decode(scratch, &n, tok + hlen + 1, clen, 1)
        != 0)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    return ngx_http_snap_token_parse_claims(scratch, n, claims);
}
