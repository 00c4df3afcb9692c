
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The one-pass JSON check of a body against a schema of fields.
 */


#ifndef _NGX_HTTP_SNAP_JSON_H_INCLUDED_
#define _NGX_HTTP_SNAP_JSON_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_fields.h"
#include "ngx_http_snap_minify.h"


/* nesting a body may have, as cJSON allowed */
#define NGX_HTTP_SNAP_JSON_DEPTH     1000

#define NGX_HTTP_SNAP_SCHEMA_NODES   256
#define NGX_HTTP_SNAP_SCHEMA_NONE    0xffff


typedef struct {
    const char               *name;       /* NULL: an array's elements */
    unsigned short            name_len;
    unsigned short            depth;      /* path segments to here */
    unsigned short            child;      /* first member node, 0: none */
    unsigned short            next;       /* next member of the parent */
    unsigned short            elem;       /* element node, 0: none */
    unsigned short            own;        /* first field ending here */
    unsigned short            req_min;    /* first required field at or under */
    unsigned short            obj_min;    /* first field under a member */
    unsigned short            elem_min;   /* first field at or under elem */
} ngx_http_snap_schema_node_t;


typedef struct {
    const ngx_http_snap_field_t  *fields;
    ngx_http_snap_schema_node_t  *nodes;
    unsigned short               *own_next;   /* per field */
    unsigned short                nfields;
    unsigned short                nnodes;
} ngx_http_snap_schema_t;


NGX_HTTP_SNAP_API size_t ngx_http_snap_schema_size(
    const ngx_http_snap_field_t *fields, size_t n);
NGX_HTTP_SNAP_API ngx_http_snap_schema_t *ngx_http_snap_schema_init(
    void *mem, const ngx_http_snap_field_t *fields, size_t n);
NGX_HTTP_SNAP_API int ngx_http_snap_json_check(const unsigned char *p,
    size_t len, const ngx_http_snap_schema_t *schema, char *err,
    size_t errlen, ngx_http_snap_emit_pt emit, void *data);


#endif /* _NGX_HTTP_SNAP_JSON_H_INCLUDED_ */
