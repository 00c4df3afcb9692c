
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * What every nginx-free file shares: the visibility of functions shared
 * between the module's files, the lengths of SNAP's values, and the return
 * convention.  A function that can fail returns NGX_HTTP_SNAP_LIB_OK, or
 * NGX_HTTP_SNAP_LIB_INVALID when its input fails (malformed, forged), or
 * NGX_HTTP_SNAP_LIB_ERROR when it could not tell (OpenSSL failed); a
 * predicate, named *_ok or *_equal, returns 1 or 0.  A check that says
 * why its input fails returns its own codes instead (the body checks:
 * NGX_HTTP_SNAP_FIELD_*, ngx_http_snap_fields.h).
 */


#ifndef _NGX_HTTP_SNAP_API_H_INCLUDED_
#define _NGX_HTTP_SNAP_API_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


/* shared between the files of the module, kept out of the global table */
#if defined(__GNUC__)
#define NGX_HTTP_SNAP_API  __attribute__((visibility("hidden")))
#else
#define NGX_HTTP_SNAP_API
#endif


#define NGX_HTTP_SNAP_LIB_OK            0
#define NGX_HTTP_SNAP_LIB_INVALID       1
#define NGX_HTTP_SNAP_LIB_ERROR        -1

#define NGX_HTTP_SNAP_SHA256_HEX_LEN   64
#define NGX_HTTP_SNAP_HMAC512_LEN      64
#define NGX_HTTP_SNAP_TOKEN_JTI_LEN    16

/* seconds east of UTC of Western Indonesian Time, the SNAP "day" */
#define NGX_HTTP_SNAP_WIB_OFFSET       (7 * 3600)


#endif /* _NGX_HTTP_SNAP_API_H_INCLUDED_ */
