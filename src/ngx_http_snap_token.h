
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The inbound token call (snap_token) and the validation of the tokens it
 * issues.
 */


#ifndef _NGX_HTTP_SNAP_TOKEN_H_INCLUDED_
#define _NGX_HTTP_SNAP_TOKEN_H_INCLUDED_


#include "ngx_http_snap.h"


char *ngx_http_snap_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_snap_token_init_conf(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
ngx_int_t ngx_http_snap_token_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_snap_token_validate(ngx_http_request_t *r,
    ngx_str_t *token, ngx_http_snap_client_t **client, ngx_uint_t *reason);


#endif /* _NGX_HTTP_SNAP_TOKEN_H_INCLUDED_ */
