
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Where a Redis client may connect: the ADDRESSes of the configuration,
 * each host name resolved again in the worker through nginx's own
 * resolver (never a blocking call), tried in turn, the one that answered
 * first next time.  Knows nothing of Redis: the client asks for the next
 * address and is told, always from a posted event.
 */


#ifndef _NGX_HTTP_SNAP_REDIS_LOCATE_H_INCLUDED_
#define _NGX_HTTP_SNAP_REDIS_LOCATE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>


/* the addresses a name may resolve to that are kept and tried */
#define NGX_HTTP_SNAP_REDIS_ADDRS  16


typedef struct ngx_http_snap_redis_locate_s  ngx_http_snap_redis_locate_t;


/* one ADDRESS of the configuration */
typedef struct {
    ngx_url_t                   url;
    /* a name, resolved by each worker as it goes: url.addrs are not used */
    unsigned                    resolve:1;
} ngx_http_snap_redis_server_t;


/* an address to connect to, and the ADDRESS it came from */
typedef struct {
    ngx_sockaddr_t              sockaddr;
    socklen_t                   socklen;
    ngx_str_t                   name;       /* "ip:port", or "unix:..." */
    ngx_url_t                  *server;
    u_char                      text[NGX_SOCKADDR_STRLEN];
} ngx_http_snap_redis_addr_t;


/*
 * The answer to ngx_http_snap_redis_locate_next() or _host(): an address,
 * or NULL when the round has none left (every ADDRESS tried, or the name
 * did not resolve).
 */
typedef void (*ngx_http_snap_redis_found_pt)(void *data,
    ngx_http_snap_redis_addr_t *addr);

/* the address in use is no longer what its name resolves to */
typedef void (*ngx_http_snap_redis_moved_pt)(void *data);


ngx_http_snap_redis_locate_t *ngx_http_snap_redis_locate_create(
    ngx_cycle_t *cycle, ngx_array_t *servers, ngx_resolver_t *resolver,
    ngx_msec_t resolver_timeout, ngx_str_t *label,
    ngx_http_snap_redis_found_pt found, ngx_http_snap_redis_moved_pt moved,
    void *data);
void ngx_http_snap_redis_locate_round(ngx_http_snap_redis_locate_t *loc);
void ngx_http_snap_redis_locate_next(ngx_http_snap_redis_locate_t *loc);
void ngx_http_snap_redis_locate_host(ngx_http_snap_redis_locate_t *loc,
    ngx_str_t *host, in_port_t port);
void ngx_http_snap_redis_locate_keep(ngx_http_snap_redis_locate_t *loc,
    ngx_uint_t watch);
void ngx_http_snap_redis_locate_stop(ngx_http_snap_redis_locate_t *loc);


#endif /* _NGX_HTTP_SNAP_REDIS_LOCATE_H_INCLUDED_ */
