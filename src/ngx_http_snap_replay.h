
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The replay store: one interface, backends behind it (the shared-memory
 * zone first).  A location names one replay configuration; the key is
 * computed once into the request context; a store answers at once or
 * later, through ngx_http_snap_verify_resume().
 */


#ifndef _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_
#define _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_snap_lib.h"


typedef struct ngx_http_snap_store_s  ngx_http_snap_store_t;


/* (partner, WIB day of X-TIMESTAMP, X-EXTERNAL-ID), and the store's hash */
typedef struct {
    uint64_t                    partner;
    ngx_str_t                   partner_id;
    int32_t                     day;
    ngx_str_t                   id;
    uint64_t                    hash;
    void                       *data;         /* the store's, per request */
} ngx_http_snap_replay_key_t;


/* snap_replay ZONE [numeric] [release_on_failure], merged as one */
typedef struct {
    const ngx_http_snap_store_t  *store;
    void                       *data;         /* the store's configuration */
    ngx_shm_zone_t             *zone;         /* every store's first level */
    ngx_flag_t                  numeric;
    ngx_flag_t                  release;
    ngx_uint_t                  metrics_zone; /* the zone's index */
    ngx_str_t                   file;         /* of the directive */
    ngx_uint_t                  line;
} ngx_http_snap_replay_conf_t;


/*
 * record() answers NGX_OK (recorded), NGX_DECLINED with the reason in
 * *reason (a replay, a full store), NGX_ERROR, or NGX_AGAIN: then it has
 * taken a reference on the request (r->main->count++) and calls
 * ngx_http_snap_verify_resume() once with its answer.  release() forgets
 * only what this request recorded.
 */
struct ngx_http_snap_store_s {
    const char                 *name;
    void                      (*prepare)(ngx_http_snap_replay_conf_t *rpc,
                                         ngx_http_snap_replay_key_t *key);
    ngx_int_t                 (*record)(ngx_http_request_t *r,
                                        ngx_http_snap_replay_conf_t *rpc,
                                        ngx_http_snap_replay_key_t *key,
                                        time_t skew, ngx_uint_t *reason);
    void                      (*release)(ngx_http_request_t *r,
                                         ngx_http_snap_replay_conf_t *rpc,
                                         ngx_http_snap_replay_key_t *key);
};


extern NGX_HTTP_SNAP_API const ngx_http_snap_store_t  ngx_http_snap_store_shm;
extern NGX_HTTP_SNAP_API const ngx_http_snap_store_t  ngx_http_snap_store_redis;


NGX_HTTP_SNAP_API char *ngx_http_snap_replay_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_replay_resolve(ngx_conf_t *cf,
    ngx_http_snap_replay_conf_t *rpc);
NGX_HTTP_SNAP_API void ngx_http_snap_replay_zone_stats(
    ngx_shm_zone_t *shm_zone, ngx_uint_t *live, ngx_uint_t *capacity);
NGX_HTTP_SNAP_API void ngx_http_snap_replay_skew(ngx_shm_zone_t *shm_zone,
    time_t skew);
NGX_HTTP_SNAP_API time_t ngx_http_snap_replay_zone_skew(
    ngx_shm_zone_t *shm_zone);


#endif /* _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_ */
