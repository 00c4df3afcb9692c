
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The token format: an HS256 JWT with fixed header and claims.
 */


#ifndef _NGX_HTTP_SNAP_JWT_H_INCLUDED_
#define _NGX_HTTP_SNAP_JWT_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_crypto.h"


#define NGX_HTTP_SNAP_TOKEN_MAX_CLIENT  64
#define NGX_HTTP_SNAP_TOKEN_MAX_LEN  512


typedef struct {
    const unsigned char      *client_id;
    size_t                    client_id_len;
    int64_t                   iat;
    int64_t                   nbf;
    int64_t                   exp;
} ngx_http_snap_claims_t;


NGX_HTTP_SNAP_API size_t ngx_http_snap_token_create(unsigned char *dst,
    const ngx_http_snap_key_t *key, const unsigned char *jti,
    const unsigned char *client_id, size_t client_id_len, int64_t iat,
    int64_t exp);
NGX_HTTP_SNAP_API int ngx_http_snap_token_verify(const unsigned char *tok,
    size_t len, const ngx_http_snap_key_t *keys, size_t nkeys,
    unsigned char *scratch, ngx_http_snap_claims_t *claims);
NGX_HTTP_SNAP_API int ngx_http_snap_token_parse_claims(
    const unsigned char *p, size_t len, ngx_http_snap_claims_t *claims);


#endif /* _NGX_HTTP_SNAP_JWT_H_INCLUDED_ */
