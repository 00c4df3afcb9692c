
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * SNAP JSON answers: refusals, operator overrides (snap_error), and
 * nginx's own errors in snap locations rewritten as SNAP JSON.
 */


#ifndef _NGX_HTTP_SNAP_ERROR_H_INCLUDED_
#define _NGX_HTTP_SNAP_ERROR_H_INCLUDED_


#include "ngx_http_snap.h"


/* snap_error REASON CODE MESSAGE */
typedef struct {
    ngx_uint_t                  reason;
    ngx_uint_t                  status;
    u_char                      code[7];
    ngx_str_t                   message;
    ngx_uint_t                  with_field;
} ngx_http_snap_override_t;


char *ngx_http_snap_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_snap_error_init_filters(ngx_conf_t *cf);

ngx_int_t ngx_http_snap_send_error(ngx_http_request_t *r, ngx_uint_t reason,
    ngx_str_t *field);
ngx_int_t ngx_http_snap_note_error(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t reason, ngx_str_t *field);
ngx_int_t ngx_http_snap_send_again(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);
ngx_int_t ngx_http_snap_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);
ngx_str_t *ngx_http_snap_reason_name(ngx_uint_t reason);
ngx_int_t ngx_http_snap_reason_by_name(ngx_str_t *name);
ngx_uint_t ngx_http_snap_status_reason(ngx_uint_t status);


#endif /* _NGX_HTTP_SNAP_ERROR_H_INCLUDED_ */
