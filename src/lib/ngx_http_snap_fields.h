
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Body profiles, field paths, value formats, header values.
 */


#ifndef _NGX_HTTP_SNAP_FIELDS_H_INCLUDED_
#define _NGX_HTTP_SNAP_FIELDS_H_INCLUDED_


#include "ngx_http_snap_api.h"


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

/* what checking a body against its fields found */
#define NGX_HTTP_SNAP_FIELD_OK       0
#define NGX_HTTP_SNAP_FIELD_MISSING  1
#define NGX_HTTP_SNAP_FIELD_BAD      2
#define NGX_HTTP_SNAP_FIELD_JSON     3
#define NGX_HTTP_SNAP_FIELD_ERROR    4

#define NGX_HTTP_SNAP_FIELD_MAX      128


typedef struct {
    const char               *path;
    unsigned char             type;
    unsigned char             format;
    unsigned char             required;
    unsigned short            max_len;
} ngx_http_snap_field_t;


NGX_HTTP_SNAP_API int ngx_http_snap_field_path_ok(const char *path);
NGX_HTTP_SNAP_API int ngx_http_snap_format_ok(const unsigned char *s,
    size_t len, unsigned format);
NGX_HTTP_SNAP_API int ngx_http_snap_header_value_ok(const unsigned char *p,
    size_t len, size_t max);
NGX_HTTP_SNAP_API size_t ngx_http_snap_put_uint(unsigned char *p,
    uint64_t v);


#endif /* _NGX_HTTP_SNAP_FIELDS_H_INCLUDED_ */
