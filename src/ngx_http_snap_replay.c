
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * X-EXTERNAL-ID same-day uniqueness, shared by all workers.  Entries are
 * keyed by (partner, X-EXTERNAL-ID, WIB day of X-TIMESTAMP) and grouped by
 * that day, so they expire in order, a whole day at a time.  A live entry
 * is never evicted: evicting one would re-open the replay it records.
 */


#include "ngx_http_snap_module.h"


/* entries reclaimed per insert, and per retry when the zone is full */
#define NGX_HTTP_SNAP_REPLAY_RECLAIM        2
#define NGX_HTTP_SNAP_REPLAY_RECLAIM_FULL   1024


typedef struct {
    u_char                      color;
    u_char                      len;
    u_short                     spare;
    int32_t                     day;
    ngx_queue_t                 queue;
    uint64_t                    partner;
    u_char                      data[1];
} ngx_http_snap_replay_node_t;


typedef struct {
    ngx_queue_t                 link;
    ngx_queue_t                 entries;
    int64_t                     day;
    int64_t                     expire;
} ngx_http_snap_replay_day_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 days;
    ngx_uint_t                  entries;
    ngx_uint_t                  full;
} ngx_http_snap_replay_sh_t;


typedef struct {
    ngx_http_snap_replay_sh_t  *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   name;
} ngx_http_snap_replay_zone_t;


static ngx_int_t ngx_http_snap_replay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_snap_replay_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_snap_replay_node_t *ngx_http_snap_replay_lookup(
    ngx_http_snap_replay_zone_t *zone, uint32_t hash, uint64_t partner,
    int32_t day, ngx_str_t *id);
static ngx_uint_t ngx_http_snap_replay_reclaim(
    ngx_http_snap_replay_zone_t *zone, time_t now, ngx_uint_t n);
static ngx_http_snap_replay_day_t *ngx_http_snap_replay_day(
    ngx_http_snap_replay_zone_t *zone, int64_t day, int64_t expire,
    time_t now);
static void *ngx_http_snap_replay_alloc(ngx_http_snap_replay_zone_t *zone,
    size_t size, time_t now);
static uint32_t ngx_http_snap_replay_hash(uint64_t partner, int32_t day,
    ngx_str_t *id);


char *
ngx_http_snap_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                       *p;
    ssize_t                       size;
    ngx_str_t                    *value, name, s;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_snap_replay_zone_t  *zone;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, the minimum is %uzk",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_replay_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_snap_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_snap_replay_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


/* snap_replay ZONE [numeric] [release_on_failure] | off */

char *
ngx_http_snap_replay(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (slcf->replay_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        slcf->replay_zone = NULL;
        return NGX_CONF_OK;
    }

    slcf->replay_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                              &ngx_http_snap_module);
    if (slcf->replay_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "numeric") == 0) {
            slcf->replay_numeric = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "release_on_failure") == 0) {
            slcf->replay_release = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected \"numeric\" "
                           "or \"release_on_failure\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_snap_replay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_snap_replay_zone_t  *ozone = data;

    size_t                        len;
    ngx_http_snap_replay_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload with the same size: keep every recorded id */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_snap_replay_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_snap_replay_insert_value);
    ngx_queue_init(&zone->sh->days);

    len = sizeof(" in snap_replay_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in snap_replay_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is reported once per burst by the module itself */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_snap_replay_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t           **p;
    ngx_http_snap_replay_node_t  *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_snap_replay_node_t *) &node->color;
            t = (ngx_http_snap_replay_node_t *) &temp->color;

            if (n->partner != t->partner) {
                rc = n->partner < t->partner ? -1 : 1;

            } else if (n->day != t->day) {
                rc = n->day < t->day ? -1 : 1;

            } else {
                rc = ngx_memn2cmp(n->data, t->data, n->len, t->len);
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static uint32_t
ngx_http_snap_replay_hash(uint64_t partner, int32_t day, ngx_str_t *id)
{
    uint32_t  hash;

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, (u_char *) &partner, sizeof(partner));
    ngx_crc32_update(&hash, (u_char *) &day, sizeof(day));
    ngx_crc32_update(&hash, id->data, id->len);
    ngx_crc32_final(hash);

    return hash;
}


static ngx_http_snap_replay_node_t *
ngx_http_snap_replay_lookup(ngx_http_snap_replay_zone_t *zone, uint32_t hash,
    uint64_t partner, int32_t day, ngx_str_t *id)
{
    ngx_int_t                     rc;
    ngx_rbtree_node_t            *node, *sentinel;
    ngx_http_snap_replay_node_t  *n;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        n = (ngx_http_snap_replay_node_t *) &node->color;

        if (partner != n->partner) {
            rc = partner < n->partner ? -1 : 1;

        } else if (day != n->day) {
            rc = day < n->day ? -1 : 1;

        } else {
            rc = ngx_memn2cmp(id->data, n->data, id->len, n->len);
        }

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* frees up to n entries of days that have ended; returns how many */

static ngx_uint_t
ngx_http_snap_replay_reclaim(ngx_http_snap_replay_zone_t *zone, time_t now,
    ngx_uint_t n)
{
    ngx_uint_t                    freed;
    ngx_queue_t                  *q;
    ngx_rbtree_node_t            *node;
    ngx_http_snap_replay_day_t   *day;
    ngx_http_snap_replay_node_t  *rn;

    freed = 0;

    while (freed < n && !ngx_queue_empty(&zone->sh->days)) {

        q = ngx_queue_head(&zone->sh->days);
        day = ngx_queue_data(q, ngx_http_snap_replay_day_t, link);

        if (day->expire > now) {
            break;
        }

        if (ngx_queue_empty(&day->entries)) {
            ngx_queue_remove(&day->link);
            ngx_slab_free_locked(zone->shpool, day);
            continue;
        }

        q = ngx_queue_head(&day->entries);
        ngx_queue_remove(q);

        rn = ngx_queue_data(q, ngx_http_snap_replay_node_t, queue);
        node = (ngx_rbtree_node_t *)
                   ((u_char *) rn - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&zone->sh->rbtree, node);
        ngx_slab_free_locked(zone->shpool, node);

        zone->sh->entries--;
        freed++;
    }

    return freed;
}


static void *
ngx_http_snap_replay_alloc(ngx_http_snap_replay_zone_t *zone, size_t size,
    time_t now)
{
    void  *p;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);
        if (p) {
            return p;
        }

        if (ngx_http_snap_replay_reclaim(zone, now,
                                         NGX_HTTP_SNAP_REPLAY_RECLAIM_FULL)
            == 0)
        {
            return NULL;
        }
    }
}


/* the list of days is short and sorted, the newest at its tail */

static ngx_http_snap_replay_day_t *
ngx_http_snap_replay_day(ngx_http_snap_replay_zone_t *zone, int64_t day,
    int64_t expire, time_t now)
{
    ngx_queue_t                 *q;
    ngx_http_snap_replay_day_t  *d, *nd;

    nd = NULL;

    for ( ;; ) {
        for (q = ngx_queue_last(&zone->sh->days);
             q != ngx_queue_sentinel(&zone->sh->days);
             q = ngx_queue_prev(q))
        {
            d = ngx_queue_data(q, ngx_http_snap_replay_day_t, link);

            if (d->day == day) {
                if (nd) {
                    ngx_slab_free_locked(zone->shpool, nd);
                }

                if (d->expire < expire) {
                    d->expire = expire;
                }

                return d;
            }

            if (d->day < day) {
                break;
            }
        }

        if (nd) {
            break;
        }

        /* allocating may reclaim ended days, so search again after it */
        nd = ngx_http_snap_replay_alloc(zone,
                                        sizeof(ngx_http_snap_replay_day_t),
                                        now);
        if (nd == NULL) {
            return NULL;
        }
    }

    nd->day = day;
    nd->expire = expire;
    ngx_queue_init(&nd->entries);

    /* after q: the last day older than this one, or the sentinel */
    ngx_queue_insert_after(q, &nd->link);

    return nd;
}


/*
 * Called only once every other check has passed, so a forged request can
 * never use up a real partner's X-EXTERNAL-ID.  The lookup and the insert
 * happen under one lock: of two identical requests, one wins.
 */

ngx_int_t
ngx_http_snap_replay_record(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    size_t                        size;
    time_t                        now;
    int64_t                       day, expire;
    uint32_t                      hash;
    ngx_str_t                    *id;
    ngx_rbtree_node_t            *node;
    ngx_http_snap_replay_day_t   *d;
    ngx_http_snap_replay_zone_t  *zone;
    ngx_http_snap_replay_node_t  *rn;
    ngx_http_snap_loc_conf_t     *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
    zone = slcf->replay_zone->data;

    id = &ctx->external_id->value;
    day = ngx_http_snap_wib_day(ctx->ts);
    now = ngx_time();

    /* the day ends at 24:00 WIB; the skew lets a late request be caught */
    expire = (day + 1) * 86400 - NGX_HTTP_SNAP_WIB_OFFSET + slcf->clock_skew;

    hash = ngx_http_snap_replay_hash(ctx->client->hash, (int32_t) day, id);

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ngx_http_snap_replay_lookup(zone, hash, ctx->client->hash,
                                    (int32_t) day, id))
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_SNAP_REPLAY;
    }

    (void) ngx_http_snap_replay_reclaim(zone, now,
                                        NGX_HTTP_SNAP_REPLAY_RECLAIM);

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_snap_replay_node_t, data)
           + id->len;

    node = ngx_http_snap_replay_alloc(zone, size, now);
    d = node ? ngx_http_snap_replay_day(zone, day, expire, now) : NULL;

    if (d == NULL) {
        if (node) {
            ngx_slab_free_locked(zone->shpool, node);
        }

        if (!zone->sh->full) {
            zone->sh->full = 1;
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                          "snap: replay zone \"%V\" is full with %ui live "
                          "ids, requests are refused until ids expire; "
                          "make the zone larger",
                          &zone->name, zone->sh->entries);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_SNAP_ZONE_FULL;
    }

    zone->sh->full = 0;

    rn = (ngx_http_snap_replay_node_t *) &node->color;

    node->key = hash;
    rn->len = (u_char) id->len;
    rn->day = (int32_t) day;
    rn->partner = ctx->client->hash;
    ngx_memcpy(rn->data, id->data, id->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_tail(&d->entries, &rn->queue);

    zone->sh->entries++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->recorded = 1;

    return NGX_HTTP_SNAP_REASONS;
}


/*
 * With "release_on_failure", an id whose request the upstream did not
 * answer, or answered with a 5xx, is forgotten so that the partner's retry
 * with the same X-EXTERNAL-ID goes through.
 */

ngx_int_t
ngx_http_snap_replay_release(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    int32_t                       day;
    uint32_t                      hash;
    ngx_str_t                    *id;
    ngx_rbtree_node_t            *node;
    ngx_http_snap_replay_zone_t  *zone;
    ngx_http_snap_replay_node_t  *rn;
    ngx_http_snap_loc_conf_t     *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (slcf->replay_zone == NULL || !slcf->replay_release) {
        return NGX_DECLINED;
    }

    if (r->headers_out.status != 0
        && r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
    {
        return NGX_DECLINED;
    }

    zone = slcf->replay_zone->data;
    id = &ctx->external_id->value;
    day = (int32_t) ngx_http_snap_wib_day(ctx->ts);
    hash = ngx_http_snap_replay_hash(ctx->client->hash, day, id);

    ngx_shmtx_lock(&zone->shpool->mutex);

    rn = ngx_http_snap_replay_lookup(zone, hash, ctx->client->hash, day, id);

    if (rn) {
        node = (ngx_rbtree_node_t *)
                   ((u_char *) rn - offsetof(ngx_rbtree_node_t, color));

        ngx_queue_remove(&rn->queue);
        ngx_rbtree_delete(&zone->sh->rbtree, node);
        ngx_slab_free_locked(zone->shpool, node);

        zone->sh->entries--;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->released = 1;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "snap: X-EXTERNAL-ID \"%V\" released after status %ui",
                  id, r->headers_out.status);

    return NGX_OK;
}
