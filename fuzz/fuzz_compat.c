/*
 * The compat= canonicalisers: any bytes as a query canonicalise within
 * the predicted length, and canonicalising again changes nothing; any
 * bytes as a body hash escaped when, and only when, they are JSON.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int             rc, json;
    size_t          len, len2;
    unsigned char  *out, *out2, *scratch, hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];

    out = malloc(ngx_http_snap_query_sorted_len(size) + 1);
    scratch = malloc(size + 1);

    rc = ngx_http_snap_query_sorted(out, &len, data, size, scratch);

    if (rc == NGX_HTTP_SNAP_LIB_OK) {
        if (len > ngx_http_snap_query_sorted_len(size)) {
            abort();
        }

        out2 = malloc(ngx_http_snap_query_sorted_len(len) + 1);
        free(scratch);
        scratch = malloc(len + 1);

        if (ngx_http_snap_query_sorted(out2, &len2, out, len, scratch)
            != NGX_HTTP_SNAP_LIB_OK
            || len2 != len || memcmp(out, out2, len) != 0)
        {
            abort();
        }

        free(out2);

    } else if (rc != NGX_HTTP_SNAP_LIB_INVALID) {
        abort();
    }

    free(out);
    free(scratch);

    json = ngx_http_snap_json_check(data, size, NULL, NULL, 0, NULL, NULL)
           == NGX_HTTP_SNAP_FIELD_OK;

    rc = ngx_http_snap_body_hash_escaped(data, size,
                                         (size & 1)
                                         ? NGX_HTTP_SNAP_ESCAPE_UNICODE
                                         : NGX_HTTP_SNAP_ESCAPE_UNICODE
                                           | NGX_HTTP_SNAP_ESCAPE_SLASH,
                                         hex);

    if ((rc == NGX_HTTP_SNAP_LIB_OK) != json) {
        abort();
    }

    return 0;
}
