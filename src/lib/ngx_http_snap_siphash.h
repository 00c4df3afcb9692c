
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * SipHash-2-4.
 */


#ifndef _NGX_HTTP_SNAP_SIPHASH_H_INCLUDED_
#define _NGX_HTTP_SNAP_SIPHASH_H_INCLUDED_


#include "ngx_http_snap_api.h"


NGX_HTTP_SNAP_API uint64_t ngx_http_snap_siphash(const unsigned char key[16],
    const unsigned char *p, size_t len);
NGX_HTTP_SNAP_API uint64_t ngx_http_snap_hash(const unsigned char *p,
    size_t len);


#endif /* _NGX_HTTP_SNAP_SIPHASH_H_INCLUDED_ */
