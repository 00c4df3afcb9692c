
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The directives of a snap_verify location, at configuration time:
 * snap_verify, snap_require, snap_signed_path, and the schema a location's
 * body is checked against (its service's profile and snap_require).
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_directives.h"


/* snap_verify NAME|CODE [signature=hmac|rsa] */

char *
ngx_http_snap_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                  *value;
    ngx_http_snap_main_conf_t  *smcf;

    if (ngx_http_snap_conf_role(cf, cmd, slcf, NGX_HTTP_SNAP_ROLE_VERIFY)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_http_snap_conf_service(cf, &value[1], &slcf->check,
                                   "qr-mpm-notify")
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    slcf->check.signature = NGX_HTTP_SNAP_SIG_HMAC;

    if (cf->args->nelts == 3) {
        if (ngx_strcmp(value[2].data, "signature=hmac") == 0) {
            slcf->check.signature = NGX_HTTP_SNAP_SIG_HMAC;

        } else if (ngx_strcmp(value[2].data, "signature=rsa") == 0) {
            slcf->check.signature = NGX_HTTP_SNAP_SIG_RSA;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected "
                               "\"signature=hmac\" or \"signature=rsa\"",
                               &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    if (slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC) {
        if (smcf->hmac_file.len == 0) {
            smcf->hmac_file = cf->conf_file->file.name;
            smcf->hmac_line = cf->conf_file->line;
        }

    } else {
        smcf->rsa_used = 1;
    }

    ngx_http_snap_conf_server_errors(cf);

    return NGX_CONF_OK;
}


/*
 * snap_signed_path VALUE: the path the client signed.  The query string
 * is always the request line's, appended by the module, so that nothing
 * the upstream receives goes unsigned: a VALUE with a query of its own is
 * refused.
 */

char *
ngx_http_snap_signed_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char      *p, *last;
    ngx_str_t   *value, name;
    ngx_uint_t   i;

    static ngx_str_t  query[] = {
        ngx_string("request_uri"),
        ngx_string("args"),
        ngx_string("query_string"),
        ngx_string("is_args"),
        ngx_null_string
    };

    value = cf->args->elts;

    p = value[1].data;
    last = p + value[1].len;

    if (ngx_strlchr(p, last, '?')) {
        goto query;
    }

    for ( /* void */ ; p < last; p++) {
        if (*p != '$') {
            continue;
        }

        p++;

        if (p < last && *p == '{') {
            p++;
        }

        name.data = p;

        while (p < last && (isalnum(*p) || *p == '_')) {
            p++;
        }

        name.len = p - name.data;

        if (name.len > 4 && ngx_strncmp(name.data, "arg_", 4) == 0) {
            goto query;
        }

        for (i = 0; query[i].len; i++) {
            if (name.len == query[i].len
                && ngx_strncmp(name.data, query[i].data, name.len) == 0)
            {
                goto query;
            }
        }

        p--;
    }

    return ngx_http_set_complex_value_slot(cf, cmd, conf);

query:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"snap_signed_path\" takes a path without a query: "
                       "the request line's query string is always appended "
                       "to it, use \"/prefix$uri\" rather than "
                       "\"$request_uri\" or \"$args\"");
    return NGX_CONF_ERROR;
}


/* snap_require FIELD ...: mandatory body fields, "a.b" or "items[].id" */

char *
ngx_http_snap_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_http_snap_field_t  *f;

    value = cf->args->elts;

    if (slcf->require == NGX_CONF_UNSET_PTR) {
        slcf->require = ngx_array_create(cf->pool, cf->args->nelts,
                                         sizeof(ngx_http_snap_field_t));
        if (slcf->require == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (!ngx_http_snap_field_path_ok((char *) value[i].data)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field path \"%V\", expected names "
                               "joined by \".\", \"[]\" after an array, "
                               "as in \"amount.value\" or \"items[].id\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        f = ngx_array_push(slcf->require);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(f, sizeof(ngx_http_snap_field_t));

        f->path = (char *) value[i].data;
        f->type = NGX_HTTP_SNAP_JSON_ANY;
        f->required = 1;
    }

    return NGX_CONF_OK;
}


/*
 * The profile's fields, then snap_require's, as one schema: a body is
 * checked against both in a single pass.
 */

ngx_int_t
ngx_http_snap_build_schema(ngx_conf_t *cf, ngx_http_snap_loc_conf_t *slcf)
{
    size_t                        n;
    ngx_uint_t                    i;
    ngx_http_snap_field_t        *fields;
    const ngx_http_snap_field_t  *f;

    n = 0;

    for (f = slcf->check.profile; f && f->path; f++) {
        n++;
    }

    if (slcf->require) {
        n += slcf->require->nelts;
    }

    fields = ngx_palloc(cf->pool, n * sizeof(ngx_http_snap_field_t));
    if (fields == NULL) {
        return NGX_ERROR;
    }

    i = 0;

    for (f = slcf->check.profile; f && f->path; f++) {
        fields[i++] = *f;
    }

    if (slcf->require) {
        ngx_memcpy(&fields[i], slcf->require->elts,
                   slcf->require->nelts * sizeof(ngx_http_snap_field_t));
    }

    slcf->schema = ngx_http_snap_schema_create(cf, fields, n);

    return slcf->schema ? NGX_OK : NGX_ERROR;
}


