
/*
 * Unit tests of the nginx-free functions: SNAP.md's published vectors, the
 * minifier, timestamps, base64, the token format, RESP.  TAP output.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "ngx_http_snap_lib.h"
#include "ngx_http_snap_testing.h"


static int  tests, failures;


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failures++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


static void
is_str(const char *got, size_t got_len, const char *want, const char *name)
{
    int  cond;

    cond = strlen(want) == got_len && memcmp(got, want, got_len) == 0;
    ok(cond, name);

    if (!cond) {
        printf("#   got:  '%.*s'\n#   want: '%s'\n", (int) got_len, got, want);
    }
}


static const char  midtrans_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAlWbtlh3eM+bW3n5AFj42\n"
    "wddC4L7tQqbLiCFbTv8K67yng9iwK5mEn+UMXiRhvB2JVWFafCPPxFamsiVG3Mjn\n"
    "eGjC0BYgmpmw4qXnAnyO3nCdCuPtmZ3ljhKvSTPdWZxrcLi1Xa9V/+Pzb8hrjb5i\n"
    "wMn6SZFNeMmZYgFKiSeueo6TPln2PoTqXCzs1HtsM8eUVe8GAsjJe/3dYl992nyX\n"
    "OpG21GgNu8o5T3WOptPg6GdDTWkTWUu483yRbVVy04Pz4L8DDZTDv+WcsAViDn1r\n"
    "A/jB1Auj/UGKx2ovGcBH/a/hor5TbABbODU6cPTHT54K3sSZtvZNV4eFDB1f/4wd\n"
    "fwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";


static void
test_hmac_vector(const char *method, const char *url, const char *body,
    const char *want_hash, const char *want_sig, const char *name)
{
    char           buf[256];
    unsigned char  hex[64], sts[1024], mac[64], b64[128];
    size_t         n, len;
    const char    *ts = "2024-03-05T10:37:16.196Z";

    ok(ngx_http_snap_body_hash((const unsigned char *) body, strlen(body),
                               hex) == 0, "body hash computed");
    snprintf(buf, sizeof(buf), "%s: body hash", name);
    is_str((char *) hex, 64, want_hash, buf);

    len = ngx_http_snap_string_to_sign_len(strlen(method), strlen(url), 13,
                                           1, strlen(ts));
    n = ngx_http_snap_string_to_sign(sts, (const unsigned char *) method,
                                     strlen(method),
                                     (const unsigned char *) url, strlen(url),
                                     (const unsigned char *) "myaccesstoken",
                                     13, 1, hex, (const unsigned char *) ts,
                                     strlen(ts));
    ok(n == len, "string to sign length is predicted");

    ngx_http_snap_test_hmac_sha512((const unsigned char *) "myclientsecret", 14,
                              sts, n, mac);

    if (body[0] == '\0') {
        /* compat=no_hash_field: the field and its colon left out */
        n = ngx_http_snap_string_to_sign(sts, (const unsigned char *) method,
                                         strlen(method),
                                         (const unsigned char *) url,
                                         strlen(url),
                                         (const unsigned char *)
                                         "myaccesstoken", 13, 1,
                                         ngx_http_snap_no_hash_field,
                                         (const unsigned char *) ts,
                                         strlen(ts));
        snprintf(buf, sizeof(buf), "%s:%s:myaccesstoken:%s", method, url,
                 ts);
        is_str((char *) sts, n, buf, "no hash field: METHOD:path:token:ts");
        ok(n <= len, "no hash field: within the predicted length");

    }

    if (body[0] != '\0') {
        unsigned char  raw[64];

        ok(ngx_http_snap_body_hash_raw((const unsigned char *) body,
                                       strlen(body), raw) == 0,
           "raw body hash computed");
        snprintf(buf, sizeof(buf), "%s: raw body hash", name);
        ok((memcmp(raw, hex, 64) == 0)
           == (strchr(body, ' ') == NULL && strchr(body, '\n') == NULL),
           buf);
    }
    n = ngx_http_snap_base64_encode(b64, mac, 64, 0);
    snprintf(buf, sizeof(buf), "%s: X-SIGNATURE", name);
    is_str((char *) b64, n, want_sig, buf);
}


static void
test_vectors(void)
{
    BIO            *bio;
    EVP_PKEY       *pkey;
    EVP_PKEY_CTX   *verifier;
    unsigned char   sig[512];
    size_t          n;
    const char     *v2, *msg;

    /* V1: Midtrans HMAC-SHA512 sample */
    test_hmac_vector("POST", "/v1.0/qr/qr-mpm-generate",
        "{\"partnerReferenceNo\":\"2020102900000000000001\",\"amount\":"
        "{\"value\":\"12345678.00\",\"currency\":\"IDR\"},\"feeAmount\":"
        "{\"value\":\"12345678.00\",\"currency\":\"IDR\"},\"merchantId\":"
        "\"00007100010926\",\"terminalId\":\"213141251124\","
        "\"validityPeriod\":\"2009-07-03T12:08:56-07:00\"}",
        "01463f60dbb6ca538581579dd95b31c8ba9fc6600eca750e4d8460ca4e402111",
        "wmzT7yjg1SxxCsxNsFgCR9SYXiZGGbceF6fV8xe97sAMHxZ+7OEBMIBmvb6Sj6Gc"
        "ksGp3iv77DiomgSbcST3XQ==", "V1");

    /* the same body pretty-printed hashes the same */
    test_hmac_vector("POST", "/v1.0/qr/qr-mpm-generate",
        "{\n  \"partnerReferenceNo\": \"2020102900000000000001\",\n"
        "  \"amount\": {\n    \"value\": \"12345678.00\",\n"
        "    \"currency\": \"IDR\"\n  },\n  \"feeAmount\": {\r\n"
        "\t\"value\": \"12345678.00\", \"currency\": \"IDR\" },\n"
        "  \"merchantId\": \"00007100010926\",\n"
        "  \"terminalId\": \"213141251124\",\n"
        "  \"validityPeriod\": \"2009-07-03T12:08:56-07:00\"\n}\n",
        "01463f60dbb6ca538581579dd95b31c8ba9fc6600eca750e4d8460ca4e402111",
        "wmzT7yjg1SxxCsxNsFgCR9SYXiZGGbceF6fV8xe97sAMHxZ+7OEBMIBmvb6Sj6Gc"
        "ksGp3iv77DiomgSbcST3XQ==", "V1 pretty-printed");

    /* empty-body GET */
    test_hmac_vector("GET", "/v1.0/balance-inquiry", "",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "nrm0zF33cbWX+pSNLCHIeZrcPlZDTyphW0HNIBYNXC3NTo1Tilf0L02MZgewbeLl"
        "FIYM7dUaoIL8n9Z2B65rQQ==", "GET empty body");

    /* compat=raw_body: Python's json.dumps, hashed as sent */
    {
        unsigned char  raw[64];
        const char    *py = "{\"originalReferenceNo\": \"T1\", \"amount\": "
                            "{\"value\": \"10.00\", \"currency\": \"IDR\"}}";

        ok(ngx_http_snap_body_hash_raw((const unsigned char *) py,
                                       strlen(py), raw) == 0,
           "raw hash of json.dumps computed");
        is_str((char *) raw, 64,
               "88a80acb1a2ed892cb27b5f1285a0e22"
               "13c03b1f634abcdfd7ebfcbbcb4c7a17",
               "raw hash: SHA-256 of the bytes as sent");
    }

    /* V2: access-token signature, Midtrans RSA-2048 key */
    bio = BIO_new_mem_buf(midtrans_pub, -1);
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ok(pkey != NULL, "V2 public key loads");
    verifier = ngx_http_snap_rsa_verifier(pkey);
    ok(verifier != NULL, "V2 verifier is made");

    v2 = "WzW49tYIgKIBmBi/gVBHGLAkhEaZlXM11zcZxAiyHji6TLPjPbwLu3Z45it25AIeG0"
         "XDItcdTSkds47zFEMh6IP0PXPIP1+Ey4RmX/o2fuYRF/xBHvfvKnMmANMTS1axsXB"
         "SW3EHqYpbVrkCcqNnB3u+wu63us9WIhRZaWgxgQ2PJLaiVHIwgu9u7jxkWX7Bg4r"
         "erZH3RKdQfIJAAJsSN13efR7VdSAyzU7QaKjgislxrLqmesYNJkbD03XLjHdo6YW"
         "uzAVV7xdZRpLiGkIAkW7luXTBZYBO+4oENZAPQYzrLeN1qRY1Sr7BgLONCA2QA26"
         "BB6SYW4R7qofS9+RyOQ==";
    msg = "G1234325-SNAP|2024-03-01T08:27:49.024Z";

    ok(ngx_http_snap_base64_decode(sig, &n, (const unsigned char *) v2,
                                   strlen(v2), 0) == 0 && n == 256,
       "V2 signature decodes to 256 bytes");
    ok(ngx_http_snap_rsa_verify(verifier, (const unsigned char *) msg,
                                strlen(msg), sig, n) == NGX_HTTP_SNAP_LIB_OK,
       "V2 signature verifies");

    sig[100] ^= 0x01;
    ok(ngx_http_snap_rsa_verify(verifier, (const unsigned char *) msg,
                                strlen(msg), sig, n)
       == NGX_HTTP_SNAP_LIB_INVALID,
       "V2 with one signature byte changed is refused");
    sig[100] ^= 0x01;

    ok(ngx_http_snap_rsa_verify(verifier,
                                (const unsigned char *)
                                "G1234325-SNAP|2024-03-01T08:27:49.025Z",
                                strlen(msg), sig, n)
       == NGX_HTTP_SNAP_LIB_INVALID,
       "V2 with one message byte changed is refused");

    ok(ngx_http_snap_rsa_verify(verifier, (const unsigned char *) msg,
                                strlen(msg), sig, n) == NGX_HTTP_SNAP_LIB_OK,
       "V2 verifies again with the same verifier");
    ok(ngx_http_snap_rsa_verify(verifier, (const unsigned char *) msg,
                                strlen(msg), sig, n - 1)
       == NGX_HTTP_SNAP_LIB_INVALID,
       "V2 with a signature one byte short is refused");

    EVP_PKEY_CTX_free(verifier);
    EVP_PKEY_free(pkey);
}


static void
minify_case(const char *in, const char *want, const char *name)
{
    unsigned char  out[1024];
    size_t         n;

    n = ngx_http_snap_test_minify((const unsigned char *) in, strlen(in), out);
    is_str((char *) out, n, want, name);
}


static int
collect(void *data, const unsigned char *p, size_t len)
{
    unsigned char  **dst = data;

    memcpy(*dst, p, len);
    *dst += len;

    return 0;
}


static void
test_minify(void)
{
    size_t                   i, len;
    unsigned char            out[256], *p;
    ngx_http_snap_minify_t   st;
    const char              *in;

    minify_case("{ \"a\" : \"x y\" ,\n\t\"b\" : [ 1 , 2 ] }",
                "{\"a\":\"x y\",\"b\":[1,2]}", "spaces inside strings kept");
    minify_case("{\"a\":\"x\\\\\", \"b\": 1}",
                "{\"a\":\"x\\\\\",\"b\":1}",
                "escaped backslash before a closing quote");
    minify_case("{\"a\":\"say \\\" hi \", \"b\" : 2}",
                "{\"a\":\"say \\\" hi \",\"b\":2}",
                "escaped quote inside a string");
    minify_case("{\"n\": 1.50, \"big\": 12345678901234567890, \"e\": 1E+2}",
                "{\"n\":1.50,\"big\":12345678901234567890,\"e\":1E+2}",
                "numbers untouched");
    minify_case("{\"u\": \"\\u00e9\\/\\n\", \"s\": \"   12334\"}",
                "{\"u\":\"\\u00e9\\/\\n\",\"s\":\"   12334\"}",
                "escapes and padding untouched");
    minify_case("", "", "empty body");
    minify_case(" \r\n\t ", "", "only whitespace");
    minify_case("{\"k\":\"tab\there\"}", "{\"k\":\"tab\there\"}",
                "raw tab inside a string kept");

    /* split at every position: the state carries over */
    in = "{ \"a\" : \"x\\\\\" , \"b\" : \"\\\" q \" }";
    len = strlen(in);

    for (i = 0; i <= len; i++) {
        memset(&st, 0, sizeof(st));
        p = out;
        ngx_http_snap_minify(&st, (const unsigned char *) in, i, collect, &p);
        ngx_http_snap_minify(&st, (const unsigned char *) in + i, len - i,
                             collect, &p);

        if ((size_t) (p - out) != strlen("{\"a\":\"x\\\\\",\"b\":\"\\\" q \"}")
            || memcmp(out, "{\"a\":\"x\\\\\",\"b\":\"\\\" q \"}", p - out))
        {
            break;
        }
    }

    ok(i == len + 1, "minify split at every byte gives the same output");
}


static void
ts_case(const char *s, int valid, int64_t want, const char *name)
{
    int      rc;
    int64_t  t;

    t = 0;
    rc = ngx_http_snap_parse_timestamp((const unsigned char *) s, strlen(s),
                                       &t);

    if (valid) {
        ok(rc == 0 && t == want, name);

        if (rc != 0 || t != want) {
            printf("#   %s: rc %d, t %lld, want %lld\n", s, rc,
                   (long long) t, (long long) want);
        }

    } else {
        ok(rc != 0, name);
    }
}


static void
ts_as(const char *s, unsigned forms, int valid, int64_t want,
    const char *name)
{
    int      rc;
    int64_t  t;

    t = 0;
    rc = ngx_http_snap_parse_timestamp_as((const unsigned char *) s,
                                          strlen(s), forms, &t);

    ok(valid ? rc == 0 && t == want : rc != 0, name);

    if (valid && (rc != 0 || t != want)) {
        printf("#   %s: rc %d, t %lld, want %lld\n", s, rc, (long long) t,
               (long long) want);
    }
}


static void
test_timestamp(void)
{
    unsigned char  buf[25];

    ts_case("2020-12-17T10:55:00+07:00", 1, 1608177300, "spec sample +07:00");
    ts_case("2024-03-05T10:37:16.196Z", 1, 1709635036, "millis and Z");
    ts_case("2021-11-29T09:22:18.172+07:00", 1, 1638152538, "BRI millis");
    ts_case("2024-03-05T03:37:16.123456789Z", 1, 1709609836, "nanoseconds");
    ts_case("2024-03-04T20:37:16-07:00", 1, 1709609836, "negative offset");
    ts_case("2024-02-29T00:00:00Z", 1, 1709164800, "leap day");
    ts_case("1970-01-01T00:00:00Z", 1, 0, "epoch");
    ts_case("2023-02-29T00:00:00Z", 0, 0, "no Feb 29 in 2023");
    ts_case("2100-02-29T00:00:00Z", 0, 0, "no Feb 29 in 2100");
    ts_case("9999-99-99T99:99:99+07:00", 0, 0, "9999-99-99");
    ts_case("2024-03-05T23:59:60Z", 0, 0, "leap second refused");
    ts_case("2024-03-05T10:37:16+15:00", 0, 0, "offset over 14 hours");
    ts_case("2024-03-05T10:37:16+07:60", 0, 0, "offset minutes 60");
    ts_case("2024-03-05T10:37:16+14:01", 0, 0, "offset past +14:00");
    ts_case("2024-03-05T10:37:16-14:00", 1, 1709685436,
            "offset -14:00");
    ts_case("2024-03-05T10:37:16+0700", 0, 0, "offset without colon");
    ts_case("2024-03-05T10:37:16", 0, 0, "no offset");
    ts_case("2024-03-05 10:37:16+07:00", 0, 0, "space instead of T");
    ts_case("2022-08-24 11:14:17", 0, 0, "seed 002 sample format");
    ts_case("2024-03-05T10:37:16.Z", 0, 0, "empty fraction");
    ts_case("2024-03-05T10:37:16Z ", 0, 0, "trailing space");
    ts_case("2024-03-05T10:37:16z", 0, 0, "lowercase z");
    ts_case("+024-03-05T10:37:16Z", 0, 0, "sign in year");
    ts_case("2024-3-05T10:37:16Z", 0, 0, "short month");
    ts_case("", 0, 0, "empty");

    /* the looser forms, for a partner with them only */
    ts_as("2024-03-05T10:37:16+0700", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 1,
          1709609836, "basic offset +0700");
    ts_as("2024-03-05T10:37:16.123-0130", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 1,
          1709640436, "basic offset -0130 after a fraction");
    ts_as("2024-03-05T10:37:16+07:00", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 1,
          1709609836, "basic offset: the extended form still");
    ts_as("2024-03-05T10:37:16+1401", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 0, 0,
          "basic offset past +1400");
    ts_as("2024-03-05T10:37:16+070", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 0, 0,
          "basic offset of 3 digits");
    ts_as("2024-03-05T10:37:16+07:0", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 0, 0,
          "basic offset: a colon in 5 characters");
    ts_as("2024-03-05T10:37:16", NGX_HTTP_SNAP_TS_BASIC_OFFSET, 0, 0,
          "basic offset: no offset still refused");
    ts_as("2024-03-05T10:37:16", NGX_HTTP_SNAP_TS_WIB, 1, 1709609836,
          "no offset read as WIB");
    ts_as("2024-03-05T10:37:16.5", NGX_HTTP_SNAP_TS_WIB, 1, 1709609836,
          "no offset after a fraction, WIB");
    ts_as("2024-03-05T10:37:16Z", NGX_HTTP_SNAP_TS_WIB, 1, 1709635036,
          "WIB flag: Z still UTC");
    ts_as("2024-03-05T10:37:16+0700", NGX_HTTP_SNAP_TS_WIB, 0, 0,
          "WIB flag alone: no basic offset");
    ts_as("2024-03-05T10:37:1", NGX_HTTP_SNAP_TS_WIB, 0, 0,
          "WIB flag: 18 characters");
    ts_as("2024-03-05T10:37:16.", NGX_HTTP_SNAP_TS_WIB, 0, 0,
          "WIB flag: an empty fraction");

    ngx_http_snap_format_wib(1608177300, buf);
    is_str((char *) buf, 25, "2020-12-17T10:55:00+07:00", "format in WIB");
    ngx_http_snap_format_wib(1709658000, buf);
    is_str((char *) buf, 25, "2024-03-06T00:00:00+07:00", "WIB midnight");

    ok(ngx_http_snap_wib_day(1709658000)
       == ngx_http_snap_wib_day(1709658000 + 86399)
       && ngx_http_snap_wib_day(1709658000 - 1)
          == ngx_http_snap_wib_day(1709658000) - 1,
       "WIB day changes at 00:00 +07:00");
}


static void
b64_bad(const char *s, int url, const char *name)
{
    size_t         n;
    unsigned char  out[64];

    ok(ngx_http_snap_base64_decode(out, &n, (const unsigned char *) s,
                                   strlen(s), url) != 0, name);
}


static void
test_base64(void)
{
    int            rc;
    size_t         i, n, m;
    unsigned char  in[64], enc[128], dec[128];

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (unsigned char) (i * 37 + 11);
    }

    for (i = 0; i <= 8; i++) {
        n = ngx_http_snap_base64_encode(enc, in, i, 0);
        rc = ngx_http_snap_base64_decode(dec, &m, enc, n, 0);
        ok(rc == (i ? NGX_HTTP_SNAP_LIB_OK : NGX_HTTP_SNAP_LIB_INVALID)
           && (i == 0 || (m == i && memcmp(dec, in, i) == 0)),
           "base64 round trip (empty is refused)");

        n = ngx_http_snap_base64_encode(enc, in, i, 1);
        ok(ngx_http_snap_base64_decode(dec, &m, enc, n, 1) == 0 && m == i
           && memcmp(dec, in, i) == 0, "base64url round trip");
    }

    b64_bad("QQ", 0, "missing padding");
    b64_bad("QR==", 0, "stray bits");
    b64_bad("QUI=QUI=", 0, "padding in the middle");
    b64_bad("QU I=", 0, "space");
    b64_bad("QUJD\n", 0, "newline");
    b64_bad("QU-_", 0, "url alphabet in standard");
    b64_bad("QU+/", 1, "standard alphabet in url");
    b64_bad("QUI=", 1, "padding in url");
    b64_bad("Q", 1, "one char");
    b64_bad("", 0, "empty");
    b64_bad("====", 0, "only padding");
}


static void
test_token(void)
{
    size_t                  n;
    unsigned char           tok[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    unsigned char           scratch[NGX_HTTP_SNAP_TOKEN_MAX_LEN];
    unsigned char           jti[16] = "0123456789abcdef";
    ngx_http_snap_key_t     keys[2];
    ngx_http_snap_claims_t  c;

    memset(keys, 0, sizeof(keys));
    keys[0].data = (const unsigned char *) "0123456789abcdef0123456789abcdef";
    keys[0].len = 32;
    keys[1].data = (const unsigned char *) "fedcba9876543210fedcba9876543210";
    keys[1].len = 32;

    n = ngx_http_snap_token_create(tok, &keys[0], jti,
                                   (const unsigned char *) "QoinSnap", 8,
                                   1700000000, 1700000900);
    ok(n > 0 && n < sizeof(tok), "token created");
    ok(memcmp(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0,
       "HS256 JWT header");

    ok(ngx_http_snap_token_verify(tok, n, keys, 1, scratch, &c) == 0
       && c.client_id_len == 8 && memcmp(c.client_id, "QoinSnap", 8) == 0
       && c.iat == 1700000000 && c.nbf == 1700000000 && c.exp == 1700000900,
       "token verifies, claims parsed");
    ok(ngx_http_snap_token_verify(tok, n, &keys[1], 1, scratch, &c) != 0,
       "other key refuses");
    ok(ngx_http_snap_token_verify(tok, n, keys, 2, scratch, &c) == 0,
       "rotation: any listed key verifies");

    tok[40] ^= 0x01;
    ok(ngx_http_snap_token_verify(tok, n, keys, 1, scratch, &c) != 0,
       "tampered claims refused");
    tok[40] ^= 0x01;

    ok(ngx_http_snap_token_verify(tok, n - 1, keys, 1, scratch, &c) != 0,
       "truncated signature refused");
    ok(ngx_http_snap_token_verify((const unsigned char *) "a.b.c", 5, keys, 1,
                                  scratch, &c) != 0, "garbage refused");

    ok(ngx_http_snap_token_parse_claims((const unsigned char *)
        "{\"jti\":\"0123456789abcdef0123456789abcdef\",\"clientId\":\"x\","
        "\"iat\":1,\"nbf\":1,\"exp\":2}", 81, &c) == 0,
       "claims parse");
    ok(ngx_http_snap_token_parse_claims((const unsigned char *)
        "{\"jti\":\"0123456789abcdef0123456789abcdef\",\"clientId\":\"x\","
        "\"iat\":1,\"nbf\":1,\"exp\":2} ", 82, &c) != 0,
       "claims with trailing bytes refused");
}


static void
test_prepared_keys(void)
{
    int                  bits, l;
    unsigned char        a[64], b[64], longkey[200];
    ngx_http_snap_key_t  plain, prep;
    const char          *msg = "POST:/x:token:hash:2024-03-05T10:37:16Z";

    memset(longkey, 'k', sizeof(longkey));

    for (bits = 256; bits <= 512; bits += 256) {
        for (l = 1; l <= 200; l += 199) {
            memset(&plain, 0, sizeof(plain));
            plain.data = longkey;
            plain.len = l;
            prep = plain;

            ok(ngx_http_snap_key_prepare(&prep, bits) == 0
               && prep.inner != NULL, "key prepared");
            ngx_http_snap_hmac(&plain, bits, (const unsigned char *) msg,
                               strlen(msg), a);
            ngx_http_snap_hmac(&prep, bits, (const unsigned char *) msg,
                               strlen(msg), b);
            ok(memcmp(a, b, bits / 8) == 0,
               l > 128 ? "prepared HMAC equals HMAC() for a key over the "
                         "block size" : "prepared HMAC equals HMAC()");
            ngx_http_snap_key_free(&prep);
        }
    }
}


static void
test_headers(void)
{
    ok(ngx_http_snap_header_value_ok((const unsigned char *)
                                     "5f0e2c8a-1b7e-4c1a-9d5e-2f9c3b4a1e7d",
                                     36, 36), "UUID is a valid external id");
    ok(!ngx_http_snap_header_value_ok((const unsigned char *)
                                      "0123456789012345678901234567890123456",
                                      37, 36), "37 characters refused");
    ok(!ngx_http_snap_header_value_ok((const unsigned char *) "a\001b", 3, 36),
       "control character refused");
    ok(!ngx_http_snap_header_value_ok((const unsigned char *) "\xc3\xa9", 2,
                                      36), "non-ASCII refused");
}


/*
 * A body alone: JSON or not, and in one pass the same SNAP hash as the
 * minifier gives
 */

static void
json_case(const char *in, int valid, const char *name)
{
    int            rc;
    unsigned char  hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];
    unsigned char  want[NGX_HTTP_SNAP_SHA256_HEX_LEN];

    rc = ngx_http_snap_body_check((const unsigned char *) in, strlen(in),
                                  NULL, NULL, 0, hex);

    ok((rc == NGX_HTTP_SNAP_FIELD_OK) == valid
       && ngx_http_snap_body_hash((const unsigned char *) in, strlen(in),
                                  want) == 0
       && memcmp(hex, want, sizeof(hex)) == 0, name);
}


/* a body against fields (NULL-path terminated): the result and the path */

static void
fields_case(const ngx_http_snap_field_t *fields, const char *body, int want,
    const char *want_path, const char *name)
{
    int                      rc;
    char                     err[256];
    size_t                   n;
    void                    *mem;
    ngx_http_snap_schema_t  *schema;

    for (n = 0; fields[n].path; n++) {
        /* void */
    }

    mem = malloc(ngx_http_snap_schema_size(fields, n));
    schema = ngx_http_snap_schema_init(mem, fields, n);

    rc = schema ? ngx_http_snap_json_check((const unsigned char *) body,
                                           strlen(body), schema, err,
                                           sizeof(err), NULL, NULL)
                : -1;

    ok(rc == want && (want_path == NULL || strcmp(err, want_path) == 0),
       name);

    if (rc != want || (want_path && strcmp(err, want_path) != 0)) {
        printf("# got %d \"%s\", want %d \"%s\"\n", rc,
               rc > 0 ? err : "", want, want_path ? want_path : "");
    }

    free(mem);
}


#define F(path, type, fmt, req)  { path, NGX_HTTP_SNAP_JSON_##type,          \
                                   NGX_HTTP_SNAP_FMT_##fmt, req, 0 }
#define END                      { NULL, 0, 0, 0, 0 }

#define OK       NGX_HTTP_SNAP_FIELD_OK
#define MISSING  NGX_HTTP_SNAP_FIELD_MISSING
#define BAD      NGX_HTTP_SNAP_FIELD_BAD
#define JSON     NGX_HTTP_SNAP_FIELD_JSON


static void
test_json(void)
{
    char  deep[2 * NGX_HTTP_SNAP_JSON_DEPTH + 3];

    static const ngx_http_snap_field_t  items[] = {
        F("items[].id", ANY, NONE, 1), END
    };

    static const ngx_http_snap_field_t  amount[] = {
        F("amount", OBJECT, NONE, 1),
        F("amount.value", STRING, AMOUNT, 1),
        F("amount.currency", STRING, CURRENCY, 1),
        F("note", STRING, NONE, 0),
        F("n", INTEGER, NONE, 0),
        END
    };

    static const ngx_http_snap_field_t  nested[] = {
        F("a.list[].price.value", SCALAR, NONE, 1),
        F("a.list[]", OBJECT, NONE, 1),
        F("a.list", ARRAY, NONE, 0),
        END
    };

    static const ngx_http_snap_field_t  optional[] = {
        F("info.rrn", STRING, NONE, 0),
        F("info.ref", STRING, NONE, 1),
        END
    };

    static const ngx_http_snap_field_t  grant[] = {
        F("grantType", STRING, GRANT, 1), END
    };

    {
        /*
         * the skip stops at a special byte wherever it sits, never past
         * it, and no earlier than the eight-byte block that holds it
         */
        int                   i, good;
        size_t                k;
        unsigned char         buf[72];
        const unsigned char  *r, *r0;
        const char            special[] = { '"', '\\', '\n', 0x01, 0x1f,
                                            (char) 0x80, (char) 0xff };

        good = 1;

        for (k = 0; k < sizeof(special); k++) {
            for (i = 0; i < (int) sizeof(buf); i++) {
                memset(buf, 'a', sizeof(buf));
                buf[i] = (unsigned char) special[k];

                r = ngx_http_snap_skip_text(buf, buf + sizeof(buf), 1);
                r0 = ngx_http_snap_skip_text(buf, buf + sizeof(buf), 0);

                if (r > buf + i || r < buf + (i / 8) * 8) {
                    good = 0;
                }

                if ((unsigned char) special[k] < 0x80) {
                    if (r0 > buf + i || r0 < buf + (i / 8) * 8) {
                        good = 0;
                    }

                } else if (r0 != buf + sizeof(buf)) {
                    /* without high, a byte >= 0x80 is text */
                    good = 0;
                }
            }
        }

        memset(buf, (char) 0xc3, sizeof(buf));
        good &= ngx_http_snap_skip_text(buf, buf + sizeof(buf), 0)
                == buf + sizeof(buf);
        memset(buf, ' ', sizeof(buf));
        good &= ngx_http_snap_skip_text(buf, buf + sizeof(buf), 1)
                == buf + sizeof(buf);

        ok(good, "the text skip never passes a special byte, nor stops "
           "before its block");
    }

    {
        /* the SipHash paper's vectors: key 00..0f, messages 00.. */
        size_t         i;
        unsigned char  key[16], msg[15];

        for (i = 0; i < 16; i++) {
            key[i] = (unsigned char) i;
        }

        for (i = 0; i < 15; i++) {
            msg[i] = (unsigned char) i;
        }

        ok(ngx_http_snap_siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL,
           "SipHash-2-4 of nothing");
        ok(ngx_http_snap_siphash(key, msg, 15) == 0xa129ca6149be45e5ULL,
           "SipHash-2-4 of 15 bytes, the paper's example");
    }

    {
        /* equal only when every byte is, at every length and position */
        size_t         len, i;
        int            good;
        unsigned char  a[40], b[40];

        good = 1;

        for (len = 0; len <= sizeof(a); len++) {
            memset(a, 'x', sizeof(a));
            memset(b, 'x', sizeof(b));
            good &= ngx_http_snap_ct_equal(a, b, len);

            for (i = 0; i < len; i++) {
                b[i] ^= 0x01;
                good &= !ngx_http_snap_ct_equal(a, b, len);
                b[i] ^= 0x01;
            }
        }

        ok(good, "constant-time equality sees a difference anywhere");
    }

    json_case("{\"a\":1}", 1, "object");
    json_case(" [1, -0.5e+3, \"x\", true, false, null] ", 1, "array");
    json_case("\"\\u00e9\\ud83d\\ude00\\n\"", 1, "escapes and a pair");
    json_case("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", 1, "UTF-8 text");
    json_case("{\"a\":1} \r\n", 1, "trailing whitespace allowed");
    json_case("\n{\n  \"a\" : [ 1 , \"b c\\\" \" ] ,\t\"d\":{ }\r\n}", 1,
              "pretty-printed: hashed as the minifier does");
    json_case("{\"a\":1}x", 0, "trailing garbage refused");
    json_case("{\"a\":1}{}", 0, "two values refused");
    json_case("false[1]", 0, "a value then more refused");
    json_case("{\"a\":", 0, "truncated refused");
    json_case("", 0, "nothing refused");
    json_case("[\x0e" "1]", 0, "a control character as whitespace refused");
    json_case("[\"a\x01" "b\"]", 0, "a raw control character in a string");
    json_case("[\"a\tb\"]", 0, "a raw tab in a string");
    json_case("\xef\xbb\xbf{}", 0, "a byte order mark");
    json_case("[\"\xc3\"]", 0, "a truncated UTF-8 sequence");
    json_case("[\"\xc0\xaf\"]", 0, "an overlong UTF-8 sequence");
    json_case("[\"\xed\xa0\x80\"]", 0, "a UTF-8 encoded surrogate");
    json_case("[\"\xf4\x90\x80\x80\"]", 0, "beyond U+10FFFF");
    json_case("[\"\\ud800\"]", 0, "a lone high surrogate");
    json_case("[\"\\udc00\"]", 0, "a lone low surrogate");
    json_case("[\"\\x41\"]", 0, "an unknown escape");
    json_case("[\"\\u12g4\"]", 0, "a bad \\u escape");
    json_case("[01]", 0, "a leading zero");
    json_case("[+1]", 0, "a plus sign");
    json_case("[1.]", 0, "a dot and no digit");
    json_case("[.5]", 0, "no digit before the dot");
    json_case("[1e]", 0, "an exponent without digits");
    json_case("[-]", 0, "a lone minus");
    json_case("[1,]", 0, "a trailing comma in an array");
    json_case("{\"a\":1,}", 0, "a trailing comma in an object");
    json_case("{\"a\" 1}", 0, "no colon");
    json_case("{1:1}", 0, "a number as a name");
    json_case("[tru]", 0, "a cut literal");
    json_case("[nul", 0, "a cut literal at the end");

    memset(deep, '[', NGX_HTTP_SNAP_JSON_DEPTH);
    memset(deep + NGX_HTTP_SNAP_JSON_DEPTH, ']', NGX_HTTP_SNAP_JSON_DEPTH);
    deep[2 * NGX_HTTP_SNAP_JSON_DEPTH] = '\0';
    json_case(deep, 1, "1000 levels are taken");

    memmove(deep + 1, deep, 2 * NGX_HTTP_SNAP_JSON_DEPTH + 1);
    deep[0] = '[';
    strcat(deep, "]");
    json_case(deep, 0, "1001 levels are refused");

    ok(ngx_http_snap_field_path_ok("a.b")
       && ngx_http_snap_field_path_ok("items[].id")
       && ngx_http_snap_field_path_ok("a[].b[].c"), "valid paths");
    ok(!ngx_http_snap_field_path_ok("a..b")
       && !ngx_http_snap_field_path_ok("a.")
       && !ngx_http_snap_field_path_ok("[]")
       && !ngx_http_snap_field_path_ok("a[]b")
       && !ngx_http_snap_field_path_ok("a[x]"), "invalid paths");

    fields_case(ngx_http_snap_test_profile(52),
        "{\"amount\":{\"currency\":\"IDR\",\"value\":\"20.00\"},"
        "\"latestTransactionStatus\":\"00\","
        "\"originalPartnerReferenceNo\":\"1\","
        "\"originalReferenceNo\":\"T\",\"transactionStatusDesc\":\"S\"}",
        OK, NULL, "profile 52 passes a minimal body");

    fields_case(items, "{\"items\":[{\"id\":1},{\"x\":2}]}", MISSING,
                "items[1].id", "array element named by index");
    fields_case(items, "{\"items\":[{\"id\":1},{\"id\":null}]}", MISSING,
                "items[1].id", "a member set to null is missing");
    fields_case(items, "{\"items\":[]}", OK, NULL, "an empty array passes");
    fields_case(items, "{\"items\":{}}", BAD, "items",
                "an object where an array is expected");
    fields_case(items, "{\"items\":[{\"id\":1},7]}", BAD, "items[1].id",
                "an element that is no object");
    fields_case(items, "{\"x\":1}", MISSING, "items", "the array missing");
    fields_case(items, "[]", JSON, NULL, "a body that is no object");
    fields_case(items, "{\"items\":[{\"id\":1,\"id\":2}]}", JSON, NULL,
                "a checked member given twice");
    fields_case(items, "{\"x\":1,\"x\":2,\"items\":[]}", OK, NULL,
                "an unchecked member given twice");
    fields_case(items, "{\"it\\u0065ms\":[{\"i\\u0064\":1}]}", OK, NULL,
                "escaped names match");

    fields_case(amount, "{\"amount\":{\"value\":\"1.00\",\"currency\":"
                "\"IDR\"},\"note\":\"x\",\"n\":2e1}", OK, NULL,
                "formats and an integer pass");
    fields_case(amount, "{\"amount\":{\"value\":\"1.0\",\"currency\":"
                "\"IDR\"}}", BAD, "amount.value", "an amount format");
    fields_case(amount, "{\"amount\":{\"value\":\"1.00\",\"currency\":"
                "\"I\\u0044R\"}}", OK, NULL, "a format on the decoded text");
    fields_case(amount, "{\"amount\":{\"value\":\"1.00\"}}", MISSING,
                "amount.currency", "a missing member of an object");
    fields_case(amount, "{\"amount\":\"1.00\"}", BAD, "amount",
                "the first field of the list wins");
    fields_case(amount, "{\"amount\":{\"value\":\"1.00\",\"currency\":"
                "\"IDR\"},\"n\":1.5}", BAD, "n", "a fraction is no integer");
    fields_case(amount, "{\"amount\":{\"value\":\"1.00\",\"currency\":"
                "\"IDR\"},\"n\":3e9}", BAD, "n", "beyond an int");
    fields_case(amount, "{\"note\":1,\"amount\":{\"value\":\"x\",\"currency\":"
                "\"IDR\"}}", BAD, "amount.value",
                "list order, not body order");

    fields_case(nested, "{\"a\":{\"list\":[{\"price\":{\"value\":1}},"
                "{\"price\":{\"value\":[]}}]}}", BAD, "a.list[1].price.value",
                "the element named deep down");
    fields_case(nested, "{\"a\":{\"list\":[{\"price\":7}]}}", BAD,
                "a.list[0].price.value", "a scalar where an object is");
    fields_case(nested, "{\"a\":{\"list\":[null]}}", BAD, "a.list[0].price",
                "a null element is no object");
    fields_case(nested, "{\"a\":5}", BAD, "a.list",
                "a scalar where the path goes on");

    fields_case(optional, "{}", MISSING, "info",
                "an optional parent of a required field");
    fields_case(optional, "{\"info\":{\"ref\":\"1\"}}", OK, NULL,
                "an optional field left out");

    fields_case(grant, "{\"grantType\":\"client_credentials\"}", OK, NULL,
                "the grant type");
    fields_case(grant, "{\"grantType\":\"password\"}", BAD, "grantType",
                "another grant type");
}



static void
resp_is(const char *in, size_t len, long want, int type, const char *str,
    const char *name)
{
    long                        n;
    ngx_http_snap_resp_reply_t  r;

    n = ngx_http_snap_resp_parse((const unsigned char *) in, len, &r);

    ok(n == want && (want <= 0 || (r.type == type
                                   && (str == NULL
                                       || (r.len == strlen(str)
                                           && memcmp(r.str, str, r.len)
                                              == 0)))),
       name);
}


static void
test_resp(void)
{
    size_t                      len;
    unsigned char               buf[128];
    ngx_http_snap_resp_arg_t    args[3];
    ngx_http_snap_resp_reply_t  r;

    args[0].data = (const unsigned char *) "SET";
    args[0].len = 3;
    args[1].data = (const unsigned char *) "k\r\n\0";
    args[1].len = 4;
    args[2].data = (const unsigned char *) "";
    args[2].len = 0;

    len = ngx_http_snap_resp_command_len(args, 3);
    ok(ngx_http_snap_resp_command(buf, args, 3) == len
       && len == sizeof("*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n") - 1
       && memcmp(buf, "*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n", len)
          == 0,
       "resp: a command is an array of binary-safe bulk strings");
    ok(ngx_http_snap_resp_parse(buf, len, &r) == (long) len
       && r.type == NGX_HTTP_SNAP_RESP_ARRAY && r.integer == 3,
       "resp: and parses back as one array of 3");

    resp_is("+OK\r\n", 5, 5, NGX_HTTP_SNAP_RESP_STATUS, "OK", "resp: +OK");
    resp_is("+OK\r\n+OK\r\n", 10, 5, NGX_HTTP_SNAP_RESP_STATUS, "OK",
            "resp: one reply at a time, pipelined");
    resp_is("+\r\n", 3, 3, NGX_HTTP_SNAP_RESP_STATUS, "",
            "resp: an empty status");
    resp_is("-ERR wrong number\r\n", 19, 19, NGX_HTTP_SNAP_RESP_ERROR,
            "ERR wrong number", "resp: an error reply");
    resp_is("-NOAUTH Authentication required.\r\n", 34, 34,
            NGX_HTTP_SNAP_RESP_ERROR, "NOAUTH Authentication required.",
            "resp: NOAUTH");
    resp_is("$-1\r\n", 5, 5, NGX_HTTP_SNAP_RESP_NIL, NULL,
            "resp: the null bulk SET NX answers for a used key");
    resp_is("*-1\r\n", 5, 5, NGX_HTTP_SNAP_RESP_NIL, NULL,
            "resp: the null array");
    resp_is(":1\r\n", 4, 4, NGX_HTTP_SNAP_RESP_INTEGER, NULL,
            "resp: an integer");
    ngx_http_snap_resp_parse((const unsigned char *) ":-42\r\n", 6, &r);
    ok(r.integer == -42, "resp: a negative integer");
    resp_is("$5\r\nhe\r\no\r\n", 11, 11, NGX_HTTP_SNAP_RESP_BULK, "he\r\no",
            "resp: a bulk string holds CRLF");
    resp_is("$0\r\n\r\n", 6, 6, NGX_HTTP_SNAP_RESP_BULK, "",
            "resp: an empty bulk string");
    resp_is("*2\r\n$1\r\na\r\n*1\r\n:1\r\n", 19, 19,
            NGX_HTTP_SNAP_RESP_ARRAY, NULL,
            "resp: nested arrays skipped whole");

    resp_is("", 0, 0, 0, NULL, "resp: nothing yet");
    resp_is("+O", 2, 0, 0, NULL, "resp: half a status");
    resp_is("+OK\r", 4, 0, 0, NULL, "resp: a status without its LF yet");
    resp_is("$5\r\nhel", 8, 0, 0, NULL, "resp: half a bulk");
    resp_is("$5\r\nhello\r", 10, 0, 0, NULL, "resp: a bulk without its LF");
    resp_is("*2\r\n:1\r\n", 8, 0, 0, NULL, "resp: half an array");

    resp_is("?\r\n", 3, -1, 0, NULL, "resp: an unknown type is refused");
    resp_is("+OK\n", 4, -1, 0, NULL, "resp: a bare LF is refused");
    resp_is("+O\rK\r\n", 6, -1, 0, NULL, "resp: a CR inside a line");
    resp_is(":\r\n", 3, -1, 0, NULL, "resp: an empty integer");
    resp_is(":12a\r\n", 6, -1, 0, NULL, "resp: a bad integer");
    resp_is(":12345678901234567890\r\n", 23, -1, 0, NULL,
            "resp: an integer too long");
    resp_is("$-2\r\n", 5, -1, 0, NULL, "resp: a negative bulk length");
    resp_is("$3\r\nabcde", 9, -1, 0, NULL,
            "resp: a bulk not ended by CRLF");
    resp_is("$2000000\r\n", 10, -1, 0, NULL, "resp: a bulk over 1 MB");
    resp_is("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            40, -1, 0, NULL, "resp: arrays nested over 8 deep");

    memset(buf, 'x', sizeof(buf));
    buf[0] = '+';
    ok(ngx_http_snap_resp_parse(buf, sizeof(buf), &r) == 0,
       "resp: a long status line waits for its end");
}


/* a whole reply parsed from a C string */
static int
reply_of(const char *in, ngx_http_snap_resp_reply_t *r)
{
    return ngx_http_snap_resp_parse((const unsigned char *) in, strlen(in), r)
           == (long) strlen(in);
}


static void
sentinel_is(const char *in, int rc, const char *host, unsigned port,
    const char *name)
{
    int                         got;
    size_t                      len;
    unsigned                    p;
    const unsigned char        *h;
    ngx_http_snap_resp_reply_t  r;

    h = NULL;

    got = reply_of(in, &r)
          ? ngx_http_snap_redis_sentinel_master(&r, &h, &len, &p)
          : -100;

    ok(got == rc
       && (rc != NGX_HTTP_SNAP_LIB_OK
           || (len == strlen(host) && (len == 0 || memcmp(h, host, len) == 0)
               && p == port)),
       name);
}


static void
test_primary(void)
{
    size_t                      n;
    ngx_http_snap_resp_reply_t  r, e[4];

    ok(reply_of("*3\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n$2\r\nbc\r\n", &r)
       && (n = ngx_http_snap_resp_elements(&r, e, 4)) == 3
       && e[0].type == NGX_HTTP_SNAP_RESP_BULK && e[0].len == 1
       && e[1].type == NGX_HTTP_SNAP_RESP_ARRAY && e[1].integer == 2
       && e[2].type == NGX_HTTP_SNAP_RESP_BULK && e[2].len == 2
       && memcmp(e[2].str, "bc", 2) == 0,
       "resp: an array's elements, a nested array whole");
    ok(reply_of("*3\r\n:1\r\n:2\r\n:3\r\n", &r)
       && ngx_http_snap_resp_elements(&r, e, 2) == 2 && e[1].integer == 2,
       "resp: only the elements asked for");
    ok(reply_of(":1\r\n", &r) && ngx_http_snap_resp_elements(&r, e, 2) == 0,
       "resp: no elements in what is no array");
    ok(reply_of("*0\r\n", &r) && ngx_http_snap_resp_elements(&r, e, 2) == 0,
       "resp: none in an empty array");

#define err_is(s, kind, name)                                                \
    ok(ngx_http_snap_redis_error((const unsigned char *) s, sizeof(s) - 1)   \
       == NGX_HTTP_SNAP_REDIS_ERR_##kind, name)

    err_is("READONLY You can't write against a read only replica.", READONLY,
           "redis: -READONLY is a replica");
    err_is("LOADING Redis is loading the dataset in memory", LOADING,
           "redis: -LOADING");
    err_is("MASTERDOWN Link with MASTER is down and "
           "replica-serve-stale-data is set to 'no'.", MASTERDOWN,
           "redis: -MASTERDOWN");
    err_is("MOVED 3999 127.0.0.1:6381", CLUSTER, "redis: -MOVED is cluster");
    err_is("ASK 3999 127.0.0.1:6381", CLUSTER, "redis: -ASK is cluster");
    err_is("CROSSSLOT Keys in request don't hash to the same slot", CLUSTER,
           "redis: -CROSSSLOT is cluster");
    err_is("CLUSTERDOWN The cluster is down", CLUSTER,
           "redis: -CLUSTERDOWN is cluster");
    err_is("ERR SELECT is not allowed in cluster mode", CLUSTER,
           "redis: SELECT refused in cluster mode");
    err_is("NOREPLICAS Not enough good replicas to write.", NOREPLICAS,
           "redis: -NOREPLICAS");
    err_is("ERR wrong number of arguments", OTHER, "redis: another error");
    err_is("READONLYX", OTHER, "redis: a prefix is a whole word");
    err_is("READ", OTHER, "redis: a part of a prefix is not it");
    err_is("", OTHER, "redis: an empty error");

    ok(reply_of("*3\r\n$6\r\nmaster\r\n:3129\r\n*1\r\n*3\r\n"
                "$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$4\r\n3129\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 1,
       "redis: ROLE of a primary, with a replica");
    ok(reply_of("*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 1,
       "redis: ROLE of a primary alone");
    ok(reply_of("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9000\r\n"
                "$9\r\nconnected\r\n:3167\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 0,
       "redis: ROLE of a replica");
    ok(reply_of("*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 0,
       "redis: ROLE of a Sentinel");
    ok(reply_of("$6\r\nmaster\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 0,
       "redis: \"master\" outside an array is no ROLE answer");
    ok(reply_of("*1\r\n$7\r\nmasterx\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 0,
       "redis: nor a longer word");
    ok(reply_of("-ERR unknown command 'ROLE'\r\n", &r)
       && ngx_http_snap_redis_master_ok(&r) == 0,
       "redis: nor an error");

    sentinel_is("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n",
                NGX_HTTP_SNAP_LIB_OK, "127.0.0.1", 6380,
                "sentinel: the primary's address");
    sentinel_is("*2\r\n$7\r\n::1%eth\r\n$4\r\n6380\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0,
                "sentinel: a host with a byte no host has");
    sentinel_is("*2\r\n$3\r\n::1\r\n$5\r\n65535\r\n",
                NGX_HTTP_SNAP_LIB_OK, "::1", 65535, "sentinel: IPv6");
    sentinel_is("*2\r\n$14\r\nredis-1.local_\r\n$2\r\n80\r\n",
                NGX_HTTP_SNAP_LIB_OK, "redis-1.local_", 80,
                "sentinel: a host name");
    sentinel_is("*-1\r\n", NGX_HTTP_SNAP_LIB_OK, "", 0,
                "sentinel: the null answer, a name it does not know");
    sentinel_is("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n65536\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0,
                "sentinel: a port over 65535");
    sentinel_is("*2\r\n$9\r\n127.0.0.1\r\n$1\r\n0\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0, "sentinel: port 0");
    sentinel_is("*2\r\n$9\r\n127.0.0.1\r\n$5\r\n06380\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0,
                "sentinel: a port with a leading zero");
    sentinel_is("*2\r\n$9\r\n127.0.0.1\r\n:6380\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0,
                "sentinel: a port that is no bulk string");
    sentinel_is("*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n$1\r\nx\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0,
                "sentinel: three elements");
    sentinel_is("*2\r\n$0\r\n\r\n$4\r\n6380\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0, "sentinel: no host");
    sentinel_is("-ERR No such master with that name\r\n",
                NGX_HTTP_SNAP_LIB_INVALID, NULL, 0, "sentinel: an error");
    sentinel_is("$-1\r\n", NGX_HTTP_SNAP_LIB_OK, "", 0,
                "sentinel: the null bulk, as the null array");

#define cluster_is(s, want, name)                                            \
    ok(ngx_http_snap_redis_cluster_ok((const unsigned char *) s,             \
                                      sizeof(s) - 1) == want, name)

    cluster_is("# Cluster\r\ncluster_enabled:1\r\n", 1,
               "redis: INFO cluster of a cluster node");
    cluster_is("# Cluster\r\ncluster_enabled:0\r\n", 0,
               "redis: INFO cluster of a standalone server");
    cluster_is("cluster_enabled:1", 1, "redis: the line alone");
    cluster_is("# Cluster\r\ncluster_enabled:10\r\n", 0,
               "redis: a longer value is not 1");
    cluster_is("# x_cluster_enabled:1\r\n", 0,
               "redis: only at the start of a line");
    cluster_is("", 0, "redis: nothing");
}


static void
query_is(const char *in, const char *want, const char *name)
{
    size_t         len;
    unsigned char  out[512], scratch[256];

    ok(ngx_http_snap_query_sorted(out, &len, (const unsigned char *) in,
                                  strlen(in), scratch)
       == NGX_HTTP_SNAP_LIB_OK
       && len == strlen(want) && memcmp(out, want, len) == 0, name);
}


static void
test_query(void)
{
    size_t         len;
    unsigned char  out[1024], scratch[512];
    char           many[512];
    int            i;

    query_is("b=2&a=1", "a=1&b=2", "sorted_query: sorted by name");
    query_is("a=2&a=10&a=1", "a=1&a=10&a=2",
             "sorted_query: a repeated name sorted by value, as bytes");
    query_is("b=&a", "a&b=", "sorted_query: empty values and bare names");
    query_is("q=a+b", "q=a%20b", "sorted_query: '+' is a space, %20");
    query_is("p=x%2fy&p2=x/y", "p=x%2Fy&p2=x%2Fy",
             "sorted_query: %2f and '/' both %2F, upper-case hex");
    query_is("n=caf%C3%A9&m=caf\xc3\xa9", "m=caf%C3%A9&n=caf%C3%A9",
             "sorted_query: non-ASCII percent-encoded byte by byte");
    query_is("k=-._~AZaz09", "k=-._~AZaz09",
             "sorted_query: unreserved bytes stay as they are");
    query_is("a=%zz&b=%4", "a=%25zz&b=%254",
             "sorted_query: a broken escape is a '%', encoded");
    query_is("&&a=1&&", "a=1", "sorted_query: empty parameters dropped");
    query_is("", "", "sorted_query: an empty query");
    query_is("a=b=c", "a=b%3Dc", "sorted_query: split at the first '='");

    many[0] = '\0';
    for (i = 0; i < 65; i++) {
        strcat(many, "a=1&");
    }
    ok(ngx_http_snap_query_sorted(out, &len, (unsigned char *) many,
                                  strlen(many), scratch)
       == NGX_HTTP_SNAP_LIB_INVALID,
       "sorted_query: over 64 parameters are not canonicalised");
}


static void
escaped_is(const char *in, unsigned escape, const char *want,
    const char *name)
{
    unsigned char  got[NGX_HTTP_SNAP_SHA256_HEX_LEN];
    unsigned char  exp[NGX_HTTP_SNAP_SHA256_HEX_LEN];

    ok(ngx_http_snap_body_hash_escaped((const unsigned char *) in,
                                       strlen(in), escape, got)
       == NGX_HTTP_SNAP_LIB_OK
       && ngx_http_snap_body_hash((const unsigned char *) want,
                                  strlen(want), exp) == 0
       && memcmp(got, exp, sizeof(got)) == 0, name);
}


static void
test_escape(void)
{
    unsigned char  hex[NGX_HTTP_SNAP_SHA256_HEX_LEN];
    unsigned       php, py;

    php = NGX_HTTP_SNAP_ESCAPE_SLASH | NGX_HTTP_SNAP_ESCAPE_UNICODE;
    py = NGX_HTTP_SNAP_ESCAPE_UNICODE;

    escaped_is("{\"u\": \"http://x/y\"}", php, "{\"u\":\"http:\\/\\/x\\/y\"}",
               "php_json: '/' as '\\/', whitespace minified");
    escaped_is("{\"u\":\"http://x/y\"}", py, "{\"u\":\"http://x/y\"}",
               "ascii_json: '/' as it is");
    escaped_is("{\"a\":\"caf\xc3\xa9\"}", php, "{\"a\":\"caf\\u00e9\"}",
               "php_json: two-byte UTF-8 as \\u00e9, lower-case hex");
    escaped_is("{\"a\":\"\xe2\x82\xac\"}", py, "{\"a\":\"\\u20ac\"}",
               "ascii_json: three-byte UTF-8");
    escaped_is("{\"a\":\"\xf0\x9f\x98\x80\"}", py,
               "{\"a\":\"\\ud83d\\ude00\"}",
               "ascii_json: beyond the BMP as a surrogate pair");
    escaped_is("{\"a\":\"\\/ \\\\/ \\u00e9\"}", php,
               "{\"a\":\"\\/ \\\\\\/ \\u00e9\"}",
               "php_json: escapes already there stay, an escaped "
               "backslash before '/' does not hide it");
    escaped_is("{\"caf\xc3\xa9\":1}", py, "{\"caf\\u00e9\":1}",
               "ascii_json: member names too");
    ok(ngx_http_snap_body_hash_escaped((const unsigned char *) "{x", 2, php,
                                       hex)
       == NGX_HTTP_SNAP_LIB_INVALID, "php_json: no JSON, no hash");
}

static int
reply_rc(const char *json, ngx_http_snap_token_reply_t *reply)
{
    return ngx_http_snap_token_reply((const unsigned char *) json,
                                     strlen(json), reply);
}


static int
code_of(const char *json, char *code)
{
    int  rc;

    rc = ngx_http_snap_response_code((const unsigned char *) json,
                                     strlen(json), (unsigned char *) code);
    code[rc ? 7 : 0] = '\0';

    return rc;
}


/* an answer with a token of len characters, expiresIn an integer */

static int
token_of_len(size_t len, ngx_http_snap_token_reply_t *reply)
{
    int     rc;
    char   *json;
    size_t  i, n;

    json = malloc(len + 128);
    if (json == NULL) {
        return -1;
    }

    n = sprintf(json, "{\"responseCode\":\"2007300\",\"tokenType\":"
                      "\"bearer\",\"expiresIn\":900,\"accessToken\":\"");

    for (i = 0; i < len; i++) {
        json[n++] = "abcdefghij0123456789.-_"[i % 23];
    }

    strcpy(json + n, "\"}");

    rc = ngx_http_snap_token_reply((const unsigned char *) json, n + 2,
                                   reply);
    free(json);

    return rc;
}


static void
test_outbound(void)
{
    char                          code[8];
    size_t                        n, len;
    EVP_PKEY                     *pkey;
    EVP_PKEY_CTX                 *signer, *verifier;
    unsigned char                 id[NGX_HTTP_SNAP_OUT_ID_LEN], sig[512];
    unsigned char                 digits[8], rnd[8];
    ngx_http_snap_token_reply_t   r;

    ok(reply_rc("{\"responseCode\":\"2007300\",\"responseMessage\":"
                "\"Successful\",\"accessToken\":\"eyJhbGc.x_y-z\","
                "\"tokenType\":\"Bearer\",\"expiresIn\":\"900\"}", &r)
       == NGX_HTTP_SNAP_LIB_OK && r.expires_in == 900,
       "token reply: SNAP's answer, expiresIn as a string");
    is_str((char *) r.token, r.token_len, "eyJhbGc.x_y-z",
           "token reply: the accessToken");
    ok(reply_rc(" {\"accessToken\" : \"a\\/b\", \"expiresIn\" : 60,"
                "\"additionalInfo\":{\"x\":[1,{\"y\":\"}\"}]},"
                "\"responseCode\":\"2007300\"} ", &r)
       == NGX_HTTP_SNAP_LIB_OK && r.expires_in == 60,
       "token reply: a number, nested members skipped, any order");
    is_str((char *) r.token, r.token_len, "a/b",
           "token reply: \\/ decoded");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"t\"}", &r)
       == NGX_HTTP_SNAP_LIB_OK && r.expires_in == NGX_HTTP_SNAP_OUT_EXPIRES,
       "token reply: no expiresIn, SNAP's 900");
    ok(token_of_len(3000, &r) == NGX_HTTP_SNAP_LIB_OK && r.token_len == 3000
       && r.expires_in == 900 && r.token_over == 0,
       "token reply: a token of 3000 characters, integer expiresIn, "
       "tokenType in lower case");
    ok(token_of_len(NGX_HTTP_SNAP_OUT_TOKEN_MAX, &r) == NGX_HTTP_SNAP_LIB_OK
       && r.token_len == NGX_HTTP_SNAP_OUT_TOKEN_MAX,
       "token reply: a token as long as a slot holds");
    ok(token_of_len(NGX_HTTP_SNAP_OUT_TOKEN_MAX + 1, &r)
       == NGX_HTTP_SNAP_LIB_INVALID
       && r.token_over == NGX_HTTP_SNAP_OUT_TOKEN_MAX + 1,
       "token reply: one byte longer refused, with its length");
    ok(reply_rc("{\"responseCode\":\"4017300\",\"responseMessage\":"
                "\"Unauthorized. [Signature]\"}", &r)
       == NGX_HTTP_SNAP_LIB_INVALID && r.has_code
       && memcmp(r.code, "4017300", 7) == 0,
       "token reply: a refusal, its code kept for the log");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"a b\"}",
                &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: a token a header cannot carry");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"a\\nb\"}",
                &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: other escapes refused");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"\"}", &r)
       == NGX_HTTP_SNAP_LIB_INVALID, "token reply: an empty token");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":1}", &r)
       == NGX_HTTP_SNAP_LIB_INVALID, "token reply: a token not a string");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"t\","
                "\"expiresIn\":\"0\"}", &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: expiresIn 0");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"t\","
                "\"expiresIn\":-5}", &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: a negative expiresIn");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"t\","
                "\"expiresIn\":\"9e9\"}", &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: expiresIn not in digits");
    ok(reply_rc("{\"responseCode\":\"2007300\",\"accessToken\":\"t\"",
                &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: truncated JSON");
    ok(reply_rc("{\"accessToken\":\"t\"}", &r) == NGX_HTTP_SNAP_LIB_INVALID,
       "token reply: no responseCode");
    ok(reply_rc("[{\"responseCode\":\"2007300\",\"accessToken\":\"t\"}]", &r)
       == NGX_HTTP_SNAP_LIB_INVALID, "token reply: not an object");

    ok(code_of("{\"responseCode\":\"4015101\",\"responseMessage\":"
               "\"Invalid Token (B2B)\"}", code)
       && strcmp(code, "4015101") == 0, "response code: found");
    ok(code_of("{ \"data\": {\"responseCode\":\"2000000\"}, "
               "\"responseCode\" : \"4014701\" ", code)
       && strcmp(code, "4014701") == 0,
       "response code: the top level's, from a truncated answer");
    ok(!code_of("{\"responseMessage\":\"x\",\"respons", code),
       "response code: cut before it");
    ok(!code_of("{\"responseCode\":4015101}", code),
       "response code: a number is none");
    ok(!code_of("<html>401</html>", code), "response code: not JSON");

    rnd[0] = 255; rnd[1] = 7; rnd[2] = 250; rnd[3] = 249; rnd[4] = 10;
    n = ngx_http_snap_random_digits(digits, 3, rnd, 5);
    is_str((char *) digits, n, "790",
           "random digits: bytes >= 250 dropped, the rest mod 10");

    ngx_http_snap_external_id(id, (const unsigned char *)
                              "12345678901234567890", 42);
    is_str((char *) id, sizeof(id), "123456789012345678900000000000000042",
           "external id: prefix and a 16-digit counter");

    pkey = EVP_RSA_gen(2048);
    signer = pkey ? ngx_http_snap_rsa_signer(pkey) : NULL;
    verifier = pkey ? ngx_http_snap_rsa_verifier(pkey) : NULL;
    len = sizeof(sig);
    ok(signer && verifier
       && ngx_http_snap_rsa_sign(signer, (const unsigned char *) "M|ts", 4,
                                 sig, &len) == NGX_HTTP_SNAP_LIB_OK
       && len == 256
       && ngx_http_snap_rsa_verify(verifier, (const unsigned char *) "M|ts",
                                   4, sig, len) == NGX_HTTP_SNAP_LIB_OK
       && ngx_http_snap_rsa_verify(verifier, (const unsigned char *) "M|tS",
                                   4, sig, len) == NGX_HTTP_SNAP_LIB_INVALID,
       "rsa sign: SHA256withRSA that the verifier accepts, for its message "
       "only");
    EVP_PKEY_CTX_free(signer);
    EVP_PKEY_CTX_free(verifier);
    EVP_PKEY_free(pkey);
}


/* the Prometheus text format: escapes, headers, samples, exact sizes */

static void
test_prom(void)
{
    size_t                      n;
    unsigned char               buf[256];
    ngx_http_snap_prom_label_t  l[2];

    n = ngx_http_snap_prom_escape(buf, (const unsigned char *) "a\"b\\c\nd",
                                  7);
    is_str((char *) buf, n, "a\\\"b\\\\c\\nd",
           "prom: quote, backslash and line feed escaped");
    ok(ngx_http_snap_prom_escape(NULL, (const unsigned char *) "a\"b\\c\nd",
                                 7) == n,
       "prom: the escape's size pass agrees with its write");

    n = ngx_http_snap_prom_header(buf, "snap_x_total", "counter", "Help.");
    is_str((char *) buf, n,
           "# HELP snap_x_total Help.\n# TYPE snap_x_total counter\n",
           "prom: HELP and TYPE lines");

    l[0].name = "zone";
    l[0].value = (const unsigned char *) "i\"d";
    l[0].len = 3;
    l[1].name = "le";
    l[1].value = (const unsigned char *) "+Inf";
    l[1].len = 4;

    n = ngx_http_snap_prom_sample(buf, "snap_s", "_bucket", l, 2, 42, 0);
    is_str((char *) buf, n, "snap_s_bucket{zone=\"i\\\"d\",le=\"+Inf\"} 42\n",
           "prom: a sample with a suffix and escaped labels");
    ok(ngx_http_snap_prom_sample(NULL, "snap_s", "_bucket", l, 2, 42, 0) == n,
       "prom: the sample's size pass agrees with its write");

    n = ngx_http_snap_prom_sample(buf, "snap_s", NULL, NULL, 0, 0, 0);
    is_str((char *) buf, n, "snap_s 0\n", "prom: no labels, zero");

    n = ngx_http_snap_prom_sample(buf, "snap_s", "_sum", NULL, 0, 1234, 6);
    is_str((char *) buf, n, "snap_s_sum 0.001234\n",
           "prom: microseconds as seconds");
    n = ngx_http_snap_prom_sample(buf, "t", NULL, NULL, 0, 12345678, 6);
    is_str((char *) buf, n, "t 12.345678\n", "prom: seconds and a fraction");
    n = ngx_http_snap_prom_sample(buf, "t", NULL, NULL, 0, 0, 6);
    is_str((char *) buf, n, "t 0.000000\n", "prom: zero with decimals");

    n = ngx_http_snap_prom_sample(buf, "t", NULL, NULL, 0, UINT64_MAX, 0);
    is_str((char *) buf, n, "t 18446744073709551615\n",
           "prom: the largest counter");
}


/* the random pool: distinct draws, across refills, and never a parent's
   bytes in a forked child */

static void
test_random(void)
{
    int            fd[2], status, distinct;
    pid_t          child;
    size_t         i, j;
    unsigned char  a[16], b[16], big[5000], *seen;

    ok(ngx_http_snap_random(a, 16, (long) getpid()) == NGX_HTTP_SNAP_LIB_OK
       && ngx_http_snap_random(b, 16, (long) getpid())
          == NGX_HTTP_SNAP_LIB_OK
       && memcmp(a, b, 16) != 0, "random: two draws differ");

    seen = malloc(300 * 16);
    distinct = seen != NULL;

    for (i = 0; distinct && i < 300; i++) {
        distinct = ngx_http_snap_random(seen + i * 16, 16, (long) getpid())
                   == NGX_HTTP_SNAP_LIB_OK;

        for (j = 0; distinct && j < i; j++) {
            distinct = memcmp(seen + i * 16, seen + j * 16, 16) != 0;
        }
    }

    free(seen);
    ok(distinct, "random: 300 draws of 16 bytes, over a refill, all distinct");

    ok(ngx_http_snap_random(big, sizeof(big), (long) getpid())
       == NGX_HTTP_SNAP_LIB_OK, "random: more than the pool at once");

    /* the parent's pool is filled; a child must not hand out its bytes */
    if (pipe(fd) != 0) {
        ok(0, "random: pipe");
        return;
    }

    child = fork();

    if (child == 0) {
        close(fd[0]);
        (void) ngx_http_snap_random(a, 16, (long) getpid());
        (void) !write(fd[1], a, 16);
        _exit(0);
    }

    close(fd[1]);
    (void) ngx_http_snap_random(b, 16, (long) getpid());
    i = read(fd[0], a, 16);
    close(fd[0]);
    waitpid(child, &status, 0);

    ok(i == 16 && memcmp(a, b, 16) != 0,
       "random: a forked child draws bytes of its own, not its parent's");
}


int
main(void)
{
    test_vectors();
    test_minify();
    test_timestamp();
    test_base64();
    test_token();
    test_headers();
    test_json();
    test_prepared_keys();
    test_resp();
    test_primary();
    test_query();
    test_escape();
    test_outbound();
    test_prom();
    test_random();

    printf("1..%d\n", tests);
    printf("unit: %d passed, %d failed\n", tests - failures, failures);

    return failures ? 1 : 0;
}
