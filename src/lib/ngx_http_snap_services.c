
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * What the module knows of SNAP's services, in one table: name, 2-digit
 * code, and the body profile from the provider's pages (seeds 000-004).
 * No nginx runtime here.
 */


#include <string.h>

#include "ngx_http_snap_services.h"


#define ngx_http_snap_required(path, type, format)                           \
    { path, NGX_HTTP_SNAP_JSON_##type, NGX_HTTP_SNAP_FMT_##format, 1, 0 }
#define ngx_http_snap_required_max(path, type, format, max)                  \
    { path, NGX_HTTP_SNAP_JSON_##type, NGX_HTTP_SNAP_FMT_##format, 1, max }
#define ngx_http_snap_optional(path, type, format)                           \
    { path, NGX_HTTP_SNAP_JSON_##type, NGX_HTTP_SNAP_FMT_##format, 0, 0 }
#define ngx_http_snap_optional_max(path, type, format, max)                  \
    { path, NGX_HTTP_SNAP_JSON_##type, NGX_HTTP_SNAP_FMT_##format, 0, max }
#define ngx_http_snap_end_of_fields  { NULL, 0, 0, 0, 0 }


/* seed 000: Payment Notification QRIS, service 52 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_notify[] = {
    ngx_http_snap_required("originalReferenceNo", STRING, NONE),
    ngx_http_snap_required("originalPartnerReferenceNo", STRING, NONE),
    ngx_http_snap_required("latestTransactionStatus", STRING, STATUS),
    ngx_http_snap_required("transactionStatusDesc", STRING, NONE),
    ngx_http_snap_required("amount", OBJECT, NONE),
    ngx_http_snap_required("amount.value", STRING, AMOUNT),
    ngx_http_snap_required("amount.currency", STRING, CURRENCY),
    ngx_http_snap_optional("externalStoreId", STRING, NONE),
    ngx_http_snap_optional("additionalInfo", OBJECT, NONE),
    ngx_http_snap_optional("additionalInfo.rrn", STRING, NONE),
    ngx_http_snap_end_of_fields
};


/* seed 001: Payment Notification Debit, service 56 */
static const ngx_http_snap_field_t  ngx_http_snap_debit_notify[] = {
    ngx_http_snap_required("originalReferenceNo", STRING, NONE),
    ngx_http_snap_required("originalPartnerReferenceNo", STRING, NONE),
    ngx_http_snap_required("latestTransactionStatus", STRING, STATUS),
    ngx_http_snap_required("transactionStatusDesc", STRING, NONE),
    ngx_http_snap_required("createdTime", STRING, TIMESTAMP),
    ngx_http_snap_optional("additionalInfo", OBJECT, NONE),
    ngx_http_snap_end_of_fields
};


/*
 * seed 002: Generate QRIS, service 47.  The page's own sample sends
 * items[].price.value as a number although its table says String, so any
 * scalar is taken there.
 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_generate[] = {
    ngx_http_snap_required_max("partnerReferenceNo", STRING, NONE, 36),
    ngx_http_snap_required("amount", OBJECT, NONE),
    ngx_http_snap_required("amount.value", STRING, AMOUNT),
    ngx_http_snap_required("amount.currency", STRING, CURRENCY),
    ngx_http_snap_optional_max("merchantId", STRING, NONE, 64),
    ngx_http_snap_optional_max("storeId", STRING, NONE, 16),
    ngx_http_snap_required_max("validityPeriod", STRING, TIMESTAMP, 25),
    ngx_http_snap_required("additionalInfo", OBJECT, NONE),
    ngx_http_snap_required("additionalInfo.acquirer", INTEGER, NONE),
    ngx_http_snap_required("additionalInfo.items", ARRAY, NONE),
    ngx_http_snap_required("additionalInfo.items[].id", STRING, NONE),
    ngx_http_snap_required("additionalInfo.items[].name", STRING, NONE),
    ngx_http_snap_required("additionalInfo.items[].quantity", STRING, NONE),
    ngx_http_snap_required("additionalInfo.items[].price", OBJECT, NONE),
    ngx_http_snap_required("additionalInfo.items[].price.value", SCALAR, NONE),
    ngx_http_snap_required("additionalInfo.items[].price.currency",
        STRING, CURRENCY),
    ngx_http_snap_required("additionalInfo.customerDetails", OBJECT, NONE),
    ngx_http_snap_required("additionalInfo.customerDetails.email",
        STRING, NONE),
    ngx_http_snap_required("additionalInfo.customerDetails.firstName",
        STRING, NONE),
    ngx_http_snap_required("additionalInfo.customerDetails.lastName",
        STRING, NONE),
    ngx_http_snap_required("additionalInfo.customerDetails.phone",
        STRING, NONE),
    ngx_http_snap_end_of_fields
};


/* seed 003: Query QRIS, service 51 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_query[] = {
    ngx_http_snap_required("originalReferenceNo", STRING, NONE),
    ngx_http_snap_required("serviceCode", STRING, NONE),
    ngx_http_snap_end_of_fields
};


/* seed 004: Expire QRIS by bill number, service 93 */
static const ngx_http_snap_field_t  ngx_http_snap_qr_mpm_expire[] = {
    ngx_http_snap_required("billnumber", STRING, NONE),
    ngx_http_snap_required("additionalInfo", OBJECT, NONE),
    ngx_http_snap_required("additionalInfo.merchantId", STRING, NONE),
    ngx_http_snap_end_of_fields
};


/* SNAP's "Informasi Umum" service codes, plus QoinHub's expire (93) */
const ngx_http_snap_service_t  ngx_http_snap_services[] = {
    { "registration-card-bind", 1, NULL },
    { "registration-card-bind-limit", 2, NULL },
    { "registration-card-inquiry", 3, NULL },
    { "otp-verification", 4, NULL },
    { "registration-card-unbind", 5, NULL },
    { "registration-account-creation", 6, NULL },
    { "registration-account-binding", 7, NULL },
    { "registration-account-inquiry", 8, NULL },
    { "registration-account-unbinding", 9, NULL },
    { "get-auth-code", 10, NULL },
    { "balance-inquiry", 11, NULL },
    { "transaction-history-list", 12, NULL },
    { "transaction-history-detail", 13, NULL },
    { "bank-statement", 14, NULL },
    { "account-inquiry-internal", 15, NULL },
    { "account-inquiry-external", 16, NULL },
    { "transfer-intrabank", 17, NULL },
    { "transfer-interbank", 18, NULL },
    { "transfer-request-for-payment", 19, NULL },
    { "transfer-interbank-bulk", 20, NULL },
    { "transfer-interbank-bulk-notify", 21, NULL },
    { "transfer-rtgs", 22, NULL },
    { "transfer-skn", 23, NULL },
    { "transfer-va-inquiry", 24, NULL },
    { "transfer-va-payment", 25, NULL },
    { "transfer-va-status", 26, NULL },
    { "transfer-va-create-va", 27, NULL },
    { "transfer-va-update-va", 28, NULL },
    { "transfer-va-update-status", 29, NULL },
    { "transfer-va-inquiry-va", 30, NULL },
    { "transfer-va-delete-va", 31, NULL },
    { "transfer-va-inquiry-intrabank", 32, NULL },
    { "transfer-va-payment-intrabank", 33, NULL },
    { "transfer-va-notify-payment-intrabank", 34, NULL },
    { "transfer-va-report", 35, NULL },
    { "transfer-status", 36, NULL },
    { "emoney-account-inquiry", 37, NULL },
    { "emoney-topup", 38, NULL },
    { "emoney-topup-status", 39, NULL },
    { "emoney-bulk-cashin-payment", 40, NULL },
    { "emoney-bulk-cashin-notify", 41, NULL },
    { "emoney-bank-account-inquiry", 42, NULL },
    { "emoney-transfer-bank", 43, NULL },
    { "emoney-otc-cashout", 44, NULL },
    { "emoney-otc-status", 45, NULL },
    { "emoney-otc-cancel", 46, NULL },
    { "qr-mpm-generate", 47, ngx_http_snap_qr_mpm_generate },
    { "qr-mpm-decode", 48, NULL },
    { "qr-apply-ott", 49, NULL },
    { "qr-mpm-payment", 50, NULL },
    { "qr-mpm-query", 51, ngx_http_snap_qr_mpm_query },
    { "qr-mpm-notify", 52, ngx_http_snap_qr_mpm_notify },
    { "qr-mpm-status", 53, NULL },
    { "debit-payment-host-to-host", 54, NULL },
    { "debit-status", 55, NULL },
    { "debit-notify", 56, ngx_http_snap_debit_notify },
    { "debit-cancel", 57, NULL },
    { "debit-refund", 58, NULL },
    { "qr-cpm-generate", 59, NULL },
    { "qr-cpm-payment", 60, NULL },
    { "qr-cpm-query", 61, NULL },
    { "qr-cpm-cancel", 62, NULL },
    { "auth-payment", 63, NULL },
    { "auth-query", 64, NULL },
    { "auth-capture", 65, NULL },
    { "auth-capture-query", 66, NULL },
    { "auth-void", 67, NULL },
    { "auth-void-query", 68, NULL },
    { "auth-refund", 69, NULL },
    { "debit-fast-emandate", 70, NULL },
    { "debit-fast-payment", 71, NULL },
    { "debit-fast-notify", 72, NULL },
    { "access-token-b2b", 73, NULL },
    { "access-token-b2b2c", 74, NULL },
    { "transfer-skn-notify", 75, NULL },
    { "transfer-rtgs-notify", 76, NULL },
    { "qr-mpm-cancel", 77, NULL },
    { "qr-mpm-refund", 78, NULL },
    { "qr-cpm-notify", 79, NULL },
    { "qr-cpm-refund", 80, NULL },
    { "otp", 81, NULL },
    { "qr-mpm-expire-billnumber", 93, ngx_http_snap_qr_mpm_expire },
    { NULL, 0, NULL }
};


/*
 * A service by name, as in the tables ("qr-mpm-notify") or in the spec's
 * paths ("qr/qr-mpm-notify", "transfer-va/payment"); NULL when unknown.
 */

const ngx_http_snap_service_t *
ngx_http_snap_service(const unsigned char *name, size_t len)
{
    size_t                          i;
    unsigned char                   buf[64];
    const ngx_http_snap_service_t  *s;

    if (len >= sizeof(buf)) {
        return NULL;
    }

    if (len > 6 && memcmp(name, "qr/qr-", 6) == 0) {
        name += 3;
        len -= 3;
    }

    for (i = 0; i < len; i++) {
        buf[i] = (name[i] == '/') ? '-' : name[i];
    }

    for (s = ngx_http_snap_services; s->name; s++) {
        if (strlen(s->name) == len && memcmp(s->name, buf, len) == 0) {
            return s;
        }
    }

    return NULL;
}

