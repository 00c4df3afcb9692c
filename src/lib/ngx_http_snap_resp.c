
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * RESP2: the few commands the replay store sends, and the replies Redis
 * (or Valkey) answers, parsed in place from what the socket has read so
 * far.  A reply is taken whole or not at all, so the caller keeps reading
 * until one is complete.  No nginx runtime here.
 */


#include <string.h>

#include "ngx_http_snap_resp.h"
#include "ngx_http_snap_fields.h"


#define NGX_HTTP_SNAP_RESP_MORE  -2


static size_t ngx_http_snap_resp_digits(size_t v);
static long ngx_http_snap_resp_line(const unsigned char *p, size_t len);
static int ngx_http_snap_resp_int(const unsigned char *p, size_t len,
    int64_t *v);
static long ngx_http_snap_resp_value(const unsigned char *p, size_t len,
    ngx_http_snap_resp_reply_t *reply, int depth);


static size_t
ngx_http_snap_resp_digits(size_t v)
{
    size_t  n;

    for (n = 1; v >= 10; v /= 10) {
        n++;
    }

    return n;
}


/* "*N\r\n", then "$len\r\narg\r\n" for each argument */

size_t
ngx_http_snap_resp_command_len(const ngx_http_snap_resp_arg_t *args, size_t n)
{
    size_t  i, len;

    len = 1 + ngx_http_snap_resp_digits(n) + 2;

    for (i = 0; i < n; i++) {
        len += 1 + ngx_http_snap_resp_digits(args[i].len) + 2
               + args[i].len + 2;
    }

    return len;
}


size_t
ngx_http_snap_resp_command(unsigned char *dst,
    const ngx_http_snap_resp_arg_t *args, size_t n)
{
    size_t          i;
    unsigned char  *p;

    p = dst;

    *p++ = '*';
    p += ngx_http_snap_put_uint(p, n);
    *p++ = '\r';
    *p++ = '\n';

    for (i = 0; i < n; i++) {
        *p++ = '$';
        p += ngx_http_snap_put_uint(p, args[i].len);
        *p++ = '\r';
        *p++ = '\n';

        if (args[i].len) {
            memcpy(p, args[i].data, args[i].len);
            p += args[i].len;
        }

        *p++ = '\r';
        *p++ = '\n';
    }

    return p - dst;
}


/*
 * The length of a line up to its CRLF, NGX_HTTP_SNAP_RESP_MORE when the
 * CRLF has not arrived yet, -1 when the line is bad or too long.
 */

static long
ngx_http_snap_resp_line(const unsigned char *p, size_t len)
{
    size_t  i, max;

    max = len < NGX_HTTP_SNAP_RESP_LINE_MAX ? len : NGX_HTTP_SNAP_RESP_LINE_MAX;

    for (i = 0; i < max; i++) {
        if (p[i] == '\r') {
            if (i + 1 == len) {
                return NGX_HTTP_SNAP_RESP_MORE;
            }

            return p[i + 1] == '\n' ? (long) i : -1;
        }

        if (p[i] == '\n') {
            return -1;
        }
    }

    return len < NGX_HTTP_SNAP_RESP_LINE_MAX ? NGX_HTTP_SNAP_RESP_MORE : -1;
}


/* a signed decimal as Redis writes it: no '+', no leading zeros needed */

static int
ngx_http_snap_resp_int(const unsigned char *p, size_t len, int64_t *v)
{
    int       neg;
    size_t    i;
    uint64_t  n;

    neg = (len && p[0] == '-');
    i = neg;

    if (i == len || len - i > 19) {
        return -1;
    }

    n = 0;

    for ( /* void */ ; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        n = n * 10 + (p[i] - '0');
    }

    *v = neg ? -(int64_t) n : (int64_t) n;

    return 0;
}


/*
 * One reply at p: its length when it is all there, 0 when more bytes are
 * needed, -1 when it is no RESP2 (the connection is then of no use).
 */

long
ngx_http_snap_resp_parse(const unsigned char *p, size_t len,
    ngx_http_snap_resp_reply_t *reply)
{
    return ngx_http_snap_resp_value(p, len, reply, 0);
}


static long
ngx_http_snap_resp_value(const unsigned char *p, size_t len,
    ngx_http_snap_resp_reply_t *reply, int depth)
{
    long                        line, n, used, head;
    int64_t                     i, v;
    ngx_http_snap_resp_reply_t  elem;

    if (len == 0) {
        return 0;
    }

    line = ngx_http_snap_resp_line(p + 1, len - 1);

    if (line == NGX_HTTP_SNAP_RESP_MORE) {
        return 0;
    }

    if (line < 0) {
        return -1;
    }

    used = 1 + line + 2;

    reply->str = p + 1;
    reply->len = (size_t) line;

    /* a bulk's or an array's size: -1 is the null reply of either */
    if (p[0] == '$' || p[0] == '*') {
        if (ngx_http_snap_resp_int(p + 1, line, &v) != 0 || v < -1
            || v > NGX_HTTP_SNAP_RESP_BULK_MAX)
        {
            return -1;
        }

        if (v == -1) {
            reply->type = NGX_HTTP_SNAP_RESP_NIL;
            reply->len = 0;
            return used;
        }
    }

    switch (p[0]) {

    case '+':
        reply->type = NGX_HTTP_SNAP_RESP_STATUS;
        return used;

    case '-':
        reply->type = NGX_HTTP_SNAP_RESP_ERROR;
        return used;

    case ':':
        reply->type = NGX_HTTP_SNAP_RESP_INTEGER;
        return ngx_http_snap_resp_int(p + 1, line, &reply->integer) == 0
               ? used : -1;

    case '$':
        if (len - used < (size_t) v + 2) {
            return 0;
        }

        if (p[used + v] != '\r' || p[used + v + 1] != '\n') {
            return -1;
        }

        reply->type = NGX_HTTP_SNAP_RESP_BULK;
        reply->str = p + used;
        reply->len = (size_t) v;

        return used + (long) v + 2;

    case '*':
        if (depth == NGX_HTTP_SNAP_RESP_DEPTH) {
            return -1;
        }

        head = used;

        for (i = 0; i < v; i++) {
            n = ngx_http_snap_resp_value(p + used, len - used, &elem,
                                         depth + 1);
            if (n <= 0) {
                return n;
            }

            used += n;
        }

        reply->type = NGX_HTTP_SNAP_RESP_ARRAY;
        reply->integer = v;
        reply->str = p + head;
        reply->len = (size_t) (used - head);

        return used;

    default:
        return -1;
    }
}


/*
 * The first n elements of a whole array reply, each a reply of its own (a
 * nested array's elements are its own, as above): how many there were.
 */

size_t
ngx_http_snap_resp_elements(const ngx_http_snap_resp_reply_t *array,
    ngx_http_snap_resp_reply_t *elts, size_t n)
{
    long                  m;
    size_t                i, len;
    const unsigned char  *p;

    if (array->type != NGX_HTTP_SNAP_RESP_ARRAY) {
        return 0;
    }

    p = array->str;
    len = array->len;

    for (i = 0; i < n && (int64_t) i < array->integer; i++) {
        m = ngx_http_snap_resp_value(p, len, &elts[i], 1);

        /* a whole array's elements are whole: only a caller's bad array */
        if (m <= 0) {
            return i;
        }

        p += m;
        len -= (size_t) m;
    }

    return i;
}
