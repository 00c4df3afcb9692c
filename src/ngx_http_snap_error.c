
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * SNAP JSON answers: the module's own rejections, operator overrides of
 * their codes and messages (snap_error), and the errors nginx itself
 * raises in a snap location (413, 429, 502, 504, ...), rewritten by a
 * header and a body filter so the partner always gets a 7-digit code.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_request.h"
#include "ngx_http_snap_error.h"


/* what a rejection's log line adds: a partner, a timestamp, a value */
#define NGX_HTTP_SNAP_DETAIL_MAX  384


typedef struct {
    ngx_uint_t                  status;
    ngx_uint_t                  code;
    ngx_str_t                   message;
    ngx_uint_t                  with_field;
    ngx_str_t                   name;
} ngx_http_snap_reason_t;


static ngx_int_t ngx_http_snap_error_body(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t reason, ngx_str_t *field,
    ngx_str_t *body, ngx_uint_t *status);
static ngx_int_t ngx_http_snap_error_log(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_uint_t reason, ngx_str_t *field,
    const char *what);
static u_char *ngx_http_snap_error_detail(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, ngx_http_snap_loc_conf_t *slcf,
    ngx_uint_t reason, ngx_str_t *field, u_char *p, u_char *last);
static ngx_str_t *ngx_http_snap_error_header(ngx_http_snap_ctx_t *ctx,
    ngx_str_t *field);
static u_char *ngx_http_snap_error_value(ngx_str_t *v, u_char *p,
    u_char *last);
static ngx_int_t ngx_http_snap_add_timestamp(ngx_http_request_t *r);
static ngx_uint_t ngx_http_snap_server_errors(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_snap_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* indexed by ngx_http_snap_reason_e */
static ngx_http_snap_reason_t  ngx_http_snap_reasons[] = {
    { 400, 2, ngx_string("Invalid Mandatory Field "), 1,
      ngx_string("missing_field") },
    { 400, 1, ngx_string("Invalid Field Format "), 1,
      ngx_string("bad_format") },
    { 400, 1, ngx_string("Invalid Field Format "), 1,
      ngx_string("duplicate_header") },
    { 400, 0, ngx_string("Bad Request"), 0, ngx_string("bad_json") },
    { 401, 0, ngx_string("Unauthorized. [Timestamp]"), 0,
      ngx_string("timestamp") },
    { 401, 0, ngx_string("Unauthorized. [Unknown client]"), 0,
      ngx_string("unknown_client") },
    { 401, 0, ngx_string("Unauthorized. [Signature]"), 0,
      ngx_string("signature") },
    { 401, 3, ngx_string("Token Not Found (B2B)"), 0,
      ngx_string("token_missing") },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0,
      ngx_string("token_invalid") },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0,
      ngx_string("token_expired") },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0,
      ngx_string("token_partner") },
    { 405, 0, ngx_string("Requested Function Is Not Supported"), 0,
      ngx_string("method") },
    { 409, 0, ngx_string("Conflict"), 0, ngx_string("replay") },
    { 429, 0, ngx_string("Too Many Requests"), 0,
      ngx_string("rate_limited") },
    { 500, 0, ngx_string("General Error"), 0,
      ngx_string("replay_zone_full") },
    { 500, 0, ngx_string("General Error"), 0, ngx_string("internal") },
    { 500, 2, ngx_string("External Server Error"), 0,
      ngx_string("upstream") },
    { 504, 0, ngx_string("Timeout"), 0, ngx_string("timeout") },
    { 400, 0, ngx_string("Bad Request"), 0, ngx_string("too_large") },
    { 400, 0, ngx_string("Bad Request"), 0, ngx_string("bad_request") },
    { 401, 0, ngx_string("Unauthorized. [Connection not allowed]"), 0,
      ngx_string("forbidden") },
    { 500, 0, ngx_string("General Error"), 0, ngx_string("replay_store") },
    { 401, 0, ngx_string("Unauthorized. [Unknown client]"), 0,
      ngx_string("client_not_allowed") },
};


ngx_str_t *
ngx_http_snap_reason_name(ngx_uint_t reason)
{
    return &ngx_http_snap_reasons[reason].name;
}


ngx_int_t
ngx_http_snap_reason_by_name(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_SNAP_REASONS; i++) {
        if (ngx_http_snap_reasons[i].name.len == name->len
            && ngx_strncmp(ngx_http_snap_reasons[i].name.data, name->data,
                           name->len)
               == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/*
 * The answer's body, and its HTTP status: the first 3 digits of the code,
 * which is the HTTP status, the service code of the location the request
 * entered and the case code, unless that location overrides them with
 * snap_error.  Kept in the context, to be sent again after a redirect.
 */

static ngx_int_t
ngx_http_snap_error_body(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t reason, ngx_str_t *field, ngx_str_t *body, ngx_uint_t *status)
{
    u_char                    *p;
    size_t                     len, flen;
    ngx_str_t                  message;
    ngx_uint_t                 i, with_field, service;
    ngx_http_snap_reason_t    *sr;
    ngx_http_snap_override_t  *ov;
    ngx_http_snap_loc_conf_t  *slcf;

    sr = &ngx_http_snap_reasons[reason];
    slcf = ngx_http_snap_conf(r);
    service = slcf->check.service;

    *status = sr->status;
    message = sr->message;
    with_field = sr->with_field && field;

    (void) ngx_sprintf(ctx->response_code, "%03ui%02ui%02ui",
                       sr->status, service % 100, sr->code);

    if (slcf->errors) {
        ov = slcf->errors->elts;

        for (i = 0; i < slcf->errors->nelts; i++) {
            if (ov[i].reason != reason) {
                continue;
            }

            ngx_memcpy(ctx->response_code, ov[i].code, 7);

            if (ov[i].code[3] == 'x') {
                (void) ngx_sprintf(ctx->response_code + 3, "%02ui",
                                   service % 100);
            }

            *status = ov[i].status;
            message = ov[i].message;
            with_field = ov[i].with_field && field;
            break;
        }
    }

    flen = with_field ? field->len + ngx_escape_json(NULL, field->data,
                                                     field->len)
                      : 0;

    len = sizeof("{\"responseCode\":\"0000000\",\"responseMessage\":\"\"}") - 1
          + message.len + flen;

    body->data = ngx_pnalloc(r->pool, len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body->data, "{\"responseCode\":\"",
                   sizeof("{\"responseCode\":\"") - 1);
    p = ngx_cpymem(p, ctx->response_code, 7);
    p = ngx_cpymem(p, "\",\"responseMessage\":\"",
                   sizeof("\",\"responseMessage\":\"") - 1);
    p = ngx_cpymem(p, message.data, message.len);

    if (with_field) {
        p = (u_char *) ngx_escape_json(p, field->data, field->len);
    }

    *p++ = '"';
    *p++ = '}';

    body->len = p - body->data;

    ctx->json = *body;
    ctx->answered = 1;

    return NGX_OK;
}


/*
 * The one place every refusal of the module is made: the verdict (the
 * request rejected, and why), its answer kept in the context for the
 * variables, the metrics and an error_page, its log line, and the answer
 * sent.  The caller finalizes the request with what this returns.
 */

ngx_int_t
ngx_http_snap_send_error(ngx_http_request_t *r, ngx_uint_t reason,
    ngx_str_t *field)
{
    ngx_str_t             body;
    ngx_uint_t            status;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_snap_get_ctx(r);
    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    ctx->state = NGX_HTTP_SNAP_REJECTED;
    ctx->reason = reason;

    if (ngx_http_snap_error_body(r, ctx, reason, field, &body, &status)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    (void) ngx_http_snap_error_log(r, ctx, reason, field, "rejected");

    return ngx_http_snap_send_json(r, status, &body);
}


/*
 * Under "snap_enforce off": the refusal decided, its code and reason kept
 * and logged exactly as if answered, and the request marked passed.
 */

ngx_int_t
ngx_http_snap_note_error(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t reason, ngx_str_t *field)
{
    ngx_str_t   body;
    ngx_uint_t  status;

    ctx->reported = 1;
    ctx->reason = reason;
    ctx->state = NGX_HTTP_SNAP_PASSED;

    if (ngx_http_snap_error_body(r, ctx, reason, field, &body, &status)
        != NGX_OK)
    {
        ctx->state = NGX_HTTP_SNAP_REJECTED;
        return NGX_ERROR;
    }

    return ngx_http_snap_error_log(r, ctx, reason, field,
                                   "would be rejected (snap_enforce off, "
                                   "passed on)");
}


static ngx_int_t
ngx_http_snap_error_log(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_uint_t reason, ngx_str_t *field, const char *what)
{
    u_char                    *p;
    u_char                     detail[NGX_HTTP_SNAP_DETAIL_MAX];
    ngx_http_snap_loc_conf_t  *slcf;

    slcf = ngx_http_snap_conf(r);

    p = ngx_http_snap_error_detail(r, ctx, slcf, reason, field, detail,
                                   detail + sizeof(detail));

    if (field) {
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: request %s with %*s, %V \"%V\"%*s", what,
                      (size_t) 7, ctx->response_code,
                      &ngx_http_snap_reasons[reason].name, field,
                      (size_t) (p - detail), detail);

    } else {
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: request %s with %*s, %V%*s", what,
                      (size_t) 7, ctx->response_code,
                      &ngx_http_snap_reasons[reason].name,
                      (size_t) (p - detail), detail);
    }

    return NGX_OK;
}


/*
 * What an on-call engineer needs to tie a refusal to a partner and its
 * cause, where it is no secret: the partner the request names, the
 * X-TIMESTAMP received and how far off it is, the id no snap_client
 * declares, what is wrong with a malformed field.  Never a signature, a
 * token or a key.
 */

static u_char *
ngx_http_snap_error_detail(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    ngx_http_snap_loc_conf_t *slcf, ngx_uint_t reason, ngx_str_t *field,
    u_char *p, u_char *last)
{
    int64_t                  diff;
    ngx_str_t               *v;
    ngx_table_elt_t         *h;
    ngx_http_snap_client_t  *c;

    c = ctx->client ? ctx->client : ctx->claimed;

    if (c) {
        p = ngx_slprintf(p, last, ", partner \"%V\"", &c->id);
    }

    switch (reason) {

    case NGX_HTTP_SNAP_TIMESTAMP:
        if (ctx->timestamp == NULL) {
            break;
        }

        diff = (int64_t) ngx_time() - ctx->ts;

        p = ngx_slprintf(p, last, ", X-TIMESTAMP \"%V\" is %L s %s "
                         "this node's clock (snap_clock_skew %T s)",
                         &ctx->timestamp->value, diff < 0 ? -diff : diff,
                         diff < 0 ? "ahead of" : "behind",
                         slcf->clock_skew);
        break;

    case NGX_HTTP_SNAP_UNKNOWN_CLIENT:
        h = ctx->client_key ? ctx->client_key : ctx->partner_id;

        if (h == NULL) {
            break;
        }

        p = ngx_slprintf(p, last, ", %V \"", &h->key);
        p = ngx_http_snap_error_value(&h->value, p, last);
        p = ngx_slprintf(p, last, "\" names no snap_client");
        break;

    case NGX_HTTP_SNAP_BAD_FORMAT:
    case NGX_HTTP_SNAP_MISSING_FIELD:
        if (field == NULL || field->len == 0) {
            break;
        }

        v = ngx_http_snap_error_header(ctx, field);

        if (v == NULL) {
            break;
        }

        p = ngx_slprintf(p, last, ", received \"");
        p = ngx_http_snap_error_value(v, p, last);
        p = ngx_slprintf(p, last, "\" (%uz characters%s)", v->len,
                         ngx_http_snap_header_value_ok(v->data, v->len,
                                                       v->len ? v->len : 1)
                         ? "" : ", not all printable ASCII");
        break;

    default:
        break;
    }

    return p;
}


/* the received value of a header the module checks, by its name */

static ngx_str_t *
ngx_http_snap_error_header(ngx_http_snap_ctx_t *ctx, ngx_str_t *field)
{
    ngx_uint_t  i;

    static const struct {
        const char  *name;
        size_t       offset;
    } headers[] = {
        { "X-TIMESTAMP", offsetof(ngx_http_snap_ctx_t, timestamp) },
        { "X-EXTERNAL-ID", offsetof(ngx_http_snap_ctx_t, external_id) },
        { "X-PARTNER-ID", offsetof(ngx_http_snap_ctx_t, partner_id) },
        { "CHANNEL-ID", offsetof(ngx_http_snap_ctx_t, channel_id) },
        { "X-CLIENT-KEY", offsetof(ngx_http_snap_ctx_t, client_key) },
        { NULL, 0 }
    };

    ngx_table_elt_t  *h;

    for (i = 0; headers[i].name; i++) {
        if (field->len == ngx_strlen(headers[i].name)
            && ngx_strncasecmp(field->data, (u_char *) headers[i].name,
                               field->len)
               == 0)
        {
            h = *(ngx_table_elt_t **) ((u_char *) ctx + headers[i].offset);
            return h ? &h->value : NULL;
        }
    }

    return NULL;
}


/*
 * A received value as the log may show it: at most 64 bytes, anything
 * but printable ASCII (and the quote and backslash that would end or
 * escape it) as "?"
 */

static u_char *
ngx_http_snap_error_value(ngx_str_t *v, u_char *p, u_char *last)
{
    size_t  i, n;

    n = ngx_min(v->len, 64);

    for (i = 0; i < n && p < last; i++) {
        *p++ = (v->data[i] < 0x20 || v->data[i] >= 0x7f
                || v->data[i] == '"' || v->data[i] == '\\')
               ? '?' : v->data[i];
    }

    if (v->len > n) {
        p = ngx_slprintf(p, last, "...");
    }

    return p;
}


/* the answer already made, once more, as it was */

ngx_int_t
ngx_http_snap_send_again(ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx)
{
    if (ctx->json.len == 0) {
        return ngx_http_snap_send_error(r, NGX_HTTP_SNAP_INTERNAL, NULL);
    }

    return ngx_http_snap_send_json(r, ngx_atoi(ctx->response_code, 3),
                                   &ctx->json);
}


ngx_int_t
ngx_http_snap_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (r->header_sent) {
        return NGX_ERROR;
    }

    /*
     * an unread body would be parsed as the next request on a keepalive
     * connection: drain it, or close the connection when that fails
     */
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    /* after an error_page, nginx would send the error's status instead */
    r->err_status = 0;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_snap_add_timestamp(r) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_snap_add_timestamp(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->value.data = ngx_pnalloc(r->pool, 25);
    if (h->value.data == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    ngx_http_snap_format_wib(ngx_time(), h->value.data);

    h->hash = 1;
    ngx_str_set(&h->key, "X-TIMESTAMP");
    h->value.len = 25;

    return NGX_OK;
}


ngx_uint_t
ngx_http_snap_status_reason(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return NGX_HTTP_SNAP_TOO_LARGE;

    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        return NGX_HTTP_SNAP_FORBIDDEN;

    case NGX_HTTP_NOT_ALLOWED:
        return NGX_HTTP_SNAP_METHOD;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        return NGX_HTTP_SNAP_RATE_LIMITED;

    case NGX_HTTP_BAD_GATEWAY:
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return NGX_HTTP_SNAP_UPSTREAM;

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return NGX_HTTP_SNAP_TIMEOUT;

    case NGX_HTTP_NOT_IMPLEMENTED:
        /* an unknown Transfer-Encoding: the client's request, not ours */
        return NGX_HTTP_SNAP_BAD_REQUEST;

    default:
        return status >= NGX_HTTP_INTERNAL_SERVER_ERROR
               ? NGX_HTTP_SNAP_INTERNAL : NGX_HTTP_SNAP_BAD_REQUEST;
    }
}


/*
 * A request nginx refuses before it has chosen a location (a malformed
 * header, a duplicated Authorization, Content-Length with chunked) is
 * answered with the server{}'s own location configuration: in a server
 * with snap locations, in SNAP JSON too, with service code 00.
 */

static ngx_uint_t
ngx_http_snap_server_errors(ngx_http_request_t *r)
{
    ngx_http_snap_srv_conf_t  *sscf;
    ngx_http_core_srv_conf_t  *cscf;

    sscf = ngx_http_get_module_srv_conf(r, ngx_http_snap_module);
    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    return sscf->errors && r->loc_conf == cscf->ctx->loc_conf;
}


/*
 * An error nginx made itself (r->err_status is set only on that path; an
 * upstream's own answer never has it) becomes SNAP JSON in snap locations.
 * An operator's error_page wins: it has already redirected by now.
 */

static ngx_int_t
ngx_http_snap_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                  body;
    ngx_uint_t                 reason, status;
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_loc_conf_t  *slcf;

    if (r != r->main
        || r->err_status == 0
        || r->error_page
        || r->headers_out.status < NGX_HTTP_BAD_REQUEST)
    {
        return ngx_http_next_header_filter(r);
    }

    slcf = ngx_http_snap_conf(r);

    if (slcf->role != NGX_HTTP_SNAP_ROLE_VERIFY
        && slcf->role != NGX_HTTP_SNAP_ROLE_TOKEN
        && slcf->role != NGX_HTTP_SNAP_ROLE_SIGN
        && !ngx_http_snap_server_errors(r))
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_snap_get_ctx(r);
    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    reason = ngx_http_snap_status_reason(r->headers_out.status);

    if (ngx_http_snap_error_body(r, ctx, reason, NULL, &body, &status)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx->replace_body = 1;

    if (!ctx->nginx_error) {
        ctx->nginx_error = 1;
        ctx->error_reason = reason;
    }

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;
    r->err_status = status;
    r->headers_out.content_length_n = body.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (r->headers_out.location) {
        r->headers_out.location->hash = 0;
        r->headers_out.location = NULL;
    }

    if (ngx_http_snap_add_timestamp(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_snap_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t            *b;
    ngx_chain_t          *cl, out;
    ngx_http_snap_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_snap_module);

    if (ctx == NULL || !ctx->replace_body) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's own HTML page is dropped */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->json_sent) {
        return ngx_http_next_body_filter(r, NULL);
    }

    ctx->json_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->json.data;
    b->last = ctx->json.data + ctx->json.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * snap_error REASON CODE MESSAGE: the providers disagree on codes (seed
 * 001 answers a bad token-call signature with 4007302 "Invalid
 * Signature"), so each reason's answer can be set; "xx" in CODE stands for
 * the service code, a MESSAGE ending in "{field}" gets the field's name.
 */

char *
ngx_http_snap_error_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
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


ngx_int_t
ngx_http_snap_error_init_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_snap_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_snap_body_filter;

    return NGX_OK;
}
