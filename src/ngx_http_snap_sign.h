
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_sign: the merchant app's plain JSON call leaves nginx as a SNAP
 * transaction.
 */


#ifndef _NGX_HTTP_SNAP_SIGN_H_INCLUDED_
#define _NGX_HTTP_SNAP_SIGN_H_INCLUDED_


#include "ngx_http_snap.h"


/* snap_sign NAME [SERVICE] [path=VALUE] */
struct ngx_http_snap_sign_conf_s {
    ngx_http_snap_provider_t   *provider;
    ngx_http_complex_value_t   *path;
};


char *ngx_http_snap_sign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_snap_sign_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_snap_sign_init_filters(ngx_conf_t *cf);
ngx_int_t ngx_http_snap_sign_merge(ngx_conf_t *cf,
    ngx_http_snap_loc_conf_t *slcf);


#endif /* _NGX_HTTP_SNAP_SIGN_H_INCLUDED_ */
