
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Prometheus metrics: counters in a shared-memory zone, one series per
 * label set the configuration can produce, found once when the zone is
 * set up and then updated with atomics, without a lock.  The rooms tell
 * what they count through this interface alone: they register their
 * zones, stores and providers while the configuration is read, and count
 * by the index they were given.
 */


#ifndef _NGX_HTTP_SNAP_METRICS_H_INCLUDED_
#define _NGX_HTTP_SNAP_METRICS_H_INCLUDED_


#include "ngx_http_snap.h"


/* what went wrong with a replay store's server */
typedef enum {
    NGX_HTTP_SNAP_STORE_DOWN = 0,     /* not connected, or not taking more */
    NGX_HTTP_SNAP_STORE_TIMEOUT,
    NGX_HTTP_SNAP_STORE_CLOSED,       /* the connection broke */
    NGX_HTTP_SNAP_STORE_REPLY,        /* an error reply */
    NGX_HTTP_SNAP_STORE_READONLY,     /* -READONLY: a replica */
    NGX_HTTP_SNAP_STORE_LOADING,      /* -LOADING */
    NGX_HTTP_SNAP_STORE_FAILOVER,     /* the primary moved, or is moving */
    NGX_HTTP_SNAP_STORE_WAIT,         /* fewer replicas than wait= */
    NGX_HTTP_SNAP_STORE_KINDS
} ngx_http_snap_store_error_e;


/* a store's reply arrived: a round trip, with no error */
#define NGX_HTTP_SNAP_STORE_OK  -1


/* how a provider's token call ended */
typedef enum {
    NGX_HTTP_SNAP_FETCH_OK = 0,
    NGX_HTTP_SNAP_FETCH_REFUSED,      /* answered, without a token */
    NGX_HTTP_SNAP_FETCH_FAILED,       /* unreachable, 5xx, TLS */
    NGX_HTTP_SNAP_FETCH_INTERNAL,     /* nginx's side */
    NGX_HTTP_SNAP_FETCH_OUTCOMES
} ngx_http_snap_fetch_e;


/* a replay zone's gauges, read when the endpoint is scraped */
typedef void (*ngx_http_snap_metrics_gauge_pt)(void *data, ngx_uint_t *live,
    ngx_uint_t *capacity);

/*
 * A Redis store's primary, read when the endpoint is scraped: 1 and its
 * address while in use, 0 and the last one's, or NGX_DECLINED for none.
 */
typedef ngx_int_t (*ngx_http_snap_metrics_primary_pt)(void *data,
    ngx_str_t *address);


char *ngx_http_snap_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_snap_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

ngx_int_t ngx_http_snap_metrics_add_zone(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_snap_metrics_gauge_pt gauge, void *data);
ngx_int_t ngx_http_snap_metrics_add_store(ngx_conf_t *cf, ngx_str_t *zone,
    ngx_http_snap_metrics_primary_pt primary, void *data);
ngx_int_t ngx_http_snap_metrics_add_provider(ngx_conf_t *cf,
    ngx_str_t *name);
ngx_int_t ngx_http_snap_metrics_service(ngx_conf_t *cf, ngx_uint_t code);
ngx_int_t ngx_http_snap_metrics_init(ngx_conf_t *cf);

void ngx_http_snap_metrics_log(ngx_http_request_t *r);
uint64_t ngx_http_snap_metrics_start(ngx_http_request_t *r);
void ngx_http_snap_metrics_store(ngx_http_request_t *r, ngx_uint_t store,
    uint64_t start, ngx_int_t kind);
void ngx_http_snap_metrics_fallback(ngx_http_request_t *r, ngx_uint_t store);
void ngx_http_snap_metrics_fetch(ngx_http_request_t *r, ngx_uint_t provider,
    ngx_http_snap_fetch_e outcome);


#endif /* _NGX_HTTP_SNAP_METRICS_H_INCLUDED_ */
