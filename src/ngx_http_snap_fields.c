
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Body profiles: the mandatory fields and formats of each service, from the
 * provider's pages (seeds 000-004), checked on a cJSON tree.  No nginx
 * runtime here, so the unit tests and the fuzzers use it as it is.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_snap_lib.h"


#define M   1
#define O   0

#define T_ANY     NGX_HTTP_SNAP_JSON_ANY
#define T_STR     NGX_HTTP_SNAP_JSON_STRING
#define T_OBJ     NGX_HTTP_SNAP_JSON_OBJECT
#define T_ARR     NGX_HTTP_SNAP_JSON_ARRAY
#define T_INT     NGX_HTTP_SNAP_JSON_INTEGER
#define T_SCALAR  NGX_HTTP_SNAP_JSON_SCALAR

#define F_NONE    NGX_HTTP_SNAP_FMT_NONE
#define F_AMOUNT  NGX_HTTP_SNAP_FMT_AMOUNT
#define F_CUR     NGX_HTTP_SNAP_FMT_CURRENCY
#define F_STATUS  NGX_HTTP_SNAP_FMT_STATUS
#define F_TIME    NGX_HTTP_SNAP_FMT_TIMESTAMP


typedef struct ngx_http_snap_walk_s  ngx_http_snap_walk_t;

static int ngx_http_snap_walk(const cJSON *node, const char *path,
    ngx_http_snap_walk_t *w);
static void ngx_http_snap_failed_path(ngx_http_snap_walk_t *w, char *err,
    size_t errlen);
static int ngx_http_snap_segments_before(const char *path, const char *at);
static int ngx_http_snap_arrays_before(const char *path, const char *at);
static int ngx_http_snap_check_value(const cJSON *v,
    const ngx_http_snap_field_t *f);
static int ngx_http_snap_format_ok(const char *s, unsigned format);


/* seed 000: Payment Notification QRIS, service 52 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_notify[] = {
    { "originalReferenceNo", T_STR, F_NONE, M, 0 },
    { "originalPartnerReferenceNo", T_STR, F_NONE, M, 0 },
    { "latestTransactionStatus", T_STR, F_STATUS, M, 0 },
    { "transactionStatusDesc", T_STR, F_NONE, M, 0 },
    { "amount", T_OBJ, F_NONE, M, 0 },
    { "amount.value", T_STR, F_AMOUNT, M, 0 },
    { "amount.currency", T_STR, F_CUR, M, 0 },
    { "externalStoreId", T_STR, F_NONE, O, 0 },
    { "additionalInfo", T_OBJ, F_NONE, O, 0 },
    { "additionalInfo.rrn", T_STR, F_NONE, O, 0 },
    { NULL, 0, 0, 0, 0 }
};


/* seed 001: Payment Notification Debit, service 56 */
static const ngx_http_snap_field_t  ngx_http_snap_debit_notify[] = {
    { "originalReferenceNo", T_STR, F_NONE, M, 0 },
    { "originalPartnerReferenceNo", T_STR, F_NONE, M, 0 },
    { "latestTransactionStatus", T_STR, F_STATUS, M, 0 },
    { "transactionStatusDesc", T_STR, F_NONE, M, 0 },
    { "createdTime", T_STR, F_TIME, M, 0 },
    { "additionalInfo", T_OBJ, F_NONE, O, 0 },
    { NULL, 0, 0, 0, 0 }
};


/*
 * seed 002: Generate QRIS, service 47.  The page's own sample sends
 * items[].price.value as a number although its table says String, so any
 * scalar is taken there.
 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_generate[] = {
    { "partnerReferenceNo", T_STR, F_NONE, M, 36 },
    { "amount", T_OBJ, F_NONE, M, 0 },
    { "amount.value", T_STR, F_AMOUNT, M, 0 },
    { "amount.currency", T_STR, F_CUR, M, 0 },
    { "merchantId", T_STR, F_NONE, O, 64 },
    { "storeId", T_STR, F_NONE, O, 16 },
    { "validityPeriod", T_STR, F_TIME, M, 25 },
    { "additionalInfo", T_OBJ, F_NONE, M, 0 },
    { "additionalInfo.acquirer", T_INT, F_NONE, M, 0 },
    { "additionalInfo.items", T_ARR, F_NONE, M, 0 },
    { "additionalInfo.items[].id", T_STR, F_NONE, M, 0 },
    { "additionalInfo.items[].name", T_STR, F_NONE, M, 0 },
    { "additionalInfo.items[].quantity", T_STR, F_NONE, M, 0 },
    { "additionalInfo.items[].price", T_OBJ, F_NONE, M, 0 },
    { "additionalInfo.items[].price.value", T_SCALAR, F_NONE, M, 0 },
    { "additionalInfo.items[].price.currency", T_STR, F_CUR, M, 0 },
    { "additionalInfo.customerDetails", T_OBJ, F_NONE, M, 0 },
    { "additionalInfo.customerDetails.email", T_STR, F_NONE, M, 0 },
    { "additionalInfo.customerDetails.firstName", T_STR, F_NONE, M, 0 },
    { "additionalInfo.customerDetails.lastName", T_STR, F_NONE, M, 0 },
    { "additionalInfo.customerDetails.phone", T_STR, F_NONE, M, 0 },
    { NULL, 0, 0, 0, 0 }
};


/* seed 003: Query QRIS, service 51 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_query[] = {
    { "originalReferenceNo", T_STR, F_NONE, M, 0 },
    { "serviceCode", T_STR, F_NONE, M, 0 },
    { NULL, 0, 0, 0, 0 }
};


/* seed 004: Expire QRIS by bill number, service 93 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_expire[] = {
    { "billnumber", T_STR, F_NONE, M, 0 },
    { "additionalInfo", T_OBJ, F_NONE, M, 0 },
    { "additionalInfo.merchantId", T_STR, F_NONE, M, 0 },
    { NULL, 0, 0, 0, 0 }
};


const ngx_http_snap_field_t *
ngx_http_snap_profile(unsigned service)
{
    switch (service) {
    case 47:
        return ngx_http_snap_qr_mpm_generate;
    case 51:
        return ngx_http_snap_qr_mpm_query;
    case 52:
        return ngx_http_snap_qr_mpm_notify;
    case 56:
        return ngx_http_snap_debit_notify;
    case 93:
        return ngx_http_snap_qr_mpm_expire;
    default:
        return NULL;
    }
}


/*
 * A body is JSON only when the value fills it: cJSON stops after the
 * first value, so "{}garbage" would otherwise pass, and it skips every
 * control character as whitespace, so those are refused first.
 */

cJSON *
ngx_http_snap_json_parse(const unsigned char *p, size_t len)
{
    size_t                i;
    cJSON                *json;
    const char           *end;
    const unsigned char  *last;

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return NULL;
        }
    }

    end = NULL;
    json = cJSON_ParseWithLengthOpts((const char *) p, len, &end, 0);

    if (json == NULL) {
        return NULL;
    }

    last = p + len;

    for (p = (const unsigned char *) end; p < last; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(json);
            return NULL;
        }
    }

    return json;
}


/*
 * A field path is names joined by '.', a name followed by "[]" stands for
 * every element of that array: "a.b", "items[].id".
 */

int
ngx_http_snap_field_path_ok(const char *path)
{
    const char  *p;

    if (*path == '\0' || strlen(path) > NGX_HTTP_SNAP_FIELD_MAX) {
        return 0;
    }

    for (p = path; *p; p++) {
        if (*p == '.') {
            if (p == path || p[-1] == '.' || p[1] == '\0') {
                return 0;
            }

        } else if (*p == '[') {
            if (p[1] != ']' || p == path || p[-1] == '.'
                || (p[2] != '\0' && p[2] != '.'))
            {
                return 0;
            }

            p++;

        } else if (*p == ']' || *p == '"' || *p == '\\'
                   || (unsigned char) *p <= 0x20
                   || (unsigned char) *p >= 0x7f)
        {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_snap_format_ok(const char *s, unsigned format)
{
    int64_t      t;
    size_t       i, n, len;

    len = strlen(s);

    switch (format) {

    case NGX_HTTP_SNAP_FMT_AMOUNT:
        /* ^[0-9]{1,16}\.[0-9]{2}$ */
        for (n = 0; n < len && s[n] >= '0' && s[n] <= '9'; n++) {
            /* void */
        }

        if (n < 1 || n > 16 || len != n + 3 || s[n] != '.') {
            return 0;
        }

        return s[n + 1] >= '0' && s[n + 1] <= '9'
               && s[n + 2] >= '0' && s[n + 2] <= '9';

    case NGX_HTTP_SNAP_FMT_CURRENCY:
        if (len != 3) {
            return 0;
        }

        for (i = 0; i < 3; i++) {
            if (s[i] < 'A' || s[i] > 'Z') {
                return 0;
            }
        }

        return 1;

    case NGX_HTTP_SNAP_FMT_STATUS:
        return len == 2 && s[0] == '0' && s[1] >= '0' && s[1] <= '9';

    case NGX_HTTP_SNAP_FMT_TIMESTAMP:
        return ngx_http_snap_parse_timestamp((const unsigned char *) s, len,
                                             &t) == 0;

    default:
        return 1;
    }
}


static int
ngx_http_snap_check_value(const cJSON *v, const ngx_http_snap_field_t *f)
{
    switch (f->type) {

    case NGX_HTTP_SNAP_JSON_STRING:
        if (!cJSON_IsString(v)) {
            return 0;
        }

        if (f->max_len && strlen(v->valuestring) > f->max_len) {
            return 0;
        }

        return ngx_http_snap_format_ok(v->valuestring, f->format);

    case NGX_HTTP_SNAP_JSON_OBJECT:
        return cJSON_IsObject(v);

    case NGX_HTTP_SNAP_JSON_ARRAY:
        return cJSON_IsArray(v);

    case NGX_HTTP_SNAP_JSON_INTEGER:
        /* cJSON keeps numbers as doubles: an integer has no fraction */
        return cJSON_IsNumber(v) && v->valuedouble == (double) v->valueint;

    case NGX_HTTP_SNAP_JSON_SCALAR:
        return cJSON_IsString(v) || cJSON_IsNumber(v);

    default:
        return 1;
    }
}


/*
 * The walk records where it is (the segment, and the element of each array
 * on the way) and writes a path only when a check fails, as in
 * "additionalInfo.items[1].price.value": a passing body costs no printing.
 */

struct ngx_http_snap_walk_s {
    const ngx_http_snap_field_t  *field;
    int                           index[NGX_HTTP_SNAP_FIELD_MAX / 3 + 1];
    int                           arrays;
    int                           segments;
};


/* how many segments, and how many arrays, the path has up to at */

static int
ngx_http_snap_segments_before(const char *path, const char *at)
{
    int  n;

    for (n = 1; path < at; path++) {
        n += (*path == '.');
    }

    return n;
}


static int
ngx_http_snap_arrays_before(const char *path, const char *at)
{
    int  n;

    for (n = 0; path < at; path++) {
        n += (*path == '[');
    }

    return n;
}


static int
ngx_http_snap_walk(const cJSON *node, const char *path,
    ngx_http_snap_walk_t *w)
{
    int           rc, array, i;
    size_t        len, n;
    char          name[NGX_HTTP_SNAP_FIELD_MAX + 1];
    const char   *dot;
    const cJSON  *child, *el;

    dot = strchr(path, '.');
    len = dot ? (size_t) (dot - path) : strlen(path);

    array = len > 2 && path[len - 2] == '[' && path[len - 1] == ']';
    n = array ? len - 2 : len;

    memcpy(name, path, n);
    name[n] = '\0';

    w->segments++;

    if (!cJSON_IsObject(node)) {
        return NGX_HTTP_SNAP_FIELD_BAD;
    }

    child = cJSON_GetObjectItemCaseSensitive(node, name);

    if (child == NULL || cJSON_IsNull(child)) {
        return w->field->required ? NGX_HTTP_SNAP_FIELD_MISSING
                                  : NGX_HTTP_SNAP_FIELD_OK;
    }

    if (!array) {
        if (dot == NULL) {
            return ngx_http_snap_check_value(child, w->field)
                   ? NGX_HTTP_SNAP_FIELD_OK : NGX_HTTP_SNAP_FIELD_BAD;
        }

        return ngx_http_snap_walk(child, dot + 1, w);
    }

    if (!cJSON_IsArray(child)) {
        return NGX_HTTP_SNAP_FIELD_BAD;
    }

    i = 0;
    w->arrays++;

    cJSON_ArrayForEach(el, child) {
        w->index[w->arrays - 1] = i;

        if (dot == NULL) {
            rc = ngx_http_snap_check_value(el, w->field)
                 ? NGX_HTTP_SNAP_FIELD_OK : NGX_HTTP_SNAP_FIELD_BAD;

        } else {
            rc = ngx_http_snap_walk(el, dot + 1, w);
        }

        if (rc != NGX_HTTP_SNAP_FIELD_OK) {
            return rc;
        }

        /* the next element walks the rest of the path again */
        if (dot) {
            w->segments = ngx_http_snap_segments_before(w->field->path, dot);
            w->arrays = ngx_http_snap_arrays_before(w->field->path, dot);
        }

        i++;
    }

    return NGX_HTTP_SNAP_FIELD_OK;
}


/* the failing path: w->segments names, "[]" given their element index */

static void
ngx_http_snap_failed_path(ngx_http_snap_walk_t *w, char *err, size_t errlen)
{
    int          seg, arr;
    size_t       used;
    const char  *p, *end, *dot;

    used = 0;
    arr = 0;
    p = w->field->path;
    end = p + strlen(p);

    for (seg = 0; seg < w->segments && p < end; seg++) {
        dot = strchr(p, '.');
        if (dot == NULL) {
            dot = end;
        }

        if (dot - p > 2 && dot[-2] == '[' && dot[-1] == ']') {
            used += snprintf(err + used, errlen - used, "%s%.*s",
                             used ? "." : "", (int) (dot - p - 2), p);

            /* an array the walk went into has an element to name */
            if (arr < w->arrays && used < errlen) {
                used += snprintf(err + used, errlen - used, "[%d]",
                                 w->index[arr]);
            }

            arr++;

        } else {
            used += snprintf(err + used, errlen - used, "%s%.*s",
                             used ? "." : "", (int) (dot - p), p);
        }

        if (used >= errlen) {
            err[errlen - 1] = '\0';
            return;
        }

        p = dot + 1;
    }
}


/*
 * Checks fields (terminated by a NULL path) in order; the first failure
 * wins and its path goes to err.
 */

int
ngx_http_snap_check_fields(const cJSON *root,
    const ngx_http_snap_field_t *fields, char *err, size_t errlen)
{
    int                   rc;
    ngx_http_snap_walk_t  w;

    for ( /* void */ ; fields->path; fields++) {
        w.field = fields;
        w.arrays = 0;
        w.segments = 0;

        rc = ngx_http_snap_walk(root, fields->path, &w);

        if (rc != NGX_HTTP_SNAP_FIELD_OK) {
            err[0] = '\0';
            ngx_http_snap_failed_path(&w, err, errlen);
            return rc;
        }
    }

    err[0] = '\0';

    return NGX_HTTP_SNAP_FIELD_OK;
}
