
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The directives' handlers, at configuration time.
 */


#include "ngx_http_snap_module.h"


static ngx_int_t ngx_http_snap_client_id(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf, ngx_str_t *id);
static ngx_int_t ngx_http_snap_client_param(ngx_conf_t *cf,
    ngx_http_snap_client_t *c, ngx_str_t *param);
static ngx_uint_t ngx_http_snap_list_next(u_char **p, u_char *last,
    ngx_str_t *item);
static ngx_int_t ngx_http_snap_client_compat(ngx_conf_t *cf,
    ngx_http_snap_client_t *c, ngx_str_t *param);
static ngx_int_t ngx_http_snap_client_allow(ngx_conf_t *cf,
    ngx_http_snap_client_t *c, ngx_str_t *param);
static char *ngx_http_snap_client_check(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf, ngx_http_snap_client_t *c);
static void ngx_http_snap_mark_server(ngx_conf_t *cf);


/*
 * snap_client ID public_key=FILE [secret_file=FILE] [partner_id=ID] ...:
 * the id, each parameter, then the client as a whole.
 */

char *
ngx_http_snap_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_str_t               *value;
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    value = cf->args->elts;

    if (ngx_http_snap_client_id(cf, smcf, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    c = ngx_array_push(&smcf->clients);
    if (c == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(c, sizeof(ngx_http_snap_client_t));

    c->id = value[1];

    if (ngx_array_init(&c->pkeys, cf->pool, 1, sizeof(EVP_PKEY_CTX *)) != NGX_OK
        || ngx_array_init(&c->secrets, cf->pool, 1,
                          sizeof(ngx_http_snap_key_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_http_snap_client_param(cf, c, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_snap_client_check(cf, smcf, c);
}


static ngx_int_t
ngx_http_snap_client_id(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf,
    ngx_str_t *id)
{
    u_char                  *p;
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    if (id->len == 0 || id->len > NGX_HTTP_SNAP_ID_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "client id \"%V\" must be 1 to %d characters",
                           id, NGX_HTTP_SNAP_ID_MAX);
        return NGX_ERROR;
    }

    for (p = id->data; p < id->data + id->len; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "client id \"%V\" may only hold printable "
                               "ASCII without quotes or backslashes", id);
            return NGX_ERROR;
        }
    }

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        if (c[i].id.len != id->len) {
            continue;
        }

        if (ngx_strncmp(c[i].id.data, id->data, id->len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate snap_client \"%V\"", id);
            return NGX_ERROR;
        }

        if (ngx_strncasecmp(c[i].id.data, id->data, id->len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "snap_client \"%V\" and \"%V\" differ only "
                               "in case, rename one of them", id, &c[i].id);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* public_key=FILE, secret_file=FILE (each repeatable), partner_id=ID */

static ngx_int_t
ngx_http_snap_client_param(ngx_conf_t *cf, ngx_http_snap_client_t *c,
    ngx_str_t *param)
{
    ngx_str_t              file;
    EVP_PKEY_CTX         **pkey;
    ngx_http_snap_key_t   *secret;

    if (ngx_strncmp(param->data, "public_key=", 11) == 0) {
        file.data = param->data + 11;
        file.len = param->len - 11;

        pkey = ngx_array_push(&c->pkeys);
        if (pkey == NULL) {
            return NGX_ERROR;
        }

        *pkey = ngx_http_snap_load_public_key(cf, &file);

        return *pkey ? NGX_OK : NGX_ERROR;
    }

    if (ngx_strncmp(param->data, "secret_file=", 12) == 0) {
        file.data = param->data + 12;
        file.len = param->len - 12;

        secret = ngx_array_push(&c->secrets);
        if (secret == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_snap_load_key(cf, &file, secret, 0, 512);
    }

    if (ngx_strncmp(param->data, "partner_id=", 11) == 0) {
        if (c->partner_id.data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"partner_id\" for client \"%V\"",
                               &c->id);
            return NGX_ERROR;
        }

        c->partner_id.data = param->data + 11;
        c->partner_id.len = param->len - 11;

        if (!ngx_http_snap_header_value_ok(c->partner_id.data,
                                           c->partner_id.len,
                                           NGX_HTTP_SNAP_ID_MAX))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid partner_id \"%V\"", &c->partner_id);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(param->data, "compat=", 7) == 0) {
        return ngx_http_snap_client_compat(cf, c, param);
    }

    if (ngx_strncmp(param->data, "allow=", 6) == 0) {
        return ngx_http_snap_client_allow(cf, c, param);
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\", expected public_key=, "
                       "secret_file=, partner_id=, compat= or allow=", param);
    return NGX_ERROR;
}


/* the next item of a comma-separated list at *p, until last */

static ngx_uint_t
ngx_http_snap_list_next(u_char **p, u_char *last, ngx_str_t *item)
{
    u_char  *comma;

    if (*p >= last) {
        return 0;
    }

    comma = ngx_strlchr(*p, last, ',');
    if (comma == NULL) {
        comma = last;
    }

    item->data = *p;
    item->len = comma - *p;

    *p = comma + 1;

    return 1;
}


/* compat=NAME[,NAME...]: the variants of SNAP this partner's sender uses */

static ngx_int_t
ngx_http_snap_client_compat(ngx_conf_t *cf, ngx_http_snap_client_t *c,
    ngx_str_t *param)
{
    u_char      *p, *last;
    ngx_str_t    name;
    ngx_uint_t   i;

    static struct {
        ngx_str_t    name;
        ngx_uint_t   bit;
    } variants[] = {
        { ngx_string("long_ids"), NGX_HTTP_SNAP_COMPAT_LONG_IDS },
        { ngx_string("empty_hash_field"),
          NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD },
        { ngx_string("sorted_query"), NGX_HTTP_SNAP_COMPAT_SORTED_QUERY },
        { ngx_string("path_without_query"),
          NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY },
        { ngx_string("rsa_empty_token"),
          NGX_HTTP_SNAP_COMPAT_RSA_EMPTY_TOKEN },
        { ngx_string("php_json"), NGX_HTTP_SNAP_COMPAT_PHP_JSON },
        { ngx_string("ascii_json"), NGX_HTTP_SNAP_COMPAT_ASCII_JSON },
        { ngx_string("hex_signature"), NGX_HTTP_SNAP_COMPAT_HEX_SIGNATURE },
        { ngx_null_string, 0 }
    };

    p = param->data + 7;
    last = param->data + param->len;

    while (ngx_http_snap_list_next(&p, last, &name)) {

        for (i = 0; variants[i].name.len; i++) {
            if (variants[i].name.len == name.len
                && ngx_strncmp(variants[i].name.data, name.data, name.len)
                   == 0)
            {
                break;
            }
        }

        if (variants[i].name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown compat variant \"%V\" for client "
                               "\"%V\", expected long_ids, "
                               "empty_hash_field, sorted_query, "
                               "path_without_query, rsa_empty_token, "
                               "php_json, ascii_json or hex_signature",
                               &name, &c->id);
            return NGX_ERROR;
        }

        c->compat |= variants[i].bit;
    }

    /* what the mismatch log line says was tried besides the strict form */
    c->compat_log = ngx_pnalloc(cf->pool, sizeof(" (also tried compat=)")
                                          + param->len);
    if (c->compat_log == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(c->compat_log, " (also tried %V)%Z", param);

    return NGX_OK;
}


/* allow=CIDR[,CIDR...]: the only addresses this partner calls from */

static ngx_int_t
ngx_http_snap_client_allow(ngx_conf_t *cf, ngx_http_snap_client_t *c,
    ngx_str_t *param)
{
    u_char      *p, *last;
    ngx_int_t    rc;
    ngx_str_t    addr;
    ngx_cidr_t  *cidr;

    if (c->allow == NULL) {
        c->allow = ngx_array_create(cf->pool, 2, sizeof(ngx_cidr_t));
        if (c->allow == NULL) {
            return NGX_ERROR;
        }
    }

    p = param->data + 6;
    last = param->data + param->len;

    while (ngx_http_snap_list_next(&p, last, &addr)) {

        cidr = ngx_array_push(c->allow);
        if (cidr == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_ptocidr(&addr, cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"allow=\" of "
                               "client \"%V\"", &addr, &c->id);
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &addr);
        }
    }

    return NGX_OK;
}


/* a key to verify with, a partner id that no other client has */

static char *
ngx_http_snap_client_check(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf,
    ngx_http_snap_client_t *c)
{
    ngx_uint_t               i;
    ngx_http_snap_client_t  *other;

    if (c->pkeys.nelts == 0 && c->secrets.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "snap_client \"%V\" needs public_key= or "
                           "secret_file=", &c->id);
        return NGX_CONF_ERROR;
    }

    if (c->partner_id.data == NULL) {
        c->partner_id = c->id;
    }

    /* the replay store keys a partner by this, never by position */
    c->hash = ngx_http_snap_hash(c->partner_id.data, c->partner_id.len);

    other = smcf->clients.elts;

    for (i = 0; i + 1 < smcf->clients.nelts; i++) {
        if (other[i].partner_id.len == c->partner_id.len
            && ngx_strncasecmp(other[i].partner_id.data, c->partner_id.data,
                               c->partner_id.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "partner_id \"%V\" is used by two snap_client "
                               "directives (ids differing only in case "
                               "count as one)", &c->partner_id);
            return NGX_CONF_ERROR;
        }

        if (other[i].hash == c->hash) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "partner_id \"%V\" collides with \"%V\" in "
                               "the replay store, rename one of them",
                               &c->partner_id, &other[i].partner_id);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_snap_token_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_str_t            *value;
    ngx_http_snap_key_t  *key;

    value = cf->args->elts;

    key = ngx_array_push(&smcf->token_keys);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_load_key(cf, &value[1], key, 32, 256) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_snap_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_snap_main_conf_t  *smcf;

    if (slcf->token != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (slcf->verify == 1) {
        return "cannot be mixed with \"snap_verify\" in one location";
    }

    slcf->token = 1;
    slcf->check.service = NGX_HTTP_SNAP_SERVICE_TOKEN;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);
    smcf->tokens_used = 1;

    if (smcf->grant[0] == NULL
        && ngx_http_snap_token_init_grant(cf, smcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_snap_mark_server(cf);

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_snap_token_handler;

    return NGX_CONF_OK;
}


/* snap_verify NAME|CODE [signature=hmac|rsa] */

char *
ngx_http_snap_verify(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                      *value;
    ngx_http_snap_main_conf_t      *smcf;
    const ngx_http_snap_service_t  *service;

    if (slcf->verify != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (slcf->token == 1) {
        return "cannot be mixed with \"snap_token\" in one location";
    }

    value = cf->args->elts;

    /* a name brings the service's body profile, a bare code only the code */
    if (value[1].len == 2 && isdigit(value[1].data[0])
        && isdigit(value[1].data[1]))
    {
        slcf->check.service = (value[1].data[0] - '0') * 10
                        + value[1].data[1] - '0';

    } else {
        service = ngx_http_snap_service(value[1].data, value[1].len);
        if (service == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown SNAP service \"%V\", use a service "
                               "name such as \"qr-mpm-notify\" or a 2-digit "
                               "code", &value[1]);
            return NGX_CONF_ERROR;
        }

        slcf->check.service = service->code;
        slcf->check.profile = service->profile;
    }

    slcf->verify = 1;
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
        smcf->tokens_used = 1;

        if (smcf->hmac_file.len == 0) {
            smcf->hmac_file = cf->conf_file->file.name;
            smcf->hmac_line = cf->conf_file->line;
        }

    } else {
        smcf->rsa_used = 1;
    }

    ngx_http_snap_mark_server(cf);

    return NGX_CONF_OK;
}


/*
 * Once the http block is read: every partner may call every snap_verify
 * location, so a partner without secret_file fails each request of an
 * HMAC location.  With no RSA location it could pass nowhere: refused.
 * Beside an RSA location it may be an RSA-only partner: a warning.
 */

ngx_int_t
ngx_http_snap_clients_check(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    if (smcf->hmac_file.len == 0) {
        return NGX_OK;
    }

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        if (c[i].secrets.nelts) {
            continue;
        }

        if (smcf->rsa_used) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "snap_client \"%V\" has no secret_file: the "
                          "HMAC \"snap_verify\" locations (%V:%ui) will "
                          "refuse all its requests", &c[i].id,
                          &smcf->hmac_file, smcf->hmac_line);
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "snap_client \"%V\" has no secret_file, and the HMAC "
                      "\"snap_verify\" in %V:%ui would refuse all its "
                      "requests: give it secret_file=", &c[i].id,
                      &smcf->hmac_file, smcf->hmac_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a server with snap locations answers its errors before one in JSON */

static void
ngx_http_snap_mark_server(ngx_conf_t *cf)
{
    ngx_http_snap_srv_conf_t  *sscf;

    sscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_snap_module);
    sscf->errors = 1;
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


/*
 * snap_error REASON CODE MESSAGE: the providers disagree on codes (seed
 * 001 answers a bad token-call signature with 4007302 "Invalid
 * Signature"), so each reason's answer can be set; "xx" in CODE stands for
 * the service code, a MESSAGE ending in "{field}" gets the field's name.
 */

char *
ngx_http_snap_error(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    u_char                    *c;
    ngx_int_t                  reason, status;
    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_snap_override_t  *ov;

    value = cf->args->elts;

    reason = ngx_http_snap_reason_by_name(&value[1]);
    if (reason == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown rejection reason \"%V\", see "
                           "$snap_reject_reason in README.md", &value[1]);
        return NGX_CONF_ERROR;
    }

    c = value[2].data;
    status = (value[2].len == 7) ? ngx_atoi(c, 3) : NGX_ERROR;

    if (status < 200 || status > 599
        || !((isdigit(c[3]) && isdigit(c[4])) || (c[3] == 'x' && c[4] == 'x'))
        || !isdigit(c[5]) || !isdigit(c[6]))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid SNAP code \"%V\", expected 7 digits "
                           "(HTTP status, service, case) such as "
                           "\"4007302\" or \"401xx00\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (value[3].len == 0 || value[3].len > 150) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the message must be 1 to 150 characters");
        return NGX_CONF_ERROR;
    }

    if (slcf->errors == NGX_CONF_UNSET_PTR) {
        slcf->errors = ngx_array_create(cf->pool, 4,
                                        sizeof(ngx_http_snap_override_t));
        if (slcf->errors == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ov = slcf->errors->elts;

    for (i = 0; i < slcf->errors->nelts; i++) {
        if (ov[i].reason == (ngx_uint_t) reason) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate snap_error for \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ov = ngx_array_push(slcf->errors);
    if (ov == NULL) {
        return NGX_CONF_ERROR;
    }

    ov->reason = reason;
    ov->status = status;
    ngx_memcpy(ov->code, c, 7);
    ov->message = value[3];
    ov->with_field = 0;

    if (ov->message.len > 7
        && ngx_strncmp(ov->message.data + ov->message.len - 7, "{field}", 7)
           == 0)
    {
        ov->message.len -= 7;
        ov->with_field = 1;
    }

    /* the JSON body takes the message as it is */
    for (i = 0; i < ov->message.len; i++) {
        if (ov->message.data[i] == '"' || ov->message.data[i] == '\\'
            || ov->message.data[i] < 0x20)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the message may not hold quotes, "
                               "backslashes or control characters");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * NAME:SIZE of a zone of the module's (snap_replay_zone,
 * snap_provider_zone), added to the cycle under the kind's tag; NULL when
 * refused.
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
