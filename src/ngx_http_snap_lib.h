
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Functions that need neither the nginx runtime nor its headers: the SNAP
 * minifier, X-TIMESTAMP parsing, strict base64, the string to sign, the
 * token format and the signature primitives.  The unit tests and the fuzz
 * targets link this file alone.
 */


#ifndef _NGX_HTTP_SNAP_LIB_H_INCLUDED_
#define _NGX_HTTP_SNAP_LIB_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <openssl/evp.h>


/* shared between the files of the module, kept out of the global table */
#if defined(__GNUC__)
#define NGX_HTTP_SNAP_API  __attribute__((visibility("hidden")))
#else
#define NGX_HTTP_SNAP_API
#endif


#define NGX_HTTP_SNAP_SHA256_HEX_LEN   64
#define NGX_HTTP_SNAP_HMAC512_LEN      64
#define NGX_HTTP_SNAP_TOKEN_JTI_LEN    16

/* seconds east of UTC of Western Indonesian Time, the SNAP "day" */
#define NGX_HTTP_SNAP_WIB_OFFSET       (7 * 3600)

/*
 * Skips string text eight bytes at a time up to a word that holds a quote,
 * a backslash, a control character, or with high set a byte >= 0x80; the
 * caller goes on byte by byte from there.  Bodies are mostly such text.
 */

static inline const unsigned char *
ngx_http_snap_skip_text(const unsigned char *p, const unsigned char *end,
    int high)
{
    uint64_t  w, q, b;

    const uint64_t  ones = 0x0101010101010101ULL;
    const uint64_t  highs = 0x8080808080808080ULL;

    while (end - p >= 8) {
        memcpy(&w, p, 8);

        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');

        /* (x - ones) & ~x has a high bit set where x has a zero byte */
        if ((((q - ones) & ~q) | ((b - ones) & ~b)
             | ((w - ones * 0x20) & ~w) | (high ? w : 0)) & highs)
        {
            break;
        }

        p += 8;
    }

    return p;
}


#define ngx_http_snap_base64_encoded_len(n)   (((n) + 2) / 3 * 4)
#define ngx_http_snap_base64url_encoded_len(n)  (((n) * 4 + 2) / 3)


typedef struct {
    unsigned                  in_string:1;
    unsigned                  escape:1;
} ngx_http_snap_minify_t;


typedef int (*ngx_http_snap_emit_pt)(void *data, const unsigned char *p,
    size_t len);


typedef struct {
    EVP_MD_CTX               *md;
    ngx_http_snap_minify_t    minify;
} ngx_http_snap_digest_t;


typedef struct {
    const unsigned char      *client_id;
    size_t                    client_id_len;
    int64_t                   iat;
    int64_t                   nbf;
    int64_t                   exp;
} ngx_http_snap_claims_t;


/* an HMAC key; inner and outer hold its precomputed pads, when prepared */
typedef struct {
    const unsigned char      *data;
    size_t                    len;
    EVP_MD_CTX               *inner;
    EVP_MD_CTX               *outer;
} ngx_http_snap_key_t;


NGX_HTTP_SNAP_API void ngx_http_snap_lib_cleanup(void);
NGX_HTTP_SNAP_API int ngx_http_snap_minify(ngx_http_snap_minify_t *st,
    const unsigned char *p, size_t len, ngx_http_snap_emit_pt emit,
    void *data);
NGX_HTTP_SNAP_API int ngx_http_snap_copy_emit(void *data,
    const unsigned char *p, size_t len);
NGX_HTTP_SNAP_API size_t ngx_http_snap_minify_buf(const unsigned char *src,
    size_t len, unsigned char *dst);

NGX_HTTP_SNAP_API int ngx_http_snap_body_hash(const unsigned char *body,
    size_t len, unsigned char *hex);

NGX_HTTP_SNAP_API int ngx_http_snap_parse_timestamp(const unsigned char *p,
    size_t len, int64_t *t);
NGX_HTTP_SNAP_API int64_t ngx_http_snap_wib_day(int64_t t);
NGX_HTTP_SNAP_API void ngx_http_snap_format_wib(int64_t t, unsigned char *dst);

NGX_HTTP_SNAP_API size_t ngx_http_snap_base64_encode(unsigned char *dst,
    const unsigned char *src, size_t len, int url);
NGX_HTTP_SNAP_API int ngx_http_snap_base64_decode(unsigned char *dst,
    size_t *dlen, const unsigned char *src, size_t len, int url);

NGX_HTTP_SNAP_API size_t ngx_http_snap_string_to_sign_len(size_t method,
    size_t url, size_t token, int with_token, size_t ts);
NGX_HTTP_SNAP_API size_t ngx_http_snap_string_to_sign(unsigned char *dst,
    const unsigned char *method, size_t method_len,
    const unsigned char *url, size_t url_len,
    const unsigned char *token, size_t token_len, int with_token,
    const unsigned char *hex, const unsigned char *ts, size_t ts_len);

NGX_HTTP_SNAP_API int ngx_http_snap_hmac_sha512(const unsigned char *key,
    size_t key_len, const unsigned char *msg, size_t len,
    unsigned char *out);
NGX_HTTP_SNAP_API int ngx_http_snap_key_prepare(ngx_http_snap_key_t *key,
    int bits);
NGX_HTTP_SNAP_API void ngx_http_snap_key_free(ngx_http_snap_key_t *key);
NGX_HTTP_SNAP_API int ngx_http_snap_hmac(const ngx_http_snap_key_t *key,
    int bits, const unsigned char *msg, size_t len, unsigned char *out);
NGX_HTTP_SNAP_API EVP_PKEY_CTX *ngx_http_snap_rsa_verifier(EVP_PKEY *pkey);
NGX_HTTP_SNAP_API int ngx_http_snap_rsa_verify(EVP_PKEY_CTX *verifier,
    const unsigned char *msg, size_t len, const unsigned char *sig,
    size_t sig_len);

NGX_HTTP_SNAP_API int ngx_http_snap_ct_equal(const unsigned char *a,
    const unsigned char *b, size_t len);
NGX_HTTP_SNAP_API uint64_t ngx_http_snap_siphash(const unsigned char key[16],
    const unsigned char *p, size_t len);

NGX_HTTP_SNAP_API int ngx_http_snap_header_value_ok(const unsigned char *p,
    size_t len, size_t max);

#define NGX_HTTP_SNAP_TOKEN_MAX_CLIENT  64
#define NGX_HTTP_SNAP_TOKEN_MAX_LEN  512

NGX_HTTP_SNAP_API size_t ngx_http_snap_token_create(unsigned char *dst,
    const ngx_http_snap_key_t *key, const unsigned char *jti,
    const unsigned char *client_id, size_t client_id_len, int64_t iat,
    int64_t exp);
NGX_HTTP_SNAP_API int ngx_http_snap_token_verify(const unsigned char *tok,
    size_t len, const ngx_http_snap_key_t *keys, size_t nkeys,
    unsigned char *scratch, ngx_http_snap_claims_t *claims);
NGX_HTTP_SNAP_API int ngx_http_snap_token_parse_claims(
    const unsigned char *p, size_t len, ngx_http_snap_claims_t *claims);



#define NGX_HTTP_SNAP_JSON_ANY       0
#define NGX_HTTP_SNAP_JSON_STRING    1
#define NGX_HTTP_SNAP_JSON_OBJECT    2
#define NGX_HTTP_SNAP_JSON_ARRAY     3
#define NGX_HTTP_SNAP_JSON_INTEGER   4
#define NGX_HTTP_SNAP_JSON_SCALAR    5

#define NGX_HTTP_SNAP_FMT_NONE       0
#define NGX_HTTP_SNAP_FMT_AMOUNT     1
#define NGX_HTTP_SNAP_FMT_CURRENCY   2
#define NGX_HTTP_SNAP_FMT_STATUS     3
#define NGX_HTTP_SNAP_FMT_TIMESTAMP  4
#define NGX_HTTP_SNAP_FMT_GRANT      5

#define NGX_HTTP_SNAP_FIELD_OK       0
#define NGX_HTTP_SNAP_FIELD_MISSING  1
#define NGX_HTTP_SNAP_FIELD_BAD      2
#define NGX_HTTP_SNAP_FIELD_JSON     3
#define NGX_HTTP_SNAP_FIELD_ERROR    4

#define NGX_HTTP_SNAP_FIELD_MAX      128

/* nesting a body may have, as cJSON allowed */
#define NGX_HTTP_SNAP_JSON_DEPTH     1000

#define NGX_HTTP_SNAP_SCHEMA_NODES   256
#define NGX_HTTP_SNAP_SCHEMA_NONE    0xffff


typedef struct {
    const char               *path;
    unsigned char             type;
    unsigned char             format;
    unsigned char             required;
    unsigned short            max_len;
} ngx_http_snap_field_t;


typedef struct {
    const char               *name;       /* NULL: an array's elements */
    unsigned short            name_len;
    unsigned short            depth;      /* path segments to here */
    unsigned short            child;      /* first member node, 0: none */
    unsigned short            next;       /* next member of the parent */
    unsigned short            elem;       /* element node, 0: none */
    unsigned short            own;        /* first field ending here */
    unsigned short            req_min;    /* first required field at or under */
    unsigned short            obj_min;    /* first field under a member */
    unsigned short            elem_min;   /* first field at or under elem */
} ngx_http_snap_schema_node_t;


typedef struct {
    const ngx_http_snap_field_t  *fields;
    ngx_http_snap_schema_node_t  *nodes;
    unsigned short               *own_next;   /* per field */
    unsigned short                nfields;
    unsigned short                nnodes;
} ngx_http_snap_schema_t;


NGX_HTTP_SNAP_API const ngx_http_snap_field_t *ngx_http_snap_profile(
    unsigned service);
NGX_HTTP_SNAP_API int ngx_http_snap_field_path_ok(const char *path);
NGX_HTTP_SNAP_API int ngx_http_snap_format_ok(const unsigned char *s,
    size_t len, unsigned format);

NGX_HTTP_SNAP_API size_t ngx_http_snap_schema_size(
    const ngx_http_snap_field_t *fields, size_t n);
NGX_HTTP_SNAP_API ngx_http_snap_schema_t *ngx_http_snap_schema_init(
    void *mem, const ngx_http_snap_field_t *fields, size_t n);
NGX_HTTP_SNAP_API int ngx_http_snap_json_check(const unsigned char *p,
    size_t len, const ngx_http_snap_schema_t *schema, char *err,
    size_t errlen, ngx_http_snap_emit_pt emit, void *data);
NGX_HTTP_SNAP_API int ngx_http_snap_body_check(const unsigned char *body,
    size_t len, const ngx_http_snap_schema_t *schema, char *err,
    size_t errlen, unsigned char *hex);


#endif /* _NGX_HTTP_SNAP_LIB_H_INCLUDED_ */
