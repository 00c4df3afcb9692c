
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The Redis replay store, the second backend behind ngx_http_snap_store_t:
 * the node's shared-memory zone first, so that a duplicate on the same
 * node is refused without a round trip, then "SET key value NX EXAT t"
 * as the cross-node first use wins.  The request waits for the reply and
 * is resumed through ngx_http_snap_verify_resume().  When Redis cannot
 * answer, on_error decides: closed refuses the request (500xx00), local
 * keeps the node's zone alone; never is a request let through unchecked.
 */


#include "ngx_http_snap_module.h"
#include "ngx_http_snap_redis.h"

#include <openssl/rand.h>


/* a request's write, from the record to its reply and to the release */
typedef struct {
    ngx_http_request_t          *r;
    ngx_http_snap_redis_conf_t  *conf;
    ngx_str_t                    key;
    u_char                       value[48];
    size_t                       value_len;
    uint64_t                     start;       /* for the metrics */
    unsigned                     waiting:1;
    unsigned                     written:1;
} ngx_http_snap_redis_write_t;


static ngx_int_t ngx_http_snap_replay_redis_tls(ngx_conf_t *cf,
    ngx_http_snap_redis_conf_t *rc, ngx_int_t verify, ngx_str_t *trusted,
    ngx_str_t *name);
static void ngx_http_snap_replay_redis_prepare(
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key);
static ngx_int_t ngx_http_snap_replay_redis_record(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key,
    time_t skew, ngx_uint_t *reason);
static void ngx_http_snap_replay_redis_release(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key);
static void ngx_http_snap_replay_redis_reply(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static ngx_int_t ngx_http_snap_replay_redis_failed(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key,
    const char *why, ngx_uint_t *reason);
static void ngx_http_snap_replay_redis_cleanup(void *data);


const ngx_http_snap_store_t  ngx_http_snap_store_redis = {
    "redis",
    ngx_http_snap_replay_redis_prepare,
    ngx_http_snap_replay_redis_record,
    ngx_http_snap_replay_redis_release
};


/* this worker's writes are told apart by a random nonce and a counter */
static u_char      ngx_http_snap_redis_nonce[8];
static uint64_t    ngx_http_snap_redis_count;


/*
 * snap_replay_redis ZONE ADDRESS [user=NAME] [password_file=FILE] [db=N]
 * [prefix=STR] [timeout=TIME] [on_error=closed|local]
 */

char *
ngx_http_snap_replay_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_int_t                    n, verify;
    ngx_str_t                   *value, s, trusted, name;
    ngx_uint_t                   i, tls;
    ngx_http_snap_redis_conf_t  *rc, *other;

    value = cf->args->elts;

    tls = 0;
    verify = NGX_CONF_UNSET;
    ngx_str_null(&trusted);
    ngx_str_null(&name);

    other = smcf->redis.elts;

    for (i = 0; i < smcf->redis.nelts; i++) {
        if (other[i].zone.len == value[1].len
            && ngx_strncmp(other[i].zone.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone \"%V\" already has a "
                               "\"snap_replay_redis\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    rc = ngx_array_push(&smcf->redis);
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rc, sizeof(ngx_http_snap_redis_conf_t));

    rc->zone = value[1];
    rc->timeout = 200;
    ngx_str_set(&rc->prefix, "snap:");

    rc->shm_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                         &ngx_http_snap_module);
    if (rc->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    /* resolved here, by the master: a worker never waits for DNS */
    rc->url.url = value[2];
    rc->url.default_port = 6379;
    rc->url.no_resolve = 0;

    if (ngx_parse_url(cf->pool, &rc->url) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\"%s%s", &value[2],
                           rc->url.err ? ": " : "",
                           rc->url.err ? rc->url.err : "");
        return NGX_CONF_ERROR;
    }

    if (rc->url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis address \"%V\" resolves to nothing",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rc->user.data = value[i].data + 5;
            rc->user.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            if (ngx_http_snap_load_secret(cf, &s, &rc->password, 1)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rc->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rc->prefix.data = value[i].data + 7;
            rc->prefix.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            rc->timeout = (ngx_msec_t) n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "on_error=closed") == 0) {
            rc->fallback = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "on_error=local") == 0) {
            rc->fallback = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "tls") == 0) {
            tls = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "tls_verify=on") == 0) {
            verify = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "tls_verify=off") == 0) {
            verify = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tls_trusted_certificate=", 24) == 0) {
            trusted.data = value[i].data + 24;
            trusted.len = value[i].len - 24;
            continue;
        }

        if (ngx_strncmp(value[i].data, "tls_name=", 9) == 0) {
            name.data = value[i].data + 9;
            name.len = value[i].len - 9;
            continue;
        }

        goto invalid;
    }

    if (!tls) {
        if (verify != NGX_CONF_UNSET || trusted.len || name.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"tls_verify=\", \"tls_trusted_certificate=\" "
                               "and \"tls_name=\" need \"tls\"");
            return NGX_CONF_ERROR;
        }

    } else if (ngx_http_snap_replay_redis_tls(cf, rc, verify, &trusted,
                                              &name)
               != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (rc->user.len && rc->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"user=\" needs \"password_file=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected user=, "
                       "password_file=, db=, prefix=, timeout=, "
                       "on_error=closed|local, tls, tls_verify=on|off, "
                       "tls_trusted_certificate= or tls_name=", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * tls: nginx's own client context.  The certificate is verified unless
 * tls_verify=off, against tls_trusted_certificate, for tls_name (default:
 * the address's host), which SNI sends too.
 */

static ngx_int_t
ngx_http_snap_replay_redis_tls(ngx_conf_t *cf, ngx_http_snap_redis_conf_t *rc,
    ngx_int_t verify, ngx_str_t *trusted, ngx_str_t *name)
{
#if (NGX_SSL)
    ngx_pool_cleanup_t  *cln;

    if (rc->url.family == AF_UNIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls\" is for a host:port address");
        return NGX_ERROR;
    }

    rc->ssl_verify = (verify == NGX_CONF_UNSET) ? 1 : verify;

    if (rc->ssl_verify && trusted->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tls\" verifies the certificate against "
                           "\"tls_trusted_certificate=\"; give one, or "
                           "\"tls_verify=off\"");
        return NGX_ERROR;
    }

    if (name->len == 0) {
        *name = rc->url.host;
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
        && ngx_ssl_trusted_certificate(cf, rc->ssl, trusted, 2) != NGX_OK)
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


/* a location's "snap_replay ZONE" writes to Redis when the zone has one */

void
ngx_http_snap_replay_redis_resolve(ngx_http_snap_main_conf_t *smcf,
    ngx_http_snap_replay_conf_t *rpc)
{
    ngx_uint_t                   i;
    ngx_http_snap_redis_conf_t  *rc;

    rc = smcf->redis.elts;

    for (i = 0; i < smcf->redis.nelts; i++) {
        if (rc[i].shm_zone == rpc->zone) {
            rpc->store = &ngx_http_snap_store_redis;
            rpc->data = &rc[i];
            return;
        }
    }
}


/* each worker's connections, opened as it starts */

ngx_int_t
ngx_http_snap_replay_redis_init(ngx_cycle_t *cycle,
    ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t                   i;
    ngx_http_snap_redis_conf_t  *rc;

    if (smcf->redis.nelts == 0) {
        return NGX_OK;
    }

    if (RAND_bytes(ngx_http_snap_redis_nonce,
                   sizeof(ngx_http_snap_redis_nonce))
        != 1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "RAND_bytes() failed for snap_replay_redis");
        return NGX_ERROR;
    }

    rc = smcf->redis.elts;

    for (i = 0; i < smcf->redis.nelts; i++) {
        if (ngx_http_snap_redis_create(cycle, &rc[i]) == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_snap_replay_redis_prepare(ngx_http_snap_replay_conf_t *rpc,
    ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_store_shm.prepare(rpc, key);
}


static ngx_int_t
ngx_http_snap_replay_redis_record(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key,
    time_t skew, ngx_uint_t *reason)
{
    u_char                       *p;
    time_t                        expire;
    ngx_int_t                     rc;
    ngx_pool_cleanup_t           *cln;
    ngx_http_snap_redis_conf_t   *conf;
    ngx_http_snap_redis_write_t  *w;
    ngx_http_snap_resp_arg_t      args[6];
    u_char                        exat[NGX_TIME_T_LEN];

    conf = rpc->data;

    /* the node's own zone first: a duplicate here costs no round trip */
    rc = ngx_http_snap_store_shm.record(r, rpc, key, skew, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    if (conf->redis == NULL || !ngx_http_snap_redis_ready(conf->redis)) {
        ngx_http_snap_metrics_store(r, conf, 0, NGX_HTTP_SNAP_STORE_DOWN);
        return ngx_http_snap_replay_redis_failed(r, rpc, key, "is down",
                                                 reason);
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_snap_redis_write_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = cln->data;
    ngx_memzero(w, sizeof(ngx_http_snap_redis_write_t));

    w->r = r;
    w->conf = conf;

    /*
     * prefix, then the partner id with its length, the WIB day and the
     * id: no two (partner, day, id) share a key, whatever bytes they hold
     */
    w->key.len = conf->prefix.len + NGX_SIZE_T_LEN + 1 + key->partner_id.len
                 + 1 + NGX_INT32_LEN + 1 + key->id.len;
    w->key.data = ngx_pnalloc(r->pool, w->key.len);
    if (w->key.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(w->key.data, "%V%uz:%V:%D:%V", &conf->prefix,
                    key->partner_id.len, &key->partner_id, key->day,
                    &key->id);
    w->key.len = p - w->key.data;

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
             + ngx_http_snap_replay_zone_skew(rpc->zone);

    args[0].data = (u_char *) "SET";
    args[0].len = 3;
    args[1].data = w->key.data;
    args[1].len = w->key.len;
    args[2].data = w->value;
    args[2].len = w->value_len;
    args[3].data = (u_char *) "NX";
    args[3].len = 2;
    args[4].data = (u_char *) "EXAT";
    args[4].len = 4;
    args[5].data = exat;
    args[5].len = ngx_sprintf(exat, "%T", expire) - exat;

    w->start = ngx_http_snap_metrics_start(r);

    if (ngx_http_snap_redis_send(conf->redis, args, 6,
                                 ngx_http_snap_replay_redis_reply, w)
        != NGX_OK)
    {
        ngx_http_snap_metrics_store(r, conf, 0, NGX_HTTP_SNAP_STORE_DOWN);
        return ngx_http_snap_replay_redis_failed(r, rpc, key,
                                                 "cannot take the command",
                                                 reason);
    }

    key->data = w;
    w->waiting = 1;

    cln->handler = ngx_http_snap_replay_redis_cleanup;

    /* the store's reference, dropped by ngx_http_snap_verify_resume() */
    r->main->count++;

    return NGX_AGAIN;
}


static void
ngx_http_snap_replay_redis_reply(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_write_t *w = data;

    const char                   *why;
    ngx_int_t                     rc, kind;
    ngx_uint_t                    reason;
    ngx_http_request_t           *r;
    ngx_http_snap_ctx_t          *ctx;

    w->waiting = 0;
    r = w->r;

    reason = NGX_HTTP_SNAP_INTERNAL;

    if (event == NGX_HTTP_SNAP_REDIS_REPLY
        && reply->type == NGX_HTTP_SNAP_RESP_STATUS)
    {
        /* "OK": the first use of the id, on any node */
        ngx_http_snap_metrics_store(r, w->conf, w->start,
                                    NGX_HTTP_SNAP_STORE_OK);
        w->written = 1;
        w->conf->failing = 0;
        rc = NGX_OK;

    } else if (event == NGX_HTTP_SNAP_REDIS_REPLY
               && reply->type == NGX_HTTP_SNAP_RESP_NIL)
    {
        /* another node, or this one before a restart, had it */
        ngx_http_snap_metrics_store(r, w->conf, w->start,
                                    NGX_HTTP_SNAP_STORE_OK);
        w->conf->failing = 0;
        rc = ngx_http_snap_refuse(&reason, NGX_HTTP_SNAP_REPLAY);

    } else {
        switch (event) {
        case NGX_HTTP_SNAP_REDIS_TIMEOUT:
            why = "timed out";
            kind = NGX_HTTP_SNAP_STORE_TIMEOUT;
            break;
        case NGX_HTTP_SNAP_REDIS_REPLY:
            why = "answered an error";
            kind = NGX_HTTP_SNAP_STORE_REPLY;
            break;
        case NGX_HTTP_SNAP_REDIS_DOWN:
            why = "is down";
            kind = NGX_HTTP_SNAP_STORE_DOWN;
            break;
        default:
            why = "closed the connection";
            kind = NGX_HTTP_SNAP_STORE_CLOSED;
            break;
        }

        ngx_http_snap_metrics_store(r, w->conf, w->start, kind);

        ctx = ngx_http_snap_get_ctx(r);

        rc = ngx_http_snap_replay_redis_failed(r, ctx->replay, &ctx->key,
                                               why, &reason);
    }

    ngx_http_snap_verify_resume(r, rc, reason);
}


/*
 * Redis could not answer.  closed: the request is refused with 500xx00
 * (reason replay_store) and the node's zone forgets the id, so a retry
 * passes once Redis is back; local: the node's zone alone decides, with
 * one warn line per burst.
 */

static ngx_int_t
ngx_http_snap_replay_redis_failed(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key,
    const char *why, ngx_uint_t *reason)
{
    ngx_http_snap_redis_conf_t  *conf;

    conf = rpc->data;

    if (conf->fallback) {
        ngx_http_snap_metrics_fallback(r, conf);

        if (!conf->failing) {
            conf->failing = 1;
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "snap: redis %V %s, replays are refused on this "
                          "node only (on_error=local)", &conf->url.url, why);
        }

        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "snap: redis %V %s, request refused (on_error=closed)",
                  &conf->url.url, why);

    ngx_http_snap_store_shm.release(r, rpc, key);

    return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_REPLAY_STORE);
}


/*
 * release_on_failure: the node's zone forgets the id, and Redis too when
 * this request wrote it: deleted only while it still holds this write's
 * value, so that no other node's use is undone.
 */

static void
ngx_http_snap_replay_redis_release(ngx_http_request_t *r,
    ngx_http_snap_replay_conf_t *rpc, ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_redis_conf_t   *conf;
    ngx_http_snap_redis_write_t  *w;
    ngx_http_snap_resp_arg_t      args[5];

    static u_char  script[] =
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('del', KEYS[1]) end return 0";

    ngx_http_snap_store_shm.release(r, rpc, key);

    w = key->data;
    conf = rpc->data;

    if (w == NULL || !w->written || conf->redis == NULL) {
        return;
    }

    args[0].data = (u_char *) "EVAL";
    args[0].len = 4;
    args[1].data = script;
    args[1].len = sizeof(script) - 1;
    args[2].data = (u_char *) "1";
    args[2].len = 1;
    args[3].data = w->key.data;
    args[3].len = w->key.len;
    args[4].data = w->value;
    args[4].len = w->value_len;

    /* nothing waits for it; a Redis that is down keeps the id until it ends */
    (void) ngx_http_snap_redis_send(conf->redis, args, 5, NULL, NULL);
}


/* a request gone before its reply: nothing may be called for it */

static void
ngx_http_snap_replay_redis_cleanup(void *data)
{
    ngx_http_snap_redis_write_t *w = data;

    if (w->waiting && w->conf->redis) {
        ngx_http_snap_redis_forget(w->conf->redis, w);
    }
}
