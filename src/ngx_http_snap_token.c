
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Access Token B2B (service 73), the inbound token call: snap_token, the
 * content handler where nginx answers it itself and issues stateless
 * HS256 tokens that any node sharing snap_token_key accepts, and the
 * validation of those tokens, with its per-worker cache.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_client.h"
#include "ngx_http_snap_error.h"
#include "ngx_http_snap_token.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>


/* how far a token's nbf may lie ahead of this node's clock */
#define NGX_HTTP_SNAP_TOKEN_LEEWAY  60
/* tokens a worker keeps verified */
#define NGX_HTTP_SNAP_TOKEN_CACHE   16


/* a token this worker has verified already, until it expires */
struct ngx_http_snap_token_cache_s {
    u_char                      token[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    size_t                      len;
    time_t                      exp;
    ngx_http_snap_client_t     *client;
};


static void ngx_http_snap_token_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_token_grant(ngx_http_request_t *r,
    ngx_str_t *body, ngx_uint_t *reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_token_issue(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);
static ngx_int_t ngx_http_snap_token_headers(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t *reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_token_init_grant(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);


static ngx_http_snap_header_t  ngx_http_snap_token_required[] = {
    { ngx_string("X-TIMESTAMP"), offsetof(ngx_http_snap_ctx_t, timestamp) },
    { ngx_string("X-CLIENT-KEY"), offsetof(ngx_http_snap_ctx_t, client_key) },
    { ngx_string("X-SIGNATURE"), offsetof(ngx_http_snap_ctx_t, signature) },
    { ngx_null_string, 0 }
};


/* snap_token: the Access Token B2B call is answered here */

char *
ngx_http_snap_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_snap_main_conf_t  *smcf;

    if (ngx_http_snap_conf_role(cf, cmd, slcf, NGX_HTTP_SNAP_ROLE_TOKEN)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    slcf->check.service = NGX_HTTP_SNAP_SERVICE_TOKEN;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
    smcf->token_locations++;

    if (smcf->grant[0] == NULL
        && ngx_http_snap_token_init_grant(cf, smcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_snap_conf_server_errors(cf);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_snap_token_handler;

    return NGX_CONF_OK;
}


/*
 * Once the http block is read: where tokens are issued or verified, the
 * key that signs them, and this configuration's cache of verified ones (a
 * reload, which may drop keys or clients, starts it empty).
 */

ngx_int_t
ngx_http_snap_token_init_conf(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    if (!ngx_http_snap_tokens_used(smcf)) {
        return NGX_OK;
    }

    if (smcf->token_keys.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"snap_token\" and \"snap_verify\" with HMAC "
                           "signatures need \"snap_token_key\" in the http "
                           "block");
        return NGX_ERROR;
    }

    smcf->token_cache = ngx_pcalloc(cf->pool,
                                    NGX_HTTP_SNAP_TOKEN_CACHE
                                    * sizeof(ngx_http_snap_token_cache_t));
    if (smcf->token_cache == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_token_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  field;
    ngx_uint_t                 reason;
    ngx_http_snap_ctx_t       *ctx;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap token handler");

    ctx = ngx_http_snap_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&field);

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_snap_refuse(&reason, NGX_HTTP_SNAP_METHOD);

    } else {
        rc = ngx_http_snap_token_headers(r, ctx, &reason, &field);
    }

    if (rc != NGX_OK) {
        return ngx_http_snap_send_error(r, rc == NGX_DECLINED
                                           ? reason : NGX_HTTP_SNAP_INTERNAL,
                                        field.len ? &field : NULL);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_snap_token_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* headers, timestamp, client and its RSA signature, before any body read */

static ngx_int_t
ngx_http_snap_token_headers(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t *reason, ngx_str_t *field)
{
    u_char                    *sig;
    size_t                     sig_len;
    ngx_int_t                  rc;
    ngx_str_t                  msg;
    ngx_http_snap_loc_conf_t  *slcf;

    rc = ngx_http_snap_collect_headers(r, ctx, ngx_http_snap_token_required,
                                       reason, field);

    /* whatever fails next is the named partner's, if it is one */
    ctx->claimed = ngx_http_snap_client_claimed(r, ctx->client_key, 0);

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (ngx_http_snap_client_timestamp(r, ctx, slcf->clock_skew, reason)
        != NGX_OK)
    {
        ngx_str_set(field, "X-TIMESTAMP");
        return NGX_DECLINED;
    }

    ctx->client = ctx->claimed;
    if (ctx->client == NULL || ctx->client->pkeys.nelts == 0) {
        ctx->client = NULL;
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_UNKNOWN_CLIENT);
    }

    if (ngx_http_snap_client_allowed(r, ctx->client, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* X-CLIENT-KEY "|" X-TIMESTAMP, both byte for byte as received */
    msg.len = ctx->client_key->value.len + 1 + ctx->timestamp->value.len;
    msg.data = ngx_pnalloc(r->pool, msg.len);
    sig_len = ctx->signature->value.len / 4 * 3 + 2;
    sig = ngx_pnalloc(r->pool, sig_len);

    if (msg.data == NULL || sig == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(msg.data, "%V|%V", &ctx->client_key->value,
                &ctx->timestamp->value);

    if (ngx_http_snap_base64_decode(sig, &sig_len,
                                    ctx->signature->value.data,
                                    ctx->signature->value.len, 0)
        != 0)
    {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_SIGNATURE);
    }

    ctx->key_rsa = 1;

    rc = ngx_http_snap_client_rsa_verify(r, ctx->client, &msg, sig, sig_len,
                                         &ctx->key_used);

    if (rc == NGX_DECLINED) {
        /* the string verified holds no secret: the sender compares it */
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: token call signature mismatch for client "
                      "\"%V\", string to sign \"%V\"", &ctx->client->id,
                      &msg);
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_SIGNATURE);
    }

    return rc;
}


static void
ngx_http_snap_token_body_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_str_t             body, field;
    ngx_uint_t            reason;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    ngx_str_null(&field);
    reason = NGX_HTTP_SNAP_INTERNAL;

    rc = ngx_http_snap_read_body(r, &body);

    if (rc == NGX_OK) {
        rc = ngx_http_snap_token_grant(r, &body, &reason, &field);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_snap_token_issue(r, ctx);

    } else {
        rc = ngx_http_snap_send_error(r, reason, field.len ? &field : NULL);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * grantType, or Midtrans's grant_type when grantType is absent, must be
 * "client_credentials".
 */

static ngx_int_t
ngx_http_snap_token_grant(ngx_http_request_t *r, ngx_str_t *body,
    ngx_uint_t *reason, ngx_str_t *field)
{
    int                         rc;
    char                        err[NGX_HTTP_SNAP_FIELD_MAX];
    ngx_uint_t                  i;
    ngx_http_snap_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    for (i = 0; i < 2; i++) {
        rc = ngx_http_snap_json_check(body->data, body->len, smcf->grant[i],
                                      err, sizeof(err), NULL, NULL);

        switch (rc) {

        case NGX_HTTP_SNAP_FIELD_OK:
            return NGX_OK;

        case NGX_HTTP_SNAP_FIELD_JSON:
            return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_JSON);

        case NGX_HTTP_SNAP_FIELD_BAD:
            *field = (i == 0) ? (ngx_str_t) ngx_string("grantType")
                              : (ngx_str_t) ngx_string("grant_type");
            return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_FORMAT);

        default:
            /* missing: try the other spelling */
            break;
        }
    }

    ngx_str_set(field, "grantType");

    return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_MISSING_FIELD);
}


/* the body of a token call, in either spelling, built at configuration */

static ngx_int_t
ngx_http_snap_token_init_grant(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t  i;

    static const ngx_http_snap_field_t  grant[2] = {
        { "grantType", NGX_HTTP_SNAP_JSON_STRING, NGX_HTTP_SNAP_FMT_GRANT,
          1, 0 },
        { "grant_type", NGX_HTTP_SNAP_JSON_STRING, NGX_HTTP_SNAP_FMT_GRANT,
          1, 0 }
    };

    for (i = 0; i < 2; i++) {
        smcf->grant[i] = ngx_http_snap_schema_create(cf, &grant[i], 1);
        if (smcf->grant[i] == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_snap_token_issue(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    u_char                     *p, jti[NGX_HTTP_SNAP_TOKEN_JTI_LEN];
    size_t                      n;
    time_t                      now;
    ngx_str_t                   body;
    ngx_table_elt_t            *h;
    ngx_http_snap_key_t        *key;
    ngx_http_snap_loc_conf_t   *slcf;
    ngx_http_snap_main_conf_t  *smcf;

    static const char  prefix[] =
        "{\"responseCode\":\"2007300\",\"responseMessage\":\"Successful\","
        "\"accessToken\":\"";

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    if (ngx_http_snap_random(jti, sizeof(jti), (long) ngx_pid)
        != NGX_HTTP_SNAP_LIB_OK)
    {
        ngx_ssl_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: RAND_bytes() failed");
        return ngx_http_snap_send_error(r, NGX_HTTP_SNAP_INTERNAL, NULL);
    }

    body.data = ngx_pnalloc(r->pool, sizeof(prefix) + 128
                                     + NGX_HTTP_SNAP_TOKEN_MAX_LEN);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body.data, prefix, sizeof(prefix) - 1);

    key = smcf->token_keys.elts;
    now = ngx_time();

    n = ngx_http_snap_token_create(p, &key[0], jti, ctx->client->id.data,
                                   ctx->client->id.len, now,
                                   now + slcf->token_ttl);
    if (n == 0) {
        return ngx_http_snap_send_error(r, NGX_HTTP_SNAP_INTERNAL, NULL);
    }

    p = ngx_sprintf(p + n, "\",\"tokenType\":\"Bearer\",\"expiresIn\":\"%T\","
                    "\"additionalInfo\":{}}", slcf->token_ttl);

    body.len = p - body.data;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-CLIENT-KEY");
    h->value = ctx->client->id;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "snap: access token issued to client \"%V\"",
                  &ctx->client->id);

    ctx->state = NGX_HTTP_SNAP_PASSED;

    return ngx_http_snap_send_json(r, NGX_HTTP_OK, &body);
}


/*
 * The check every transactional request makes: a token from snap_token,
 * signed by any configured snap_token_key, not expired, for a client that
 * is still configured.
 */

ngx_int_t
ngx_http_snap_token_validate(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_snap_client_t **client, ngx_uint_t *reason)
{
    time_t                        now;
    uint64_t                      hash;
    ngx_str_t                     id;
    ngx_uint_t                    i;
    ngx_http_snap_claims_t        claims;
    ngx_http_snap_token_cache_t  *tc;
    ngx_http_snap_main_conf_t    *smcf;
    u_char                        scratch[NGX_HTTP_SNAP_TOKEN_MAX_LEN];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    if (token->len > NGX_HTTP_SNAP_TOKEN_MAX_LEN
        || smcf->token_cache == NULL)
    {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_INVALID);
    }

    now = ngx_time();

    /*
     * A partner sends the same token for its whole life: one verified
     * already is found again by its full bytes, compared in constant time.
     * The slot comes from the last bytes, the token's HMAC in base64url,
     * as good as random: a forged token that picks a slot only costs one
     * verification more.
     */
    i = token->len > 16 ? token->len - 16 : 0;
    hash = ngx_http_snap_hash(token->data + i, token->len - i);

    tc = &smcf->token_cache[hash % NGX_HTTP_SNAP_TOKEN_CACHE];

    if (tc->len == token->len && tc->client
        && ngx_http_snap_ct_equal(tc->token, token->data, token->len))
    {
        if (now >= tc->exp) {
            return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_EXPIRED);
        }

        *client = tc->client;
        return NGX_OK;
    }

    switch (ngx_http_snap_token_verify(token->data, token->len,
                                       smcf->token_keys.elts,
                                       smcf->token_keys.nelts, scratch,
                                       &claims))
    {
    case NGX_HTTP_SNAP_LIB_OK:
        break;

    case NGX_HTTP_SNAP_LIB_INVALID:
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_INVALID);

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: HMAC-SHA256 of the token failed in OpenSSL");
        return NGX_ERROR;
    }

    if (now >= claims.exp) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_EXPIRED);
    }

    if (now + NGX_HTTP_SNAP_TOKEN_LEEWAY < claims.nbf) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_INVALID);
    }

    id.data = (u_char *) claims.client_id;
    id.len = claims.client_id_len;

    *client = ngx_http_snap_find_client(smcf, &id, 0);
    if (*client == NULL) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_INVALID);
    }

    ngx_memcpy(tc->token, token->data, token->len);
    tc->len = token->len;
    tc->exp = (time_t) claims.exp;
    tc->client = *client;

    return NGX_OK;
}
