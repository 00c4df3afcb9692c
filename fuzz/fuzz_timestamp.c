/*
 * X-TIMESTAMP: never crashes; whatever parses as +07:00 without a fraction
 * formats back to the same bytes, and a formatted time parses back to
 * itself.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int64_t        t;
    unsigned char  buf[25];

    if (ngx_http_snap_parse_timestamp(data, size, &t) != 0) {
        return 0;
    }

    if (size == 25 && memcmp(data + 19, "+07:00", 6) == 0
        && data[0] != '0')
    {
        ngx_http_snap_format_wib(t, buf);

        if (memcmp(buf, data, 25) != 0) {
            abort();
        }
    }

    if (data[0] != '0') {
        int64_t  back;

        ngx_http_snap_format_wib(t, buf);

        if (ngx_http_snap_parse_timestamp(buf, 25, &back) != 0
            || back != t)
        {
            abort();
        }
    }

    return 0;
}
