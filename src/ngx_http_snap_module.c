
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The module's face: its directives' table, configuration create, init
 * and merge, variables, phase handlers' and filters' registration, the
 * life of each worker.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_client.h"
#include "ngx_http_snap_directives.h"
#include "ngx_http_snap_error.h"
#include "ngx_http_snap_metrics.h"
#include "ngx_http_snap_provider.h"
#include "ngx_http_snap_replay.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_sign.h"
#include "ngx_http_snap_store_redis.h"
#include "ngx_http_snap_store_zone.h"
#include "ngx_http_snap_token.h"
#include "ngx_http_snap_verify.h"


static ngx_int_t ngx_http_snap_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_snap_init(ngx_conf_t *cf);
static void *ngx_http_snap_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_snap_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_snap_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_snap_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_snap_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_snap_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_snap_out_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_snap_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_init_process(ngx_cycle_t *cycle);
static void ngx_http_snap_exit_process(ngx_cycle_t *cycle);
static void ngx_http_snap_exit_master(ngx_cycle_t *cycle);


#define NGX_HTTP_SNAP_VAR_CLIENT_ID    0
#define NGX_HTTP_SNAP_VAR_PARTNER_ID   1
#define NGX_HTTP_SNAP_VAR_EXTERNAL_ID  2
#define NGX_HTTP_SNAP_VAR_SERVICE      3
#define NGX_HTTP_SNAP_VAR_RESPONSE     4
#define NGX_HTTP_SNAP_VAR_REASON       5
#define NGX_HTTP_SNAP_VAR_OUT_ID       6
#define NGX_HTTP_SNAP_VAR_OUT_TS       7
#define NGX_HTTP_SNAP_VAR_OUT_PROVIDER 8
#define NGX_HTTP_SNAP_VAR_OUT_SOURCE   9
#define NGX_HTTP_SNAP_VAR_VERIFIED     10
#define NGX_HTTP_SNAP_VAR_KEY          11


static ngx_conf_enum_t  ngx_http_snap_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static char *ngx_http_snap_log_level(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_check_skew(ngx_conf_t *cf, void *post, void *data);
static char *ngx_http_snap_check_ttl(ngx_conf_t *cf, void *post, void *data);


static ngx_conf_post_handler_pt  ngx_http_snap_clock_skew_post =
    ngx_http_snap_check_skew;
static ngx_conf_post_handler_pt  ngx_http_snap_token_ttl_post =
    ngx_http_snap_check_ttl;


static ngx_command_t  ngx_http_snap_commands[] = {

    { ngx_string("snap_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_snap_client,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_clients"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_snap_clients,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_token_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_token_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_snap_loc_conf_t, token_ttl),
      &ngx_http_snap_token_ttl_post },

    { ngx_string("snap_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_snap_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_verify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_snap_verify,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_replay_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_replay_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_replay_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_snap_replay_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_snap_replay,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_snap_loc_conf_t, clock_skew),
      &ngx_http_snap_clock_skew_post },

    { ngx_string("snap_signed_path"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_signed_path,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_snap_loc_conf_t, signed_path),
      NULL },

    { ngx_string("snap_require"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_snap_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE3,
      ngx_http_snap_error_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_provider"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_snap_provider,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_provider_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_provider_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_provider_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_provider_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_sign"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_snap_sign,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_enforce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_snap_loc_conf_t, enforce),
      NULL },

    { ngx_string("snap_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_snap_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_snap_log_level,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_snap_loc_conf_t, log_level),
      &ngx_http_snap_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_snap_module_ctx = {
    ngx_http_snap_add_variables,           /* preconfiguration */
    ngx_http_snap_init,                    /* postconfiguration */

    ngx_http_snap_create_main_conf,        /* create main configuration */
    ngx_http_snap_init_main_conf,          /* init main configuration */

    ngx_http_snap_create_srv_conf,         /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_snap_create_loc_conf,         /* create location configuration */
    ngx_http_snap_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_snap_module = {
    NGX_MODULE_V1,
    &ngx_http_snap_module_ctx,             /* module context */
    ngx_http_snap_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_snap_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_snap_exit_process,            /* exit process */
    ngx_http_snap_exit_master,             /* exit master */
    NGX_MODULE_V1_PADDING
};


/* as ngx_conf_set_enum_slot, saying which values there are */

static char *
ngx_http_snap_log_level(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_conf_enum_t  *e;

    value = cf->args->elts;
    e = cmd->post;

    for (i = 0; e[i].name.len; i++) {
        if (e[i].name.len == value[1].len
            && ngx_strcasecmp(e[i].name.data, value[1].data) == 0)
        {
            return ngx_conf_set_enum_slot(cf, cmd, conf);
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"snap_log_level\", expected "
                       "info, notice, warn or error (the module's debug "
                       "lines are in nginx's debug log: error_log ... debug)",
                       &value[1]);

    return NGX_CONF_ERROR;
}


/*
 * snap_clock_skew 0 refuses every request not signed in this node's own
 * second; a skew of hours keeps a captured request fresh for hours
 */

static char *
ngx_http_snap_check_skew(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *skew = data;

    if (*skew < 1) {
        return "must be at least 1s: 0 refuses every request whose clock is "
               "not this node's to the second (300s, the default, is what "
               "providers use)";
    }

    if (*skew > 3600) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"snap_clock_skew\" of %T s accepts a request "
                           "that old, or that far ahead: fix the partner's "
                           "clock rather than widen it past 300s", *skew);
    }

    return NGX_CONF_OK;
}


/* a token is a bearer's for its whole life: SNAP's is 900s */

static char *
ngx_http_snap_check_ttl(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *ttl = data;

    if (*ttl < 1 || *ttl > 86400) {
        return "must be from 1s to 1d (SNAP's tokens live 900s)";
    }

    if (*ttl > 3600) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"snap_token_ttl\" of %T s lets a leaked token be "
                           "used that long; SNAP's tokens live 900s", *ttl);
    }

    return NGX_CONF_OK;
}


static ngx_http_variable_t  ngx_http_snap_vars[] = {

    { ngx_string("snap_client_id"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_CLIENT_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_partner_id"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_PARTNER_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_external_id"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_EXTERNAL_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_service_code"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_SERVICE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_response_code"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_RESPONSE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_reject_reason"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_verified"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_VERIFIED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_key"), NULL, ngx_http_snap_variable,
      NGX_HTTP_SNAP_VAR_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_out_external_id"), NULL, ngx_http_snap_out_variable,
      NGX_HTTP_SNAP_VAR_OUT_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_out_timestamp"), NULL, ngx_http_snap_out_variable,
      NGX_HTTP_SNAP_VAR_OUT_TS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_out_provider"), NULL, ngx_http_snap_out_variable,
      NGX_HTTP_SNAP_VAR_OUT_PROVIDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("snap_out_token_source"), NULL, ngx_http_snap_out_variable,
      NGX_HTTP_SNAP_VAR_OUT_SOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_snap_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_snap_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                  *p;
    ngx_str_t                s;
    ngx_http_snap_ctx_t     *ctx;
    ngx_http_snap_client_t  *c;

    ctx = ngx_http_snap_get_ctx(r);

    ngx_str_null(&s);

    if (ctx) {
        /* a refusal is the named partner's too: its claim, not proof */
        c = ctx->client ? ctx->client : ctx->claimed;

        switch (data) {

        case NGX_HTTP_SNAP_VAR_CLIENT_ID:
            if (c) {
                s = c->id;
            }
            break;

        case NGX_HTTP_SNAP_VAR_PARTNER_ID:
            if (c) {
                s = c->partner_id;
            }
            break;

        case NGX_HTTP_SNAP_VAR_VERIFIED:
            /* what an app may trust: every check passed and was enforced */
            if (ctx->state == NGX_HTTP_SNAP_PASSED && !ctx->reported
                && ctx->conf
                && (ctx->conf->role == NGX_HTTP_SNAP_ROLE_VERIFY
                    || ctx->conf->role == NGX_HTTP_SNAP_ROLE_TOKEN))
            {
                ngx_str_set(&s, "1");
            }
            break;

        case NGX_HTTP_SNAP_VAR_KEY:
            if (ctx->key_used == 0) {
                break;
            }

            p = ngx_pnalloc(r->pool, sizeof("secret") + NGX_INT_T_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            s.data = p;
            s.len = ngx_sprintf(p, "%s%ui", ctx->key_rsa ? "key" : "secret",
                                ctx->key_used)
                    - p;
            break;

        case NGX_HTTP_SNAP_VAR_EXTERNAL_ID:
            if (ctx->external_id) {
                s = ctx->external_id->value;
            }
            break;

        case NGX_HTTP_SNAP_VAR_SERVICE:
            p = ngx_pnalloc(r->pool, 2);
            if (p == NULL) {
                return NGX_ERROR;
            }

            s.len = ngx_sprintf(p, "%02ui",
                                ngx_http_snap_ctx_service(ctx) % 100) - p;
            s.data = p;
            break;

        case NGX_HTTP_SNAP_VAR_RESPONSE:
            if (ctx->answered) {
                s.data = ctx->response_code;
                s.len = 7;
            }
            break;

        default: /* NGX_HTTP_SNAP_VAR_REASON */
            if (ctx->state == NGX_HTTP_SNAP_REJECTED || ctx->reported) {
                s = *ngx_http_snap_reason_name(ctx->reason);

            } else if (ctx->nginx_error) {
                s = *ngx_http_snap_reason_name(ctx->error_reason);
            }
            break;
        }
    }

    if (s.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->data = s.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* what a signed request was sent with: for logs, never the token */

static ngx_int_t
ngx_http_snap_out_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             s;
    ngx_http_snap_ctx_t  *ctx;
    ngx_http_snap_out_t  *out;

    ctx = ngx_http_snap_get_ctx(r);
    out = ctx ? ctx->out : NULL;

    if (out == NULL || out->state != NGX_HTTP_SNAP_OUT_SIGNED) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_SNAP_VAR_OUT_ID:
        s.data = out->external_id;
        s.len = sizeof(out->external_id);
        break;

    case NGX_HTTP_SNAP_VAR_OUT_TS:
        s.data = out->timestamp;
        s.len = sizeof(out->timestamp);
        break;

    case NGX_HTTP_SNAP_VAR_OUT_PROVIDER:
        s = out->provider->name;
        break;

    default: /* NGX_HTTP_SNAP_VAR_OUT_SOURCE */
        if (out->fetched) {
            ngx_str_set(&s, "fetched");

        } else {
            ngx_str_set(&s, "cache");
        }
        break;
    }

    v->len = s.len;
    v->data = s.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static void *
ngx_http_snap_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&smcf->clients, cf->pool, 4,
                       sizeof(ngx_http_snap_client_t))
        != NGX_OK
        || ngx_array_init(&smcf->token_keys, cf->pool, 2,
                          sizeof(ngx_http_snap_key_t))
           != NGX_OK
        || ngx_array_init(&smcf->replays, cf->pool, 4,
                          sizeof(ngx_http_snap_replay_conf_t *))
           != NGX_OK
        || ngx_array_init(&smcf->providers, cf->pool, 1,
                          sizeof(ngx_http_snap_provider_t *))
           != NGX_OK
        || ngx_array_init(&smcf->provider_refs, cf->pool, 2,
                          sizeof(ngx_http_snap_provider_ref_t))
           != NGX_OK
        || ngx_array_init(&smcf->replay_zones, cf->pool, 1,
                          sizeof(ngx_http_snap_zone_t))
           != NGX_OK
        || ngx_array_init(&smcf->services, cf->pool, 4, sizeof(ngx_uint_t))
           != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


/*
 * Once the http block is read, before any location is merged: each room
 * takes what it declared as a whole (the partners, the tokens, the replay
 * zones and their stores, the providers).
 */

static char *
ngx_http_snap_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    if (ngx_http_snap_token_init_conf(cf, smcf) != NGX_OK
        || ngx_http_snap_clients_init(cf, smcf) != NGX_OK
        || ngx_http_snap_replay_init_conf(cf, smcf) != NGX_OK
        || ngx_http_snap_providers_init(cf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_snap_create_srv_conf(ngx_conf_t *cf)
{
    /*
     * set by ngx_pcalloc():
     *
     *     sscf->errors = 0;
     */

    return ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_srv_conf_t));
}


static void *
ngx_http_snap_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_snap_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->role = NGX_HTTP_SNAP_ROLE_NONE;
     *     conf->role_name = { 0, NULL };
     *     conf->check = { 0, 0, NULL };
     *     conf->sign = NULL;
     *     conf->provider_token = NULL;
     */

    conf->enforce = NGX_CONF_UNSET;
    conf->token_ttl = NGX_CONF_UNSET;
    conf->clock_skew = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->signed_path = NGX_CONF_UNSET_PTR;
    conf->replay = NGX_CONF_UNSET_PTR;
    conf->replay_off = NGX_CONF_UNSET;
    conf->clients = NGX_CONF_UNSET_PTR;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->errors = NGX_CONF_UNSET_PTR;

    return conf;
}


/*
 * Merged as nginx merges: a nested location takes its parent's role only
 * where it is to verify or sign (never the token call's content handler,
 * nor the provider's token location), with that role's settings.
 */

static char *
ngx_http_snap_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_snap_loc_conf_t  *prev = parent;
    ngx_http_snap_loc_conf_t  *conf = child;

    ngx_int_t                  rc;
    ngx_http_core_loc_conf_t  *clcf;

    if (conf->role == NGX_HTTP_SNAP_ROLE_NONE
        && (prev->role == NGX_HTTP_SNAP_ROLE_VERIFY
            || prev->role == NGX_HTTP_SNAP_ROLE_SIGN))
    {
        conf->role = prev->role;
        conf->role_name = prev->role_name;
        conf->check = prev->check;
        conf->sign = prev->sign;
    }

    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_ptr_value(conf->errors, prev->errors, NULL);

    ngx_conf_merge_value(conf->enforce, prev->enforce, 1);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 900);
    ngx_conf_merge_sec_value(conf->clock_skew, prev->clock_skew, 300);
    /* as limit_req_log_level and auth_basic refuse: seen at Debian's level */
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_ERR);
    ngx_conf_merge_ptr_value(conf->signed_path, prev->signed_path, NULL);

    /* as one, like limit_req's limits: "snap_replay off" stops it */
    ngx_conf_merge_ptr_value(conf->replay, prev->replay, NULL);
    ngx_conf_merge_value(conf->replay_off, prev->replay_off, 0);

    if (ngx_http_snap_clients_resolve(cf, prev->clients) != NGX_OK
        || ngx_http_snap_clients_resolve(cf, conf->clients) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_ptr_value(conf->clients, prev->clients, NULL);

    /* where snap_verify is written, not where a nested location has it */
    if (conf->role == NGX_HTTP_SNAP_ROLE_VERIFY && conf->role_line
        && conf->replay == NULL && !conf->replay_off)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"snap_verify\" in %V:%ui has no \"snap_replay\": "
                      "a request sent again with the same X-EXTERNAL-ID "
                      "reaches the app again; name a zone with "
                      "\"snap_replay\", or say \"snap_replay off;\" if the "
                      "app refuses repeats itself",
                      &conf->role_file, conf->role_line);
    }

    if (conf->replay) {
        ngx_http_snap_replay_skew(conf->replay, conf->clock_skew);
    }

    if (conf->role == NGX_HTTP_SNAP_ROLE_VERIFY) {
        rc = ngx_http_snap_metrics_service(cf, conf->check.service);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        conf->metrics_service = rc;

        if (!conf->enforce) {
            clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"snap_enforce\" is off in location \"%V\": "
                               "requests that fail verification are "
                               "reported and passed on", &clcf->name);
        }
    }

    if (conf->role == NGX_HTTP_SNAP_ROLE_SIGN
        && ngx_http_snap_sign_merge(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->role == NGX_HTTP_SNAP_ROLE_PROVIDER_TOKEN) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        /* the provider's token goes to no one who asks for it */
        if (!clcf->internal) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "the location \"%V\" with \"snap_provider_token\" "
                          "must be \"internal\" in %V:%ui: add \"internal;\" "
                          "to it", &clcf->name, &conf->role_file,
                          conf->role_line);
            return NGX_CONF_ERROR;
        }
    }

    if ((conf->role == NGX_HTTP_SNAP_ROLE_VERIFY
         || conf->role == NGX_HTTP_SNAP_ROLE_SIGN)
        && (conf->check.profile || conf->require))
    {
        if (prev->schema && prev->check.profile == conf->check.profile
            && prev->require == conf->require)
        {
            conf->schema = prev->schema;

        } else if (ngx_http_snap_build_schema(cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The phase engine runs a phase's handlers from the last added to the
 * first, and this module's postconfiguration runs after nginx's own
 * modules': added last, the enter handler runs before the rewrite
 * module's, and the verify handler before try_files and mirror, once
 * allow/deny, auth_basic and auth_request have decided, whatever
 * "satisfy" says.
 */

static ngx_int_t
ngx_http_snap_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_snap_enter_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_snap_verify_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_snap_sign_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_snap_log_handler;

    if (ngx_http_snap_error_init_filters(cf) != NGX_OK
        || ngx_http_snap_replay_init_filter(cf) != NGX_OK
        || ngx_http_snap_metrics_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_snap_sign_init_filters(cf);
}


static ngx_int_t
ngx_http_snap_init_process(ngx_cycle_t *cycle)
{
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_snap_module);
    if (smcf == NULL) {
        return NGX_OK;
    }

    return ngx_http_snap_replay_init_process(cycle, smcf);
}


static void
ngx_http_snap_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_snap_module);

    if (smcf) {
        ngx_http_snap_replay_exit_process(cycle, smcf);
    }

    ngx_http_snap_lib_cleanup();
    ngx_http_snap_random_cleanup();
}


static void
ngx_http_snap_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_snap_lib_cleanup();
    ngx_http_snap_random_cleanup();
}


static ngx_int_t
ngx_http_snap_log_handler(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    if (ctx) {
        ngx_http_snap_replay_release(r, ctx);
        ngx_http_snap_metrics_log(r);
    }

    return NGX_OK;
}
