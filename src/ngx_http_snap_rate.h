
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_client ... rate=: a partner's verified requests, counted across
 * the workers in a shared zone of the module's own.
 */


#ifndef _NGX_HTTP_SNAP_RATE_H_INCLUDED_
#define _NGX_HTTP_SNAP_RATE_H_INCLUDED_


#include "ngx_http_snap.h"


ngx_int_t ngx_http_snap_rate_init_conf(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
ngx_int_t ngx_http_snap_rate_check(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_uint_t *reason);


#endif /* _NGX_HTTP_SNAP_RATE_H_INCLUDED_ */
