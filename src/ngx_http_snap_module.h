
/*
 * Copyright (C) ngx_http_snap_module authors
 */


#ifndef _NGX_HTTP_SNAP_MODULE_H_INCLUDED_
#define _NGX_HTTP_SNAP_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_replay.h"
#include "ngx_http_snap_redis.h"
#include "ngx_http_snap_provider.h"
#include "ngx_http_snap_metrics.h"


#define NGX_HTTP_SNAP_SIG_HMAC      1
#define NGX_HTTP_SNAP_SIG_RSA       2

#define NGX_HTTP_SNAP_EXTERNAL_ID_MAX  36
/* with compat=long_ids */
#define NGX_HTTP_SNAP_LONG_ID_MAX      64


/* snap_client ... compat=NAME,...: each bit one partner's variant */
#define NGX_HTTP_SNAP_COMPAT_LONG_IDS           0x0001
#define NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD   0x0002
#define NGX_HTTP_SNAP_COMPAT_SORTED_QUERY       0x0004
#define NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY 0x0008
#define NGX_HTTP_SNAP_COMPAT_RSA_EMPTY_TOKEN    0x0010
#define NGX_HTTP_SNAP_COMPAT_PHP_JSON           0x0020
#define NGX_HTTP_SNAP_COMPAT_ASCII_JSON         0x0040
#define NGX_HTTP_SNAP_COMPAT_HEX_SIGNATURE      0x0080

/*
 * The variants that give one part of the string to sign (or X-SIGNATURE)
 * one more form to try: the verification's arrays of forms are sized from
 * these, so a new variant added here can never overflow them.
 */
#define NGX_HTTP_SNAP_COMPAT_URLS                                            \
    (NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY|NGX_HTTP_SNAP_COMPAT_SORTED_QUERY)
#define NGX_HTTP_SNAP_COMPAT_HASHES                                          \
    (NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD|NGX_HTTP_SNAP_COMPAT_PHP_JSON       \
     |NGX_HTTP_SNAP_COMPAT_ASCII_JSON)
#define NGX_HTTP_SNAP_COMPAT_SIGNATURES  NGX_HTTP_SNAP_COMPAT_HEX_SIGNATURE

/* the bits set in a 16-bit constant, as a constant */
#define ngx_http_snap_bits(m)                                                \
    (((m) & 1) + ((m) >> 1 & 1) + ((m) >> 2 & 1) + ((m) >> 3 & 1)             \
     + ((m) >> 4 & 1) + ((m) >> 5 & 1) + ((m) >> 6 & 1) + ((m) >> 7 & 1)      \
     + ((m) >> 8 & 1) + ((m) >> 9 & 1) + ((m) >> 10 & 1) + ((m) >> 11 & 1)    \
     + ((m) >> 12 & 1) + ((m) >> 13 & 1) + ((m) >> 14 & 1) + ((m) >> 15 & 1))


/* every reason nginx can refuse a request for; see ngx_http_snap_error.c */
typedef enum {
    NGX_HTTP_SNAP_MISSING_FIELD = 0,
    NGX_HTTP_SNAP_BAD_FORMAT,
    NGX_HTTP_SNAP_DUPLICATE_HEADER,
    NGX_HTTP_SNAP_BAD_JSON,
    NGX_HTTP_SNAP_TIMESTAMP,
    NGX_HTTP_SNAP_UNKNOWN_CLIENT,
    NGX_HTTP_SNAP_SIGNATURE,
    NGX_HTTP_SNAP_TOKEN_NOT_FOUND,
    NGX_HTTP_SNAP_TOKEN_INVALID,
    NGX_HTTP_SNAP_TOKEN_EXPIRED,
    NGX_HTTP_SNAP_TOKEN_PARTNER,
    NGX_HTTP_SNAP_METHOD,
    NGX_HTTP_SNAP_REPLAY,
    NGX_HTTP_SNAP_RATE_LIMITED,
    NGX_HTTP_SNAP_ZONE_FULL,
    NGX_HTTP_SNAP_INTERNAL,
    NGX_HTTP_SNAP_UPSTREAM,
    NGX_HTTP_SNAP_TIMEOUT,
    NGX_HTTP_SNAP_TOO_LARGE,
    NGX_HTTP_SNAP_BAD_REQUEST,
    NGX_HTTP_SNAP_FORBIDDEN,
    NGX_HTTP_SNAP_REPLAY_STORE,
    NGX_HTTP_SNAP_REASONS
} ngx_http_snap_reason_e;


/*
 * A check answers NGX_OK when it passed, NGX_DECLINED with the reason it
 * refused for, or NGX_ERROR when it could not decide (answered 500xx00).
 */
static ngx_inline ngx_int_t
ngx_http_snap_refuse(ngx_uint_t *reason, ngx_uint_t why)
{
    *reason = why;
    return NGX_DECLINED;
}


/* snap_error REASON CODE MESSAGE */
typedef struct {
    ngx_uint_t                  reason;
    ngx_uint_t                  status;
    u_char                      code[7];
    ngx_str_t                   message;
    ngx_uint_t                  with_field;
} ngx_http_snap_override_t;


typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   partner_id;
    uint64_t                    hash;         /* of partner_id */
    ngx_array_t                 pkeys;        /* EVP_PKEY_CTX *, verifiers */
    ngx_array_t                 secrets;      /* ngx_http_snap_key_t */
    ngx_uint_t                  compat;       /* NGX_HTTP_SNAP_COMPAT_* */
    u_char                     *compat_log;   /* for the mismatch line */
    ngx_array_t                *allow;        /* ngx_cidr_t, NULL: any */
} ngx_http_snap_client_t;


#define NGX_HTTP_SNAP_TOKEN_CACHE   16


/* a token this worker has verified already, until it expires */
typedef struct {
    u_char                      token[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    size_t                      len;
    time_t                      exp;
    ngx_http_snap_client_t     *client;
} ngx_http_snap_token_cache_t;


/* the longest client id or partner id */
#define NGX_HTTP_SNAP_ID_MAX  64


typedef struct {
    ngx_array_t                 clients;      /* ngx_http_snap_client_t */
    ngx_hash_t                  by_id;
    ngx_hash_t                  by_partner;
    ngx_array_t                 token_keys;   /* ngx_http_snap_key_t */
    ngx_uint_t                  tokens_used;
    ngx_http_snap_token_cache_t  *token_cache;
    ngx_http_snap_schema_t     *grant[2];     /* grantType, grant_type */
    ngx_array_t                 redis;        /* ngx_http_snap_redis_conf_t */
    ngx_array_t                 providers;    /* ngx_http_snap_provider_t * */
    ngx_array_t                 provider_refs;
    ngx_shm_zone_t             *provider_zone;
    ngx_array_t                 replay_zones; /* ngx_shm_zone_t * */
    ngx_array_t                 services;     /* codes of snap_verify */
    ngx_http_snap_metrics_t    *metrics;
    ngx_str_t                   metrics_file; /* the first snap_metrics */
    ngx_uint_t                  metrics_line;
    ngx_str_t                   hmac_file;    /* the first HMAC snap_verify */
    ngx_uint_t                  hmac_line;
    ngx_flag_t                  rsa_used;     /* a signature=rsa location */
} ngx_http_snap_main_conf_t;


/* what a location checks: set by snap_verify (or snap_token), as one */
typedef struct {
    ngx_uint_t                    service;
    ngx_uint_t                    signature;
    const ngx_http_snap_field_t  *profile;
} ngx_http_snap_check_t;


typedef struct {
    ngx_flag_t                  verify;
    ngx_flag_t                  token;
    ngx_flag_t                  enforce;
    ngx_http_snap_check_t       check;
    ngx_uint_t                  metrics_service;

    time_t                      token_ttl;
    time_t                      clock_skew;
    ngx_uint_t                  log_level;
    ngx_http_complex_value_t   *signed_path;

    ngx_http_snap_replay_conf_t  *replay;

    ngx_http_snap_sign_conf_t  *sign;
    ngx_http_snap_provider_t   *provider_token;

    ngx_array_t                *require;      /* ngx_http_snap_field_t */
    ngx_http_snap_schema_t     *schema;       /* profile + require */
    ngx_array_t                *errors;       /* ngx_http_snap_override_t */
} ngx_http_snap_loc_conf_t;


typedef struct {
    /* the server holds snap locations: its errors before one is chosen */
    ngx_flag_t                  errors;
} ngx_http_snap_srv_conf_t;


/*
 * Where a request stands with the module.  Only PASSED lets it on to the
 * content phase; every other state found again after an internal redirect
 * answers it, so a request is never parked and never passed unverified.
 */
typedef enum {
    NGX_HTTP_SNAP_UNVERIFIED = 0,
    NGX_HTTP_SNAP_READING_BODY,
    NGX_HTTP_SNAP_WAITING_STORE,
    NGX_HTTP_SNAP_REJECTED,
    NGX_HTTP_SNAP_PASSED
} ngx_http_snap_state_e;


typedef struct {
    ngx_http_snap_state_e       state;

    /* the snap_verify location the request entered: its checks apply */
    ngx_http_snap_loc_conf_t   *conf;
    /* the store the id was recorded in, for release */
    ngx_http_snap_replay_conf_t  *replay;
    ngx_http_snap_replay_key_t  key;

    ngx_http_snap_client_t     *client;
    ngx_uint_t                  service;

    ngx_table_elt_t            *timestamp;
    ngx_table_elt_t            *signature;
    ngx_table_elt_t            *partner_id;
    ngx_table_elt_t            *external_id;
    ngx_table_elt_t            *channel_id;
    ngx_table_elt_t            *authorization;
    ngx_table_elt_t            *client_key;

    ngx_str_t                   token;
    int64_t                     ts;

    ngx_http_snap_out_t        *out;          /* snap_sign's request */

    ngx_uint_t                  reason;
    ngx_uint_t                  outcome;      /* NGX_HTTP_SNAP_OUTCOME_* */
    ngx_uint_t                  nginx_error;  /* its reason + 1 */
    u_char                      response_code[7];
    ngx_str_t                   json;

    unsigned                    rejected:1;
    unsigned                    replace_body:1;
    unsigned                    json_sent:1;
    unsigned                    released:1;
    unsigned                    token_call:1;
    unsigned                    reported:1;   /* snap_enforce off */
} ngx_http_snap_ctx_t;


/* a mandatory header and where the context keeps it */
typedef struct {
    ngx_str_t                   name;
    size_t                      offset;
} ngx_http_snap_header_t;


extern ngx_module_t  ngx_http_snap_module;


NGX_HTTP_SNAP_API char *ngx_http_snap_client(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_token_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_verify(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_require(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_signed_path(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API char *ngx_http_snap_error(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API ngx_shm_zone_t *ngx_http_snap_zone_add(ngx_conf_t *cf,
    ngx_str_t *value, ngx_str_t *name, void *tag);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_zone_log(ngx_shm_zone_t *shm_zone,
    ngx_slab_pool_t *shpool, const char *directive);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_build_schema(ngx_conf_t *cf,
    ngx_http_snap_loc_conf_t *slcf);

NGX_HTTP_SNAP_API ngx_http_snap_ctx_t *ngx_http_snap_get_ctx(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_http_snap_ctx_t *ngx_http_snap_create_ctx(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_collect_headers(
    ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx,
    const ngx_http_snap_header_t *required, ngx_uint_t *reason,
    ngx_str_t *field);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_check_timestamp(
    ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx, time_t skew,
    ngx_uint_t *reason);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_read_body(ngx_http_request_t *r,
    ngx_str_t *body);

NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_send_error(ngx_http_request_t *r,
    ngx_uint_t service, ngx_uint_t reason, ngx_str_t *field);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_note_error(ngx_http_request_t *r,
    ngx_uint_t service, ngx_uint_t reason, ngx_str_t *field,
    ngx_str_t *body, ngx_uint_t *status);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_send_again(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_send_json(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
NGX_HTTP_SNAP_API ngx_str_t *ngx_http_snap_reason_name(ngx_uint_t reason);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_reason_by_name(ngx_str_t *name);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_init_filters(ngx_conf_t *cf);

NGX_HTTP_SNAP_API EVP_PKEY_CTX *ngx_http_snap_load_public_key(ngx_conf_t *cf,
    ngx_str_t *file);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_load_secret(ngx_conf_t *cf,
    ngx_str_t *file, ngx_str_t *secret, size_t min);
NGX_HTTP_SNAP_API EVP_PKEY_CTX *ngx_http_snap_load_private_key(
    ngx_conf_t *cf, ngx_str_t *file, size_t *sig_size);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_load_key(ngx_conf_t *cf,
    ngx_str_t *file, ngx_http_snap_key_t *key, size_t min, int bits);

NGX_HTTP_SNAP_API ngx_http_snap_client_t *ngx_http_snap_find_client(
    ngx_http_snap_main_conf_t *smcf, ngx_str_t *id, ngx_uint_t by_partner);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_client_allowed(
    ngx_http_request_t *r, ngx_http_snap_client_t *client,
    ngx_uint_t *reason);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_clients_check(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_client_hashes(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_token_handler(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_http_snap_schema_t *ngx_http_snap_schema_create(
    ngx_conf_t *cf, const ngx_http_snap_field_t *fields, size_t n);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_token_init_grant(ngx_conf_t *cf,
    ngx_http_snap_main_conf_t *smcf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_token_validate(
    ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_snap_client_t **client, ngx_uint_t *reason);

NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_enter_handler(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_verify_handler(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_rsa_verify_any(
    ngx_http_request_t *r, ngx_http_snap_client_t *client, ngx_str_t *msg,
    u_char *sig, size_t sig_len);
NGX_HTTP_SNAP_API ngx_http_snap_loc_conf_t *ngx_http_snap_conf(
    ngx_http_request_t *r);
NGX_HTTP_SNAP_API ngx_uint_t ngx_http_snap_status_reason(ngx_uint_t status);

NGX_HTTP_SNAP_API char *ngx_http_snap_replay(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API void ngx_http_snap_replay_key(ngx_http_snap_ctx_t *ctx);
NGX_HTTP_SNAP_API char *ngx_http_snap_replay_redis(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
NGX_HTTP_SNAP_API void ngx_http_snap_replay_redis_resolve(
    ngx_http_snap_main_conf_t *smcf, ngx_http_snap_replay_conf_t *rpc);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_replay_zones_map(
    ngx_cycle_t *cycle, ngx_http_snap_main_conf_t *smcf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_replay_redis_init(
    ngx_cycle_t *cycle, ngx_http_snap_main_conf_t *smcf);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_replay_record(
    ngx_http_request_t *r, ngx_http_snap_ctx_t *ctx, ngx_uint_t *reason);
NGX_HTTP_SNAP_API void ngx_http_snap_replay_release(ngx_http_request_t *r,
    ngx_http_snap_ctx_t *ctx);
NGX_HTTP_SNAP_API ngx_int_t ngx_http_snap_replay_init_filter(
    ngx_conf_t *cf);
NGX_HTTP_SNAP_API void ngx_http_snap_verify_resume(ngx_http_request_t *r,
    ngx_int_t rc, ngx_uint_t reason);


#endif /* _NGX_HTTP_SNAP_MODULE_H_INCLUDED_ */
