
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * snap_sign: the merchant app's plain JSON call leaves nginx as a SNAP
 * transaction.  In the precontent phase the body is read, checked and
 * minified, a token is had from the cache (or fetched), X-TIMESTAMP and
 * X-EXTERNAL-ID are made once, and the request is signed over what the
 * proxy sends: the same path, query, body and timestamp bytes.  The app's
 * own SNAP headers are dropped.  Nothing leaves nginx half signed.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_error.h"
#include "ngx_http_snap_provider.h"
#include "ngx_http_snap_sign.h"

#include <openssl/rand.h>


/* how often a request waiting on another's token call looks again */
#define NGX_HTTP_SNAP_WAIT_MS      10
/* the first bytes of a 401 answer read for its responseCode */
#define NGX_HTTP_SNAP_ANSWER_MAX   512


static ngx_int_t ngx_http_snap_sign_service(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_sign_path(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static void ngx_http_snap_sign_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_sign_body(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_out_t *out);
static ngx_int_t ngx_http_snap_sign_token(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_out_t *out);
static void ngx_http_snap_sign_wait(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_sign_request(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_out_t *out);
static ngx_int_t ngx_http_snap_sign_url(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_snap_sign_headers(ngx_http_request_t *r,
    ngx_http_snap_out_t *out, ngx_str_t *signature);
static ngx_uint_t ngx_http_snap_sign_dropped(ngx_table_elt_t *h);
static ngx_int_t ngx_http_snap_sign_subrequest(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_sign_set_body(ngx_http_request_t *r,
    ngx_http_snap_out_t *out);
static ngx_int_t ngx_http_snap_next_id(u_char *dst);
static ngx_int_t ngx_http_snap_sign_reject(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_sign_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_sign_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_snap_sign_watch(ngx_http_request_t *r,
    ngx_http_snap_out_t *out);


static ngx_http_snap_param_t  ngx_http_snap_sign_params[] = {
    ngx_http_snap_param("path", ngx_http_snap_sign_path, 0),
    ngx_http_snap_param_end
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/*
 * The app's headers that nginx sets itself, by their names lower-cased
 * with "_" as "-": a backend that reads X_SIGNATURE as X-SIGNATURE must
 * not get the app's beside nginx's.
 */
static ngx_str_t  ngx_http_snap_sign_drop[] = {
    ngx_string("authorization"),
    ngx_string("x-timestamp"),
    ngx_string("x-signature"),
    ngx_string("x-partner-id"),
    ngx_string("x-external-id"),
    ngx_string("channel-id"),
    ngx_string("x-channel-id"),
    ngx_string("x-client-key"),
    ngx_string("x-client-secret"),
    ngx_string("content-type"),
    ngx_string("content-length"),
    ngx_string("transfer-encoding"),
    ngx_null_string
};


/* this worker's X-EXTERNAL-ID prefix, made again in every new process */
static u_char     ngx_http_snap_id_prefix[NGX_HTTP_SNAP_OUT_PREFIX_LEN];
static uint64_t   ngx_http_snap_id_counter;
static ngx_pid_t  ngx_http_snap_id_pid;


/* snap_sign NAME [SERVICE] [path=VALUE] */

char *
ngx_http_snap_sign(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                  *value;
    ngx_http_snap_sign_conf_t  *sign;

    if (ngx_http_snap_conf_role(cf, cmd, slcf, NGX_HTTP_SNAP_ROLE_SIGN)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    sign = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_sign_conf_t));
    if (sign == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->sign = sign;

    if (ngx_http_snap_conf_params(cf, 2, ngx_http_snap_sign_params,
                                  ngx_http_snap_sign_service, slcf)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_provider_ref(cf, &value[1], &sign->provider, 0)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_snap_conf_server_errors(cf);

    return NGX_CONF_OK;
}


/* snap_sign's SERVICE: a name brings its profile, a code only itself */

static ngx_int_t
ngx_http_snap_sign_service(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_loc_conf_t *slcf = data;

    if (slcf->check.service) {
        return NGX_DECLINED;
    }

    if (ngx_http_snap_conf_service(cf, value, &slcf->check, "qr-mpm-generate")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* path=VALUE: the EndpointUrl signed, where the location changes it */

static ngx_int_t
ngx_http_snap_sign_path(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_loc_conf_t *slcf = data;

    ngx_http_compile_complex_value_t  ccv;

    slcf->sign->path = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (slcf->sign->path == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = slcf->sign->path;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * In the precontent phase, re-entered after each wait (the body, a token
 * call, another request's token call) until the request is signed or
 * refused.  Subrequests go to the token location's check.
 */

/*
 * A signing location's own proxy_set_header of Authorization or
 * X-SIGNATURE would replace what nginx adds: every call would reach the
 * provider without its token or signature.  The proxy module is found by
 * name and its headers through its directive's own offset, so a build
 * without it, or a newer one, is read as nginx itself would.
 */

ngx_int_t
ngx_http_snap_sign_merge(ngx_conf_t *cf, ngx_http_snap_loc_conf_t *slcf)
{
    void                      *plcf;
    ngx_uint_t                 i, k;
    ngx_array_t               *headers;
    ngx_module_t              *m;
    ngx_keyval_t              *kv;
    ngx_command_t             *cmd;
    ngx_http_conf_ctx_t       *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    static ngx_str_t  owned[] = {
        ngx_string("Authorization"),
        ngx_string("X-SIGNATURE"),
        ngx_null_string
    };

    m = NULL;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (ngx_strcmp(cf->cycle->modules[i]->name, "ngx_http_proxy_module")
            == 0)
        {
            m = cf->cycle->modules[i];
            break;
        }
    }

    if (m == NULL || m->commands == NULL) {
        return NGX_OK;
    }

    for (cmd = m->commands; cmd->name.len; cmd++) {
        if (cmd->name.len == sizeof("proxy_set_header") - 1
            && ngx_strncmp(cmd->name.data, "proxy_set_header",
                           cmd->name.len)
               == 0)
        {
            break;
        }
    }

    if (cmd->name.len == 0 || cmd->conf != NGX_HTTP_LOC_CONF_OFFSET) {
        return NGX_OK;
    }

    ctx = cf->ctx;
    plcf = ctx->loc_conf[m->ctx_index];
    headers = *(ngx_array_t **) ((char *) plcf + cmd->offset);

    if (headers == NULL || headers == NGX_CONF_UNSET_PTR) {
        return NGX_OK;
    }

    kv = headers->elts;

    for (i = 0; i < headers->nelts; i++) {
        for (k = 0; owned[k].len; k++) {
            if (kv[i].key.len == owned[k].len
                && ngx_strncasecmp(kv[i].key.data, owned[k].data,
                                   owned[k].len)
                   == 0)
            {
                clcf = ngx_http_conf_get_module_loc_conf(cf,
                                                         ngx_http_core_module);
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"proxy_set_header %V\" in the location "
                              "\"%V\" with \"snap_sign\" (%V:%ui) would "
                              "replace the %s nginx sends the provider: "
                              "remove it (nginx sets %V itself)",
                              &kv[i].key, &clcf->name, &slcf->role_file,
                              slcf->role_line,
                              k == 0 ? "token" : "signature", &owned[k]);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_sign_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_out_t       *out;
    ngx_http_snap_loc_conf_t  *slcf;

    if (r != r->main) {
        if (ngx_http_snap_sign_subrequest(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_snap_provider_token_handler(r);
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (slcf->provider_token) {
        return ngx_http_snap_provider_token_handler(r);
    }

    ctx = ngx_http_snap_get_ctx(r);
    out = ctx ? ctx->out : NULL;

    if (slcf->role != NGX_HTTP_SNAP_ROLE_SIGN && out == NULL) {
        return NGX_DECLINED;
    }

    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (out == NULL) {
        out = ngx_pcalloc(r->pool, sizeof(ngx_http_snap_out_t));
        if (out == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        out->token.data = ngx_pnalloc(r->pool, NGX_HTTP_SNAP_OUT_TOKEN_MAX);
        if (out->token.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        out->provider = slcf->sign->provider;
        ctx->out = out;
        ctx->provider = out->provider->index + 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap sign handler: state %d", (int) out->state);

    switch (out->state) {

    case NGX_HTTP_SNAP_OUT_SIGNED:
        /* an internal redirect after signing: it is sent as signed */
        return NGX_DECLINED;

    case NGX_HTTP_SNAP_OUT_REJECTED:
        rc = ngx_http_snap_send_again(r, ctx);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_SNAP_OUT_START:
        if (r->error_page) {
            /* an error_page into a snap_sign location: its body is gone */
            rc = ngx_http_snap_sign_reject(r, ctx, NGX_HTTP_SNAP_INTERNAL,
                                           NULL);
            ngx_http_finalize_request(r, rc);
            return NGX_DONE;
        }

        out->state = NGX_HTTP_SNAP_OUT_READING;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_snap_sign_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        /* the body handler runs the phases again when the body is read */
        ngx_http_finalize_request(r, NGX_DONE);
        return NGX_DONE;

    case NGX_HTTP_SNAP_OUT_READING:
        /* nginx failed the body read and an error_page led here */
        rc = ngx_http_snap_sign_reject(r, ctx,
                                       r->err_status >= NGX_HTTP_BAD_REQUEST
                                       ? ngx_http_snap_status_reason(
                                             r->err_status)
                                       : NGX_HTTP_SNAP_INTERNAL, NULL);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_SNAP_OUT_BODY:
        rc = ngx_http_snap_sign_body(r, ctx, out);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_snap_sign_token(r, ctx, out);

    case NGX_HTTP_SNAP_OUT_WAITING:
        return ngx_http_snap_sign_token(r, ctx, out);

    case NGX_HTTP_SNAP_OUT_FETCHING:
        if (out->fetch_rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        out->state = NGX_HTTP_SNAP_OUT_FETCHED;

        /* fall through */

    default: /* NGX_HTTP_SNAP_OUT_FETCHED */

        rc = ngx_http_snap_out_token_answer(r, out);

        if (rc == NGX_OK) {
            return ngx_http_snap_sign_request(r, ctx, out);
        }

        rc = ngx_http_snap_sign_reject(r, ctx,
                                       rc == NGX_DECLINED
                                       ? NGX_HTTP_SNAP_UPSTREAM
                                       : NGX_HTTP_SNAP_INTERNAL, NULL);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }
}


static void
ngx_http_snap_sign_body_handler(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap sign: body read");

    ctx->out->state = NGX_HTTP_SNAP_OUT_BODY;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * The app's body: JSON (the location's profile and snap_require too),
 * minified into one buffer, hashed as the provider will hash it.
 * NGX_OK, or what the handler returns for a refusal.
 */

static ngx_int_t
ngx_http_snap_sign_body(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_out_t *out)
{
    int                        rc;
    char                       err[NGX_HTTP_SNAP_FIELD_MAX * 2];
    u_char                    *p;
    ngx_str_t                  body, field;
    ngx_uint_t                 reason;
    ngx_http_snap_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    ngx_str_null(&field);

    if (ngx_http_snap_read_body(r, &body) != NGX_OK) {
        reason = NGX_HTTP_SNAP_INTERNAL;
        goto refused;
    }

    if (body.len == 0) {
        rc = slcf->schema ? NGX_HTTP_SNAP_FIELD_JSON : NGX_HTTP_SNAP_FIELD_OK;
        out->body.data = body.data;

    } else {
        out->body.data = ngx_pnalloc(r->pool, body.len);
        if (out->body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = out->body.data;

        rc = ngx_http_snap_json_check(body.data, body.len, slcf->schema, err,
                                      sizeof(err), ngx_http_snap_copy_emit,
                                      &p);
        out->body.len = p - out->body.data;
    }

    switch (rc) {

    case NGX_HTTP_SNAP_FIELD_OK:
        break;

    case NGX_HTTP_SNAP_FIELD_JSON:
        reason = NGX_HTTP_SNAP_BAD_JSON;
        goto refused;

    case NGX_HTTP_SNAP_FIELD_MISSING:
    case NGX_HTTP_SNAP_FIELD_BAD:
        reason = (rc == NGX_HTTP_SNAP_FIELD_MISSING)
                 ? NGX_HTTP_SNAP_MISSING_FIELD : NGX_HTTP_SNAP_BAD_FORMAT;
        field.data = (u_char *) err;
        field.len = ngx_strlen(err);
        goto refused;

    default:
        reason = NGX_HTTP_SNAP_INTERNAL;
        goto refused;
    }

    if (ngx_http_snap_body_hash(out->body.data, out->body.len, out->hex) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: the body could not be hashed");
        reason = NGX_HTTP_SNAP_INTERNAL;
        goto refused;
    }

    return NGX_OK;

refused:

    rc = ngx_http_snap_sign_reject(r, ctx, reason, &field);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_snap_sign_token(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_out_t *out)
{
    ngx_int_t     rc;
    ngx_uint_t    reason;
    ngx_event_t  *wev;

    switch (ngx_http_snap_out_token_get(r, out)) {

    case NGX_HTTP_SNAP_OUT_TOKEN_USE:
        if (!out->refresh) {
            return ngx_http_snap_sign_request(r, ctx, out);
        }

        /* ahead of expiry, with this token to fall back on */

        /* fall through */

    case NGX_HTTP_SNAP_OUT_TOKEN_FETCH:
        if (ngx_http_snap_out_token_fetch(r, out) != NGX_OK) {
            /* what was taken is released, with its back-off */
            out->fetch_rc = NGX_DECLINED;
            out->state = NGX_HTTP_SNAP_OUT_FETCHED;
            return ngx_http_snap_sign_handler(r);
        }

        out->state = NGX_HTTP_SNAP_OUT_FETCHING;
        return NGX_AGAIN;

    case NGX_HTTP_SNAP_OUT_TOKEN_WAIT:
        /*
         * as limit_req delays: a client that closes meanwhile is seen by
         * ngx_http_test_reading() on its read event, and its request ends
         * there, never signed nor sent
         */
        if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK
            || ngx_http_snap_out_token_wait(r, out) != NGX_OK)
        {
            reason = NGX_HTTP_SNAP_INTERNAL;
            break;
        }

        out->state = NGX_HTTP_SNAP_OUT_WAITING;

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_snap_sign_wait;

        wev = r->connection->write;
        wev->delayed = 1;
        ngx_add_timer(wev, NGX_HTTP_SNAP_WAIT_MS);

        return NGX_AGAIN;

    default: /* NGX_HTTP_SNAP_OUT_TOKEN_BACKOFF */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: no token from provider \"%V\": its last token "
                      "call failed, or it refused the last token it issued, "
                      "a moment ago; no token call until its back-off ends",
                      &out->provider->name);
        reason = NGX_HTTP_SNAP_UPSTREAM;
        break;
    }

    rc = ngx_http_snap_sign_reject(r, ctx, reason, NULL);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static void
ngx_http_snap_sign_wait(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        /* a write event before the timer: wait on */
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/*
 * HMAC-SHA512 over METHOD:EndpointUrl:AccessToken:hex:X-TIMESTAMP, the
 * headers and the body set as the proxy will send them.
 */

static ngx_int_t
ngx_http_snap_sign_request(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_out_t *out)
{
    u_char                     *sts, mac[NGX_HTTP_SNAP_HMAC512_LEN];
    size_t                      len;
    ngx_int_t                   rc;
    ngx_str_t                   url, signature;
    ngx_http_snap_provider_t   *prov;

    prov = out->provider;

    if (ngx_http_snap_sign_url(r, &url) != NGX_OK
        || ngx_http_snap_next_id(out->external_id) != NGX_OK)
    {
        goto failed;
    }

    ngx_http_snap_format_wib(ngx_time(), out->timestamp);

    len = ngx_http_snap_string_to_sign_len(r->method_name.len, url.len,
                                           out->token.len, 1,
                                           sizeof(out->timestamp));

    sts = ngx_pnalloc(r->pool, len);
    signature.data = ngx_pnalloc(r->pool,
                        ngx_http_snap_base64_encoded_len(sizeof(mac)));

    if (sts == NULL || signature.data == NULL) {
        goto failed;
    }

    len = ngx_http_snap_string_to_sign(sts, r->method_name.data,
                                       r->method_name.len, url.data, url.len,
                                       out->token.data, out->token.len, 1,
                                       out->hex, out->timestamp,
                                       sizeof(out->timestamp));

    if (ngx_http_snap_hmac(&prov->secret, 512, sts, len, mac) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: could not sign for provider \"%V\"",
                      &prov->name);
        goto failed;
    }

    signature.len = ngx_http_snap_base64_encode(signature.data, mac,
                                                sizeof(mac), 0);

    ngx_explicit_memzero(mac, sizeof(mac));

    if (ngx_http_snap_sign_headers(r, out, &signature) != NGX_OK
        || ngx_http_snap_sign_set_body(r, out) != NGX_OK)
    {
        goto failed;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap sign: \"%V\" signed for provider \"%V\"", &url,
                   &prov->name);

    out->state = NGX_HTTP_SNAP_OUT_SIGNED;
    ctx->state = NGX_HTTP_SNAP_PASSED;

    return NGX_DECLINED;

failed:

    rc = ngx_http_snap_sign_reject(r, ctx, NGX_HTTP_SNAP_INTERNAL, NULL);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * EndpointUrl: path= when the location maps the path; otherwise what
 * proxy_pass without a URI sends, the request line's URI as received, or
 * after a rewrite the new URI escaped as proxy escapes it and its
 * arguments.
 */

static ngx_int_t
ngx_http_snap_sign_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char                     *p;
    uintptr_t                   escape;
    ngx_http_snap_loc_conf_t   *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (slcf->sign->path) {
        if (ngx_http_complex_value(r, slcf->sign->path, url) != NGX_OK) {
            return NGX_ERROR;
        }

        return url->len ? NGX_OK : NGX_ERROR;
    }

    if (r->valid_unparsed_uri) {
        *url = r->unparsed_uri;
        return NGX_OK;
    }

    escape = (r->quoted_uri || r->internal)
             ? 2 * ngx_escape_uri(NULL, r->uri.data, r->uri.len,
                                  NGX_ESCAPE_URI)
             : 0;

    url->data = ngx_pnalloc(r->pool, r->uri.len + escape + 1 + r->args.len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    if (escape) {
        p = (u_char *) ngx_escape_uri(url->data, r->uri.data, r->uri.len,
                                      NGX_ESCAPE_URI);

    } else {
        p = ngx_cpymem(url->data, r->uri.data, r->uri.len);
    }

    if (r->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }

    url->len = p - url->data;

    return NGX_OK;
}


/*
 * The app's headers but its SNAP ones, then nginx's, made into the
 * request's own list in place.  The token and the signature are hidden
 * from every variable (ngx_http_snap_add_header()).
 */

static ngx_int_t
ngx_http_snap_sign_headers(ngx_http_request_t *r, ngx_http_snap_out_t *out,
    ngx_str_t *signature)
{
    u_char                    *bearer;
    ngx_list_t                *headers, app;
    ngx_uint_t                 i;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h, *nh;
    ngx_http_snap_provider_t  *prov;

    prov = out->provider;

    app = r->headers_in.headers;
    headers = &r->headers_in.headers;

    if (ngx_list_init(headers, r->pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (app.last == &r->headers_in.headers.part) {
        app.last = &app.part;
    }

    part = &app.part;
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

        if (h[i].hash == 0 || ngx_http_snap_sign_dropped(&h[i])) {
            continue;
        }

        nh = ngx_list_push(headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];

#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif
    }

    bearer = ngx_pnalloc(r->pool, sizeof("Bearer ") - 1 + out->token.len);
    if (bearer == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(bearer, "Bearer ", sizeof("Bearer ") - 1),
               out->token.data, out->token.len);

    if (ngx_http_snap_add_header(r, headers, "Content-Type",
                                 (u_char *) "application/json", 16, 0)
        != NGX_OK
        || ngx_http_snap_add_header(r, headers, "Authorization", bearer,
                                    sizeof("Bearer ") - 1 + out->token.len,
                                    1)
           != NGX_OK
        || ngx_http_snap_add_header(r, headers, "X-TIMESTAMP",
                                    out->timestamp, sizeof(out->timestamp),
                                    0)
           != NGX_OK
        || ngx_http_snap_add_header(r, headers, "X-SIGNATURE",
                                    signature->data, signature->len, 1)
           != NGX_OK
        || ngx_http_snap_add_header(r, headers, "X-PARTNER-ID",
                                    prov->partner_id.data,
                                    prov->partner_id.len, 0)
           != NGX_OK
        || ngx_http_snap_add_header(r, headers, "X-EXTERNAL-ID",
                                    out->external_id,
                                    sizeof(out->external_id), 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (prov->channel_id.len
        && ngx_http_snap_add_header(r, headers, "CHANNEL-ID",
                                    prov->channel_id.data,
                                    prov->channel_id.len, 0)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* nothing may read the app's values through these any more */
    r->headers_in.authorization = NULL;
    r->headers_in.content_type = NULL;
    r->headers_in.content_length = NULL;
    r->headers_in.transfer_encoding = NULL;

    return NGX_OK;
}


/*
 * A subrequest of a signed request (mirror, SSI, any module's) inherits its
 * headers: it gets them without the hidden ones, so that no subrequest
 * carries the provider's token or nginx's signature anywhere.  The
 * precontent phase runs for subrequests, before their content handler.
 */

static ngx_int_t
ngx_http_snap_sign_subrequest(ngx_http_request_t *r)
{
    ngx_uint_t            i;
    ngx_list_t            kept;
    ngx_list_part_t      *part;
    ngx_table_elt_t      *h, *nh;
    ngx_http_snap_ctx_t  *mctx;

    mctx = ngx_http_get_module_ctx(r->main, ngx_http_snap_module);

    if (mctx == NULL || mctx->out == NULL
        || mctx->out->state != NGX_HTTP_SNAP_OUT_SIGNED
        || r->headers_in.headers.part.elts
           != r->main->headers_in.headers.part.elts)
    {
        return NGX_OK;
    }

    if (ngx_list_init(&kept, r->pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

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

        if (h[i].hash == 0) {
            continue;
        }

        nh = ngx_list_push(&kept);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];

#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif
    }

    r->headers_in.headers = kept;

    if (kept.last == &kept.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    r->headers_in.authorization = NULL;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap sign: a subrequest of a signed request, without "
                   "the token and the signature");

    return NGX_OK;
}


static ngx_uint_t
ngx_http_snap_sign_dropped(ngx_table_elt_t *h)
{
    u_char      c;
    ngx_str_t  *d;
    ngx_uint_t  i;

    for (d = ngx_http_snap_sign_drop; d->len; d++) {
        if (d->len != h->key.len) {
            continue;
        }

        for (i = 0; i < d->len; i++) {
            c = ngx_tolower(h->key.data[i]);

            if (c == '_') {
                c = '-';
            }

            if (c != d->data[i]) {
                break;
            }
        }

        if (i == d->len) {
            return 1;
        }
    }

    return 0;
}


/* the proxy sends r->request_body->bufs, as long as content_length_n */

static ngx_int_t
ngx_http_snap_sign_set_body(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL) {
        r->request_body = ngx_pcalloc(r->pool,
                                      sizeof(ngx_http_request_body_t));
        if (r->request_body == NULL) {
            return NGX_ERROR;
        }
    }

    cl = NULL;

    if (out->body.len) {
        b = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);
        if (b == NULL || cl == NULL) {
            return NGX_ERROR;
        }

        b->start = out->body.data;
        b->pos = b->start;
        b->last = b->start + out->body.len;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = 1;

        cl->buf = b;
        cl->next = NULL;
    }

    r->request_body->bufs = cl;

    if (out->body.len || r->headers_in.content_length_n >= 0
        || r->headers_in.chunked)
    {
        r->headers_in.content_length_n = out->body.len;
    }

    r->headers_in.chunked = 0;

    /* an error_page after this sends the same body */
    r->preserve_body = 1;

    return NGX_OK;
}


/*
 * 20 random digits made once per worker, then a counter: unique per
 * worker by the counter, across workers and nodes by 66 random bits.
 */

static ngx_int_t
ngx_http_snap_next_id(u_char *dst)
{
    u_char  rnd[32];
    size_t  k;

    if (ngx_http_snap_id_pid != ngx_pid) {
        k = 0;

        while (k < NGX_HTTP_SNAP_OUT_PREFIX_LEN) {
            if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "snap: RAND_bytes() failed");
                return NGX_ERROR;
            }

            k += ngx_http_snap_random_digits(ngx_http_snap_id_prefix + k,
                                             NGX_HTTP_SNAP_OUT_PREFIX_LEN - k,
                                             rnd, sizeof(rnd));
        }

        ngx_http_snap_id_counter = 0;
        ngx_http_snap_id_pid = ngx_pid;
    }

    ngx_http_snap_external_id(dst, ngx_http_snap_id_prefix,
                              ngx_http_snap_id_counter++);

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_sign_reject(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t reason, ngx_str_t *field)
{
    ctx->out->state = NGX_HTTP_SNAP_OUT_REJECTED;

    return ngx_http_snap_send_error(r, reason,
                                    (field && field->len) ? field : NULL);
}


/*
 * A provider's 401 is read for its responseCode: 401xx01, Invalid Token
 * (B2B), drops the token the request was signed with.  A 2xx proves the
 * token good.  The answer itself goes to the app untouched.
 */

static ngx_int_t
ngx_http_snap_sign_header_filter(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t  *ctx;

    if (r == r->main && r->err_status == 0
        && r->headers_out.status >= NGX_HTTP_OK
        && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

        if (ctx && ctx->out && ctx->out->state == NGX_HTTP_SNAP_OUT_SIGNED) {
            ngx_http_snap_out_token_proven(ctx->out->provider,
                                       ctx->out->generation);
        }
    }

    if (r == r->main && r->headers_out.status == NGX_HTTP_UNAUTHORIZED
        && r->err_status == 0)
    {
        ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

        if (ctx && ctx->out && ctx->out->state == NGX_HTTP_SNAP_OUT_SIGNED
            && !ctx->out->watched)
        {
            ctx->out->answer = ngx_pnalloc(r->pool, NGX_HTTP_SNAP_ANSWER_MAX);
            if (ctx->out->answer == NULL) {
                return NGX_ERROR;
            }

            ctx->out->answer_len = 0;
            ctx->out->watch = 1;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_snap_sign_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                n;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    ngx_http_snap_ctx_t  *ctx;
    ngx_http_snap_out_t  *out;

    ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

    if (ctx && ctx->out && ctx->out->token_request && r != r->main) {
        /* the module's token call: its answer is the module's alone */
        return ngx_http_snap_out_token_keep(r, ctx->out, in);
    }

    if (ctx == NULL || ctx->out == NULL || !ctx->out->watch) {
        return ngx_http_next_body_filter(r, in);
    }

    out = ctx->out;

    for (cl = in; cl && out->watch; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            n = ngx_min((size_t) (b->last - b->pos),
                        NGX_HTTP_SNAP_ANSWER_MAX - out->answer_len);
            ngx_memcpy(out->answer + out->answer_len, b->pos, n);
            out->answer_len += n;
        }

        if (b->last_buf || b->last_in_chain
            || out->answer_len == NGX_HTTP_SNAP_ANSWER_MAX)
        {
            ngx_http_snap_sign_watch(r, out);
        }
    }

    return ngx_http_next_body_filter(r, in);
}


static void
ngx_http_snap_sign_watch(ngx_http_request_t *r, ngx_http_snap_out_t *out)
{
    u_char  code[7];
    time_t  wait;

    out->watch = 0;
    out->watched = 1;

    if (ngx_http_snap_response_code(out->answer, out->answer_len, code)
        && ngx_strncmp(code, "401", 3) == 0
        && ngx_strncmp(code + 5, "01", 2) == 0)
    {
        wait = ngx_http_snap_out_token_stale(out->provider, out->generation);

        if (wait > 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: provider \"%V\" answered %*s to a token it "
                          "never accepted a request with: the token is "
                          "dropped, and no token call is made for %T s",
                          &out->provider->name,
                          (size_t) 7, code, wait);

        } else if (wait == 0) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "snap: provider \"%V\" answered %*s, its token is "
                          "dropped", &out->provider->name, (size_t) 7, code);
        }
    }
}


ngx_int_t
ngx_http_snap_sign_init_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_snap_sign_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_snap_sign_body_filter;

    return NGX_OK;
}
