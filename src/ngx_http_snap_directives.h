
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The directives of a snap_verify location.
 */


#ifndef _NGX_HTTP_SNAP_DIRECTIVES_H_INCLUDED_
#define _NGX_HTTP_SNAP_DIRECTIVES_H_INCLUDED_


#include "ngx_http_snap.h"


char *ngx_http_snap_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_snap_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_snap_signed_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_snap_build_schema(ngx_conf_t *cf,
    ngx_http_snap_loc_conf_t *slcf);


#endif /* _NGX_HTTP_SNAP_DIRECTIVES_H_INCLUDED_ */
