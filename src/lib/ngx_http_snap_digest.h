
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The OpenSSL digests, fetched once per process, and the SHA-256 of a body.
 */


#ifndef _NGX_HTTP_SNAP_DIGEST_H_INCLUDED_
#define _NGX_HTTP_SNAP_DIGEST_H_INCLUDED_


#include <openssl/evp.h>

#include "ngx_http_snap_api.h"
#include "ngx_http_snap_minify.h"
#include "ngx_http_snap_json.h"


typedef struct {
    EVP_MD_CTX               *md;
    ngx_http_snap_minify_t    minify;
} ngx_http_snap_digest_t;


NGX_HTTP_SNAP_API extern const char  ngx_http_snap_hex[];


NGX_HTTP_SNAP_API const EVP_MD *ngx_http_snap_md(int bits);
NGX_HTTP_SNAP_API EVP_MD_CTX *ngx_http_snap_work_ctx(void);
NGX_HTTP_SNAP_API void ngx_http_snap_lib_cleanup(void);

NGX_HTTP_SNAP_API int ngx_http_snap_body_hash(const unsigned char *body,
    size_t len, unsigned char *hex);
NGX_HTTP_SNAP_API int ngx_http_snap_body_hash_raw(const unsigned char *body,
    size_t len, unsigned char *hex);
/* what a sender's serialiser escapes that SNAP's minify leaves as it is */
#define NGX_HTTP_SNAP_ESCAPE_SLASH    1     /* "/" as "\/", PHP */
#define NGX_HTTP_SNAP_ESCAPE_UNICODE  2     /* non-ASCII as "\u00e9" */

NGX_HTTP_SNAP_API int ngx_http_snap_body_hash_escaped(
    const unsigned char *body, size_t len, unsigned escape,
    unsigned char *hex);
NGX_HTTP_SNAP_API int ngx_http_snap_body_check(const unsigned char *body,
    size_t len, const ngx_http_snap_schema_t *schema, char *err,
    size_t errlen, unsigned char *hex);


#endif /* _NGX_HTTP_SNAP_DIGEST_H_INCLUDED_ */
