
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The partners: snap_client (the id, each parameter, then the client as
 * a whole) and snap_token_key at configuration time; once the http block
 * is read, the checks of the partners as a whole and the hashes they are
 * found by; at run time, the lookup and allow=.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_conf.h"
#include "ngx_http_snap_keys.h"
#include "ngx_http_snap_client.h"
#include "ngx_http_snap_rate.h"
#include "ngx_http_snap_request.h"


static ngx_int_t ngx_http_snap_client_id(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf, ngx_str_t *id);
static ngx_int_t ngx_http_snap_client_public_key(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_client_secret(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_client_partner_id(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_uint_t ngx_http_snap_list_next(u_char **p, u_char *last,
    ngx_str_t *item);
static ngx_int_t ngx_http_snap_client_compat(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_client_allow(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_client_signature(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static ngx_int_t ngx_http_snap_client_rate(ngx_conf_t *cf, void *data,
    ngx_str_t *value, const ngx_http_snap_param_t *param);
static char *ngx_http_snap_client_check(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf, ngx_http_snap_client_t *c);
static ngx_int_t ngx_http_snap_clients_shared(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
static ngx_int_t ngx_http_snap_clients_check(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
static ngx_int_t ngx_http_snap_client_hashes(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);


static ngx_http_snap_param_t  ngx_http_snap_client_params[] = {
    ngx_http_snap_param_repeat("public_key", ngx_http_snap_client_public_key),
    ngx_http_snap_param_repeat("secret_file", ngx_http_snap_client_secret),
    ngx_http_snap_param("partner_id", ngx_http_snap_client_partner_id, 0),
    ngx_http_snap_param("compat", ngx_http_snap_client_compat, 0),
    ngx_http_snap_param_repeat("allow", ngx_http_snap_client_allow),
    ngx_http_snap_param("signature", ngx_http_snap_client_signature, 0),
    ngx_http_snap_param("rate", ngx_http_snap_client_rate, 0),
    ngx_http_snap_param_end
};


/*
 * snap_client ID public_key=FILE [secret_file=FILE] [partner_id=ID] ...:
 * the id, each parameter, then the client as a whole.
 */

char *
ngx_http_snap_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_main_conf_t *smcf = conf;

    ngx_str_t               *value;
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
    c->index = smcf->clients.nelts - 1;
    c->file = cf->conf_file->file.name;
    c->line = cf->conf_file->line;

    if (ngx_array_init(&c->pkeys, cf->pool, 1, sizeof(EVP_PKEY_CTX *)) != NGX_OK
        || ngx_array_init(&c->secrets, cf->pool, 1,
                          sizeof(ngx_http_snap_key_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_snap_conf_params(cf, 2, ngx_http_snap_client_params, NULL,
                                  c)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
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


/* public_key=FILE and secret_file=FILE, each repeatable; partner_id=ID */

static ngx_int_t
ngx_http_snap_client_public_key(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

    EVP_PKEY_CTX  **pkey;

    pkey = ngx_array_push(&c->pkeys);
    if (pkey == NULL) {
        return NGX_ERROR;
    }

    *pkey = ngx_http_snap_load_public_key(cf, value);

    return *pkey ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_snap_client_secret(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

    ngx_http_snap_key_t  *secret;

    secret = ngx_array_push(&c->secrets);
    if (secret == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_snap_load_key(cf, value, secret, 0, 512);
}


static ngx_int_t
ngx_http_snap_client_partner_id(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

    if (!ngx_http_snap_header_value_ok(value->data, value->len,
                                       NGX_HTTP_SNAP_ID_MAX))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid partner_id \"%V\"", value);
        return NGX_ERROR;
    }

    c->partner_id = *value;

    return NGX_OK;
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
ngx_http_snap_client_compat(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

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
        { ngx_string("raw_body"), NGX_HTTP_SNAP_COMPAT_RAW_BODY },
        { ngx_string("no_hash_field"), NGX_HTTP_SNAP_COMPAT_NO_HASH_FIELD },
        { ngx_string("timestamp_basic_offset"),
          NGX_HTTP_SNAP_COMPAT_TS_BASIC_OFFSET },
        { ngx_string("timestamp_wib"), NGX_HTTP_SNAP_COMPAT_TS_WIB },
        { ngx_null_string, 0 }
    };

    p = value->data;
    last = value->data + value->len;

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
                               "php_json, ascii_json, hex_signature, "
                               "raw_body, no_hash_field, "
                               "timestamp_basic_offset or timestamp_wib",
                               &name, &c->id);
            return NGX_ERROR;
        }

        c->compat |= variants[i].bit;
    }

    /* what the mismatch log line says was tried besides the strict form */
    c->compat_log = ngx_pnalloc(cf->pool, sizeof(" (also tried compat=)")
                                          + value->len);
    if (c->compat_log == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(c->compat_log, " (also tried compat=%V)%Z", value);

    return NGX_OK;
}


/* signature=rsa: a partner that signs with its RSA key only */

static ngx_int_t
ngx_http_snap_client_signature(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

    if (value->len != 3 || ngx_strncmp(value->data, "rsa", 3) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"signature=%V\" for client \"%V\", "
                           "expected \"signature=rsa\" (a partner with "
                           "secret_file= signs either way)", value, &c->id);
        return NGX_ERROR;
    }

    c->signature = NGX_HTTP_SNAP_SIG_RSA;

    return NGX_OK;
}


/*
 * rate=Nr/s or Nr/m: verified requests a second or a minute, with a
 * burst of one second's worth (at least one request) at once
 */

static ngx_int_t
ngx_http_snap_client_rate(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

    size_t     len;
    ngx_int_t  n, scale;

    len = value->len;
    scale = 0;

    if (len > 3 && ngx_strncmp(value->data + len - 3, "r/s", 3) == 0) {
        scale = 1;

    } else if (len > 3 && ngx_strncmp(value->data + len - 3, "r/m", 3) == 0) {
        scale = 60;
    }

    n = scale ? ngx_atoi(value->data, len - 3) : NGX_ERROR;

    if (n <= 0 || n > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"rate=%V\" for client \"%V\", "
                           "expected requests a second or a minute, "
                           "from 1 to 1000000, as in \"rate=10r/s\" or "
                           "\"rate=300r/m\"", value, &c->id);
        return NGX_ERROR;
    }

    /* as limit_req counts: the excess beyond the request being served */
    c->rate = n * 1000 / scale;
    c->burst = c->rate > 1000 ? c->rate - 1000 : 0;

    return NGX_OK;
}


/* allow=CIDR[,CIDR...]: the only addresses this partner calls from */

static ngx_int_t
ngx_http_snap_client_allow(ngx_conf_t *cf, void *data, ngx_str_t *value,
    const ngx_http_snap_param_t *param)
{
    ngx_http_snap_client_t *c = data;

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

    p = value->data;
    last = value->data + value->len;

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

    if (c->signature == NGX_HTTP_SNAP_SIG_RSA) {
        if (c->pkeys.nelts == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "snap_client \"%V\" with \"signature=rsa\" "
                               "needs public_key=", &c->id);
            return NGX_CONF_ERROR;
        }

        if (c->secrets.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "snap_client \"%V\" with \"signature=rsa\" "
                               "takes no secret_file=: it is refused in "
                               "HMAC locations", &c->id);
            return NGX_CONF_ERROR;
        }
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


/*
 * snap_clients ID [ID...]: the partners a location accepts.  Its ids are
 * matched once every snap_client is read, since snap_client may come
 * later in the http block.
 */

char *
ngx_http_snap_clients(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_snap_loc_conf_t *slcf = conf;

    ngx_str_t                *value, *id;
    ngx_uint_t                i;
    ngx_http_snap_clients_t  *list;

    if (slcf->clients != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    list = ngx_pcalloc(cf->pool, sizeof(ngx_http_snap_clients_t));
    if (list == NULL
        || ngx_array_init(&list->ids, cf->pool, cf->args->nelts - 1,
                          sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        id = ngx_array_push(&list->ids);
        if (id == NULL) {
            return NGX_CONF_ERROR;
        }

        *id = value[i];
    }

    list->file = cf->conf_file->file.name;
    list->line = cf->conf_file->line;

    slcf->clients = list;

    return NGX_CONF_OK;
}


/* a bit for each partner snap_clients names; each id must be declared */

ngx_int_t
ngx_http_snap_clients_resolve(ngx_conf_t *cf, ngx_http_snap_clients_t *list)
{
    ngx_str_t                  *id;
    ngx_uint_t                  i, k;
    ngx_http_snap_client_t     *c;
    ngx_http_snap_main_conf_t  *smcf;

    if (list == NULL || list == NGX_CONF_UNSET_PTR || list->allowed) {
        return NGX_OK;
    }

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_snap_module);

    list->allowed = ngx_pcalloc(cf->pool, smcf->clients.nelts / 8 + 1);
    if (list->allowed == NULL) {
        return NGX_ERROR;
    }

    id = list->ids.elts;
    c = smcf->clients.elts;

    for (i = 0; i < list->ids.nelts; i++) {

        for (k = 0; k < smcf->clients.nelts; k++) {
            if (c[k].id.len == id[i].len
                && ngx_strncmp(c[k].id.data, id[i].data, id[i].len) == 0)
            {
                break;
            }
        }

        if (k == smcf->clients.nelts) {
            for (k = 0; k < smcf->clients.nelts; k++) {
                if (c[k].id.len == id[i].len
                    && ngx_strncasecmp(c[k].id.data, id[i].data, id[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (k < smcf->clients.nelts) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"snap_clients\" names \"%V\", which no "
                              "snap_client declares (\"%V\" differs in "
                              "case) in %V:%ui", &id[i], &c[k].id,
                              &list->file, list->line);

            } else {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"snap_clients\" names \"%V\", which no "
                              "snap_client declares in %V:%ui", &id[i],
                              &list->file, list->line);
            }

            return NGX_ERROR;
        }

        list->allowed[k / 8] |= (u_char) (1 << (k % 8));
    }

    return NGX_OK;
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


/*
 * Once the http block is read: every partner may call every snap_verify
 * location, so a partner without secret_file fails each request of an
 * HMAC location.  With no RSA location it could pass nowhere: refused.
 * Beside an RSA location it may be an RSA-only partner: a warning.
 */

static ngx_int_t
ngx_http_snap_clients_check(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t               i;
    ngx_http_snap_client_t  *c;

    if (ngx_http_snap_clients_shared(cf, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (smcf->hmac_file.len == 0) {
        return NGX_OK;
    }

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        if (c[i].secrets.nelts || c[i].signature == NGX_HTTP_SNAP_SIG_RSA) {
            continue;
        }

        if (smcf->rsa_used) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "snap_client \"%V\" has no secret_file: the "
                          "HMAC \"snap_verify\" locations (%V:%ui) will "
                          "refuse all its requests; \"signature=rsa\" "
                          "says it is meant to", &c[i].id,
                          &smcf->hmac_file, smcf->hmac_line);
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "snap_client \"%V\" has no secret_file, and the HMAC "
                      "\"snap_verify\" in %V:%ui would refuse all its "
                      "requests: give it secret_file=, or "
                      "\"signature=rsa\" with an RSA location for it",
                      &c[i].id, &smcf->hmac_file, smcf->hmac_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Two partners with one public key or one secret: X-PARTNER-ID is not in
 * the RSA string to sign, nor X-CLIENT-KEY's owner in a token call's, so
 * either could send the other's captured request as its own, with an
 * X-EXTERNAL-ID the replay store has not seen for it.
 */

static ngx_int_t
ngx_http_snap_clients_shared(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    int                      eq;
    EVP_PKEY                *ka, *kb;
    ngx_uint_t               i, j, m, n;
    EVP_PKEY_CTX           **pa, **pb;
    ngx_http_snap_key_t     *sa, *sb;
    ngx_http_snap_client_t  *c;

    c = smcf->clients.elts;

    for (i = 0; i < smcf->clients.nelts; i++) {
        for (j = i + 1; j < smcf->clients.nelts; j++) {

            pa = c[i].pkeys.elts;
            pb = c[j].pkeys.elts;

            for (m = 0; m < c[i].pkeys.nelts; m++) {
                for (n = 0; n < c[j].pkeys.nelts; n++) {
                    ka = EVP_PKEY_CTX_get0_pkey(pa[m]);
                    kb = EVP_PKEY_CTX_get0_pkey(pb[n]);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
                    eq = EVP_PKEY_eq(ka, kb);
#else
                    eq = EVP_PKEY_cmp(ka, kb);
#endif
                    if (eq == 1) {
                        goto shared;
                    }
                }
            }

            sa = c[i].secrets.elts;
            sb = c[j].secrets.elts;

            for (m = 0; m < c[i].secrets.nelts; m++) {
                for (n = 0; n < c[j].secrets.nelts; n++) {
                    if (sa[m].len == sb[n].len
                        && ngx_memcmp(sa[m].data, sb[n].data, sa[m].len) == 0)
                    {
                        goto shared;
                    }
                }
            }

            continue;

        shared:

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "snap_client \"%V\" (%V:%ui) and \"%V\" "
                          "(%V:%ui) share a public key or a secret: either "
                          "could send the other's requests as its own; "
                          "give each partner its own keys",
                          &c[i].id, &c[i].file, c[i].line,
                          &c[j].id, &c[j].file, c[j].line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* once the http block is read: the partners as a whole, then their hashes */

ngx_int_t
ngx_http_snap_clients_init(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    if (ngx_http_snap_clients_check(cf, smcf) != NGX_OK
        || ngx_http_snap_rate_init_conf(cf, smcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_snap_client_hashes(cf, smcf);
}


/*
 * A client by its id (the token call, a token's clientId) or by its
 * partner id (X-PARTNER-ID), through the hashes built at configuration
 * time.  nginx's hashes compare lower-cased names; ids are compared
 * exactly once found (configuration refuses ids that differ only in case).
 */

ngx_http_snap_client_t *
ngx_http_snap_find_client(ngx_http_snap_main_conf_t *smcf, ngx_str_t *id,
    ngx_uint_t by_partner)
{
    u_char                   name[NGX_HTTP_SNAP_ID_MAX];
    ngx_str_t               *key;
    ngx_uint_t               hash;
    ngx_http_snap_client_t  *c;

    if (id->len == 0 || id->len > NGX_HTTP_SNAP_ID_MAX
        || smcf->clients.nelts == 0)
    {
        return NULL;
    }

    hash = ngx_hash_strlow(name, id->data, id->len);

    c = ngx_hash_find(by_partner ? &smcf->by_partner : &smcf->by_id, hash,
                      name, id->len);
    if (c == NULL) {
        return NULL;
    }

    key = by_partner ? &c->partner_id : &c->id;

    if (key->len != id->len || ngx_memcmp(key->data, id->data, id->len) != 0)
    {
        return NULL;
    }

    return c;
}


/*
 * X-TIMESTAMP within the skew, in the strict form; when that form is not
 * what arrived, in the looser ones the partner the request names
 * (X-PARTNER-ID, or X-CLIENT-KEY on the token call) has in its compat=,
 * for it alone.
 */

ngx_int_t
ngx_http_snap_client_timestamp(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx, time_t skew, ngx_uint_t *reason)
{
    ngx_int_t                rc;
    unsigned                 forms;
    ngx_http_snap_client_t  *c;

    rc = ngx_http_snap_check_timestamp(r, ctx, skew, 0, reason);

    c = ctx->claimed;

    if (rc != NGX_DECLINED || *reason != NGX_HTTP_SNAP_BAD_FORMAT
        || c == NULL)
    {
        return rc;
    }

    forms = ((c->compat & NGX_HTTP_SNAP_COMPAT_TS_BASIC_OFFSET)
             ? NGX_HTTP_SNAP_TS_BASIC_OFFSET : 0)
            | ((c->compat & NGX_HTTP_SNAP_COMPAT_TS_WIB)
               ? NGX_HTTP_SNAP_TS_WIB : 0);

    if (forms == 0) {
        return rc;
    }

    return ngx_http_snap_check_timestamp(r, ctx, skew, forms, reason);
}


/* the configured partner a header names (its claim), or NULL */

ngx_http_snap_client_t *
ngx_http_snap_client_claimed(ngx_http_request_t *r, ngx_table_elt_t *h,
    ngx_uint_t by_partner)
{
    ngx_http_snap_main_conf_t  *smcf;

    if (h == NULL) {
        return NULL;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_snap_module);

    return ngx_http_snap_find_client(smcf, &h->value, by_partner);
}


/*
 * An RSA signature against every public key of the client, for rotation;
 * the token call uses it too.  NGX_OK when one verifies, NGX_DECLINED
 * when none does, NGX_ERROR when OpenSSL could not tell.
 */

ngx_int_t
ngx_http_snap_client_rsa_verify(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_str_t *msg, u_char *sig,
    size_t sig_len, ngx_uint_t *key)
{
    int             rc;
    EVP_PKEY_CTX  **pkey;
    ngx_uint_t      i;

    pkey = client->pkeys.elts;

    for (i = 0; i < client->pkeys.nelts; i++) {
        rc = ngx_http_snap_rsa_verify(pkey[i], msg->data, msg->len, sig,
                                      sig_len);
        if (rc == NGX_HTTP_SNAP_LIB_OK) {
            *key = i + 1;
            return NGX_OK;
        }

        if (rc == NGX_HTTP_SNAP_LIB_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "snap: SHA-256 for the RSA signature failed in "
                          "OpenSSL");
            return NGX_ERROR;
        }
    }

    return NGX_DECLINED;
}


/*
 * allow=: a known partner calling from an address it did not publish is
 * refused before its body is read; after the realip module, the address
 * is the one it set.
 */

ngx_int_t
ngx_http_snap_client_allowed(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_uint_t *reason)
{
    ngx_http_snap_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_snap_module);

    if (slcf->clients
        && !(slcf->clients->allowed[client->index / 8]
             & (1 << (client->index % 8))))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "snap: client \"%V\" is not among this location's "
                      "\"snap_clients\" (%V:%ui)", &client->id,
                      &slcf->clients->file, slcf->clients->line);

        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_CLIENT_NOT_ALLOWED);
    }

    if (client->signature == NGX_HTTP_SNAP_SIG_RSA
        && slcf->role == NGX_HTTP_SNAP_ROLE_VERIFY
        && slcf->check.signature == NGX_HTTP_SNAP_SIG_HMAC)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "snap: client \"%V\" signs with RSA only "
                      "(\"signature=rsa\"), and this location verifies "
                      "HMAC signatures", &client->id);

        return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_CLIENT_NOT_ALLOWED);
    }

    if (client->allow == NULL
        || ngx_cidr_match(r->connection->sockaddr, client->allow) == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "snap: client \"%V\" calls from an address its "
                  "\"allow=\" does not list", &client->id);

    return ngx_http_snap_refuse(reason, NGX_HTTP_SNAP_FORBIDDEN);
}


/* the two hashes find_client reads, once every snap_client is known */

static ngx_int_t
ngx_http_snap_client_hashes(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    ngx_uint_t               i, k;
    ngx_hash_init_t          hash;
    ngx_hash_key_t          *keys;
    ngx_http_snap_client_t  *c;

    if (smcf->clients.nelts == 0) {
        return NGX_OK;
    }

    keys = ngx_palloc(cf->temp_pool,
                      smcf->clients.nelts * sizeof(ngx_hash_key_t));
    if (keys == NULL) {
        return NGX_ERROR;
    }

    c = smcf->clients.elts;

    for (k = 0; k < 2; k++) {

        for (i = 0; i < smcf->clients.nelts; i++) {
            keys[i].key = k ? c[i].partner_id : c[i].id;
            keys[i].key_hash = ngx_hash_key_lc(keys[i].key.data,
                                               keys[i].key.len);
            keys[i].value = &c[i];
        }

        /*
         * a bucket holds four entries of the longest id (each its value
         * pointer, length and name, aligned) and the pointer that ends it,
         * so that no number of long ids fails to hash: there is no
         * directive to raise it, whatever nginx's message would say
         */
        hash.hash = k ? &smcf->by_partner : &smcf->by_id;
        hash.key = ngx_hash_key_lc;
        hash.max_size = ngx_max(1024, 8 * smcf->clients.nelts);
        hash.bucket_size = ngx_align(4 * (sizeof(void *)
                                          + ngx_align(NGX_HTTP_SNAP_ID_MAX
                                                      + 2, sizeof(void *)))
                                     + sizeof(void *),
                                     ngx_cacheline_size);
        hash.name = k ? "snap_client_partner_hash" : "snap_client_hash";
        hash.pool = cf->pool;
        hash.temp_pool = NULL;

        if (ngx_hash_init(&hash, keys, smcf->clients.nelts) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}
