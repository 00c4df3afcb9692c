/*
 * The field checks as they were on a cJSON tree, kept as the independent
 * reference the "fields" fuzz target holds ngx_http_snap_json_check to.
 */

#ifndef _REF_FIELDS_H_INCLUDED_
#define _REF_FIELDS_H_INCLUDED_

#include "ngx_http_snap_lib.h"

int ref_fields_check(const unsigned char *p, size_t len,
    const ngx_http_snap_field_t *fields, size_t n, char *err, size_t errlen);

#endif /* _REF_FIELDS_H_INCLUDED_ */
