/*
 * The RESP2 reply parser: any bytes parse to a reply no longer than the
 * input, or ask for more, or are refused; every strict prefix of a whole
 * reply asks for more; a command encodes to one array of bulk strings of
 * exactly the predicted length.  What finding the primary reads of a
 * whole reply (an array's elements, ROLE, a Sentinel's answer, an error's
 * kind, INFO's cluster_enabled) stays inside it.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


static int
inside(const unsigned char *data, size_t size, const unsigned char *p,
    size_t len)
{
    return len == 0 || (p >= data && p + len <= data + size);
}


static void
primary(const unsigned char *data, size_t size,
    const ngx_http_snap_resp_reply_t *reply)
{
    int                         rc, kind;
    size_t                      i, k, host_len;
    unsigned                    port;
    const unsigned char        *host;
    ngx_http_snap_resp_reply_t  elts[8];

    k = ngx_http_snap_resp_elements(reply, elts, 8);

    if (k > 8 || (reply->type == NGX_HTTP_SNAP_RESP_ARRAY
                  && k != (reply->integer < 8 ? (size_t) reply->integer : 8))
        || (reply->type != NGX_HTTP_SNAP_RESP_ARRAY && k != 0))
    {
        abort();
    }

    for (i = 0; i < k; i++) {
        if (!inside(data, size, elts[i].str, elts[i].len)) {
            abort();
        }
    }

    if (ngx_http_snap_redis_master_ok(reply) > 1) {
        abort();
    }

    rc = ngx_http_snap_redis_sentinel_master(reply, &host, &host_len, &port);

    if (rc == NGX_HTTP_SNAP_LIB_OK
        && (host_len > NGX_HTTP_SNAP_REDIS_HOST_MAX || port > 65535
            || (host_len && (port == 0 || !inside(data, size, host,
                                                  host_len)))))
    {
        abort();
    }

    if (reply->type == NGX_HTTP_SNAP_RESP_ERROR) {
        kind = ngx_http_snap_redis_error(reply->str, reply->len);

        if (kind < NGX_HTTP_SNAP_REDIS_ERR_OTHER
            || kind > NGX_HTTP_SNAP_REDIS_ERR_NOREPLICAS)
        {
            abort();
        }
    }

    if (reply->type == NGX_HTTP_SNAP_RESP_BULK
        && ngx_http_snap_redis_cluster_ok(reply->str, reply->len) > 1)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    long                        n, m;
    size_t                      i, k, len;
    unsigned char              *out;
    ngx_http_snap_resp_arg_t    args[4];
    ngx_http_snap_resp_reply_t  reply;

    n = ngx_http_snap_resp_parse(data, size, &reply);

    if (n > (long) size || n < -1) {
        abort();
    }

    if (n > 0) {
        primary(data, (size_t) n, &reply);

        for (i = 0; i < (size_t) n; i++) {
            m = ngx_http_snap_resp_parse(data, i, &reply);
            if (m != 0) {
                abort();
            }
        }
    }

    /* the input cut in up to four arguments, encoded and read back */
    k = size % 4 + 1;

    for (i = 0; i < k; i++) {
        args[i].data = data + size * i / k;
        args[i].len = size * (i + 1) / k - size * i / k;
    }

    len = ngx_http_snap_resp_command_len(args, k);
    out = malloc(len);

    if (ngx_http_snap_resp_command(out, args, k) != len
        || ngx_http_snap_resp_parse(out, len, &reply) != (long) len
        || reply.type != NGX_HTTP_SNAP_RESP_ARRAY
        || reply.integer != (int64_t) k)
    {
        abort();
    }

    free(out);

    return 0;
}
