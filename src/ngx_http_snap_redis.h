
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A small RESP2 client on nginx's own event loop: one persistent,
 * pipelined connection per worker and per server, replies matched to
 * commands in order, a timeout on the oldest command, reconnection with
 * backoff.  Nothing in it knows of requests.
 */


#ifndef _NGX_HTTP_SNAP_REDIS_H_INCLUDED_
#define _NGX_HTTP_SNAP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_snap_lib.h"


/* commands waiting for their replies, per connection */
#define NGX_HTTP_SNAP_REDIS_PENDING   4096


typedef struct ngx_http_snap_redis_s  ngx_http_snap_redis_t;


/* what a command's callback is told when no reply came */
typedef enum {
    NGX_HTTP_SNAP_REDIS_REPLY = 0,
    NGX_HTTP_SNAP_REDIS_DOWN,        /* not connected, or the queue full */
    NGX_HTTP_SNAP_REDIS_TIMEOUT,
    NGX_HTTP_SNAP_REDIS_CLOSED       /* the connection broke */
} ngx_http_snap_redis_event_e;


typedef void (*ngx_http_snap_redis_pt)(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);


/* one snap_replay_redis, at configuration time */
typedef struct {
    ngx_str_t                   zone;
    ngx_url_t                   url;
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_uint_t                  db;
    ngx_str_t                   prefix;
    ngx_msec_t                  timeout;
    ngx_flag_t                  fallback;     /* on_error=local */
    ngx_flag_t                  failing;      /* this worker's, for logs */
#if (NGX_SSL)
    ngx_ssl_t                  *ssl;          /* tls: the client context */
    ngx_flag_t                  ssl_verify;
    ngx_str_t                   ssl_name;     /* NUL-terminated, for SNI */
#endif
    ngx_shm_zone_t             *shm_zone;
    ngx_http_snap_redis_t      *redis;        /* this worker's client */
} ngx_http_snap_redis_conf_t;


NGX_HTTP_SNAP_API ngx_http_snap_redis_t *ngx_http_snap_redis_create(
    ngx_cycle_t *cycle, ngx_http_snap_redis_conf_t *conf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_redis_send(
    ngx_http_snap_redis_t *redis, ngx_http_snap_resp_arg_t *args,
    size_t n, ngx_http_snap_redis_pt handler, void *data);
NGX_HTTP_SNAP_API void ngx_http_snap_redis_forget(
    ngx_http_snap_redis_t *redis, void *data);
NGX_HTTP_SNAP_API ngx_uint_t ngx_http_snap_redis_ready(
    ngx_http_snap_redis_t *redis);


#endif /* _NGX_HTTP_SNAP_REDIS_H_INCLUDED_ */
