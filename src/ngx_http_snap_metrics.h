
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Prometheus metrics: counters in a shared-memory zone, one series per
 * label set the configuration can produce, found once when the zone is
 * set up and then updated with atomics, without a lock.
 */


#ifndef _NGX_HTTP_SNAP_METRICS_H_INCLUDED_
#define _NGX_HTTP_SNAP_METRICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_redis.h"
#include "ngx_http_snap_provider.h"


/*
 * A request's outcome, kept in its context until the log phase counts it:
 * none yet, accepted (for snap_sign: signed), or refused for a reason.
 */
#define NGX_HTTP_SNAP_OUTCOME_NONE       0
#define NGX_HTTP_SNAP_OUTCOME_ACCEPTED   1
#define NGX_HTTP_SNAP_OUTCOME(reason)    ((reason) + 2)


/* what went wrong with a replay store's server */
typedef enum {
    NGX_HTTP_SNAP_STORE_DOWN = 0,     /* not connected, or not taking more */
    NGX_HTTP_SNAP_STORE_TIMEOUT,
    NGX_HTTP_SNAP_STORE_CLOSED,       /* the connection broke */
    NGX_HTTP_SNAP_STORE_REPLY,        /* an error reply */
    NGX_HTTP_SNAP_STORE_KINDS
} ngx_http_snap_store_error_e;


/* how a provider's token call ended */
typedef enum {
    NGX_HTTP_SNAP_FETCH_OK = 0,
    NGX_HTTP_SNAP_FETCH_REFUSED,      /* answered, without a token */
    NGX_HTTP_SNAP_FETCH_FAILED,       /* unreachable, 5xx, TLS */
    NGX_HTTP_SNAP_FETCH_INTERNAL,     /* nginx's side */
    NGX_HTTP_SNAP_FETCH_OUTCOMES
} ngx_http_snap_fetch_e;


typedef struct ngx_http_snap_metrics_s  ngx_http_snap_metrics_t;


/* a store's reply arrived: a round trip, with no error */
#define NGX_HTTP_SNAP_STORE_OK  -1


NGX_HTTP_SNAP_API char *ngx_http_snap_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_metrics(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_metrics_init(ngx_conf_t *cf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_metrics_service(ngx_conf_t *cf,
    ngx_uint_t code);

NGX_HTTP_SNAP_API void ngx_http_snap_metrics_log(ngx_http_request_t *r);
NGX_HTTP_SNAP_API uint64_t ngx_http_snap_metrics_start(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API void ngx_http_snap_metrics_store(ngx_http_request_t *r,
    ngx_http_snap_redis_conf_t *redis, uint64_t start, ngx_int_t kind);
NGX_HTTP_SNAP_API void ngx_http_snap_metrics_fallback(ngx_http_request_t *r,
    ngx_http_snap_redis_conf_t *redis);
NGX_HTTP_SNAP_API void ngx_http_snap_metrics_fetch(ngx_http_request_t *r,
    ngx_http_snap_provider_t *provider, ngx_http_snap_fetch_e outcome);


#endif /* _NGX_HTTP_SNAP_METRICS_H_INCLUDED_ */
