
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A Redis client that keeps to the primary, as the Sentinel client spec
 * (redis.io) has it: each ADDRESS in turn (ngx_http_snap_redis_locate.c)
 * is either a Sentinel, asked for the primary's address on a connection
 * of its own, or a candidate; on every connection to a candidate, AUTH
 * and SELECT, then ROLE (a primary says "master") and INFO cluster (Redis
 * Cluster is not supported), then what the client's user sends first.
 * A primary the Sentinels named is theirs only if, once it said master,
 * they still name it: a primary that hung and wakes up still a primary
 * in its own view, after they promoted another, is left; and while it is
 * in use they are asked again every second.
 * After any failure, and whenever a reply says the server is no longer a
 * writable primary (-READONLY, -LOADING, -MASTERDOWN), or its name now
 * resolves elsewhere, the primary is found again: nothing waits for a
 * reload.  Commands queue while it is being found, each within its
 * timeout, so that a new worker or a failover refuses only what waits
 * too long.
 *
 * The first failure of a burst is logged at error, the rest at info; the
 * recovery once, at notice, or at warn when the primary has moved.
 */


#include "ngx_http_snap_redis.h"


#define NGX_HTTP_SNAP_REDIS_OUT          (64 * 1024)
#define NGX_HTTP_SNAP_REDIS_IN           (16 * 1024)
/* a Sentinel's question and answer */
#define NGX_HTTP_SNAP_REDIS_ASK_BUF      4096

/* while the primary is in use, the Sentinels are asked again this often */
#define NGX_HTTP_SNAP_REDIS_WATCH        1000

/*
 * Between rounds of attempts, doubling up to a second, with jitter so
 * that the workers of many nodes do not come back at once: a promoted
 * replica is found within a second of the Sentinels' switch.
 */
#define NGX_HTTP_SNAP_REDIS_BACKOFF      100
#define NGX_HTTP_SNAP_REDIS_BACKOFF_MAX  1000


typedef enum {
    NGX_HTTP_SNAP_REDIS_IDLE = 0,     /* the next round waits its turn */
    NGX_HTTP_SNAP_REDIS_FIND,         /* an address asked of the locate */
    NGX_HTTP_SNAP_REDIS_ASK,          /* a Sentinel, asked */
    NGX_HTTP_SNAP_REDIS_HOST,         /* a Sentinel's answer, resolved */
    NGX_HTTP_SNAP_REDIS_HELLO,        /* a candidate, its ROLE asked */
    NGX_HTTP_SNAP_REDIS_CONFIRM,      /* the Sentinels asked again */
    NGX_HTTP_SNAP_REDIS_READY         /* the primary */
} ngx_http_snap_redis_state_e;


struct ngx_http_snap_redis_s {
    ngx_http_snap_redis_conf_t       *conf;
    ngx_log_t                        *log;
    ngx_http_snap_redis_link_t       *link;       /* to the primary */
    ngx_http_snap_redis_link_t       *ask;        /* to a Sentinel */
    ngx_http_snap_redis_link_conf_t   link_conf;
    ngx_http_snap_redis_link_conf_t   ask_conf;
    ngx_http_snap_redis_locate_t     *locate;
    ngx_http_snap_redis_state_e       state;
    ngx_http_snap_redis_burst_t       burst;
    ngx_event_t                       retry;
    ngx_event_t                       watch;      /* the Sentinels' */
    ngx_msec_t                        backoff;
    ngx_http_snap_redis_connect_pt    on_connect;
    void                             *data;

    ngx_str_t                         host;       /* a Sentinel's answer */
    in_port_t                         port;
    u_char                  host_data[NGX_HTTP_SNAP_REDIS_HOST_MAX];
    ngx_str_t                         primary;    /* the last one in use */
    u_char                  primary_data[NGX_SOCKADDR_STRLEN];

    unsigned                          unknown:1;  /* to a Sentinel */
    unsigned                          cluster:1;  /* said once */
};


static void ngx_http_snap_redis_start(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_found(void *data,
    ngx_http_snap_redis_addr_t *addr);
static void ngx_http_snap_redis_moved(void *data);
static ngx_int_t ngx_http_snap_redis_hello(ngx_http_snap_redis_t *redis);
static ngx_int_t ngx_http_snap_redis_question(ngx_http_snap_redis_t *redis);
static ngx_int_t ngx_http_snap_redis_auth(ngx_http_snap_redis_link_t *link,
    ngx_str_t *user, ngx_str_t *password, ngx_http_snap_redis_pt handler,
    void *data);
static void ngx_http_snap_redis_refused(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_ask_refused(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_auth_failed(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_link_t *link, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply, ngx_uint_t sentinel);
static void ngx_http_snap_redis_role(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_info(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_answer(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_up(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_ready_up(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_ask_again(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_watch_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_check(void *data,
    ngx_http_snap_redis_link_t *link, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_end(void *data,
    ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_ask_end(void *data,
    ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_later(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_retry_handler(ngx_event_t *ev);


ngx_http_snap_redis_t *
ngx_http_snap_redis_create(ngx_cycle_t *cycle,
    ngx_http_snap_redis_conf_t *conf, ngx_http_snap_redis_connect_pt on_connect,
    void *data)
{
    ngx_http_snap_redis_t            *redis;
    ngx_http_snap_redis_link_conf_t  *lc;

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_snap_redis_t));
    if (redis == NULL) {
        return NULL;
    }

    redis->conf = conf;
    redis->log = cycle->log;
    redis->on_connect = on_connect;
    redis->data = data;
    redis->backoff = NGX_HTTP_SNAP_REDIS_BACKOFF;
    redis->host.data = redis->host_data;
    redis->primary.data = redis->primary_data;

    lc = &redis->link_conf;
    lc->label = &conf->label;
    lc->timeout = conf->timeout;
    lc->out = NGX_HTTP_SNAP_REDIS_OUT;
    lc->in = NGX_HTTP_SNAP_REDIS_IN;
#if (NGX_SSL)
    lc->ssl = conf->ssl;
    lc->ssl_verify = conf->ssl_verify;
    lc->ssl_name = &conf->ssl_name;
#endif
    lc->burst = &redis->burst;
    lc->end = ngx_http_snap_redis_end;
    lc->check = ngx_http_snap_redis_check;
    lc->data = redis;

    redis->link = ngx_http_snap_redis_link_create(cycle, lc);
    if (redis->link == NULL) {
        return NULL;
    }

    if (conf->sentinel.len) {
        redis->ask_conf = *lc;
        redis->ask_conf.out = NGX_HTTP_SNAP_REDIS_ASK_BUF;
        redis->ask_conf.in = NGX_HTTP_SNAP_REDIS_ASK_BUF;
        redis->ask_conf.end = ngx_http_snap_redis_ask_end;
        redis->ask_conf.check = NULL;

        redis->ask = ngx_http_snap_redis_link_create(cycle,
                                                     &redis->ask_conf);
        if (redis->ask == NULL) {
            return NULL;
        }
    }

    /* a worker waiting to reconnect may exit all the same */
    redis->retry.handler = ngx_http_snap_redis_retry_handler;
    redis->retry.data = redis;
    redis->retry.log = cycle->log;
    redis->retry.cancelable = 1;

    redis->watch.handler = ngx_http_snap_redis_watch_handler;
    redis->watch.data = redis;
    redis->watch.log = cycle->log;
    redis->watch.cancelable = 1;

    redis->locate = ngx_http_snap_redis_locate_create(cycle, &conf->servers,
                                                      conf->resolver,
                                                      conf->resolver_timeout,
                                                      &conf->label,
                                                      ngx_http_snap_redis_found,
                                                      ngx_http_snap_redis_moved,
                                                      redis);
    if (redis->locate == NULL) {
        return NULL;
    }

    ngx_http_snap_redis_start(redis);

    return redis;
}


/* a round of attempts, from the ADDRESS that answered last */

static void
ngx_http_snap_redis_start(ngx_http_snap_redis_t *redis)
{
    redis->state = NGX_HTTP_SNAP_REDIS_FIND;
    redis->unknown = 0;

    if (redis->watch.timer_set) {
        ngx_del_timer(&redis->watch);
    }

    ngx_http_snap_redis_locate_round(redis->locate);
    ngx_http_snap_redis_locate_next(redis->locate);
}


/*
 * Whether a command can be queued now: on the primary, behind the checks
 * of a new connection, or while the primary is being found.  Between two
 * rounds of attempts, none is: a request is refused at once.  A quitting
 * worker retries no more, but still reads the requests it had accepted:
 * for those it starts again.
 */

ngx_uint_t
ngx_http_snap_redis_ready(ngx_http_snap_redis_t *redis)
{
    if (redis->state == NGX_HTTP_SNAP_REDIS_IDLE
        && (ngx_exiting || ngx_quit) && !ngx_terminate)
    {
        if (redis->retry.timer_set) {
            ngx_del_timer(&redis->retry);
        }

        ngx_http_snap_redis_start(redis);
    }

    return redis->state != NGX_HTTP_SNAP_REDIS_IDLE
           && (redis->state != NGX_HTTP_SNAP_REDIS_READY
               || ngx_http_snap_redis_link_up(redis->link));
}


ngx_int_t
ngx_http_snap_redis_send(ngx_http_snap_redis_t *redis,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data)
{
    if (!ngx_http_snap_redis_ready(redis)) {
        return NGX_DECLINED;
    }

    if (ngx_http_snap_redis_link_queue(redis->link, args, n, handler, data)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_http_snap_redis_link_send(redis->link);

    return NGX_OK;
}


void
ngx_http_snap_redis_forget(ngx_http_snap_redis_t *redis, void *data)
{
    ngx_http_snap_redis_link_forget(redis->link, data);
}


/* the primary in use (1), the last one (0), or none yet (NGX_DECLINED) */

ngx_int_t
ngx_http_snap_redis_primary(ngx_http_snap_redis_t *redis, ngx_str_t *address)
{
    if (redis->primary.len == 0) {
        return NGX_DECLINED;
    }

    *address = redis->primary;

    return redis->state == NGX_HTTP_SNAP_REDIS_READY
           && ngx_http_snap_redis_link_up(redis->link);
}


void
ngx_http_snap_redis_stop(ngx_http_snap_redis_t *redis)
{
    ngx_http_snap_redis_locate_stop(redis->locate);

    if (redis->retry.timer_set) {
        ngx_del_timer(&redis->retry);
    }

    if (redis->watch.timer_set) {
        ngx_del_timer(&redis->watch);
    }
}


/* the locate's answer: an address to try, or none left in the round */

static void
ngx_http_snap_redis_found(void *data, ngx_http_snap_redis_addr_t *addr)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_uint_t  level;

    if (addr == NULL) {
        if (redis->state == NGX_HTTP_SNAP_REDIS_FIND) {
            level = ngx_http_snap_redis_level(&redis->burst);

            if (redis->conf->sentinel.len == 0) {
                ngx_log_error(level, redis->log, 0,
                              "snap: redis zone \"%V\": no address is a "
                              "primary that answers", &redis->conf->label);

            } else if (redis->unknown) {
                ngx_log_error(level, redis->log, 0,
                              "snap: redis zone \"%V\": the Sentinels do not "
                              "know the primary \"%V\"", &redis->conf->label,
                              &redis->conf->sentinel);

            } else {
                ngx_log_error(level, redis->log, 0,
                              "snap: redis zone \"%V\": no Sentinel named "
                              "the primary \"%V\"", &redis->conf->label,
                              &redis->conf->sentinel);
            }
        }

        /* else the Sentinel's answer did not resolve: the locate said */
        ngx_http_snap_redis_later(redis);
        return;
    }

    if (redis->state == NGX_HTTP_SNAP_REDIS_FIND && redis->ask) {
        redis->state = NGX_HTTP_SNAP_REDIS_ASK;

        ngx_http_snap_redis_link_close(redis->ask, NGX_HTTP_SNAP_REDIS_DOWN);

        if (ngx_http_snap_redis_link_open(redis->ask, addr) != NGX_OK) {
            redis->state = NGX_HTTP_SNAP_REDIS_FIND;
            ngx_http_snap_redis_locate_next(redis->locate);
            return;
        }

        if (ngx_http_snap_redis_question(redis) != NGX_OK) {
            ngx_http_snap_redis_link_close(redis->ask,
                                           NGX_HTTP_SNAP_REDIS_DOWN);
            ngx_http_snap_redis_later(redis);
        }

        return;
    }

    redis->state = NGX_HTTP_SNAP_REDIS_HELLO;

    if (ngx_http_snap_redis_link_open(redis->link, addr) != NGX_OK) {
        if (redis->ask) {
            ngx_http_snap_redis_later(redis);
            return;
        }

        redis->state = NGX_HTTP_SNAP_REDIS_FIND;
        ngx_http_snap_redis_locate_next(redis->locate);
        return;
    }

    if (ngx_http_snap_redis_hello(redis) != NGX_OK) {
        ngx_http_snap_redis_later(redis);
    }
}


/*
 * The name of the address in use now resolves elsewhere (a managed
 * Redis's failover or maintenance): the client goes there now.
 */

static void
ngx_http_snap_redis_moved(void *data)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_http_snap_redis_addr_t  *addr;

    if (redis->state != NGX_HTTP_SNAP_REDIS_READY) {
        return;
    }

    addr = ngx_http_snap_redis_link_addr(redis->link);

    ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                  "snap: redis zone \"%V\": %V no longer resolves to %V, "
                  "moving", &redis->conf->label, &addr->server->host,
                  &addr->name);

    ngx_http_snap_redis_link_close(redis->link, NGX_HTTP_SNAP_REDIS_MOVED);
    ngx_http_snap_redis_start(redis);
}


/*
 * A candidate's checks, ahead of any command: AUTH and SELECT, then ROLE
 * and INFO cluster, then what the client's user sends first.  Commands
 * queued meanwhile go out behind them: if ROLE does not say master, they
 * fail with the connection, and no write of theirs was accepted.
 */

static ngx_int_t
ngx_http_snap_redis_hello(ngx_http_snap_redis_t *redis)
{
    ngx_http_snap_redis_conf_t  *conf;
    ngx_http_snap_resp_arg_t     args[2];
    u_char                       db[NGX_INT_T_LEN];

    conf = redis->conf;

    if (ngx_http_snap_redis_auth(redis->link, &conf->user, &conf->password,
                                 ngx_http_snap_redis_refused, redis)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (conf->db) {
        args[0].data = (u_char *) "SELECT";
        args[0].len = 6;
        args[1].data = db;
        args[1].len = ngx_sprintf(db, "%ui", conf->db) - db;

        if (ngx_http_snap_redis_link_first(redis->link, args, 2,
                                           ngx_http_snap_redis_refused,
                                           redis)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    args[0].data = (u_char *) "ROLE";
    args[0].len = 4;

    if (ngx_http_snap_redis_link_first(redis->link, args, 1,
                                       ngx_http_snap_redis_role, redis)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[0].data = (u_char *) "INFO";
    args[0].len = 4;
    args[1].data = (u_char *) "cluster";
    args[1].len = 7;

    if (ngx_http_snap_redis_link_first(redis->link, args, 2,
                                       ngx_http_snap_redis_info, redis)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (redis->on_connect) {
        redis->on_connect(redis, redis->data);
    }

    return NGX_OK;
}


/* a Sentinel: where is the primary of that name */

static ngx_int_t
ngx_http_snap_redis_question(ngx_http_snap_redis_t *redis)
{
    ngx_http_snap_redis_conf_t  *conf;
    ngx_http_snap_resp_arg_t     args[3];

    conf = redis->conf;

    if (ngx_http_snap_redis_auth(redis->ask, &conf->sentinel_user,
                                 &conf->sentinel_password,
                                 ngx_http_snap_redis_ask_refused, redis)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    args[0].data = (u_char *) "SENTINEL";
    args[0].len = 8;
    args[1].data = (u_char *) "get-master-addr-by-name";
    args[1].len = 23;
    args[2].data = conf->sentinel.data;
    args[2].len = conf->sentinel.len;

    return ngx_http_snap_redis_link_first(redis->ask, args, 3,
                                          ngx_http_snap_redis_answer, redis);
}


/* AUTH password, or AUTH user password for an ACL user */

static ngx_int_t
ngx_http_snap_redis_auth(ngx_http_snap_redis_link_t *link, ngx_str_t *user,
    ngx_str_t *password, ngx_http_snap_redis_pt handler, void *data)
{
    size_t                    n;
    ngx_http_snap_resp_arg_t  args[3];

    if (password->len == 0) {
        return NGX_OK;
    }

    n = 1;

    args[0].data = (u_char *) "AUTH";
    args[0].len = 4;

    if (user->len) {
        args[n].data = user->data;
        args[n++].len = user->len;
    }

    args[n].data = password->data;
    args[n++].len = password->len;

    return ngx_http_snap_redis_link_first(link, args, n, handler, data);
}


/* AUTH and SELECT: an error reply leaves the connection of no use */

static void
ngx_http_snap_redis_refused(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_http_snap_redis_auth_failed(redis, redis->link, event, reply, 0);
}


static void
ngx_http_snap_redis_ask_refused(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_http_snap_redis_auth_failed(redis, redis->ask, event, reply, 1);
}


static void
ngx_http_snap_redis_auth_failed(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_link_t *link, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply, ngx_uint_t sentinel)
{
    ngx_uint_t  level;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY
        || reply->type != NGX_HTTP_SNAP_RESP_ERROR)
    {
        return;
    }

    level = ngx_http_snap_redis_level(&redis->burst);
    ngx_log_error(level, redis->log, 0,
                  "snap: redis %s%V refused %s: \"%*s\" (zone \"%V\")",
                  sentinel ? "Sentinel " : "",
                  ngx_http_snap_redis_link_name(link),
                  sentinel ? "AUTH" : "the connection's AUTH or SELECT",
                  ngx_min(reply->len, 128), reply->str, &redis->conf->label);

    /* a Sentinel that refuses is passed over for the next one */
    ngx_http_snap_redis_link_give_up(link, sentinel
                                           ? NGX_HTTP_SNAP_REDIS_DOWN
                                           : NGX_HTTP_SNAP_REDIS_CLOSED);
}


/* ROLE: only a primary is kept */

static void
ngx_http_snap_redis_role(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_str_t                   *name;
    ngx_uint_t                   level;
    ngx_http_snap_resp_reply_t   role;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY
        || !ngx_http_snap_redis_link_up(redis->link)
        || ngx_http_snap_redis_master_ok(reply))
    {
        return;
    }

    name = ngx_http_snap_redis_link_name(redis->link);
    level = ngx_http_snap_redis_level(&redis->burst);

    if (reply->type == NGX_HTTP_SNAP_RESP_ERROR) {
        ngx_log_error(level, redis->log, 0,
                      "snap: redis %V refused ROLE: \"%*s\" (zone \"%V\"): "
                      "the user needs +role", name,
                      ngx_min(reply->len, 128), reply->str,
                      &redis->conf->label);

    } else if (ngx_http_snap_resp_elements(reply, &role, 1) == 1
               && role.type == NGX_HTTP_SNAP_RESP_BULK)
    {
        ngx_log_error(level, redis->log, 0,
                      "snap: redis %V is a %*s, not the primary "
                      "(zone \"%V\")", name, ngx_min(role.len, 32), role.str,
                      &redis->conf->label);

    } else {
        ngx_log_error(level, redis->log, 0,
                      "snap: redis %V answered ROLE with no role "
                      "(zone \"%V\")", name, &redis->conf->label);
    }

    ngx_http_snap_redis_link_give_up(redis->link, NGX_HTTP_SNAP_REDIS_MOVED);
}


/* INFO cluster, the last check: a cluster node is refused, once said */

static void
ngx_http_snap_redis_info(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY
        || !ngx_http_snap_redis_link_up(redis->link))
    {
        return;
    }

    if (reply->type == NGX_HTTP_SNAP_RESP_BULK
        && ngx_http_snap_redis_cluster_ok(reply->str, reply->len))
    {
        if (!redis->cluster) {
            redis->cluster = 1;
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V runs in cluster mode, which "
                          "\"snap_replay_redis\" does not support: every "
                          "request of zone \"%V\" is refused; point it at "
                          "a standalone primary, or at its Sentinels with "
                          "\"sentinel=\"",
                          ngx_http_snap_redis_link_name(redis->link),
                          &redis->conf->label);
        }

        (void) ngx_http_snap_redis_level(&redis->burst);
        ngx_http_snap_redis_link_give_up(redis->link,
                                         NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    /* an error (an ACL without +info) says nothing of cluster mode */
    ngx_http_snap_redis_up(redis);
}


/*
 * A Sentinel's answer.  Asked for a primary: its address, or the next
 * Sentinel.  Asked again: still the one in use, or the primary is found
 * again, the commands that never went out kept for it.
 */

static void
ngx_http_snap_redis_answer(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    size_t                len;
    unsigned              port;
    ngx_int_t             rc;
    ngx_str_t            *name;
    ngx_uint_t            level;
    const unsigned char  *host;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY
        || !ngx_http_snap_redis_link_up(redis->ask))
    {
        return;
    }

    name = ngx_http_snap_redis_link_name(redis->ask);
    rc = ngx_http_snap_redis_sentinel_master(reply, &host, &len, &port);

    /* the connection stays, for the questions that follow */
    ngx_http_snap_redis_link_release(redis->ask);

    if (redis->state == NGX_HTTP_SNAP_REDIS_CONFIRM
        || redis->state == NGX_HTTP_SNAP_REDIS_READY)
    {
        if (rc == NGX_HTTP_SNAP_LIB_OK && len == redis->host.len
            && ngx_strncmp(host, redis->host.data, len) == 0
            && port == redis->port)
        {
            if (redis->state == NGX_HTTP_SNAP_REDIS_CONFIRM) {
                ngx_http_snap_redis_ready_up(redis);
            }

            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                      "snap: redis Sentinel %V no longer names %V:%d as "
                      "the primary \"%V\", finding it again (zone \"%V\")",
                      name, &redis->host, (int) redis->port,
                      &redis->conf->sentinel, &redis->conf->label);

        ngx_http_snap_redis_link_drop(redis->link, NGX_HTTP_SNAP_REDIS_MOVED);
        ngx_http_snap_redis_start(redis);
        return;
    }

    if (redis->state != NGX_HTTP_SNAP_REDIS_ASK) {
        return;
    }

    if (rc == NGX_HTTP_SNAP_LIB_OK) {
        if (len == 0) {
            redis->unknown = 1;
            ngx_log_error(NGX_LOG_INFO, redis->log, 0,
                          "snap: redis Sentinel %V does not know the "
                          "primary \"%V\" (zone \"%V\")", name,
                          &redis->conf->sentinel, &redis->conf->label);
            ngx_http_snap_redis_link_give_up(redis->ask,
                                             NGX_HTTP_SNAP_REDIS_DOWN);
            return;
        }

        ngx_memcpy(redis->host_data, host, len);
        redis->host.len = len;
        redis->port = (in_port_t) port;

        /* the next round asks this Sentinel first */
        ngx_http_snap_redis_locate_keep(redis->locate, 0);

        redis->state = NGX_HTTP_SNAP_REDIS_HOST;
        ngx_http_snap_redis_locate_host(redis->locate, &redis->host,
                                        redis->port);
        return;
    }

    level = ngx_http_snap_redis_level(&redis->burst);

    if (reply->type == NGX_HTTP_SNAP_RESP_ERROR) {
        ngx_log_error(level, redis->log, 0,
                      "snap: redis Sentinel %V answered \"%*s\" for \"%V\" "
                      "(zone \"%V\")", name, ngx_min(reply->len, 128),
                      reply->str, &redis->conf->sentinel,
                      &redis->conf->label);

    } else {
        ngx_log_error(level, redis->log, 0,
                      "snap: redis %V answered no address for \"%V\": is it "
                      "a Sentinel? (zone \"%V\")", name,
                      &redis->conf->sentinel, &redis->conf->label);
    }

    ngx_http_snap_redis_link_give_up(redis->ask, NGX_HTTP_SNAP_REDIS_DOWN);
}


/*
 * The Sentinels asked again, on the connection that named the primary,
 * or on a new one to the same Sentinel.
 */

static void
ngx_http_snap_redis_ask_again(ngx_http_snap_redis_t *redis)
{
    ngx_http_snap_redis_addr_t  *addr;
    ngx_http_snap_resp_arg_t     args[3];

    if (ngx_http_snap_redis_link_up(redis->ask)) {
        args[0].data = (u_char *) "SENTINEL";
        args[0].len = 8;
        args[1].data = (u_char *) "get-master-addr-by-name";
        args[1].len = 23;
        args[2].data = redis->conf->sentinel.data;
        args[2].len = redis->conf->sentinel.len;

        if (ngx_http_snap_redis_link_queue(redis->ask, args, 3,
                                           ngx_http_snap_redis_answer, redis)
            == NGX_OK)
        {
            ngx_http_snap_redis_link_send(redis->ask);
            return;
        }

    } else {
        addr = ngx_http_snap_redis_link_addr(redis->ask);

        ngx_http_snap_redis_link_close(redis->ask, NGX_HTTP_SNAP_REDIS_DOWN);

        if (ngx_http_snap_redis_link_open(redis->ask, addr) == NGX_OK
            && ngx_http_snap_redis_question(redis) == NGX_OK)
        {
            return;
        }

        ngx_http_snap_redis_link_close(redis->ask, NGX_HTTP_SNAP_REDIS_DOWN);
    }

    if (redis->state == NGX_HTTP_SNAP_REDIS_CONFIRM) {
        /* what was not confirmed is not used */
        ngx_http_snap_redis_link_drop(redis->link, NGX_HTTP_SNAP_REDIS_MOVED);
        ngx_http_snap_redis_later(redis);
    }
}


static void
ngx_http_snap_redis_watch_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_t  *redis = ev->data;

    if (redis->state != NGX_HTTP_SNAP_REDIS_READY || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        return;
    }

    ngx_add_timer(&redis->watch, NGX_HTTP_SNAP_REDIS_WATCH);

    ngx_http_snap_redis_ask_again(redis);
}


/*
 * The checks passed.  A primary the Sentinels named is confirmed with
 * them first; otherwise it is in use.
 */

static void
ngx_http_snap_redis_up(ngx_http_snap_redis_t *redis)
{
    if (redis->ask) {
        redis->state = NGX_HTTP_SNAP_REDIS_CONFIRM;
        ngx_http_snap_redis_ask_again(redis);
        return;
    }

    ngx_http_snap_redis_ready_up(redis);
}


/* the primary, in use */

static void
ngx_http_snap_redis_ready_up(ngx_http_snap_redis_t *redis)
{
    ngx_str_t  *addr;

    addr = ngx_http_snap_redis_link_name(redis->link);

    redis->state = NGX_HTTP_SNAP_REDIS_READY;
    redis->backoff = NGX_HTTP_SNAP_REDIS_BACKOFF;

    /* a name's address in use is watched: a managed Redis moves it */
    ngx_http_snap_redis_locate_keep(redis->locate, redis->ask == NULL);

    if (redis->ask && !redis->watch.timer_set) {
        ngx_add_timer(&redis->watch, NGX_HTTP_SNAP_REDIS_WATCH);
    }

    if (redis->primary.len
        && (redis->primary.len != addr->len
            || ngx_strncmp(redis->primary.data, addr->data, addr->len) != 0))
    {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "snap: redis zone \"%V\": the primary is now %V "
                      "(was %V)", &redis->conf->label, addr,
                      &redis->primary);

    } else {
        ngx_log_debug2(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                       "snap redis: zone \"%V\": primary %V",
                       &redis->conf->label, addr);
    }

    redis->primary.len = ngx_min(addr->len, NGX_SOCKADDR_STRLEN);
    ngx_memcpy(redis->primary.data, addr->data, redis->primary.len);

    /* what waited for the primary goes to it */
    ngx_http_snap_redis_link_release(redis->link);
}


/*
 * An error reply to a command: what it says of the server.  A replica, a
 * server loading its data or cut off from its primary is no writable
 * primary: the reply goes to its command, the commands behind it fail,
 * and the primary is found again.  A cluster node is said once.
 */

static void
ngx_http_snap_redis_check(void *data, ngx_http_snap_redis_link_t *link,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    ngx_uint_t  level, kind;

    kind = (reply->type == NGX_HTTP_SNAP_RESP_ERROR)
           ? ngx_http_snap_redis_error(reply->str, reply->len)
           : NGX_HTTP_SNAP_REDIS_ERR_OTHER;

    if (redis->burst.failing && redis->state == NGX_HTTP_SNAP_REDIS_READY
        && (kind == NGX_HTTP_SNAP_REDIS_ERR_OTHER
            || kind == NGX_HTTP_SNAP_REDIS_ERR_NOREPLICAS))
    {
        /* a command's answer, not a check's: the burst is over */
        redis->burst.failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, redis->log, 0,
                      "snap: redis zone \"%V\": the primary %V answers, "
                      "after %M ms of failures", &redis->conf->label,
                      ngx_http_snap_redis_link_name(link),
                      (ngx_msec_t) (ngx_current_msec - redis->burst.since));
    }

    if (reply->type != NGX_HTTP_SNAP_RESP_ERROR) {
        return;
    }

    switch (kind) {

    case NGX_HTTP_SNAP_REDIS_ERR_READONLY:
    case NGX_HTTP_SNAP_REDIS_ERR_LOADING:
    case NGX_HTTP_SNAP_REDIS_ERR_MASTERDOWN:
        level = ngx_http_snap_redis_level(&redis->burst);
        ngx_log_error(level, redis->log, 0,
                      "snap: redis %V answered \"%*s\", finding the "
                      "primary again (zone \"%V\")",
                      ngx_http_snap_redis_link_name(link),
                      ngx_min(reply->len, 128), reply->str,
                      &redis->conf->label);
        ngx_http_snap_redis_link_give_up(link, NGX_HTTP_SNAP_REDIS_MOVED);
        return;

    case NGX_HTTP_SNAP_REDIS_ERR_CLUSTER:
        if (!redis->cluster) {
            redis->cluster = 1;
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V answered \"%*s\": Redis Cluster, "
                          "which \"snap_replay_redis\" does not support: "
                          "every request of zone \"%V\" is refused; point "
                          "it at a standalone primary, or at its Sentinels "
                          "with \"sentinel=\"",
                          ngx_http_snap_redis_link_name(link),
                          ngx_min(reply->len, 128), reply->str,
                          &redis->conf->label);
        }

        (void) ngx_http_snap_redis_level(&redis->burst);
        ngx_http_snap_redis_link_give_up(link, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;

    default:
        return;
    }
}


/*
 * The primary's connection ended.  A candidate that failed its checks or
 * could not be reached gives way to the next, when the ADDRESSes are
 * candidates; otherwise the primary is found again after a backoff.
 */

static void
ngx_http_snap_redis_end(void *data, ngx_http_snap_redis_link_t *link)
{
    ngx_http_snap_redis_t  *redis = data;

    if (redis->state == NGX_HTTP_SNAP_REDIS_HELLO && redis->ask == NULL
        && !ngx_terminate && !ngx_quit)
    {
        redis->state = NGX_HTTP_SNAP_REDIS_FIND;
        ngx_http_snap_redis_locate_next(redis->locate);
        return;
    }

    ngx_http_snap_redis_later(redis);
}


/*
 * A Sentinel's connection ended: while asking for a primary, the next
 * Sentinel; while confirming one, it is not used; while watching, the
 * next watch connects again.
 */

static void
ngx_http_snap_redis_ask_end(void *data, ngx_http_snap_redis_link_t *link)
{
    ngx_http_snap_redis_t  *redis = data;

    switch (redis->state) {

    case NGX_HTTP_SNAP_REDIS_ASK:
        if (ngx_terminate || ngx_quit) {
            ngx_http_snap_redis_later(redis);
            return;
        }

        redis->state = NGX_HTTP_SNAP_REDIS_FIND;
        ngx_http_snap_redis_locate_next(redis->locate);
        return;

    case NGX_HTTP_SNAP_REDIS_CONFIRM:
        ngx_http_snap_redis_link_drop(redis->link, NGX_HTTP_SNAP_REDIS_MOVED);
        ngx_http_snap_redis_later(redis);
        return;

    default:
        return;
    }
}


/*
 * No primary this round: what waits for it fails now, and the next round
 * starts after a backoff that doubles up to a second, with jitter.
 */

static void
ngx_http_snap_redis_later(ngx_http_snap_redis_t *redis)
{
    ngx_msec_t  delay;

    redis->state = NGX_HTTP_SNAP_REDIS_IDLE;

    if (redis->watch.timer_set) {
        ngx_del_timer(&redis->watch);
    }

    ngx_http_snap_redis_link_close(redis->link, NGX_HTTP_SNAP_REDIS_DOWN);

    if (ngx_exiting || ngx_terminate || ngx_quit || redis->retry.timer_set) {
        return;
    }

    delay = redis->backoff + (ngx_random() % (redis->backoff / 2 + 1));

    redis->backoff = ngx_min(redis->backoff * 2,
                             NGX_HTTP_SNAP_REDIS_BACKOFF_MAX);

    ngx_add_timer(&redis->retry, delay);
}


static void
ngx_http_snap_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_t  *redis = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_snap_redis_start(redis);
}
