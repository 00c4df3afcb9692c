
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The types every room shares: the configuration at each level, a
 * partner, a request's context and its verdict.  Each room declares what
 * it exports in a header of its own.
 */


#ifndef _NGX_HTTP_SNAP_H_INCLUDED_
#define _NGX_HTTP_SNAP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/evp.h>

#include "ngx_http_snap_lib.h"


#define NGX_HTTP_SNAP_SIG_HMAC      1
#define NGX_HTTP_SNAP_SIG_RSA       2

#define NGX_HTTP_SNAP_EXTERNAL_ID_MAX  36
/* with compat=long_ids */
#define NGX_HTTP_SNAP_LONG_ID_MAX      64

/* the longest client id or partner id */
#define NGX_HTTP_SNAP_ID_MAX  64


/* snap_client ... compat=NAME,...: each bit one partner's variant */
#define NGX_HTTP_SNAP_COMPAT_LONG_IDS           0x0001
#define NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD   0x0002
#define NGX_HTTP_SNAP_COMPAT_SORTED_QUERY       0x0004
#define NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY 0x0008
#define NGX_HTTP_SNAP_COMPAT_RSA_EMPTY_TOKEN    0x0010
#define NGX_HTTP_SNAP_COMPAT_PHP_JSON           0x0020
#define NGX_HTTP_SNAP_COMPAT_ASCII_JSON         0x0040
#define NGX_HTTP_SNAP_COMPAT_HEX_SIGNATURE      0x0080
#define NGX_HTTP_SNAP_COMPAT_RAW_BODY           0x0100
#define NGX_HTTP_SNAP_COMPAT_NO_HASH_FIELD      0x0200
#define NGX_HTTP_SNAP_COMPAT_TS_BASIC_OFFSET    0x0400
#define NGX_HTTP_SNAP_COMPAT_TS_WIB             0x0800

/*
 * The variants that give one part of the string to sign (or X-SIGNATURE)
 * one more form to try: the verification's arrays of forms are sized from
 * these, so a new variant added here can never overflow them.
 */
#define NGX_HTTP_SNAP_COMPAT_URLS                                            \
    (NGX_HTTP_SNAP_COMPAT_PATH_WITHOUT_QUERY|NGX_HTTP_SNAP_COMPAT_SORTED_QUERY)
#define NGX_HTTP_SNAP_COMPAT_HASHES                                          \
    (NGX_HTTP_SNAP_COMPAT_EMPTY_HASH_FIELD|NGX_HTTP_SNAP_COMPAT_PHP_JSON       \
     |NGX_HTTP_SNAP_COMPAT_ASCII_JSON|NGX_HTTP_SNAP_COMPAT_RAW_BODY            \
     |NGX_HTTP_SNAP_COMPAT_NO_HASH_FIELD)
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
    NGX_HTTP_SNAP_CLIENT_NOT_ALLOWED,
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


typedef struct ngx_http_snap_zone_s         ngx_http_snap_zone_t;
typedef struct ngx_http_snap_provider_s     ngx_http_snap_provider_t;
typedef struct ngx_http_snap_sign_conf_s    ngx_http_snap_sign_conf_t;
typedef struct ngx_http_snap_out_s          ngx_http_snap_out_t;
typedef struct ngx_http_snap_metrics_s      ngx_http_snap_metrics_t;
typedef struct ngx_http_snap_token_cache_s  ngx_http_snap_token_cache_t;


/* a partner: snap_client */
typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   partner_id;
    uint64_t                    hash;         /* of partner_id */
    ngx_array_t                 pkeys;        /* EVP_PKEY_CTX *, verifiers */
    ngx_array_t                 secrets;      /* ngx_http_snap_key_t */
    ngx_uint_t                  compat;       /* NGX_HTTP_SNAP_COMPAT_* */
    u_char                     *compat_log;   /* for the mismatch line */
    ngx_array_t                *allow;        /* ngx_cidr_t, NULL: any */
    ngx_uint_t                  index;        /* in clients, snap_clients */
    ngx_uint_t                  signature;    /* 0, or NGX_HTTP_SNAP_SIG_RSA */
    ngx_uint_t                  rate;         /* rate=, requests per 1000 s */
    ngx_uint_t                  burst;        /* excess allowed, * 1000 */
    ngx_str_t                   file;         /* of the directive */
    ngx_uint_t                  line;
} ngx_http_snap_client_t;


/* snap_clients ID [ID...]: resolved once every snap_client is known */
typedef struct {
    ngx_array_t                 ids;          /* ngx_str_t, as written */
    u_char                     *allowed;      /* a bit a client, by index */
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_snap_clients_t;


typedef struct {
    ngx_array_t                   clients;     /* ngx_http_snap_client_t */
    ngx_hash_t                    by_id;
    ngx_hash_t                    by_partner;
    ngx_array_t                   token_keys;  /* ngx_http_snap_key_t */
    ngx_http_snap_token_cache_t  *token_cache;
    ngx_http_snap_schema_t       *grant[2];    /* grantType, grant_type */
    ngx_array_t                   replay_zones; /* ngx_http_snap_zone_t */
    ngx_array_t                   replays;  /* ngx_http_snap_replay_conf_t * */
    ngx_array_t                   providers;   /* ngx_http_snap_provider_t * */
    ngx_array_t                   provider_refs;
    ngx_shm_zone_t               *provider_zone;
    ngx_array_t                   services;    /* codes of snap_verify */
    ngx_http_snap_metrics_t      *metrics;
    ngx_uint_t                    token_locations;
    ngx_str_t                     hmac_file;   /* the first HMAC snap_verify */
    ngx_uint_t                    hmac_line;
    ngx_flag_t                    rsa_used;    /* a signature=rsa location */
    ngx_shm_zone_t               *rates;       /* when a client has rate= */
} ngx_http_snap_main_conf_t;


/* issued tokens are verified where snap_token or HMAC snap_verify is */
#define ngx_http_snap_tokens_used(smcf)                                      \
    ((smcf)->token_locations || (smcf)->hmac_file.len)


/* what a location checks: set by snap_verify (or snap_token), as one */
typedef struct {
    ngx_uint_t                    service;
    ngx_uint_t                    signature;
    const ngx_http_snap_field_t  *profile;
} ngx_http_snap_check_t;


/* snap_replay ZONE [numeric] [release_on_failure], merged as one */
typedef struct {
    ngx_str_t                   name;         /* of the zone */
    ngx_http_snap_zone_t       *zone;         /* once the http block is read */
    ngx_flag_t                  numeric;
    ngx_flag_t                  release;
    ngx_uint_t                  metrics_zone; /* the zone's index */
    ngx_str_t                   file;         /* of the directive */
    ngx_uint_t                  line;
} ngx_http_snap_replay_conf_t;


/* the one thing a location does for the module, if any */
typedef enum {
    NGX_HTTP_SNAP_ROLE_NONE = 0,
    NGX_HTTP_SNAP_ROLE_VERIFY,                /* snap_verify */
    NGX_HTTP_SNAP_ROLE_TOKEN,                 /* snap_token */
    NGX_HTTP_SNAP_ROLE_SIGN,                  /* snap_sign */
    NGX_HTTP_SNAP_ROLE_PROVIDER_TOKEN,        /* snap_provider_token */
    NGX_HTTP_SNAP_ROLE_METRICS                /* snap_metrics */
} ngx_http_snap_role_e;


typedef struct {
    ngx_uint_t                  role;         /* ngx_http_snap_role_e */
    ngx_str_t                   role_name;    /* the directive that set it */
    ngx_flag_t                  enforce;
    ngx_http_snap_check_t       check;
    ngx_uint_t                  metrics_service;

    time_t                      token_ttl;
    time_t                      clock_skew;
    ngx_uint_t                  log_level;
    ngx_http_complex_value_t   *signed_path;

    ngx_http_snap_replay_conf_t  *replay;
    ngx_flag_t                  replay_off;   /* "snap_replay off" said */
    ngx_str_t                   role_file;    /* where its role is set */
    ngx_uint_t                  role_line;
    ngx_http_snap_clients_t    *clients;      /* snap_clients, NULL: all */

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


/* (partner, WIB day of X-TIMESTAMP, X-EXTERNAL-ID), and a store's view */
typedef struct {
    uint64_t                    partner;
    ngx_str_t                   partner_id;
    int32_t                     day;
    ngx_str_t                   id;
    uint64_t                    hash;
    /* the zone's entry this request recorded, and its stamp: released
     * only while the entry still is that one */
    void                       *entry;
    uint32_t                    stamp;
    void                       *data;         /* the store's, per request */
} ngx_http_snap_replay_key_t;


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
    /* why it was refused, or under snap_enforce off would have been */
    ngx_uint_t                  reason;

    /* the location it entered: its role, checks and answers apply */
    ngx_http_snap_loc_conf_t   *conf;
    /* the store the id was recorded in, for release */
    ngx_http_snap_replay_conf_t  *replay;
    ngx_http_snap_replay_key_t    key;

    /* the store's answer, waited for; and the event that resumes it */
    ngx_int_t                   stored;
    ngx_uint_t                  stored_reason;
    ngx_event_t                 wake;

    ngx_http_snap_client_t     *client;
    /* the configured partner the request names, before it is verified:
     * what its refusals are attributed to */
    ngx_http_snap_client_t     *claimed;
    /* the key that verified it: 1 + its index, in secrets or pkeys */
    ngx_uint_t                  key_used;
    unsigned                    key_rsa:1;

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
    ngx_uint_t                  provider;     /* its index + 1 */

    /* the answer nginx made, kept to be sent again after a redirect */
    u_char                      response_code[7];
    ngx_str_t                   json;
    /* nginx's own error (413, 502, ...), answered as SNAP JSON */
    ngx_uint_t                  error_reason;

    unsigned                    answered:1;   /* response_code, json */
    unsigned                    nginx_error:1;
    unsigned                    reported:1;   /* snap_enforce off */
    unsigned                    replace_body:1;
    unsigned                    json_sent:1;
    unsigned                    released:1;
} ngx_http_snap_ctx_t;


/* the service code a request's answers carry */
#define ngx_http_snap_ctx_service(ctx)                                       \
    ((ctx)->conf ? (ctx)->conf->check.service : 0)


/* a mandatory header and where the context keeps it */
typedef struct {
    ngx_str_t                   name;
    size_t                      offset;
} ngx_http_snap_header_t;


extern ngx_module_t  ngx_http_snap_module;


#endif /* _NGX_HTTP_SNAP_H_INCLUDED_ */
