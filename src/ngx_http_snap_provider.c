
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The providers the merchant calls: snap_provider, snap_provider_zone,
 * snap_provider_token; their tokens, cached in a zone all workers share
 * and fetched through an nginx subrequest, so that nginx's own proxy,
 * TLS and certificate checks make the call.  The refresh follows OCSP
 * stapling's: traffic triggers it, one fetch at a time, a back-off after
 * a failure, and the current token served while it is valid.  The zone's
 * mutex is never held across I/O.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_keys.h"
#include "ngx_http_snap_metrics.h"
#include "ngx_http_snap_provider.h"


/* a fetch not answered by then is taken over by the next request */
#define NGX_HTTP_SNAP_FETCH_TIMEOUT   30
/* whole seconds of ngx_time(): 2 is at least one second */
#define NGX_HTTP_SNAP_BACKOFF_MIN     2
#define NGX_HTTP_SNAP_BACKOFF_MAX     64
#define NGX_HTTP_SNAP_EXPIRES_MAX     86400


struct ngx_http_snap_out_token_slot_s {
    ngx_http_snap_out_token_slot_t  *next;
    u_char                           name[NGX_HTTP_SNAP_PROVIDER_NAME_MAX];
    size_t                           name_len;
    uint64_t                         fingerprint;
    ngx_uint_t                       generation;
    time_t                           exp;          /* 0: no token */
    time_t                           lifetime;
    time_t                           loading;      /* a fetch runs until then */
    time_t                           retry;        /* no fetch before then */
    time_t                           backoff;
    /* the last generation a provider accepted a request signed with */
    ngx_uint_t                   proven;
    /* tokens refused before they were ever accepted: the last time, and
     * the back-off that set */
    time_t                       refused_at;
    time_t                       refused;
    size_t                       len;
    u_char                       token[NGX_HTTP_SNAP_OUT_TOKEN_MAX];
};


typedef struct {
    ngx_http_snap_out_token_slot_t  *slots;
} ngx_http_snap_out_token_sh_t;


static ngx_int_t ngx_http_snap_provider_id(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_provider_key(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_uint_t ngx_http_snap_provider_reaches(
    ngx_http_snap_provider_t *prov, ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_snap_provider_token_uri(ngx_conf_t *cf,
    void *data, ngx_str_t *value, const ngx_http_snap_param_t *param);
static void ngx_http_snap_provider_zone_full(ngx_shm_zone_t *shm_zone,
    ngx_http_snap_out_token_sh_t *sh, ngx_http_snap_main_conf_t *smcf);
static ngx_int_t ngx_http_snap_provider_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_snap_out_token_call(ngx_http_request_t *r,
    ngx_http_snap_provider_t *prov, ngx_http_headers_in_t *headers_in,
    ngx_http_request_body_t **body);
static ngx_int_t ngx_http_snap_out_token_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_snap_out_token_abandon(void *data);
static void ngx_http_snap_out_token_failed(ngx_http_snap_provider_t *prov);
static void ngx_http_snap_out_token_wake(ngx_http_snap_provider_t *prov);
static void ngx_http_snap_out_token_unwait(void *data);
static ngx_int_t ngx_http_snap_out_token_store(ngx_http_request_t *r,
    ngx_http_snap_out_t *out, ngx_http_snap_token_reply_t *reply);


/* snap_provider's parameters, read while the provider is being made */
typedef struct {
    ngx_http_snap_provider_t   *provider;
    ngx_str_t                   secret;
} ngx_http_snap_provider_conf_t;


#define ngx_http_snap_pcf(field)                                             \
    offsetof(ngx_http_snap_provider_conf_t, field)

static ngx_http_snap_param_t  ngx_http_snap_provider_params[] = {
    ngx_http_snap_param("client_id", ngx_http_snap_provider_id,
                        offsetof(ngx_http_snap_provider_t, client_id)),
    ngx_http_snap_param("partner_id", ngx_http_snap_provider_id,
                        offsetof(ngx_http_snap_provider_t, partner_id)),
    ngx_http_snap_param("channel_id", ngx_http_snap_provider_id,
                        offsetof(ngx_http_snap_provider_t, channel_id)),
    ngx_http_snap_param("private_key", ngx_http_snap_provider_key, 0),
    ngx_http_snap_param("secret_file", ngx_http_snap_param_str,
                        ngx_http_snap_pcf(secret)),
    ngx_http_snap_param("token", ngx_http_snap_provider_token_uri, 0),
    ngx_http_snap_param_end
};


/* a zone of its own kind: no other zone may share its name */
static ngx_uint_t  ngx_http_snap_provider_tag;

static ngx_str_t  ngx_http_snap_out_token_grant =
    ngx_string("{\"grantType\":\"client_credentials\"}");


/*
 * snap_provider NAME client_id=ID private_key=FILE secret_file=FILE
 *               [partner_id=ID] [channel_id=ID] token=URI
 */

char *
ngx_http_snap_provider(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    u_char                         *p;
    ngx_int_t                       index;
    ngx_str_t                      *value, fp;
    ngx_uint_t                      i;
    ngx_http_snap_provider_t       *prov, **pp;
    ngx_http_snap_provider_conf_t   pcf;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_HTTP_SNAP_PROVIDER_NAME_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid provider name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    pp = smcf->providers.elts;

    for (i = 0; i < smcf->providers.nelts; i++) {
        if (pp[i]->name.len == value[1].len
            && ngx_strncmp(pp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate snap_provider \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    prov = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_provider_t));
    if (prov == NULL) {
        return NGX_CONF_ERROR;
    }

    prov->name = value[1];
    ngx_queue_init(&prov->waiters);

    pcf.provider = prov;
    ngx_str_null(&pcf.secret);

    if (ngx_http_snap_conf_params(cf, 2, ngx_http_snap_provider_params, NULL,
                                  &pcf)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (prov->client_id.len == 0 || prov->signer == NULL
        || pcf.secret.len == 0 || prov->token_uri.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "snap_provider \"%V\" needs client_id=, "
                           "private_key=, secret_file= and token=",
                           &prov->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_load_key(cf, &pcf.secret, &prov->secret, 0, 512)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (prov->partner_id.len == 0) {
        prov->partner_id = prov->client_id;
    }

    /* a cached token is for this client at this endpoint, across reloads */
    fp.len = prov->client_id.len + prov->partner_id.len
             + prov->token_uri.len + 2;
    fp.data = ngx_pnalloc(cf->pool, fp.len);
    if (fp.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(fp.data, prov->client_id.data, prov->client_id.len);
    *p++ = '\n';
    p = ngx_cpymem(p, prov->partner_id.data, prov->partner_id.len);
    *p++ = '\n';
    ngx_memcpy(p, prov->token_uri.data, prov->token_uri.len);

    prov->fingerprint = ngx_http_snap_hash(fp.data, fp.len);

    index = ngx_http_snap_metrics_add_provider(cf, &prov->name);
    if (index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    prov->index = index;

    pp = ngx_array_push(&smcf->providers);
    if (pp == NULL) {
        return NGX_CONF_ERROR;
    }

    *pp = prov;

    return NGX_CONF_OK;
}


/* client_id=, partner_id=, channel_id=: sent as header values */

static ngx_int_t
ngx_http_snap_provider_id(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_provider_conf_t *pcf = data;

    if (!ngx_http_snap_header_value_ok(value->data, value->len,
                                       NGX_HTTP_SNAP_ID_MAX))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value in \"%V=%V\"", &param->name,
                           value);
        return NGX_ERROR;
    }

    *(ngx_str_t *) ((u_char *) pcf->provider + param->offset) = *value;

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_provider_key(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_provider_conf_t *pcf = data;

    ngx_http_snap_provider_t  *prov;

    prov = pcf->provider;

    prov->signer = ngx_http_snap_load_private_key(cf, value, &prov->sig_size);

    return prov->signer ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_snap_provider_token_uri(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param)
{
    ngx_http_snap_provider_conf_t *pcf = data;

    if (value->data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"token=%V\": token= is the URI of the location "
                           "with \"snap_provider_token %V\", a path "
                           "starting with \"/\"", value, &pcf->provider->name);
        return NGX_ERROR;
    }

    pcf->provider->token_uri = *value;

    return NGX_OK;
}


/* snap_provider_zone NAME:SIZE, the token cache */

char *
ngx_http_snap_provider_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_str_t  *value, name;

    if (smcf->provider_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    smcf->provider_zone = ngx_http_snap_zone_add(cf, &value[1], &name,
                                                 &ngx_http_snap_provider_tag);
    if (smcf->provider_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    smcf->provider_zone->init = ngx_http_snap_provider_init_zone;
    smcf->provider_zone->data = smcf;

    return NGX_CONF_OK;
}


/* snap_provider_token NAME, in the location token= names */

char *
ngx_http_snap_provider_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t  *value;

    if (ngx_http_snap_conf_role(cf, cmd, slcf,
                                NGX_HTTP_SNAP_ROLE_PROVIDER_TOKEN)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    /* resolved with the others; until then, not NULL */
    slcf->provider_token = (ngx_http_snap_provider_t *) -1;

    if (ngx_http_snap_provider_ref(cf, &value[1], &slcf->provider_token, 1)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * snap_sign and snap_provider_token may come before the snap_provider
 * they name: the name and where it was written are kept, and resolved
 * once the http block is read.
 */

ngx_int_t
ngx_http_snap_provider_ref(ngx_conf_t *cf, ngx_str_t *name,
    ngx_http_snap_provider_t **provider, ngx_uint_t token)
{
    ngx_http_snap_main_conf_t     *smcf;
    ngx_http_snap_provider_ref_t  *ref;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    ref = ngx_array_push(&smcf->provider_refs);
    if (ref == NULL) {
        return NGX_ERROR;
    }

    ref->name = *name;
    ref->provider = provider;
    ref->file = cf->conf_file->file.name;
    ref->line = cf->conf_file->line;
    ref->token = token;
    ref->clcf = token ? ngx_http_conf_get_module_loc_conf(cf,
                                                          ngx_http_core_module)
                      : NULL;

    return NGX_OK;
}


/*
 * Whether a provider's token= leads to this token location: an exact
 * location by its name, a prefix one by its start; a regex location is
 * taken on trust
 */

static ngx_uint_t
ngx_http_snap_provider_reaches(ngx_http_snap_provider_t *prov,
    ngx_http_core_loc_conf_t *clcf)
{
    ngx_str_t  *uri;

    uri = &prov->token_uri;

#if (NGX_PCRE)
    if (clcf->regex) {
        return 1;
    }
#endif

    if (clcf->exact_match) {
        return uri->len == clcf->name.len
               && ngx_strncmp(uri->data, clcf->name.data, uri->len) == 0;
    }

    return uri->len >= clcf->name.len
           && ngx_strncmp(uri->data, clcf->name.data, clcf->name.len) == 0;
}


/*
 * Once the http block is read: the provider every snap_sign and
 * snap_provider_token names, and the token cache they need.
 */

ngx_int_t
ngx_http_snap_providers_init(ngx_conf_t *cf)
{
    ngx_uint_t                     i, j, pass;
    ngx_http_snap_provider_t     **pp, *prov;
    ngx_http_snap_main_conf_t     *smcf;
    ngx_http_snap_provider_ref_t  *ref;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    if (smcf->providers.nelts && smcf->provider_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"snap_provider\" needs \"snap_provider_zone\" in "
                      "the http block, the token cache");
        return NGX_ERROR;
    }

    pp = smcf->providers.elts;
    ref = smcf->provider_refs.elts;

    /* the token locations first, so that snap_sign can count them */
    for (pass = 1; pass <= 2; pass++) {
        for (i = 0; i < smcf->provider_refs.nelts; i++) {

            if (ref[i].token != (pass == 1)) {
                continue;
            }

            prov = NULL;

            for (j = 0; j < smcf->providers.nelts; j++) {
                if (pp[j]->name.len == ref[i].name.len
                    && ngx_strncmp(pp[j]->name.data, ref[i].name.data,
                                   ref[i].name.len)
                       == 0)
                {
                    prov = pp[j];
                    break;
                }
            }

            if (prov == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "unknown snap_provider \"%V\" in %V:%ui",
                              &ref[i].name, &ref[i].file, ref[i].line);
                return NGX_ERROR;
            }

            if (ref[i].token) {
                prov->token_locations++;
                prov->token_reached |= ngx_http_snap_provider_reaches(prov,
                                                                ref[i].clcf);

            } else if (prov->token_locations == 0) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "no location has \"snap_provider_token %V\" "
                              "for the token calls of \"snap_sign\" in "
                              "%V:%ui", &prov->name, &ref[i].file,
                              ref[i].line);
                return NGX_ERROR;
            }

            *ref[i].provider = prov;
        }

        if (pass == 2) {
            break;
        }

        /* a typo in token= would pass nginx -t and fail every call */
        for (i = 0; i < smcf->provider_refs.nelts; i++) {
            prov = ref[i].token ? *ref[i].provider : NULL;

            if (prov && !prov->token_reached) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "token=%V of snap_provider \"%V\" does not "
                              "lead to the location \"%V\" that has "
                              "\"snap_provider_token %V\" in %V:%ui: make "
                              "them the same path", &prov->token_uri,
                              &prov->name, &ref[i].clcf->name, &prov->name,
                              &ref[i].file, ref[i].line);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * What the zone holds, when it holds too few slots: a slot keeps a token
 * of up to NGX_HTTP_SNAP_OUT_TOKEN_MAX bytes, in whole slab pages
 */

static void
ngx_http_snap_provider_zone_full(ngx_shm_zone_t *shm_zone,
    ngx_http_snap_out_token_sh_t *sh, ngx_http_snap_main_conf_t *smcf)
{
    size_t                           per;
    ngx_uint_t                       n;
    ngx_http_snap_out_token_slot_t  *slot;

    n = 0;

    for (slot = sh->slots; slot; slot = slot->next) {
        n++;
    }

    /* slots of providers a reload removed count too: they stay */
    per = ngx_align(sizeof(ngx_http_snap_out_token_slot_t), ngx_pagesize);

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "snap_provider_zone \"%V\" of %uzk holds the tokens of "
                  "%ui providers (a token of up to %d bytes takes %uz), not "
                  "the %ui configured: make it at least %uzk",
                  &shm_zone->shm.name, shm_zone->shm.size / 1024, n,
                  NGX_HTTP_SNAP_OUT_TOKEN_MAX, per, smcf->providers.nelts,
                  (shm_zone->shm.size
                   + (smcf->providers.nelts > n
                      ? smcf->providers.nelts - n : 1) * per
                   + 1023) / 1024);
}


/*
 * A slot a provider, found by name in a zone kept across reloads: a
 * reload keeps its token unless the provider's client or endpoint
 * changed.  Slots of providers no longer configured stay; they are a few
 * kilobytes each.
 */

static ngx_int_t
ngx_http_snap_provider_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                       i;
    ngx_slab_pool_t                 *shpool;
    ngx_http_snap_out_token_sh_t    *sh;
    ngx_http_snap_provider_t       **pp;
    ngx_http_snap_main_conf_t       *smcf;
    ngx_http_snap_out_token_slot_t  *slot;

    smcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if ((data || shm_zone->shm.exists) && shpool->data) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_snap_out_token_sh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;

        if (ngx_http_snap_zone_log(shm_zone, shpool, "snap_provider_zone")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    pp = smcf->providers.elts;

    for (i = 0; i < smcf->providers.nelts; i++) {

        for (slot = sh->slots; slot; slot = slot->next) {
            if (slot->name_len == pp[i]->name.len
                && ngx_memcmp(slot->name, pp[i]->name.data, slot->name_len)
                   == 0)
            {
                break;
            }
        }

        if (slot == NULL) {
            slot = ngx_slab_calloc(shpool,
                                   sizeof(ngx_http_snap_out_token_slot_t));
            if (slot == NULL) {
                ngx_http_snap_provider_zone_full(shm_zone, sh, smcf);
                return NGX_ERROR;
            }

            ngx_memcpy(slot->name, pp[i]->name.data, pp[i]->name.len);
            slot->name_len = pp[i]->name.len;
            slot->fingerprint = pp[i]->fingerprint;
            slot->next = sh->slots;
            sh->slots = slot;
        }

        ngx_shmtx_lock(&shpool->mutex);

        if (slot->fingerprint != pp[i]->fingerprint) {
            slot->fingerprint = pp[i]->fingerprint;
            slot->exp = 0;
            slot->len = 0;
            slot->loading = 0;
            slot->retry = 0;
            slot->backoff = 0;
            slot->generation++;
        }

        ngx_shmtx_unlock(&shpool->mutex);

        pp[i]->slot = slot;
        pp[i]->shpool = shpool;
    }

    return NGX_OK;
}


/*
 * What the request does for a token.  USE: out->token is valid, and with
 * out->refresh set this request fetches the next one ahead of expiry.
 * FETCH: none is valid and this request fetches it.  WAIT: another
 * request is fetching.  BACKOFF: none is valid and the last fetch failed
 * a moment ago.  Only the copy of the token is used outside the lock.
 */

ngx_http_snap_out_token_get_e
ngx_http_snap_out_token_get(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    time_t                           now, ahead;
    ngx_slab_pool_t                 *shpool;
    ngx_http_snap_out_token_get_e    rc;
    ngx_http_snap_out_token_slot_t  *slot;

    shpool = out->provider->shpool;
    slot = out->provider->slot;
    now = ngx_time();

    out->refresh = 0;

    ngx_shmtx_lock(&shpool->mutex);

    if (slot->loading && now >= slot->loading) {
        /* the worker fetching it is gone or hung: another may take over */
        slot->loading = 0;
    }

    if (slot->len && now < slot->exp) {
        ngx_memcpy(out->token.data, slot->token, slot->len);
        out->token.len = slot->len;
        out->generation = slot->generation;

        ahead = ngx_min(slot->lifetime / 4, 60);

        if (now >= slot->exp - ahead && slot->loading == 0
            && now >= slot->retry)
        {
            slot->loading = now + NGX_HTTP_SNAP_FETCH_TIMEOUT;
            out->lease = slot->loading;
            out->leased = 1;
            out->refresh = 1;
        }

        rc = NGX_HTTP_SNAP_OUT_TOKEN_USE;

    } else if (slot->loading) {
        rc = NGX_HTTP_SNAP_OUT_TOKEN_WAIT;

    } else if (now < slot->retry) {
        rc = NGX_HTTP_SNAP_OUT_TOKEN_BACKOFF;

    } else {
        slot->loading = now + NGX_HTTP_SNAP_FETCH_TIMEOUT;
        out->lease = slot->loading;
        out->leased = 1;
        rc = NGX_HTTP_SNAP_OUT_TOKEN_FETCH;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return rc;
}


/*
 * The token call, as a subrequest to token=: its method, headers and body
 * are the module's, nothing of the app's request goes with it, and its
 * answer is kept in memory (subrequest_output_buffer_size).  All that may
 * fail is done before the subrequest exists: once made, it runs, and it
 * must never carry anything but the module's call.
 */

ngx_int_t
ngx_http_snap_out_token_fetch(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_request_t          *sr;
    ngx_http_snap_ctx_t         *sctx;
    ngx_http_snap_out_t         *sout;
    ngx_http_headers_in_t       *headers_in;
    ngx_http_request_body_t     *body;
    ngx_http_post_subrequest_t  *ps;

    headers_in = ngx_pcalloc(r->pool, sizeof(ngx_http_headers_in_t));
    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    sctx = ngx_pcalloc(r->pool, sizeof(ngx_http_snap_ctx_t));
    sout = ngx_pcalloc(r->pool, sizeof(ngx_http_snap_out_t));

    if (headers_in == NULL || ps == NULL || cln == NULL || sctx == NULL
        || sout == NULL)
    {
        return NGX_ERROR;
    }

    /* a request gone before its token call's answer gives the lease back */
    cln->handler = ngx_http_snap_out_token_abandon;
    cln->data = out;

    if (ngx_http_snap_out_token_call(r, out->provider, headers_in, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_snap_out_token_done;
    ps->data = out;

    /*
     * no pool cleanup, unlike a main request's context: the pool is the
     * main request's, whose context is found through its cleanup
     */
    sctx->state = NGX_HTTP_SNAP_REJECTED;
    sctx->out = sout;
    sout->provider = out->provider;
    sout->token_request = 1;

    out->fetch_rc = NGX_AGAIN;

    if (ngx_http_subrequest(r, &out->provider->token_uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* nothing below fails: the subrequest runs only as the module's call */

    sr->headers_in = *headers_in;

    if (headers_in->headers.last == &headers_in->headers.part) {
        sr->headers_in.headers.last = &sr->headers_in.headers.part;
    }

    sr->request_body = body;
    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    ngx_http_set_ctx(sr, sctx, ngx_http_snap_module);

    return NGX_OK;
}


/*
 * The token call's headers and body: POST, X-TIMESTAMP, X-CLIENT-KEY,
 * X-SIGNATURE = SHA256withRSA(client id "|" X-TIMESTAMP).
 */

static ngx_int_t
ngx_http_snap_out_token_call(ngx_http_request_t *r,
    ngx_http_snap_provider_t *prov, ngx_http_headers_in_t *headers_in,
    ngx_http_request_body_t **body)
{
    u_char                    *ts, *msg, *p, *sig, *b64;
    size_t                     len, sig_len;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    ts = ngx_pnalloc(r->pool, 25);
    msg = ngx_pnalloc(r->pool, prov->client_id.len + 1 + 25);
    sig = ngx_pnalloc(r->pool, prov->sig_size);
    b64 = ngx_pnalloc(r->pool,
                      ngx_http_snap_base64_encoded_len(prov->sig_size));

    if (ts == NULL || msg == NULL || sig == NULL || b64 == NULL) {
        return NGX_ERROR;
    }

    ngx_http_snap_format_wib(ngx_time(), ts);

    p = ngx_cpymem(msg, prov->client_id.data, prov->client_id.len);
    *p++ = '|';
    p = ngx_cpymem(p, ts, 25);

    sig_len = prov->sig_size;

    if (ngx_http_snap_rsa_sign(prov->signer, msg, p - msg, sig, &sig_len)
        != NGX_HTTP_SNAP_LIB_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: could not sign the token call of provider "
                      "\"%V\"", &prov->name);
        return NGX_ERROR;
    }

    len = ngx_http_snap_base64_encode(b64, sig, sig_len, 0);

    headers_in->content_length_n = ngx_http_snap_out_token_grant.len;
    headers_in->keep_alive_n = -1;
    headers_in->server = r->headers_in.server;

    if (ngx_list_init(&headers_in->headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_http_snap_add_header(r, &headers_in->headers,
                                     "Content-Type",
                                     (u_char *) "application/json", 16, 0)
           != NGX_OK
        || ngx_http_snap_add_header(r, &headers_in->headers,
                                     "X-TIMESTAMP", ts, 25, 0)
           != NGX_OK
        || ngx_http_snap_add_header(r, &headers_in->headers,
                                     "X-CLIENT-KEY", prov->client_id.data,
                                     prov->client_id.len, 0)
           != NGX_OK
        || ngx_http_snap_add_header(r, &headers_in->headers,
                                     "X-SIGNATURE", b64, len, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    b = ngx_calloc_buf(r->pool);
    cl = ngx_alloc_chain_link(r->pool);
    if (rb == NULL || b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    b->pos = ngx_http_snap_out_token_grant.data;
    b->last = b->pos + ngx_http_snap_out_token_grant.len;
    b->memory = 1;
    b->last_buf = 1;

    cl->buf = b;
    cl->next = NULL;

    rb->bufs = cl;
    *body = rb;

    return NGX_OK;
}


/*
 * A request header, with the hash and lower-cased name proxy looks up.  A
 * hidden one (the provider's token, nginx's signature) has no hash, so
 * that no $http_ variable finds it, and a lower-cased name that no header
 * has, so that proxy_pass neither finds it among proxy_set_header's: it is
 * sent as it is, and no configuration can write it elsewhere.
 */

ngx_int_t
ngx_http_snap_add_header(ngx_http_request_t *r, ngx_list_t *headers,
    char *name, u_char *value, size_t len, ngx_uint_t hidden)
{
    size_t            n;
    ngx_table_elt_t  *h;

    static u_char     no_name[NGX_HTTP_SNAP_HEADER_NAME_MAX];

    n = ngx_strlen(name);

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) name;
    h->key.len = n;
    h->value.data = value;
    h->value.len = len;

    if (hidden && n <= sizeof(no_name)) {
        h->lowcase_key = no_name;
        h->hash = 0;

    } else {
        h->lowcase_key = ngx_pnalloc(r->pool, n);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, n);
    }

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * May run more than once for one subrequest (an error page after the
 * error): it only records, and the request that waits reads the answer
 * once the subrequest is done.
 */

static ngx_int_t
ngx_http_snap_out_token_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_snap_out_t *out = data;

    ngx_http_snap_ctx_t  *sctx;

    sctx = ngx_http_get_module_ctx(sr, ngx_http_snap_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "snap token call done: rc %i, status %ui", rc,
                   sr->headers_out.status);

    out->answer = NULL;
    out->answer_len = 0;

    if (sctx == NULL || sctx->out == NULL || !sctx->out->located) {
        /* token= led elsewhere than the provider's token location */
        out->fetch_rc = NGX_ERROR;
        return rc;
    }

    if (rc == NGX_ERROR || sctx->out->too_large) {
        /*
         * nginx failed the call, its own error line says why, or the
         * answer was too large to be a token's: a failed fetch, as a 502
         * is.  The subrequest ends as done where it can: as an error it
         * ends the request that waits for it, with no answer to the app
         * and no back-off
         */
        out->fetch_rc = NGX_ABORT;
        out->too_large = sctx->out->too_large;
        return (rc == NGX_ERROR && sr->connection->error) ? rc : NGX_OK;
    }

    out->answer = sctx->out->answer;
    out->answer_len = sctx->out->answer_len;

    out->fetch_rc = (sr->headers_out.status == NGX_HTTP_OK)
                    ? NGX_OK
                    : (ngx_int_t) (sr->headers_out.status
                                   ? sr->headers_out.status
                                   : NGX_HTTP_BAD_GATEWAY);

    return rc;
}


/*
 * The token call's answer, kept whole in the module's own buffer as it
 * passes the body filters, and passed no further: nginx's in-memory
 * subrequest buffer never sees it.  An answer over the size a token's
 * can have (a CDN's or a firewall's error page) is a failed call of its
 * own; under subrequest_output_buffer_size, nginx would fail the whole
 * connection for it, and the app would get no answer at all.
 */

ngx_int_t
ngx_http_snap_out_token_keep(ngx_http_request_t *sr, ngx_http_snap_out_t *sout,
    ngx_chain_t *in)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        n = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if (b->in_file || sout->answer_len + n
                          > NGX_HTTP_SNAP_OUT_ANSWER_MAX)
        {
            sout->too_large = 1;

        } else if (n) {
            if (sout->answer == NULL) {
                sout->answer = ngx_pnalloc(sr->pool,
                                           NGX_HTTP_SNAP_OUT_ANSWER_MAX);
                if (sout->answer == NULL) {
                    return NGX_ERROR;
                }
            }

            ngx_memcpy(sout->answer + sout->answer_len, b->pos, n);
            sout->answer_len += n;
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}


/*
 * The waiting request reads its token call's answer: NGX_OK when a token
 * is in out->token (the new one, or after a failed refresh the one still
 * valid), NGX_DECLINED when the provider's side gave none, NGX_ERROR when
 * nginx's side could not make the call.
 */

ngx_int_t
ngx_http_snap_out_token_answer(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    u_char                        code[7];
    ngx_int_t                     rc;
    ngx_http_snap_fetch_e         outcome;
    ngx_http_snap_provider_t     *prov;
    ngx_http_snap_token_reply_t  *reply;

    /* stored or failed below, the lease is given back either way */
    out->leased = 0;

    prov = out->provider;
    rc = NGX_DECLINED;

    reply = ngx_palloc(r->pool, sizeof(ngx_http_snap_token_reply_t));
    if (reply == NULL) {
        out->fetch_rc = NGX_DECLINED;
    }

    switch (out->fetch_rc) {

    case NGX_OK:
        if (ngx_http_snap_token_reply(out->answer, out->answer_len, reply)
            == NGX_HTTP_SNAP_LIB_OK)
        {
            ngx_http_snap_metrics_fetch(r, prov->index,
                                        NGX_HTTP_SNAP_FETCH_OK);
            return ngx_http_snap_out_token_store(r, out, reply);
        }

        ngx_http_snap_metrics_fetch(r, prov->index,
                                    NGX_HTTP_SNAP_FETCH_REFUSED);

        if (reply->token_over) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered with an accessToken of %uz bytes, more "
                          "than the %d a token is kept in: refused, not "
                          "cut", &prov->name, reply->token_over,
                          NGX_HTTP_SNAP_OUT_TOKEN_MAX);

        } else if (reply->has_code
                   && ngx_strncmp(reply->code, "200", 3) != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered with responseCode %*s", &prov->name,
                          (size_t) 7, reply->code);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered without a valid responseCode, "
                          "accessToken and expiresIn", &prov->name);
        }

        break;

    case NGX_DECLINED:
        /* nginx's side: memory, the merchant key */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: the token call of provider \"%V\" could not "
                      "be made", &prov->name);
        ngx_http_snap_metrics_fetch(r, prov->index,
                                    NGX_HTTP_SNAP_FETCH_INTERNAL);
        rc = NGX_ERROR;
        break;

    case NGX_ERROR:
    case NGX_AGAIN:
        ngx_http_snap_metrics_fetch(r, prov->index,
                                    NGX_HTTP_SNAP_FETCH_INTERNAL);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: the token call of provider \"%V\" did not "
                      "reach a location with \"snap_provider_token %V\": "
                      "check token=%V", &prov->name, &prov->name,
                      &prov->token_uri);
        rc = NGX_ERROR;
        break;

    case NGX_ABORT:
        if (out->too_large) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered with more than %d bytes, no token "
                          "answer: an error page?", &prov->name,
                          NGX_HTTP_SNAP_OUT_ANSWER_MAX);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" failed: "
                          "nginx could not make it (see the line before)",
                          &prov->name);
        }

        ngx_http_snap_metrics_fetch(r, prov->index, NGX_HTTP_SNAP_FETCH_FAILED);
        break;

    default:
        /* a status: the provider's answer, or nginx's 502 or 504 */
        outcome = (out->fetch_rc >= NGX_HTTP_INTERNAL_SERVER_ERROR)
                  ? NGX_HTTP_SNAP_FETCH_FAILED : NGX_HTTP_SNAP_FETCH_REFUSED;
        ngx_http_snap_metrics_fetch(r, prov->index, outcome);

        if (ngx_http_snap_response_code(out->answer, out->answer_len, code))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered with status %i, responseCode %*s",
                          &prov->name, out->fetch_rc, (size_t) 7, code);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: the token call of provider \"%V\" was "
                          "answered with status %i", &prov->name,
                          out->fetch_rc);
        }

        break;
    }

    ngx_http_snap_out_token_failed(prov);
    ngx_http_snap_out_token_wake(prov);

    if (out->refresh) {
        /* the token copied before the refresh is still valid */
        out->refresh = 0;
        return NGX_OK;
    }

    return rc;
}


static ngx_int_t
ngx_http_snap_out_token_store(ngx_http_request_t *r, ngx_http_snap_out_t *out,
    ngx_http_snap_token_reply_t *reply)
{
    time_t                           now, expires;
    ngx_slab_pool_t                 *shpool;
    ngx_http_snap_provider_t        *prov;
    ngx_http_snap_out_token_slot_t  *slot;

    prov = out->provider;
    slot = prov->slot;
    shpool = prov->shpool;
    now = ngx_time();

    expires = (time_t) ngx_min(reply->expires_in, NGX_HTTP_SNAP_EXPIRES_MAX);

    ngx_memcpy(out->token.data, reply->token, reply->token_len);
    out->token.len = reply->token_len;
    out->refresh = 0;
    out->fetched = 1;

    ngx_shmtx_lock(&shpool->mutex);

    /* a worker of the previous configuration stores nothing for this one */
    if (slot->fingerprint == prov->fingerprint) {
        ngx_memcpy(slot->token, reply->token, reply->token_len);
        slot->len = reply->token_len;
        slot->exp = now + expires;
        slot->lifetime = expires;
        slot->loading = 0;
        slot->retry = 0;
        slot->backoff = 0;
        slot->generation++;
    }

    out->generation = slot->generation;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_explicit_memzero(reply->token, reply->token_len);

    ngx_http_snap_out_token_wake(prov);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "snap: provider \"%V\" issued a token for %T s",
                  &prov->name, expires);

    return NGX_OK;
}


static void
ngx_http_snap_out_token_abandon(void *data)
{
    ngx_http_snap_out_t *out = data;

    ngx_http_snap_out_token_slot_t  *slot;

    if (!out->leased) {
        return;
    }

    slot = out->provider->slot;

    ngx_shmtx_lock(&out->provider->shpool->mutex);

    if (slot->loading == out->lease) {
        slot->loading = 0;
    }

    ngx_shmtx_unlock(&out->provider->shpool->mutex);

    /* this worker's waiters: one of them fetches now */
    ngx_http_snap_out_token_wake(out->provider);
}


/* 2 s, doubling to 64 s, before the next fetch after a failure */

static void
ngx_http_snap_out_token_failed(ngx_http_snap_provider_t *prov)
{
    time_t                           now;
    ngx_http_snap_out_token_slot_t  *slot;

    slot = prov->slot;
    now = ngx_time();

    ngx_shmtx_lock(&prov->shpool->mutex);

    slot->loading = 0;
    slot->backoff = slot->backoff
                    ? ngx_min(slot->backoff * 2, NGX_HTTP_SNAP_BACKOFF_MAX)
                    : NGX_HTTP_SNAP_BACKOFF_MIN;
    slot->retry = now + slot->backoff;

    ngx_shmtx_unlock(&prov->shpool->mutex);
}


/*
 * The provider refused the token it issued (401xx01): a later request
 * fetches a new one.  Only the token that was refused is dropped, not
 * one another worker has fetched since.  A token refused before the
 * provider ever accepted a request signed with it was never good: a
 * provider that refuses the tokens it issues would otherwise get a token
 * call for every request or two, so the next fetch waits, 2 s doubling to
 * 64 s while it goes on.  Returns that wait, 0 when there is none, -1 when
 * the token was dropped already.
 */

time_t
ngx_http_snap_out_token_stale(ngx_http_snap_provider_t *prov,
    ngx_uint_t generation)
{
    time_t                           now, wait;
    ngx_http_snap_out_token_slot_t  *slot;

    slot = prov->slot;
    now = ngx_time();
    wait = -1;

    ngx_shmtx_lock(&prov->shpool->mutex);

    if (slot->generation == generation && slot->len) {
        ngx_explicit_memzero(slot->token, slot->len);
        slot->len = 0;
        slot->exp = 0;
        slot->generation++;
        wait = 0;

        if (slot->proven != generation) {
            slot->refused = (slot->refused
                             && now - slot->refused_at
                                < 2 * NGX_HTTP_SNAP_BACKOFF_MAX)
                            ? ngx_min(slot->refused * 2,
                                      NGX_HTTP_SNAP_BACKOFF_MAX)
                            : NGX_HTTP_SNAP_BACKOFF_MIN;
            slot->refused_at = now;
            slot->retry = ngx_max(slot->retry, now + slot->refused);
            wait = slot->refused;
        }
    }

    ngx_shmtx_unlock(&prov->shpool->mutex);

    return wait;
}


/*
 * The provider accepted a request signed with this token: a later 401xx01
 * for it is a revocation, answered with a new token at once.  Read first
 * without the lock, so that the lock is taken once per token per worker.
 */

void
ngx_http_snap_out_token_proven(ngx_http_snap_provider_t *prov,
    ngx_uint_t generation)
{
    ngx_http_snap_out_token_slot_t  *slot;

    slot = prov->slot;

    if (*(volatile ngx_uint_t *) &slot->proven == generation) {
        return;
    }

    ngx_shmtx_lock(&prov->shpool->mutex);

    if (slot->generation == generation) {
        slot->proven = generation;
    }

    ngx_shmtx_unlock(&prov->shpool->mutex);
}


/*
 * A request waits for another's token call: on a timer, so that a fetch
 * in another worker is seen, and in this worker's list of the provider's
 * waiters, so that a fetch that ends here wakes it at once.
 */

ngx_int_t
ngx_http_snap_out_token_wait(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    ngx_pool_cleanup_t  *cln;

    if (out->waiter.request) {
        if (!out->waiter.queued) {
            ngx_queue_insert_tail(&out->provider->waiters,
                                  &out->waiter.queue);
            out->waiter.queued = 1;
        }

        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_snap_out_token_unwait;
    cln->data = &out->waiter;

    out->waiter.request = r;
    out->waiter.queued = 1;
    ngx_queue_insert_tail(&out->provider->waiters, &out->waiter.queue);

    return NGX_OK;
}


static void
ngx_http_snap_out_token_unwait(void *data)
{
    ngx_http_snap_waiter_t *w = data;

    if (w->queued) {
        ngx_queue_remove(&w->queue);
        w->queued = 0;
    }
}


/*
 * A fetch ended in this worker: its waiters look again now, each from its
 * own connection's event, never from inside the request that fetched.
 */

static void
ngx_http_snap_out_token_wake(ngx_http_snap_provider_t *prov)
{
    ngx_queue_t             *q;
    ngx_event_t             *wev;
    ngx_http_snap_waiter_t  *w;

    while (!ngx_queue_empty(&prov->waiters)) {
        q = ngx_queue_head(&prov->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_snap_waiter_t, queue);
        w->queued = 0;

        wev = w->request->connection->write;

        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        wev->delayed = 0;
        ngx_post_event(wev, &ngx_posted_events);
    }
}


/*
 * The token location's precontent check: only the module's own token
 * calls, for this location's provider, are let through to its proxy_pass.
 */

ngx_int_t
ngx_http_snap_provider_token_handler(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

    if (ctx && ctx->out && ctx->out->token_request) {
        if (slcf->provider_token == ctx->out->provider) {
            ctx->out->located = 1;
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: \"%V\", token= of provider \"%V\", is not a "
                      "location with \"snap_provider_token %V\"",
                      &ctx->out->provider->token_uri,
                      &ctx->out->provider->name, &ctx->out->provider->name);

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (slcf->provider_token == NULL) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "snap: a \"snap_provider_token\" location answers only "
                  "the module's own token calls");

    return NGX_HTTP_FORBIDDEN;
}
