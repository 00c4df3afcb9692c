
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The Redis store: snap_replay_redis, a store over the zone store that
 * makes the first use of an id win across nodes.
 */


#ifndef _NGX_HTTP_SNAP_STORE_REDIS_H_INCLUDED_
#define _NGX_HTTP_SNAP_STORE_REDIS_H_INCLUDED_


#include "ngx_http_snap.h"
#include "ngx_http_snap_replay.h"


extern const ngx_http_snap_store_t  ngx_http_snap_store_redis;


char *ngx_http_snap_replay_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_SNAP_STORE_REDIS_H_INCLUDED_ */
