
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The Redis store, a store over the zone store (snap_replay_redis): the
 * node's zone first, so that a duplicate on the same node is refused
 * without a round trip, then "SET key value NX EXAT t" on the primary
 * (the client finds it, and finds it again after a failover) as the
 * cross-node first use wins; with wait=N, then "WAIT N", so that an id
 * is accepted only once N replicas hold it.  Its answer is delivered
 * through the request's done handler, never from inside record().  When
 * Redis cannot answer, on_error decides: closed refuses the request
 * (500xx00), local keeps the node's zone alone; never is a request let
 * through unchecked.  A refused request's write that may have reached
 * Redis (a timeout, a broken connection, too few replicas) is taken
 * back, by compare-and-delete on its own writer value, first thing on
 * the next connection.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_keys.h"
#include "ngx_http_snap_metrics.h"
#include "ngx_http_snap_replay.h"
#include "ngx_http_snap_store_zone.h"
#include "ngx_http_snap_redis.h"
#include "ngx_http_snap_store_redis.h"

#include <openssl/rand.h>


/* writes to take back, a worker and a store: what a Redis outage leaves */
#define NGX_HTTP_SNAP_REDIS_UNDO        1024
/* prefix=, then the partner id, the day and the id: the longest key */
#define NGX_HTTP_SNAP_REDIS_PREFIX_MAX  64
#define NGX_HTTP_SNAP_REDIS_KEY_MAX                                          \
    (NGX_HTTP_SNAP_REDIS_PREFIX_MAX + NGX_SIZE_T_LEN + NGX_HTTP_SNAP_ID_MAX  \
     + NGX_INT32_LEN + NGX_HTTP_SNAP_LONG_ID_MAX + 3)
/* a writer value: this worker's nonce, its pid and a counter */
#define NGX_HTTP_SNAP_REDIS_VALUE_MAX   64


typedef enum {
    NGX_HTTP_SNAP_UNDO_FREE = 0,
    NGX_HTTP_SNAP_UNDO_WAITING,       /* for a connection */
    NGX_HTTP_SNAP_UNDO_SENT
} ngx_http_snap_undo_state_e;


/* a write to take back: its key and its writer value */
typedef struct {
    ngx_http_snap_undo_state_e  state;
    size_t                      key_len;
    size_t                      value_len;
    u_char                      key[NGX_HTTP_SNAP_REDIS_KEY_MAX];
    u_char                      value[NGX_HTTP_SNAP_REDIS_VALUE_MAX];
    void                       *store;
} ngx_http_snap_redis_undo_t;


/* one snap_replay_redis */
typedef struct {
    ngx_http_snap_redis_conf_t  client;
    ngx_str_t                   zone;
    ngx_str_t                   prefix;
    ngx_flag_t                  fallback;     /* on_error=local */
    ngx_uint_t                  wait;         /* replicas, wait=N */
    ngx_uint_t                  metrics;      /* the store's index */
    ngx_array_t                *addresses;    /* ngx_str_t, as written */
    ngx_str_t                   file;         /* where the directive is */
    ngx_uint_t                  line;

    /* read by the directive's parameters, then set up as one */
    ngx_flag_t                  tls;
    ngx_flag_t                  tls_verify;
    ngx_str_t                   tls_trusted;
    ngx_str_t                   tls_name;

    /* this worker's */
    ngx_http_snap_redis_t      *redis;
    ngx_flag_t                  failing;      /* for one log line a burst */
    ngx_http_snap_redis_undo_t *undo;
    ngx_flag_t                  undo_full;
} ngx_http_snap_store_redis_conf_t;


/* a request's write, from the record to its reply and to the release */
typedef struct {
    ngx_http_request_t          *r;
    ngx_http_snap_zone_t        *zone;
    ngx_http_snap_replay_key_t  *key;
    ngx_http_snap_store_done_pt  done;
    void                        *data;
    ngx_str_t                    name;        /* the Redis key */
    u_char                       value[NGX_HTTP_SNAP_REDIS_VALUE_MAX];
    size_t                       value_len;
    uint64_t                     start;       /* for the metrics */
    ngx_int_t                    rc;          /* the SET's, for WAIT's */
    ngx_uint_t                   reason;
    unsigned                     waiting:1;
    unsigned                     written:1;
    unsigned                     wait:1;      /* a WAIT follows the SET */
} ngx_http_snap_redis_write_t;


static ngx_int_t ngx_http_snap_store_redis_address(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_store_redis_servers(ngx_conf_t *cf,
    ngx_http_snap_store_redis_conf_t *rcf);
static ngx_int_t ngx_http_snap_store_redis_password(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_store_redis_sentinel_password(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_store_redis_prefix(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_store_redis_on_error(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_store_redis_tls(ngx_conf_t *cf,
    ngx_http_snap_store_redis_conf_t *rcf);
static ngx_int_t ngx_http_snap_store_redis_init_conf(ngx_conf_t *cf,
    ngx_http_snap_zone_t *zone);
static ngx_int_t ngx_http_snap_store_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *zone);
static void ngx_http_snap_store_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *zone);
static ngx_int_t ngx_http_snap_store_redis_primary(void *data,
    ngx_str_t *address);
static void ngx_http_snap_store_redis_prepare(ngx_http_snap_zone_t *zone,
    ngx_http_snap_replay_key_t *key);
static ngx_int_t ngx_http_snap_store_redis_record(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key,
    ngx_http_snap_store_done_pt done, void *data, ngx_uint_t *reason);
static void ngx_http_snap_store_redis_release(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key);
static void ngx_http_snap_store_redis_reply(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_store_redis_waited(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static ngx_int_t ngx_http_snap_store_redis_kind(
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply,
    const char **why);
static ngx_int_t ngx_http_snap_store_redis_failed(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key,
    const char *why, ngx_uint_t *reason);
static void ngx_http_snap_store_redis_cleanup(void *data);
static void ngx_http_snap_store_redis_take_back(ngx_log_t *log,
    ngx_http_snap_store_redis_conf_t *rcf, ngx_str_t *name, u_char *value,
    size_t len);
static void ngx_http_snap_store_redis_connected(ngx_http_snap_redis_t *redis,
    void *data);
static void ngx_http_snap_store_redis_undone(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static ngx_int_t ngx_http_snap_store_redis_undo_send(
    ngx_http_snap_store_redis_conf_t *rcf, ngx_http_snap_redis_undo_t *u);


const ngx_http_snap_store_t  ngx_http_snap_store_redis = {
    ngx_string("redis"),
    1,
    ngx_http_snap_store_redis_init_conf,
    ngx_http_snap_store_redis_init_process,
    ngx_http_snap_store_redis_exit_process,
    ngx_http_snap_store_redis_prepare,
    ngx_http_snap_store_redis_record,
    ngx_http_snap_store_redis_release
};


#define ngx_http_snap_rcf(field)                                             \
    offsetof(ngx_http_snap_store_redis_conf_t, field)

static ngx_http_snap_param_t  ngx_http_snap_store_redis_params[] = {
    ngx_http_snap_param("user", ngx_http_snap_param_str,
                        ngx_http_snap_rcf(client.user)),
    ngx_http_snap_param("password_file", ngx_http_snap_store_redis_password,
                        0),
    ngx_http_snap_param("db", ngx_http_snap_param_num,
                        ngx_http_snap_rcf(client.db)),
    ngx_http_snap_param("prefix", ngx_http_snap_store_redis_prefix, 0),
    ngx_http_snap_param("timeout", ngx_http_snap_param_msec,
                        ngx_http_snap_rcf(client.timeout)),
    ngx_http_snap_param("on_error", ngx_http_snap_store_redis_on_error, 0),
    ngx_http_snap_param("wait", ngx_http_snap_param_num,
                        ngx_http_snap_rcf(wait)),
    ngx_http_snap_param("sentinel", ngx_http_snap_param_str,
                        ngx_http_snap_rcf(client.sentinel)),
    ngx_http_snap_param("sentinel_user", ngx_http_snap_param_str,
                        ngx_http_snap_rcf(client.sentinel_user)),
    ngx_http_snap_param("sentinel_password_file",
                        ngx_http_snap_store_redis_sentinel_password, 0),
    ngx_http_snap_param_flag("tls", ngx_http_snap_param_flag_on,
                             ngx_http_snap_rcf(tls)),
    ngx_http_snap_param("tls_verify", ngx_http_snap_param_on_off,
                        ngx_http_snap_rcf(tls_verify)),
    ngx_http_snap_param("tls_trusted_certificate", ngx_http_snap_param_str,
                        ngx_http_snap_rcf(tls_trusted)),
    ngx_http_snap_param("tls_name", ngx_http_snap_param_str,
                        ngx_http_snap_rcf(tls_name)),
    ngx_http_snap_param_end
};


static ngx_str_t  ngx_http_snap_store_redis_script = ngx_string(
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) end return 0");


/* this worker's writes are told apart by a random nonce and a counter */
static u_char      ngx_http_snap_redis_nonce[8];
static uint64_t    ngx_http_snap_redis_count;
static ngx_pid_t   ngx_http_snap_redis_pid;


/*
 * snap_replay_redis ZONE ADDRESS [ADDRESS...] [user=NAME]
 * [password_file=FILE] [db=N] [prefix=STR] [timeout=TIME]
 * [on_error=closed|local] [wait=N] [sentinel=MASTER] [sentinel_user=NAME]
 * [sentinel_password_file=FILE] [tls] ...
 */

char *
ngx_http_snap_replay_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                          index;
    ngx_str_t                         *value;
    ngx_http_snap_zone_t              *zone;
    ngx_http_snap_store_redis_conf_t  *rcf;

    value = cf->args->elts;

    zone = ngx_http_snap_replay_zone_add(cf, &value[1],
                                         &ngx_http_snap_store_redis);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_store_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->addresses = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (rcf->addresses == NULL) {
        return NGX_CONF_ERROR;
    }

    rcf->zone = value[1];
    rcf->client.label = value[1];
    rcf->client.timeout = 200;
    rcf->tls_verify = NGX_CONF_UNSET;
    ngx_str_set(&rcf->prefix, "snap:");
    rcf->file = cf->conf_file->file.name;
    rcf->line = cf->conf_file->line;

    if (ngx_http_snap_conf_params(cf, 2, ngx_http_snap_store_redis_params,
                                  ngx_http_snap_store_redis_address, rcf)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (rcf->addresses->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"snap_replay_redis\" needs an ADDRESS");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_store_redis_servers(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (rcf->client.sentinel.len == 0
        && (rcf->client.sentinel_user.len
            || rcf->client.sentinel_password.len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_user=\" and "
                           "\"sentinel_password_file=\" need \"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    if (rcf->client.sentinel_user.len
        && rcf->client.sentinel_password.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"sentinel_user=\" needs "
                           "\"sentinel_password_file=\"");
        return NGX_CONF_ERROR;
    }

    if (!rcf->tls) {
        if (rcf->tls_verify != NGX_CONF_UNSET || rcf->tls_trusted.len
            || rcf->tls_name.len)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tls_verify=\", \"tls_trusted_certificate=\" "
                               "and \"tls_name=\" need \"tls\"");
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_snap_store_redis_tls(cf, rcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (rcf->wait && rcf->client.timeout < 300) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"wait=\" with \"timeout=\" under 300ms: Redis "
                           "ends a WAIT at its own ticks, 100 ms apart, so "
                           "a missing replica may be reported as a timeout");
    }

    if (rcf->client.user.len && rcf->client.password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"user=\" needs \"password_file=\"");
        return NGX_CONF_ERROR;
    }

    index = ngx_http_snap_metrics_add_store(cf, &rcf->zone,
                                            ngx_http_snap_store_redis_primary,
                                            rcf);
    if (index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    rcf->metrics = index;
    zone->conf = rcf;

    return NGX_CONF_OK;
}


/* an ADDRESS: the arguments that are no NAME=VALUE, in order */

static ngx_int_t
ngx_http_snap_store_redis_address(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    ngx_str_t  *a;

    a = ngx_array_push(rcf->addresses);
    if (a == NULL) {
        return NGX_ERROR;
    }

    *a = *value;

    return NGX_OK;
}


/*
 * Each ADDRESS parsed, once every parameter is read (a Sentinel's port is
 * 26379 by default): an address, or a host name, which is resolved in
 * the workers when the http block has a resolver, else once, by
 * ngx_http_snap_store_redis_init_conf().
 */

static ngx_int_t
ngx_http_snap_store_redis_servers(ngx_conf_t *cf,
    ngx_http_snap_store_redis_conf_t *rcf)
{
    ngx_str_t                     *a;
    ngx_uint_t                     i;
    ngx_http_snap_redis_server_t  *s;

    if (ngx_array_init(&rcf->client.servers, cf->pool, rcf->addresses->nelts,
                       sizeof(ngx_http_snap_redis_server_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    a = rcf->addresses->elts;

    for (i = 0; i < rcf->addresses->nelts; i++) {
        s = ngx_array_push(&rcf->client.servers);
        if (s == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(s, sizeof(ngx_http_snap_redis_server_t));

        s->url.url = a[i];
        s->url.default_port = rcf->client.sentinel.len ? 26379 : 6379;
        s->url.no_resolve = 1;

        if (ngx_parse_url(cf->pool, &s->url) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis address \"%V\"%s%s", &a[i],
                               s->url.err ? ": " : "",
                               s->url.err ? s->url.err : "");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_store_redis_password(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    return ngx_http_snap_load_secret(cf, value, &rcf->client.password, 1);
}


static ngx_int_t
ngx_http_snap_store_redis_sentinel_password(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    return ngx_http_snap_load_secret(cf, value, &rcf->client.sentinel_password,
                                     1);
}


static ngx_int_t
ngx_http_snap_store_redis_prefix(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    if (value->len > NGX_HTTP_SNAP_REDIS_PREFIX_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"prefix=\" is longer than %d characters",
                           NGX_HTTP_SNAP_REDIS_PREFIX_MAX);
        return NGX_ERROR;
    }

    rcf->prefix = *value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_store_redis_on_error(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    if (value->len == 6 && ngx_strncmp(value->data, "closed", 6) == 0) {
        rcf->fallback = 0;
        return NGX_OK;
    }

    if (value->len == 5 && ngx_strncmp(value->data, "local", 5) == 0) {
        rcf->fallback = 1;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * tls: nginx's own client context.  The certificate is verified unless
 * tls_verify=off, against tls_trusted_certificate, for tls_name (default:
 * the address's host), which SNI sends too.
 */

static ngx_int_t
ngx_http_snap_store_redis_tls(ngx_conf_t *cf,
    ngx_http_snap_store_redis_conf_t *rcf)
{
#if (NGX_SSL)
    ngx_str_t                     *name;
    ngx_uint_t                     i;
    ngx_pool_cleanup_t            *cln;
    ngx_http_snap_redis_conf_t    *rc;
    ngx_http_snap_redis_server_t  *s;

    rc = &rcf->client;
    name = &rcf->tls_name;
    s = rc->servers.elts;

    for (i = 0; i < rc->servers.nelts; i++) {
        if (s[i].url.family == AF_UNIX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tls\" is for host:port addresses");
            return NGX_ERROR;
        }
    }

    rc->ssl_verify = (rcf->tls_verify == NGX_CONF_UNSET) ? 1
                                                         : rcf->tls_verify;

    if (rc->ssl_verify && rcf->tls_trusted.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls\" verifies the certificate against "
                           "\"tls_trusted_certificate=\"; give one, or "
                           "\"tls_verify=off\"");
        return NGX_ERROR;
    }

    if (name->len == 0) {
        if (rc->sentinel.len && rc->ssl_verify) {
            /* the primary is what the Sentinels name, an address */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tls\" with \"sentinel=\" checks the "
                               "primary's certificate against \"tls_name=\"; "
                               "give it");
            return NGX_ERROR;
        }

        *name = s[0].url.host;
    }

    /* NUL-terminated for SSL_set_tlsext_host_name() */
    rc->ssl_name.data = ngx_pnalloc(cf->pool, name->len + 1);
    if (rc->ssl_name.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(rc->ssl_name.data, name->data, name->len);
    rc->ssl_name.data[name->len] = '\0';
    rc->ssl_name.len = name->len;

    rc->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (rc->ssl == NULL) {
        return NGX_ERROR;
    }

    rc->ssl->log = cf->log;

    if (ngx_ssl_create(rc->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(rc->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = rc->ssl;

    if (rc->ssl_verify
        && ngx_ssl_trusted_certificate(cf, rc->ssl, &rcf->tls_trusted, 2)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"tls\" needs nginx built with OpenSSL");
    return NGX_ERROR;

#endif
}


/*
 * Once every directive is read: the zone's own part, then the http
 * block's resolver, if any, for the host names.  Without one, a name is
 * resolved now, once, as nginx resolves an upstream's, and nginx -t says
 * that it will not follow the name as it moves.
 */

static ngx_int_t
ngx_http_snap_store_redis_init_conf(ngx_conf_t *cf,
    ngx_http_snap_zone_t *zone)
{
    ngx_uint_t                         i, names;
    ngx_url_t                          u;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_snap_redis_server_t      *s;
    ngx_http_snap_store_redis_conf_t  *rcf;

    if (ngx_http_snap_store_zone_init_conf(cf, zone) != NGX_OK) {
        return NGX_ERROR;
    }

    rcf = zone->conf;
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the core module's merge, before this, gave a dummy one if none */
    rcf->client.resolver = (clcf->resolver
                            && clcf->resolver->connections.nelts)
                           ? clcf->resolver : NULL;
    rcf->client.resolver_timeout =
                              (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                              ? 30000 : clcf->resolver_timeout;

    s = rcf->client.servers.elts;
    names = 0;

    for (i = 0; i < rcf->client.servers.nelts; i++) {
        if (s[i].url.family == AF_UNIX || s[i].url.naddrs) {
            continue;
        }

        if (rcf->client.resolver) {
            s[i].resolve = 1;
            continue;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = s[i].url.url;
        u.default_port = s[i].url.default_port;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "redis address \"%V\"%s%s in %V:%ui",
                          &u.url, u.err ? ": " : " resolves to nothing",
                          u.err ? u.err : "", &rcf->file, rcf->line);
            return NGX_ERROR;
        }

        s[i].url = u;
        names++;
    }

    if (names) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"snap_replay_redis\" %V resolves its host names "
                      "once, now, in %V:%ui: a \"resolver\" in the http "
                      "block makes nginx follow them as they move (a "
                      "managed Redis's failover)", &rcf->zone, &rcf->file,
                      rcf->line);
    }

    return NGX_OK;
}


/* in each worker as it starts: the zone's own part (its pages mapped),
 * then its nonce, its writes to take back, and its client */

static ngx_int_t
ngx_http_snap_store_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *zone)
{
    ngx_http_snap_store_redis_conf_t  *rcf;

    if (ngx_http_snap_store_zone_init_process(cycle, zone) != NGX_OK) {
        return NGX_ERROR;
    }

    rcf = zone->conf;

    if (ngx_http_snap_redis_pid != ngx_pid) {
        if (RAND_bytes(ngx_http_snap_redis_nonce,
                       sizeof(ngx_http_snap_redis_nonce))
            != 1)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "RAND_bytes() failed for snap_replay_redis");
            return NGX_ERROR;
        }

        ngx_http_snap_redis_pid = ngx_pid;
    }

    rcf->undo = ngx_pcalloc(cycle->pool, NGX_HTTP_SNAP_REDIS_UNDO
                                         * sizeof(ngx_http_snap_redis_undo_t));
    if (rcf->undo == NULL) {
        return NGX_ERROR;
    }

    rcf->redis = ngx_http_snap_redis_create(cycle, &rcf->client,
                                            ngx_http_snap_store_redis_connected,
                                            rcf);

    return rcf->redis ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_snap_store_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *zone)
{
    ngx_http_snap_store_redis_conf_t  *rcf;

    rcf = zone->conf;

    if (rcf->redis) {
        ngx_http_snap_redis_stop(rcf->redis);
    }
}


/* the primary this worker uses, for snap_replay_store_primary */

static ngx_int_t
ngx_http_snap_store_redis_primary(void *data, ngx_str_t *address)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    if (rcf->redis == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_snap_redis_primary(rcf->redis, address);
}


static void
ngx_http_snap_store_redis_prepare(ngx_http_snap_zone_t *zone,
    ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_store_zone_prepare(zone, key);
}


static ngx_int_t
ngx_http_snap_store_redis_record(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key,
    ngx_http_snap_store_done_pt done, void *data, ngx_uint_t *reason)
{
    u_char                            *p;
    time_t                             expire;
    ngx_int_t                          rc;
    ngx_pool_cleanup_t                *cln;
    ngx_http_snap_resp_arg_t           args[6];
    ngx_http_snap_redis_write_t       *w;
    ngx_http_snap_store_redis_conf_t  *rcf;
    u_char                             exat[NGX_TIME_T_LEN];

    rcf = zone->conf;

    /*
     * the node's own zone first: a duplicate here costs no round trip.
     * Redis holds the truth: a full zone is a full cache, passed over
     */
    rc = ngx_http_snap_store_zone_record(r, zone, key, NULL, NULL, reason);

    if (rc == NGX_DECLINED && *reason == NGX_HTTP_SNAP_ZONE_FULL) {
        key->entry = NULL;
        rc = NGX_OK;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (rcf->redis == NULL || !ngx_http_snap_redis_ready(rcf->redis)) {
        ngx_http_snap_metrics_store(r, rcf->metrics, 0,
                                    NGX_HTTP_SNAP_STORE_DOWN);
        return ngx_http_snap_store_redis_failed(r, zone, key, "is down",
                                                reason);
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_snap_redis_write_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = cln->data;
    ngx_memzero(w, sizeof(ngx_http_snap_redis_write_t));

    w->r = r;
    w->zone = zone;
    w->key = key;
    w->done = done;
    w->data = data;

    /*
     * prefix, then the partner id with its length, the WIB day and the
     * id: no two (partner, day, id) share a key, whatever bytes they hold
     */
    w->name.data = ngx_pnalloc(r->pool, NGX_HTTP_SNAP_REDIS_KEY_MAX);
    if (w->name.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_snprintf(w->name.data, NGX_HTTP_SNAP_REDIS_KEY_MAX,
                     "%V%uz:%V:%D:%V", &rcf->prefix, key->partner_id.len,
                     &key->partner_id, key->day, &key->id);
    w->name.len = p - w->name.data;

    w->value_len = ngx_sprintf(w->value, "%*xs:%P:%uL",
                               sizeof(ngx_http_snap_redis_nonce),
                               ngx_http_snap_redis_nonce, ngx_pid,
                               ++ngx_http_snap_redis_count)
                   - w->value;

    /*
     * as absolute time from X-TIMESTAMP, so that nodes agree whatever their
     * clocks, and for as long as the zone keeps the day: the largest skew
     * of any location recording into it, not this location's
     */
    expire = ((time_t) key->day + 1) * 86400 - NGX_HTTP_SNAP_WIB_OFFSET
             + ngx_http_snap_store_zone_kept(zone);

    args[0].data = (u_char *) "SET";
    args[0].len = 3;
    args[1].data = w->name.data;
    args[1].len = w->name.len;
    args[2].data = w->value;
    args[2].len = w->value_len;
    args[3].data = (u_char *) "NX";
    args[3].len = 2;
    args[4].data = (u_char *) "EXAT";
    args[4].len = 4;
    args[5].data = exat;
    args[5].len = ngx_sprintf(exat, "%T", expire) - exat;

    w->start = ngx_http_snap_metrics_start(r);

    /* the reply handler and its data are set before the command exists */
    w->waiting = 1;
    key->data = w;
    cln->handler = ngx_http_snap_store_redis_cleanup;

    if (ngx_http_snap_redis_send(rcf->redis, args, 6,
                                 ngx_http_snap_store_redis_reply, w)
        != NGX_OK)
    {
        w->waiting = 0;
        ngx_http_snap_metrics_store(r, rcf->metrics, 0,
                                    NGX_HTTP_SNAP_STORE_DOWN);
        return ngx_http_snap_store_redis_failed(r, zone, key,
                                                "cannot take the command",
                                                reason);
    }

    if (rcf->wait) {
        /*
         * half of timeout=: Redis ends a WAIT at its own ticks (100 ms
         * apart at hz 10), and its "0 of N" must reach the client before
         * the client gives the connection up
         */
        p = ngx_sprintf(exat, "%ui", rcf->wait);

        args[0].data = (u_char *) "WAIT";
        args[0].len = 4;
        args[1].data = exat;
        args[1].len = p - exat;
        args[2].data = p;
        args[2].len = ngx_sprintf(p, "%M",
                                  ngx_max(rcf->client.timeout / 2, 1))
                      - p;

        /* a WAIT the client did not take: the SET's reply decides alone,
         * and refuses what it wrote */
        w->wait = 1;

        if (ngx_http_snap_redis_send(rcf->redis, args, 3,
                                     ngx_http_snap_store_redis_waited, w)
            != NGX_OK)
        {
            w->wait = 0;
            w->rc = NGX_DECLINED;
        }
    }

    return NGX_AGAIN;
}


/*
 * The SET's reply, inside the client's read loop: the verdict is worked
 * out and handed to the request's done handler, which resumes the request
 * from its own connection later; with wait=, it is kept for the WAIT's
 * reply, which comes next.
 */

static void
ngx_http_snap_store_redis_reply(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_write_t *w = data;

    const char                        *why;
    ngx_int_t                          rc, kind;
    ngx_uint_t                         reason, lost;
    ngx_http_request_t                *r;
    ngx_http_snap_store_redis_conf_t  *rcf;

    r = w->r;
    rcf = w->zone->conf;

    reason = NGX_HTTP_SNAP_INTERNAL;
    lost = (rcf->wait && !w->wait && w->rc == NGX_DECLINED);

    if (event == NGX_HTTP_SNAP_REDIS_REPLY
        && reply->type == NGX_HTTP_SNAP_RESP_STATUS && !lost)
    {
        /* "OK": the first use of the id, on any node */
        if (!w->wait) {
            ngx_http_snap_metrics_store(r, rcf->metrics, w->start,
                                        NGX_HTTP_SNAP_STORE_OK);
            rcf->failing = 0;
        }

        w->written = 1;
        rc = NGX_OK;

    } else if (event == NGX_HTTP_SNAP_REDIS_REPLY
               && reply->type == NGX_HTTP_SNAP_RESP_NIL)
    {
        /*
         * another node, or this one before a restart, had it: Redis holds
         * the truth, so the node's entry of this refused request goes
         */
        ngx_http_snap_metrics_store(r, rcf->metrics, w->start,
                                    NGX_HTTP_SNAP_STORE_OK);
        rcf->failing = 0;
        ngx_http_snap_store_zone_release(r, w->zone, w->key);
        rc = ngx_http_snap_refuse(&reason, NGX_HTTP_SNAP_REPLAY);

    } else if (lost && event == NGX_HTTP_SNAP_REDIS_REPLY
               && reply->type == NGX_HTTP_SNAP_RESP_STATUS)
    {
        /* written, with no WAIT behind it to say how many replicas hold
         * it: refused whatever on_error says, and taken back */
        ngx_http_snap_metrics_store(r, rcf->metrics, w->start,
                                    NGX_HTTP_SNAP_STORE_WAIT);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: redis zone \"%V\" could not take the WAIT "
                      "after a write (wait=%ui), request refused",
                      &rcf->zone, rcf->wait);
        ngx_http_snap_store_zone_release(r, w->zone, w->key);
        ngx_http_snap_store_redis_take_back(r->connection->log, rcf,
                                            &w->name, w->value,
                                            w->value_len);
        rc = ngx_http_snap_refuse(&reason, NGX_HTTP_SNAP_REPLAY_STORE);

    } else {
        kind = ngx_http_snap_store_redis_kind(event, reply, &why);

        ngx_http_snap_metrics_store(r, rcf->metrics, w->start, kind);

        rc = ngx_http_snap_store_redis_failed(r, w->zone, w->key, why,
                                              &reason);

        /* refused, but its write may have reached Redis: taken back */
        if (rc != NGX_OK
            && (event == NGX_HTTP_SNAP_REDIS_TIMEOUT
                || event == NGX_HTTP_SNAP_REDIS_CLOSED
                || event == NGX_HTTP_SNAP_REDIS_MOVED))
        {
            ngx_http_snap_store_redis_take_back(r->connection->log, rcf,
                                                &w->name, w->value,
                                                w->value_len);
        }
    }

    if (w->wait) {
        /* the WAIT's reply, next in order, ends it */
        w->rc = rc;
        w->reason = reason;
        return;
    }

    w->waiting = 0;
    w->done(w->data, rc, reason);
}


/*
 * WAIT's reply: the number of replicas that hold every write before it
 * on this connection.  An id this request wrote is accepted only once
 * wait= of them do; fewer refuse it, and its write is taken back.
 */

static void
ngx_http_snap_store_redis_waited(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_write_t *w = data;

    const char                        *why;
    ngx_int_t                          rc, kind;
    ngx_uint_t                         reason;
    ngx_http_request_t                *r;
    ngx_http_snap_store_redis_conf_t  *rcf;
    u_char                             text[64];

    r = w->r;
    rcf = w->zone->conf;
    rc = w->rc;
    reason = w->reason;

    w->waiting = 0;

    if (rc != NGX_OK || !w->written) {
        /* a replay, or a failure: the SET's verdict stands */
        w->done(w->data, rc, reason);
        return;
    }

    if (event == NGX_HTTP_SNAP_REDIS_REPLY
        && reply->type == NGX_HTTP_SNAP_RESP_INTEGER
        && reply->integer >= (int64_t) rcf->wait)
    {
        ngx_http_snap_metrics_store(r, rcf->metrics, w->start,
                                    NGX_HTTP_SNAP_STORE_OK);
        rcf->failing = 0;
        w->done(w->data, NGX_OK, reason);
        return;
    }

    if (event == NGX_HTTP_SNAP_REDIS_REPLY
        && reply->type == NGX_HTTP_SNAP_RESP_INTEGER)
    {
        ngx_snprintf(text, sizeof(text), "has %L of %ui replicas%Z",
                     reply->integer, rcf->wait);
        why = (const char *) text;
        kind = NGX_HTTP_SNAP_STORE_WAIT;

    } else {
        kind = ngx_http_snap_store_redis_kind(event, reply, &why);
    }

    ngx_http_snap_metrics_store(r, rcf->metrics, w->start, kind);

    w->written = 0;

    /* durability, not availability: on_error=local does not waive it */
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "snap: redis zone \"%V\" %s after a write (wait=%ui), "
                  "request refused", &rcf->zone, why, rcf->wait);

    ngx_http_snap_store_zone_release(r, w->zone, w->key);
    ngx_http_snap_store_redis_take_back(r->connection->log, rcf, &w->name,
                                        w->value, w->value_len);

    rc = ngx_http_snap_refuse(&reason, NGX_HTTP_SNAP_REPLAY_STORE);

    w->done(w->data, rc, reason);
}


/* what went wrong, for the metrics and the log */

static ngx_int_t
ngx_http_snap_store_redis_kind(ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply, const char **why)
{
    switch (event) {

    case NGX_HTTP_SNAP_REDIS_TIMEOUT:
        *why = "timed out";
        return NGX_HTTP_SNAP_STORE_TIMEOUT;

    case NGX_HTTP_SNAP_REDIS_DOWN:
        *why = "is down";
        return NGX_HTTP_SNAP_STORE_DOWN;

    case NGX_HTTP_SNAP_REDIS_MOVED:
        *why = "is finding its primary";
        return NGX_HTTP_SNAP_STORE_FAILOVER;

    case NGX_HTTP_SNAP_REDIS_REPLY:
        break;

    default:
        *why = "closed the connection";
        return NGX_HTTP_SNAP_STORE_CLOSED;
    }

    if (reply->type != NGX_HTTP_SNAP_RESP_ERROR) {
        *why = "answered what SET does not";
        return NGX_HTTP_SNAP_STORE_REPLY;
    }

    switch (ngx_http_snap_redis_error(reply->str, reply->len)) {

    case NGX_HTTP_SNAP_REDIS_ERR_READONLY:
        *why = "answered -READONLY";
        return NGX_HTTP_SNAP_STORE_READONLY;

    case NGX_HTTP_SNAP_REDIS_ERR_LOADING:
        *why = "answered -LOADING";
        return NGX_HTTP_SNAP_STORE_LOADING;

    case NGX_HTTP_SNAP_REDIS_ERR_MASTERDOWN:
        *why = "answered -MASTERDOWN";
        return NGX_HTTP_SNAP_STORE_FAILOVER;

    default:
        *why = "answered an error";
        return NGX_HTTP_SNAP_STORE_REPLY;
    }
}


/*
 * Redis could not answer.  closed: the request is refused with 500xx00
 * (reason replay_store) and the node's zone forgets this request's entry,
 * so a retry passes once Redis is back; local: the node's zone alone
 * decides, with one warn line per burst.
 */

static ngx_int_t
ngx_http_snap_store_redis_failed(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key,
    const char *why, ngx_uint_t *reason)
{
    ngx_http_snap_store_redis_conf_t  *rcf;

    rcf = zone->conf;

    /* the node's zone, full, holds nothing of it: it cannot decide */
    if (rcf->fallback && key->entry == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: redis zone \"%V\" %s and the node's zone is "
                      "full, request refused", &rcf->zone, why);
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_ZONE_FULL);
    }

    if (rcf->fallback) {
        ngx_http_snap_metrics_fallback(r, rcf->metrics);

        if (!rcf->failing) {
            rcf->failing = 1;
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "snap: redis zone \"%V\" %s, replays are refused "
                          "on this node only (on_error=local)", &rcf->zone,
                          why);
        }

        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "snap: redis zone \"%V\" %s, request refused "
                  "(on_error=closed)", &rcf->zone, why);

    ngx_http_snap_store_zone_release(r, zone, key);

    return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_REPLAY_STORE);
}


/*
 * release_on_failure: the node's zone forgets this request's entry, and
 * Redis the key this request wrote, while it still holds this write's
 * value, so that no other node's use is undone; when Redis cannot take
 * it now, on the next connection.
 */

static void
ngx_http_snap_store_redis_release(ngx_http_request_t *r,
    ngx_http_snap_zone_t *zone, ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_redis_write_t       *w;
    ngx_http_snap_store_redis_conf_t  *rcf;

    ngx_http_snap_store_zone_release(r, zone, key);

    w = key->data;
    rcf = zone->conf;

    if (w == NULL || !w->written) {
        return;
    }

    w->written = 0;

    ngx_http_snap_store_redis_take_back(r->connection->log, rcf, &w->name,
                                        w->value, w->value_len);
}


/* a request gone before its reply: nothing may be called for it */

static void
ngx_http_snap_store_redis_cleanup(void *data)
{
    ngx_http_snap_redis_write_t *w = data;

    ngx_http_snap_store_redis_conf_t  *rcf;

    rcf = w->zone->conf;

    if (w->waiting && rcf->redis) {
        ngx_http_snap_redis_forget(rcf->redis, w);
    }
}


/*
 * A write to take back: sent now if the connection takes it, else kept,
 * in a slot of this worker's, for the next connection.
 */

static void
ngx_http_snap_store_redis_take_back(ngx_log_t *log,
    ngx_http_snap_store_redis_conf_t *rcf, ngx_str_t *name, u_char *value,
    size_t len)
{
    ngx_uint_t                   i;
    ngx_http_snap_redis_undo_t  *u;

    for (i = 0; i < NGX_HTTP_SNAP_REDIS_UNDO; i++) {
        if (rcf->undo[i].state == NGX_HTTP_SNAP_UNDO_FREE) {
            break;
        }
    }

    if (i == NGX_HTTP_SNAP_REDIS_UNDO) {
        if (!rcf->undo_full) {
            rcf->undo_full = 1;
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "snap: redis zone \"%V\" has %d writes to take back "
                          "waiting, more stay used until their day ends",
                          &rcf->zone, NGX_HTTP_SNAP_REDIS_UNDO);
        }

        return;
    }

    u = &rcf->undo[i];

    u->key_len = ngx_min(name->len, NGX_HTTP_SNAP_REDIS_KEY_MAX);
    ngx_memcpy(u->key, name->data, u->key_len);
    u->value_len = ngx_min(len, NGX_HTTP_SNAP_REDIS_VALUE_MAX);
    ngx_memcpy(u->value, value, u->value_len);
    u->store = rcf;
    u->state = NGX_HTTP_SNAP_UNDO_WAITING;

    if (rcf->redis && ngx_http_snap_redis_ready(rcf->redis)) {
        (void) ngx_http_snap_store_redis_undo_send(rcf, u);
    }
}


/* a new connection: the writes to take back go first */

static void
ngx_http_snap_store_redis_connected(ngx_http_snap_redis_t *redis,
    void *data)
{
    ngx_http_snap_store_redis_conf_t *rcf = data;

    ngx_uint_t  i;

    rcf->undo_full = 0;

    for (i = 0; i < NGX_HTTP_SNAP_REDIS_UNDO; i++) {
        if (rcf->undo[i].state == NGX_HTTP_SNAP_UNDO_WAITING
            && ngx_http_snap_store_redis_undo_send(rcf, &rcf->undo[i])
               != NGX_OK)
        {
            return;
        }
    }
}


static ngx_int_t
ngx_http_snap_store_redis_undo_send(ngx_http_snap_store_redis_conf_t *rcf,
    ngx_http_snap_redis_undo_t *u)
{
    ngx_http_snap_resp_arg_t  args[5];

    args[0].data = (u_char *) "EVAL";
    args[0].len = 4;
    args[1].data = ngx_http_snap_store_redis_script.data;
    args[1].len = ngx_http_snap_store_redis_script.len;
    args[2].data = (u_char *) "1";
    args[2].len = 1;
    args[3].data = u->key;
    args[3].len = u->key_len;
    args[4].data = u->value;
    args[4].len = u->value_len;

    if (ngx_http_snap_redis_send(rcf->redis, args, 5,
                                 ngx_http_snap_store_redis_undone, u)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    u->state = NGX_HTTP_SNAP_UNDO_SENT;

    return NGX_OK;
}


static void
ngx_http_snap_store_redis_undone(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_undo_t *u = data;

    ngx_http_snap_store_redis_conf_t  *rcf;

    rcf = u->store;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY) {
        /* on the next connection */
        u->state = NGX_HTTP_SNAP_UNDO_WAITING;
        return;
    }

    if (reply->type == NGX_HTTP_SNAP_RESP_INTEGER && reply->integer == 1) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "snap: redis zone \"%V\" took back 1 write of a request "
                      "refused or failed: \"%*s\"", &rcf->zone,
                      u->key_len, u->key);
    }

    u->state = NGX_HTTP_SNAP_UNDO_FREE;
}
