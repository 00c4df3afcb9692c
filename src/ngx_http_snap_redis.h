
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A small RESP2 client on nginx's own event loop: one persistent,
 * pipelined connection per worker to the primary, replies matched to
 * commands in order, a timeout on the oldest command; the primary found
 * among the ADDRESSes (the one whose ROLE is master) or asked of Redis
 * Sentinels, and found again after every failure and whenever a reply
 * says the server is no longer it.  Nothing in it knows of requests or of
 * replay stores.
 */


#ifndef _NGX_HTTP_SNAP_REDIS_H_INCLUDED_
#define _NGX_HTTP_SNAP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_redis_locate.h"
#include "ngx_http_snap_redis_link.h"


typedef struct ngx_http_snap_redis_s  ngx_http_snap_redis_t;


/* a new connection: what its user sends ahead of anything else */
typedef void (*ngx_http_snap_redis_connect_pt)(ngx_http_snap_redis_t *redis,
    void *data);


/* where the client connects, and how, from the configuration */
typedef struct {
    ngx_str_t                   label;        /* the zone, for the logs */
    ngx_array_t                 servers;      /* ngx_http_snap_redis_server_t */
    ngx_str_t                   sentinel;     /* the primary's name there */
    ngx_str_t                   sentinel_user;
    ngx_str_t                   sentinel_password;
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_uint_t                  db;
    ngx_msec_t                  timeout;
    ngx_resolver_t             *resolver;     /* NULL: names resolved once */
    ngx_msec_t                  resolver_timeout;
#if (NGX_SSL)
    ngx_ssl_t                  *ssl;          /* tls: the client context */
    ngx_flag_t                  ssl_verify;
    ngx_str_t                   ssl_name;     /* NUL-terminated, for SNI */
#endif
} ngx_http_snap_redis_conf_t;


ngx_http_snap_redis_t *ngx_http_snap_redis_create(ngx_cycle_t *cycle,
    ngx_http_snap_redis_conf_t *conf,
    ngx_http_snap_redis_connect_pt on_connect, void *data);
ngx_int_t ngx_http_snap_redis_send(ngx_http_snap_redis_t *redis,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data);
void ngx_http_snap_redis_forget(ngx_http_snap_redis_t *redis, void *data);
ngx_uint_t ngx_http_snap_redis_ready(ngx_http_snap_redis_t *redis);
ngx_int_t ngx_http_snap_redis_primary(ngx_http_snap_redis_t *redis,
    ngx_str_t *address);
void ngx_http_snap_redis_stop(ngx_http_snap_redis_t *redis);


#endif /* _NGX_HTTP_SNAP_REDIS_H_INCLUDED_ */
