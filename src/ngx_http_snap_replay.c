
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_replay, and the requests' side of the replay store: the key once
 * the headers have passed, the record once every other check has, the
 * release in the log phase.  The stores behind it know nothing of
 * requests' contexts.
 */


#include "ngx_http_snap_module.h"


static ngx_int_t ngx_http_snap_replay_header_filter(ngx_http_request_t *r);


/* snap_replay ZONE [numeric] [release_on_failure] | off */

char *
ngx_http_snap_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_snap_replay_conf_t  *rpc;

    if (slcf->replay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        slcf->replay = NULL;
        return NGX_CONF_OK;
    }

    rpc = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_replay_conf_t));
    if (rpc == NULL) {
        return NGX_CONF_ERROR;
    }

    /* chosen at merge, once every snap_replay_redis is known */
    rpc->store = NULL;
    rpc->file = cf->conf_file->file.name;
    rpc->line = cf->conf_file->line;
    rpc->zone = ngx_shared_memory_add(cf, &value[1], 0,
                                      &ngx_http_snap_module);
    if (rpc->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "numeric") == 0) {
            rpc->numeric = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "release_on_failure") == 0) {
            rpc->release = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"numeric\" "
                           "or \"release_on_failure\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    slcf->replay = rpc;

    return NGX_CONF_OK;
}


/*
 * At merge, once the http block is read: the zone must be declared, here
 * rather than as nginx's "zero size shared memory zone" with no line.
 */

ngx_int_t
ngx_http_snap_replay_resolve(ngx_conf_t *cf, ngx_http_snap_replay_conf_t *rpc)
{
    ngx_uint_t                  i;
    ngx_shm_zone_t            **zones;
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
    zones = smcf->replay_zones.elts;

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zones[i] == rpc->zone) {
            rpc->metrics_zone = i;
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"snap_replay\" names the zone \"%V\", which no "
                  "\"snap_replay_zone\" declares, in %V:%ui",
                  &rpc->zone->shm.name, &rpc->file, rpc->line);

    return NGX_ERROR;
}


/*
 * Once the headers have passed, while the body is read and its signature
 * checked: the key, once, and whatever the store reads ahead for it.
 */

void
ngx_http_snap_replay_key(ngx_http_snap_ctx_t *ctx)
{
    ngx_http_snap_replay_conf_t  *rpc;

    rpc = ctx->conf->replay;

    ctx->key.partner = ctx->client->hash;
    ctx->key.partner_id = ctx->client->partner_id;
    ctx->key.day = (int32_t) ngx_http_snap_wib_day(ctx->ts);
    ctx->key.id = ctx->external_id->value;

    rpc->store->prepare(rpc, &ctx->key);
}


/*
 * Called only once every other check has passed, so a forged request can
 * never use up a real partner's X-EXTERNAL-ID.  Of two identical requests,
 * one wins, on every store.
 */

ngx_int_t
ngx_http_snap_replay_record(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t *reason)
{
    ngx_int_t                     rc;
    ngx_http_snap_replay_conf_t  *rpc;

    rpc = ctx->conf->replay;

    rc = rpc->store->record(r, rpc, &ctx->key, ctx->conf->clock_skew,
                            reason);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap replay: %s store answered %i", rpc->store->name, rc);

    if (rc == NGX_OK || rc == NGX_AGAIN) {
        /* what release reads, whatever location the request ends in */
        ctx->replay = rpc;
    }

    return rc;
}


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/*
 * With "release_on_failure", an id whose request the upstream did not
 * answer, or answered with a 5xx, is forgotten so that the partner's retry
 * with the same X-EXTERNAL-ID goes through.  What the verification
 * recorded, not the location the request ended in: after an error_page
 * redirect that may name another zone, or none.  It happens as the 5xx
 * answer's head is made, before any of it leaves nginx, so a partner that
 * retries on the status line is never refused as a replay; the log phase
 * releases for a request that ended without an answer.
 */

void
ngx_http_snap_replay_release(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    if (ctx->replay == NULL || ctx->released || !ctx->replay->release) {
        return;
    }

    if (r->headers_out.status != 0
        && r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return;
    }

    ctx->released = 1;

    ctx->replay->store->release(r, ctx->replay, &ctx->key);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "snap: X-EXTERNAL-ID \"%V\" released after status %ui",
                  &ctx->key.id, r->headers_out.status);
}


static ngx_int_t
ngx_http_snap_replay_header_filter(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    if (r == r->main
        && r->headers_out.status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        ctx = ngx_http_snap_get_ctx(r);

        if (ctx) {
            ngx_http_snap_replay_release(r, ctx);
        }
    }

    return ngx_http_next_header_filter(r);
}


ngx_int_t
ngx_http_snap_replay_init_filter(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_snap_replay_header_filter;

    return NGX_OK;
}
