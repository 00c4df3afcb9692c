
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Per-request helpers: the context, found again after internal redirects;
 * the configuration a request's answers follow; one pass over the
 * headers; the timestamp; the body as one string.
 */


#ifndef _NGX_HTTP_SNAP_REQUEST_H_INCLUDED_
#define _NGX_HTTP_SNAP_REQUEST_H_INCLUDED_


#include "ngx_http_snap.h"


ngx_http_snap_ctx_t *ngx_http_snap_get_ctx(ngx_http_request_t *r);
ngx_http_snap_ctx_t *ngx_http_snap_create_ctx(ngx_http_request_t *r);
ngx_http_snap_loc_conf_t *ngx_http_snap_conf(ngx_http_request_t *r);
ngx_int_t ngx_http_snap_collect_headers(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, const ngx_http_snap_header_t *required,
    ngx_uint_t *reason, ngx_str_t *field);
ngx_int_t ngx_http_snap_check_timestamp(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, time_t skew, unsigned forms,
    ngx_uint_t *reason);
ngx_int_t ngx_http_snap_read_body(ngx_http_request_t *r, ngx_str_t *body);


#endif /* _NGX_HTTP_SNAP_REQUEST_H_INCLUDED_ */
