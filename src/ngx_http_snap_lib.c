
/*
 * Copyright (C) ngx_http_snap_module authors
 */


#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "ngx_http_snap_lib.h"


#define NGX_HTTP_SNAP_TOKEN_HEADER  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


static const EVP_MD *ngx_http_snap_md(int bits);
static EVP_MD_CTX *ngx_http_snap_work_ctx(void);
static int ngx_http_snap_digest_emit(void *data, const unsigned char *p,
    size_t len);
static int ngx_http_snap_digest_init(ngx_http_snap_digest_t *d);
static int ngx_http_snap_digest_update(ngx_http_snap_digest_t *d,
    const unsigned char *p, size_t len);
static int ngx_http_snap_digest_final(ngx_http_snap_digest_t *d,
    unsigned char *hex);
static int ngx_http_snap_digits(const unsigned char *p, size_t n, int *v);
static int64_t ngx_http_snap_days_from_civil(int64_t y, int m, int d);
static void ngx_http_snap_civil_from_days(int64_t z, int64_t *y, int *m,
    int *d);
static int ngx_http_snap_b64_value(unsigned char c, int url);
static uint64_t ngx_http_snap_le64(const unsigned char *p, size_t n);
static size_t ngx_http_snap_put_uint(unsigned char *p, int64_t v);
static const unsigned char *ngx_http_snap_expect(const unsigned char *p,
    const unsigned char *end, const char *lit);
static const unsigned char *ngx_http_snap_parse_uint(const unsigned char *p,
    const unsigned char *end, int64_t *v);


static const char  ngx_http_snap_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char  ngx_http_snap_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char  ngx_http_snap_hex[] = "0123456789abcdef";


/*
 * OpenSSL 3 looks a digest up by name on every EVP_sha256() use and
 * allocates on every EVP_MD_CTX_new(): fetched once and reused per
 * process instead, these cost less than the hashing itself.  nginx runs a
 * worker in one thread, so a per-process context is safe.
 */

static EVP_MD      *ngx_http_snap_sha256;
static EVP_MD      *ngx_http_snap_sha512;
static EVP_MD_CTX  *ngx_http_snap_work;


static const EVP_MD *
ngx_http_snap_md(int bits)
{
    if (bits == 512) {
        if (ngx_http_snap_sha512 == NULL) {
            ngx_http_snap_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
        }

        return ngx_http_snap_sha512 ? ngx_http_snap_sha512 : EVP_sha512();
    }

    if (ngx_http_snap_sha256 == NULL) {
        ngx_http_snap_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return ngx_http_snap_sha256 ? ngx_http_snap_sha256 : EVP_sha256();
}


static EVP_MD_CTX *
ngx_http_snap_work_ctx(void)
{
    if (ngx_http_snap_work == NULL) {
        ngx_http_snap_work = EVP_MD_CTX_new();
    }

    return ngx_http_snap_work;
}


/* before the process exits, or the module is unloaded with them */

void
ngx_http_snap_lib_cleanup(void)
{
    EVP_MD_free(ngx_http_snap_sha256);
    EVP_MD_free(ngx_http_snap_sha512);
    EVP_MD_CTX_free(ngx_http_snap_work);

    ngx_http_snap_sha256 = NULL;
    ngx_http_snap_sha512 = NULL;
    ngx_http_snap_work = NULL;
}


/*
 * SNAP's minify is "remove the whitespace outside JSON strings": every other
 * byte, escapes and number spellings included, goes through untouched, so
 * the hash matches what JSON.stringify(JSON.parse()) or json.Compact give
 * for ordinary bodies without re-serialising anything.  The state carries
 * over between calls, so a body split across buffers minifies the same.
 */

int
ngx_http_snap_minify(ngx_http_snap_minify_t *st, const unsigned char *p,
    size_t len, ngx_http_snap_emit_pt emit, void *data)
{
    const unsigned char  *start, *end;

    /* the bytes that end a run: outside strings, and inside them */
    static const unsigned char  out[256] = {
        [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['"'] = 2
    };
    static const unsigned char  in[256] = { ['"'] = 1, ['\\'] = 2 };

    start = p;
    end = p + len;

    while (p < end) {

        if (st->in_string) {
            if (st->escape) {
                st->escape = 0;
                p++;
                continue;
            }

            p = ngx_http_snap_skip_text(p, end, 0);

            while (p < end && !in[*p]) {
                p++;
            }

            if (p == end) {
                break;
            }

            if (*p == '\\') {
                st->escape = 1;

            } else {
                st->in_string = 0;
            }

            p++;
            continue;
        }

        while (p < end && !out[*p]) {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p == '"') {
            st->in_string = 1;
            p++;
            continue;
        }

        /* whitespace: emit the run before it, skip the whole gap */
        if (p > start && emit(data, start, p - start) != 0) {
            return -1;
        }

        while (p < end && out[*p] == 1) {
            p++;
        }

        start = p;
    }

    if (end > start && emit(data, start, end - start) != 0) {
        return -1;
    }

    return 0;
}


/* an emit callback that appends to *(unsigned char **) data */

int
ngx_http_snap_copy_emit(void *data, const unsigned char *p, size_t len)
{
    unsigned char  **dst = data;

    memcpy(*dst, p, len);
    *dst += len;

    return 0;
}


size_t
ngx_http_snap_minify_buf(const unsigned char *src, size_t len,
    unsigned char *dst)
{
    unsigned char           *p;
    ngx_http_snap_minify_t   st;

    memset(&st, 0, sizeof(st));
    p = dst;

    (void) ngx_http_snap_minify(&st, src, len, ngx_http_snap_copy_emit, &p);

    return p - dst;
}


static int
ngx_http_snap_digest_emit(void *data, const unsigned char *p, size_t len)
{
    EVP_MD_CTX  *md = data;

    return EVP_DigestUpdate(md, p, len) == 1 ? 0 : -1;
}


static int
ngx_http_snap_digest_init(ngx_http_snap_digest_t *d)
{
    memset(&d->minify, 0, sizeof(d->minify));

    return EVP_DigestInit_ex(d->md, ngx_http_snap_md(256), NULL) == 1
           ? 0 : -1;
}


static int
ngx_http_snap_digest_update(ngx_http_snap_digest_t *d, const unsigned char *p,
    size_t len)
{
    return ngx_http_snap_minify(&d->minify, p, len,
                                ngx_http_snap_digest_emit, d->md);
}


static int
ngx_http_snap_digest_final(ngx_http_snap_digest_t *d, unsigned char *hex)
{
    size_t         i;
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_DigestFinal_ex(d->md, md, &n) != 1 || n != 32) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        hex[2 * i] = ngx_http_snap_hex[md[i] >> 4];
        hex[2 * i + 1] = ngx_http_snap_hex[md[i] & 0x0f];
    }

    return 0;
}


int
ngx_http_snap_body_hash(const unsigned char *body, size_t len,
    unsigned char *hex)
{
    ngx_http_snap_digest_t  d;

    d.md = ngx_http_snap_work_ctx();
    if (d.md == NULL) {
        return -1;
    }

    if (ngx_http_snap_digest_init(&d) == 0
        && ngx_http_snap_digest_update(&d, body, len) == 0
        && ngx_http_snap_digest_final(&d, hex) == 0)
    {
        return 0;
    }

    return -1;
}


/*
 * The body's SNAP hash and its JSON check in one pass: on a JSON body the
 * checker's tokens without the whitespace between them are exactly what
 * the minifier gives (the minify_diff fuzzer holds the two to it).  A body
 * that is not JSON is hashed again by the minifier, which takes any bytes,
 * as its signature is checked before it is refused.  Returns the check's
 * result, or NGX_HTTP_SNAP_FIELD_ERROR when hashing fails.
 */

int
ngx_http_snap_body_check(const unsigned char *body, size_t len,
    const ngx_http_snap_schema_t *schema, char *err, size_t errlen,
    unsigned char *hex)
{
    int                     rc;
    ngx_http_snap_digest_t  d;

    d.md = ngx_http_snap_work_ctx();

    if (d.md == NULL || ngx_http_snap_digest_init(&d) != 0) {
        return NGX_HTTP_SNAP_FIELD_ERROR;
    }

    rc = ngx_http_snap_json_check(body, len, schema, err, errlen,
                                  ngx_http_snap_digest_emit, d.md);

    switch (rc) {

    case NGX_HTTP_SNAP_FIELD_ERROR:
        return rc;

    case NGX_HTTP_SNAP_FIELD_JSON:
        return ngx_http_snap_body_hash(body, len, hex) == 0
               ? rc : NGX_HTTP_SNAP_FIELD_ERROR;

    default:
        return ngx_http_snap_digest_final(&d, hex) == 0
               ? rc : NGX_HTTP_SNAP_FIELD_ERROR;
    }
}


static int
ngx_http_snap_digits(const unsigned char *p, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (p[i] - '0');
    }

    return 0;
}


/* proleptic Gregorian calendar, valid for every 4-digit year */

static int64_t
ngx_http_snap_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
ngx_http_snap_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


/*
 * yyyy-MM-ddTHH:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm), the forms SNAP senders use
 * (the spec's TZD, BRI's .SSS, JavaScript's toISOString()).  A leap second
 * (ss = 60) is refused: no SNAP sender emits one and it cannot be ordered.
 */

int
ngx_http_snap_parse_timestamp(const unsigned char *p, size_t len, int64_t *t)
{
    int                   year, mon, day, hour, min, sec, oh, om, mdays;
    int64_t               days, off;
    const unsigned char  *end;

    static const int  month_days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (len < 20 || len > 35) {
        return -1;
    }

    end = p + len;

    if (ngx_http_snap_digits(p, 4, &year) != 0 || p[4] != '-'
        || ngx_http_snap_digits(p + 5, 2, &mon) != 0 || p[7] != '-'
        || ngx_http_snap_digits(p + 8, 2, &day) != 0 || p[10] != 'T'
        || ngx_http_snap_digits(p + 11, 2, &hour) != 0 || p[13] != ':'
        || ngx_http_snap_digits(p + 14, 2, &min) != 0 || p[16] != ':'
        || ngx_http_snap_digits(p + 17, 2, &sec) != 0)
    {
        return -1;
    }

    if (year < 1 || mon < 1 || mon > 12 || day < 1 || hour > 23
        || min > 59 || sec > 59)
    {
        return -1;
    }

    mdays = month_days[mon - 1];

    if (mon == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        mdays = 29;
    }

    if (day > mdays) {
        return -1;
    }

    p += 19;

    if (*p == '.') {
        p++;

        if (p == end || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p == end) {
        return -1;
    }

    if (*p == 'Z') {
        if (p + 1 != end) {
            return -1;
        }

        off = 0;

    } else if (*p == '+' || *p == '-') {
        if (end - p != 6 || p[3] != ':'
            || ngx_http_snap_digits(p + 1, 2, &oh) != 0
            || ngx_http_snap_digits(p + 4, 2, &om) != 0
            || oh > 14 || om > 59 || (oh == 14 && om != 0))
        {
            return -1;
        }

        off = (int64_t) oh * 3600 + om * 60;

        if (*p == '-') {
            off = -off;
        }

    } else {
        return -1;
    }

    days = ngx_http_snap_days_from_civil(year, mon, day);

    *t = days * 86400 + hour * 3600 + min * 60 + sec - off;

    return 0;
}


int64_t
ngx_http_snap_wib_day(int64_t t)
{
    t += NGX_HTTP_SNAP_WIB_OFFSET;

    return t >= 0 ? t / 86400 : (t - 86399) / 86400;
}


/* 25 bytes: yyyy-MM-ddTHH:mm:ss+07:00 */

void
ngx_http_snap_format_wib(int64_t t, unsigned char *dst)
{
    int      m, d, s;
    int64_t  y, days;

    days = ngx_http_snap_wib_day(t);
    s = (int) (t + NGX_HTTP_SNAP_WIB_OFFSET - days * 86400);

    ngx_http_snap_civil_from_days(days, &y, &m, &d);

    y %= 10000;

    dst[0] = '0' + (int) (y / 1000);
    dst[1] = '0' + (int) (y / 100 % 10);
    dst[2] = '0' + (int) (y / 10 % 10);
    dst[3] = '0' + (int) (y % 10);
    dst[4] = '-';
    dst[5] = '0' + m / 10;
    dst[6] = '0' + m % 10;
    dst[7] = '-';
    dst[8] = '0' + d / 10;
    dst[9] = '0' + d % 10;
    dst[10] = 'T';
    dst[11] = '0' + s / 36000;
    dst[12] = '0' + s / 3600 % 10;
    dst[13] = ':';
    dst[14] = '0' + s % 3600 / 600;
    dst[15] = '0' + s % 3600 / 60 % 10;
    dst[16] = ':';
    dst[17] = '0' + s % 60 / 10;
    dst[18] = '0' + s % 10;
    memcpy(dst + 19, "+07:00", 6);
}


size_t
ngx_http_snap_base64_encode(unsigned char *dst, const unsigned char *src,
    size_t len, int url)
{
    unsigned char  *d;
    const char     *tab;

    tab = url ? ngx_http_snap_b64url : ngx_http_snap_b64;
    d = dst;

    while (len > 2) {
        *d++ = tab[src[0] >> 2];
        *d++ = tab[((src[0] & 0x03) << 4) | (src[1] >> 4)];
        *d++ = tab[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
        *d++ = tab[src[2] & 0x3f];

        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = tab[src[0] >> 2];

        if (len == 1) {
            *d++ = tab[(src[0] & 0x03) << 4];

            if (!url) {
                *d++ = '=';
            }

        } else {
            *d++ = tab[((src[0] & 0x03) << 4) | (src[1] >> 4)];
            *d++ = tab[(src[1] & 0x0f) << 2];
        }

        if (!url) {
            *d++ = '=';
        }
    }

    return d - dst;
}


/* a base64 digit's value in each alphabet, -1 for anything else */

static const signed char  ngx_http_snap_b64_values[2][256] = { {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
}, {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
} };


static int
ngx_http_snap_b64_value(unsigned char c, int url)
{
    return ngx_http_snap_b64_values[url != 0][c];
}


/*
 * Canonical base64 only: standard alphabet with '=' padding to a multiple
 * of 4, or base64url without padding; no whitespace, no stray bits.  A
 * signature has exactly one spelling, so nothing else has to be accepted.
 * dst must hold len / 4 * 3 + 2 bytes.
 */

int
ngx_http_snap_base64_decode(unsigned char *dst, size_t *dlen,
    const unsigned char *src, size_t len, int url)
{
    int            v[4];
    size_t         i, n, pad, rest;
    unsigned char  *d;

    pad = 0;

    if (url) {
        if (len % 4 == 1) {
            return -1;
        }

    } else {
        if (len == 0 || len % 4 != 0) {
            return -1;
        }

        if (src[len - 1] == '=') {
            pad++;

            if (src[len - 2] == '=') {
                pad++;
            }
        }

        len -= pad;
    }

    d = dst;
    n = len / 4 * 4;

    for (i = 0; i < n; i += 4) {
        v[0] = ngx_http_snap_b64_value(src[i], url);
        v[1] = ngx_http_snap_b64_value(src[i + 1], url);
        v[2] = ngx_http_snap_b64_value(src[i + 2], url);
        v[3] = ngx_http_snap_b64_value(src[i + 3], url);

        if ((v[0] | v[1] | v[2] | v[3]) < 0) {
            return -1;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);
        *d++ = (unsigned char) (v[1] << 4 | v[2] >> 2);
        *d++ = (unsigned char) (v[2] << 6 | v[3]);
    }

    rest = len - n;

    if (rest == 2) {
        v[0] = ngx_http_snap_b64_value(src[n], url);
        v[1] = ngx_http_snap_b64_value(src[n + 1], url);

        if ((v[0] | v[1]) < 0 || (v[1] & 0x0f)) {
            return -1;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);

    } else if (rest == 3) {
        v[0] = ngx_http_snap_b64_value(src[n], url);
        v[1] = ngx_http_snap_b64_value(src[n + 1], url);
        v[2] = ngx_http_snap_b64_value(src[n + 2], url);

        if ((v[0] | v[1] | v[2]) < 0 || (v[2] & 0x03)) {
            return -1;
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);
        *d++ = (unsigned char) (v[1] << 4 | v[2] >> 2);
    }

    if (!url && rest != (pad ? 4 - pad : 0)) {
        return -1;
    }

    *dlen = d - dst;

    return 0;
}


size_t
ngx_http_snap_string_to_sign_len(size_t method, size_t url, size_t token,
    int with_token, size_t ts)
{
    return method + 1 + url + 1 + (with_token ? token + 1 : 0)
           + NGX_HTTP_SNAP_SHA256_HEX_LEN + 1 + ts;
}


/* METHOD:EndpointUrl[:AccessToken]:hex(sha256(minify(body))):X-TIMESTAMP */

size_t
ngx_http_snap_string_to_sign(unsigned char *dst,
    const unsigned char *method, size_t method_len,
    const unsigned char *url, size_t url_len,
    const unsigned char *token, size_t token_len, int with_token,
    const unsigned char *hex, const unsigned char *ts, size_t ts_len)
{
    unsigned char  *p;

    p = dst;

    memcpy(p, method, method_len);
    p += method_len;
    *p++ = ':';

    memcpy(p, url, url_len);
    p += url_len;
    *p++ = ':';

    if (with_token) {
        memcpy(p, token, token_len);
        p += token_len;
        *p++ = ':';
    }

    memcpy(p, hex, NGX_HTTP_SNAP_SHA256_HEX_LEN);
    p += NGX_HTTP_SNAP_SHA256_HEX_LEN;
    *p++ = ':';

    memcpy(p, ts, ts_len);
    p += ts_len;

    return p - dst;
}


int
ngx_http_snap_hmac_sha512(const unsigned char *key, size_t key_len,
    const unsigned char *msg, size_t len, unsigned char *out)
{
    ngx_http_snap_key_t  k;

    k.data = key;
    k.len = key_len;
    k.inner = NULL;
    k.outer = NULL;

    return ngx_http_snap_hmac(&k, 512, msg, len, out);
}


/*
 * HMAC's inner and outer pads hashed once, at configuration time; a
 * request then only copies the two states (RFC 2104, section 4).
 */

int
ngx_http_snap_key_prepare(ngx_http_snap_key_t *key, int bits)
{
    int             rc;
    size_t          i, j, block;
    unsigned int    n;
    EVP_MD_CTX     *md_ctx;
    unsigned char   k[128], pad[128];
    const EVP_MD   *md;

    md = ngx_http_snap_md(bits);
    block = (bits == 512) ? 128 : 64;

    memset(k, 0, sizeof(k));

    if (key->len > block) {
        if (EVP_Digest(key->data, key->len, k, &n, md, NULL) != 1) {
            return -1;
        }

    } else {
        memcpy(k, key->data, key->len);
    }

    key->inner = EVP_MD_CTX_new();
    key->outer = EVP_MD_CTX_new();

    rc = (key->inner && key->outer) ? 0 : -1;

    /* the inner pad (0x36), then the outer (0x5c), each hashed once */
    for (j = 0; j < 2 && rc == 0; j++) {
        md_ctx = j ? key->outer : key->inner;

        for (i = 0; i < block; i++) {
            pad[i] = k[i] ^ (j ? 0x5c : 0x36);
        }

        if (EVP_DigestInit_ex(md_ctx, md, NULL) != 1
            || EVP_DigestUpdate(md_ctx, pad, block) != 1)
        {
            rc = -1;
        }
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));

    if (rc != 0) {
        ngx_http_snap_key_free(key);
    }

    return rc;
}


void
ngx_http_snap_key_free(ngx_http_snap_key_t *key)
{
    EVP_MD_CTX_free(key->inner);
    EVP_MD_CTX_free(key->outer);
    key->inner = NULL;
    key->outer = NULL;
}


/* HMAC-SHA256 or HMAC-SHA512 into out (32 or 64 bytes) */

int
ngx_http_snap_hmac(const ngx_http_snap_key_t *key, int bits,
    const unsigned char *msg, size_t len, unsigned char *out)
{
    unsigned int    n, size;
    EVP_MD_CTX     *w;
    unsigned char   in[EVP_MAX_MD_SIZE];

    size = (bits == 512) ? 64 : 32;

    if (key->inner == NULL) {
        if (HMAC(ngx_http_snap_md(bits), key->data, (int) key->len, msg, len,
                 out, &n)
            == NULL || n != size)
        {
            return -1;
        }

        return 0;
    }

    w = ngx_http_snap_work_ctx();

    if (w == NULL
        || EVP_MD_CTX_copy_ex(w, key->inner) != 1
        || EVP_DigestUpdate(w, msg, len) != 1
        || EVP_DigestFinal_ex(w, in, &n) != 1
        || EVP_MD_CTX_copy_ex(w, key->outer) != 1
        || EVP_DigestUpdate(w, in, n) != 1
        || EVP_DigestFinal_ex(w, out, &n) != 1
        || n != size)
    {
        return -1;
    }

    return 0;
}


/*
 * A SHA256withRSA verification context, made once per partner key:
 * EVP_DigestVerifyInit() fetches the algorithm and exports the key again
 * on every call, a fifth of what an RSA-2048 verification costs.
 */

EVP_PKEY_CTX *
ngx_http_snap_rsa_verifier(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new(pkey, NULL);
    if (ctx == NULL) {
        return NULL;
    }

    if (EVP_PKEY_verify_init(ctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_CTX_set_signature_md(ctx, ngx_http_snap_md(256)) != 1)
    {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }

    return ctx;
}


/* 1: sig is the SHA256withRSA signature of msg under the verifier's key */

int
ngx_http_snap_rsa_verify(EVP_PKEY_CTX *verifier, const unsigned char *msg,
    size_t len, const unsigned char *sig, size_t sig_len)
{
    int            rc;
    EVP_MD_CTX    *md;
    unsigned char  digest[32];

    md = ngx_http_snap_work_ctx();

    if (md == NULL
        || EVP_DigestInit_ex(md, ngx_http_snap_md(256), NULL) != 1
        || EVP_DigestUpdate(md, msg, len) != 1
        || EVP_DigestFinal_ex(md, digest, NULL) != 1)
    {
        return -1;
    }

    rc = EVP_PKEY_verify(verifier, sig, sig_len, digest, sizeof(digest));

    if (rc != 1) {
        /* a forged signature is no error to leave queued for others */
        ERR_clear_error();
        return 0;
    }

    return 1;
}


/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so that nobody who
 * does not know the key can make ids collide in a hash table.
 */

#define ngx_http_snap_rotl(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_snap_sipround(v0, v1, v2, v3)                                \
    v0 += v1; v1 = ngx_http_snap_rotl(v1, 13); v1 ^= v0;                      \
    v0 = ngx_http_snap_rotl(v0, 32);                                          \
    v2 += v3; v3 = ngx_http_snap_rotl(v3, 16); v3 ^= v2;                      \
    v0 += v3; v3 = ngx_http_snap_rotl(v3, 21); v3 ^= v0;                      \
    v2 += v1; v1 = ngx_http_snap_rotl(v1, 17); v1 ^= v2;                      \
    v2 = ngx_http_snap_rotl(v2, 32)


static uint64_t
ngx_http_snap_le64(const unsigned char *p, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v |= (uint64_t) p[i] << (8 * i);
    }

    return v;
}


uint64_t
ngx_http_snap_siphash(const unsigned char key[16], const unsigned char *p,
    size_t len)
{
    size_t    i;
    uint64_t  k0, k1, v0, v1, v2, v3, m;

    k0 = ngx_http_snap_le64(key, 8);
    k1 = ngx_http_snap_le64(key + 8, 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    for (i = 0; i + 8 <= len; i += 8) {
        m = ngx_http_snap_le64(p + i, 8);
        v3 ^= m;
        ngx_http_snap_sipround(v0, v1, v2, v3);
        ngx_http_snap_sipround(v0, v1, v2, v3);
        v0 ^= m;
    }

    m = ngx_http_snap_le64(p + i, len - i) | (uint64_t) len << 56;

    v3 ^= m;
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= 0xff;
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);

    return v0 ^ v1 ^ v2 ^ v3;
}


/*
 * Constant-time equality through CRYPTO_memcmp(), sixteen bytes a call:
 * OpenSSL compares 16 bytes at once and any other length a byte at a
 * time, and a token is some 230 bytes.  Every call is made whatever the
 * bytes are, and the results are only ORed: nothing returns early.
 */

int
ngx_http_snap_ct_equal(const unsigned char *a, const unsigned char *b,
    size_t len)
{
    int     diff;
    size_t  i;

    diff = 0;

    for (i = 0; i + 16 <= len; i += 16) {
        diff |= CRYPTO_memcmp(a + i, b + i, 16);
    }

    if (i < len) {
        diff |= CRYPTO_memcmp(a + i, b + i, len - i);
    }

    return diff == 0;
}


/* printable ASCII, 1 to max bytes */

int
ngx_http_snap_header_value_ok(const unsigned char *p, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static size_t
ngx_http_snap_put_uint(unsigned char *p, int64_t v)
{
    size_t         n, i;
    unsigned char  tmp[24];

    n = 0;

    do {
        tmp[n++] = (unsigned char) ('0' + v % 10);
        v /= 10;
    } while (v);

    for (i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }

    return n;
}


/*
 * base64url(header) "." base64url(claims) "." base64url(HMAC-SHA256), the
 * HS256 JWT layout; dst must hold NGX_HTTP_SNAP_TOKEN_MAX_LEN bytes and
 * client_id at most NGX_HTTP_SNAP_TOKEN_MAX_CLIENT bytes that need no JSON
 * escaping (checked at configuration time).
 */

size_t
ngx_http_snap_token_create(unsigned char *dst, const ngx_http_snap_key_t *key,
    const unsigned char *jti, const unsigned char *client_id,
    size_t client_id_len, int64_t iat, int64_t exp)
{
    size_t         i, n;
    unsigned char  *p, claims[256], md[EVP_MAX_MD_SIZE];

    if (client_id_len > NGX_HTTP_SNAP_TOKEN_MAX_CLIENT || iat < 0 || exp < 0) {
        return 0;
    }

    p = claims;

    memcpy(p, "{\"jti\":\"", 8);
    p += 8;

    for (i = 0; i < NGX_HTTP_SNAP_TOKEN_JTI_LEN; i++) {
        *p++ = ngx_http_snap_hex[jti[i] >> 4];
        *p++ = ngx_http_snap_hex[jti[i] & 0x0f];
    }

    memcpy(p, "\",\"clientId\":\"", 14);
    p += 14;
    memcpy(p, client_id, client_id_len);
    p += client_id_len;

    memcpy(p, "\",\"iat\":", 8);
    p += 8;
    p += ngx_http_snap_put_uint(p, iat);
    memcpy(p, ",\"nbf\":", 7);
    p += 7;
    p += ngx_http_snap_put_uint(p, iat);
    memcpy(p, ",\"exp\":", 7);
    p += 7;
    p += ngx_http_snap_put_uint(p, exp);
    *p++ = '}';

    n = sizeof(NGX_HTTP_SNAP_TOKEN_HEADER) - 1;
    memcpy(dst, NGX_HTTP_SNAP_TOKEN_HEADER, n);
    dst[n++] = '.';
    n += ngx_http_snap_base64_encode(dst + n, claims, p - claims, 1);

    if (ngx_http_snap_hmac(key, 256, dst, n, md) != 0) {
        return 0;
    }

    dst[n++] = '.';
    n += ngx_http_snap_base64_encode(dst + n, md, 32, 1);

    return n;
}


static const unsigned char *
ngx_http_snap_expect(const unsigned char *p, const unsigned char *end,
    const char *lit)
{
    size_t  n;

    n = strlen(lit);

    if ((size_t) (end - p) < n || memcmp(p, lit, n) != 0) {
        return NULL;
    }

    return p + n;
}


static const unsigned char *
ngx_http_snap_parse_uint(const unsigned char *p, const unsigned char *end,
    int64_t *v)
{
    size_t  n;

    *v = 0;

    for (n = 0; p < end && *p >= '0' && *p <= '9'; p++, n++) {
        if (n == 12) {
            return NULL;
        }

        *v = *v * 10 + (*p - '0');
    }

    return n ? p : NULL;
}


/* only the exact claims layout ngx_http_snap_token_create() writes */

int
ngx_http_snap_token_parse_claims(const unsigned char *p, size_t len,
    ngx_http_snap_claims_t *claims)
{
    size_t                i;
    const unsigned char  *end, *id;

    end = p + len;

    p = ngx_http_snap_expect(p, end, "{\"jti\":\"");
    if (p == NULL || end - p < 2 * NGX_HTTP_SNAP_TOKEN_JTI_LEN) {
        return -1;
    }

    for (i = 0; i < 2 * NGX_HTTP_SNAP_TOKEN_JTI_LEN; i++) {
        if (strchr(ngx_http_snap_hex, p[i]) == NULL || p[i] == '\0') {
            return -1;
        }
    }

    p = ngx_http_snap_expect(p + i, end, "\",\"clientId\":\"");
    if (p == NULL) {
        return -1;
    }

    id = p;

    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x7f) {
        p++;
    }

    if (p == id || p - id > NGX_HTTP_SNAP_TOKEN_MAX_CLIENT) {
        return -1;
    }

    claims->client_id = id;
    claims->client_id_len = p - id;

    if ((p = ngx_http_snap_expect(p, end, "\",\"iat\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->iat)) == NULL
        || (p = ngx_http_snap_expect(p, end, ",\"nbf\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->nbf)) == NULL
        || (p = ngx_http_snap_expect(p, end, ",\"exp\":")) == NULL
        || (p = ngx_http_snap_parse_uint(p, end, &claims->exp)) == NULL
        || (p = ngx_http_snap_expect(p, end, "}")) == NULL
        || p != end)
    {
        return -1;
    }

    return 0;
}


/*
 * Checks the layout and the HMAC against every key (rotation), then parses
 * the claims into scratch (NGX_HTTP_SNAP_TOKEN_MAX_LEN bytes).  Time checks
 * are the caller's.  Returns 0 when the token is authentic.
 */

int
ngx_http_snap_token_verify(const unsigned char *tok, size_t len,
    const ngx_http_snap_key_t *keys, size_t nkeys, unsigned char *scratch,
    ngx_http_snap_claims_t *claims)
{
    int                   ok;
    size_t                i, hlen, slen, clen, n;
    unsigned char         md[EVP_MAX_MD_SIZE], sig[48];
    const unsigned char  *dot, *end;

    hlen = sizeof(NGX_HTTP_SNAP_TOKEN_HEADER) - 1;

    if (len > NGX_HTTP_SNAP_TOKEN_MAX_LEN || len < hlen + 2
        || memcmp(tok, NGX_HTTP_SNAP_TOKEN_HEADER, hlen) != 0
        || tok[hlen] != '.')
    {
        return -1;
    }

    end = tok + len;
    dot = memchr(tok + hlen + 1, '.', end - (tok + hlen + 1));
    if (dot == NULL) {
        return -1;
    }

    slen = end - (dot + 1);

    /* an HMAC-SHA256 is 43 base64url characters */
    if (slen != 43
        || ngx_http_snap_base64_decode(sig, &n, dot + 1, slen, 1) != 0
        || n != 32)
    {
        return -1;
    }

    ok = 0;

    for (i = 0; i < nkeys; i++) {
        if (ngx_http_snap_hmac(&keys[i], 256, tok, dot - tok, md) != 0) {
            return -1;
        }

        ok |= ngx_http_snap_ct_equal(md, sig, 32);
    }

    if (!ok) {
        return -1;
    }

    clen = dot - (tok + hlen + 1);

    if (ngx_http_snap_base64_decode(scratch, &n, tok + hlen + 1, clen, 1)
        != 0)
    {
        return -1;
    }

    return ngx_http_snap_token_parse_claims(scratch, n, claims);
}
