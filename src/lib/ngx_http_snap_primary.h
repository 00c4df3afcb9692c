
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * What finding a Redis primary needs without nginx: what an error reply
 * says of the server, ROLE's answer, a Sentinel's answer, and INFO's
 * cluster_enabled.
 */


#ifndef _NGX_HTTP_SNAP_PRIMARY_H_INCLUDED_
#define _NGX_HTTP_SNAP_PRIMARY_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_resp.h"


/* what an error reply says of the server that sent it */
#define NGX_HTTP_SNAP_REDIS_ERR_OTHER       0
#define NGX_HTTP_SNAP_REDIS_ERR_READONLY    1  /* a replica */
#define NGX_HTTP_SNAP_REDIS_ERR_LOADING     2  /* loading its data set */
#define NGX_HTTP_SNAP_REDIS_ERR_MASTERDOWN  3  /* a replica, cut off */
#define NGX_HTTP_SNAP_REDIS_ERR_CLUSTER     4  /* MOVED, ASK, CROSSSLOT, ... */
#define NGX_HTTP_SNAP_REDIS_ERR_NOREPLICAS  5  /* min-replicas-to-write */

/* a host name, or an IPv4 or IPv6 address, as a Sentinel announces it */
#define NGX_HTTP_SNAP_REDIS_HOST_MAX        253


NGX_HTTP_SNAP_API int ngx_http_snap_redis_error(const unsigned char *s,
    size_t len);
NGX_HTTP_SNAP_API int ngx_http_snap_redis_master_ok(
    const ngx_http_snap_resp_reply_t *reply);
NGX_HTTP_SNAP_API int ngx_http_snap_redis_sentinel_master(
    const ngx_http_snap_resp_reply_t *reply, const unsigned char **host,
    size_t *host_len, unsigned *port);
NGX_HTTP_SNAP_API int ngx_http_snap_redis_cluster_ok(const unsigned char *p,
    size_t len);


#endif /* _NGX_HTTP_SNAP_PRIMARY_H_INCLUDED_ */
