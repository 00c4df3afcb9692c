/*
 * Differential: the one-pass checker (ngx_http_snap_json_check) against
 * the cJSON tree walk it replaced (ref_fields.c), on every profile, a
 * fuzzer-chosen snap_require path, and both together.  Where both take
 * the body as JSON they must agree on the result and on the path named.
 * The checker is stricter (invalid UTF-8, a BOM, raw tabs in strings,
 * "+1", "01" and "1." are not JSON), never looser, except for numbers of
 * 64 characters and more, which cJSON cannot read.  A "\u0000" in a body
 * is skipped: cJSON's C strings end there, the checker's do not.
 * Input: the path, a newline, the body.
 */

#define _GNU_SOURCE

#include <stdlib.h>
#include <string.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"
#include "ref_fields.h"


static int
long_number(const unsigned char *p, size_t len)
{
    size_t  i, run;

    run = 0;

    for (i = 0; i < len; i++) {
        run = strchr("0123456789+-.eE", p[i]) && p[i] ? run + 1 : 0;

        if (run >= 60) {
            return 1;
        }
    }

    return 0;
}


static void
compare(const unsigned char *body, size_t len,
    const ngx_http_snap_field_t *fields, size_t n)
{
    int                      rc, ref;
    char                     err[NGX_HTTP_SNAP_FIELD_MAX * 2];
    char                     ref_err[NGX_HTTP_SNAP_FIELD_MAX * 2];
    void                    *mem;
    ngx_http_snap_schema_t  *schema;

    mem = malloc(ngx_http_snap_schema_size(fields, n));
    schema = ngx_http_snap_schema_init(mem, fields, n);

    if (schema == NULL) {
        free(mem);
        return;
    }

    rc = ngx_http_snap_json_check(body, len, schema, err, sizeof(err), NULL,
                                  NULL);
    ref = ref_fields_check(body, len, fields, n, ref_err, sizeof(ref_err));

    if (rc != NGX_HTTP_SNAP_FIELD_OK && rc != NGX_HTTP_SNAP_FIELD_JSON
        && err[0] == '\0')
    {
        abort();
    }

    if (rc != NGX_HTTP_SNAP_FIELD_JSON) {
        if (ref == NGX_HTTP_SNAP_FIELD_JSON) {
            if (!long_number(body, len)) {
                abort();
            }

        } else if (rc != ref
                   || (rc != NGX_HTTP_SNAP_FIELD_OK
                       && strcmp(err, ref_err) != 0))
        {
            abort();
        }
    }

    free(mem);
}


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char                          path[NGX_HTTP_SNAP_FIELD_MAX + 1];
    size_t                        plen, n, len;
    unsigned                      svc;
    const unsigned char          *nl, *body;
    ngx_http_snap_field_t         fields[64];
    const ngx_http_snap_field_t  *profile;

    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }

    plen = nl - data;

    if (plen > NGX_HTTP_SNAP_FIELD_MAX) {
        return 0;
    }

    memcpy(path, data, plen);
    path[plen] = '\0';

    body = nl + 1;
    len = size - plen - 1;

    if (memmem(body, len, "\\u0000", 6) != NULL) {
        return 0;
    }

    compare(body, len, NULL, 0);

    if (memchr(path, '\0', plen) == NULL && ngx_http_snap_field_path_ok(path))
    {
        memset(fields, 0, sizeof(ngx_http_snap_field_t));
        fields[0].path = path;
        fields[0].required = 1;

        compare(body, len, fields, 1);

    } else {
        path[0] = '\0';
    }

    for (svc = 0; svc < 100; svc++) {
        profile = ngx_http_snap_test_profile(svc);
        if (profile == NULL) {
            continue;
        }

        for (n = 0; profile[n].path; n++) {
            fields[n] = profile[n];
        }

        compare(body, len, fields, n);

        if (path[0]) {
            memset(&fields[n], 0, sizeof(ngx_http_snap_field_t));
            fields[n].path = path;
            fields[n].required = 1;

            compare(body, len, fields, n + 1);
        }
    }

    return 0;
}
