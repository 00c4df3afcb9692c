
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Random bytes drawn on every request, from a per-process pool.
 */


#ifndef _NGX_HTTP_SNAP_RANDOM_H_INCLUDED_
#define _NGX_HTTP_SNAP_RANDOM_H_INCLUDED_


#include "ngx_http_snap_api.h"


#define NGX_HTTP_SNAP_RANDOM_POOL  4096


NGX_HTTP_SNAP_API int ngx_http_snap_random(unsigned char *out, size_t len,
    long owner);
NGX_HTTP_SNAP_API void ngx_http_snap_random_cleanup(void);


#endif /* _NGX_HTTP_SNAP_RANDOM_H_INCLUDED_ */
