
/*
 * `make bench` (first part): what each step of a verified notification
 * costs on its own, with the same functions the module calls, on the
 * bench's 1 KB body.  The hashes SNAP mandates are the floor under what
 * any implementation adds to a proxied request on this machine.
 * Prints a Markdown table; nanoseconds per call, the best of 5 runs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"


#define RUNS  5


typedef struct {
    const char  *name;
    int          kind;
    void       (*fn)(void);
    long         iterations;
} step_t;

/* the kinds of step */
#define MANDATED     1     /* a hash SNAP itself requires, the bare floor */
#define PER_REQUEST  2     /* what the module does for every notification */
#define OTHER        4     /* once per token and worker, or token calls */


static unsigned char          body[1024];
static unsigned char          hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];
static unsigned char          sts[1024];
static size_t                 sts_len;
static unsigned char          mac[NGX_HTTP_SNAP_HMAC512_LEN];
static unsigned char          sig_b64[128];
static size_t                 sig_b64_len;
static unsigned char          token[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
static size_t                 token_len;
static unsigned char          token_copy[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
static ngx_http_snap_key_t    secret, token_key;
static ngx_http_snap_schema_t  *schema;
static EVP_PKEY_CTX          *verifier;
static unsigned char          rsa_msg[64];
static size_t                 rsa_msg_len;
static unsigned char          rsa_sig[512];
static size_t                 rsa_sig_len;
static volatile uint64_t      sink;


static const char  path[] = "/api/v1.0/qr/qr-mpm-notify";
static const char  ts[] = "2026-11-22T10:00:00+07:00";


static void
step_sha256(void)
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    static EVP_MD      *sha256;
    static EVP_MD_CTX  *ctx;

    if (ctx == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        ctx = EVP_MD_CTX_new();
    }

    if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1
        || EVP_DigestUpdate(ctx, body, sizeof(body)) != 1
        || EVP_DigestFinal_ex(ctx, md, &n) != 1)
    {
        abort();
    }
}


static void
step_body_check(void)
{
    char  err[256];

    if (ngx_http_snap_body_check(body, sizeof(body), schema, err,
                                 sizeof(err), hex)
        != NGX_HTTP_SNAP_FIELD_OK)
    {
        abort();
    }
}


static void
step_hmac(void)
{
    sts_len = ngx_http_snap_string_to_sign(sts, (const unsigned char *) "POST",
                                           4, (const unsigned char *) path,
                                           sizeof(path) - 1, token,
                                           token_len, 1, hex,
                                           (const unsigned char *) ts,
                                           sizeof(ts) - 1);

    if (ngx_http_snap_hmac(&secret, 512, sts, sts_len, mac) != 0) {
        abort();
    }
}


static void
step_base64(void)
{
    size_t         n;
    unsigned char  out[96];

    if (ngx_http_snap_base64_decode(out, &n, sig_b64, sig_b64_len, 0) != 0) {
        abort();
    }

    sink += ngx_http_snap_ct_equal(out, mac, sizeof(mac));
}


static void
step_token_cached(void)
{
    sink += ngx_http_snap_ct_equal(token_copy, token, token_len);
}


static void
step_siphash(void)
{
    static const unsigned char  key[16];
    static const unsigned char  id[48] = "QoinSnap-1763780000-123456";

    sink += ngx_http_snap_siphash(key, id, sizeof(id));
}


static void
step_token_verify(void)
{
    unsigned char           scratch[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    ngx_http_snap_claims_t  claims;

    if (ngx_http_snap_token_verify(token, token_len, &token_key, 1, scratch,
                                   &claims)
        != 0)
    {
        abort();
    }
}


static void
step_rsa(void)
{
    if (ngx_http_snap_rsa_verify(verifier, rsa_msg, rsa_msg_len, rsa_sig,
                                 rsa_sig_len)
        != NGX_HTTP_SNAP_LIB_OK)
    {
        abort();
    }
}


static double
now(void)
{
    struct timespec  t;

    clock_gettime(CLOCK_MONOTONIC, &t);

    return t.tv_sec + t.tv_nsec / 1e9;
}


static void
setup(void)
{
    int             i;
    size_t          n, len;
    EVP_PKEY       *pkey;
    EVP_MD_CTX     *md;
    EVP_PKEY_CTX   *kctx;
    unsigned char   jti[NGX_HTTP_SNAP_TOKEN_JTI_LEN];
    const char     *tmpl;

    static const ngx_http_snap_field_t  *profile;
    static unsigned char  schema_mem[8192];

    /* the bench's notification, padded to 1 KB in additionalInfo.note */
    tmpl = "{\"additionalInfo\":{\"rrn\":\"305080000010\",\"note\":\"%s\"},"
           "\"amount\":{\"currency\":\"IDR\",\"value\":\"20.00\"},"
           "\"externalStoreId\":\"\",\"latestTransactionStatus\":\"00\","
           "\"originalPartnerReferenceNo\":\"18000245195080000010\","
           "\"originalReferenceNo\":\"T25050000799117\","
           "\"transactionStatusDesc\":\"Success\"}";

    len = strlen(tmpl) - 2;
    n = sprintf((char *) body, "%.*s", (int) (strchr(tmpl, '%') - tmpl),
                tmpl);
    memset(body + n, 'n', sizeof(body) - len);
    memcpy(body + n + sizeof(body) - len, strchr(tmpl, '%') + 2,
           strlen(strchr(tmpl, '%') + 2));

    secret.data = (const unsigned char *)
                  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    secret.len = 60;
    token_key.data = (const unsigned char *)
                     "fedcba9876543210fedcba9876543210fedcba98";
    token_key.len = 40;

    if (ngx_http_snap_key_prepare(&secret, 512) != 0
        || ngx_http_snap_key_prepare(&token_key, 256) != 0)
    {
        abort();
    }

    for (i = 0; i < NGX_HTTP_SNAP_TOKEN_JTI_LEN; i++) {
        jti[i] = (unsigned char) (i * 37);
    }

    token_len = ngx_http_snap_token_create(token, &token_key, jti,
                                           (const unsigned char *) "QoinSnap",
                                           8, 1763780000, 1763780900);
    memcpy(token_copy, token, token_len);

    step_body_check();
    step_hmac();
    sig_b64_len = ngx_http_snap_base64_encode(sig_b64, mac, sizeof(mac), 0);

    profile = ngx_http_snap_test_profile(52);

    for (n = 0; profile[n].path; n++) {
        /* void */
    }

    if (ngx_http_snap_schema_size(profile, n) > sizeof(schema_mem)) {
        abort();
    }

    schema = ngx_http_snap_schema_init(schema_mem, profile, n);
    if (schema == NULL) {
        abort();
    }

    /* a token call's signature: SHA256withRSA, 2048 bits */
    pkey = NULL;
    kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);

    if (kctx == NULL || EVP_PKEY_keygen_init(kctx) != 1
        || EVP_PKEY_CTX_set_rsa_keygen_bits(kctx, 2048) != 1
        || EVP_PKEY_keygen(kctx, &pkey) != 1)
    {
        abort();
    }

    EVP_PKEY_CTX_free(kctx);

    rsa_msg_len = sprintf((char *) rsa_msg, "QoinSnap|%s", ts);
    rsa_sig_len = sizeof(rsa_sig);

    md = EVP_MD_CTX_new();

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(md, rsa_sig, &rsa_sig_len, rsa_msg, rsa_msg_len)
           != 1)
    {
        abort();
    }

    EVP_MD_CTX_free(md);

    verifier = ngx_http_snap_rsa_verifier(pkey);
    EVP_PKEY_free(pkey);

    if (verifier == NULL) {
        abort();
    }
}


int
main(void)
{
    int        r;
    long       i;
    double     t, best, mandated, per_request;
    step_t    *s;

    static step_t  steps[] = {
        { "SHA-256 of the 1 KB body, bare EVP (mandated)", MANDATED,
          step_sha256, 200000 },
        { "string to sign + HMAC-SHA512 (mandated)", MANDATED | PER_REQUEST,
          step_hmac, 200000 },
        { "JSON check + minify + SHA-256, one pass, qr-mpm-notify profile",
          PER_REQUEST, step_body_check, 200000 },
        { "X-SIGNATURE base64 decode + compare", PER_REQUEST, step_base64,
          1000000 },
        { "cached token: constant-time compare", PER_REQUEST,
          step_token_cached, 1000000 },
        { "replay key SipHash", PER_REQUEST, step_siphash, 2000000 },
        { "HS256 token verification (first use per worker)", OTHER,
          step_token_verify, 200000 },
        { "RSA-2048 verification (token call)", OTHER, step_rsa, 5000 },
        { NULL, 0, NULL, 0 }
    };

    setup();

    printf("| step | ns per call |\n|---|---|\n");

    mandated = 0;
    per_request = 0;

    for (s = steps; s->name; s++) {
        best = 1e30;

        for (r = 0; r < RUNS; r++) {
            t = now();

            for (i = 0; i < s->iterations; i++) {
                s->fn();
            }

            t = (now() - t) / s->iterations * 1e9;

            if (t < best) {
                best = t;
            }
        }

        printf("| %s | %.0f |\n", s->name, best);

        if (s->kind & MANDATED) {
            mandated += best;
        }

        if (s->kind & PER_REQUEST) {
            per_request += best;
        }
    }

    printf("| the mandated hashes | %.0f |\n", mandated);
    printf("| every per-request step | %.0f |\n", per_request);

    EVP_PKEY_CTX_free(verifier);
    ngx_http_snap_key_free(&secret);
    ngx_http_snap_key_free(&token_key);
    ngx_http_snap_lib_cleanup();

    return 0;
}
