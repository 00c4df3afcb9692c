
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The addresses a Redis client tries, in the shape nginx's upstream zone
 * re-resolves its servers (ngx_http_upstream_zone_module.c since 1.27.3):
 * a host name is resolved through the http-level resolver on every round
 * of attempts and, while its address is in use, again when the answer's
 * validity (its TTL, or the resolver's valid=) ends; an answer without
 * the address in use tells the client it has moved.  Every address a name
 * yields is tried, every ADDRESS in turn, starting with the last one that
 * answered.  The resolver may call back from inside ngx_resolve_name()
 * and a caller may not be ready for its answer yet: every answer goes
 * through one posted event.
 */


#include "ngx_http_snap_redis_locate.h"


/* while its address is in use, a name that failed to resolve is tried
 * again this often; a name's answer is trusted this long at least */
#define NGX_HTTP_SNAP_LOCATE_RETRY   5
#define NGX_HTTP_SNAP_LOCATE_MIN     1


typedef enum {
    NGX_HTTP_SNAP_LOCATE_IDLE = 0,
    NGX_HTTP_SNAP_LOCATE_STEP,        /* the next address of the round */
    NGX_HTTP_SNAP_LOCATE_FOUND,       /* the answer, handed on */
    NGX_HTTP_SNAP_LOCATE_MOVED
} ngx_http_snap_locate_action_e;


typedef enum {
    NGX_HTTP_SNAP_RESOLVE_ROUND = 0,  /* a target, for the round */
    NGX_HTTP_SNAP_RESOLVE_HOST,       /* a Sentinel's answer */
    NGX_HTTP_SNAP_RESOLVE_REFRESH     /* the target in use */
} ngx_http_snap_locate_why_e;


typedef struct {
    ngx_url_t                  *url;
    ngx_uint_t                  naddrs;
    ngx_sockaddr_t              sockaddr[NGX_HTTP_SNAP_REDIS_ADDRS];
    socklen_t                   socklen[NGX_HTTP_SNAP_REDIS_ADDRS];
    time_t                      valid;       /* the answer's end */
    unsigned                    resolve:1;
    unsigned                    failing:1;   /* for one log line a burst */
} ngx_http_snap_locate_target_t;


struct ngx_http_snap_redis_locate_s {
    ngx_http_snap_locate_target_t  *targets;
    ngx_uint_t                      ntargets;
    ngx_resolver_t                 *resolver;
    ngx_msec_t                      resolver_timeout;
    ngx_str_t                       label;
    ngx_log_t                      *log;

    /* the round: which target, which of its addresses, how many tried */
    ngx_uint_t                      first;
    ngx_uint_t                      target;
    ngx_uint_t                      addr;
    ngx_uint_t                      tried;
    unsigned                        resolved:1;  /* the target, this round */

    ngx_resolver_ctx_t             *ctx;
    ngx_http_snap_locate_why_e      why;
    ngx_url_t                       host;        /* a Sentinel's answer */
    u_char                          host_data[NGX_MAXHOSTNAMELEN];

    /* the address in use, watched while its name's answer is valid */
    ngx_uint_t                      kept;
    ngx_sockaddr_t                  kept_sockaddr;
    socklen_t                       kept_socklen;
    ngx_event_t                     refresh;

    ngx_http_snap_locate_action_e   action;
    ngx_http_snap_redis_addr_t      result;
    ngx_http_snap_redis_addr_t     *answer;
    ngx_event_t                     event;

    ngx_http_snap_redis_found_pt    found;
    ngx_http_snap_redis_moved_pt    moved;
    void                           *data;
};


static void ngx_http_snap_redis_locate_post(ngx_http_snap_redis_locate_t *loc,
    ngx_http_snap_locate_action_e action);
static void ngx_http_snap_redis_locate_handler(ngx_event_t *ev);
static void ngx_http_snap_redis_locate_step(ngx_http_snap_redis_locate_t *loc);
static ngx_int_t ngx_http_snap_redis_locate_literal(ngx_str_t *host,
    ngx_sockaddr_t *sa, socklen_t *len);
static void ngx_http_snap_redis_locate_answer(
    ngx_http_snap_redis_locate_t *loc, struct sockaddr *sa, socklen_t len,
    in_port_t port, ngx_url_t *server);
static ngx_int_t ngx_http_snap_redis_locate_resolve(
    ngx_http_snap_redis_locate_t *loc, ngx_str_t *name,
    ngx_http_snap_locate_why_e why);
static void ngx_http_snap_redis_locate_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_snap_redis_locate_refresh(ngx_event_t *ev);
static void ngx_http_snap_redis_locate_watch(
    ngx_http_snap_redis_locate_t *loc);


ngx_http_snap_redis_locate_t *
ngx_http_snap_redis_locate_create(ngx_cycle_t *cycle, ngx_array_t *servers,
    ngx_resolver_t *resolver, ngx_msec_t resolver_timeout, ngx_str_t *label,
    ngx_http_snap_redis_found_pt found, ngx_http_snap_redis_moved_pt moved,
    void *data)
{
    ngx_uint_t                      i, k;
    ngx_http_snap_locate_target_t  *t;
    ngx_http_snap_redis_server_t   *s;
    ngx_http_snap_redis_locate_t   *loc;

    loc = ngx_pcalloc(cycle->pool, sizeof(ngx_http_snap_redis_locate_t));
    if (loc == NULL) {
        return NULL;
    }

    loc->targets = ngx_pcalloc(cycle->pool, servers->nelts
                                    * sizeof(ngx_http_snap_locate_target_t));
    if (loc->targets == NULL) {
        return NULL;
    }

    s = servers->elts;

    for (i = 0; i < servers->nelts; i++) {
        t = &loc->targets[i];
        t->url = &s[i].url;
        t->resolve = s[i].resolve;

        /* known at configuration time: an address, or a name resolved
         * once for want of a resolver */
        for (k = 0; !t->resolve && k < s[i].url.naddrs; k++) {
            if (k == NGX_HTTP_SNAP_REDIS_ADDRS) {
                break;
            }

            ngx_memcpy(&t->sockaddr[k], s[i].url.addrs[k].sockaddr,
                       s[i].url.addrs[k].socklen);
            t->socklen[k] = s[i].url.addrs[k].socklen;
            t->naddrs++;
        }
    }

    loc->ntargets = servers->nelts;
    loc->resolver = resolver;
    loc->resolver_timeout = resolver_timeout;
    loc->label = *label;
    loc->log = cycle->log;
    loc->found = found;
    loc->moved = moved;
    loc->data = data;

    loc->event.handler = ngx_http_snap_redis_locate_handler;
    loc->event.data = loc;
    loc->event.log = cycle->log;

    /* a worker waiting to look a name up again may exit all the same */
    loc->refresh.handler = ngx_http_snap_redis_locate_refresh;
    loc->refresh.data = loc;
    loc->refresh.log = cycle->log;
    loc->refresh.cancelable = 1;

    return loc;
}


/*
 * A new round, from the ADDRESS that answered last: every name is looked
 * up again as the round comes to it, and the address in use, if any, is
 * no longer watched.
 */

void
ngx_http_snap_redis_locate_round(ngx_http_snap_redis_locate_t *loc)
{
    if (loc->refresh.timer_set) {
        ngx_del_timer(&loc->refresh);
    }

    if (loc->ctx) {
        ngx_resolve_name_done(loc->ctx);
        loc->ctx = NULL;
    }

    if (loc->event.posted) {
        ngx_delete_posted_event(&loc->event);
    }

    loc->target = loc->first;
    loc->addr = 0;
    loc->tried = 0;
    loc->resolved = 0;
}


/* the round's next address, to found() from a posted event */

void
ngx_http_snap_redis_locate_next(ngx_http_snap_redis_locate_t *loc)
{
    ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_STEP);
}


static void
ngx_http_snap_redis_locate_step(ngx_http_snap_redis_locate_t *loc)
{
    ngx_http_snap_locate_target_t  *t;

    while (loc->tried < loc->ntargets) {
        t = &loc->targets[loc->target];

        if (t->resolve && !loc->resolved && loc->resolver) {
            if (ngx_http_snap_redis_locate_resolve(loc, &t->url->host,
                                                   NGX_HTTP_SNAP_RESOLVE_ROUND)
                == NGX_OK)
            {
                return;
            }

            /* memory: the name is skipped this round */
            t->naddrs = 0;
            loc->resolved = 1;
        }

        if (loc->addr < t->naddrs) {
            ngx_http_snap_redis_locate_answer(loc,
                                (struct sockaddr *) &t->sockaddr[loc->addr],
                                t->socklen[loc->addr], 0, t->url);
            loc->addr++;
            ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
            return;
        }

        loc->tried++;
        loc->target = (loc->target + 1) % loc->ntargets;
        loc->addr = 0;
        loc->resolved = 0;
    }

    loc->answer = NULL;
    ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
}


/*
 * A Sentinel's answer, host and port: an address at once, a name through
 * the resolver.
 */

void
ngx_http_snap_redis_locate_host(ngx_http_snap_redis_locate_t *loc,
    ngx_str_t *host, in_port_t port)
{
    socklen_t       len;
    ngx_sockaddr_t  sa;

    loc->answer = NULL;

    if (host->len >= sizeof(loc->host_data)) {
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
        return;
    }

    ngx_memcpy(loc->host_data, host->data, host->len);

    ngx_memzero(&loc->host, sizeof(ngx_url_t));
    loc->host.host.data = loc->host_data;
    loc->host.host.len = host->len;
    loc->host.url = loc->host.host;
    loc->host.port = port;

    if (ngx_http_snap_redis_locate_literal(&loc->host.host, &sa, &len)
        == NGX_OK)
    {
        ngx_http_snap_redis_locate_answer(loc, &sa.sockaddr, len, port,
                                          &loc->host);
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
        return;
    }

    if (loc->resolver == NULL) {
        ngx_log_error(NGX_LOG_ERR, loc->log, 0,
                      "snap: redis zone \"%V\": a Sentinel names the primary "
                      "\"%V\", a host name, and the http block has no "
                      "\"resolver\"", &loc->label, host);
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
        return;
    }

    if (ngx_http_snap_redis_locate_resolve(loc, &loc->host.host,
                                           NGX_HTTP_SNAP_RESOLVE_HOST)
        != NGX_OK)
    {
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
    }
}


/* an IPv4 or IPv6 address written out */

static ngx_int_t
ngx_http_snap_redis_locate_literal(ngx_str_t *host, ngx_sockaddr_t *sa,
    socklen_t *len)
{
    in_addr_t  inaddr;

    ngx_memzero(sa, sizeof(ngx_sockaddr_t));

    inaddr = ngx_inet_addr(host->data, host->len);

    if (inaddr != INADDR_NONE) {
        sa->sockaddr_in.sin_family = AF_INET;
        sa->sockaddr_in.sin_addr.s_addr = inaddr;
        *len = sizeof(struct sockaddr_in);
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(host->data, host->len,
                       sa->sockaddr_in6.sin6_addr.s6_addr)
        == NGX_OK)
    {
        sa->sockaddr_in6.sin6_family = AF_INET6;
        *len = sizeof(struct sockaddr_in6);
        return NGX_OK;
    }
#endif

    return NGX_DECLINED;
}


/*
 * The address last handed out answered: rounds start with its ADDRESS,
 * and, with watch, its name is looked up again when its answer's
 * validity ends.
 */

void
ngx_http_snap_redis_locate_keep(ngx_http_snap_redis_locate_t *loc,
    ngx_uint_t watch)
{
    ngx_http_snap_locate_target_t  *t;

    if (loc->result.server != &loc->host) {
        loc->first = loc->target;
    }

    t = &loc->targets[loc->target];

    if (!watch || loc->result.server != t->url || !t->resolve
        || loc->resolver == NULL)
    {
        return;
    }

    loc->kept = loc->target;
    ngx_memcpy(&loc->kept_sockaddr, &loc->result.sockaddr,
               loc->result.socklen);
    loc->kept_socklen = loc->result.socklen;

    ngx_http_snap_redis_locate_watch(loc);
}


/*
 * The resolver's cache holds an answer through the second its validity
 * ends: the name is looked up again the second after.
 */

static void
ngx_http_snap_redis_locate_watch(ngx_http_snap_redis_locate_t *loc)
{
    time_t  left;

    left = loc->targets[loc->kept].valid - ngx_time() + 1;

    if (left < NGX_HTTP_SNAP_LOCATE_MIN) {
        left = NGX_HTTP_SNAP_LOCATE_MIN;
    }

    ngx_add_timer(&loc->refresh, (ngx_msec_t) left * 1000);
}


static void
ngx_http_snap_redis_locate_refresh(ngx_event_t *ev)
{
    ngx_http_snap_redis_locate_t *loc = ev->data;

    if (loc->ctx) {
        /* a round's lookup is under way: it will do */
        return;
    }

    if (ngx_http_snap_redis_locate_resolve(loc,
                                           &loc->targets[loc->kept].url->host,
                                           NGX_HTTP_SNAP_RESOLVE_REFRESH)
        != NGX_OK)
    {
        ngx_add_timer(&loc->refresh, NGX_HTTP_SNAP_LOCATE_RETRY * 1000);
    }
}


void
ngx_http_snap_redis_locate_stop(ngx_http_snap_redis_locate_t *loc)
{
    if (loc->ctx) {
        ngx_resolve_name_done(loc->ctx);
        loc->ctx = NULL;
    }

    if (loc->refresh.timer_set) {
        ngx_del_timer(&loc->refresh);
    }

    if (loc->event.posted) {
        ngx_delete_posted_event(&loc->event);
    }
}


static ngx_int_t
ngx_http_snap_redis_locate_resolve(ngx_http_snap_redis_locate_t *loc,
    ngx_str_t *name, ngx_http_snap_locate_why_e why)
{
    ngx_resolver_ctx_t  *ctx;

    ctx = ngx_resolve_start(loc->resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        return NGX_ERROR;
    }

    /* all set before the call, which may answer from inside it */
    ctx->name = *name;
    ctx->handler = ngx_http_snap_redis_locate_resolved;
    ctx->data = loc;
    ctx->timeout = loc->resolver_timeout;
    ctx->cancelable = 1;

    loc->ctx = ctx;
    loc->why = why;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* the resolver freed it */
        loc->ctx = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_snap_redis_locate_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_snap_redis_locate_t *loc = ctx->data;

    ngx_uint_t                      i, n, moved;
    ngx_http_snap_locate_target_t  *t;

    loc->ctx = NULL;

    if (loc->why == NGX_HTTP_SNAP_RESOLVE_HOST) {
        if (ctx->state == NGX_OK && ctx->naddrs) {
            ngx_http_snap_redis_locate_answer(loc, ctx->addrs[0].sockaddr,
                                              ctx->addrs[0].socklen,
                                              loc->host.port, &loc->host);

        } else {
            ngx_log_error(NGX_LOG_ERR, loc->log, 0,
                          "snap: redis zone \"%V\": %V could not be "
                          "resolved (%i: %s)", &loc->label, &ctx->name,
                          ctx->state, ngx_resolver_strerror(ctx->state));
        }

        ngx_resolve_name_done(ctx);
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_FOUND);
        return;
    }

    t = &loc->targets[loc->why == NGX_HTTP_SNAP_RESOLVE_ROUND ? loc->target
                                                              : loc->kept];

    if (ctx->state != NGX_OK || ctx->naddrs == 0) {
        if (!t->failing) {
            t->failing = 1;
            ngx_log_error(NGX_LOG_ERR, loc->log, 0,
                          "snap: redis zone \"%V\": %V could not be "
                          "resolved (%i: %s)", &loc->label, &ctx->name,
                          ctx->state, ngx_resolver_strerror(ctx->state));
        }

        ngx_resolve_name_done(ctx);

        if (loc->why == NGX_HTTP_SNAP_RESOLVE_REFRESH) {
            /* the address in use stays until it fails */
            ngx_add_timer(&loc->refresh, NGX_HTTP_SNAP_LOCATE_RETRY * 1000);
            return;
        }

        t->naddrs = 0;
        loc->resolved = 1;
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_STEP);
        return;
    }

    if (t->failing) {
        t->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, loc->log, 0,
                      "snap: redis zone \"%V\": %V resolves again",
                      &loc->label, &ctx->name);
    }

    n = ngx_min(ctx->naddrs, NGX_HTTP_SNAP_REDIS_ADDRS);
    moved = (loc->why == NGX_HTTP_SNAP_RESOLVE_REFRESH);

    for (i = 0; i < n; i++) {
        ngx_memcpy(&t->sockaddr[i], ctx->addrs[i].sockaddr,
                   ctx->addrs[i].socklen);
        t->socklen[i] = ctx->addrs[i].socklen;
        ngx_inet_set_port((struct sockaddr *) &t->sockaddr[i], t->url->port);

        if (moved
            && ngx_cmp_sockaddr((struct sockaddr *) &t->sockaddr[i],
                                t->socklen[i],
                                (struct sockaddr *) &loc->kept_sockaddr,
                                loc->kept_socklen, 1)
               == NGX_OK)
        {
            moved = 0;
        }
    }

    t->naddrs = n;
    t->valid = ctx->valid;

    ngx_resolve_name_done(ctx);

    if (loc->why == NGX_HTTP_SNAP_RESOLVE_ROUND) {
        loc->resolved = 1;
        loc->addr = 0;
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_STEP);
        return;
    }

    if (moved) {
        /* the next round starts where the name now points */
        loc->first = loc->kept;
        ngx_http_snap_redis_locate_post(loc, NGX_HTTP_SNAP_LOCATE_MOVED);
        return;
    }

    ngx_http_snap_redis_locate_watch(loc);
}


static void
ngx_http_snap_redis_locate_answer(ngx_http_snap_redis_locate_t *loc,
    struct sockaddr *sa, socklen_t len, in_port_t port, ngx_url_t *server)
{
    ngx_http_snap_redis_addr_t  *a;

    a = &loc->result;

    ngx_memcpy(&a->sockaddr, sa, len);
    a->socklen = len;

    if (port) {
        ngx_inet_set_port((struct sockaddr *) &a->sockaddr, port);
    }

    a->name.data = a->text;
    a->name.len = ngx_sock_ntop((struct sockaddr *) &a->sockaddr, len,
                                a->text, NGX_SOCKADDR_STRLEN, 1);
    a->server = server;

    loc->answer = a;
}


/*
 * Posted for the next turn of the event loop, which then does not wait:
 * a worker starting (init_process) is not inside the loop yet, and an
 * event posted now would wait for the first socket event.
 */

static void
ngx_http_snap_redis_locate_post(ngx_http_snap_redis_locate_t *loc,
    ngx_http_snap_locate_action_e action)
{
    loc->action = action;

    if (!loc->event.posted) {
        ngx_post_event(&loc->event, &ngx_posted_next_events);
    }
}


static void
ngx_http_snap_redis_locate_handler(ngx_event_t *ev)
{
    ngx_http_snap_redis_locate_t *loc = ev->data;

    ngx_http_snap_locate_action_e  action;

    action = loc->action;
    loc->action = NGX_HTTP_SNAP_LOCATE_IDLE;

    switch (action) {

    case NGX_HTTP_SNAP_LOCATE_STEP:
        ngx_http_snap_redis_locate_step(loc);
        break;

    case NGX_HTTP_SNAP_LOCATE_FOUND:
        loc->found(loc->data, loc->answer);
        break;

    case NGX_HTTP_SNAP_LOCATE_MOVED:
        loc->moved(loc->data);
        break;

    default:
        break;
    }
}
