/*
 * The provider's answers: any bytes as an Access Token B2B answer either
 * refuse, or give a token a header can carry that the same answer
 * written again gives back; any bytes, whole or cut anywhere, as an
 * answer give a responseCode of 7 digits or none.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int                           n;
    size_t                        i;
    unsigned char                 code[7];
    static unsigned char          again[NGX_HTTP_SNAP_OUT_TOKEN_MAX + 128];
    static ngx_http_snap_token_reply_t  r, r2;

    if (ngx_http_snap_response_code(data, size, code)) {
        for (i = 0; i < 7; i++) {
            if (code[i] < '0' || code[i] > '9') {
                abort();
            }
        }
    }

    (void) ngx_http_snap_response_code(data, size / 2, code);

    if (ngx_http_snap_token_reply(data, size, &r) != NGX_HTTP_SNAP_LIB_OK) {
        return 0;
    }

    if (r.token_len == 0 || r.token_len > NGX_HTTP_SNAP_OUT_TOKEN_MAX
        || r.expires_in < 1 || !r.has_code || memcmp(r.code, "200", 3) != 0)
    {
        abort();
    }

    for (i = 0; i < r.token_len; i++) {
        if (r.token[i] < 0x21 || r.token[i] > 0x7e) {
            abort();
        }
    }

    /* a token holding '"' or '\' cannot be written back unescaped */
    if (memchr(r.token, '"', r.token_len) || memchr(r.token, '\\', r.token_len))
    {
        return 0;
    }

    n = snprintf((char *) again, sizeof(again),
                 "{\"responseCode\":\"%.7s\",\"accessToken\":\"%.*s\","
                 "\"expiresIn\":%lld}", (char *) r.code, (int) r.token_len,
                 (char *) r.token, (long long) r.expires_in);

    if (n < 0 || (size_t) n >= sizeof(again)
        || ngx_http_snap_token_reply(again, n, &r2) != NGX_HTTP_SNAP_LIB_OK
        || r2.token_len != r.token_len
        || memcmp(r2.token, r.token, r.token_len) != 0
        || r2.expires_in != r.expires_in)
    {
        abort();
    }

    return 0;
}
