/*
 * The RESP2 reply parser: any bytes parse to a reply no longer than the
 * input, or ask for more, or are refused; every strict prefix of a whole
 * reply asks for more; a command encodes to one array of bulk strings of
 * exactly the predicted length.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


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
