
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * SNAP's services: name, code, body profile.
 */


#ifndef _NGX_HTTP_SNAP_SERVICES_H_INCLUDED_
#define _NGX_HTTP_SNAP_SERVICES_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_fields.h"


/* the Access Token B2B call */
#define NGX_HTTP_SNAP_SERVICE_TOKEN  73


typedef struct {
    const char                   *name;
    unsigned                      code;
    const ngx_http_snap_field_t  *profile;    /* NULL: none */
} ngx_http_snap_service_t;


/* every service, ended by one without a name */
extern NGX_HTTP_SNAP_API const ngx_http_snap_service_t
    ngx_http_snap_services[];


NGX_HTTP_SNAP_API const ngx_http_snap_service_t *ngx_http_snap_service(
    const unsigned char *name, size_t len);


#endif /* _NGX_HTTP_SNAP_SERVICES_H_INCLUDED_ */
