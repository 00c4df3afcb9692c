
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_client ... rate=Nr/s: a partner's verified requests, limited as
 * limit_req limits (a leaky bucket, in thousandths of a request), with a
 * burst of one second's worth.  limit_req itself runs before the module
 * has verified anything: keyed by X-PARTNER-ID, a forger who knows the id
 * would spend the partner's quota.  Here only a request whose signature
 * verified is counted, before the replay store is asked, so a refused
 * request's X-EXTERNAL-ID stays usable for its retry.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_rate.h"


/* a partner's bucket; its hash tells it from another's after a reload */
typedef struct {
    uint64_t                    hash;
    ngx_msec_t                  last;
    ngx_uint_t                  excess;
} ngx_http_snap_rate_slot_t;


typedef struct {
    ngx_uint_t                  n;
    ngx_http_snap_rate_slot_t   slots[1];
} ngx_http_snap_rate_shm_t;


static ngx_int_t ngx_http_snap_rate_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_str_t  ngx_http_snap_rate_zone = ngx_string("snap_client_rates");


/*
 * Once the partners are known: a zone of the module's own, a slot a
 * partner, when one of them has rate=.
 */

ngx_int_t
ngx_http_snap_rate_init_conf(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    size_t                   size;
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        if (c[i].rate) {
            break;
        }
    }

    if (i == smcf->clients.nelts) {
        return NGX_OK;
    }

    /* the slab pool nginx puts at a zone's start, and the slots */
    size = 8 * ngx_pagesize
           + ngx_align(sizeof(ngx_http_snap_rate_shm_t)
                       + smcf->clients.nelts
                         * sizeof(ngx_http_snap_rate_slot_t),
                       ngx_pagesize);

    smcf->rates = ngx_shared_memory_add(cf, &ngx_http_snap_rate_zone, size,
                                        &ngx_http_snap_module);
    if (smcf->rates == NULL) {
        return NGX_ERROR;
    }

    smcf->rates->init = ngx_http_snap_rate_init_zone;
    smcf->rates->data = smcf;

    return NGX_OK;
}


/*
 * Each configuration starts its buckets empty: a partner gets at most one
 * burst more at a reload.  A worker of the previous configuration that
 * finds another partner's hash in a slot leaves the slot alone.
 */

static ngx_int_t
ngx_http_snap_rate_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_snap_main_conf_t *smcf = shm_zone->data;

    ngx_uint_t                 i;
    ngx_slab_pool_t           *shpool;
    ngx_http_snap_client_t    *c;
    ngx_http_snap_rate_shm_t  *rs;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    rs = data ? shpool->data : NULL;

    ngx_shmtx_lock(&shpool->mutex);

    /* a zone kept across a reload (same size) may hold fewer slots */
    if (rs == NULL || rs->n < smcf->clients.nelts) {
        if (rs) {
            ngx_slab_free_locked(shpool, rs);
        }

        rs = ngx_slab_alloc_locked(shpool,
                                   sizeof(ngx_http_snap_rate_shm_t)
                                   + smcf->clients.nelts
                                     * sizeof(ngx_http_snap_rate_slot_t));
        if (rs == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_ERROR;
        }

        shpool->data = rs;
    }

    /* slots past the partners of this configuration stay unused */
    rs->n = smcf->clients.nelts;
    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        rs->slots[i].hash = c[i].hash;
        rs->slots[i].last = 0;
        rs->slots[i].excess = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/* a verified request of a partner with rate=: within it, or 429xx00 */

ngx_int_t
ngx_http_snap_rate_check(ngx_http_request_t *r, ngx_http_snap_client_t *client,
    ngx_uint_t *reason)
{
    ngx_int_t                   excess;
    ngx_msec_t                  now;
    ngx_msec_int_t              ms;
    ngx_slab_pool_t            *shpool;
    ngx_http_snap_rate_shm_t   *rs;
    ngx_http_snap_rate_slot_t  *slot;
    ngx_http_snap_main_conf_t  *smcf;

    if (client->rate == 0) {
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    shpool = (ngx_slab_pool_t *) smcf->rates->shm.addr;
    rs = shpool->data;

    if (client->index >= rs->n) {
        return NGX_OK;
    }

    slot = &rs->slots[client->index];
    now = ngx_current_msec;

    ngx_shmtx_lock(&shpool->mutex);

    if (slot->hash != client->hash) {
        /* a reload moved the partners: the new configuration counts */
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    ms = slot->last ? (ngx_msec_int_t) (now - slot->last) : 60000;

    if (ms < 0) {
        ms = 0;
    }

    if (ms > 60000) {
        ms = 60000;
    }

    excess = (ngx_int_t) slot->excess
             - (ngx_int_t) (client->rate * ms / 1000) + 1000;

    if (excess < 0) {
        excess = 0;
    }

    if ((ngx_uint_t) excess > client->burst) {
        ngx_shmtx_unlock(&shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "snap: client \"%V\" is over its rate=, "
                      "%ui.%03ui requests a second", &client->id,
                      client->rate / 1000, client->rate % 1000);

        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_RATE_LIMITED);
    }

    slot->excess = excess;
    slot->last = now;

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}
