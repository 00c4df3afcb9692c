
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Replies that say where the primary is, or that this server is not (or
 * no longer) it: Redis's error prefixes, ROLE, SENTINEL
 * get-master-addr-by-name, INFO cluster.  Nothing here trusts a reply's
 * shape: a reply that is not what was asked for says "not a primary".
 */


#include <string.h>

#include "ngx_http_snap_primary.h"


typedef struct {
    const char               *prefix;
    size_t                    len;
    int                       kind;
} ngx_http_snap_redis_prefix_t;


#define ngx_http_snap_prefix(s, k)  { s, sizeof(s) - 1, k }

/* the first word of an error reply, as Redis and Valkey write it */
static const ngx_http_snap_redis_prefix_t  ngx_http_snap_redis_prefixes[] = {
    ngx_http_snap_prefix("READONLY", NGX_HTTP_SNAP_REDIS_ERR_READONLY),
    ngx_http_snap_prefix("LOADING", NGX_HTTP_SNAP_REDIS_ERR_LOADING),
    ngx_http_snap_prefix("MASTERDOWN", NGX_HTTP_SNAP_REDIS_ERR_MASTERDOWN),
    ngx_http_snap_prefix("MOVED", NGX_HTTP_SNAP_REDIS_ERR_CLUSTER),
    ngx_http_snap_prefix("ASK", NGX_HTTP_SNAP_REDIS_ERR_CLUSTER),
    ngx_http_snap_prefix("CROSSSLOT", NGX_HTTP_SNAP_REDIS_ERR_CLUSTER),
    ngx_http_snap_prefix("CLUSTERDOWN", NGX_HTTP_SNAP_REDIS_ERR_CLUSTER),
    ngx_http_snap_prefix("TRYAGAIN", NGX_HTTP_SNAP_REDIS_ERR_CLUSTER),
    ngx_http_snap_prefix("NOREPLICAS", NGX_HTTP_SNAP_REDIS_ERR_NOREPLICAS),
    { NULL, 0, 0 }
};

/* SELECT with a db other than 0, on a cluster node */
static const char  ngx_http_snap_redis_cluster_select[] =
    "ERR SELECT is not allowed in cluster mode";


/* an error reply's text, without its '-' */

int
ngx_http_snap_redis_error(const unsigned char *s, size_t len)
{
    size_t                               n;
    const ngx_http_snap_redis_prefix_t  *p;

    for (n = 0; n < len && s[n] != ' '; n++) { /* void */ }

    for (p = ngx_http_snap_redis_prefixes; p->prefix; p++) {
        if (n == p->len && memcmp(s, p->prefix, n) == 0) {
            return p->kind;
        }
    }

    n = sizeof(ngx_http_snap_redis_cluster_select) - 1;

    if (len >= n && memcmp(s, ngx_http_snap_redis_cluster_select, n) == 0) {
        return NGX_HTTP_SNAP_REDIS_ERR_CLUSTER;
    }

    return NGX_HTTP_SNAP_REDIS_ERR_OTHER;
}


/*
 * ROLE's answer is a primary's: an array whose first element is "master"
 * (a replica's is "slave", a Sentinel's "sentinel").
 */

int
ngx_http_snap_redis_master_ok(const ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_resp_reply_t  role;

    if (ngx_http_snap_resp_elements(reply, &role, 1) != 1) {
        return 0;
    }

    return (role.type == NGX_HTTP_SNAP_RESP_BULK
            || role.type == NGX_HTTP_SNAP_RESP_STATUS)
           && role.len == 6 && memcmp(role.str, "master", 6) == 0;
}


/*
 * SENTINEL get-master-addr-by-name's answer: the host (in place) and the
 * port of the primary, or, for the null answer of a Sentinel that does not
 * know the name, NGX_HTTP_SNAP_LIB_OK with *host_len 0.  The host holds
 * only what a host name or an address may; the port is 1 to 65535.
 */

int
ngx_http_snap_redis_sentinel_master(const ngx_http_snap_resp_reply_t *reply,
    const unsigned char **host, size_t *host_len, unsigned *port)
{
    size_t                      i;
    unsigned                    v;
    unsigned char               ch;
    ngx_http_snap_resp_reply_t  elts[2];

    *host_len = 0;
    *port = 0;

    if (reply->type == NGX_HTTP_SNAP_RESP_NIL) {
        return NGX_HTTP_SNAP_LIB_OK;
    }

    if (reply->type != NGX_HTTP_SNAP_RESP_ARRAY || reply->integer != 2
        || ngx_http_snap_resp_elements(reply, elts, 2) != 2
        || elts[0].type != NGX_HTTP_SNAP_RESP_BULK
        || elts[1].type != NGX_HTTP_SNAP_RESP_BULK
        || elts[0].len == 0 || elts[0].len > NGX_HTTP_SNAP_REDIS_HOST_MAX
        || elts[1].len == 0 || elts[1].len > 5)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    for (i = 0; i < elts[0].len; i++) {
        ch = elts[0].str[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'
              || ch == ':' || ch == '_'))
        {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }
    }

    v = 0;

    for (i = 0; i < elts[1].len; i++) {
        ch = elts[1].str[i];

        if (ch < '0' || ch > '9' || (i == 0 && ch == '0')) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        v = v * 10 + (ch - '0');
    }

    if (v > 65535) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    *host = elts[0].str;
    *host_len = elts[0].len;
    *port = v;

    return NGX_HTTP_SNAP_LIB_OK;
}


/* INFO cluster's text says cluster_enabled:1, on a line of its own */

int
ngx_http_snap_redis_cluster_ok(const unsigned char *p, size_t len)
{
    size_t                n, i;
    static const char     line[] = "cluster_enabled:1";

    n = sizeof(line) - 1;

    for (i = 0; i + n <= len; i++) {
        if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, line, n) == 0
            && (i + n == len || p[i + n] == '\r' || p[i + n] == '\n'))
        {
            return 1;
        }
    }

    return 0;
}
