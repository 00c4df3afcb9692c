
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * One connection to one Redis server (or Sentinel) on nginx's own
 * connection code: commands pipelined into one buffer, replies matched to
 * them in order, a timeout on the oldest, every command still pending
 * failed when the connection ends.  Commands may be queued before the
 * connection exists: they wait for it, within their timeout, and go out
 * once the owner has checked the server and released them.  What server
 * to connect to, and what to do when the connection ends, are its
 * owner's.
 */


#ifndef _NGX_HTTP_SNAP_REDIS_LINK_H_INCLUDED_
#define _NGX_HTTP_SNAP_REDIS_LINK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_redis_locate.h"


/* commands waiting for their replies, per connection */
#define NGX_HTTP_SNAP_REDIS_PENDING   4096


typedef struct ngx_http_snap_redis_link_s  ngx_http_snap_redis_link_t;


/* what a command's handler is told when no reply came */
typedef enum {
    NGX_HTTP_SNAP_REDIS_REPLY = 0,
    NGX_HTTP_SNAP_REDIS_DOWN,        /* never sent: no server, no room */
    NGX_HTTP_SNAP_REDIS_TIMEOUT,
    NGX_HTTP_SNAP_REDIS_CLOSED,      /* the connection broke */
    NGX_HTTP_SNAP_REDIS_MOVED        /* the server is not (or no longer)
                                        the primary: the client moves */
} ngx_http_snap_redis_event_e;


/*
 * A command's handler: called once, with the reply or what came instead,
 * never from inside the call that queued it.
 */
typedef void (*ngx_http_snap_redis_pt)(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);

/* the connection ended, its pending commands failed: the owner's turn */
typedef void (*ngx_http_snap_redis_end_pt)(void *data,
    ngx_http_snap_redis_link_t *link);

/* a reply, before its command's handler sees it */
typedef void (*ngx_http_snap_redis_check_pt)(void *data,
    ngx_http_snap_redis_link_t *link, ngx_http_snap_resp_reply_t *reply);


/* the first failure of a burst is an error, the rest details: shared by
 * a client's links */
typedef struct {
    ngx_msec_t                  since;
    ngx_uint_t                  failing;
} ngx_http_snap_redis_burst_t;


typedef struct {
    ngx_str_t                  *label;        /* the zone, for the logs */
    ngx_msec_t                  timeout;
    size_t                      out;          /* its buffers' sizes */
    size_t                      in;
#if (NGX_SSL)
    ngx_ssl_t                  *ssl;
    ngx_flag_t                  ssl_verify;
    ngx_str_t                  *ssl_name;     /* NUL-terminated, for SNI */
#endif
    ngx_http_snap_redis_burst_t *burst;
    ngx_http_snap_redis_end_pt   end;
    ngx_http_snap_redis_check_pt check;
    void                        *data;
} ngx_http_snap_redis_link_conf_t;


ngx_http_snap_redis_link_t *ngx_http_snap_redis_link_create(
    ngx_cycle_t *cycle, ngx_http_snap_redis_link_conf_t *conf);
ngx_int_t ngx_http_snap_redis_link_open(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_addr_t *addr);
ngx_int_t ngx_http_snap_redis_link_queue(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data);
ngx_int_t ngx_http_snap_redis_link_first(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data);
void ngx_http_snap_redis_link_send(ngx_http_snap_redis_link_t *link);
void ngx_http_snap_redis_link_release(ngx_http_snap_redis_link_t *link);
void ngx_http_snap_redis_link_forget(ngx_http_snap_redis_link_t *link,
    void *data);
void ngx_http_snap_redis_link_give_up(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event);
void ngx_http_snap_redis_link_close(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event);
void ngx_http_snap_redis_link_drop(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event);
ngx_uint_t ngx_http_snap_redis_link_up(ngx_http_snap_redis_link_t *link);
ngx_str_t *ngx_http_snap_redis_link_name(ngx_http_snap_redis_link_t *link);
ngx_http_snap_redis_addr_t *ngx_http_snap_redis_link_addr(
    ngx_http_snap_redis_link_t *link);
ngx_uint_t ngx_http_snap_redis_level(ngx_http_snap_redis_burst_t *burst);


#endif /* _NGX_HTTP_SNAP_REDIS_LINK_H_INCLUDED_ */
