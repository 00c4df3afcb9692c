
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The OpenSSL digests, fetched once per process, and the SHA-256 of a
 * body: minified on the way, or checked and hashed in the one JSON pass.
 * No nginx runtime here.
 */


#include <string.h>
#include <openssl/evp.h>

#include "ngx_http_snap_digest.h"
#include "ngx_http_snap_json.h"
#include "ngx_http_snap_minify.h"


static int ngx_http_snap_hash(const unsigned char *body, size_t len, int raw,
    unsigned char *hex);
static int ngx_http_snap_digest_emit(void *data, const unsigned char *p,
    size_t len);
static int ngx_http_snap_digest_init(ngx_http_snap_digest_t *d);
static int ngx_http_snap_digest_update(ngx_http_snap_digest_t *d,
    const unsigned char *p, size_t len);
static int ngx_http_snap_digest_final(ngx_http_snap_digest_t *d,
    unsigned char *hex);
static int ngx_http_snap_escape_emit(void *data, const unsigned char *p,
    size_t len);


/* lower-case hex digits, for digests and token ids */
const char  ngx_http_snap_hex[] = "0123456789abcdef";


/*
 * OpenSSL 3 looks a digest up by name on every EVP_sha256() use and
 * allocates on every EVP_MD_CTX_new(): fetched once and reused per
 * process instead, these cost less than the hashing itself.  nginx runs a
 * worker in one thread, so a per-process context is safe.
 */

static EVP_MD      *ngx_http_snap_sha256;
static EVP_MD      *ngx_http_snap_sha512;
static EVP_MD_CTX  *ngx_http_snap_work;


const EVP_MD *
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


EVP_MD_CTX *
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


/*
 * compat=raw_body: the hash of the bytes as sent, whitespace and all, as
 * a sender that hashes its own serialisation (Python's json.dumps with
 * ", " and ": ") gives it.
 */

int
ngx_http_snap_body_hash_raw(const unsigned char *body, size_t len,
    unsigned char *hex)
{
    return ngx_http_snap_hash(body, len, 1, hex);
}


int
ngx_http_snap_body_hash(const unsigned char *body, size_t len,
    unsigned char *hex)
{
    return ngx_http_snap_hash(body, len, 0, hex);
}


static int
ngx_http_snap_hash(const unsigned char *body, size_t len, int raw,
    unsigned char *hex)
{
    ngx_http_snap_digest_t  d;

    d.md = ngx_http_snap_work_ctx();
    if (d.md == NULL) {
        return -1;
    }

    if (ngx_http_snap_digest_init(&d) == 0
        && (raw ? (EVP_DigestUpdate(d.md, body, len) == 1 ? 0 : -1)
                : ngx_http_snap_digest_update(&d, body, len)) == 0
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


typedef struct {
    ngx_http_snap_digest_t   *digest;
    unsigned                  escape;
    int                       after_backslash;
    size_t                    n;
    unsigned char             out[256];
} ngx_http_snap_escape_t;


static int
ngx_http_snap_escape_flush(ngx_http_snap_escape_t *e)
{
    int  rc;

    rc = ngx_http_snap_digest_update(e->digest, e->out, e->n);
    e->n = 0;

    return rc;
}


static int
ngx_http_snap_escape_put(ngx_http_snap_escape_t *e, const unsigned char *p,
    size_t len)
{
    if (e->n + len > sizeof(e->out) && ngx_http_snap_escape_flush(e) != 0) {
        return -1;
    }

    memcpy(e->out + e->n, p, len);
    e->n += len;

    return 0;
}


static int
ngx_http_snap_escape_unit(ngx_http_snap_escape_t *e, unsigned cp)
{
    unsigned char  u[6];

    u[0] = '\\';
    u[1] = 'u';
    u[2] = (unsigned char) ngx_http_snap_hex[(cp >> 12) & 0xf];
    u[3] = (unsigned char) ngx_http_snap_hex[(cp >> 8) & 0xf];
    u[4] = (unsigned char) ngx_http_snap_hex[(cp >> 4) & 0xf];
    u[5] = (unsigned char) ngx_http_snap_hex[cp & 0xf];

    return ngx_http_snap_escape_put(e, u, 6);
}


/*
 * The minified JSON as a PHP or Python serialiser writes it: '/' and
 * non-ASCII appear only inside strings there, and whatever follows a
 * backslash is an escape already, copied as it is.  The JSON pass emits
 * a string whole, so a UTF-8 sequence never spans two calls.
 */

static int
ngx_http_snap_escape_emit(void *data, const unsigned char *p, size_t len)
{
    ngx_http_snap_escape_t *e = data;

    size_t                  i, k, n;
    unsigned                cp;
    unsigned char           c;

    for (i = 0; i < len; i++) {
        c = p[i];

        if (e->after_backslash) {
            e->after_backslash = 0;

        } else if (c == '\\') {
            e->after_backslash = 1;

        } else if (c == '/' && (e->escape & NGX_HTTP_SNAP_ESCAPE_SLASH)) {
            if (ngx_http_snap_escape_put(e, (unsigned char *) "\\/", 2)
                != 0)
            {
                return -1;
            }

            continue;

        } else if (c >= 0x80 && (e->escape & NGX_HTTP_SNAP_ESCAPE_UNICODE)) {
            n = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : 2;

            if (i + n <= len) {
                cp = c & (0x7f >> n);

                for (k = 1; k < n; k++) {
                    cp = (cp << 6) | (p[i + k] & 0x3f);
                }

                if (cp >= 0x10000) {
                    cp -= 0x10000;

                    if (ngx_http_snap_escape_unit(e, 0xd800 + (cp >> 10)) != 0
                        || ngx_http_snap_escape_unit(e, 0xdc00 + (cp & 0x3ff))
                           != 0)
                    {
                        return -1;
                    }

                } else if (ngx_http_snap_escape_unit(e, cp) != 0) {
                    return -1;
                }

                i += n - 1;
                continue;
            }
        }

        if (ngx_http_snap_escape_put(e, &c, 1) != 0) {
            return -1;
        }
    }

    return 0;
}


/*
 * The SHA-256 of the body minified and escaped as escape says, for the
 * partners whose senders hash that (compat=php_json, ascii_json);
 * NGX_HTTP_SNAP_LIB_INVALID when the body is no JSON.
 */

int
ngx_http_snap_body_hash_escaped(const unsigned char *body, size_t len,
    unsigned escape, unsigned char *hex)
{
    int                     rc;
    ngx_http_snap_digest_t  d;
    ngx_http_snap_escape_t  e;

    d.md = ngx_http_snap_work_ctx();

    if (d.md == NULL || ngx_http_snap_digest_init(&d) != 0) {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    e.digest = &d;
    e.escape = escape;
    e.after_backslash = 0;
    e.n = 0;

    rc = ngx_http_snap_json_check(body, len, NULL, NULL, 0,
                                  ngx_http_snap_escape_emit, &e);

    if (rc == NGX_HTTP_SNAP_FIELD_ERROR) {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    if (rc != NGX_HTTP_SNAP_FIELD_OK) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    if (ngx_http_snap_escape_flush(&e) != 0
        || ngx_http_snap_digest_final(&d, hex) != 0)
    {
        return NGX_HTTP_SNAP_LIB_ERROR;
    }

    return NGX_HTTP_SNAP_LIB_OK;
}
