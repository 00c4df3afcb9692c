
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Configuration helpers that several rooms read their directives with.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"


static void ngx_http_snap_conf_expected(ngx_conf_t *cf, ngx_str_t *arg,
    const ngx_http_snap_param_t *params);


/*
 * The directive's arguments from first on, each a NAME=VALUE or a flag of
 * the table, at most once unless it may repeat; an argument that is
 * neither goes to positional, when the directive takes one.
 */

ngx_int_t
ngx_http_snap_conf_params(ngx_conf_t *cf, ngx_uint_t first,
    const ngx_http_snap_param_t *params, ngx_http_snap_param_pt positional,
    void *data)
{
    u_char                       *eq;
    uint64_t                      seen;
    ngx_int_t                     rc;
    ngx_str_t                    *value, name, v;
    ngx_uint_t                    i, k;
    const ngx_http_snap_param_t  *p;

    value = cf->args->elts;
    seen = 0;

    for (i = first; i < cf->args->nelts; i++) {

        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        name.data = value[i].data;
        name.len = eq ? (size_t) (eq - value[i].data) : value[i].len;

        for (p = params, k = 0; p->name.len; p++, k++) {
            if (p->name.len == name.len
                && ngx_strncmp(p->name.data, name.data, name.len) == 0
                && (p->flag ? eq == NULL : eq != NULL))
            {
                break;
            }
        }

        if (p->name.len == 0) {
            if (eq == NULL && positional) {
                rc = positional(cf, data, &value[i], NULL);

                if (rc == NGX_OK) {
                    continue;
                }

                if (rc == NGX_ERROR) {
                    return NGX_ERROR;
                }
            }

            ngx_http_snap_conf_expected(cf, &value[i], params);
            return NGX_ERROR;
        }

        if (!p->repeat && k < 64 && (seen & ((uint64_t) 1 << k))) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\"", &name);
            return NGX_ERROR;
        }

        seen |= (k < 64) ? ((uint64_t) 1 << k) : 0;

        if (p->flag) {
            v = name;

        } else {
            v.data = eq + 1;
            v.len = value[i].data + value[i].len - v.data;

            if (v.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty \"%V=\"", &name);
                return NGX_ERROR;
            }
        }

        rc = p->set(cf, data, &v, p);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_param_str(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    *(ngx_str_t *) ((u_char *) data + param->offset) = *value;

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_param_flag_on(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    *(ngx_flag_t *) ((u_char *) data + param->offset) = 1;

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_param_on_off(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_flag_t  *fp;

    fp = (ngx_flag_t *) ((u_char *) data + param->offset);

    if (value->len == 2 && ngx_strncmp(value->data, "on", 2) == 0) {
        *fp = 1;
        return NGX_OK;
    }

    if (value->len == 3 && ngx_strncmp(value->data, "off", 3) == 0) {
        *fp = 0;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_snap_param_msec(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_int_t  n;

    n = ngx_parse_time(value, 0);
    if (n == NGX_ERROR || n == 0) {
        return NGX_DECLINED;
    }

    *(ngx_msec_t *) ((u_char *) data + param->offset) = (ngx_msec_t) n;

    return NGX_OK;
}


ngx_int_t
ngx_http_snap_param_num(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data, value->len);
    if (n == NGX_ERROR) {
        return NGX_DECLINED;
    }

    *(ngx_uint_t *) ((u_char *) data + param->offset) = (ngx_uint_t) n;

    return NGX_OK;
}


/* "invalid parameter "x", expected a=, b or c=" from the table */

static void
ngx_http_snap_conf_expected(ngx_conf_t *cf, ngx_str_t *arg,
    const ngx_http_snap_param_t *params)
{
    u_char                       *p, *last;
    ngx_uint_t                    n, i;
    const ngx_http_snap_param_t  *q;
    u_char                        buf[512];

    p = buf;
    last = buf + sizeof(buf);

    for (n = 0; params[n].name.len; n++) { /* void */ }

    for (q = params, i = 0; q->name.len; q++, i++) {
        if (i) {
            p = ngx_slprintf(p, last, (i + 1 == n) ? " or " : ", ");
        }

        p = ngx_slprintf(p, last, "%V%s", &q->name, q->flag ? "" : "=");
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected %*s", arg,
                       p - buf, buf);
}


/*
 * A SNAP service: a name brings its service code and its body profile, a
 * bare 2-digit code only the code.
 */

ngx_int_t
ngx_http_snap_conf_service(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_snap_check_t *check, const char *example)
{
    const ngx_http_snap_service_t  *service;

    if (value->len == 2 && isdigit(value->data[0])
        && isdigit(value->data[1]))
    {
        check->service = (value->data[0] - '0') * 10 + value->data[1] - '0';
        return NGX_OK;
    }

    service = ngx_http_snap_service(value->data, value->len);
    if (service == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown SNAP service \"%V\", use a service name "
                           "such as \"%s\" or a 2-digit code", value,
                           example);
        return NGX_ERROR;
    }

    check->service = service->code;
    check->profile = service->profile;

    return NGX_OK;
}


/*
 * The location's one role, set by its directive: a second role, or the
 * same directive twice, is refused where it is written.
 */

ngx_int_t
ngx_http_snap_conf_role(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_http_snap_loc_conf_t *slcf, ngx_uint_t role)
{
    if (slcf->role == role) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" directive is duplicate", &cmd->name);
        return NGX_ERROR;
    }

    if (slcf->role != NGX_HTTP_SNAP_ROLE_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with \"%V\" in one "
                           "location", &cmd->name, &slcf->role_name);
        return NGX_ERROR;
    }

    slcf->role = role;
    slcf->role_name = cmd->name;
    slcf->role_file = cf->conf_file->file.name;
    slcf->role_line = cf->conf_file->line;

    return NGX_OK;
}


/* a server with snap locations answers its errors before one in JSON */

void
ngx_http_snap_conf_server_errors(ngx_conf_t *cf)
{
    ngx_http_snap_srv_conf_t  *sscf;

    sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_snap_module);
    sscf->errors = 1;
}


/*
 * NAME:SIZE of a zone of the module's (snap_replay_zone,
 * snap_provider_zone, snap_metrics_zone), added to the cycle under the
 * kind's tag; NULL when refused.
 */

ngx_shm_zone_t *
ngx_http_snap_zone_add(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    void *tag)
{
    u_char          *p;
    ssize_t          size;
    ngx_str_t        s;
    ngx_shm_zone_t  *shm_zone;

    p = (u_char *) ngx_strchr(value->data, ':');

    if (p == NULL || p == value->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE", value);
        return NULL;
    }

    name->data = value->data;
    name->len = p - value->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", value);
        return NULL;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small, the minimum is %uzk",
                           value, 8 * ngx_pagesize / 1024);
        return NULL;
    }

    /* a tag a kind: nginx refuses one name for two kinds of zone */
    shm_zone = ngx_shared_memory_add(cf, name, size, tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", name);
        return NULL;
    }

    return shm_zone;
}


/*
 * A new zone's slab pool names the zone in its "no memory" lines, and
 * keeps quiet: the module reports a full zone itself, once per burst.
 */

ngx_int_t
ngx_http_snap_zone_log(ngx_shm_zone_t *shm_zone, ngx_slab_pool_t *shpool,
    const char *directive)
{
    size_t  len;

    len = sizeof(" in  \"\"") + ngx_strlen(directive)
          + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in %s \"%V\"%Z", directive,
                &shm_zone->shm.name);

    shpool->log_nomem = 0;

    return NGX_OK;
}


/* a schema laid out in the configuration's pool */

ngx_http_snap_schema_t *
ngx_http_snap_schema_create(ngx_conf_t *cf,
    const ngx_http_snap_field_t *fields, size_t n)
{
    void                    *mem;
    ngx_http_snap_schema_t  *schema;

    mem = ngx_palloc(cf->pool, ngx_http_snap_schema_size(fields, n));
    if (mem == NULL) {
        return NULL;
    }

    schema = ngx_http_snap_schema_init(mem, fields, n);

    if (schema == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many body fields to check in one location: "
                           "their paths go through more than %d names",
                           NGX_HTTP_SNAP_SCHEMA_NODES - 1);
    }

    return schema;
}
