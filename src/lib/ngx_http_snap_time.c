
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * X-TIMESTAMP: ISO-8601 parsing to seconds, the WIB day, and the WIB
 * format nginx answers with.  No nginx runtime here.
 */


#include <string.h>

#include "ngx_http_snap_time.h"


static int ngx_http_snap_digits(const unsigned char *p, size_t n, int *v);
static int64_t ngx_http_snap_days_from_civil(int64_t y, int m, int d);
static void ngx_http_snap_civil_from_days(int64_t z, int64_t *y, int *m,
    int *d);


static int
ngx_http_snap_digits(const unsigned char *p, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        *v = *v * 10 + (p[i] - '0');
    }

    return 0;
}


/* proleptic Gregorian calendar, valid for every 4-digit year */

static int64_t
ngx_http_snap_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
ngx_http_snap_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


/*
 * yyyy-MM-ddTHH:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm), the forms SNAP senders use
 * (the spec's TZD, BRI's .SSS, JavaScript's toISOString()).  A leap second
 * (ss = 60) is refused: no SNAP sender emits one and it cannot be ordered.
 */

int
ngx_http_snap_parse_timestamp(const unsigned char *p, size_t len, int64_t *t)
{
    return ngx_http_snap_parse_timestamp_as(p, len, 0, t);
}


/*
 * The same, with the looser forms a partner's sender may write:
 * NGX_HTTP_SNAP_TS_BASIC_OFFSET takes "+hhmm" (Java's SimpleDateFormat
 * "Z"), NGX_HTTP_SNAP_TS_WIB a time without an offset as WIB (+07:00).
 */

int
ngx_http_snap_parse_timestamp_as(const unsigned char *p, size_t len,
    unsigned forms, int64_t *t)
{
    int                   year, mon, day, hour, min, sec, oh, om, mdays;
    int64_t               days, off;
    const unsigned char  *end;

    static const int  month_days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (len < ((forms & NGX_HTTP_SNAP_TS_WIB) ? 19 : 20) || len > 35) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    end = p + len;

    if (ngx_http_snap_digits(p, 4, &year) != 0 || p[4] != '-'
        || ngx_http_snap_digits(p + 5, 2, &mon) != 0 || p[7] != '-'
        || ngx_http_snap_digits(p + 8, 2, &day) != 0 || p[10] != 'T'
        || ngx_http_snap_digits(p + 11, 2, &hour) != 0 || p[13] != ':'
        || ngx_http_snap_digits(p + 14, 2, &min) != 0 || p[16] != ':'
        || ngx_http_snap_digits(p + 17, 2, &sec) != 0)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    if (year < 1 || mon < 1 || mon > 12 || day < 1 || hour > 23
        || min > 59 || sec > 59)
    {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    mdays = month_days[mon - 1];

    if (mon == 2
        && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        mdays = 29;
    }

    if (day > mdays) {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    p += 19;

    if (p < end && *p == '.') {
        p++;

        if (p == end || *p < '0' || *p > '9') {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p == end) {
        if (!(forms & NGX_HTTP_SNAP_TS_WIB)) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        off = NGX_HTTP_SNAP_WIB_OFFSET;

    } else if (*p == 'Z') {
        if (p + 1 != end) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        off = 0;

    } else if (*p == '+' || *p == '-') {
        if (end - p == 5 && (forms & NGX_HTTP_SNAP_TS_BASIC_OFFSET)) {
            if (ngx_http_snap_digits(p + 1, 2, &oh) != 0
                || ngx_http_snap_digits(p + 3, 2, &om) != 0)
            {
                return NGX_HTTP_SNAP_LIB_INVALID;
            }

        } else if (end - p != 6 || p[3] != ':'
                   || ngx_http_snap_digits(p + 1, 2, &oh) != 0
                   || ngx_http_snap_digits(p + 4, 2, &om) != 0)
        {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        if (oh > 14 || om > 59 || (oh == 14 && om != 0)) {
            return NGX_HTTP_SNAP_LIB_INVALID;
        }

        off = (int64_t) oh * 3600 + om * 60;

        if (*p == '-') {
            off = -off;
        }

    } else {
        return NGX_HTTP_SNAP_LIB_INVALID;
    }

    days = ngx_http_snap_days_from_civil(year, mon, day);

    *t = days * 86400 + hour * 3600 + min * 60 + sec - off;

    return NGX_HTTP_SNAP_LIB_OK;
}


int64_t
ngx_http_snap_wib_day(int64_t t)
{
    t += NGX_HTTP_SNAP_WIB_OFFSET;

    return t >= 0 ? t / 86400 : (t - 86399) / 86400;
}


/* 25 bytes: yyyy-MM-ddTHH:mm:ss+07:00 */

void
ngx_http_snap_format_wib(int64_t t, unsigned char *dst)
{
    int      m, d, s;
    int64_t  y, days;

    days = ngx_http_snap_wib_day(t);
    s = (int) (t + NGX_HTTP_SNAP_WIB_OFFSET - days * 86400);

    ngx_http_snap_civil_from_days(days, &y, &m, &d);

    y %= 10000;

    dst[0] = '0' + (int) (y / 1000);
    dst[1] = '0' + (int) (y / 100 % 10);
    dst[2] = '0' + (int) (y / 10 % 10);
    dst[3] = '0' + (int) (y % 10);
    dst[4] = '-';
    dst[5] = '0' + m / 10;
    dst[6] = '0' + m % 10;
    dst[7] = '-';
    dst[8] = '0' + d / 10;
    dst[9] = '0' + d % 10;
    dst[10] = 'T';
    dst[11] = '0' + s / 36000;
    dst[12] = '0' + s / 3600 % 10;
    dst[13] = ':';
    dst[14] = '0' + s % 3600 / 600;
    dst[15] = '0' + s % 3600 / 60 % 10;
    dst[16] = ':';
    dst[17] = '0' + s % 60 / 10;
    dst[18] = '0' + s % 10;
    memcpy(dst + 19, "+07:00", 6);
}
