
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Per-request helpers: the context, found again after internal redirects;
 * the configuration a request's answers follow; one pass over the
 * headers; the timestamp; the body as one string.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_request.h"


static void ngx_http_snap_ctx_cleanup(void *data);


/*
 * The context's pool cleanup: it marks the context, so that it is found
 * after internal redirects, and a request gone before a store's answer
 * was delivered takes its posted resumption with it.
 */

static void
ngx_http_snap_ctx_cleanup(void *data)
{
    ngx_http_snap_ctx_t *ctx = data;

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
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

    if (slcf->role != NGX_HTTP_SNAP_ROLE_NONE) {
        ctx->conf = slcf;
    }

    cln->handler = ngx_http_snap_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_snap_module);

    return ctx;
}


/*
 * The configuration a request's SNAP answers follow: that of the location
 * whose verdict it carries (the snap_verify location that verified it),
 * else of the first location with a SNAP role it entered, wherever nginx
 * has sent it since.
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
    ngx_table_elt_t   *h, **slot, *dup;

    dup = NULL;
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

        /* the whole list is read first: the partner it names is known
         * whatever the refusal */
        if (*slot) {
            if (dup == NULL) {
                dup = &h[i];
            }

            continue;
        }

        *slot = &h[i];
    }

    if (dup) {
        *field = dup->key;
        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_DUPLICATE_HEADER);
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
    time_t skew, unsigned forms, ngx_uint_t *reason)
{
    int64_t   diff;

    if (ngx_http_snap_parse_timestamp_as(ctx->timestamp->value.data,
                                         ctx->timestamp->value.len, forms,
                                         &ctx->ts)
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

        } else if (b->last != b->pos) {
            /* not an empty buffer, such as the last one of a chunked body */
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}
