/*
 * Strict base64: whatever decodes re-encodes to the very same bytes (one
 * spelling per value), in both alphabets.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int             url;
    size_t          n, m;
    unsigned char  *dec, *enc;

    dec = malloc(size / 4 * 3 + 3);
    enc = malloc(size + 4);

    for (url = 0; url <= 1; url++) {
        if (ngx_http_snap_base64_decode(dec, &n, data, size, url) != 0) {
            continue;
        }

        m = ngx_http_snap_base64_encode(enc, dec, n, url);

        if (m != size || memcmp(enc, data, size) != 0) {
            abort();
        }
    }

    free(dec);
    free(enc);

    return 0;
}
