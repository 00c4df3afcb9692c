
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * A query string canonicalised as BCA's senders sign it.
 */


#ifndef _NGX_HTTP_SNAP_QUERY_H_INCLUDED_
#define _NGX_HTTP_SNAP_QUERY_H_INCLUDED_


#include "ngx_http_snap_api.h"


/* more parameters than this are not canonicalised */
#define NGX_HTTP_SNAP_QUERY_PARAMS  64

/* the most a query of len bytes can become */
#define ngx_http_snap_query_sorted_len(len)  ((len) * 3)


NGX_HTTP_SNAP_API int ngx_http_snap_query_sorted(unsigned char *dst,
    size_t *dlen, const unsigned char *q, size_t len, unsigned char *scratch);


#endif /* _NGX_HTTP_SNAP_QUERY_H_INCLUDED_ */
