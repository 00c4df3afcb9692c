
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The provider's answers, read as far as signing needs: a walk over the
 * members of the top-level object, bounded by the bytes given, so that a
 * truncated or hostile answer is only ever "not found".  No nginx runtime
 * here.
 */


#include <string.h>

#include "ngx_http_snap_outbound.h"
#include "ngx_http_snap_json.h"


#define NGX_HTTP_SNAP_OUT_DEPTH  64


typedef struct {
    const unsigned char      *key;
    size_t                    key_len;
    const unsigned char      *value;      /* a string's without its quotes */
    size_t                    value_len;
    int                       string;
} ngx_http_snap_member_t;


static const unsigned char *ngx_http_snap_out_ws(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_http_snap_out_string(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_http_snap_out_value(const unsigned char *p,
    const unsigned char *end);
static int ngx_http_snap_out_member(const unsigned char **pp,
    const unsigned char *end, ngx_http_snap_member_t *m);
static int ngx_http_snap_out_key(ngx_http_snap_member_t *m, const char *name);
static int ngx_http_snap_out_code(ngx_http_snap_member_t *m,
    unsigned char *code);


static const unsigned char *
ngx_http_snap_out_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }

    return p;
}


/* p at a quote: past the closing quote, or NULL */

static const unsigned char *
ngx_http_snap_out_string(const unsigned char *p, const unsigned char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


/* past one value, nested ones counted, strings skipped whole; or NULL */

static const unsigned char *
ngx_http_snap_out_value(const unsigned char *p, const unsigned char *end)
{
    int  depth;

    if (p < end && *p == '"') {
        return ngx_http_snap_out_string(p, end);
    }

    depth = 0;

    while (p < end) {
        switch (*p) {

        case '"':
            p = ngx_http_snap_out_string(p, end);
            if (p == NULL) {
                return NULL;
            }
            continue;

        case '{':
        case '[':
            if (++depth > NGX_HTTP_SNAP_OUT_DEPTH) {
                return NULL;
            }
            break;

        case '}':
        case ']':
            if (depth == 0) {
                return p;
            }

            if (--depth == 0) {
                return p + 1;
            }
            break;

        case ',':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            if (depth == 0) {
                return p;
            }
            break;

        default:
            break;
        }

        p++;
    }

    return depth ? NULL : p;
}


/*
 * The next member of the object *pp is in: 1 and the member, 0 at the
 * object's end, -1 when the bytes stop or are not an object.
 */

static int
ngx_http_snap_out_member(const unsigned char **pp, const unsigned char *end,
    ngx_http_snap_member_t *m)
{
    const unsigned char  *p, *q;

    p = ngx_http_snap_out_ws(*pp, end);

    if (p < end && *p == ',') {
        p = ngx_http_snap_out_ws(p + 1, end);
    }

    if (p == end) {
        return -1;
    }

    if (*p == '}') {
        *pp = p + 1;
        return 0;
    }

    if (*p != '"') {
        return -1;
    }

    q = ngx_http_snap_out_string(p, end);
    if (q == NULL) {
        return -1;
    }

    m->key = p + 1;
    m->key_len = q - p - 2;

    p = ngx_http_snap_out_ws(q, end);

    if (p == end || *p != ':') {
        return -1;
    }

    p = ngx_http_snap_out_ws(p + 1, end);

    q = ngx_http_snap_out_value(p, end);
    if (q == NULL || q == p) {
        return -1;
    }

    m->string = (*p == '"');
    m->value = m->string ? p + 1 : p;
    m->value_len = m->string ? (size_t) (q - p - 2) : (size_t) (q - p);

    *pp = q;

    return 1;
}


static int
ngx_http_snap_out_key(ngx_http_snap_member_t *m, const char *name)
{
    size_t  len;

    len = strlen(name);

    return m->key_len == len && memcmp(m->key, name, len) == 0;
}


static int
ngx_http_snap_out_code(ngx_http_snap_member_t *m, unsigned char *code)
{
    size_t  i;

    if (!m->string || m->value_len != 7) {
        return 0;
    }

    for (i = 0; i < 7; i++) {
        if (m->value[i] < '0' || m->value[i] > '9') {
            return 0;
        }
    }

    memcpy(code, m->value, 7);

    return 1;
}


/*
 * The responseCode of the top-level object, from as much of an answer as
 * was kept: 1 and the 7 digits, or 0.
 */

int
ngx_http_snap_response_code(const unsigned char *p, size_t len,
    unsigned char *code)
{
    int                     rc;
    const unsigned char    *end;
    ngx_http_snap_member_t  m;

    end = p + len;
    p = ngx_http_snap_out_ws(p, end);

    if (p == end || *p != '{') {
        return 0;
    }

    p++;

    while ((rc = ngx_http_snap_out_member(&p, end, &m)) == 1) {
        if (ngx_http_snap_out_key(&m, "responseCode")) {
            return ngx_http_snap_out_code(&m, code);
        }
    }

    return 0;
}


/*
 * The Access Token B2B answer: valid JSON, a responseCode of 200xxxx, an
 * accessToken of visible ASCII that fits a header (JSON escapes other
 * than "\/" are refused, not decoded: no real token needs them), and
 * expiresIn in seconds, as a string or a number, 900 when absent.
 * tokenType is not read: providers write "Bearer" in any case.
 */

int
ngx_http_snap_token_reply(const unsigned char *p, size_t len,
    ngx_http_snap_token_reply_t *reply)
{
    int                     rc, have_token;
    size_t                  i;
    int64_t                 v;
    const unsigned char    *end, *s;
    ngx_http_snap_member_t  m;

    reply->has_code = 0;
    reply->token_len = 0;
    reply->token_over = 0;
    reply->expires_in = NGX_HTTP_SNAP_OUT_EXPIRES;
    have_token = 0;

    if (ngx_http_snap_json_check(p, len, NULL, NULL, 0, NULL, NULL)
        != NGX_HTTP_SNAP_FIELD_OK)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    end = p + len;
    p = ngx_http_snap_out_ws(p, end);

    if (p == end || *p != '{') {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    p++;

    while ((rc = ngx_http_snap_out_member(&p, end, &m)) == 1) {

        if (ngx_http_snap_out_key(&m, "responseCode")) {
            reply->has_code = ngx_http_snap_out_code(&m, reply->code);

        } else if (ngx_http_snap_out_key(&m, "accessToken")) {
            if (!m.string || m.value_len == 0) {
                return NGX_HTTP_SNAP_LIB_INVALID;
            }

            reply->token_len = 0;

            for (s = m.value; s < m.value + m.value_len; s++) {
                if (*s == '\\') {
                    if (s + 1 == m.value + m.value_len || s[1] != '/') {
                        return NGX_HTTP_SNAP_LIB_INVALID;
                    }
                    s++;
                }

                if (*s < 0x21 || *s > 0x7e) {
                    return NGX_HTTP_SNAP_LIB_INVALID;
                }

                if (reply->token_len == NGX_HTTP_SNAP_OUT_TOKEN_MAX) {
                    /* refused whole, never cut: says how long it was */
                    reply->token_over = m.value_len;
                    return NGX_HTTP_SNAP_LIB_INVALID;
                }

                reply->token[reply->token_len++] = *s;
            }

            have_token = 1;

        } else if (ngx_http_snap_out_key(&m, "expiresIn")) {
            if (m.value_len == 0 || m.value_len > 9) {
                return NGX_HTTP_SNAP_LIB_INVALID;
            }

            v = 0;

            for (i = 0; i < m.value_len; i++) {
                if (m.value[i] < '0' || m.value[i] > '9') {
                    return NGX_HTTP_SNAP_LIB_INVALID;
                }
                v = v * 10 + (m.value[i] - '0');
            }

            if (v == 0) {
                return NGX_HTTP_SNAP_LIB_INVALID;
            }

            reply->expires_in = v;
        }
    }

    if (rc != 0 || !have_token || !reply->has_code
        || memcmp(reply->code, "200", 3) != 0)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}


/*
 * Decimal digits from random bytes without bias: a byte below 250 gives
 * its last digit, the others are dropped.  Returns the digits written.
 */

size_t
ngx_http_snap_random_digits(unsigned char *dst, size_t n,
    const unsigned char *rnd, size_t rlen)
{
    size_t  i, k;

    k = 0;

    for (i = 0; i < rlen && k < n; i++) {
        if (rnd[i] < 250) {
            dst[k++] = '0' + rnd[i] % 10;
        }
    }

    return k;
}


/* the worker's random prefix, then the counter in 16 digits */

void
ngx_http_snap_external_id(unsigned char *dst, const unsigned char *prefix,
    uint64_t counter)
{
    int  i;

    memcpy(dst, prefix, NGX_HTTP_SNAP_OUT_PREFIX_LEN);

    dst += NGX_HTTP_SNAP_OUT_PREFIX_LEN;

    for (i = NGX_HTTP_SNAP_OUT_COUNTER_LEN - 1; i >= 0; i--) {
        dst[i] = '0' + counter % 10;
        counter /= 10;
    }
}
