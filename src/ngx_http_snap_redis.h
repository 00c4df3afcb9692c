
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A small RESP2 client on nginx's own event loop: one persistent,
 * pipelined connection per worker and per server, replies matched to
 * commands in order, a timeout on the oldest command, reconnection with
 * backoff.  Nothing in it knows of requests or of replay stores.
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


/*
 * A command's handler: called once, with the reply or what came instead,
 * never from inside the send that queued it.
 */
typedef void (*ngx_http_snap_redis_pt)(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);

/* a new connection: what its user sends ahead of anything else */
typedef void (*ngx_http_snap_redis_connect_pt)(ngx_http_snap_redis_t *redis,
    void *data);


/* where the client connects, and how, from the configuration */
typedef struct {
    ngx_url_t                   url;
    ngx_str_t                   user;
    ngx_str_t                   password;
    ngx_uint_t                  db;
    ngx_msec_t                  timeout;
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


#endif /* _NGX_HTTP_SNAP_REDIS_H_INCLUDED_ */
