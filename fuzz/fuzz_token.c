/*
 * Tokens: arbitrary bytes never verify (nor crash) without the key, the
 * claims parser survives anything, and a token made for any client id
 * verifies back to the same claims.
 */

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    size_t                  n, i, idlen;
    unsigned char           tok[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    unsigned char           scratch[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    unsigned char           id[NGX_HTTP_SNAP_TOKEN_MAX_CLIENT];
    unsigned char           jti[NGX_HTTP_SNAP_TOKEN_JTI_LEN];
    ngx_http_snap_key_t     key;
    ngx_http_snap_claims_t  c;

    memset(&key, 0, sizeof(key));
    key.data = (const unsigned char *) "fuzzing-key-0123456789abcdef-0123";
    key.len = 33;

    (void) ngx_http_snap_token_parse_claims(data, size, &c);

    if (ngx_http_snap_token_verify(data, size, &key, 1, scratch, &c) == 0) {
        /* only a real HMAC verifies: the fuzzer cannot forge one */
        n = ngx_http_snap_token_create(tok, &key, scratch, c.client_id,
                                       c.client_id_len, c.iat, c.exp);
        (void) n;
    }

    /* any printable client id round-trips */
    idlen = 0;

    for (i = 0; i < size && idlen < sizeof(id); i++) {
        if (data[i] > 0x20 && data[i] < 0x7f && data[i] != '"'
            && data[i] != '\\')
        {
            id[idlen++] = data[i];
        }
    }

    if (idlen == 0) {
        return 0;
    }

    memset(jti, 0, sizeof(jti));
    memcpy(jti, data, size < sizeof(jti) ? size : sizeof(jti));

    n = ngx_http_snap_token_create(tok, &key, jti, id, idlen, 1700000000,
                                   1700000900);
    if (n == 0 || n > sizeof(tok)) {
        abort();
    }

    if (ngx_http_snap_token_verify(tok, n, &key, 1, scratch, &c) != 0
        || c.client_id_len != idlen || memcmp(c.client_id, id, idlen) != 0
        || c.exp != 1700000900)
    {
        abort();
    }

    return 0;
}
