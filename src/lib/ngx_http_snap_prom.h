
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The Prometheus text exposition format, version 0.0.4: HELP and TYPE
 * lines, samples with escaped label values.
 */


#ifndef _NGX_HTTP_SNAP_PROM_H_INCLUDED_
#define _NGX_HTTP_SNAP_PROM_H_INCLUDED_


#include "ngx_http_snap_api.h"


#define NGX_HTTP_SNAP_PROM_LABELS  4


typedef struct {
    const char               *name;
    const unsigned char      *value;
    size_t                    len;
} ngx_http_snap_prom_label_t;


NGX_HTTP_SNAP_API size_t ngx_http_snap_prom_escape(unsigned char *dst,
    const unsigned char *src, size_t len);
NGX_HTTP_SNAP_API size_t ngx_http_snap_prom_header(unsigned char *dst,
    const char *name, const char *type, const char *help);
NGX_HTTP_SNAP_API size_t ngx_http_snap_prom_sample(unsigned char *dst,
    const char *name, const char *suffix,
    const ngx_http_snap_prom_label_t *labels, size_t n, uint64_t value,
    unsigned decimals);


#endif /* _NGX_HTTP_SNAP_PROM_H_INCLUDED_ */
