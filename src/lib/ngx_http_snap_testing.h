
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Helpers the unit tests, the fuzzers and the micro-benchmark use and the
 * module does not: built with them, never into the module (config does
 * not list this file).
 */


#ifndef _NGX_HTTP_SNAP_TESTING_H_INCLUDED_
#define _NGX_HTTP_SNAP_TESTING_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_fields.h"


/* HMAC-SHA512 of msg under an unprepared key; 0 on success */
int ngx_http_snap_test_hmac_sha512(const unsigned char *key, size_t key_len,
    const unsigned char *msg, size_t len, unsigned char *out);
/* the minified text of src into dst (as long as src at most) */
size_t ngx_http_snap_test_minify(const unsigned char *src, size_t len,
    unsigned char *dst);
/* the body profile of a service code, NULL when it has none */
const ngx_http_snap_field_t *ngx_http_snap_test_profile(unsigned code);


#endif /* _NGX_HTTP_SNAP_TESTING_H_INCLUDED_ */
