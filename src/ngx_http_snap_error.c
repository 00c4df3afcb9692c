
/*
 * Copyright (C) ngx_http_snap_module authors
 */


#include "ngx_http_snap_module.h"


typedef struct {
    ngx_uint_t                  status;
    ngx_uint_t                  code;
    ngx_str_t                   message;
    ngx_uint_t                  with_field;
    const char                 *name;
} ngx_http_snap_reason_t;


static ngx_int_t ngx_http_snap_add_timestamp(ngx_http_request_t *r);


/* indexed by ngx_http_snap_reason_e */
static ngx_http_snap_reason_t  ngx_http_snap_reasons[] = {
    { 400, 2, ngx_string("Invalid Mandatory Field "), 1, "missing_field" },
    { 400, 1, ngx_string("Invalid Field Format "), 1, "bad_format" },
    { 400, 1, ngx_string("Invalid Field Format "), 1, "duplicate_header" },
    { 400, 0, ngx_string("Bad Request"), 0, "bad_json" },
    { 401, 0, ngx_string("Unauthorized. [Timestamp]"), 0, "timestamp" },
    { 401, 0, ngx_string("Unauthorized. [Unknown client]"), 0,
      "unknown_client" },
    { 401, 0, ngx_string("Unauthorized. [Signature]"), 0, "signature" },
    { 401, 3, ngx_string("Token Not Found (B2B)"), 0, "token_missing" },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0, "token_invalid" },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0, "token_expired" },
    { 401, 1, ngx_string("Invalid Token (B2B)"), 0, "token_partner" },
    { 405, 0, ngx_string("Requested Function Is Not Supported"), 0,
      "method" },
    { 409, 0, ngx_string("Conflict"), 0, "replay" },
    { 429, 0, ngx_string("Too Many Requests"), 0, "rate_limited" },
    { 500, 0, ngx_string("General Error"), 0, "replay_zone_full" },
    { 500, 0, ngx_string("General Error"), 0, "internal" },
    { 500, 2, ngx_string("External Server Error"), 0, "upstream" },
    { 504, 0, ngx_string("Timeout"), 0, "timeout" },
};


const char *
ngx_http_snap_reason_name(ngx_uint_t reason)
{
    return ngx_http_snap_reasons[reason].name;
}


/*
 * The one place every SNAP error is made: the 7-digit code is the HTTP
 * status, the service code and the case code, and the HTTP status of the
 * answer is its first 3 digits.  The caller finalizes the request.
 */

ngx_int_t
ngx_http_snap_send_error(ngx_http_request_t *r, ngx_uint_t service,
    ngx_uint_t reason, ngx_str_t *field)
{
    u_char                    *p;
    ngx_str_t                  body;
    ngx_uint_t                 code;
    ngx_http_snap_ctx_t       *ctx;
    ngx_http_snap_reason_t    *sr;
    ngx_http_snap_loc_conf_t  *slcf;

    sr = &ngx_http_snap_reasons[reason];

    ctx = ngx_http_snap_get_ctx(r);
    if (ctx == NULL) {
        ctx = ngx_http_snap_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    code = sr->status * 10000 + service % 100 * 100 + sr->code;

    (void) ngx_sprintf(ctx->response_code, "%07ui", code);
    ctx->reason = reason;
    ctx->rejected = 1;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (field) {
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: request rejected with %07ui, %s \"%V\"",
                      code, sr->name, field);

    } else {
        ngx_log_error(slcf->log_level, r->connection->log, 0,
                      "snap: request rejected with %07ui, %s",
                      code, sr->name);
    }

    body.len = sizeof("{\"responseCode\":\"0000000\",\"responseMessage\":\"\"}")
               - 1 + sr->message.len;

    if (sr->with_field && field) {
        body.len += ngx_escape_json(NULL, field->data, field->len)
                    + field->len;
    }

    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"responseCode\":\"%07ui\","
                    "\"responseMessage\":\"%V", code, &sr->message);

    if (sr->with_field && field) {
        p = (u_char *) ngx_escape_json(p, field->data, field->len);
    }

    *p++ = '"';
    *p++ = '}';

    body.len = p - body.data;

    return ngx_http_snap_send_json(r, sr->status, &body);
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
