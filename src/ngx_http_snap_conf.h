
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * What reading the configuration needs in more than one room: the
 * parameters of a directive (NAME=VALUE and flags) read against a table,
 * a SNAP service given by name or code, a shared-memory zone's NAME:SIZE
 * and its slab log, a body schema laid out in the configuration's pool.
 */


#ifndef _NGX_HTTP_SNAP_CONF_H_INCLUDED_
#define _NGX_HTTP_SNAP_CONF_H_INCLUDED_


#include "ngx_http_snap.h"


typedef struct ngx_http_snap_param_s  ngx_http_snap_param_t;

/*
 * A parameter's handler, given its value and its row (NULL for an
 * argument that is not a parameter): NGX_OK, NGX_DECLINED for an invalid
 * value (the parser names it), or NGX_ERROR when it logged why itself.
 */
typedef ngx_int_t (*ngx_http_snap_param_pt)(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);


/*
 * NAME=VALUE, or with flag set a bare NAME; repeat: it may come again;
 * offset: where in data a stock handler keeps the value, as a directive's
 * slot does
 */
struct ngx_http_snap_param_s {
    ngx_str_t                   name;
    ngx_http_snap_param_pt      set;
    size_t                      offset;
    unsigned                    flag:1;
    unsigned                    repeat:1;
};


#define ngx_http_snap_param(name, set, offset)                               \
    { ngx_string(name), set, offset, 0, 0 }
#define ngx_http_snap_param_repeat(name, set)                                \
    { ngx_string(name), set, 0, 0, 1 }
#define ngx_http_snap_param_flag(name, set, offset)                          \
    { ngx_string(name), set, offset, 1, 0 }
#define ngx_http_snap_param_end                                              \
    { ngx_null_string, NULL, 0, 0, 0 }


ngx_int_t ngx_http_snap_conf_params(ngx_conf_t *cf, ngx_uint_t first,
    const ngx_http_snap_param_t *params, ngx_http_snap_param_pt positional,
    void *data);

/* stock handlers: an ngx_str_t, an ngx_flag_t set by a flag or on|off,
 * a time in ms above zero, a number */
ngx_int_t ngx_http_snap_param_str(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
ngx_int_t ngx_http_snap_param_flag_on(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
ngx_int_t ngx_http_snap_param_on_off(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
ngx_int_t ngx_http_snap_param_msec(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
ngx_int_t ngx_http_snap_param_num(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
ngx_int_t ngx_http_snap_conf_service(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_snap_check_t *check, const char *example);
ngx_int_t ngx_http_snap_conf_role(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_snap_loc_conf_t *slcf, ngx_uint_t role);
void ngx_http_snap_conf_server_errors(ngx_conf_t *cf);
ngx_shm_zone_t *ngx_http_snap_zone_add(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, void *tag);
ngx_int_t ngx_http_snap_zone_log(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, const char *directive);
ngx_http_snap_schema_t *ngx_http_snap_schema_create(ngx_conf_t *cf,
    const ngx_http_snap_field_t *fields, size_t n);


#endif /* _NGX_HTTP_SNAP_CONF_H_INCLUDED_ */
