
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * RESP2, the Redis protocol: commands encoded as arrays of bulk strings,
 * replies parsed from a buffer as they arrive.
 */


#ifndef _NGX_HTTP_SNAP_RESP_H_INCLUDED_
#define _NGX_HTTP_SNAP_RESP_H_INCLUDED_


#include "ngx_http_snap_api.h"


#define NGX_HTTP_SNAP_RESP_STATUS    1      /* +OK */
#define NGX_HTTP_SNAP_RESP_ERROR     2      /* -ERR ... */
#define NGX_HTTP_SNAP_RESP_INTEGER   3      /* :1 */
#define NGX_HTTP_SNAP_RESP_BULK      4      /* $3\r\nabc */
#define NGX_HTTP_SNAP_RESP_NIL       5      /* $-1, *-1 */
#define NGX_HTTP_SNAP_RESP_ARRAY     6      /* *2 ..., its elements in place */

/* what a reply may hold before it is taken for a broken server */
#define NGX_HTTP_SNAP_RESP_LINE_MAX  4096
#define NGX_HTTP_SNAP_RESP_BULK_MAX  (1024 * 1024)
#define NGX_HTTP_SNAP_RESP_DEPTH     8


typedef struct {
    const unsigned char      *data;
    size_t                    len;
} ngx_http_snap_resp_arg_t;


typedef struct {
    int                       type;
    int64_t                   integer;    /* INTEGER; ARRAY: its size */
    /* STATUS, ERROR, BULK: in place; ARRAY: its elements' bytes */
    const unsigned char      *str;
    size_t                    len;
} ngx_http_snap_resp_reply_t;


NGX_HTTP_SNAP_API size_t ngx_http_snap_resp_command_len(
    const ngx_http_snap_resp_arg_t *args, size_t n);
NGX_HTTP_SNAP_API size_t ngx_http_snap_resp_command(unsigned char *dst,
    const ngx_http_snap_resp_arg_t *args, size_t n);
NGX_HTTP_SNAP_API long ngx_http_snap_resp_parse(const unsigned char *p,
    size_t len, ngx_http_snap_resp_reply_t *reply);
NGX_HTTP_SNAP_API size_t ngx_http_snap_resp_elements(
    const ngx_http_snap_resp_reply_t *array, ngx_http_snap_resp_reply_t *elts,
    size_t n);


#endif /* _NGX_HTTP_SNAP_RESP_H_INCLUDED_ */
