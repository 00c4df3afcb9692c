
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Directives, configuration, variables and the per-request context.
 */


#include "ngx_http_snap_module.h"


static ngx_int_t ngx_http_snap_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_snap_init(ngx_conf_t *cf);
static void *ngx_http_snap_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_snap_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_snap_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_snap_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_snap_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_token_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_verify(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_snap_build_schema(ngx_conf_t *cf,
    ngx_http_snap_loc_conf_t *slcf);
static char *ngx_http_snap_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_signed_path(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_snap_error(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_snap_mark_server(ngx_conf_t *cf);
static ngx_int_t ngx_http_snap_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_snap_ctx_cleanup(void *data);
static ngx_int_t ngx_http_snap_log_handler(ngx_http_request_t *r);
static void ngx_http_snap_exit(ngx_cycle_t *cycle);


#define NGX_HTTP_SNAP_VAR_CLIENT_ID    0
#define NGX_HTTP_SNAP_VAR_PARTNER_ID   1
#define NGX_HTTP_SNAP_VAR_EXTERNAL_ID  2
#define NGX_HTTP_SNAP_VAR_SERVICE      3
#define NGX_HTTP_SNAP_VAR_RESPONSE     4
#define NGX_HTTP_SNAP_VAR_REASON       5


static ngx_conf_enum_t  ngx_http_snap_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_snap_commands[] = {

    { ngx_string("snap_client"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_snap_client,
      NGX_HTTP_MAIN_CONF_OFFSET,
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
      NULL },

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
      NULL },

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
      ngx_http_snap_error,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("snap_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
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

    NULL,                                  /* create server configuration */
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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_snap_exit,                    /* exit process */
    ngx_http_snap_exit,                    /* exit master */
    NGX_MODULE_V1_PADDING
};


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
    u_char               *p;
    ngx_str_t             s;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    ngx_str_null(&s);

    if (ctx) {
        switch (data) {

        case NGX_HTTP_SNAP_VAR_CLIENT_ID:
            if (ctx->client) {
                s = ctx->client->id;
            }
            break;

        case NGX_HTTP_SNAP_VAR_PARTNER_ID:
            if (ctx->client) {
                s = ctx->client->partner_id;
            }
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

            s.len = ngx_sprintf(p, "%02ui", ctx->service % 100) - p;
            s.data = p;
            break;

        case NGX_HTTP_SNAP_VAR_RESPONSE:
            if (ctx->rejected) {
                s.data = ctx->response_code;
                s.len = 7;
            }
            break;

        default: /* NGX_HTTP_SNAP_VAR_REASON */
            if (ctx->rejected) {
                s = *ngx_http_snap_reason_name(ctx->reason);
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


static void
ngx_http_snap_ctx_cleanup(void *data)
{
    /* marks the context so that it can be found after internal redirects */
}


/*
 * An internal redirect (error_page, try_files) zeroes r->ctx; finding the
 * context again through its pool cleanup, as realip does, keeps a request
 * from being verified and recorded twice.
 */

ngx_http_snap_ctx_t *
ngx_http_snap_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_snap_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_snap_module);
            return ctx;
        }
    }

    return NULL;
}


ngx_http_snap_ctx_t *
ngx_http_snap_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_snap_ctx_t        *ctx;
    ngx_http_snap_loc_conf_t   *slcf;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_snap_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;

    /*
     * set by ngx_memzero():
     *
     *     ctx->state = NGX_HTTP_SNAP_UNVERIFIED;
     *
     * Fail closed: only the verify handler's own verdict lets a request
     * through, so a context made elsewhere (the token handler, a filter)
     * and carried into a snap_verify location by a redirect refuses it.
     */
    ngx_memzero(ctx, sizeof(ngx_http_snap_ctx_t));

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
    ctx->service = slcf->service;

    if (slcf->verify) {
        ctx->conf = slcf;
    }

    cln->handler = ngx_http_snap_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_snap_module);

    return ctx;
}


/*
 * The configuration a request's SNAP answers follow: that of the
 * snap_verify location it entered, wherever nginx has sent it since.
 */

ngx_http_snap_loc_conf_t *
ngx_http_snap_conf(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    if (ctx && ctx->conf) {
        return ctx->conf;
    }

    return ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
}


/*
 * One pass over the request headers.  A repeated security header is an
 * error, never "first one wins": nginx 1.22 would give the first to a
 * variable, a backend might take the last.  "_" counts as "-": FastCGI,
 * uwsgi, SCGI and CGI name both X_PARTNER_ID and X-Partner-Id
 * HTTP_X_PARTNER_ID, so with underscores_in_headers on either spelling is
 * the same header to the application.  Passes when none is repeated and
 * every required one is there.
 */

ngx_int_t
ngx_http_snap_collect_headers(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    const ngx_http_snap_header_t *required, ngx_uint_t *reason,
    ngx_str_t *field)
{
    u_char             name[13];
    size_t             len;
    ngx_uint_t         i, k;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, **slot;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        len = h[i].key.len;

        if (len < 10 || len > 13) {
            continue;
        }

        for (k = 0; k < len; k++) {
            name[k] = (h[i].lowcase_key[k] == '_') ? '-'
                                                   : h[i].lowcase_key[k];
        }

        slot = NULL;

        /* the length is known equal: memcmp() compiles to a compare or two */
        switch (len) {

        case 10:
            if (ngx_memcmp(name, "channel-id", 10) == 0) {
                slot = &ctx->channel_id;
            }
            break;

        case 11:
            if (ngx_memcmp(name, "x-timestamp", 11) == 0) {
                slot = &ctx->timestamp;

            } else if (ngx_memcmp(name, "x-signature", 11) == 0) {
                slot = &ctx->signature;
            }
            break;

        case 12:
            if (ngx_memcmp(name, "x-partner-id", 12) == 0) {
                slot = &ctx->partner_id;

            } else if (ngx_memcmp(name, "x-channel-id", 12) == 0) {
                slot = &ctx->channel_id;

            } else if (ngx_memcmp(name, "x-client-key", 12) == 0) {
                slot = &ctx->client_key;
            }
            break;

        default: /* 13 */
            if (ngx_memcmp(name, "x-external-id", 13) == 0) {
                slot = &ctx->external_id;

            } else if (ngx_memcmp(name, "authorization", 13) == 0) {
                slot = &ctx->authorization;
            }
            break;
        }

        if (slot == NULL) {
            continue;
        }

        if (*slot) {
            *field = h[i].key;
            return ngx_http_snap_refuse(reason,
                                        NGX_HTTP_SNAP_DUPLICATE_HEADER);
        }

        *slot = &h[i];
    }

    /* present and not empty, in the order of the list */
    for ( /* void */ ; required->name.len; required++) {
        h = *(ngx_table_elt_t **) ((u_char *) ctx + required->offset);

        if (h == NULL || h->value.len == 0) {
            *field = required->name;
            return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_MISSING_FIELD);
        }
    }

    return NGX_OK;
}


/* passes when the timestamp is well formed and fresh */

ngx_int_t
ngx_http_snap_check_timestamp(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    time_t skew, ngx_uint_t *reason)
{
    int64_t   diff;

    if (ngx_http_snap_parse_timestamp(ctx->timestamp->value.data,
                                      ctx->timestamp->value.len, &ctx->ts)
        != 0)
    {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_FORMAT);
    }

    diff = (int64_t) ngx_time() - ctx->ts;

    if (diff > skew || diff < -skew) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TIMESTAMP);
    }

    return NGX_OK;
}


/*
 * The whole request body as one string: in place when nginx holds it in a
 * single memory buffer, else copied out of its buffers or its temp file.
 */

ngx_int_t
ngx_http_snap_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        body->data = (u_char *) "";
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        body->data = (u_char *) "";
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n == NGX_ERROR || n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "snap: could not read the request body file");
                return NGX_ERROR;
            }

            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


ngx_http_snap_client_t *
ngx_http_snap_find_client(ngx_http_snap_main_conf_t *smcf, ngx_str_t *id,
    ngx_uint_t by_partner)
{
    ngx_str_t               *key;
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        key = by_partner ? &c[i].partner_id : &c[i].id;

        if (key->len == id->len
            && ngx_strncmp(key->data, id->data, id->len) == 0)
        {
            return &c[i];
        }
    }

    return NULL;
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
           != NGX_OK)
    {
        return NULL;
    }

    return smcf;
}


static char *
ngx_http_snap_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    if (smcf->tokens_used && smcf->token_keys.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"snap_token\" and \"snap_verify\" with HMAC "
                           "signatures need \"snap_token_key\" in the http "
                           "block");
        return NGX_CONF_ERROR;
    }

    /* per cycle: a reload, which may drop keys or clients, starts empty */
    if (smcf->tokens_used) {
        smcf->token_cache = ngx_pcalloc(cf->pool,
                                        NGX_HTTP_SNAP_TOKEN_CACHE
                                        * sizeof(ngx_http_snap_token_cache_t));
        if (smcf->token_cache == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
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
     *     conf->service = 0;
     *     conf->signature = 0;
     *     conf->profile = NULL;
     */

    conf->verify = NGX_CONF_UNSET;
    conf->token = NGX_CONF_UNSET;
    conf->token_ttl = NGX_CONF_UNSET;
    conf->clock_skew = NGX_CONF_UNSET;
    conf->log_level = NGX_CONF_UNSET_UINT;
    conf->signed_path = NGX_CONF_UNSET_PTR;
    conf->replay = NGX_CONF_UNSET_PTR;
    conf->require = NGX_CONF_UNSET_PTR;
    conf->errors = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_snap_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_snap_loc_conf_t  *prev = parent;
    ngx_http_snap_loc_conf_t  *conf = child;

    /* nested locations inherit the verification, not the token handler */
    if (conf->verify == NGX_CONF_UNSET && conf->token != 1) {
        conf->verify = prev->verify;
        conf->service = prev->service;
        conf->signature = prev->signature;
        conf->profile = prev->profile;
    }

    ngx_conf_merge_ptr_value(conf->require, prev->require, NULL);
    ngx_conf_merge_ptr_value(conf->errors, prev->errors, NULL);

    ngx_conf_merge_value(conf->verify, 0, 0);
    ngx_conf_merge_value(conf->token, 0, 0);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 900);
    ngx_conf_merge_sec_value(conf->clock_skew, prev->clock_skew, 300);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_INFO);
    ngx_conf_merge_ptr_value(conf->signed_path, prev->signed_path, NULL);

    /* as one, like limit_req's limits: "snap_replay off" stops it */
    ngx_conf_merge_ptr_value(conf->replay, prev->replay, NULL);

    if (conf->replay) {
        ngx_http_snap_replay_skew(conf->replay->zone, conf->clock_skew);
    }

    if (conf->verify && (conf->profile || conf->require)) {
        if (prev->schema && prev->profile == conf->profile
            && prev->require == conf->require)
        {
            conf->schema = prev->schema;

        } else if (ngx_http_snap_build_schema(cf, conf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->token_ttl < 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"snap_token_ttl\" must be at least 1s");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* snap_client ID public_key=FILE [secret_file=FILE] [partner_id=ID] ... */

static char *
ngx_http_snap_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    u_char                  *p;
    EVP_PKEY_CTX           **pkey;
    ngx_str_t               *value, file;
    ngx_http_snap_key_t     *secret;
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c, *other;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > NGX_HTTP_SNAP_TOKEN_MAX_CLIENT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "client id \"%V\" must be 1 to %d characters",
                           &value[1], NGX_HTTP_SNAP_TOKEN_MAX_CLIENT);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "client id \"%V\" may only hold printable "
                               "ASCII without quotes or backslashes",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_snap_find_client(smcf, &value[1], 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate snap_client \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    c = ngx_array_push(&smcf->clients);
    if (c == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(c, sizeof(ngx_http_snap_client_t));

    c->id = value[1];

    if (ngx_array_init(&c->pkeys, cf->pool, 1, sizeof(EVP_PKEY_CTX *)) != NGX_OK
        || ngx_array_init(&c->secrets, cf->pool, 1,
                          sizeof(ngx_http_snap_key_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "public_key=", 11) == 0) {
            file.data = value[i].data + 11;
            file.len = value[i].len - 11;

            pkey = ngx_array_push(&c->pkeys);
            if (pkey == NULL) {
                return NGX_CONF_ERROR;
            }

            *pkey = ngx_http_snap_load_public_key(cf, &file);
            if (*pkey == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "secret_file=", 12) == 0) {
            file.data = value[i].data + 12;
            file.len = value[i].len - 12;

            secret = ngx_array_push(&c->secrets);
            if (secret == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_snap_load_key(cf, &file, secret, 0, 512)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "partner_id=", 11) == 0) {
            if (c->partner_id.data) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate \"partner_id\" for client "
                                   "\"%V\"", &c->id);
                return NGX_CONF_ERROR;
            }

            c->partner_id.data = value[i].data + 11;
            c->partner_id.len = value[i].len - 11;

            if (!ngx_http_snap_header_value_ok(c->partner_id.data,
                                               c->partner_id.len, 64))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid partner_id \"%V\"",
                                   &c->partner_id);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected public_key=, "
                           "secret_file= or partner_id=", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (c->pkeys.nelts == 0 && c->secrets.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "snap_client \"%V\" needs public_key= or "
                           "secret_file=", &c->id);
        return NGX_CONF_ERROR;
    }

    if (c->partner_id.data == NULL) {
        c->partner_id = c->id;
    }

    /* FNV-1a: the replay store keys a partner by this, never by position */
    c->hash = 0xcbf29ce484222325ULL;

    for (p = c->partner_id.data;
         p < c->partner_id.data + c->partner_id.len;
         p++)
    {
        c->hash = (c->hash ^ *p) * 0x100000001b3ULL;
    }

    other = smcf->clients.elts;

    for (i = 0; i + 1 < smcf->clients.nelts; i++) {
        if (other[i].partner_id.len == c->partner_id.len
            && ngx_strncmp(other[i].partner_id.data, c->partner_id.data,
                           c->partner_id.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "partner_id \"%V\" is used by two snap_client "
                               "directives", &c->partner_id);
            return NGX_CONF_ERROR;
        }

        if (other[i].hash == c->hash) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "partner_id \"%V\" collides with \"%V\" in "
                               "the replay store, rename one of them",
                               &c->partner_id, &other[i].partner_id);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_snap_token_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_str_t            *value;
    ngx_http_snap_key_t  *key;

    value = cf->args->elts;

    key = ngx_array_push(&smcf->token_keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_load_key(cf, &value[1], key, 32, 256) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_snap_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_snap_main_conf_t  *smcf;

    if (slcf->token != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (slcf->verify == 1) {
        return "cannot be mixed with \"snap_verify\" in one location";
    }

    slcf->token = 1;
    slcf->service = NGX_HTTP_SNAP_SERVICE_TOKEN;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
    smcf->tokens_used = 1;

    if (smcf->grant[0] == NULL
        && ngx_http_snap_token_init_grant(cf, smcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_snap_mark_server(cf);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_snap_token_handler;

    return NGX_CONF_OK;
}


/* snap_verify NAME|CODE [signature=hmac|rsa] */

static char *
ngx_http_snap_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                      *value;
    ngx_http_snap_main_conf_t      *smcf;
    const ngx_http_snap_service_t  *service;

    if (slcf->verify != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (slcf->token == 1) {
        return "cannot be mixed with \"snap_token\" in one location";
    }

    value = cf->args->elts;

    /* a name brings the service's body profile, a bare code only the code */
    if (value[1].len == 2 && isdigit(value[1].data[0])
        && isdigit(value[1].data[1]))
    {
        slcf->service = (value[1].data[0] - '0') * 10
                        + value[1].data[1] - '0';

    } else {
        service = ngx_http_snap_service(value[1].data, value[1].len);
        if (service == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown SNAP service \"%V\", use a service "
                               "name such as \"qr-mpm-notify\" or a 2-digit "
                               "code", &value[1]);
            return NGX_CONF_ERROR;
        }

        slcf->service = service->code;
        slcf->profile = service->profile;
    }

    slcf->verify = 1;
    slcf->signature = NGX_HTTP_SNAP_SIG_HMAC;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "signature=hmac") == 0) {
            slcf->signature = NGX_HTTP_SNAP_SIG_HMAC;

        } else if (ngx_strcmp(value[2].data, "signature=rsa") == 0) {
            slcf->signature = NGX_HTTP_SNAP_SIG_RSA;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"signature=hmac\" or \"signature=rsa\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    if (slcf->signature == NGX_HTTP_SNAP_SIG_HMAC) {
        smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
        smcf->tokens_used = 1;
    }

    ngx_http_snap_mark_server(cf);

    return NGX_CONF_OK;
}


/*
 * A request nginx refuses before it has chosen a location (a malformed
 * header, a duplicated Authorization, Content-Length with chunked) is
 * answered with the server{}'s location configuration: marking it lets
 * the filter answer those in SNAP JSON too, with service code 00.
 */

static void
ngx_http_snap_mark_server(ngx_conf_t *cf)
{
    ngx_http_snap_loc_conf_t   *slcf;
    ngx_http_core_srv_conf_t   *cscf;

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    slcf = cscf->ctx->loc_conf[ngx_http_snap_module.ctx_index];

    slcf->server_errors = 1;
}


/*
 * snap_signed_path VALUE: the path the client signed.  The query string
 * is always the request line's, appended by the module, so that nothing
 * the upstream receives goes unsigned: a VALUE with a query of its own is
 * refused.
 */

static char *
ngx_http_snap_signed_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char      *p, *last;
    ngx_str_t   *value, name;
    ngx_uint_t   i;

    static ngx_str_t  query[] = {
        ngx_string("request_uri"),
        ngx_string("args"),
        ngx_string("query_string"),
        ngx_string("is_args"),
        ngx_null_string
    };

    value = cf->args->elts;

    p = value[1].data;
    last = p + value[1].len;

    if (ngx_strlchr(p, last, '?')) {
        goto query;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p != '$') {
            continue;
        }

        p++;

        if (p < last && *p == '{') {
            p++;
        }

        name.data = p;

        while (p < last && (isalnum(*p) || *p == '_')) {
            p++;
        }

        name.len = p - name.data;

        if (name.len > 4 && ngx_strncmp(name.data, "arg_", 4) == 0) {
            goto query;
        }

        for (i = 0; query[i].len; i++) {
            if (name.len == query[i].len
                && ngx_strncmp(name.data, query[i].data, name.len) == 0)
            {
                goto query;
            }
        }

        p--;
    }

    return ngx_http_set_complex_value_slot(cf, cmd, conf);

query:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"snap_signed_path\" takes a path without a query: "
                       "the request line's query string is always appended "
                       "to it, use \"/prefix$uri\" rather than "
                       "\"$request_uri\" or \"$args\"");
    return NGX_CONF_ERROR;
}


/* snap_require FIELD ...: mandatory body fields, "a.b" or "items[].id" */

static char *
ngx_http_snap_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_http_snap_field_t  *f;

    value = cf->args->elts;

    if (slcf->require == NGX_CONF_UNSET_PTR) {
        slcf->require = ngx_array_create(cf->pool, cf->args->nelts,
                                         sizeof(ngx_http_snap_field_t));
        if (slcf->require == NULL) {
            return NGX_CONF_ERROR;
        }

    } else {
        /* drop the terminator, added again below */
        slcf->require->nelts--;
    }

    for (i = 1; i < cf->args->nelts + 1; i++) {
        f = ngx_array_push(slcf->require);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(f, sizeof(ngx_http_snap_field_t));

        if (i == cf->args->nelts) {
            break;
        }

        if (!ngx_http_snap_field_path_ok((char *) value[i].data)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field path \"%V\", expected names "
                               "joined by \".\", \"[]\" after an array, "
                               "as in \"amount.value\" or \"items[].id\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        f->path = (char *) value[i].data;
        f->type = NGX_HTTP_SNAP_JSON_ANY;
        f->required = 1;
    }

    return NGX_CONF_OK;
}


/*
 * The profile's fields, then snap_require's, as one schema: a body is
 * checked against both in a single pass.
 */

static ngx_int_t
ngx_http_snap_build_schema(ngx_conf_t *cf, ngx_http_snap_loc_conf_t *slcf)
{
    size_t                        n;
    ngx_uint_t                    i;
    ngx_http_snap_field_t        *fields;
    const ngx_http_snap_field_t  *f;

    n = 0;

    for (f = slcf->profile; f && f->path; f++) {
        n++;
    }

    if (slcf->require) {
        n += slcf->require->nelts - 1;
    }

    fields = ngx_palloc(cf->pool, n * sizeof(ngx_http_snap_field_t));
    if (fields == NULL) {
        return NGX_ERROR;
    }

    i = 0;

    for (f = slcf->profile; f && f->path; f++) {
        fields[i++] = *f;
    }

    if (slcf->require) {
        ngx_memcpy(&fields[i], slcf->require->elts,
                   (slcf->require->nelts - 1) * sizeof(ngx_http_snap_field_t));
    }

    slcf->schema = ngx_http_snap_schema_create(cf, fields, n);

    return slcf->schema ? NGX_OK : NGX_ERROR;
}


/* a schema laid out in the configuration's pool */

ngx_http_snap_schema_t *
ngx_http_snap_schema_create(ngx_conf_t *cf,
    const ngx_http_snap_field_t *fields, size_t n)
{
    void                    *mem;
    ngx_http_snap_schema_t  *schema;

    mem = ngx_palloc(cf->pool, ngx_http_snap_schema_size(fields, n));
    if (mem == NULL) {
        return NULL;
    }

    schema = ngx_http_snap_schema_init(mem, fields, n);

    if (schema == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many body fields to check in one location: "
                           "their paths go through more than %d names",
                           NGX_HTTP_SNAP_SCHEMA_NODES - 1);
    }

    return schema;
}


/*
 * snap_error REASON CODE MESSAGE: the providers disagree on codes (seed
 * 001 answers a bad token-call signature with 4007302 "Invalid
 * Signature"), so each reason's answer can be set; "xx" in CODE stands for
 * the service code, a MESSAGE ending in "{field}" gets the field's name.
 */

static char *
ngx_http_snap_error(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    u_char                    *c;
    ngx_int_t                  reason, status;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_snap_override_t  *ov;

    value = cf->args->elts;

    reason = ngx_http_snap_reason_by_name(&value[1]);
    if (reason == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown rejection reason \"%V\", see "
                           "$snap_reject_reason in README.md", &value[1]);
        return NGX_CONF_ERROR;
    }

    c = value[2].data;
    status = (value[2].len == 7) ? ngx_atoi(c, 3) : NGX_ERROR;

    if (status < 200 || status > 599
        || !((isdigit(c[3]) && isdigit(c[4])) || (c[3] == 'x' && c[4] == 'x'))
        || !isdigit(c[5]) || !isdigit(c[6]))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid SNAP code \"%V\", expected 7 digits "
                           "(HTTP status, service, case) such as "
                           "\"4007302\" or \"401xx00\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (value[3].len == 0 || value[3].len > 150) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the message must be 1 to 150 characters");
        return NGX_CONF_ERROR;
    }

    if (slcf->errors == NGX_CONF_UNSET_PTR) {
        slcf->errors = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_snap_override_t));
        if (slcf->errors == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ov = slcf->errors->elts;

    for (i = 0; i < slcf->errors->nelts; i++) {
        if (ov[i].reason == (ngx_uint_t) reason) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate snap_error for \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ov = ngx_array_push(slcf->errors);
    if (ov == NULL) {
        return NGX_CONF_ERROR;
    }

    ov->reason = reason;
    ov->status = status;
    ngx_memcpy(ov->code, c, 7);
    ov->message = value[3];
    ov->with_field = 0;

    if (ov->message.len > 7
        && ngx_strncmp(ov->message.data + ov->message.len - 7, "{field}", 7)
           == 0)
    {
        ov->message.len -= 7;
        ov->with_field = 1;
    }

    /* the JSON body takes the message as it is */
    for (i = 0; i < ov->message.len; i++) {
        if (ov->message.data[i] == '"' || ov->message.data[i] == '\\'
            || ov->message.data[i] < 0x20)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the message may not hold quotes, "
                               "backslashes or control characters");
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

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_snap_log_handler;

    return ngx_http_snap_init_filters(cf);
}


static void
ngx_http_snap_exit(ngx_cycle_t *cycle)
{
    ngx_http_snap_lib_cleanup();
}


static ngx_int_t
ngx_http_snap_log_handler(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    if (ctx) {
        ngx_http_snap_replay_release(r, ctx);
    }

    return NGX_OK;
}
