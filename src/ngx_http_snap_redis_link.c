
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * One connection, in the shape nchan's store keeps to: commands pipelined
 * into one buffer and replies matched to them in order, a timeout on the
 * oldest command, every command still pending failed when the connection
 * breaks.  The connection's own first commands (AUTH, SELECT, ROLE, a
 * Sentinel's question) go into a buffer of their own, sent and answered
 * ahead of everything queued before, and the rest is held until the owner
 * releases it (ROLE said master): so a command may be queued while the
 * owner is still finding the server, and waits for it within its timeout,
 * and none goes to a server that is not the one.  A connection that ends
 * before any of the rest went out drops only its own first commands: the
 * rest wait for the next address.
 *
 * A command's handler is never called from inside the call that queued
 * it: a write that fails there fails the connection from a posted event.
 * Memory is taken once per worker: the command slots and the buffers are
 * reused, so a request costs the link no allocation.
 */


#include "ngx_http_snap_redis_link.h"


/* the connection's own first commands: AUTH, SELECT, ROLE, INFO */
#define NGX_HTTP_SNAP_REDIS_FIRST     2048


typedef struct {
    ngx_queue_t                 queue;
    ngx_http_snap_redis_pt      handler;
    void                       *data;
    ngx_msec_t                  deadline;
    ngx_uint_t                  first;       /* the connection's own */
} ngx_http_snap_redis_cmd_t;


struct ngx_http_snap_redis_link_s {
    ngx_http_snap_redis_link_conf_t  *conf;
    ngx_log_t                        *log;
    ngx_peer_connection_t             peer;
    ngx_connection_t                 *c;           /* NULL: none */
    ngx_http_snap_redis_addr_t        addr;
    ngx_buf_t                         first;
    ngx_buf_t                         out;
    ngx_buf_t                         in;
    ngx_queue_t                       pending;
    ngx_queue_t                      *last_first;  /* the last first one */
    ngx_queue_t                       free;
    ngx_uint_t                        npending;
    ngx_event_t                       timer;
    ngx_event_t                       fail;        /* a send's write failed */
    ngx_http_snap_redis_event_e       event;       /* give_up's */
    unsigned                          connecting:1;
    unsigned                          hold:1;      /* only first commands */
    unsigned                          sent:1;      /* some of the rest */
};


static ngx_int_t ngx_http_snap_redis_link_put(ngx_http_snap_redis_link_t *link,
    ngx_buf_t *b, ngx_http_snap_resp_arg_t *args, size_t n);
static ngx_http_snap_redis_cmd_t *ngx_http_snap_redis_link_cmd(
    ngx_http_snap_redis_link_t *link, ngx_http_snap_redis_pt handler,
    void *data);
#if (NGX_SSL)
static void ngx_http_snap_redis_link_tls(ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_link_tls_done(ngx_connection_t *c);
#endif
static ngx_int_t ngx_http_snap_redis_link_refused(
    ngx_http_snap_redis_link_t *link, ngx_connection_t *c);
static void ngx_http_snap_redis_link_connected(
    ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_link_write_handler(ngx_event_t *wev);
static void ngx_http_snap_redis_link_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_snap_redis_link_flush(
    ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_link_timer_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_link_fail_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_link_done(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply);
static void ngx_http_snap_redis_link_arm(ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_link_shut(ngx_http_snap_redis_link_t *link);
static void ngx_http_snap_redis_link_end(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event);


ngx_http_snap_redis_link_t *
ngx_http_snap_redis_link_create(ngx_cycle_t *cycle,
    ngx_http_snap_redis_link_conf_t *conf)
{
    ngx_uint_t                   i;
    ngx_http_snap_redis_cmd_t   *cmds;
    ngx_http_snap_redis_link_t  *link;

    link = ngx_pcalloc(cycle->pool, sizeof(ngx_http_snap_redis_link_t));
    cmds = ngx_palloc(cycle->pool, NGX_HTTP_SNAP_REDIS_PENDING
                                   * sizeof(ngx_http_snap_redis_cmd_t));
    if (link == NULL || cmds == NULL) {
        return NULL;
    }

    link->first.start = ngx_palloc(cycle->pool, NGX_HTTP_SNAP_REDIS_FIRST);
    link->out.start = ngx_palloc(cycle->pool, conf->out);
    link->in.start = ngx_palloc(cycle->pool, conf->in);
    if (link->first.start == NULL || link->out.start == NULL
        || link->in.start == NULL)
    {
        return NULL;
    }

    link->first.pos = link->first.last = link->first.start;
    link->first.end = link->first.start + NGX_HTTP_SNAP_REDIS_FIRST;
    link->out.pos = link->out.last = link->out.start;
    link->out.end = link->out.start + conf->out;
    link->in.pos = link->in.last = link->in.start;
    link->in.end = link->in.start + conf->in;

    link->conf = conf;
    link->log = cycle->log;

    ngx_queue_init(&link->pending);
    ngx_queue_init(&link->free);

    for (i = 0; i < NGX_HTTP_SNAP_REDIS_PENDING; i++) {
        ngx_queue_insert_tail(&link->free, &cmds[i].queue);
    }

    link->timer.handler = ngx_http_snap_redis_link_timer_handler;
    link->timer.data = link;
    link->timer.log = cycle->log;

    link->fail.handler = ngx_http_snap_redis_link_fail_handler;
    link->fail.data = link;
    link->fail.log = cycle->log;

    link->addr.name.data = link->addr.text;

    return link;
}


/*
 * A connection to addr, for the commands queued and those the owner puts
 * first now.  NGX_ERROR when it could not even start: then nothing is
 * called, and the commands queued still wait.
 */

ngx_int_t
ngx_http_snap_redis_link_open(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_addr_t *addr)
{
    ngx_int_t          rc;
    ngx_uint_t         level;
    ngx_connection_t  *c;

    link->addr = *addr;
    link->addr.name.data = link->addr.text;

    ngx_memzero(&link->peer, sizeof(ngx_peer_connection_t));

    link->peer.sockaddr = (struct sockaddr *) &link->addr.sockaddr;
    link->peer.socklen = link->addr.socklen;
    link->peer.name = &link->addr.name;
    link->peer.get = ngx_event_get_peer;
    link->peer.log = link->log;
    link->peer.log_error = NGX_ERROR_INFO;

    rc = ngx_event_connect_peer(&link->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        level = ngx_http_snap_redis_level(link->conf->burst);
        ngx_log_error(level, link->log, ngx_socket_errno,
                      "snap: redis zone \"%V\": could not connect to %V",
                      link->conf->label, &link->addr.name);

        if (link->peer.connection) {
            ngx_close_connection(link->peer.connection);
        }

        return NGX_ERROR;
    }

    c = link->peer.connection;

    /* TLS keeps its state in the connection's pool: one per connection */
    c->pool = ngx_create_pool(1024, link->log);
    if (c->pool == NULL) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    c->data = link;
    c->log = link->log;
    c->read->log = link->log;
    c->write->log = link->log;
    c->read->handler = ngx_http_snap_redis_link_read_handler;
    c->write->handler = ngx_http_snap_redis_link_write_handler;

    link->c = c;
    link->connecting = 1;
    link->hold = 1;
    link->sent = 0;

    /* the connect itself times out like a command */
    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_add_timer(&link->timer, link->conf->timeout);

    if (rc == NGX_OK) {
        /* from an event: the owner queues its first commands meanwhile */
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* a command, behind those queued before it */

ngx_int_t
ngx_http_snap_redis_link_queue(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data)
{
    ngx_http_snap_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&link->free)) {
        ngx_log_error(NGX_LOG_WARN, link->log, 0,
                      "snap: redis zone \"%V\" has %d commands pending, "
                      "refusing more", link->conf->label,
                      NGX_HTTP_SNAP_REDIS_PENDING);
        return NGX_DECLINED;
    }

    if (ngx_http_snap_redis_link_put(link, &link->out, args, n) != NGX_OK) {
        return NGX_DECLINED;
    }

    cmd = ngx_http_snap_redis_link_cmd(link, handler, data);
    ngx_queue_insert_tail(&link->pending, &cmd->queue);

    ngx_http_snap_redis_link_arm(link);

    return NGX_OK;
}


/* one of the connection's own first commands, ahead of all queued */

ngx_int_t
ngx_http_snap_redis_link_first(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_resp_arg_t *args, size_t n, ngx_http_snap_redis_pt handler,
    void *data)
{
    ngx_http_snap_redis_cmd_t  *cmd;

    if (ngx_queue_empty(&link->free)
        || ngx_http_snap_redis_link_put(link, &link->first, args, n)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    cmd = ngx_http_snap_redis_link_cmd(link, handler, data);
    cmd->first = 1;

    ngx_queue_insert_after(link->last_first ? link->last_first
                                            : &link->pending,
                           &cmd->queue);
    link->last_first = &cmd->queue;

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_redis_link_put(ngx_http_snap_redis_link_t *link, ngx_buf_t *b,
    ngx_http_snap_resp_arg_t *args, size_t n)
{
    size_t  len;

    len = ngx_http_snap_resp_command_len(args, n);

    if (b->pos == b->last) {
        b->pos = b->last = b->start;
    }

    if ((size_t) (b->end - b->last) < len) {
        if ((size_t) (b->end - b->last + (b->pos - b->start)) < len) {
            return NGX_DECLINED;
        }

        b->last = ngx_movemem(b->start, b->pos, b->last - b->pos);
        b->pos = b->start;
    }

    b->last += ngx_http_snap_resp_command(b->last, args, n);

    return NGX_OK;
}


static ngx_http_snap_redis_cmd_t *
ngx_http_snap_redis_link_cmd(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_pt handler, void *data)
{
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    q = ngx_queue_head(&link->free);
    ngx_queue_remove(q);

    cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);
    cmd->handler = handler;
    cmd->data = data;
    cmd->deadline = ngx_current_msec + link->conf->timeout;
    cmd->first = 0;

    link->npending++;

    if (link->c) {
        link->c->idle = 0;
    }

    return cmd;
}


/*
 * What is queued goes out, if the connection is up.  A write that fails
 * fails the connection from an event: the caller may not be ready for
 * its handler before this returns.
 */

void
ngx_http_snap_redis_link_send(ngx_http_snap_redis_link_t *link)
{
    if (link->c == NULL || link->connecting || link->c->error) {
        return;
    }

    if (ngx_http_snap_redis_link_flush(link) != NGX_OK) {
        link->c->error = 1;
        link->event = NGX_HTTP_SNAP_REDIS_CLOSED;

        if (!link->fail.posted) {
            ngx_post_event(&link->fail, &ngx_posted_events);
        }
    }
}


/* the owner's checks passed: the commands held go out */

void
ngx_http_snap_redis_link_release(ngx_http_snap_redis_link_t *link)
{
    link->hold = 0;

    ngx_http_snap_redis_link_send(link);
}


static void
ngx_http_snap_redis_link_fail_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_link_t  *link = ev->data;

    ngx_uint_t  level;

    if (link->c) {
        level = ngx_http_snap_redis_level(link->conf->burst);
        ngx_log_error(level, link->log, 0,
                      "snap: redis %V closed the connection (zone \"%V\")",
                      &link->addr.name, link->conf->label);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


/* a request gone before its reply: its slot stays, since replies come in
 * order, but nothing is called for it */

void
ngx_http_snap_redis_link_forget(ngx_http_snap_redis_link_t *link, void *data)
{
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    for (q = ngx_queue_head(&link->pending);
         q != ngx_queue_sentinel(&link->pending);
         q = ngx_queue_next(q))
    {
        cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);

        if (cmd->data == data) {
            cmd->handler = NULL;
        }
    }
}


/*
 * From inside a reply's check or handler: the connection is given up once
 * the reply is consumed, the commands behind it told event.
 */

void
ngx_http_snap_redis_link_give_up(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event)
{
    if (link->c && !link->c->error) {
        link->c->error = 1;
        link->event = event;
    }
}


/* the owner's: the connection, if any, closed, every command failed */

void
ngx_http_snap_redis_link_close(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event)
{
    ngx_http_snap_redis_link_shut(link);

    link->out.pos = link->out.last = link->out.start;
    link->sent = 0;

    while (!ngx_queue_empty(&link->pending)) {
        ngx_http_snap_redis_link_done(link, event, NULL);
    }

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }
}


ngx_uint_t
ngx_http_snap_redis_link_up(ngx_http_snap_redis_link_t *link)
{
    return link->c != NULL && !link->c->error;
}


ngx_str_t *
ngx_http_snap_redis_link_name(ngx_http_snap_redis_link_t *link)
{
    return &link->addr.name;
}


ngx_http_snap_redis_addr_t *
ngx_http_snap_redis_link_addr(ngx_http_snap_redis_link_t *link)
{
    return &link->addr;
}


static void
ngx_http_snap_redis_link_write_handler(ngx_event_t *wev)
{
    ngx_uint_t                   level;
    ngx_connection_t            *c;
    ngx_http_snap_redis_link_t  *link;

    c = wev->data;
    link = c->data;

    if (link->connecting) {
        if (ngx_http_snap_redis_link_refused(link, c) != NGX_OK) {
            return;
        }

#if (NGX_SSL)
        if (link->conf->ssl && c->ssl == NULL) {
            /* still "connecting" until the handshake is done */
            ngx_http_snap_redis_link_tls(link);
            return;
        }
#endif

        ngx_http_snap_redis_link_connected(link);
        return;
    }

    if (ngx_http_snap_redis_link_flush(link) != NGX_OK) {
        level = ngx_http_snap_redis_level(link->conf->burst);
        ngx_log_error(level, link->log, ngx_socket_errno,
                      "snap: redis %V closed the connection (zone \"%V\")",
                      &link->addr.name, link->conf->label);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


/* a connect that failed, seen by either event: "could not connect" */

static ngx_int_t
ngx_http_snap_redis_link_refused(ngx_http_snap_redis_link_t *link,
    ngx_connection_t *c)
{
    int         err;
    socklen_t   len;
    ngx_uint_t  level;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err == 0) {
        return NGX_OK;
    }

    level = ngx_http_snap_redis_level(link->conf->burst);
    ngx_log_error(level, link->log, err,
                  "snap: redis zone \"%V\": could not connect to %V",
                  link->conf->label, &link->addr.name);
    ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);

    return NGX_DECLINED;
}


/* TCP (and TLS) up: what was queued meanwhile goes out */

static void
ngx_http_snap_redis_link_connected(ngx_http_snap_redis_link_t *link)
{
    ngx_uint_t  level;

    link->connecting = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, link->log, 0,
                   "snap redis: connected to %V (zone \"%V\")",
                   &link->addr.name, link->conf->label);

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_http_snap_redis_link_arm(link);

    if (ngx_http_snap_redis_link_flush(link) != NGX_OK) {
        level = ngx_http_snap_redis_level(link->conf->burst);
        ngx_log_error(level, link->log, ngx_socket_errno,
                      "snap: redis %V closed the connection (zone \"%V\")",
                      &link->addr.name, link->conf->label);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


#if (NGX_SSL)

/* nginx's own TLS client, as its upstreams use it */

static void
ngx_http_snap_redis_link_tls(ngx_http_snap_redis_link_t *link)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    c = link->c;

    if (ngx_ssl_create_connection(link->conf->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    if (SSL_set_tlsext_host_name(c->ssl->connection,
                                 (char *) link->conf->ssl_name->data)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ERR, link->log, 0,
                      "SSL_set_tlsext_host_name(\"%V\") failed",
                      link->conf->ssl_name);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_snap_redis_link_tls_done;
        return;
    }

    ngx_http_snap_redis_link_tls_done(c);
}


static void
ngx_http_snap_redis_link_tls_done(ngx_connection_t *c)
{
    long                         rc;
    ngx_uint_t                   level;
    ngx_http_snap_redis_link_t  *link;

    link = c->data;

    if (!c->ssl->handshaked) {
        level = ngx_http_snap_redis_level(link->conf->burst);
        ngx_log_error(level, link->log, 0,
                      "snap: TLS handshake with redis %V failed "
                      "(zone \"%V\")", &link->addr.name, link->conf->label);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    if (link->conf->ssl_verify) {
        rc = SSL_get_verify_result(c->ssl->connection);

        if (rc != X509_V_OK) {
            level = ngx_http_snap_redis_level(link->conf->burst);
            ngx_log_error(level, link->log, 0,
                          "snap: redis %V certificate verify error: "
                          "(%l:%s) (zone \"%V\")", &link->addr.name, rc,
                          X509_verify_cert_error_string(rc),
                          link->conf->label);
            ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
            return;
        }

        if (ngx_ssl_check_host(c, link->conf->ssl_name) != NGX_OK) {
            level = ngx_http_snap_redis_level(link->conf->burst);
            ngx_log_error(level, link->log, 0,
                          "snap: redis %V certificate does not match "
                          "\"%V\" (zone \"%V\")", &link->addr.name,
                          link->conf->ssl_name, link->conf->label);
            ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
            return;
        }
    }

    c->read->handler = ngx_http_snap_redis_link_read_handler;
    c->write->handler = ngx_http_snap_redis_link_write_handler;

    ngx_http_snap_redis_link_connected(link);
}

#endif


/* the connection's own first commands, then the rest */

static ngx_int_t
ngx_http_snap_redis_link_flush(ngx_http_snap_redis_link_t *link)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = link->c;

    for (b = &link->first;
         b;
         b = (b == &link->first && !link->hold) ? &link->out : NULL)
    {
        while (b->pos < b->last) {
            n = c->send(c, b->pos, b->last - b->pos);

            if (n == NGX_AGAIN) {
                goto done;
            }

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            b->pos += n;
            link->sent |= (b == &link->out);
        }
    }

done:

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_snap_redis_link_read_handler(ngx_event_t *rev)
{
    long                          n;
    ssize_t                       got;
    ngx_uint_t                    level;
    ngx_connection_t             *c;
    ngx_http_snap_redis_link_t   *link;
    ngx_http_snap_resp_reply_t    reply;

    c = rev->data;
    link = c->data;

    if (c->close) {
        /* an idle connection of a worker that is shutting down */
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    if (link->connecting) {
        /* a refused connect may be told to the read event first */
        if (ngx_http_snap_redis_link_refused(link, c) == NGX_OK
            && ngx_handle_read_event(rev, 0) != NGX_OK)
        {
            ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
        }

        return;
    }

    for ( ;; ) {

        if (link->in.last == link->in.end) {
            level = ngx_http_snap_redis_level(link->conf->burst);
            ngx_log_error(level, link->log, 0,
                          "snap: redis %V sent a reply over %uz bytes "
                          "(zone \"%V\")", &link->addr.name, link->conf->in,
                          link->conf->label);
            ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

        got = c->recv(c, link->in.last, link->in.end - link->in.last);

        if (got == NGX_AGAIN) {
            break;
        }

        if (got == 0 || got == NGX_ERROR) {
            level = ngx_http_snap_redis_level(link->conf->burst);
            ngx_log_error(level, link->log, 0,
                          "snap: redis %V closed the connection "
                          "(zone \"%V\")", &link->addr.name,
                          link->conf->label);
            ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
            return;
        }

        link->in.last += got;

        for ( ;; ) {
            n = ngx_http_snap_resp_parse(link->in.pos,
                                         link->in.last - link->in.pos,
                                         &reply);
            if (n == 0) {
                break;
            }

            if (n < 0 || ngx_queue_empty(&link->pending)) {
                level = ngx_http_snap_redis_level(link->conf->burst);
                ngx_log_error(level, link->log, 0,
                              "snap: redis %V sent no RESP2 reply the "
                              "commands asked for (zone \"%V\")",
                              &link->addr.name, link->conf->label);
                ngx_http_snap_redis_link_end(link,
                                             NGX_HTTP_SNAP_REDIS_CLOSED);
                return;
            }

            if (link->conf->check && !c->error) {
                link->conf->check(link->conf->data, link, &reply);
            }

            ngx_http_snap_redis_link_done(link, NGX_HTTP_SNAP_REDIS_REPLY,
                                          &reply);

            link->in.pos += n;

            if (c->error) {
                /* a check or a handler gave the connection up */
                ngx_http_snap_redis_link_end(link, link->event);
                return;
            }
        }

        if (link->in.pos == link->in.last) {
            link->in.pos = link->in.last = link->in.start;

        } else if (link->in.pos > link->in.start) {
            link->in.last = ngx_movemem(link->in.start, link->in.pos,
                                        link->in.last - link->in.pos);
            link->in.pos = link->in.start;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
        return;
    }

    ngx_http_snap_redis_link_arm(link);

    if (link->npending == 0 && ngx_exiting) {
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_CLOSED);
    }
}


/* the oldest command is answered: its slot goes back, its handler runs */

static void
ngx_http_snap_redis_link_done(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event, ngx_http_snap_resp_reply_t *reply)
{
    ngx_queue_t                *q;
    ngx_http_snap_redis_cmd_t  *cmd;

    q = ngx_queue_head(&link->pending);

    if (q == link->last_first) {
        link->last_first = NULL;
    }

    ngx_queue_remove(q);
    ngx_queue_insert_tail(&link->free, q);
    link->npending--;

    cmd = ngx_queue_data(q, ngx_http_snap_redis_cmd_t, queue);

    if (cmd->handler) {
        cmd->handler(cmd->data, event, reply);
    }
}


/* the timer follows the oldest command, or the connect */

static void
ngx_http_snap_redis_link_arm(ngx_http_snap_redis_link_t *link)
{
    ngx_msec_int_t              left;
    ngx_http_snap_redis_cmd_t  *cmd;

    if (link->connecting) {
        return;
    }

    if (ngx_queue_empty(&link->pending)) {
        if (link->timer.timer_set) {
            ngx_del_timer(&link->timer);
        }

        if (link->c) {
            /* nginx closes idle connections when the worker quits */
            link->c->idle = 1;
        }

        return;
    }

    cmd = ngx_queue_data(ngx_queue_head(&link->pending),
                         ngx_http_snap_redis_cmd_t, queue);

    left = (ngx_msec_int_t) (cmd->deadline - ngx_current_msec);

    ngx_add_timer(&link->timer, left > 0 ? (ngx_msec_t) left : 1);
}


/*
 * Time is up.  Without a connection, the commands that waited for one in
 * vain fail, never sent.  A connect that did not finish ends the
 * connection like a refused one.  Otherwise the oldest command had no
 * reply: every later one waits behind it, so the connection is given up
 * and all of them fail now.
 */

static void
ngx_http_snap_redis_link_timer_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_link_t  *link = ev->data;

    ngx_uint_t                  level;
    ngx_http_snap_redis_cmd_t  *cmd;

    if (link->c == NULL) {
        while (!ngx_queue_empty(&link->pending)) {
            cmd = ngx_queue_data(ngx_queue_head(&link->pending),
                                 ngx_http_snap_redis_cmd_t, queue);

            if ((ngx_msec_int_t) (cmd->deadline - ngx_current_msec) > 0) {
                break;
            }

            ngx_http_snap_redis_link_done(link, NGX_HTTP_SNAP_REDIS_DOWN,
                                          NULL);
        }

        ngx_http_snap_redis_link_arm(link);
        return;
    }

    level = ngx_http_snap_redis_level(link->conf->burst);

    if (link->connecting) {
        ngx_log_error(level, link->log, NGX_ETIMEDOUT,
                      "snap: redis zone \"%V\": could not connect to %V "
                      "within %M ms", link->conf->label, &link->addr.name,
                      link->conf->timeout);
        ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_DOWN);
        return;
    }

    ngx_log_error(level, link->log, NGX_ETIMEDOUT,
                  "snap: redis %V did not answer within %M ms (zone \"%V\")",
                  &link->addr.name, link->conf->timeout, link->conf->label);

    ngx_http_snap_redis_link_end(link, NGX_HTTP_SNAP_REDIS_TIMEOUT);
}


/* the connection closed, and its buffers emptied of what it held */

static void
ngx_http_snap_redis_link_shut(ngx_http_snap_redis_link_t *link)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = link->c;
    link->c = NULL;
    link->connecting = 0;

    if (link->fail.posted) {
        ngx_delete_posted_event(&link->fail);
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

    link->first.pos = link->first.last = link->first.start;
    link->in.pos = link->in.last = link->in.start;
}


/*
 * The connection ended.  Before any of the rest went out (refused, timed
 * out, TLS, a server that was not the one) only its own first commands
 * fail, with DOWN when it never came up: the rest wait for the next.
 * Once some went out, every command fails with event.  Then the owner
 * decides what follows.
 */

static void
ngx_http_snap_redis_link_end(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event)
{
    ngx_http_snap_redis_link_drop(link, event);

    link->conf->end(link->conf->data, link);
}


/*
 * The owner's: the connection dropped as if it had ended, the commands
 * that never went out kept for the next one.
 */

void
ngx_http_snap_redis_link_drop(ngx_http_snap_redis_link_t *link,
    ngx_http_snap_redis_event_e event)
{
    ngx_uint_t                  up;
    ngx_http_snap_redis_cmd_t  *cmd;

    up = link->sent;

    if (link->connecting) {
        event = NGX_HTTP_SNAP_REDIS_DOWN;
    }

    ngx_http_snap_redis_link_shut(link);

    while (!ngx_queue_empty(&link->pending)) {
        cmd = ngx_queue_data(ngx_queue_head(&link->pending),
                             ngx_http_snap_redis_cmd_t, queue);

        if (!up && !cmd->first) {
            break;
        }

        ngx_http_snap_redis_link_done(link, event, NULL);
    }

    if (up) {
        link->out.pos = link->out.last = link->out.start;
    }

    link->sent = 0;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_http_snap_redis_link_arm(link);
}


/* the first failure of a burst is an error; the rest, until the primary
 * answers again, are details */

ngx_uint_t
ngx_http_snap_redis_level(ngx_http_snap_redis_burst_t *burst)
{
    if (burst->failing) {
        return NGX_LOG_INFO;
    }

    burst->failing = 1;
    burst->since = ngx_current_msec;

    return NGX_LOG_ERR;
}
