
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The replay store: one interface (ngx_http_snap_store_t), each store the
 * owner of its life: its directive, which names the zone it serves with
 * ngx_http_snap_replay_zone_add(), its configuration once the http block
 * is read, its life in each worker, and per request prepare, record and
 * release.  A zone a snap_replay names is declared by snap_replay_zone,
 * the node's own store, and may be backed by one store over it (Redis):
 * this room knows no store by name.
 */


#ifndef _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_
#define _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_


#include "ngx_http_snap.h"


typedef struct ngx_http_snap_store_s  ngx_http_snap_store_t;


/*
 * A store's later answer to record(): its verdict as record() returns
 * one.  Called once, never from inside record(); it must not run the
 * request's phases (the request is resumed from its own connection).
 */
typedef void (*ngx_http_snap_store_done_pt)(void *data, ngx_int_t rc,
    ngx_uint_t reason);


/* a zone snap_replay may name, and the store behind it */
struct ngx_http_snap_zone_s {
    ngx_str_t                     name;
    ngx_shm_zone_t               *shm_zone;     /* NULL: never declared */
    const ngx_http_snap_store_t  *store;
    void                         *conf;         /* the store's own */
    ngx_uint_t                    metrics;      /* the zone's index */
    time_t                        skew;  /* the largest of its locations */
    ngx_str_t                     file;         /* where a backend named it */
    ngx_uint_t                    line;
};


/*
 * prepare: the key is known (the headers passed); whatever the store reads
 * ahead while the body is checked.  record: NGX_OK (recorded), NGX_DECLINED
 * with the reason (a replay, a full store), NGX_ERROR, or NGX_AGAIN: then
 * done(data, ...) is called once, later.  release: what this request
 * recorded, and only that, is forgotten.  init_conf runs once every
 * directive is read, before the locations are merged: a zone's skew is
 * known from init_process on.
 */
struct ngx_http_snap_store_s {
    ngx_str_t                   name;
    ngx_uint_t                  backend;     /* over the node's own zone */
    ngx_int_t                 (*init_conf)(ngx_conf_t *cf,
                                           ngx_http_snap_zone_t *zone);
    ngx_int_t                 (*init_process)(ngx_cycle_t *cycle,
                                              ngx_http_snap_zone_t *zone);
    void                      (*exit_process)(ngx_cycle_t *cycle,
                                              ngx_http_snap_zone_t *zone);
    void                      (*prepare)(ngx_http_snap_zone_t *zone,
                                         ngx_http_snap_replay_key_t *key);
    ngx_int_t                 (*record)(ngx_http_request_t *r,
                                        ngx_http_snap_zone_t *zone,
                                        ngx_http_snap_replay_key_t *key,
                                        ngx_http_snap_store_done_pt done,
                                        void *data, ngx_uint_t *reason);
    void                      (*release)(ngx_http_request_t *r,
                                         ngx_http_snap_zone_t *zone,
                                         ngx_http_snap_replay_key_t *key);
};


char *ngx_http_snap_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_http_snap_zone_t *ngx_http_snap_replay_zone_add(ngx_conf_t *cf,
    ngx_str_t *name, const ngx_http_snap_store_t *store);
ngx_int_t ngx_http_snap_replay_init_conf(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
void ngx_http_snap_replay_skew(ngx_http_snap_replay_conf_t *rpc,
    time_t skew);
ngx_int_t ngx_http_snap_replay_init_filter(ngx_conf_t *cf);
ngx_int_t ngx_http_snap_replay_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_main_conf_t *smcf);
void ngx_http_snap_replay_exit_process(ngx_cycle_t *cycle,
    ngx_http_snap_main_conf_t *smcf);

void ngx_http_snap_replay_key(ngx_http_snap_ctx_t *ctx);
ngx_int_t ngx_http_snap_replay_record(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_store_done_pt done, void *data,
    ngx_uint_t *reason);
void ngx_http_snap_replay_release(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);


#endif /* _NGX_HTTP_SNAP_REPLAY_H_INCLUDED_ */
