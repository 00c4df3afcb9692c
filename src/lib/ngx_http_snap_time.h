
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * X-TIMESTAMP: ISO-8601 to seconds, the WIB day, the WIB format.
 */


#ifndef _NGX_HTTP_SNAP_TIME_H_INCLUDED_
#define _NGX_HTTP_SNAP_TIME_H_INCLUDED_


#include "ngx_http_snap_api.h"


/* the looser X-TIMESTAMP forms a partner's compat= may allow */
#define NGX_HTTP_SNAP_TS_BASIC_OFFSET  0x01     /* +0700 */
#define NGX_HTTP_SNAP_TS_WIB           0x02     /* no offset: WIB */


NGX_HTTP_SNAP_API int ngx_http_snap_parse_timestamp(const unsigned char *p,
    size_t len, int64_t *t);
NGX_HTTP_SNAP_API int ngx_http_snap_parse_timestamp_as(
    const unsigned char *p, size_t len, unsigned forms, int64_t *t);
NGX_HTTP_SNAP_API int64_t ngx_http_snap_wib_day(int64_t t);
NGX_HTTP_SNAP_API void ngx_http_snap_format_wib(int64_t t, unsigned char *dst);


#endif /* _NGX_HTTP_SNAP_TIME_H_INCLUDED_ */
