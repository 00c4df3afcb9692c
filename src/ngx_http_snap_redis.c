
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A RESP2 client on nginx's own connection code, in the shape nchan's
 * store keeps to: one persistent connection per worker and server opened
 * when the worker starts, commands pipelined into one buffer and replies
 * matched to them in order, every command still pending failed when the
 * connection breaks, AUTH and SELECT first on every connection (then what
 * its user queues on connect), reconnection with backoff and jitter.  A
 * command's handler is never called from inside the send that queued it:
 * a write that fails there fails the connection from a posted event.  The
 * address is resolved at configuration time: nothing here blocks.  Memory
 * is taken once per worker: the command slots and both buffers are
 * reused, so a request costs the client no allocation.
 */


#include "ngx_http_snap_redis.h"


#define NGX_HTTP_SNAP_REDIS_OUT       (64 * 1024)
#define NGX_HTTP_SNAP_REDIS_IN        (16 * 1024)
#define NGX_HTTP_SNAP_REDIS_BACKOFF   100
#define NGX_HTTP_SNAP_REDIS_BACKOFF_MAX  5000


typedef struct {
    ngx_queue_t                 queue;
    ngx_http_snap_redis_pt      handler;
    void                       *data;
    ngx_msec_t                  deadline;
} ngx_http_snap_redis_cmd_t;


struct ngx_http_snap_redis_s {
    ngx_http_snap_redis_conf_t     *conf;
    ngx_log_t                      *log;
    ngx_peer_connection_t           peer;
    ngx_connection_t               *c;           /* NULL: down */
    ngx_buf_t                       out;
    ngx_buf_t                       in;
    ngx_queue_t                     pending;
    ngx_queue_t                     free;
    ngx_uint_t                      npending;
    ngx_event_t                     timer;       /* the oldest command's */
    ngx_event_t                     retry;
    ngx_event_t                     fail;        /* a send's write failed */
    ngx_msec_t                      backoff;
    ngx_http_snap_redis_connect_pt  on_connect;
    void                           *data;
    unsigned                        connecting:1;
};


static void ngx_http_snap_redis_connect(ngx_http_snap_redis_t *redis);
static ngx_int_t ngx_http_snap_redis_queue(ngx_http_snap_redis_t *redis,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data);
static void ngx_http_snap_redis_hello(void *data,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
#if (NGX_SSL)
static void ngx_http_snap_redis_tls(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_tls_done(ngx_connection_t *c);
#endif
static void ngx_http_snap_redis_connected(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_write_handler(ngx_event_t *wev);
static void ngx_http_snap_redis_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_snap_redis_flush(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_fail_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_done(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_arm(ngx_http_snap_redis_t *redis);
static void ngx_http_snap_redis_close(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_event_e event);


ngx_http_snap_redis_t *
ngx_http_snap_redis_create(ngx_cycle_t *cycle,
    ngx_http_snap_redis_conf_t *conf, ngx_http_snap_redis_connect_pt on_connect,
    void *data)
{
    ngx_uint_t                  i;
    ngx_http_snap_redis_t      *redis;
    ngx_http_snap_redis_cmd_t  *cmds;

    redis = ngx_pcalloc(cycle->pool, sizeof(ngx_http_snap_redis_t));
    cmds = ngx_palloc(cycle->pool, NGX_HTTP_SNAP_REDIS_PENDING
                                   * sizeof(ngx_http_snap_redis_cmd_t));
    if (redis == NULL || cmds == NULL) {
        return NULL;
    }

    redis->out.start = ngx_palloc(cycle->pool, NGX_HTTP_SNAP_REDIS_OUT);
    redis->in.start = ngx_palloc(cycle->pool, NGX_HTTP_SNAP_REDIS_IN);
    if (redis->out.start == NULL || redis->in.start == NULL) {
        return NULL;
    }

    redis->out.pos = redis->out.last = redis->out.start;
    redis->out.end = redis->out.start + NGX_HTTP_SNAP_REDIS_OUT;
    redis->in.pos = redis->in.last = redis->in.start;
    redis->in.end = redis->in.start + NGX_HTTP_SNAP_REDIS_IN;

    redis->conf = conf;
    redis->log = cycle->log;

    ngx_queue_init(&redis->pending);
    ngx_queue_init(&redis->free);

    for (i = 0; i < NGX_HTTP_SNAP_REDIS_PENDING; i++) {
        ngx_queue_insert_tail(&redis->free, &cmds[i].queue);
    }

    redis->timer.handler = ngx_http_snap_redis_timer_handler;
    redis->timer.data = redis;
    redis->timer.log = cycle->log;

    /* a worker waiting to reconnect may exit all the same */
    redis->retry.handler = ngx_http_snap_redis_retry_handler;
    redis->retry.data = redis;
    redis->retry.log = cycle->log;
    redis->retry.cancelable = 1;

    redis->fail.handler = ngx_http_snap_redis_fail_handler;
    redis->fail.data = redis;
    redis->fail.log = cycle->log;

    redis->backoff = NGX_HTTP_SNAP_REDIS_BACKOFF;
    redis->on_connect = on_connect;
    redis->data = data;

    ngx_http_snap_redis_connect(redis);

    return redis;
}


/*
 * Whether a command can be queued now.  A quitting worker closes its idle
 * connection and retries no more, but still reads the requests it had
 * accepted: for those it connects again here.
 */

ngx_uint_t
ngx_http_snap_redis_ready(ngx_http_snap_redis_t *redis)
{
    if (redis->c == NULL && (ngx_exiting || ngx_quit)) {
        ngx_http_snap_redis_connect(redis);
    }

    return redis->c != NULL && !redis->c->error;
}


static void
ngx_http_snap_redis_connect(ngx_http_snap_redis_t *redis)
{
    size_t                       n;
    ngx_int_t                    rc;
    ngx_str_t                    db;
    ngx_connection_t            *c;
    ngx_http_snap_redis_conf_t  *conf;
    ngx_http_snap_resp_arg_t     args[3];
    u_char                       buf[NGX_INT_T_LEN];

    conf = redis->conf;

    ngx_memzero(&redis->peer, sizeof(ngx_peer_connection_t));

    redis->peer.sockaddr = conf->url.addrs[0].sockaddr;
    redis->peer.socklen = conf->url.addrs[0].socklen;
    redis->peer.name = &conf->url.addrs[0].name;
    redis->peer.get = ngx_event_get_peer;
    redis->peer.log = redis->log;
    redis->peer.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&redis->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (redis->peer.connection) {
            ngx_close_connection(redis->peer.connection);
        }

        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    c = redis->peer.connection;

    /* TLS keeps its state in the connection's pool: one per connection */
    c->pool = ngx_create_pool(1024, redis->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    c->data = redis;
    c->log = redis->log;
    c->read->log = redis->log;
    c->write->log = redis->log;
    c->read->handler = ngx_http_snap_redis_read_handler;
    c->write->handler = ngx_http_snap_redis_write_handler;

    redis->c = c;
    redis->connecting = (rc == NGX_AGAIN);

    /* on every connection, ahead of any command */
    if (conf->password.len) {
        /* AUTH password, or AUTH user password for an ACL user */
        n = 1;

        args[0].data = (u_char *) "AUTH";
        args[0].len = 4;

        if (conf->user.len) {
            args[n].data = conf->user.data;
            args[n++].len = conf->user.len;
        }

        args[n].data = conf->password.data;
        args[n++].len = conf->password.len;

        if (ngx_http_snap_redis_queue(redis, args, n,
                                      ngx_http_snap_redis_hello, redis)
            != NGX_OK)
        {
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_DOWN);
            return;
        }
    }

    if (conf->db) {
        db.data = buf;
        db.len = ngx_sprintf(buf, "%ui", conf->db) - buf;

        args[0].data = (u_char *) "SELECT";
        args[0].len = 6;
        args[1].data = db.data;
        args[1].len = db.len;

        if (ngx_http_snap_redis_queue(redis, args, 2,
                                      ngx_http_snap_redis_hello, redis)
            != NGX_OK)
        {
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_DOWN);
            return;
        }
    }

    /* what the client's user sends ahead of anything else */
    if (redis->on_connect) {
        redis->on_connect(redis, redis->data);
    }

    /* the connect itself times out like a command */
    ngx_http_snap_redis_arm(redis);

    if (rc == NGX_OK) {
        redis->connecting = 1;
        ngx_http_snap_redis_write_handler(c->write);
    }
}


/* AUTH and SELECT: an error reply leaves the connection of no use */

static void
ngx_http_snap_redis_hello(void *data, ngx_http_snap_redis_event_e event,
    ngx_http_snap_resp_reply_t *reply)
{
    ngx_http_snap_redis_t  *redis = data;

    if (event != NGX_HTTP_SNAP_REDIS_REPLY
        || reply->type != NGX_HTTP_SNAP_RESP_ERROR)
    {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                  "snap: redis %V refused the connection's AUTH or "
                  "SELECT: \"%*s\"", &redis->conf->url.url,
                  ngx_min(reply->len, 128), reply->str);

    /* closed from the read loop, once this reply is consumed */
    redis->c->error = 1;
}


ngx_int_t
ngx_http_snap_redis_send(ngx_http_snap_redis_t *redis,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data)
{
    if (!ngx_http_snap_redis_ready(redis)) {
        return NGX_DECLINED;
    }

    if (ngx_http_snap_redis_queue(redis, args, n, handler, data) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (!redis->connecting && ngx_http_snap_redis_flush(redis) != NGX_OK) {
        /*
         * the write failed (the peer reset the connection, say): the
         * command fails with every other one, from an event, as the caller
         * may not be ready for its handler before this returns
         */
        redis->c->error = 1;

        if (!redis->fail.posted) {
            ngx_post_event(&redis->fail, &ngx_posted_events);
        }
    }

    return NGX_OK;
}


static void
ngx_http_snap_redis_fail_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_t  *redis = ev->data;

    if (redis->c) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "snap: redis %V closed the connection",
                      &redis->conf->url.url);
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


static ngx_int_t
ngx_http_snap_redis_queue(ngx_http_snap_redis_t *redis,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data)
{
    size_t                      len;
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&redis->free)) {
        ngx_log_error(NGX_LOG_WARN, redis->log, 0,
                      "snap: redis %V has %d commands pending, refusing "
                      "more", &redis->conf->url.url,
                      NGX_HTTP_SNAP_REDIS_PENDING);
        return NGX_DECLINED;
    }

    len = ngx_http_snap_resp_command_len(args, n);

    if (redis->out.pos == redis->out.last) {
        redis->out.pos = redis->out.last = redis->out.start;
    }

    if ((size_t) (redis->out.end - redis->out.last) < len) {
        if ((size_t) (redis->out.end - redis->out.last
                      + (redis->out.pos - redis->out.start))
            < len)
        {
            return NGX_DECLINED;
        }

        redis->out.last = ngx_movemem(redis->out.start, redis->out.pos,
                                      redis->out.last - redis->out.pos);
        redis->out.pos = redis->out.start;
    }

    redis->out.last += ngx_http_snap_resp_command(redis->out.last, args, n);

    q = ngx_queue_head(&redis->free);
    ngx_queue_remove(q);

    cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);
    cmd->handler = handler;
    cmd->data = data;
    cmd->deadline = ngx_current_msec + redis->conf->timeout;

    ngx_queue_insert_tail(&redis->pending, q);
    redis->npending++;

    redis->c->idle = 0;

    if (!redis->timer.timer_set) {
        ngx_add_timer(&redis->timer, redis->conf->timeout);
    }

    return NGX_OK;
}


/* a request gone before its reply: its slot stays, since replies come in
 * order, but nothing is called for it */

void
ngx_http_snap_redis_forget(ngx_http_snap_redis_t *redis, void *data)
{
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    for (q = ngx_queue_head(&redis->pending);
         q != ngx_queue_sentinel(&redis->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);

        if (cmd->data == data) {
            cmd->handler = NULL;
        }
    }
}


static void
ngx_http_snap_redis_write_handler(ngx_event_t *wev)
{
    int                     err;
    socklen_t               len;
    ngx_connection_t       *c;
    ngx_http_snap_redis_t  *redis;

    c = wev->data;
    redis = c->data;

    if (redis->connecting) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }

        if (err) {
            ngx_log_error(NGX_LOG_ERR, redis->log, err,
                          "snap: connect() to redis %V failed",
                          &redis->conf->url.url);
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

#if (NGX_SSL)
        if (redis->conf->ssl && c->ssl == NULL) {
            /* still "connecting" until the handshake is done */
            ngx_http_snap_redis_tls(redis);
            return;
        }
#endif

        ngx_http_snap_redis_connected(redis);
        return;
    }

    if (ngx_http_snap_redis_flush(redis) != NGX_OK) {
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


/* TCP (and TLS) up: what was queued meanwhile goes out */

static void
ngx_http_snap_redis_connected(ngx_http_snap_redis_t *redis)
{
    redis->connecting = 0;
    redis->backoff = NGX_HTTP_SNAP_REDIS_BACKOFF;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, redis->log, 0,
                   "snap redis: connected to %V", &redis->conf->url.url);

    ngx_http_snap_redis_arm(redis);

    if (ngx_http_snap_redis_flush(redis) != NGX_OK) {
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


#if (NGX_SSL)

/* nginx's own TLS client, as its upstreams use it */

static void
ngx_http_snap_redis_tls(ngx_http_snap_redis_t *redis)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = redis->c;

    if (ngx_ssl_create_connection(redis->conf->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    if (SSL_set_tlsext_host_name(c->ssl->connection,
                                 (char *) redis->conf->ssl_name.data)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ERR, redis->log, 0,
                      "SSL_set_tlsext_host_name(\"%V\") failed",
                      &redis->conf->ssl_name);
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_snap_redis_tls_done;
        return;
    }

    ngx_http_snap_redis_tls_done(c);
}


static void
ngx_http_snap_redis_tls_done(ngx_connection_t *c)
{
    long                    rc;
    ngx_http_snap_redis_t  *redis;

    redis = c->data;

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                      "snap: TLS handshake with redis %V failed",
                      &redis->conf->url.url);
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    if (redis->conf->ssl_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V certificate verify error: (%l:%s)",
                          &redis->conf->url.url, rc,
                          X509_verify_cert_error_string(rc));
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

        if (ngx_ssl_check_host(c, &redis->conf->ssl_name) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V certificate does not match "
                          "\"%V\"", &redis->conf->url.url,
                          &redis->conf->ssl_name);
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }
    }

    c->read->handler = ngx_http_snap_redis_read_handler;
    c->write->handler = ngx_http_snap_redis_write_handler;

    ngx_http_snap_redis_connected(redis);
}

#endif


static ngx_int_t
ngx_http_snap_redis_flush(ngx_http_snap_redis_t *redis)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = redis->c;

    while (redis->out.pos < redis->out.last) {
        n = c->send(c, redis->out.pos, redis->out.last - redis->out.pos);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        redis->out.pos += n;
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_snap_redis_read_handler(ngx_event_t *rev)
{
    long                         n;
    ssize_t                      got;
    ngx_connection_t            *c;
    ngx_http_snap_redis_t       *redis;
    ngx_http_snap_resp_reply_t   reply;

    c = rev->data;
    redis = c->data;

    if (c->close) {
        /* an idle connection of a worker that is shutting down */
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    for ( ;; ) {

        if (redis->in.last == redis->in.end) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V sent a reply over %d bytes",
                          &redis->conf->url.url, NGX_HTTP_SNAP_REDIS_IN);
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

        got = c->recv(c, redis->in.last, redis->in.end - redis->in.last);

        if (got == NGX_AGAIN) {
            break;
        }

        if (got == 0 || got == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                          "snap: redis %V closed the connection",
                          &redis->conf->url.url);
            ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

        redis->in.last += got;

        for ( ;; ) {
            n = ngx_http_snap_resp_parse(redis->in.pos,
                                         redis->in.last - redis->in.pos,
                                         &reply);
            if (n == 0) {
                break;
            }

            if (n < 0 || ngx_queue_empty(&redis->pending)) {
                ngx_log_error(NGX_LOG_ERR, redis->log, 0,
                              "snap: redis %V sent no RESP2 reply the "
                              "commands asked for", &redis->conf->url.url);
                ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
                return;
            }

            ngx_http_snap_redis_done(redis, NGX_HTTP_SNAP_REDIS_REPLY, &reply);

            redis->in.pos += n;

            if (redis->c == NULL) {
                /* a handler closed it */
                return;
            }

            if (c->error) {
                ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
                return;
            }
        }

        if (redis->in.pos == redis->in.last) {
            redis->in.pos = redis->in.last = redis->in.start;

        } else if (redis->in.pos > redis->in.start) {
            redis->in.last = ngx_movemem(redis->in.start, redis->in.pos,
                                         redis->in.last - redis->in.pos);
            redis->in.pos = redis->in.start;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    ngx_http_snap_redis_arm(redis);

    if (redis->npending == 0 && ngx_exiting) {
        ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


/* the oldest command is answered: its slot goes back, its handler runs */

static void
ngx_http_snap_redis_done(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    q = ngx_queue_head(&redis->pending);
    ngx_queue_remove(q);
    ngx_queue_insert_tail(&redis->free, q);
    redis->npending--;

    cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);

    if (cmd->handler) {
        cmd->handler(cmd->data, event, reply);
    }
}


/* the timer follows the oldest command; an idle connection has none */

static void
ngx_http_snap_redis_arm(ngx_http_snap_redis_t *redis)
{
    ngx_msec_int_t              left;
    ngx_http_snap_redis_cmd_t  *cmd;

    if (redis->connecting) {
        if (!redis->timer.timer_set) {
            ngx_add_timer(&redis->timer, redis->conf->timeout);
        }

        return;
    }

    if (ngx_queue_empty(&redis->pending)) {
        if (redis->timer.timer_set) {
            ngx_del_timer(&redis->timer);
        }

        if (redis->c) {
            /* nginx closes idle connections when the worker quits */
            redis->c->idle = 1;
        }

        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&redis->pending),
                         ngx_http_snap_redis_cmd_t, queue);

    left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    ngx_add_timer(&redis->timer, left > 0 ? (ngx_msec_t) left : 1);
}


/*
 * The oldest command had no reply in time: every later one waits behind
 * it, so the connection is given up and all of them fail now.
 */

static void
ngx_http_snap_redis_timer_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_t  *redis = ev->data;

    ngx_log_error(NGX_LOG_ERR, redis->log, NGX_ETIMEDOUT,
                  "snap: redis %V did not answer within %M ms",
                  &redis->conf->url.url, redis->conf->timeout);

    ngx_http_snap_redis_close(redis, NGX_HTTP_SNAP_REDIS_TIMEOUT);
}


static void
ngx_http_snap_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_t  *redis = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_snap_redis_connect(redis);
}


/*
 * Down: every pending command fails with event, in order, and a new
 * connection is tried after a backoff that doubles up to 5 s, with
 * jitter so that the workers of many nodes do not come back at once.
 */

static void
ngx_http_snap_redis_close(ngx_http_snap_redis_t *redis,
    ngx_http_snap_redis_event_e event)
{
    ngx_pool_t                 *pool;
    ngx_msec_t                  delay;
    ngx_connection_t           *c;

    c = redis->c;
    redis->c = NULL;
    redis->connecting = 0;

    if (redis->fail.posted) {
        ngx_delete_posted_event(&redis->fail);
    }

    if (c) {
#if (NGX_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        pool = c->pool;
        ngx_close_connection(c);
        ngx_destroy_pool(pool);
    }

    if (redis->timer.timer_set) {
        ngx_del_timer(&redis->timer);
    }

    redis->out.pos = redis->out.last = redis->out.start;
    redis->in.pos = redis->in.last = redis->in.start;

    while (!ngx_queue_empty(&redis->pending)) {
        ngx_http_snap_redis_done(redis, event, NULL);
    }

    if (ngx_exiting || ngx_terminate || ngx_quit || redis->retry.timer_set) {
        return;
    }

    delay = redis->backoff + (ngx_random() % (redis->backoff / 2 + 1));

    redis->backoff = ngx_min(redis->backoff * 2,
                             NGX_HTTP_SNAP_REDIS_BACKOFF_MAX);

    ngx_add_timer(&redis->retry, delay);
}
