
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_replay, the zones the stores declare or back (a store names its
 * own zones: no store is known here by name), and the requests' side of
 * the replay store: the key once the headers have passed, the record
 * once every other check has, the release when the upstream failed.
 * The stores behind it know nothing of requests' contexts; a store
 * answers at once, or later through the done handler the verification
 * gave it.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_replay.h"


static ngx_int_t ngx_http_snap_replay_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/*
 * The zone of that name, found or added, for a store: the node's own
 * store declares it (snap_replay_zone), a backend backs it; a zone has
 * one backend.  NULL when refused.
 */

ngx_http_snap_zone_t *
ngx_http_snap_replay_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    const ngx_http_snap_store_t *store)
{
    ngx_uint_t                  i;
    ngx_http_snap_zone_t       *zone;
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    zone = smcf->replay_zones.elts;

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zone[i].name.len == name->len
            && ngx_strncmp(zone[i].name.data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (i == smcf->replay_zones.nelts) {
        zone = ngx_array_push(&smcf->replay_zones);
        if (zone == NULL) {
            return NULL;
        }

        ngx_memzero(zone, sizeof(ngx_http_snap_zone_t));

        zone->name = *name;

    } else {
        zone = &zone[i];
    }

    if (!store->backend) {
        if (zone->store == NULL) {
            zone->store = store;
        }

        return zone;
    }

    if (zone->store && zone->store->backend) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" already has a \"snap_replay_%V\"",
                           name, &zone->store->name);
        return NULL;
    }

    zone->store = store;
    zone->file = cf->conf_file->file.name;
    zone->line = cf->conf_file->line;

    return zone;
}


/* snap_replay ZONE [numeric] [release_on_failure] | off */

char *
ngx_http_snap_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_snap_main_conf_t     *smcf;
    ngx_http_snap_replay_conf_t   *rpc, **rpcp;

    if (slcf->replay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        slcf->replay = NULL;
        slcf->replay_off = 1;
        return NGX_CONF_OK;
    }

    rpc = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_replay_conf_t));
    if (rpc == NULL) {
        return NGX_CONF_ERROR;
    }

    rpc->name = value[1];
    rpc->file = cf->conf_file->file.name;
    rpc->line = cf->conf_file->line;

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

    /* bound to its zone once the http block is read */
    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    rpcp = ngx_array_push(&smcf->replays);
    if (rpcp == NULL) {
        return NGX_CONF_ERROR;
    }

    *rpcp = rpc;
    slcf->replay = rpc;

    return NGX_CONF_OK;
}


/*
 * Once the http block is read, before any location is merged: every zone
 * a store backs is declared, every snap_replay is bound to its zone (here,
 * with the file and line of the directive, rather than as nginx's "zero
 * size shared memory zone" with none), and each store takes its zones'
 * configuration.
 */

ngx_int_t
ngx_http_snap_replay_init_conf(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t                     i, k;
    ngx_http_snap_zone_t          *zone;
    ngx_http_snap_replay_conf_t  **rpc;

    zone = smcf->replay_zones.elts;
    rpc = smcf->replays.elts;

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zone[i].shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"snap_replay_%V\" names the zone \"%V\", which "
                          "no \"snap_replay_zone\" declares, in %V:%ui: "
                          "declare it with \"snap_replay_zone %V:SIZE\"",
                          &zone[i].store->name, &zone[i].name,
                          &zone[i].file, zone[i].line, &zone[i].name);
            return NGX_ERROR;
        }
    }

    for (k = 0; k < smcf->replays.nelts; k++) {

        for (i = 0; i < smcf->replay_zones.nelts; i++) {
            if (zone[i].name.len == rpc[k]->name.len
                && ngx_strncmp(zone[i].name.data, rpc[k]->name.data,
                               zone[i].name.len)
                   == 0)
            {
                break;
            }
        }

        if (i == smcf->replay_zones.nelts) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"snap_replay\" names the zone \"%V\", which no "
                          "\"snap_replay_zone\" declares, in %V:%ui",
                          &rpc[k]->name, &rpc[k]->file, rpc[k]->line);
            return NGX_ERROR;
        }

        rpc[k]->zone = &zone[i];
        rpc[k]->metrics_zone = zone[i].metrics;
    }

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zone[i].store->init_conf
            && zone[i].store->init_conf(cf, &zone[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A location recording into a zone may accept a request stamped a day
 * until the end of that day plus its skew: the zone keeps each day for
 * the largest of them.
 */

void
ngx_http_snap_replay_skew(ngx_http_snap_replay_conf_t *rpc, time_t skew)
{
    if (rpc->zone->skew < skew) {
        rpc->zone->skew = skew;
    }
}


/* each zone's store, in each worker as it starts, and as it exits */

ngx_int_t
ngx_http_snap_replay_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t             i;
    ngx_http_snap_zone_t  *zone;

    zone = smcf->replay_zones.elts;

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zone[i].store->init_process
            && zone[i].store->init_process(cycle, &zone[i]) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_snap_replay_exit_process(ngx_cycle_t *cycle,
    ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t             i;
    ngx_http_snap_zone_t  *zone;

    zone = smcf->replay_zones.elts;

    for (i = 0; i < smcf->replay_zones.nelts; i++) {
        if (zone[i].store->exit_process) {
            zone[i].store->exit_process(cycle, &zone[i]);
        }
    }
}


/*
 * Once the headers have passed, while the body is read and its signature
 * checked: the key, once, and whatever the store reads ahead for it.
 */

void
ngx_http_snap_replay_key(ngx_http_snap_ctx_t *ctx)
{
    ngx_http_snap_zone_t  *zone;

    zone = ctx->conf->replay->zone;

    ctx->key.partner = ctx->client->hash;
    ctx->key.partner_id = ctx->client->partner_id;
    ctx->key.day = (int32_t) ngx_http_snap_wib_day(ctx->ts);
    ctx->key.id = ctx->external_id->value;

    zone->store->prepare(zone, &ctx->key);
}


/*
 * Called only once every other check has passed, so a forged request can
 * never use up a real partner's X-EXTERNAL-ID.  Of two identical requests,
 * one wins, on every store.  The store's answer now, or NGX_AGAIN and
 * later through done(data, ...).
 */

ngx_int_t
ngx_http_snap_replay_record(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_store_done_pt done, void *data, ngx_uint_t *reason)
{
    ngx_int_t                     rc;
    ngx_http_snap_zone_t         *zone;
    ngx_http_snap_replay_conf_t  *rpc;

    rpc = ctx->conf->replay;
    zone = rpc->zone;

    /* what release reads, whatever location the request ends in */
    ctx->replay = rpc;

    rc = zone->store->record(r, zone, &ctx->key, done, data, reason);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap replay: %V store answered %i", &zone->store->name,
                   rc);

    return rc;
}


/*
 * With "release_on_failure", an id whose request the upstream did not
 * answer, or answered with a 5xx, is forgotten so that the partner's retry
 * with the same X-EXTERNAL-ID goes through: what this request recorded,
 * in the zone it recorded it in (not the location the request ended in:
 * after an error_page redirect that may name another zone, or none).  It
 * happens as the 5xx answer's head is made, before any of it leaves
 * nginx, so a partner that retries on the status line is never refused
 * as a replay; the log phase releases for a request that ended without an
 * answer.
 */

void
ngx_http_snap_replay_release(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    ngx_http_snap_zone_t  *zone;

    if (ctx->replay == NULL || ctx->released || !ctx->replay->release) {
        return;
    }

    if (r->headers_out.status != 0
        && r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return;
    }

    ctx->released = 1;

    zone = ctx->replay->zone;
    zone->store->release(r, zone, &ctx->key);

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
