
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
static char *ngx_http_snap_client_check(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf, ngx_http_snap_client_t *c);
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
                               "php_json, ascii_json or hex_signature",
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


/* once the http block is read: the partners as a whole, then their hashes */

ngx_int_t
ngx_http_snap_clients_init(ngx_conf_t *cf, ngx_http_snap_main_conf_t *smcf)
{
    if (ngx_http_snap_clients_check(cf, smcf) != NGX_OK) {
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
 * An RSA signature against every public key of the client, for rotation;
 * the token call uses it too.  NGX_OK when one verifies, NGX_DECLINED
 * when none does, NGX_ERROR when OpenSSL could not tell.
 */

ngx_int_t
ngx_http_snap_client_rsa_verify(ngx_http_request_t *r,
    ngx_http_snap_client_t *client, ngx_str_t *msg, u_char *sig,
    size_t sig_len)
{
    int             rc;
    EVP_PKEY_CTX  **pkey;
    ngx_uint_t      i;

    pkey = client->pkeys.elts;

    for (i = 0; i < client->pkeys.nelts; i++) {
        rc = ngx_http_snap_rsa_verify(pkey[i], msg->data, msg->len, sig,
                                      sig_len);
        if (rc == NGX_HTTP_SNAP_LIB_OK) {
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
