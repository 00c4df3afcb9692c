
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The zone store (snap_replay_zone), the node's own behind
 * ngx_http_snap_store_t, and the first level of every other store:
 * X-EXTERNAL-ID same-day uniqueness, shared by all workers of one nginx.
 * Entries are keyed by (partner, X-EXTERNAL-ID, WIB day of X-TIMESTAMP)
 * in a hash table and grouped by that day, so they expire in order, a
 * whole day at a time.  A live entry is never evicted: evicting one would
 * re-open the replay it records.  The table is sized from the zone once:
 * a lookup reads a bucket and a node or two, where a red-black tree of a
 * million ids reads twenty nodes, a cache miss each.  SipHash keyed at
 * random per zone keeps a partner from crafting ids that share a bucket.
 * Entries and days take 128-byte slots from the zone's own arena, a list
 * of freed slots and then the never used ones in order: so the slot an
 * insert will take is known well before it, and is read into the cache
 * while the body is checked (docs/PERFORMANCE.md has what each costs).
 *
 * The lock is the zone's slab pool's mutex: the arena is carved out once,
 * so nothing else takes it on the request path, and it is the one lock
 * of a zone that nginx's master releases when a worker dies holding it
 * (ngx_unlock_mutexes()).  A mutex of the module's own would stay held by
 * the dead worker, and every other worker would wait on it for ever.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_replay.h"
#include "ngx_http_snap_metrics.h"
#include "ngx_http_snap_store_zone.h"

#include <openssl/rand.h>


/* entries reclaimed per insert, and per retry when the zone is full */
#define NGX_HTTP_SNAP_REPLAY_RECLAIM        2
#define NGX_HTTP_SNAP_REPLAY_RECLAIM_FULL   1024

/* a bucket per this many bytes of zone: an entry takes a 128-byte slot */
#define NGX_HTTP_SNAP_REPLAY_BUCKET_BYTES   256

/* an entry of the longest id (compat=long_ids), or a day */
#define NGX_HTTP_SNAP_REPLAY_SLOT           128

/*
 * Zone pages mapped into a worker per event, and the pause between: 256 KB
 * a millisecond, so that a request waits behind a step well under a
 * millisecond (see ngx_http_snap_replay_map_handler).
 */
#define NGX_HTTP_SNAP_REPLAY_MAP_PAGES      64
#define NGX_HTTP_SNAP_REPLAY_MAP_MSEC       1

/*
 * Kept this long past the end of its day plus the skew: workers' cached
 * clocks differ, and one must not reclaim a day another still accepts.
 */
#define NGX_HTTP_SNAP_REPLAY_MARGIN         10


typedef struct ngx_http_snap_replay_node_s  ngx_http_snap_replay_node_t;

struct ngx_http_snap_replay_node_s {
    ngx_http_snap_replay_node_t  *next;       /* in its bucket */
    ngx_queue_t                   queue;      /* in its day */
    uint64_t                      hash;
    uint64_t                      partner;
    int32_t                       day;
    /* which record this is: a slot freed and taken again gets another */
    uint32_t                      stamp;
    u_char                        len;
    u_char                        data[1];
};


typedef struct {
    ngx_queue_t                 link;
    ngx_queue_t                 entries;
    int64_t                     day;
} ngx_http_snap_replay_day_t;


/* a compile-time check: an entry of the longest id, and a day, fit a slot */
typedef char  ngx_http_snap_replay_slot_fits_t[
    (offsetof(ngx_http_snap_replay_node_t, data) + NGX_HTTP_SNAP_LONG_ID_MAX
     <= NGX_HTTP_SNAP_REPLAY_SLOT
     && sizeof(ngx_http_snap_replay_day_t) <= NGX_HTTP_SNAP_REPLAY_SLOT)
    ? 1 : -1];


/* a free slot, in the arena's list of them */
typedef struct ngx_http_snap_replay_free_s  ngx_http_snap_replay_free_t;

struct ngx_http_snap_replay_free_s {
    ngx_http_snap_replay_free_t  *next;
};


typedef struct {
    ngx_http_snap_replay_node_t **buckets;
    uint64_t                      mask;
    u_char                        key[16];
    ngx_queue_t                   days;
    /* slots freed, then the arena's slots never used, from next to last */
    ngx_http_snap_replay_free_t  *free;
    u_char                       *next;
    u_char                       *last;
    ngx_uint_t                    entries;
    ngx_uint_t                    capacity;   /* slots, when empty */
    ngx_uint_t                    full;
    uint32_t                      stamp;      /* the last record's */
    /* the largest snap_clock_skew of any configuration since it was made */
    time_t                        skew;
} ngx_http_snap_replay_sh_t;


/* the zone in this configuration: shm_zone->data */
typedef struct {
    ngx_http_snap_replay_sh_t  *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   name;
    ngx_http_snap_zone_t       *entry;  /* its skew: of this configuration */
} ngx_http_snap_replay_zone_t;


static ngx_int_t ngx_http_snap_replay_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_snap_replay_node_t **ngx_http_snap_replay_lookup(
    ngx_http_snap_replay_zone_t *zone, ngx_http_snap_replay_key_t *key);
static void ngx_http_snap_replay_unlink(ngx_http_snap_replay_zone_t *zone,
    ngx_http_snap_replay_node_t *node);
static ngx_uint_t ngx_http_snap_replay_reclaim(
    ngx_http_snap_replay_zone_t *zone, time_t now, ngx_uint_t n);
static ngx_http_snap_replay_day_t *ngx_http_snap_replay_day(
    ngx_http_snap_replay_zone_t *zone, int64_t day, time_t now);
static void *ngx_http_snap_replay_alloc(ngx_http_snap_replay_zone_t *zone,
    time_t now);
static void ngx_http_snap_replay_free(ngx_http_snap_replay_zone_t *zone,
    void *slot);
static void ngx_http_snap_replay_map_handler(ngx_event_t *ev);
static void ngx_http_snap_store_zone_gauge(void *data, ngx_uint_t *live,
    ngx_uint_t *capacity);


const ngx_http_snap_store_t  ngx_http_snap_store_zone = {
    ngx_string("zone"),
    0,
    ngx_http_snap_store_zone_init_conf,
    ngx_http_snap_store_zone_init_process,
    NULL,
    ngx_http_snap_store_zone_prepare,
    ngx_http_snap_store_zone_record,
    ngx_http_snap_store_zone_release
};


/* snap_replay_zone NAME:SIZE */

char *
ngx_http_snap_replay_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_int_t                     index;
    ngx_str_t                    *value;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_snap_zone_t         *entry;
    ngx_http_snap_replay_zone_t  *zone;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_replay_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_http_snap_zone_add(cf, &value[1], &zone->name,
                                      &ngx_http_snap_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    entry = ngx_http_snap_replay_zone_add(cf, &zone->name,
                                          &ngx_http_snap_store_zone);
    if (entry == NULL) {
        return NGX_CONF_ERROR;
    }

    index = ngx_http_snap_metrics_add_zone(cf, &zone->name,
                                           ngx_http_snap_store_zone_gauge,
                                           shm_zone);
    if (index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    entry->shm_zone = shm_zone;
    entry->metrics = index;

    shm_zone->init = ngx_http_snap_replay_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


/*
 * The zone's entry, whose skew the locations set as they merge, read
 * when the zone is made: every directive is read, no zone is added.
 */

ngx_int_t
ngx_http_snap_store_zone_init_conf(ngx_conf_t *cf,
    ngx_http_snap_zone_t *entry)
{
    ngx_http_snap_replay_zone_t  *zone;

    zone = entry->shm_zone->data;
    zone->entry = entry;

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_replay_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_snap_replay_zone_t  *ozone = data;

    uint64_t                      n;
    ngx_http_snap_replay_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /*
         * reload with the same size: keep every recorded id, and keep it
         * for the longer skew, old or new: the old workers still accept
         * with theirs until they exit
         */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        if (zone->sh->skew < zone->entry->skew) {
            zone->sh->skew = zone->entry->skew;
        }

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

    ngx_queue_init(&zone->sh->days);
    zone->sh->skew = zone->entry->skew;

    if (RAND_bytes(zone->sh->key, sizeof(zone->sh->key)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "RAND_bytes() failed for snap_replay_zone \"%V\"",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    for (n = 64;
         n * 2 <= shm_zone->shm.size / NGX_HTTP_SNAP_REPLAY_BUCKET_BYTES;
         n *= 2)
    {
        /* void */
    }

    zone->sh->mask = n - 1;
    zone->sh->buckets = ngx_slab_calloc(zone->shpool, n * sizeof(void *));
    if (zone->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_snap_zone_log(shm_zone, zone->shpool, "snap_replay_zone")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* every page left, in one piece: they are all free and in one run */
    for (n = zone->shpool->pfree; n > 0; n--) {
        zone->sh->next = ngx_slab_alloc(zone->shpool, n * ngx_pagesize);
        if (zone->sh->next) {
            break;
        }
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "snap_replay_zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    zone->sh->last = zone->sh->next + n * ngx_pagesize;
    zone->sh->capacity = n * ngx_pagesize / NGX_HTTP_SNAP_REPLAY_SLOT;

    return NGX_OK;
}


/*
 * In each worker, from its start on, every page of every replay zone is
 * read once, a few at a time between events.  A worker does not inherit
 * the master's mappings of shared memory, so otherwise each page faults on
 * its first use in each worker, on the path of the request that first
 * uses it: while a zone filled, one insert in 32 took a fault
 * (docs/PERFORMANCE.md).  Reading also commits the memory the zone will
 * need.
 */

/*
 * One mapper a worker, for every zone: each zone's init_process hands it
 * its zone, the first starts it.
 */
typedef struct {
    ngx_event_t                 event;
    ngx_cycle_t                *cycle;
    ngx_array_t                 zones;        /* ngx_shm_zone_t * */
    ngx_uint_t                  zone;
    u_char                     *next;
    ngx_msec_t                  start;
} ngx_http_snap_replay_map_t;


static ngx_http_snap_replay_map_t  *ngx_http_snap_replay_map;


static void
ngx_http_snap_replay_map_handler(ngx_event_t *ev)
{
    ngx_uint_t                   n;
    ngx_shm_zone_t             **zones;
    ngx_http_snap_replay_map_t  *map;

    map = ev->data;
    zones = map->zones.elts;

    for (n = 0;
         n < NGX_HTTP_SNAP_REPLAY_MAP_PAGES && map->zone < map->zones.nelts;
         n++)
    {
        if (map->next == NULL) {
            map->next = zones[map->zone]->shm.addr;
        }

        (void) *(volatile u_char *) map->next;
        map->next += ngx_pagesize;

        if (map->next >= zones[map->zone]->shm.addr
                         + zones[map->zone]->shm.size)
        {
            map->zone++;
            map->next = NULL;
        }
    }

    if (map->zone < map->zones.nelts) {
        ngx_add_timer(ev, NGX_HTTP_SNAP_REPLAY_MAP_MSEC);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "snap: replay zones mapped in %M ms",
                  ngx_current_msec - map->start);
}


ngx_int_t
ngx_http_snap_store_zone_init_process(ngx_cycle_t *cycle,
    ngx_http_snap_zone_t *entry)
{
    ngx_shm_zone_t              **z;
    ngx_http_snap_replay_map_t   *map;

    map = ngx_http_snap_replay_map;

    if (map == NULL || map->cycle != cycle) {
        map = ngx_pcalloc(cycle->pool, sizeof(ngx_http_snap_replay_map_t));
        if (map == NULL) {
            return NGX_ERROR;
        }

        if (ngx_array_init(&map->zones, cycle->pool, 2,
                           sizeof(ngx_shm_zone_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        map->cycle = cycle;
        map->start = ngx_current_msec;

        map->event.handler = ngx_http_snap_replay_map_handler;
        map->event.data = map;
        map->event.log = cycle->log;
        /* a worker that is shutting down does not wait for it */
        map->event.cancelable = 1;

        ngx_add_timer(&map->event, 0);

        ngx_http_snap_replay_map = map;
    }

    z = ngx_array_push(&map->zones);
    if (z == NULL) {
        return NGX_ERROR;
    }

    *z = entry->shm_zone;

    return NGX_OK;
}


/*
 * How long past the end of its day an entry is kept: the largest skew of
 * any location recording into the zone, since the zone was made (across
 * reloads), and the margin.  A store over the zone keeps ids as long.
 */

time_t
ngx_http_snap_store_zone_kept(ngx_http_snap_zone_t *entry)
{
    ngx_http_snap_replay_zone_t  *zone;

    zone = entry->shm_zone->data;

    return zone->sh->skew + NGX_HTTP_SNAP_REPLAY_MARGIN;
}


/* for the metrics: live ids, and how many the empty zone holds */

static void
ngx_http_snap_store_zone_gauge(void *data, ngx_uint_t *live,
    ngx_uint_t *capacity)
{
    ngx_shm_zone_t               *shm_zone = data;
    ngx_http_snap_replay_zone_t  *zone;

    zone = shm_zone->data;

    /* one word each: read without the lock, a moment's value */
    *live = zone->sh->entries;
    *capacity = zone->sh->capacity;
}


/*
 * The key's bucket, by SipHash under the zone's random key; while the body
 * is read and its signature checked, the bucket is read into the cache
 * ahead of the locked lookup, which would otherwise wait for it.
 */

void
ngx_http_snap_store_zone_prepare(ngx_http_snap_zone_t *entry,
    ngx_http_snap_replay_key_t *key)
{
    size_t                        len;
    u_char                       *slot;
    u_char                        buf[sizeof(uint64_t) + sizeof(int32_t)
                                      + NGX_HTTP_SNAP_LONG_ID_MAX];
    ngx_http_snap_replay_zone_t  *zone;

    zone = entry->shm_zone->data;

    /* ids are checked to be no longer; the comparison reads them whole */
    len = ngx_min(key->id.len, NGX_HTTP_SNAP_LONG_ID_MAX);

    ngx_memcpy(buf, &key->partner, sizeof(uint64_t));
    ngx_memcpy(buf + sizeof(uint64_t), &key->day, sizeof(int32_t));
    ngx_memcpy(buf + sizeof(uint64_t) + sizeof(int32_t), key->id.data, len);

    key->hash = ngx_http_snap_siphash(zone->sh->key, buf,
                                      sizeof(uint64_t) + sizeof(int32_t)
                                      + len);

#if (defined __GNUC__)
    __builtin_prefetch(&zone->sh->buckets[key->hash & zone->sh->mask]);

    /*
     * and, for writing, the slot the insert will most likely take: read
     * without the lock, it is only a guess, and a stale one costs nothing
     */
    slot = (u_char *) *(ngx_http_snap_replay_free_t * volatile *)
                          &zone->sh->free;

    if (slot == NULL) {
        slot = *(u_char * volatile *) &zone->sh->next;
    }

    if (slot < zone->sh->last) {
        __builtin_prefetch(slot, 1);
        __builtin_prefetch(slot + NGX_HTTP_SNAP_REPLAY_SLOT / 2, 1);
    }
#endif
}


/* the link that points at the entry, to read it or to take it out */

static ngx_http_snap_replay_node_t **
ngx_http_snap_replay_lookup(ngx_http_snap_replay_zone_t *zone,
    ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_replay_node_t  **link, *n;

    for (link = &zone->sh->buckets[key->hash & zone->sh->mask];
         *link;
         link = &n->next)
    {
        n = *link;

        if (n->hash == key->hash && n->partner == key->partner
            && n->day == key->day && n->len == key->id.len
            && ngx_memcmp(n->data, key->id.data, key->id.len) == 0)
        {
            return link;
        }
    }

    return NULL;
}


static void
ngx_http_snap_replay_unlink(ngx_http_snap_replay_zone_t *zone,
    ngx_http_snap_replay_node_t *node)
{
    ngx_http_snap_replay_node_t  **link;

    for (link = &zone->sh->buckets[node->hash & zone->sh->mask];
         *link != node;
         link = &(*link)->next)
    {
        /* void */
    }

    *link = node->next;
}


/* frees up to n entries of days that have ended; returns how many */

static ngx_uint_t
ngx_http_snap_replay_reclaim(ngx_http_snap_replay_zone_t *zone, time_t now,
    ngx_uint_t n)
{
    ngx_uint_t                    freed;
    ngx_queue_t                  *q;
    ngx_http_snap_replay_day_t   *day;
    ngx_http_snap_replay_node_t  *rn;

    freed = 0;

    while (freed < n && !ngx_queue_empty(&zone->sh->days)) {

        q = ngx_queue_head(&zone->sh->days);
        day = ngx_queue_data(q, ngx_http_snap_replay_day_t, link);

        /* the day ends at 24:00 WIB */
        if ((day->day + 1) * 86400 - NGX_HTTP_SNAP_WIB_OFFSET
            + zone->sh->skew + NGX_HTTP_SNAP_REPLAY_MARGIN
            > now)
        {
            break;
        }

        if (ngx_queue_empty(&day->entries)) {
            ngx_queue_remove(&day->link);
            ngx_http_snap_replay_free(zone, day);
            continue;
        }

        q = ngx_queue_head(&day->entries);
        ngx_queue_remove(q);

        rn = ngx_queue_data(q, ngx_http_snap_replay_node_t, queue);

        ngx_http_snap_replay_unlink(zone, rn);
        ngx_http_snap_replay_free(zone, rn);

        zone->sh->entries--;
        freed++;
    }

    return freed;
}


/* a slot: a freed one, else one never used, else after reclaiming */

static void *
ngx_http_snap_replay_alloc(ngx_http_snap_replay_zone_t *zone, time_t now)
{
    void                       *p;
    ngx_http_snap_replay_sh_t  *sh;

    sh = zone->sh;

    for ( ;; ) {
        if (sh->free) {
            p = sh->free;
            sh->free = sh->free->next;
            return p;
        }

        if (sh->next < sh->last) {
            p = sh->next;
            sh->next += NGX_HTTP_SNAP_REPLAY_SLOT;
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


static void
ngx_http_snap_replay_free(ngx_http_snap_replay_zone_t *zone, void *slot)
{
    ngx_http_snap_replay_free_t  *f;

    f = slot;
    f->next = zone->sh->free;
    zone->sh->free = f;
}


/* the list of days is short and sorted, the newest at its tail */

static ngx_http_snap_replay_day_t *
ngx_http_snap_replay_day(ngx_http_snap_replay_zone_t *zone, int64_t day,
    time_t now)
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
                    ngx_http_snap_replay_free(zone, nd);
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
        nd = ngx_http_snap_replay_alloc(zone, now);
        if (nd == NULL) {
            return NULL;
        }
    }

    nd->day = day;
    ngx_queue_init(&nd->entries);

    /* after q: the last day older than this one, or the sentinel */
    ngx_queue_insert_after(q, &nd->link);

    return nd;
}


/*
 * Called only once every other check has passed, so a forged request can
 * never use up a real partner's X-EXTERNAL-ID.  The lookup and the insert
 * happen under one lock: of two identical requests, one wins.  The entry
 * made, and its stamp, go into the key, for this request's release.  It
 * always answers at once.
 */

ngx_int_t
ngx_http_snap_store_zone_record(ngx_http_request_t *r,
    ngx_http_snap_zone_t *entry, ngx_http_snap_replay_key_t *key,
    ngx_http_snap_store_done_pt done, void *data, ngx_uint_t *reason)
{
    time_t                         now;
    ngx_http_snap_replay_day_t    *d;
    ngx_http_snap_replay_zone_t   *zone;
    ngx_http_snap_replay_node_t   *rn, **bucket;

    zone = entry->shm_zone->data;
    now = ngx_time();

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ngx_http_snap_replay_lookup(zone, key)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        *reason = NGX_HTTP_SNAP_REPLAY;
        return NGX_DECLINED;
    }

    (void) ngx_http_snap_replay_reclaim(zone, now,
                                        NGX_HTTP_SNAP_REPLAY_RECLAIM);

    rn = ngx_http_snap_replay_alloc(zone, now);
    d = rn ? ngx_http_snap_replay_day(zone, key->day, now) : NULL;

    if (d == NULL) {
        if (rn) {
            ngx_http_snap_replay_free(zone, rn);
        }

        if (!zone->sh->full) {
            zone->sh->full = 1;

            if (entry->store != &ngx_http_snap_store_zone) {
                /* another store holds the truth: the zone is its cache */
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "snap: replay zone \"%V\" is full with %ui "
                              "live ids; its %V store decides alone until "
                              "ids expire (a same-node replay costs a round "
                              "trip); make the zone larger at a quiet time",
                              &zone->name, zone->sh->entries,
                              &entry->store->name);

            } else {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                              "snap: replay zone \"%V\" is full with %ui "
                              "live ids, requests are refused until ids "
                              "expire; a resized zone starts empty and "
                              "would take the day's replays again: declare "
                              "a larger zone under a new name beside this "
                              "one and point snap_replay at it a day later "
                              "(README \"Replay protection\"), or keep ids "
                              "in Redis (snap_replay_redis)",
                              &zone->name, zone->sh->entries);
            }
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        *reason = NGX_HTTP_SNAP_ZONE_FULL;
        return NGX_DECLINED;
    }

    zone->sh->full = 0;

    rn->stamp = ++zone->sh->stamp;
    key->entry = rn;
    key->stamp = rn->stamp;

    rn->hash = key->hash;
    rn->len = (u_char) key->id.len;
    rn->day = key->day;
    rn->partner = key->partner;
    ngx_memcpy(rn->data, key->id.data, key->id.len);

    bucket = &zone->sh->buckets[key->hash & zone->sh->mask];
    rn->next = *bucket;
    *bucket = rn;

    ngx_queue_insert_tail(&d->entries, &rn->queue);

    zone->sh->entries++;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * This request's own entry, and only it, while it is still there: not
 * another request's record of the same id made since this one's was
 * released, nor an entry in the slot this one's had.
 */

void
ngx_http_snap_store_zone_release(ngx_http_request_t *r,
    ngx_http_snap_zone_t *entry, ngx_http_snap_replay_key_t *key)
{
    ngx_http_snap_replay_zone_t   *zone;
    ngx_http_snap_replay_node_t   *rn, **link;

    if (key->entry == NULL) {
        return;
    }

    zone = entry->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);

    link = ngx_http_snap_replay_lookup(zone, key);

    if (link && *link == key->entry && (*link)->stamp == key->stamp) {
        rn = *link;
        *link = rn->next;

        ngx_queue_remove(&rn->queue);
        ngx_http_snap_replay_free(zone, rn);

        zone->sh->entries--;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    key->entry = NULL;
}
