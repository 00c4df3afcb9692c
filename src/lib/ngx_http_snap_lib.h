
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * The nginx-free core, one file a concern (src/lib/README.md): the
 * module, the unit tests, the fuzzers and the micro-benchmark include it
 * whole.
 */


#ifndef _NGX_HTTP_SNAP_LIB_H_INCLUDED_
#define _NGX_HTTP_SNAP_LIB_H_INCLUDED_


#include "ngx_http_snap_api.h"
#include "ngx_http_snap_base64.h"
#include "ngx_http_snap_digest.h"
#include "ngx_http_snap_fields.h"
#include "ngx_http_snap_json.h"
#include "ngx_http_snap_jwt.h"
#include "ngx_http_snap_minify.h"
#include "ngx_http_snap_outbound.h"
#include "ngx_http_snap_primary.h"
#include "ngx_http_snap_prom.h"
#include "ngx_http_snap_query.h"
#include "ngx_http_snap_random.h"
#include "ngx_http_snap_resp.h"
#include "ngx_http_snap_services.h"
#include "ngx_http_snap_crypto.h"
#include "ngx_http_snap_siphash.h"
#include "ngx_http_snap_time.h"


#endif /* _NGX_HTTP_SNAP_LIB_H_INCLUDED_ */
