
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * Body profiles: the mandatory fields and formats of each service, from the
 * provider's pages (seeds 000-004), the field path syntax and the value
 * formats; ngx_http_snap_json.c checks a body against them.  No nginx
 * runtime here, so the unit tests and the fuzzers use it as it is.
 */


#include <string.h>

#include "ngx_http_snap_fields.h"
#include "ngx_http_snap_time.h"


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


/* a profile's value formats, on a string's decoded bytes */

int
ngx_http_snap_format_ok(const unsigned char *s, size_t len, unsigned format)
{
    int64_t  t;
    size_t   i, n;

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
        return ngx_http_snap_parse_timestamp(s, len, &t) == 0;

    case NGX_HTTP_SNAP_FMT_GRANT:
        return len == sizeof("client_credentials") - 1
               && memcmp(s, "client_credentials", len) == 0;

    default:
        return 1;
    }
}


/* printable ASCII, 1 to max bytes */

int
ngx_http_snap_header_value_ok(const unsigned char *p, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}
