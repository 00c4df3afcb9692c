
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The field path syntax, the value formats and header values; the
 * services' profiles (ngx_http_snap_services.c) are written with them and
 * ngx_http_snap_json.c checks a body against them.  No nginx runtime
 * here, so the unit tests and the fuzzers use it as it is.
 */


#include <string.h>

#include "ngx_http_snap_fields.h"
#include "ngx_http_snap_time.h"


/*
 * A field path is names joined by '.', a name followed by "[]" stands for
 * every element of that array: "a.b", "items[].id".
 */

int
ngx_http_snap_field_path_ok(const char *path)
{
    const char  *p;

    if (*path == '\0' || strlen(path) > NGX_HTTP_SNAP_FIELD_MAX) {
        return 0;
    }

    for (p = path; *p; p++) {
        if (*p == '.') {
            if (p == path || p[-1] == '.' || p[1] == '\0') {
                return 0;
            }

        } else if (*p == '[') {
            if (p[1] != ']' || p == path || p[-1] == '.'
                || (p[2] != '\0' && p[2] != '.'))
            {
                return 0;
            }

            p++;

        } else if (*p == ']' || *p == '"' || *p == '\\'
                   || (unsigned char) *p <= 0x20
                   || (unsigned char) *p >= 0x7f)
        {
            return 0;
        }
    }

    return 1;
}


/* a profile's value formats, on a string's decoded bytes */

int
ngx_http_snap_format_ok(const unsigned char *s, size_t len, unsigned format)
{
    int64_t  t;
    size_t   i, n;

    switch (format) {

    case NGX_HTTP_SNAP_FMT_AMOUNT:
        /* ^[0-9]{1,16}\.[0-9]{2}$ */
        for (n = 0; n < len && s[n] >= '0' && s[n] <= '9'; n++) {
            /* void */
        }

        if (n < 1 || n > 16 || len != n + 3 || s[n] != '.') {
            return 0;
        }

        return s[n + 1] >= '0' && s[n + 1] <= '9'
               && s[n + 2] >= '0' && s[n + 2] <= '9';

    case NGX_HTTP_SNAP_FMT_CURRENCY:
        if (len != 3) {
            return 0;
        }

        for (i = 0; i < 3; i++) {
            if (s[i] < 'A' || s[i] > 'Z') {
                return 0;
            }
        }

        return 1;

    case NGX_HTTP_SNAP_FMT_STATUS:
        return len == 2 && s[0] == '0' && s[1] >= '0' && s[1] <= '9';

    case NGX_HTTP_SNAP_FMT_TIMESTAMP:
        return ngx_http_snap_parse_timestamp(s, len, &t) == 0;

    case NGX_HTTP_SNAP_FMT_GRANT:
        return len == sizeof("client_credentials") - 1
               && memcmp(s, "client_credentials", len) == 0;

    default:
        return 1;
    }
}


/* printable ASCII, 1 to max bytes */

int
ngx_http_snap_header_value_ok(const unsigned char *p, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/* v in decimal at p, no terminator; returns how many digits */

size_t
ngx_http_snap_put_uint(unsigned char *p, uint64_t v)
{
    size_t         n, i;
    unsigned char  tmp[20];

    n = 0;

    do {
        tmp[n++] = (unsigned char) ('0' + v % 10);
        v /= 10;
    } while (v);

    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }

    return n;
}
