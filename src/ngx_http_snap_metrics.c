
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Metrics: snap_metrics_zone and the snap_metrics endpoint.  Every series
 * the configuration can produce is listed once the http block is read
 * (partners are configured snap_client ids, never a header's value, so
 * their number is bounded); the zone's setup finds each in the zone by its
 * exposition text, or adds it, and keeps a pointer to its counters.  At
 * run time a request's outcome, counted in the log phase, costs one
 * atomic increment and no lock.  A zone kept over a reload keeps every
 * counter whose series still exists.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_error.h"
#include "ngx_http_snap_metrics.h"


typedef enum {
    NGX_HTTP_SNAP_M_REQUESTS = 0,
    NGX_HTTP_SNAP_M_TOKENS,
    NGX_HTTP_SNAP_M_NGINX,
    NGX_HTTP_SNAP_M_UPSTREAM,
    NGX_HTTP_SNAP_M_KEYS,
    NGX_HTTP_SNAP_M_RECORDED,
    NGX_HTTP_SNAP_M_DUPLICATES,
    NGX_HTTP_SNAP_M_FULL,
    NGX_HTTP_SNAP_M_IDS,
    NGX_HTTP_SNAP_M_CAPACITY,
    NGX_HTTP_SNAP_M_ROUND_TRIPS,
    NGX_HTTP_SNAP_M_STORE_ERRORS,
    NGX_HTTP_SNAP_M_FALLBACKS,
    NGX_HTTP_SNAP_M_LATENCY,
    NGX_HTTP_SNAP_M_PRIMARY,
    NGX_HTTP_SNAP_M_OUTBOUND,
    NGX_HTTP_SNAP_M_FETCHES,
    NGX_HTTP_SNAP_M_FAMILIES
} ngx_http_snap_family_e;


#define NGX_HTTP_SNAP_M_COUNTER    0
#define NGX_HTTP_SNAP_M_GAUGE      1
#define NGX_HTTP_SNAP_M_HISTOGRAM  2


typedef struct {
    const char                 *name;
    ngx_uint_t                  type;
    const char                 *help;
} ngx_http_snap_family_t;


typedef struct {
    ngx_uint_t                  family;
    ngx_uint_t                  nlabels;
    ngx_http_snap_prom_label_t  labels[NGX_HTTP_SNAP_PROM_LABELS];
    ngx_atomic_t               *values;
    /* read at each scrape, not counted: a replay zone's gauge, a Redis
     * store's primary (its address a label of the sample) */
    ngx_http_snap_metrics_gauge_pt    gauge;
    ngx_http_snap_metrics_primary_pt  primary;
    void                             *data;
} ngx_http_snap_series_t;


#define ngx_http_snap_series_counted(s)                                      \
    ((s)->gauge == NULL && (s)->primary == NULL)


/* a replay zone a room registered, and how to read its gauges */
typedef struct {
    ngx_str_t                       name;
    ngx_http_snap_metrics_gauge_pt  gauge;
    void                           *data;
} ngx_http_snap_metrics_zone_t;


/* a Redis store a room registered, and how to read its primary */
typedef struct {
    ngx_str_t                         zone;
    ngx_http_snap_metrics_primary_pt  primary;
    void                             *data;
} ngx_http_snap_metrics_store_t;


/*
 * A series in the zone, found by its exposition text (which follows it),
 * with its counters in a block apart: a series freed at a reload keeps its
 * block from the next series until the reload after, as the previous
 * configuration's workers may count into it until they exit.
 */
typedef struct {
    ngx_str_node_t              sn;
    ngx_uint_t                  generation;   /* the last listing it */
    ngx_atomic_t               *values;
    ngx_uint_t                  histogram;    /* the block's kind */
} ngx_http_snap_metrics_node_t;


typedef struct ngx_http_snap_metrics_free_s  ngx_http_snap_metrics_free_t;

struct ngx_http_snap_metrics_free_s {
    ngx_http_snap_metrics_free_t  *next;
};


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_uint_t                     generation;   /* of the configuration */
    /* blocks of one counter, and of a histogram's: free, and freed at
     * this reload */
    ngx_http_snap_metrics_free_t  *free[2];
    ngx_http_snap_metrics_free_t  *retired[2];
} ngx_http_snap_metrics_sh_t;


/* the longest exposition text of a series: labels are bounded names */
#define NGX_HTTP_SNAP_M_KEY_MAX  1024


/*
 * Made by the first room that registers something, or by
 * snap_metrics_zone: without the zone, nothing is counted.
 */
struct ngx_http_snap_metrics_s {
    ngx_str_t                   name;
    ngx_str_t                   file;         /* of snap_metrics_zone */
    ngx_uint_t                  line;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_snap_metrics_sh_t *sh;
    ngx_slab_pool_t            *shpool;

    /* what the rooms registered: replay zones, Redis stores, providers */
    ngx_array_t                 zones;   /* ngx_http_snap_metrics_zone_t */
    ngx_array_t                 stores;  /* ngx_http_snap_metrics_store_t */
    ngx_array_t                 providers;    /* ngx_str_t */

    ngx_str_t                   endpoint_file;   /* the first snap_metrics */
    ngx_uint_t                  endpoint_line;

    ngx_array_t                 series;       /* ngx_http_snap_series_t */
    ngx_uint_t                  first[NGX_HTTP_SNAP_M_FAMILIES];
    ngx_uint_t                  partners;     /* clients, and "unknown" */
    ngx_uint_t                  services;
    ngx_uint_t                 *keys;         /* a client's first key */
};


/* an answer's status, counted by its class */
#define NGX_HTTP_SNAP_M_CLASSES  5

static ngx_str_t  ngx_http_snap_classes[NGX_HTTP_SNAP_M_CLASSES] = {
    ngx_string("1xx"), ngx_string("2xx"), ngx_string("3xx"),
    ngx_string("4xx"), ngx_string("5xx")
};


/* Redis round-trip buckets, in microseconds, then +Inf */
#define NGX_HTTP_SNAP_M_BUCKETS  14

static uint64_t  ngx_http_snap_bucket_us[NGX_HTTP_SNAP_M_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000
};

static ngx_str_t  ngx_http_snap_bucket_le[NGX_HTTP_SNAP_M_BUCKETS] = {
    ngx_string("0.0001"), ngx_string("0.00025"), ngx_string("0.0005"),
    ngx_string("0.001"), ngx_string("0.0025"), ngx_string("0.005"),
    ngx_string("0.01"), ngx_string("0.025"), ngx_string("0.05"),
    ngx_string("0.1"), ngx_string("0.25"), ngx_string("0.5"),
    ngx_string("1"), ngx_string("+Inf")
};

/* the buckets, then the sum in microseconds */
#define NGX_HTTP_SNAP_M_LATENCY_VALUES  (NGX_HTTP_SNAP_M_BUCKETS + 1)


/* accepted, or each reason */
#define NGX_HTTP_SNAP_M_OUTCOMES  (NGX_HTTP_SNAP_REASONS + 1)

/*
 * A request's outcome, derived from the module's verdict on it: none yet,
 * accepted (for snap_sign: signed), or refused for a reason (under
 * snap_enforce off, the reason it would have been).  A request nginx
 * refused before the module's verdict has nginx's reason.  Counted as
 * outcome - 1, so that accepted is the first of NGX_HTTP_SNAP_M_OUTCOMES.
 */
#define NGX_HTTP_SNAP_OUTCOME_NONE       0
#define NGX_HTTP_SNAP_OUTCOME_ACCEPTED   1
#define NGX_HTTP_SNAP_OUTCOME(reason)    ((reason) + 2)


static ngx_http_snap_family_t  ngx_http_snap_families[] = {
    { "snap_requests_total", NGX_HTTP_SNAP_M_COUNTER,
      "Transactional requests verified, by partner, service code, outcome "
      "and whether the verdict was enforced." },
    { "snap_token_requests_total", NGX_HTTP_SNAP_M_COUNTER,
      "Access Token B2B calls, by partner and outcome." },
    { "snap_nginx_errors_total", NGX_HTTP_SNAP_M_COUNTER,
      "Errors nginx made itself in snap locations, answered as SNAP JSON, "
      "by partner and reason." },
    { "snap_upstream_responses_total", NGX_HTTP_SNAP_M_COUNTER,
      "Answers to the requests passed on, by partner, service code and "
      "status class: what the application behind answered." },
    { "snap_verified_keys_total", NGX_HTTP_SNAP_M_COUNTER,
      "Signatures verified, by partner and the key of its snap_client "
      "line that verified them (secretN, keyN)." },
    { "snap_replay_recorded_total", NGX_HTTP_SNAP_M_COUNTER,
      "X-EXTERNAL-IDs recorded in the replay store." },
    { "snap_replay_duplicates_total", NGX_HTTP_SNAP_M_COUNTER,
      "X-EXTERNAL-IDs found already used that day." },
    { "snap_replay_zone_full_total", NGX_HTTP_SNAP_M_COUNTER,
      "Requests refused because the replay zone was full." },
    { "snap_replay_ids", NGX_HTTP_SNAP_M_GAUGE,
      "X-EXTERNAL-IDs live in the replay zone." },
    { "snap_replay_capacity_ids", NGX_HTTP_SNAP_M_GAUGE,
      "X-EXTERNAL-IDs of 36 characters the empty replay zone holds." },
    { "snap_replay_store_requests_total", NGX_HTTP_SNAP_M_COUNTER,
      "Round trips to the replay zone's Redis that were answered." },
    { "snap_replay_store_errors_total", NGX_HTTP_SNAP_M_COUNTER,
      "Writes to the replay zone's Redis that failed, by kind." },
    { "snap_replay_store_fallbacks_total", NGX_HTTP_SNAP_M_COUNTER,
      "Requests decided by the node's zone alone because Redis failed "
      "(on_error=local)." },
    { "snap_replay_store_seconds", NGX_HTTP_SNAP_M_HISTOGRAM,
      "Round-trip time of the replay zone's Redis writes." },
    { "snap_replay_store_primary", NGX_HTTP_SNAP_M_GAUGE,
      "The Redis primary of the replay zone: 1 while in use by the worker "
      "that answers, 0 for the last one when none is." },
    { "snap_outbound_requests_total", NGX_HTTP_SNAP_M_COUNTER,
      "Requests snap_sign signed for a provider, or refused, by outcome." },
    { "snap_outbound_token_fetches_total", NGX_HTTP_SNAP_M_COUNTER,
      "Token calls made to a provider, by outcome." }
};


static ngx_str_t  ngx_http_snap_store_kinds[] = {
    ngx_string("down"),
    ngx_string("timeout"),
    ngx_string("closed"),
    ngx_string("error_reply"),
    ngx_string("readonly"),
    ngx_string("loading"),
    ngx_string("failover"),
    ngx_string("wait")
};

static ngx_str_t  ngx_http_snap_fetch_outcomes[] = {
    ngx_string("ok"),
    ngx_string("refused"),
    ngx_string("failed"),
    ngx_string("internal")
};


static ngx_http_snap_metrics_t *ngx_http_snap_metrics_conf(ngx_conf_t *cf);
static ngx_uint_t ngx_http_snap_outcome(ngx_http_snap_ctx_t *ctx);
static ngx_int_t ngx_http_snap_metrics_add(ngx_conf_t *cf,
    ngx_http_snap_metrics_t *m, ngx_uint_t family, ngx_uint_t n, ...);
static ngx_int_t ngx_http_snap_metrics_keys(ngx_conf_t *cf,
    ngx_http_snap_metrics_t *m, ngx_http_snap_client_t *clients,
    ngx_uint_t nclients);
static ngx_str_t *ngx_http_snap_outcome_name(ngx_uint_t outcome,
    ngx_uint_t sign);
static ngx_int_t ngx_http_snap_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_atomic_t *ngx_http_snap_metrics_find(ngx_http_snap_metrics_t *m,
    ngx_http_snap_series_t *s, ngx_uint_t add);
static size_t ngx_http_snap_metrics_need(ngx_http_snap_metrics_t *m,
    ngx_http_snap_series_t *s);
static ngx_int_t ngx_http_snap_metrics_expire(ngx_http_snap_metrics_t *m,
    ngx_log_t *log);
static size_t ngx_http_snap_metrics_write(ngx_http_snap_metrics_t *m,
    u_char *dst);
static size_t ngx_http_snap_metrics_histogram(ngx_http_snap_series_t *s,
    u_char *dst);
static size_t ngx_http_snap_metrics_primary(ngx_http_snap_series_t *s,
    u_char *dst);
static ngx_int_t ngx_http_snap_metrics_handler(ngx_http_request_t *r);
static ngx_http_snap_metrics_t *ngx_http_snap_metrics_get(
    ngx_http_request_t *r);
static ngx_inline void ngx_http_snap_metrics_inc(ngx_http_snap_metrics_t *m,
    ngx_uint_t i, ngx_uint_t by);


static ngx_str_t  ngx_http_snap_accepted = ngx_string("accepted");
static ngx_str_t  ngx_http_snap_signed = ngx_string("signed");
static ngx_str_t  ngx_http_snap_unknown = ngx_string("unknown");
static ngx_str_t  ngx_http_snap_enforced[] = {
    ngx_string("false"),
    ngx_string("true")
};


/* the registry, made by whichever comes first */

static ngx_http_snap_metrics_t *
ngx_http_snap_metrics_conf(ngx_conf_t *cf)
{
    ngx_http_snap_metrics_t    *m;
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    if (smcf->metrics) {
        return smcf->metrics;
    }

    m = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_metrics_t));
    if (m == NULL) {
        return NULL;
    }

    if (ngx_array_init(&m->zones, cf->pool, 2,
                       sizeof(ngx_http_snap_metrics_zone_t))
        != NGX_OK
        || ngx_array_init(&m->stores, cf->pool, 1,
                          sizeof(ngx_http_snap_metrics_store_t))
           != NGX_OK
        || ngx_array_init(&m->providers, cf->pool, 1, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NULL;
    }

    smcf->metrics = m;

    return m;
}


/* snap_metrics_zone NAME:SIZE */

char *
ngx_http_snap_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                *value;
    ngx_http_snap_metrics_t  *m;

    m = ngx_http_snap_metrics_conf(cf);
    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    if (m->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    m->shm_zone = ngx_http_snap_zone_add(cf, &value[1], &m->name,
                                         &ngx_http_snap_metrics_zone);
    if (m->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    m->shm_zone->init = ngx_http_snap_metrics_init_zone;
    m->shm_zone->data = m;
    m->file = cf->conf_file->file.name;
    m->line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* snap_metrics: the Prometheus endpoint, a content handler */

char *
ngx_http_snap_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_snap_metrics_t   *m;

    if (ngx_http_snap_conf_role(cf, cmd, slcf, NGX_HTTP_SNAP_ROLE_METRICS)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    m = ngx_http_snap_metrics_conf(cf);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (m == NULL) {
        return NGX_CONF_ERROR;
    }

    if (clcf->handler) {
        return "is mixed with another content handler";
    }

    clcf->handler = ngx_http_snap_metrics_handler;

    if (m->endpoint_file.len == 0) {
        m->endpoint_file = cf->conf_file->file.name;
        m->endpoint_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


/* a replay zone's counters and gauges: its index among them */

ngx_int_t
ngx_http_snap_metrics_add_zone(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_snap_metrics_gauge_pt gauge, void *data)
{
    ngx_http_snap_metrics_t       *m;
    ngx_http_snap_metrics_zone_t  *z;

    m = ngx_http_snap_metrics_conf(cf);
    if (m == NULL) {
        return NGX_ERROR;
    }

    z = ngx_array_push(&m->zones);
    if (z == NULL) {
        return NGX_ERROR;
    }

    z->name = *name;
    z->gauge = gauge;
    z->data = data;

    return m->zones.nelts - 1;
}


/* a Redis store's series, by its zone: its index among them */

ngx_int_t
ngx_http_snap_metrics_add_store(ngx_conf_t *cf, ngx_str_t *zone,
    ngx_http_snap_metrics_primary_pt primary, void *data)
{
    ngx_http_snap_metrics_t        *m;
    ngx_http_snap_metrics_store_t  *s;

    m = ngx_http_snap_metrics_conf(cf);
    if (m == NULL) {
        return NGX_ERROR;
    }

    s = ngx_array_push(&m->stores);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->zone = *zone;
    s->primary = primary;
    s->data = data;

    return m->stores.nelts - 1;
}


/* a provider's series: its index among them */

ngx_int_t
ngx_http_snap_metrics_add_provider(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_str_t                *s;
    ngx_http_snap_metrics_t  *m;

    m = ngx_http_snap_metrics_conf(cf);
    if (m == NULL) {
        return NGX_ERROR;
    }

    s = ngx_array_push(&m->providers);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *name;

    return m->providers.nelts - 1;
}


/* a snap_verify location's service code: its index in the label set */

ngx_int_t
ngx_http_snap_metrics_service(ngx_conf_t *cf, ngx_uint_t code)
{
    ngx_uint_t                 *c, i;
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    c = smcf->services.elts;

    for (i = 0; i < smcf->services.nelts; i++) {
        if (c[i] == code) {
            return i;
        }
    }

    c = ngx_array_push(&smcf->services);
    if (c == NULL) {
        return NGX_ERROR;
    }

    *c = code;

    return i;
}


/*
 * Once the http block is read: every series, family by family, in the
 * order the endpoint lists them and the hot path indexes them.
 */

ngx_int_t
ngx_http_snap_metrics_init(ngx_conf_t *cf)
{
    u_char                        *p;
    ngx_str_t                     *code, *partner, *service, *outcome;
    ngx_str_t                     *prov;
    ngx_uint_t                     i, k, o, e, s, *sc, nclients;
    ngx_http_snap_client_t        *clients;
    ngx_http_snap_metrics_t       *m;
    ngx_http_snap_series_t        *last;
    ngx_http_snap_main_conf_t     *smcf;
    ngx_http_snap_metrics_zone_t  *zones;
    ngx_http_snap_metrics_store_t *stores;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
    m = smcf->metrics;

    if (m == NULL || m->shm_zone == NULL) {
        if (m && m->endpoint_file.len) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"snap_metrics\" needs \"snap_metrics_zone\" in "
                          "the http block in %V:%ui", &m->endpoint_file,
                          m->endpoint_line);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_array_init(&m->series, cf->pool, 64,
                       sizeof(ngx_http_snap_series_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    clients = smcf->clients.elts;
    nclients = smcf->clients.nelts;
    m->partners = nclients + 1;
    m->services = smcf->services.nelts;

    /* one more than needed: a configuration may have no snap_verify */
    code = ngx_palloc(cf->pool, (m->services + 1) * sizeof(ngx_str_t));
    p = ngx_pnalloc(cf->pool, m->services * 2 + 1);
    if (code == NULL || p == NULL) {
        return NGX_ERROR;
    }

    sc = smcf->services.elts;

    for (s = 0; s < m->services; s++) {
        code[s].data = p;
        code[s].len = 2;
        p = ngx_sprintf(p, "%02ui", sc[s] % 100);
    }

    m->first[NGX_HTTP_SNAP_M_REQUESTS] = m->series.nelts;

    for (i = 0; i < m->partners; i++) {
        partner = (i < nclients) ? &clients[i].id : &ngx_http_snap_unknown;

        for (s = 0; s < m->services; s++) {
            service = &code[s];

            for (o = 0; o < NGX_HTTP_SNAP_M_OUTCOMES; o++) {
                outcome = ngx_http_snap_outcome_name(o, 0);

                for (e = 0; e < 2; e++) {
                    if (ngx_http_snap_metrics_add(cf, m,
                            NGX_HTTP_SNAP_M_REQUESTS, 4,
                            "partner", partner, "service", service,
                            "outcome", outcome,
                            "enforced", &ngx_http_snap_enforced[e])
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }
                }
            }
        }
    }

    m->first[NGX_HTTP_SNAP_M_TOKENS] = m->series.nelts;

    for (i = 0; i < m->partners; i++) {
        partner = (i < nclients) ? &clients[i].id : &ngx_http_snap_unknown;

        for (o = 0; o < NGX_HTTP_SNAP_M_OUTCOMES; o++) {
            if (ngx_http_snap_metrics_add(cf, m, NGX_HTTP_SNAP_M_TOKENS, 2,
                    "partner", partner,
                    "outcome", ngx_http_snap_outcome_name(o, 0))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    m->first[NGX_HTTP_SNAP_M_NGINX] = m->series.nelts;

    for (i = 0; i < m->partners; i++) {
        partner = (i < nclients) ? &clients[i].id : &ngx_http_snap_unknown;

        for (o = 0; o < NGX_HTTP_SNAP_REASONS; o++) {
            if (ngx_http_snap_metrics_add(cf, m, NGX_HTTP_SNAP_M_NGINX, 2,
                                          "partner", partner, "reason",
                                          ngx_http_snap_reason_name(o))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    m->first[NGX_HTTP_SNAP_M_UPSTREAM] = m->series.nelts;

    for (i = 0; i < m->partners; i++) {
        partner = (i < nclients) ? &clients[i].id : &ngx_http_snap_unknown;

        for (s = 0; s < m->services; s++) {
            for (o = 0; o < NGX_HTTP_SNAP_M_CLASSES; o++) {
                if (ngx_http_snap_metrics_add(cf, m,
                        NGX_HTTP_SNAP_M_UPSTREAM, 3,
                        "partner", partner, "service", &code[s],
                        "status", &ngx_http_snap_classes[o])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    if (ngx_http_snap_metrics_keys(cf, m, clients, nclients) != NGX_OK) {
        return NGX_ERROR;
    }

    zones = m->zones.elts;

    for (k = NGX_HTTP_SNAP_M_RECORDED; k <= NGX_HTTP_SNAP_M_CAPACITY; k++) {
        m->first[k] = m->series.nelts;

        for (i = 0; i < m->zones.nelts; i++) {
            if (ngx_http_snap_metrics_add(cf, m, k, 1,
                                          "zone", &zones[i].name)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (k >= NGX_HTTP_SNAP_M_IDS) {
                last = m->series.elts;
                last[m->series.nelts - 1].gauge = zones[i].gauge;
                last[m->series.nelts - 1].data = zones[i].data;
            }
        }
    }

    stores = m->stores.elts;

    for (k = NGX_HTTP_SNAP_M_ROUND_TRIPS; k <= NGX_HTTP_SNAP_M_PRIMARY; k++) {
        m->first[k] = m->series.nelts;

        for (i = 0; i < m->stores.nelts; i++) {

            if (k != NGX_HTTP_SNAP_M_STORE_ERRORS) {
                if (ngx_http_snap_metrics_add(cf, m, k, 1,
                                              "zone", &stores[i].zone)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (k == NGX_HTTP_SNAP_M_PRIMARY) {
                    last = m->series.elts;
                    last[m->series.nelts - 1].primary = stores[i].primary;
                    last[m->series.nelts - 1].data = stores[i].data;
                }

                continue;
            }

            for (e = 0; e < NGX_HTTP_SNAP_STORE_KINDS; e++) {
                if (ngx_http_snap_metrics_add(cf, m, k, 2,
                                              "zone", &stores[i].zone, "kind",
                                              &ngx_http_snap_store_kinds[e])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    prov = m->providers.elts;

    m->first[NGX_HTTP_SNAP_M_OUTBOUND] = m->series.nelts;

    for (i = 0; i < m->providers.nelts; i++) {
        for (o = 0; o < NGX_HTTP_SNAP_M_OUTCOMES; o++) {
            if (ngx_http_snap_metrics_add(cf, m, NGX_HTTP_SNAP_M_OUTBOUND, 2,
                    "provider", &prov[i],
                    "outcome", ngx_http_snap_outcome_name(o, 1))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    m->first[NGX_HTTP_SNAP_M_FETCHES] = m->series.nelts;

    for (i = 0; i < m->providers.nelts; i++) {
        for (o = 0; o < NGX_HTTP_SNAP_FETCH_OUTCOMES; o++) {
            if (ngx_http_snap_metrics_add(cf, m, NGX_HTTP_SNAP_M_FETCHES, 2,
                    "provider", &prov[i],
                    "outcome", &ngx_http_snap_fetch_outcomes[o])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * A series a key of each partner: its secrets, then its public keys, in
 * the order of its snap_client line, named as $snap_key names them
 */

static ngx_int_t
ngx_http_snap_metrics_keys(ngx_conf_t *cf, ngx_http_snap_metrics_t *m,
    ngx_http_snap_client_t *clients, ngx_uint_t nclients)
{
    u_char      *p;
    ngx_str_t    key;
    ngx_uint_t   i, k, n;

    m->first[NGX_HTTP_SNAP_M_KEYS] = m->series.nelts;

    m->keys = ngx_palloc(cf->pool, (nclients + 1) * sizeof(ngx_uint_t));
    if (m->keys == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < nclients; i++) {
        m->keys[i] = m->series.nelts;
        n = clients[i].secrets.nelts + clients[i].pkeys.nelts;

        for (k = 0; k < n; k++) {
            p = ngx_pnalloc(cf->pool, sizeof("secret") + NGX_INT_T_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            key.data = p;
            key.len = (k < clients[i].secrets.nelts)
                      ? ngx_sprintf(p, "secret%ui", k + 1) - p
                      : ngx_sprintf(p, "key%ui",
                                    k - clients[i].secrets.nelts + 1) - p;

            if (ngx_http_snap_metrics_add(cf, m, NGX_HTTP_SNAP_M_KEYS, 2,
                                          "partner", &clients[i].id,
                                          "key", &key)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    m->keys[nclients] = m->series.nelts;

    return NGX_OK;
}


static ngx_str_t *
ngx_http_snap_outcome_name(ngx_uint_t outcome, ngx_uint_t sign)
{
    if (outcome == 0) {
        return sign ? &ngx_http_snap_signed : &ngx_http_snap_accepted;
    }

    return ngx_http_snap_reason_name(outcome - 1);
}


/* a series: n pairs of a label's name and its value (ngx_str_t *) */

static ngx_int_t
ngx_http_snap_metrics_add(ngx_conf_t *cf, ngx_http_snap_metrics_t *m,
    ngx_uint_t family, ngx_uint_t n, ...)
{
    va_list                  args;
    ngx_str_t               *v;
    ngx_uint_t               i;
    ngx_http_snap_series_t  *s;

    s = ngx_array_push(&m->series);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(s, sizeof(ngx_http_snap_series_t));

    s->family = family;
    s->nlabels = n;

    va_start(args, n);

    for (i = 0; i < n; i++) {
        s->labels[i].name = va_arg(args, const char *);
        v = va_arg(args, ngx_str_t *);
        s->labels[i].value = v->data;
        s->labels[i].len = v->len;
    }

    va_end(args);

    return NGX_OK;
}


/*
 * In the master, at start and at every reload: each series found in the
 * zone by its text, or added; every series no longer listed is freed.
 * Workers of the previous configuration go on counting into their series
 * until they exit, through pointers to the counters: so the counters of a
 * freed series are kept apart, in blocks given to a new series only at the
 * next reload.  A zone too small for the series fails nginx -t.
 */

static ngx_int_t
ngx_http_snap_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_snap_metrics_t  *om = data;

    size_t                        need;
    ngx_uint_t                    i, k, missing;
    ngx_http_snap_series_t       *s;
    ngx_http_snap_metrics_t      *m;
    ngx_http_snap_metrics_sh_t   *sh;
    ngx_http_snap_metrics_node_t *node;

    m = shm_zone->data;

    if (om) {
        m->sh = om->sh;
        m->shpool = om->shpool;

    } else {
        m->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            m->sh = m->shpool->data;

        } else {
            m->sh = ngx_slab_calloc(m->shpool,
                                    sizeof(ngx_http_snap_metrics_sh_t));
            if (m->sh == NULL) {
                return NGX_ERROR;
            }

            m->shpool->data = m->sh;

            ngx_rbtree_init(&m->sh->rbtree, &m->sh->sentinel,
                            ngx_str_rbtree_insert_value);

            if (ngx_http_snap_zone_log(shm_zone, m->shpool,
                                       "snap_metrics_zone")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    sh = m->sh;

    ngx_shmtx_lock(&m->shpool->mutex);

    sh->generation++;

    /* the counters freed a reload ago: their workers have gone since */
    for (k = 0; k < 2; k++) {
        while (sh->retired[k]) {
            node = (ngx_http_snap_metrics_node_t *) sh->retired[k];
            sh->retired[k] = sh->retired[k]->next;
            ((ngx_http_snap_metrics_free_t *) node)->next = sh->free[k];
            sh->free[k] = (ngx_http_snap_metrics_free_t *) node;
        }
    }

    s = m->series.elts;
    missing = 0;

    for (i = 0; i < m->series.nelts; i++) {
        if (!ngx_http_snap_series_counted(&s[i])) {
            continue;
        }

        s[i].values = ngx_http_snap_metrics_find(m, &s[i], 0);

        if (s[i].values == NULL) {
            missing++;
        }
    }

    if (ngx_http_snap_metrics_expire(m, shm_zone->shm.log) != NGX_OK) {
        ngx_shmtx_unlock(&m->shpool->mutex);
        return NGX_ERROR;
    }

    need = 0;

    for (i = 0; missing && i < m->series.nelts; i++) {
        if (!ngx_http_snap_series_counted(&s[i]) || s[i].values) {
            continue;
        }

        s[i].values = ngx_http_snap_metrics_find(m, &s[i], 1);

        if (s[i].values == NULL) {
            need = ngx_http_snap_metrics_need(m, &s[i]);

            /* what the rest needs, for the message */
            for (i++; i < m->series.nelts; i++) {
                if (ngx_http_snap_series_counted(&s[i])
                    && s[i].values == NULL)
                {
                    need += ngx_http_snap_metrics_need(m, &s[i]);
                }
            }

            break;
        }
    }

    ngx_shmtx_unlock(&m->shpool->mutex);

    if (need) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "snap_metrics_zone \"%V\" is too small for the "
                      "%ui series of this configuration, make it larger "
                      "(about %uzk) in %V:%ui",
                      &shm_zone->shm.name, m->series.nelts,
                      (shm_zone->shm.size + need) / 1024 + 1, &m->file,
                      m->line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The series' counters in the zone: found by its text (marked as listed
 * by this configuration), or with add set, added.  NULL when not found,
 * or when the zone has no room for it.  Under the zone's lock.
 */

static ngx_atomic_t *
ngx_http_snap_metrics_find(ngx_http_snap_metrics_t *m,
    ngx_http_snap_series_t *s, ngx_uint_t add)
{
    u_char                        *p;
    size_t                         len;
    uint32_t                       hash;
    ngx_str_t                      key;
    ngx_uint_t                     n, k;
    ngx_atomic_t                  *values;
    ngx_str_node_t                *sn;
    ngx_http_snap_family_t        *f;
    ngx_http_snap_metrics_sh_t    *sh;
    ngx_http_snap_metrics_node_t  *node;
    u_char                         buf[NGX_HTTP_SNAP_M_KEY_MAX];

    sh = m->sh;
    f = &ngx_http_snap_families[s->family];

    /* the series' sample line at 0 is its key */
    len = ngx_http_snap_prom_sample(NULL, f->name, NULL, s->labels,
                                    s->nlabels, 0, 0);
    if (len > sizeof(buf)) {
        return NULL;
    }

    key.data = buf;
    key.len = ngx_http_snap_prom_sample(buf, f->name, NULL, s->labels,
                                        s->nlabels, 0, 0);

    hash = ngx_crc32_short(key.data, key.len);

    sn = ngx_str_rbtree_lookup(&sh->rbtree, &key, hash);

    if (sn) {
        node = (ngx_http_snap_metrics_node_t *) sn;
        node->generation = sh->generation;
        return node->values;
    }

    if (!add) {
        return NULL;
    }

    k = (f->type == NGX_HTTP_SNAP_M_HISTOGRAM) ? 1 : 0;
    n = k ? NGX_HTTP_SNAP_M_LATENCY_VALUES : 1;

    node = ngx_slab_alloc_locked(m->shpool,
                                 sizeof(ngx_http_snap_metrics_node_t)
                                 + key.len);
    if (node == NULL) {
        return NULL;
    }

    if (sh->free[k]) {
        values = (ngx_atomic_t *) sh->free[k];
        sh->free[k] = sh->free[k]->next;

    } else {
        values = ngx_slab_alloc_locked(m->shpool, n * sizeof(ngx_atomic_t));
        if (values == NULL) {
            ngx_slab_free_locked(m->shpool, node);
            return NULL;
        }
    }

    ngx_memzero((void *) values, n * sizeof(ngx_atomic_t));

    p = (u_char *) node + sizeof(ngx_http_snap_metrics_node_t);
    ngx_memcpy(p, key.data, key.len);

    node->sn.str.data = p;
    node->sn.str.len = key.len;
    node->sn.node.key = hash;
    node->generation = sh->generation;
    node->values = values;
    node->histogram = k;

    ngx_rbtree_insert(&sh->rbtree, &node->sn.node);

    return values;
}


/* what a series not yet in the zone takes of it, for the message */

static size_t
ngx_http_snap_metrics_need(ngx_http_snap_metrics_t *m,
    ngx_http_snap_series_t *s)
{
    size_t                   size, slot, total;
    ngx_uint_t               i;
    ngx_http_snap_family_t  *f;

    f = &ngx_http_snap_families[s->family];

    size = sizeof(ngx_http_snap_metrics_node_t)
           + ngx_http_snap_prom_sample(NULL, f->name, NULL, s->labels,
                                       s->nlabels, 0, 0);
    total = 0;

    for (i = 0; i < 2; i++) {
        for (slot = 8; slot < size; slot *= 2) { /* void */ }

        total += slot;
        size = ((f->type == NGX_HTTP_SNAP_M_HISTOGRAM)
                ? NGX_HTTP_SNAP_M_LATENCY_VALUES : 1) * sizeof(ngx_atomic_t);
    }

    return total;
}


/*
 * The series this configuration does not list (a partner, a provider or a
 * zone gone), freed: their text now, their counters at the next reload.
 * Under the zone's lock.
 */

static ngx_int_t
ngx_http_snap_metrics_expire(ngx_http_snap_metrics_t *m, ngx_log_t *log)
{
    ngx_uint_t                      n, i;
    ngx_rbtree_node_t              *rn, **stale;
    ngx_http_snap_metrics_sh_t     *sh;
    ngx_http_snap_metrics_free_t   *f;
    ngx_http_snap_metrics_node_t   *node;

    sh = m->sh;
    n = 0;

    if (sh->rbtree.root == sh->rbtree.sentinel) {
        return NGX_OK;
    }

    for (rn = ngx_rbtree_min(sh->rbtree.root, sh->rbtree.sentinel);
         rn;
         rn = ngx_rbtree_next(&sh->rbtree, rn))
    {
        node = (ngx_http_snap_metrics_node_t *) rn;
        n += (node->generation != sh->generation);
    }

    if (n == 0) {
        return NGX_OK;
    }

    stale = ngx_alloc(n * sizeof(ngx_rbtree_node_t *), log);
    if (stale == NULL) {
        return NGX_ERROR;
    }

    i = 0;

    for (rn = ngx_rbtree_min(sh->rbtree.root, sh->rbtree.sentinel);
         rn;
         rn = ngx_rbtree_next(&sh->rbtree, rn))
    {
        node = (ngx_http_snap_metrics_node_t *) rn;

        if (node->generation != sh->generation) {
            stale[i++] = rn;
        }
    }

    for (i = 0; i < n; i++) {
        node = (ngx_http_snap_metrics_node_t *) stale[i];

        ngx_rbtree_delete(&sh->rbtree, stale[i]);

        f = (ngx_http_snap_metrics_free_t *) node->values;
        f->next = sh->retired[node->histogram];
        sh->retired[node->histogram] = f;

        ngx_slab_free_locked(m->shpool, node);
    }

    ngx_free(stale);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "snap_metrics_zone \"%V\": %ui series no longer listed "
                  "by the configuration freed", &m->name, n);

    return NGX_OK;
}


/* the metrics kept, or NULL */

static ngx_http_snap_metrics_t *
ngx_http_snap_metrics_get(ngx_http_request_t *r)
{
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    return (smcf->metrics && smcf->metrics->shm_zone) ? smcf->metrics
                                                     : NULL;
}


static ngx_inline void
ngx_http_snap_metrics_inc(ngx_http_snap_metrics_t *m, ngx_uint_t i,
    ngx_uint_t by)
{
    ngx_http_snap_series_t  *s;

    s = m->series.elts;

    (void) ngx_atomic_fetch_add(s[i].values, by);
}


static ngx_uint_t
ngx_http_snap_outcome(ngx_http_snap_ctx_t *ctx)
{
    switch (ctx->state) {

    case NGX_HTTP_SNAP_PASSED:
        return ctx->reported ? NGX_HTTP_SNAP_OUTCOME(ctx->reason)
                             : NGX_HTTP_SNAP_OUTCOME_ACCEPTED;

    case NGX_HTTP_SNAP_REJECTED:
        return NGX_HTTP_SNAP_OUTCOME(ctx->reason);

    default:
        return ctx->nginx_error ? NGX_HTTP_SNAP_OUTCOME(ctx->error_reason)
                                : NGX_HTTP_SNAP_OUTCOME_NONE;
    }
}


/*
 * The log phase: what the module decided for this request, counted once,
 * by the role of the location it entered.  A request whose verification
 * never finished (the client went away while its body was read) has no
 * outcome and is not counted.
 */

void
ngx_http_snap_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                  p, o, i, status;
    ngx_http_snap_ctx_t        *ctx;
    ngx_http_snap_client_t     *c;
    ngx_http_snap_metrics_t    *m;
    ngx_http_snap_loc_conf_t   *slcf;

    m = ngx_http_snap_metrics_get(r);
    ctx = ngx_http_snap_get_ctx(r);

    if (m == NULL || ctx == NULL || r != r->main) {
        return;
    }

    /*
     * the partner the request names, once it is a configured one, even
     * when a check refused it: a partner's refusals are counted as its
     * own; any other id is "unknown", so the label set stays bounded
     */
    c = ctx->client ? ctx->client : ctx->claimed;
    p = c ? c->index : m->partners - 1;

    if (ctx->nginx_error) {
        ngx_http_snap_metrics_inc(m, m->first[NGX_HTTP_SNAP_M_NGINX]
                                     + p * NGX_HTTP_SNAP_REASONS
                                     + ctx->error_reason, 1);
    }

    /* which of its keys verified it, in token calls and transactions */
    if (ctx->key_used && ctx->client) {
        i = m->keys[ctx->client->index] + ctx->key_used - 1
            + (ctx->key_rsa ? ctx->client->secrets.nelts : 0);

        if (i < m->keys[ctx->client->index + 1]) {
            ngx_http_snap_metrics_inc(m, i, 1);
        }
    }

    o = ngx_http_snap_outcome(ctx);
    slcf = ctx->conf;

    if (o == NGX_HTTP_SNAP_OUTCOME_NONE || slcf == NULL) {
        return;
    }

    o--;

    switch (slcf->role) {

    case NGX_HTTP_SNAP_ROLE_SIGN:
        if (ctx->provider) {
            i = m->first[NGX_HTTP_SNAP_M_OUTBOUND]
                + (ctx->provider - 1) * NGX_HTTP_SNAP_M_OUTCOMES + o;
            ngx_http_snap_metrics_inc(m, i, 1);
        }

        return;

    case NGX_HTTP_SNAP_ROLE_TOKEN:
        i = m->first[NGX_HTTP_SNAP_M_TOKENS]
            + p * NGX_HTTP_SNAP_M_OUTCOMES + o;
        ngx_http_snap_metrics_inc(m, i, 1);
        return;

    case NGX_HTTP_SNAP_ROLE_VERIFY:
        break;

    default:
        return;
    }

    i = m->first[NGX_HTTP_SNAP_M_REQUESTS]
        + ((p * m->services + slcf->metrics_service)
           * NGX_HTTP_SNAP_M_OUTCOMES + o) * 2
        + (slcf->enforce ? 1 : 0);
    ngx_http_snap_metrics_inc(m, i, 1);

    /* passed on: what came back, the app's answer or nginx's 502/504 */
    status = r->headers_out.status;

    if (ctx->state == NGX_HTTP_SNAP_PASSED && status >= 100 && status < 600) {
        i = m->first[NGX_HTTP_SNAP_M_UPSTREAM]
            + (p * m->services + slcf->metrics_service)
              * NGX_HTTP_SNAP_M_CLASSES
            + status / 100 - 1;
        ngx_http_snap_metrics_inc(m, i, 1);
    }

    if (slcf->replay == NULL) {
        return;
    }

    if (o == 0) {
        i = NGX_HTTP_SNAP_M_RECORDED;

    } else if (o - 1 == NGX_HTTP_SNAP_REPLAY) {
        i = NGX_HTTP_SNAP_M_DUPLICATES;

    } else if (o - 1 == NGX_HTTP_SNAP_ZONE_FULL) {
        i = NGX_HTTP_SNAP_M_FULL;

    } else {
        return;
    }

    ngx_http_snap_metrics_inc(m, m->first[i] + slcf->replay->metrics_zone, 1);
}


/* a monotonic time in microseconds, taken only when metrics are kept */

uint64_t
ngx_http_snap_metrics_start(ngx_http_request_t *r)
{
    struct timespec  ts;

    if (ngx_http_snap_metrics_get(r) == NULL
        || clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    {
        return 0;
    }

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + 1;
}


/* a Redis write's end: NGX_HTTP_SNAP_STORE_OK, or what went wrong */

void
ngx_http_snap_metrics_store(ngx_http_request_t *r, ngx_uint_t store,
    uint64_t start, ngx_int_t kind)
{
    uint64_t                  us, now;
    ngx_uint_t                z, b;
    ngx_http_snap_series_t   *s;
    ngx_http_snap_metrics_t  *m;

    m = ngx_http_snap_metrics_get(r);

    if (m == NULL) {
        return;
    }

    z = store;

    if (kind != NGX_HTTP_SNAP_STORE_OK) {
        ngx_http_snap_metrics_inc(m, m->first[NGX_HTTP_SNAP_M_STORE_ERRORS]
                                     + z * NGX_HTTP_SNAP_STORE_KINDS + kind,
                                  1);
    }

    if (kind != NGX_HTTP_SNAP_STORE_OK && kind != NGX_HTTP_SNAP_STORE_REPLY) {
        return;
    }

    ngx_http_snap_metrics_inc(m, m->first[NGX_HTTP_SNAP_M_ROUND_TRIPS] + z, 1);

    now = ngx_http_snap_metrics_start(r);

    if (start == 0 || now < start) {
        return;
    }

    us = now - start;

    for (b = 0; b < NGX_HTTP_SNAP_M_BUCKETS - 1; b++) {
        if (us <= ngx_http_snap_bucket_us[b]) {
            break;
        }
    }

    s = m->series.elts;
    s = &s[m->first[NGX_HTTP_SNAP_M_LATENCY] + z];

    (void) ngx_atomic_fetch_add(&s->values[b], 1);
    (void) ngx_atomic_fetch_add(&s->values[NGX_HTTP_SNAP_M_BUCKETS], us);
}


void
ngx_http_snap_metrics_fallback(ngx_http_request_t *r, ngx_uint_t store)
{
    ngx_http_snap_metrics_t  *m;

    m = ngx_http_snap_metrics_get(r);

    if (m) {
        ngx_http_snap_metrics_inc(m, m->first[NGX_HTTP_SNAP_M_FALLBACKS]
                                     + store, 1);
    }
}


void
ngx_http_snap_metrics_fetch(ngx_http_request_t *r, ngx_uint_t provider,
    ngx_http_snap_fetch_e outcome)
{
    ngx_http_snap_metrics_t  *m;

    m = ngx_http_snap_metrics_get(r);

    if (m) {
        ngx_http_snap_metrics_inc(m, m->first[NGX_HTTP_SNAP_M_FETCHES]
                                     + provider * NGX_HTTP_SNAP_FETCH_OUTCOMES
                                     + outcome, 1);
    }
}


/*
 * The exposition, or with dst NULL its largest size: every value counted
 * as 20 digits, so the counters may move between the two passes.
 */

static size_t
ngx_http_snap_metrics_write(ngx_http_snap_metrics_t *m, u_char *dst)
{
    size_t                   n;
    uint64_t                 v;
    ngx_uint_t               i, family, live, capacity;
    ngx_http_snap_series_t  *s;
    ngx_http_snap_family_t  *f;

    static const char  *types[] = { "counter", "gauge", "histogram" };

    n = 0;
    family = NGX_HTTP_SNAP_M_FAMILIES;
    s = m->series.elts;

    for (i = 0; i < m->series.nelts; i++) {
        f = &ngx_http_snap_families[s[i].family];

        if (s[i].family != family) {
            family = s[i].family;
            n += ngx_http_snap_prom_header(dst ? dst + n : NULL, f->name,
                                           types[f->type], f->help);
        }

        if (f->type == NGX_HTTP_SNAP_M_HISTOGRAM) {
            n += ngx_http_snap_metrics_histogram(&s[i], dst ? dst + n : NULL);
            continue;
        }

        if (s[i].primary) {
            n += ngx_http_snap_metrics_primary(&s[i], dst ? dst + n : NULL);
            continue;
        }

        if (dst == NULL) {
            v = UINT64_MAX;

        } else if (s[i].gauge) {
            s[i].gauge(s[i].data, &live, &capacity);
            v = (s[i].family == NGX_HTTP_SNAP_M_IDS) ? live : capacity;

        } else {
            v = s[i].values[0];
        }

        n += ngx_http_snap_prom_sample(dst ? dst + n : NULL, f->name, NULL,
                                       s[i].labels, s[i].nlabels, v, 0);
    }

    return n;
}


/*
 * A store's primary: its address a label the sample carries.  Sized with
 * the longest address an escape could make, so that the sizing pass
 * holds whatever the address is by the writing one.
 */

static size_t
ngx_http_snap_metrics_primary(ngx_http_snap_series_t *s, u_char *dst)
{
    ngx_int_t                    rc;
    ngx_str_t                    address;
    ngx_http_snap_family_t      *f;
    ngx_http_snap_prom_label_t   labels[NGX_HTTP_SNAP_PROM_LABELS + 1];

    static u_char  widest[2 * NGX_SOCKADDR_STRLEN];

    f = &ngx_http_snap_families[s->family];

    if (dst == NULL) {
        rc = 1;
        address.data = widest;
        address.len = sizeof(widest);

    } else {
        rc = s->primary(s->data, &address);

        if (rc == NGX_DECLINED) {
            return 0;
        }
    }

    ngx_memcpy(labels, s->labels, s->nlabels * sizeof(labels[0]));
    labels[s->nlabels].name = "address";
    labels[s->nlabels].value = address.data;
    labels[s->nlabels].len = address.len;

    return ngx_http_snap_prom_sample(dst, f->name, NULL, labels,
                                     s->nlabels + 1, rc ? 1 : 0, 0);
}


static size_t
ngx_http_snap_metrics_histogram(ngx_http_snap_series_t *s, u_char *dst)
{
    size_t                      n;
    uint64_t                    count;
    ngx_uint_t                  b;
    ngx_http_snap_family_t     *f;
    ngx_http_snap_prom_label_t  labels[NGX_HTTP_SNAP_PROM_LABELS + 1];

    f = &ngx_http_snap_families[s->family];

    ngx_memcpy(labels, s->labels, s->nlabels * sizeof(labels[0]));
    labels[s->nlabels].name = "le";

    n = 0;
    count = 0;

    for (b = 0; b < NGX_HTTP_SNAP_M_BUCKETS; b++) {
        count += dst ? s->values[b] : 0;

        labels[s->nlabels].value = ngx_http_snap_bucket_le[b].data;
        labels[s->nlabels].len = ngx_http_snap_bucket_le[b].len;

        n += ngx_http_snap_prom_sample(dst ? dst + n : NULL, f->name,
                                       "_bucket", labels, s->nlabels + 1,
                                       dst ? count : UINT64_MAX, 0);
    }

    n += ngx_http_snap_prom_sample(dst ? dst + n : NULL, f->name, "_sum",
                                   s->labels, s->nlabels,
                                   dst ? s->values[NGX_HTTP_SNAP_M_BUCKETS]
                                       : UINT64_MAX, 6);

    n += ngx_http_snap_prom_sample(dst ? dst + n : NULL, f->name, "_count",
                                   s->labels, s->nlabels,
                                   dst ? count : UINT64_MAX, 0);

    return n;
}


static ngx_int_t
ngx_http_snap_metrics_handler(ngx_http_request_t *r)
{
    size_t                    len;
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_http_snap_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_http_snap_metrics_get(r);

    len = ngx_http_snap_metrics_write(m, NULL);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last += ngx_http_snap_metrics_write(m, b->pos);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
