
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Strict base64 and base64url.
 */


#ifndef _NGX_HTTP_SNAP_BASE64_H_INCLUDED_
#define _NGX_HTTP_SNAP_BASE64_H_INCLUDED_


#include "ngx_http_snap_api.h"


#define ngx_http_snap_base64_encoded_len(n)   (((n) + 2) / 3 * 4)
#define ngx_http_snap_base64url_encoded_len(n)  (((n) * 4 + 2) / 3)


NGX_HTTP_SNAP_API size_t ngx_http_snap_base64_encode(unsigned char *dst,
    const unsigned char *src, size_t len, int url);
NGX_HTTP_SNAP_API int ngx_http_snap_base64_decode(unsigned char *dst,
    size_t *dlen, const unsigned char *src, size_t len, int url);


#endif /* _NGX_HTTP_SNAP_BASE64_H_INCLUDED_ */
