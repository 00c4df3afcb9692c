/*
 * Header values and the string to sign: any bytes as method, path, token
 * and timestamp build a string of exactly the predicted length.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t          q, len, n;
    unsigned char  *out, hex[64];

    (void) ngx_http_snap_header_value_ok(data, size, 36);

    q = size / 4;

    memset(hex, 'a', sizeof(hex));

    len = ngx_http_snap_string_to_sign_len(q, q, q, size & 1, size - 3 * q);
    out = malloc(len);

    n = ngx_http_snap_string_to_sign(out, data, q, data + q, q, data + 2 * q,
                                     q, size & 1, hex, data + 3 * q,
                                     size - 3 * q);
    if (n != len) {
        abort();
    }

    free(out);

    return 0;
}
