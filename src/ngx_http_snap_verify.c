
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Verification of transactional SNAP requests: bound to the snap_verify
 * location a request enters (rewrite phase), checked in the precontent
 * phase, where no access module can skip it.  The order of the checks is
 * the contract's: cheap unauthenticated header checks first, the body and
 * its signature next, the replay store last.  A store that answers later
 * resumes the request from the request's own connection.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_client.h"
#include "ngx_http_snap_error.h"
#include "ngx_http_snap_token.h"
#include "ngx_http_snap_rate.h"
#include "ngx_http_snap_replay.h"
#include "ngx_http_snap_verify.h"

#include <openssl/crypto.h>


/*
 * The EndpointUrls, body hashes and X-SIGNATURE decodings a request may
 * have been signed with: the first of each is the strict one, then one for
 * each variant of that part a partner may have.
 */
typedef struct {
    ngx_str_t                   url[1 + ngx_http_snap_bits(
                                            NGX_HTTP_SNAP_COMPAT_URLS)];
    ngx_uint_t                  nurls;
    u_char                     *hex[1 + ngx_http_snap_bits(
                                            NGX_HTTP_SNAP_COMPAT_HASHES)];
    ngx_uint_t                  nhex;
    ngx_str_t                   sig[1 + ngx_http_snap_bits(
                                            NGX_HTTP_SNAP_COMPAT_SIGNATURES)];
    ngx_uint_t                  nsigs;
    int                         hmac;
} ngx_http_snap_forms_t;


/* a form added, or NGX_ERROR where a variant has no room: never past it */
#define ngx_http_snap_form_add(forms, a, n, v)                               \
    ((forms)->n < sizeof((forms)->a) / sizeof((forms)->a[0])                  \
     ? ((forms)->a[(forms)->n++] = (v), NGX_OK) : NGX_ERROR)


typedef struct {
    ngx_str_t                  *url;
    u_char                     *hex;         /* NULL: an empty field */
    int                         with_token;
} ngx_http_snap_form_t;


static ngx_int_t ngx_http_snap_verify_headers(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_loc_conf_t *slcf,
    ngx_uint_t *reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_verify_token(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t *reason);
static void ngx_http_snap_body_handler(ngx_http_request_t *r);
static void ngx_http_snap_verify_stored(void *data, ngx_int_t rc,
    ngx_uint_t reason);
static void ngx_http_snap_verify_wake(ngx_event_t *ev);
static void ngx_http_snap_verify_resume(ngx_http_request_t *r);
static void ngx_http_snap_verify_finish(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_int_t rc, ngx_uint_t reason,
    ngx_str_t *field);
static ngx_int_t ngx_http_snap_verify_body(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_loc_conf_t *slcf,
    ngx_uint_t *reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_verify_fields(ngx_http_request_t *r, int rc,
    char *err, ngx_uint_t *reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_signed_url(ngx_http_request_t *r,
    ngx_http_snap_loc_conf_t *slcf, ngx_str_t *url, ngx_uint_t *reason);
static ngx_int_t ngx_http_snap_verify_signature(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_loc_conf_t *slcf, u_char *hex,
    ngx_str_t *body, ngx_uint_t *reason);
static ngx_int_t ngx_http_snap_signatures(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_forms_t *forms);
static ngx_int_t ngx_http_snap_verify_variants(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_forms_t *forms, ngx_str_t *body,
    u_char **tried);
static ngx_int_t ngx_http_snap_raw_hash(ngx_http_request_t *r,
    ngx_http_snap_forms_t *forms, ngx_str_t *body);
static ngx_int_t ngx_http_snap_escaped_hash(ngx_http_request_t *r,
    ngx_http_snap_forms_t *forms, ngx_str_t *body, unsigned escape);
static ngx_int_t ngx_http_snap_verify_form(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_forms_t *forms,
    ngx_http_snap_form_t *form);
static ngx_int_t ngx_http_snap_verify_keys(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, int hmac, ngx_str_t *sts, ngx_str_t *sig);
static void ngx_http_snap_log_mismatch(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_loc_conf_t *slcf,
    ngx_str_t *url, u_char *hex, u_char *tried);
static ngx_int_t ngx_http_snap_reject(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t reason, ngx_str_t *field);
static ngx_int_t ngx_http_snap_refuse_redirect(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);


/* the contract's order; CHANNEL-ID may come as X-CHANNEL-ID */
static ngx_http_snap_header_t  ngx_http_snap_verify_required[] = {
    { ngx_string("X-TIMESTAMP"), offsetof(ngx_http_snap_ctx_t, timestamp) },
    { ngx_string("X-SIGNATURE"), offsetof(ngx_http_snap_ctx_t, signature) },
    { ngx_string("X-PARTNER-ID"), offsetof(ngx_http_snap_ctx_t, partner_id) },
    { ngx_string("X-EXTERNAL-ID"),
      offsetof(ngx_http_snap_ctx_t, external_id) },
    { ngx_string("CHANNEL-ID"), offsetof(ngx_http_snap_ctx_t, channel_id) },
    { ngx_null_string, 0 }
};


/*
 * In the rewrite phase, before the rewrite module's own handler: a request
 * that enters a snap_verify location is bound to its checks, so that a
 * "rewrite ... last" to a location without snap_verify still verifies.
 */

ngx_int_t
ngx_http_snap_enter_handler(ngx_http_request_t *r)
{
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (slcf->role != NGX_HTTP_SNAP_ROLE_VERIFY || r != r->main) {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap enter: \"%V\" is a snap_verify location", &r->uri);

    ctx = ngx_http_snap_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ctx->state == NGX_HTTP_SNAP_UNVERIFIED
               && (ctx->conf == NULL
                   || ctx->conf->role == NGX_HTTP_SNAP_ROLE_VERIFY))
    {
        ctx->conf = slcf;
    }

    return NGX_DECLINED;
}


/*
 * In the precontent phase, so that no access module can skip it: under
 * "satisfy any" the access phase stops at the first handler that grants.
 * It runs ahead of try_files and mirror, which would pass the request on.
 */

ngx_int_t
ngx_http_snap_verify_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 reason;
    ngx_str_t                  field;
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_loc_conf_t  *slcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);
    ctx = ngx_http_snap_get_ctx(r);

    if (ctx && ctx->conf && ctx->conf->role != NGX_HTTP_SNAP_ROLE_VERIFY) {
        /*
         * a request another role of the module took (a token call, a
         * signed call) and a redirect brought here: never verified, it
         * passes no snap_verify location
         */
        if (slcf->role == NGX_HTTP_SNAP_ROLE_VERIFY) {
            /* answered as this location answers */
            ctx->conf = slcf;
            return ngx_http_snap_refuse_redirect(r, ctx);
        }

        return NGX_DECLINED;
    }

    if (slcf->role != NGX_HTTP_SNAP_ROLE_VERIFY
        && (ctx == NULL || ctx->conf == NULL))
    {
        return NGX_DECLINED;
    }

    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap verify handler: \"%V\", state %d", &r->uri,
                   (int) ctx->state);

    switch (ctx->state) {

    case NGX_HTTP_SNAP_PASSED:
        /* an internal redirect after the verdict keeps it */
        return NGX_DECLINED;

    case NGX_HTTP_SNAP_REJECTED:
        /* an error_page sent the rejected request here: answer it again */
        rc = ngx_http_snap_send_again(r, ctx);
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;

    case NGX_HTTP_SNAP_READING_BODY:
    case NGX_HTTP_SNAP_WAITING_STORE:
        /*
         * nginx failed the body read (413, a bad chunk) and its error_page
         * led here: the verification cannot finish
         */
        return ngx_http_snap_refuse_redirect(r, ctx);

    default: /* NGX_HTTP_SNAP_UNVERIFIED */
        break;
    }

    if (r->error_page) {
        /* an error before the verdict: limit_req, the token handler */
        return ngx_http_snap_refuse_redirect(r, ctx);
    }

    if (slcf->role == NGX_HTTP_SNAP_ROLE_VERIFY) {
        ctx->conf = slcf;
    }

    slcf = ctx->conf;

    ctx->state = NGX_HTTP_SNAP_READING_BODY;

    ngx_str_null(&field);

    rc = ngx_http_snap_verify_headers(r, ctx, slcf, &reason, &field);

    if (rc != NGX_OK) {
        rc = ngx_http_snap_reject(r, ctx,
                                  rc == NGX_DECLINED ? reason
                                                     : NGX_HTTP_SNAP_INTERNAL,
                                  &field);

        if (ctx->state == NGX_HTTP_SNAP_PASSED) {
            /* reported only: the proxy reads the body itself */
            return NGX_DECLINED;
        }

        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (slcf->replay) {
        ngx_http_snap_replay_key(ctx);
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap verify: headers passed, reading the body");

    rc = ngx_http_read_client_request_body(r, ngx_http_snap_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /*
     * The body handler owns the request from here, whether it has already
     * run or runs when the rest of the body arrives: drop the reference
     * ngx_http_read_client_request_body() took and stop the phases.
     */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/*
 * A request sent into or out of a snap_verify location by an error_page
 * before its verdict gets the SNAP answer of the error that sent it, never
 * the location's content.
 */

static ngx_int_t
ngx_http_snap_refuse_redirect(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_uint_t  reason;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap verify: error_page with status %ui before the "
                   "verdict", r->err_status);

    reason = (r->err_status >= NGX_HTTP_BAD_REQUEST)
             ? ngx_http_snap_status_reason(r->err_status)
             : NGX_HTTP_SNAP_INTERNAL;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "snap: request redirected by error_page before its "
                  "verification, refused");

    rc = ngx_http_snap_send_error(r, reason, NULL);
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * A refusal, answered; or under "snap_enforce off" noted, logged and
 * counted exactly as if answered, and the request marked passed.
 */

static ngx_int_t
ngx_http_snap_reject(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t reason, ngx_str_t *field)
{
    if (!ctx->conf->enforce) {
        return ngx_http_snap_note_error(r, ctx, reason,
                                        field->len ? field : NULL);
    }

    return ngx_http_snap_send_error(r, reason, field->len ? field : NULL);
}


static ngx_int_t
ngx_http_snap_verify_headers(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_loc_conf_t *slcf, ngx_uint_t *reason, ngx_str_t *field)
{
    u_char     *p, *last;
    ngx_int_t   rc;

    rc = ngx_http_snap_collect_headers(r, ctx, ngx_http_snap_verify_required,
                                       reason, field);

    /* whatever fails next is the named partner's, if it is one */
    ctx->claimed = ngx_http_snap_client_claimed(r, ctx->partner_id, 1);

    if (rc != NGX_OK) {
        return NGX_DECLINED;
    }

    if (slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC
        && (ctx->authorization == NULL
            || ctx->authorization->value.len == 0))
    {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_NOT_FOUND);
    }

    if (ngx_http_snap_client_timestamp(r, ctx, slcf->clock_skew, reason)
        != NGX_OK)
    {
        ngx_str_set(field, "X-TIMESTAMP");
        return NGX_DECLINED;
    }

    p = ctx->external_id->value.data;
    last = p + ctx->external_id->value.len;

    /* up to 64 for a partner with compat=long_ids, checked once known */
    if (!ngx_http_snap_header_value_ok(p, last - p,
                                       NGX_HTTP_SNAP_LONG_ID_MAX))
    {
        ngx_str_set(field, "X-EXTERNAL-ID");
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_FORMAT);
    }

    if (slcf->replay && slcf->replay->numeric) {
        for ( /* void */ ; p < last; p++) {
            if (*p < '0' || *p > '9') {
                ngx_str_set(field, "X-EXTERNAL-ID");
                return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_FORMAT);
            }
        }
    }

    ctx->client = ctx->claimed;
    if (ctx->client == NULL) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_UNKNOWN_CLIENT);
    }

    if (ngx_http_snap_client_allowed(r, ctx->client, reason) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ctx->external_id->value.len > NGX_HTTP_SNAP_EXTERNAL_ID_MAX
        && !(ctx->client->compat & NGX_HTTP_SNAP_COMPAT_LONG_IDS))
    {
        ngx_str_set(field, "X-EXTERNAL-ID");
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_FORMAT);
    }

    if (slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC) {
        return ngx_http_snap_verify_token(r, ctx, reason);
    }

    return NGX_OK;
}


/* "Bearer" in any case, one or more spaces, then the token */

static ngx_int_t
ngx_http_snap_verify_token(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t *reason)
{
    u_char                  *p, *last;
    ngx_int_t                rc;
    ngx_http_snap_client_t  *client;

    p = ctx->authorization->value.data;
    last = p + ctx->authorization->value.len;

    if (last - p < 7 || ngx_strncasecmp(p, (u_char *) "Bearer ", 7) != 0) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_NOT_FOUND);
    }

    for (p += 7; p < last && *p == ' '; p++) { /* void */ }

    if (p == last) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_NOT_FOUND);
    }

    ctx->token.data = p;
    ctx->token.len = last - p;

    rc = ngx_http_snap_token_validate(r, &ctx->token, &client, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    if (client != ctx->client) {
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_TOKEN_PARTNER);
    }

    return NGX_OK;
}


static void
ngx_http_snap_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_uint_t                 reason;
    ngx_str_t                  field;
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_loc_conf_t  *slcf;

    ctx = ngx_http_snap_get_ctx(r);
    slcf = ctx->conf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap verify: body read");

    ngx_str_null(&field);

    rc = ngx_http_snap_verify_body(r, ctx, slcf, &reason, &field);

    /* counted once verified, before the store: a retry's id stays new */
    if (rc == NGX_OK && ctx->client) {
        rc = ngx_http_snap_rate_check(r, ctx->client, &reason);
    }

    if (rc == NGX_OK && slcf->replay) {
        /*
         * The store is touched last, once the signature has verified.  It
         * may answer later: the request's state, its resumption and a
         * reference on it are in place before it is asked, and are taken
         * back if it answers now.
         */
        ctx->state = NGX_HTTP_SNAP_WAITING_STORE;
        ctx->stored = NGX_AGAIN;
        r->write_event_handler = ngx_http_snap_verify_resume;
        r->main->count++;

        rc = ngx_http_snap_replay_record(r, ctx, ngx_http_snap_verify_stored,
                                         r, &reason);

        if (rc == NGX_AGAIN) {
            return;
        }

        r->main->count--;
        r->write_event_handler = ngx_http_request_empty_handler;
        ctx->state = NGX_HTTP_SNAP_READING_BODY;
    }

    ngx_http_snap_verify_finish(r, ctx, rc, reason, &field);
}


/*
 * The store's later answer, from inside its own loop: only kept, and the
 * request posted, to be resumed by its own connection's posted requests
 * once that loop is done.
 */

static void
ngx_http_snap_verify_stored(void *data, ngx_int_t rc, ngx_uint_t reason)
{
    ngx_http_request_t *r = data;

    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    ctx->stored = rc;
    ctx->stored_reason = reason;

    if (ngx_http_post_request(r, NULL) != NGX_OK) {
        /* no memory to post it: its connection's write event resumes it */
        ngx_post_event(r->connection->write, &ngx_posted_events);
        return;
    }

    ctx->wake.handler = ngx_http_snap_verify_wake;
    ctx->wake.data = r->connection;
    ctx->wake.log = r->connection->log;

    ngx_post_event(&ctx->wake, &ngx_posted_events);
}


static void
ngx_http_snap_verify_wake(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    ngx_http_run_posted_requests(c);
}


/*
 * The request, resumed from its posted requests (or a write event on its
 * connection meanwhile): the store's answer makes the verdict, and the
 * reference taken for the store is dropped.
 */

static void
ngx_http_snap_verify_resume(ngx_http_request_t *r)
{
    ngx_str_t             field;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);

    if (ctx == NULL || ctx->state != NGX_HTTP_SNAP_WAITING_STORE
        || ctx->stored == NGX_AGAIN)
    {
        /* a write event before the store's answer: wait on */
        return;
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_str_null(&field);
    ngx_http_snap_verify_finish(r, ctx, ctx->stored, ctx->stored_reason,
                                &field);

    ngx_http_finalize_request(r, NGX_DONE);
}


/*
 * The verdict, from the body handler or from a store's later answer:
 * NGX_OK passes the request on, anything else refuses it.
 */

static void
ngx_http_snap_verify_finish(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_int_t rc, ngx_uint_t reason, ngx_str_t *field)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "snap verify: verdict %i", rc);

    switch (rc) {

    case NGX_OK:
        ctx->state = NGX_HTTP_SNAP_PASSED;
        break;

    case NGX_DECLINED:
        rc = ngx_http_snap_reject(r, ctx, reason, field);
        break;

    default:
        rc = ngx_http_snap_reject(r, ctx, NGX_HTTP_SNAP_INTERNAL, field);
        break;
    }

    if (ctx->state != NGX_HTTP_SNAP_PASSED) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the upstream forwards the body the module has read */
    r->preserve_body = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_snap_verify_body(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_loc_conf_t *slcf, ngx_uint_t *reason, ngx_str_t *field)
{
    int         rc;
    char        err[NGX_HTTP_SNAP_FIELD_MAX * 2];
    u_char      hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];
    ngx_int_t   verdict;
    ngx_str_t   body;

    if (ngx_http_snap_read_body(r, &body) != NGX_OK) {
        return NGX_ERROR;
    }

    /* one pass hashes and checks the body; the signature is answered first */

    if (body.len) {
        rc = ngx_http_snap_body_check(body.data, body.len, slcf->schema, err,
                                      sizeof(err), hex);

    } else {
        rc = slcf->schema ? NGX_HTTP_SNAP_FIELD_JSON : NGX_HTTP_SNAP_FIELD_OK;

        if (ngx_http_snap_body_hash(body.data, 0, hex) != 0) {
            rc = NGX_HTTP_SNAP_FIELD_ERROR;
        }
    }

    if (rc == NGX_HTTP_SNAP_FIELD_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: the body could not be hashed");
        return NGX_ERROR;
    }

    verdict = ngx_http_snap_verify_signature(r, ctx, slcf, hex, &body,
                                             reason);
    if (verdict != NGX_OK) {
        return verdict;
    }

    return ngx_http_snap_verify_fields(r, rc, err, reason, field);
}


/*
 * The body is JSON; with a profile or snap_require, the first of their
 * fields (the profile's, then snap_require's) that fails is answered.
 */

static ngx_int_t
ngx_http_snap_verify_fields(ngx_http_request_t *r, int rc, char *err,
    ngx_uint_t *reason, ngx_str_t *field)
{
    switch (rc) {

    case NGX_HTTP_SNAP_FIELD_OK:
        return NGX_OK;

    case NGX_HTTP_SNAP_FIELD_JSON:
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_BAD_JSON);

    default:
        break;
    }

    field->len = ngx_strlen(err);
    field->data = ngx_pnalloc(r->pool, field->len);
    if (field->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(field->data, err, field->len);

    return ngx_http_snap_refuse(reason, rc == NGX_HTTP_SNAP_FIELD_MISSING
                                        ? NGX_HTTP_SNAP_MISSING_FIELD
                                        : NGX_HTTP_SNAP_BAD_FORMAT);
}


/*
 * snap_signed_path's value, then the request line's query string as
 * received.  The path bytes nginx routed and the upstream receives must
 * be the ones the value stands for, so a path that nginx had to normalise
 * (%-escapes, "//", "/./", "/../") is refused rather than signed as
 * another.
 */

static ngx_int_t
ngx_http_snap_signed_url(ngx_http_request_t *r,
    ngx_http_snap_loc_conf_t *slcf, ngx_str_t *url, ngx_uint_t *reason)
{
    u_char     *q, *last, *p;
    ngx_str_t   path;

    if (r->complex_uri || r->quoted_uri || r->empty_path_in_uri) {
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: the request path is not in normal form "
                      "(%%-escapes, \"//\", \"/./\" or \"/../\"), which "
                      "snap_signed_path cannot stand for");
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_SIGNATURE);
    }

    if (ngx_http_complex_value(r, slcf->signed_path, &path) != NGX_OK) {
        return NGX_ERROR;
    }

    last = r->unparsed_uri.data + r->unparsed_uri.len;
    q = ngx_strlchr(r->unparsed_uri.data, last, '?');

    if (q == NULL) {
        *url = path;
        return NGX_OK;
    }

    url->len = path.len + (last - q);
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, path.data, path.len);
    ngx_memcpy(p, q, last - q);

    return NGX_OK;
}


/*
 * The string to sign from what was received: the EndpointUrl, then the
 * method, token, body hash and timestamp bytes.  A partner with compat=
 * variants gets them tried too, once the strict form has failed.
 */

static ngx_int_t
ngx_http_snap_verify_signature(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_loc_conf_t *slcf, u_char *hex, ngx_str_t *body,
    ngx_uint_t *reason)
{
    u_char                   *tried;
    ngx_int_t                 rc;
    ngx_http_snap_form_t      form;
    ngx_http_snap_forms_t     forms;

    ngx_memzero(&forms, sizeof(ngx_http_snap_forms_t));

    if (slcf->signed_path) {
        rc = ngx_http_snap_signed_url(r, slcf, &forms.url[0], reason);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        forms.url[0] = r->unparsed_uri;
    }

    forms.nurls = 1;
    forms.hex[0] = hex;
    forms.nhex = 1;
    forms.hmac = (slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC);

    rc = ngx_http_snap_signatures(r, ctx, &forms);
    if (rc != NGX_OK) {
        return rc;
    }

    form.url = &forms.url[0];
    form.hex = hex;
    form.with_token = forms.hmac;

    rc = ngx_http_snap_verify_form(r, ctx, &forms, &form);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    tried = (u_char *) "";

    if (ctx->client->compat) {
        rc = ngx_http_snap_verify_variants(r, ctx, &forms, body, &tried);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ngx_http_snap_log_mismatch(r, ctx, slcf, &forms.url[0], hex, tried);

    return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_SIGNATURE);
}


/* X-SIGNATURE decoded: base64, and lower-case hex for compat=hex_signature */

static ngx_int_t
ngx_http_snap_signatures(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_forms_t *forms)
{
    u_char     *p, *s;
    size_t      len, i;
    ngx_int_t   hi, lo;
    ngx_str_t   sig;

    s = ctx->signature->value.data;
    len = ctx->signature->value.len;

    p = ngx_pnalloc(r->pool, len / 4 * 3 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    forms->sig[0].data = p;
    forms->sig[0].len = len / 4 * 3 + 2;

    if (ngx_http_snap_base64_decode(p, &forms->sig[0].len, s, len, 0) == 0) {
        forms->nsigs = 1;
    }

    if (!(ctx->client->compat & NGX_HTTP_SNAP_COMPAT_HEX_SIGNATURE)
        || len % 2)
    {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len / 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i += 2) {
        hi = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0'
             : (s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10 : -1;
        lo = (s[i + 1] >= '0' && s[i + 1] <= '9') ? s[i + 1] - '0'
             : (s[i + 1] >= 'a' && s[i + 1] <= 'f') ? s[i + 1] - 'a' + 10
             : -1;

        if (hi < 0 || lo < 0) {
            return NGX_OK;
        }

        p[i / 2] = (u_char) (hi * 16 + lo);
    }

    sig.data = p;
    sig.len = len / 2;

    return ngx_http_snap_form_add(forms, sig, nsigs, sig);
}


/*
 * Another string to sign for each variant the partner has, combined with
 * each other one it has: the strict form was tried already.  Every form
 * still binds method, path, token, body and timestamp, but for the
 * query that path_without_query drops.
 */

static ngx_int_t
ngx_http_snap_verify_variants(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_forms_t *forms, ngx_str_t *body, u_char **tried)
{
    u_char                *q, *last, *p;
    size_t                 len;
    ngx_int_t              rc;
    ngx_str_t              url;
    ngx_uint_t             compat, u, h, t, ntokens;
    ngx_http_snap_form_t   form;

    compat = ctx->client->compat;
    last = forms->url[0].data + forms->url[0].len;
    q = ngx_strlchr(forms->url[0].data, last, '?');

    if (q && (compat & NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY)) {
        url.data = forms->url[0].data;
        url.len = q - forms->url[0].data;

        if (ngx_http_snap_form_add(forms, url, nurls, url) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (q && (compat & NGX_HTTP_SNAP_COMPAT_SORTED_QUERY)) {
        len = last - q - 1;

        p = ngx_pnalloc(r->pool, (q - forms->url[0].data) + 1
                                 + ngx_http_snap_query_sorted_len(len) + len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        url.data = p;
        p = ngx_cpymem(p, forms->url[0].data, q - forms->url[0].data + 1);

        if (ngx_http_snap_query_sorted(p, &len, q + 1, last - q - 1,
                                       p + ngx_http_snap_query_sorted_len(len))
            == NGX_HTTP_SNAP_LIB_OK)
        {
            url.len = p + len - url.data;

            if (ngx_http_snap_form_add(forms, url, nurls, url) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }

    if (body->len == 0 && (compat & NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD)
        && ngx_http_snap_form_add(forms, hex, nhex, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (body->len == 0 && (compat & NGX_HTTP_SNAP_COMPAT_NO_HASH_FIELD)
        && ngx_http_snap_form_add(forms, hex, nhex,
                                  (u_char *) ngx_http_snap_no_hash_field)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (body->len && (compat & NGX_HTTP_SNAP_COMPAT_RAW_BODY)) {
        rc = ngx_http_snap_raw_hash(r, forms, body);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (body->len && (compat & NGX_HTTP_SNAP_COMPAT_PHP_JSON)) {
        rc = ngx_http_snap_escaped_hash(r, forms, body,
                                        NGX_HTTP_SNAP_ESCAPE_SLASH
                                        |NGX_HTTP_SNAP_ESCAPE_UNICODE);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (body->len && (compat & NGX_HTTP_SNAP_COMPAT_ASCII_JSON)) {
        rc = ngx_http_snap_escaped_hash(r, forms, body,
                                        NGX_HTTP_SNAP_ESCAPE_UNICODE);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ntokens = (!forms->hmac && (compat & NGX_HTTP_SNAP_COMPAT_RSA_EMPTY_TOKEN))
              ? 2 : 1;

    *tried = ctx->client->compat_log;

    for (u = 0; u < forms->nurls; u++) {
        for (h = 0; h < forms->nhex; h++) {
            for (t = 0; t < ntokens; t++) {
                if (u == 0 && h == 0 && t == 0) {
                    continue;
                }

                form.url = &forms->url[u];
                form.hex = forms->hex[h];
                form.with_token = forms->hmac || t;

                rc = ngx_http_snap_verify_form(r, ctx, forms, &form);
                if (rc != NGX_DECLINED) {
                    if (rc == NGX_OK) {
                        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log,
                                       0, "snap verify: variant url %ui "
                                       "hash %ui token %ui", u, h, t);
                    }

                    return rc;
                }
            }
        }
    }

    return NGX_DECLINED;
}


/* the bytes as received, when they are not what minify gives */

static ngx_int_t
ngx_http_snap_raw_hash(ngx_http_request_t *r, ngx_http_snap_forms_t *forms,
    ngx_str_t *body)
{
    u_char  *hex;

    hex = ngx_pnalloc(r->pool, NGX_HTTP_SNAP_SHA256_HEX_LEN);
    if (hex == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_snap_body_hash_raw(body->data, body->len, hex) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "snap: SHA-256 of the body failed in OpenSSL");
        return NGX_ERROR;
    }

    if (ngx_memcmp(hex, forms->hex[0], NGX_HTTP_SNAP_SHA256_HEX_LEN) == 0) {
        return NGX_OK;
    }

    return ngx_http_snap_form_add(forms, hex, nhex, hex);
}


static ngx_int_t
ngx_http_snap_escaped_hash(ngx_http_request_t *r, ngx_http_snap_forms_t *forms,
    ngx_str_t *body, unsigned escape)
{
    u_char  *hex;

    hex = ngx_pnalloc(r->pool, NGX_HTTP_SNAP_SHA256_HEX_LEN);
    if (hex == NULL) {
        return NGX_ERROR;
    }

    switch (ngx_http_snap_body_hash_escaped(body->data, body->len, escape,
                                            hex))
    {
    case NGX_HTTP_SNAP_LIB_OK:
        return ngx_http_snap_form_add(forms, hex, nhex, hex);

    case NGX_HTTP_SNAP_LIB_INVALID:
        /* no JSON: there is nothing another serialiser would have made */
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


/* one string to sign against every decoding of X-SIGNATURE */

static ngx_int_t
ngx_http_snap_verify_form(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_forms_t *forms, ngx_http_snap_form_t *form)
{
    ngx_int_t   rc;
    ngx_str_t   sts;
    ngx_uint_t  i;

    sts.len = ngx_http_snap_string_to_sign_len(r->method_name.len,
                                               form->url->len,
                                               ctx->token.len,
                                               form->with_token,
                                               ctx->timestamp->value.len);
    sts.data = ngx_pnalloc(r->pool, sts.len);
    if (sts.data == NULL) {
        return NGX_ERROR;
    }

    sts.len = ngx_http_snap_string_to_sign(sts.data,
                                           r->method_name.data,
                                           r->method_name.len,
                                           form->url->data, form->url->len,
                                           ctx->token.data, ctx->token.len,
                                           form->with_token, form->hex,
                                           ctx->timestamp->value.data,
                                           ctx->timestamp->value.len);

    for (i = 0; i < forms->nsigs; i++) {
        rc = ngx_http_snap_verify_keys(r, ctx, forms->hmac, &sts,
                                       &forms->sig[i]);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return NGX_DECLINED;
}


/*
 * X-SIGNATURE against every key of the partner, for rotation: NGX_OK when
 * one verifies, NGX_DECLINED when none does, NGX_ERROR when OpenSSL could
 * not tell (logged, answered 500xx00, never 401).
 */

static ngx_int_t
ngx_http_snap_verify_keys(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    int hmac, ngx_str_t *sts, ngx_str_t *sig)
{
    u_char                mac[NGX_HTTP_SNAP_HMAC512_LEN];
    ngx_uint_t            i;
    ngx_http_snap_key_t  *secret;

    if (hmac) {
        secret = ctx->client->secrets.elts;

        for (i = 0; i < ctx->client->secrets.nelts; i++) {
            if (ngx_http_snap_hmac(&secret[i], 512, sts->data, sts->len, mac)
                != 0)
            {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "snap: HMAC-SHA512 failed in OpenSSL");
                return NGX_ERROR;
            }

            if (sig->len == sizeof(mac)
                && ngx_http_snap_ct_equal(mac, sig->data, sizeof(mac)))
            {
                ctx->key_used = i + 1;
                ctx->key_rsa = 0;
                return NGX_OK;
            }
        }

        return NGX_DECLINED;
    }

    ctx->key_rsa = 1;

    return ngx_http_snap_client_rsa_verify(r, ctx->client, sts, sig->data,
                                            sig->len, &ctx->key_used);
}


/*
 * "Why does my signature not match" is the first question of every
 * integration, so the string nginx signed is logged, with the token
 * masked; never the secret, the token or the received signature.
 */

static void
ngx_http_snap_log_mismatch(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_loc_conf_t *slcf, ngx_str_t *url, u_char *hex,
    u_char *tried)
{
    const char  *kind;

    kind = "";

    if (slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC) {
        if (ctx->client->secrets.nelts == 0) {
            kind = ", the client has no secret_file";
        }

        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: signature mismatch for client \"%V\"%s, "
                      "string to sign \"%V:%V:<token, %uz bytes>:%*s:%V\"%s",
                      &ctx->client->id, kind, &r->method_name, url,
                      ctx->token.len, (size_t) NGX_HTTP_SNAP_SHA256_HEX_LEN,
                      hex, &ctx->timestamp->value, tried);
        return;
    }

    if (ctx->client->pkeys.nelts == 0) {
        kind = ", the client has no public_key";
    }

    ngx_log_error(slcf->log_level, r->connection->log, 0,
                  "snap: signature mismatch for client \"%V\"%s, "
                  "string to sign \"%V:%V:%*s:%V\"%s",
                  &ctx->client->id, kind, &r->method_name, url,
                  (size_t) NGX_HTTP_SNAP_SHA256_HEX_LEN, hex,
                  &ctx->timestamp->value, tried);
}
