
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The partners: snap_client, snap_clients and snap_token_key at
 * configuration time, the hashes a partner is found by, the locations and
 * the addresses it may call from.
 */


#ifndef _NGX_HTTP_SNAP_CLIENT_H_INCLUDED_
#define _NGX_HTTP_SNAP_CLIENT_H_INCLUDED_


#include "ngx_http_snap.h"


char *ngx_http_snap_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_snap_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_snap_clients(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_snap_clients_resolve(ngx_conf_t *cf,
    ngx_http_snap_clients_t *list);
ngx_int_t ngx_http_snap_clients_init(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
ngx_http_snap_client_t *ngx_http_snap_find_client(
    ngx_http_snap_main_conf_t *smcf, ngx_str_t *id, ngx_uint_t by_partner);
ngx_int_t ngx_http_snap_client_allowed(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_uint_t *reason);
ngx_http_snap_client_t *ngx_http_snap_client_claimed(ngx_http_request_t *r,
    ngx_table_elt_t *h, ngx_uint_t by_partner);
ngx_int_t ngx_http_snap_client_timestamp(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, time_t skew, ngx_uint_t *reason);
ngx_int_t ngx_http_snap_client_rsa_verify(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_str_t *msg, u_char *sig,
    size_t sig_len, ngx_uint_t *key);


#endif /* _NGX_HTTP_SNAP_CLIENT_H_INCLUDED_ */
