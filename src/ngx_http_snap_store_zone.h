
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The zone store: snap_replay_zone, the node's own replay store, and the
 * first level of every other store.
 */


#ifndef _NGX_HTTP_SNAP_STORE_ZONE_H_INCLUDED_
#define _NGX_HTTP_SNAP_STORE_ZONE_H_INCLUDED_


#include "ngx_http_snap.h"
#include "ngx_http_snap_replay.h"


extern const ngx_http_snap_store_t  ngx_http_snap_store_zone;


char *ngx_http_snap_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
time_t ngx_http_snap_store_zone_kept(ngx_http_snap_zone_t *zone);

/* for a store over the zone: its own steps, which it runs first */
ngx_int_t ngx_http_snap_store_zone_init_conf(ngx_conf_t *cf,
    ngx_http_snap_zone_t *zone);
ngx_int_t ngx_http_snap_store_zone_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *zone);
void ngx_http_snap_store_zone_prepare(ngx_http_snap_zone_t *zone,
    ngx_http_snap_replay_key_t *key);
ngx_int_t ngx_http_snap_store_zone_record(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key,
    ngx_http_snap_store_done_pt done, void *data, ngx_uint_t *reason);
void ngx_http_snap_store_zone_release(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key);


#endif /* _NGX_HTTP_SNAP_STORE_ZONE_H_INCLUDED_ */
