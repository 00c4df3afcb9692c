
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * What signing outbound requests needs without nginx: the provider's
 * Access Token B2B answer, the responseCode of any answer, X-EXTERNAL-ID.
 */


#ifndef _NGX_HTTP_SNAP_OUTBOUND_H_INCLUDED_
#define _NGX_HTTP_SNAP_OUTBOUND_H_INCLUDED_


#include "ngx_http_snap_api.h"


/*
 * the longest provider token kept: SNAP's are JWTs of a few hundred bytes,
 * some providers' up to 3000 characters
 */
#define NGX_HTTP_SNAP_OUT_TOKEN_MAX     4096
/* SNAP's expiresIn when a provider leaves it out */
#define NGX_HTTP_SNAP_OUT_EXPIRES       900
/* per worker random digits, then a counter: 36 digits, SNAP's maximum */
#define NGX_HTTP_SNAP_OUT_PREFIX_LEN    20
#define NGX_HTTP_SNAP_OUT_COUNTER_LEN   16
#define NGX_HTTP_SNAP_OUT_ID_LEN        36


typedef struct {
    unsigned char             code[7];
    int                       has_code;
    unsigned char             token[NGX_HTTP_SNAP_OUT_TOKEN_MAX];
    size_t                    token_len;
    size_t                    token_over;  /* a longer token's length */
    int64_t                   expires_in;
} ngx_http_snap_token_reply_t;


NGX_HTTP_SNAP_API int ngx_http_snap_token_reply(const unsigned char *p,
    size_t len, ngx_http_snap_token_reply_t *reply);
NGX_HTTP_SNAP_API int ngx_http_snap_response_code(const unsigned char *p,
    size_t len, unsigned char *code);
NGX_HTTP_SNAP_API size_t ngx_http_snap_random_digits(unsigned char *dst,
    size_t n, const unsigned char *rnd, size_t rlen);
NGX_HTTP_SNAP_API void ngx_http_snap_external_id(unsigned char *dst,
    const unsigned char *prefix, uint64_t counter);


#endif /* _NGX_HTTP_SNAP_OUTBOUND_H_INCLUDED_ */
