
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Verification of transactional SNAP requests (snap_verify locations).
 */


#ifndef _NGX_HTTP_SNAP_VERIFY_H_INCLUDED_
#define _NGX_HTTP_SNAP_VERIFY_H_INCLUDED_


#include "ngx_http_snap.h"


ngx_int_t ngx_http_snap_enter_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_snap_verify_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_SNAP_VERIFY_H_INCLUDED_ */
