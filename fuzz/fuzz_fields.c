/*
 * Field checks: every profile and a fuzzer-chosen snap_require path run on
 * any JSON cJSON accepts; a failure always names a path.
 * Input: the path, a newline, the body.
 */

#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ngx_http_snap_lib.h"


int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int                     rc;
    char                    path[NGX_HTTP_SNAP_FIELD_MAX + 1];
    char                    err[NGX_HTTP_SNAP_FIELD_MAX * 2];
    size_t                  plen;
    cJSON                  *json;
    unsigned                svc;
    const unsigned char    *nl;
    ngx_http_snap_field_t   req[2];
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

    json = cJSON_ParseWithLength((const char *) nl + 1, size - plen - 1);
    if (json == NULL) {
        return 0;
    }

    for (svc = 0; svc < 100; svc++) {
        profile = ngx_http_snap_profile(svc);
        if (profile == NULL) {
            continue;
        }

        rc = ngx_http_snap_check_fields(json, profile, err, sizeof(err));
        if (rc != NGX_HTTP_SNAP_FIELD_OK && err[0] == '\0') {
            abort();
        }
    }

    if (memchr(path, '\0', plen) == NULL && ngx_http_snap_field_path_ok(path))
    {
        memset(req, 0, sizeof(req));
        req[0].path = path;
        req[0].required = 1;

        rc = ngx_http_snap_check_fields(json, req, err, sizeof(err));
        if (rc != NGX_HTTP_SNAP_FIELD_OK && err[0] == '\0') {
            abort();
        }
    }

    cJSON_Delete(json);

    return 0;
}
