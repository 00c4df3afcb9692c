/*
 * The compat= canonicalisers: any bytes as a query canonicalise within
 * the predicted length, and canonicalising again changes nothing; any
 * bytes as a body hash escaped when, and only when, they are JSON; any
 * bytes as X-TIMESTAMP: the looser forms only add, never change, what
 * the strict form reads; any bytes as a path signed without a hash field
 * fit the predicted length and leave the field and its colon out.
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

    if (ngx_http_snap_body_hash_raw(data, size, hex) != 0) {
        abort();
    }

    {
        int64_t   t, t2;
        unsigned  forms;

        for (forms = 1; forms <= 3; forms++) {
            if (ngx_http_snap_parse_timestamp(data, size, &t) == 0
                && (ngx_http_snap_parse_timestamp_as(data, size, forms, &t2)
                    != 0 || t2 != t))
            {
                abort();
            }

            /* a looser form read: it is one of those the flags allow */
            if (ngx_http_snap_parse_timestamp(data, size, &t) != 0
                && ngx_http_snap_parse_timestamp_as(data, size, forms, &t2)
                   == 0
                && !((forms & NGX_HTTP_SNAP_TS_WIB) && size >= 19
                     && data[size - 1] >= '0' && data[size - 1] <= '9')
                && !((forms & NGX_HTTP_SNAP_TS_BASIC_OFFSET) && size >= 24
                     && (data[size - 5] == '+' || data[size - 5] == '-')))
            {
                abort();
            }
        }
    }

    {
        size_t          max, n;
        unsigned char  *sts;

        max = ngx_http_snap_string_to_sign_len(3, size, 5, 1, 4);
        sts = malloc(max);

        n = ngx_http_snap_string_to_sign(sts, (const unsigned char *) "GET",
                                         3, data, size,
                                         (const unsigned char *) "token", 5,
                                         1, ngx_http_snap_no_hash_field,
                                         (const unsigned char *) "ts00", 4);

        if (n != 3 + 1 + size + 1 + 5 + 1 + 4 || n > max
            || memcmp(sts + n - 11, ":token:ts00", 11) != 0)
        {
            abort();
        }

        free(sts);
    }

    return 0;
}
