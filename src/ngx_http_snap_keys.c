
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Key and secret files, read once by the master at configuration time;
 * their OpenSSL objects freed with the configuration's pool.
 */


#include "ngx_http_snap.h"
#include "ngx_http_snap_keys.h"

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>


#define NGX_HTTP_SNAP_MAX_KEY_FILE  65536


static ngx_int_t ngx_http_snap_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *out, ngx_uint_t secret);
static EVP_PKEY *ngx_http_snap_pkcs1_as_spki(ngx_conf_t *cf, ngx_str_t *pem);
static void ngx_http_snap_pkey_ctx_cleanup(void *data);
static EVP_PKEY *ngx_http_snap_decode_rsa(ngx_str_t *pem, int selection);
static EVP_PKEY_CTX *ngx_http_snap_keep_pkey_ctx(ngx_conf_t *cf,
    EVP_PKEY_CTX *ctx);
static void ngx_http_snap_key_cleanup(void *data);


static ngx_int_t
ngx_http_snap_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *out,
    ngx_uint_t secret)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *name;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto failed;
    }

    /* as ssh warns of a private key others may read */
    if (secret && (fi.st_mode & S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" holds a secret and others may read it "
                           "(mode 0%ui%ui%ui): chmod 600 it, owned by root",
                           name, (ngx_uint_t) (fi.st_mode >> 6) & 7,
                           (ngx_uint_t) (fi.st_mode >> 3) & 7,
                           (ngx_uint_t) fi.st_mode & 7);
    }

    if (ngx_file_size(&fi) > NGX_HTTP_SNAP_MAX_KEY_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is too large for a key file", name);
        goto failed;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->pool, out->len + 1);
    if (out->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, out->data, out->len, 0);
    if (n == NGX_ERROR || (size_t) n != out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not read \"%V\"", name);
        goto failed;
    }

    out->data[out->len] = '\0';

    ngx_close_file(fd);

    return NGX_OK;

failed:

    ngx_close_file(fd);

    return NGX_ERROR;
}


static void
ngx_http_snap_pkey_ctx_cleanup(void *data)
{
    EVP_PKEY_CTX_free(data);
}


/*
 * Partners hand over their key as SPKI ("BEGIN PUBLIC KEY"), PKCS#1
 * ("BEGIN RSA PUBLIC KEY") or inside an X.509 certificate (BCA asks for
 * one); all three are accepted.  What is kept is a verification context
 * for the key, ready for every request.
 */

EVP_PKEY_CTX *
ngx_http_snap_load_public_key(ngx_conf_t *cf, ngx_str_t *file)
{
    BIO           *bio;
    X509          *x509;
    EVP_PKEY      *pkey;
    ngx_str_t      name, pem;
    EVP_PKEY_CTX  *verifier;

    name = *file;

    if (ngx_http_snap_read_file(cf, &name, &pem, 0) != NGX_OK) {
        return NULL;
    }

    pkey = NULL;

    bio = BIO_new_mem_buf(pem.data, (int) pem.len);
    if (bio == NULL) {
        return NULL;
    }

    if (ngx_strstr(pem.data, "PRIVATE KEY-----")) {
        BIO_free(bio);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds a private key, give the partner's "
                           "public key (openssl rsa -pubout)", &name);
        return NULL;
    }

    if (ngx_strstr(pem.data, "-----BEGIN CERTIFICATE-----")) {
        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x509) {
            pkey = X509_get_pubkey(x509);
            X509_free(x509);
        }

    } else {
        /* SPKI and PKCS#1 alike */
        pkey = ngx_http_snap_decode_rsa(&pem, EVP_PKEY_PUBLIC_KEY);

        if (pkey == NULL) {
            pkey = ngx_http_snap_pkcs1_as_spki(cf, &pem);
        }
    }

    BIO_free(bio);
    ERR_clear_error();

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no PEM public key (expected "
                           "\"BEGIN PUBLIC KEY\", \"BEGIN RSA PUBLIC KEY\" "
                           "or \"BEGIN CERTIFICATE\"); a bare base64 key "
                           "is wrapped as \"BEGIN PUBLIC KEY\" when it "
                           "starts with MIIBIj (SPKI) and as \"BEGIN RSA "
                           "PUBLIC KEY\" when it starts with MIIBCg "
                           "(PKCS#1), 64 characters a line", &name);
        return NULL;
    }

    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not an RSA public key", &name);
        return NULL;
    }

    if (EVP_PKEY_bits(pkey) < 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "RSA key \"%V\" has %d bits, at least 1024 "
                           "are required", &name, EVP_PKEY_bits(pkey));
        EVP_PKEY_free(pkey);
        return NULL;
    }

    /* the context holds its own reference to the key */
    verifier = ngx_http_snap_rsa_verifier(pkey);
    EVP_PKEY_free(pkey);

    if (verifier == NULL) {
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OpenSSL cannot verify with the key \"%V\"",
                           &name);
        return NULL;
    }

    return ngx_http_snap_keep_pkey_ctx(cf, verifier);
}


/*
 * A PKCS#1 body (MIIBCg...) under the SPKI armour ("BEGIN PUBLIC KEY"), as
 * a bare base64 key given by a partner ends up when wrapped with the SPKI
 * recipe: read under the armour it is
 */

static EVP_PKEY *
ngx_http_snap_pkcs1_as_spki(ngx_conf_t *cf, ngx_str_t *pem)
{
    u_char     *p, *b, *e, *q;
    ngx_str_t   fixed;

    static char  begin[] = "-----BEGIN PUBLIC KEY-----";
    static char  end[] = "-----END PUBLIC KEY-----";

    b = (u_char *) ngx_strstr(pem->data, begin);
    e = (u_char *) ngx_strstr(pem->data, end);

    if (b == NULL || e == NULL || e < b) {
        return NULL;
    }

    p = ngx_pnalloc(cf->temp_pool, pem->len + 2 * sizeof(" RSA"));
    if (p == NULL) {
        return NULL;
    }

    q = ngx_cpymem(p, pem->data, b - pem->data);
    q = ngx_cpymem(q, "-----BEGIN RSA PUBLIC KEY-----",
                   sizeof("-----BEGIN RSA PUBLIC KEY-----") - 1);
    q = ngx_cpymem(q, b + sizeof(begin) - 1, e - b - (sizeof(begin) - 1));
    q = ngx_cpymem(q, "-----END RSA PUBLIC KEY-----",
                   sizeof("-----END RSA PUBLIC KEY-----") - 1);
    q = ngx_cpymem(q, e + sizeof(end) - 1,
                   pem->data + pem->len - (e + sizeof(end) - 1));

    fixed.data = p;
    fixed.len = q - p;

    return ngx_http_snap_decode_rsa(&fixed, EVP_PKEY_PUBLIC_KEY);
}


/* the file's bytes with surrounding whitespace trimmed, at least min long */

ngx_int_t
ngx_http_snap_load_secret(ngx_conf_t *cf, ngx_str_t *file, ngx_str_t *secret,
    size_t min)
{
    u_char     *start, *end;
    ngx_str_t   name, data;

    name = *file;

    if (ngx_http_snap_read_file(cf, &name, &data, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    start = data.data;
    end = data.data + data.len;

    while (start < end && (*start == ' ' || *start == '\t'
                           || *start == '\r' || *start == '\n'))
    {
        start++;
    }

    while (end > start && (end[-1] == ' ' || end[-1] == '\t'
                           || end[-1] == '\r' || end[-1] == '\n'))
    {
        end--;
    }

    if ((size_t) (end - start) < min || end == start) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds %uz bytes, at least %uz are "
                           "required", &name, (size_t) (end - start),
                           min ? min : 1);
        return NGX_ERROR;
    }

    secret->data = start;
    secret->len = end - start;

    return NGX_OK;
}


static void
ngx_http_snap_key_cleanup(void *data)
{
    ngx_http_snap_key_t  *key = data;

    ngx_http_snap_key_free(key);
}


/* an HMAC key from a file, its pads hashed once here */

ngx_int_t
ngx_http_snap_load_key(ngx_conf_t *cf, ngx_str_t *file,
    ngx_http_snap_key_t *key, size_t min, int bits)
{
    ngx_str_t            secret;
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(key, sizeof(ngx_http_snap_key_t));

    if (ngx_http_snap_load_secret(cf, file, &secret, min) != NGX_OK) {
        return NGX_ERROR;
    }

    key->data = secret.data;
    key->len = secret.len;

    /* a copy: the array holding key may move when it grows */
    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_http_snap_key_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_snap_key_prepare(key, bits) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "could not prepare the HMAC key of \"%V\"", file);
        return NGX_ERROR;
    }

    ngx_memcpy(cln->data, key, sizeof(ngx_http_snap_key_t));
    cln->handler = ngx_http_snap_key_cleanup;

    return NGX_OK;
}


/*
 * The merchant's own RSA key, PKCS#8 ("BEGIN PRIVATE KEY") or PKCS#1
 * ("BEGIN RSA PRIVATE KEY"), unencrypted: nginx has no one to ask for a
 * passphrase.  What is kept is a signing context, tried once here so that
 * a key OpenSSL cannot sign with fails "nginx -t", not a request.
 */

EVP_PKEY_CTX *
ngx_http_snap_load_private_key(ngx_conf_t *cf, ngx_str_t *file,
    size_t *sig_size)
{
    size_t         len;
    u_char         sig[1024];
    EVP_PKEY      *pkey;
    ngx_str_t      name, pem;
    EVP_PKEY_CTX  *signer;

    name = *file;

    if (ngx_http_snap_read_file(cf, &name, &pem, 1) != NGX_OK) {
        return NULL;
    }

    if (ngx_strstr(pem.data, "PRIVATE KEY-----") == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no private key%s, give the "
                           "merchant's RSA private key", &name,
                           (ngx_strstr(pem.data, "PUBLIC KEY-----")
                            || ngx_strstr(pem.data, "BEGIN CERTIFICATE"))
                           ? " but a public key or certificate" : "");
        return NULL;
    }

    pkey = ngx_http_snap_decode_rsa(&pem, EVP_PKEY_KEYPAIR);

    /* the PEM text of a private key is not kept */
    ngx_explicit_memzero(pem.data, pem.len);
    ERR_clear_error();

    if (pkey == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no unencrypted PEM RSA private key",
                           &name);
        return NULL;
    }

    if (EVP_PKEY_bits(pkey) < 2048 || EVP_PKEY_size(pkey) > (int) sizeof(sig))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "RSA key \"%V\" has %d bits, 2048 to 8192 are "
                           "required", &name, EVP_PKEY_bits(pkey));
        EVP_PKEY_free(pkey);
        return NULL;
    }

    *sig_size = EVP_PKEY_size(pkey);

    signer = ngx_http_snap_rsa_signer(pkey);
    EVP_PKEY_free(pkey);

    len = sizeof(sig);

    if (signer == NULL
        || ngx_http_snap_rsa_sign(signer, (u_char *) "x", 1, sig, &len)
           != NGX_HTTP_SNAP_LIB_OK)
    {
        EVP_PKEY_CTX_free(signer);
        ERR_clear_error();
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "OpenSSL cannot sign with the key \"%V\"", &name);
        return NULL;
    }

    return ngx_http_snap_keep_pkey_ctx(cf, signer);
}


/* an RSA key of the selection (public, or the pair) from PEM text */

static EVP_PKEY *
ngx_http_snap_decode_rsa(ngx_str_t *pem, int selection)
{
    size_t             len;
    EVP_PKEY          *pkey;
    const u_char      *p;
    OSSL_DECODER_CTX  *dctx;

    pkey = NULL;

    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA",
                                         selection, NULL, NULL);
    if (dctx == NULL) {
        return NULL;
    }

    p = pem->data;
    len = pem->len;

    if (OSSL_DECODER_from_data(dctx, &p, &len) != 1) {
        pkey = NULL;
    }

    OSSL_DECODER_CTX_free(dctx);

    return pkey;
}


/* the context lives as long as the configuration */

static EVP_PKEY_CTX *
ngx_http_snap_keep_pkey_ctx(ngx_conf_t *cf, EVP_PKEY_CTX *ctx)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }

    cln->handler = ngx_http_snap_pkey_ctx_cleanup;
    cln->data = ctx;

    return ctx;
}
