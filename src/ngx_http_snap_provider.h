
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The providers the merchant calls (snap_provider, snap_provider_zone,
 * snap_provider_token), their token cache shared by the workers (the
 * ngx_http_snap_out_token_* functions), and what a signed request
 * carries.
 */


#ifndef _NGX_HTTP_SNAP_PROVIDER_H_INCLUDED_
#define _NGX_HTTP_SNAP_PROVIDER_H_INCLUDED_


#include "ngx_http_snap.h"


#define NGX_HTTP_SNAP_PROVIDER_NAME_MAX  64
/* the largest answer to a token call: a token of 4 KB and its JSON */
#define NGX_HTTP_SNAP_OUT_ANSWER_MAX   16384
/* the longest name of a header the module sets on a request it sends */
#define NGX_HTTP_SNAP_HEADER_NAME_MAX    16


typedef struct ngx_http_snap_out_token_slot_s  ngx_http_snap_out_token_slot_t;


struct ngx_http_snap_provider_s {
    ngx_str_t                   name;
    ngx_str_t                   client_id;
    ngx_str_t                   partner_id;
    ngx_str_t                   channel_id;   /* empty: none sent */
    ngx_str_t                   token_uri;
    EVP_PKEY_CTX               *signer;
    size_t                      sig_size;
    ngx_http_snap_key_t         secret;
    uint64_t                    fingerprint;  /* what a cached token is for */
    ngx_http_snap_out_token_slot_t *slot;
    ngx_slab_pool_t            *shpool;
    ngx_uint_t                  token_locations;
    ngx_uint_t                  token_reached; /* token= leads to one */
    ngx_uint_t                  index;        /* in the metrics */
    ngx_queue_t                 waiters;      /* this worker's */
};


/* a request waiting for another's token call, in this worker */
typedef struct {
    ngx_queue_t                 queue;
    ngx_http_request_t         *request;
    unsigned                    queued:1;
} ngx_http_snap_waiter_t;


/* a provider's name in a directive, resolved once the http block is read */
typedef struct {
    ngx_str_t                   name;
    ngx_http_snap_provider_t  **provider;
    ngx_str_t                   file;
    ngx_uint_t                  line;
    ngx_uint_t                  token;        /* snap_provider_token */
    /* the token location, to tell whether token= leads to it */
    ngx_http_core_loc_conf_t   *clcf;
} ngx_http_snap_provider_ref_t;


typedef enum {
    NGX_HTTP_SNAP_OUT_START = 0,
    NGX_HTTP_SNAP_OUT_READING,
    NGX_HTTP_SNAP_OUT_BODY,
    NGX_HTTP_SNAP_OUT_WAITING,
    NGX_HTTP_SNAP_OUT_FETCHING,
    NGX_HTTP_SNAP_OUT_FETCHED,
    NGX_HTTP_SNAP_OUT_SIGNED,
    NGX_HTTP_SNAP_OUT_REJECTED
} ngx_http_snap_out_state_e;


/* what one signed request carries, from the body read to the answer */
struct ngx_http_snap_out_s {
    ngx_http_snap_out_state_e   state;
    ngx_http_snap_provider_t   *provider;

    ngx_str_t                   body;         /* minified */
    u_char                      hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];
    u_char                      timestamp[25];
    u_char                      external_id[NGX_HTTP_SNAP_OUT_ID_LEN];

    ngx_str_t                   token;
    ngx_uint_t                  generation;   /* of the token used */
    ngx_int_t                   fetch_rc;
    time_t                      lease;        /* the fetch this one holds */

    /* the first bytes of a 401 answer, for its responseCode */
    u_char                     *answer;
    size_t                      answer_len;

    ngx_http_snap_waiter_t      waiter;

    unsigned                    refresh:1;    /* this request refreshes */
    unsigned                    leased:1;
    unsigned                    fetched:1;
    unsigned                    token_request:1;
    unsigned                    located:1;    /* in its token location */
    unsigned                    watch:1;
    unsigned                    watched:1;
    unsigned                    too_large:1;  /* the token call's answer */
};


/* the token cache, in snap_provider_zone */
typedef enum {
    NGX_HTTP_SNAP_OUT_TOKEN_USE = 0,      /* a valid token, maybe refresh */
    NGX_HTTP_SNAP_OUT_TOKEN_FETCH,        /* none valid, this one fetches */
    NGX_HTTP_SNAP_OUT_TOKEN_WAIT,         /* another request fetches */
    NGX_HTTP_SNAP_OUT_TOKEN_BACKOFF       /* none valid, the last one failed */
} ngx_http_snap_out_token_get_e;


char *ngx_http_snap_provider(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_snap_provider_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_snap_provider_token(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_snap_provider_ref(ngx_conf_t *cf,
    ngx_str_t *name, ngx_http_snap_provider_t **provider, ngx_uint_t token);
ngx_int_t ngx_http_snap_providers_init(ngx_conf_t *cf);

ngx_http_snap_out_token_get_e ngx_http_snap_out_token_get(
    ngx_http_request_t *r, ngx_http_snap_out_t *out);
ngx_int_t ngx_http_snap_out_token_fetch(ngx_http_request_t *r,
    ngx_http_snap_out_t *out);
ngx_int_t ngx_http_snap_out_token_keep(ngx_http_request_t *sr,
    ngx_http_snap_out_t *sout, ngx_chain_t *in);
ngx_int_t ngx_http_snap_out_token_answer(
    ngx_http_request_t *r, ngx_http_snap_out_t *out);
time_t ngx_http_snap_out_token_stale(
    ngx_http_snap_provider_t *provider, ngx_uint_t generation);
void ngx_http_snap_out_token_proven(
    ngx_http_snap_provider_t *provider, ngx_uint_t generation);
ngx_int_t ngx_http_snap_out_token_wait(ngx_http_request_t *r,
    ngx_http_snap_out_t *out);
ngx_int_t ngx_http_snap_add_header(ngx_http_request_t *r,
    ngx_list_t *headers, char *name, u_char *value, size_t len,
    ngx_uint_t hidden);
ngx_int_t ngx_http_snap_provider_token_handler(
    ngx_http_request_t *r);



#endif /* _NGX_HTTP_SNAP_PROVIDER_H_INCLUDED_ */
