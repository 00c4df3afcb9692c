
/*
 * Copyright (C) ngx_http_snap_module authors
 *
 * SipHash-2-4, for hash tables no sender can fill one bucket of.  No
 * nginx runtime here.
 */


#include "ngx_http_snap_siphash.h"


static uint64_t ngx_http_snap_le64(const unsigned char *p, size_t n);


/*
 * SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so that nobody who
 * does not know the key can make ids collide in a hash table.
 */

#define ngx_http_snap_rotl(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_snap_sipround(v0, v1, v2, v3)                                \
    v0 += v1; v1 = ngx_http_snap_rotl(v1, 13); v1 ^= v0;                      \
    v0 = ngx_http_snap_rotl(v0, 32);                                          \
    v2 += v3; v3 = ngx_http_snap_rotl(v3, 16); v3 ^= v2;                      \
    v0 += v3; v3 = ngx_http_snap_rotl(v3, 21); v3 ^= v0;                      \
    v2 += v1; v1 = ngx_http_snap_rotl(v1, 17); v1 ^= v2;                      \
    v2 = ngx_http_snap_rotl(v2, 32)


static uint64_t
ngx_http_snap_le64(const unsigned char *p, size_t n)
{
    size_t    i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < n; i++) {
        v |= (uint64_t) p[i] << (8 * i);
    }

    return v;
}


uint64_t
ngx_http_snap_siphash(const unsigned char key[16], const unsigned char *p,
    size_t len)
{
    size_t    i;
    uint64_t  k0, k1, v0, v1, v2, v3, m;

    k0 = ngx_http_snap_le64(key, 8);
    k1 = ngx_http_snap_le64(key + 8, 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    for (i = 0; i + 8 <= len; i += 8) {
        m = ngx_http_snap_le64(p + i, 8);
        v3 ^= m;
        ngx_http_snap_sipround(v0, v1, v2, v3);
        ngx_http_snap_sipround(v0, v1, v2, v3);
        v0 ^= m;
    }

    m = ngx_http_snap_le64(p + i, len - i) | (uint64_t) len << 56;

    v3 ^= m;
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= 0xff;
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);
    ngx_http_snap_sipround(v0, v1, v2, v3);

    return v0 ^ v1 ^ v2 ^ v3;
}


/*
 * The one hash for what configuration names (partner ids) and for the
 * token cache's slots: SipHash under a fixed key, since there nobody
 * chooses inputs to collide (configuration refuses a collision).
 */

uint64_t
ngx_http_snap_hash(const unsigned char *p, size_t len)
{
    static const unsigned char  key[16] = "ngx_http_snap_hk";

    return ngx_http_snap_siphash(key, p, len);
}
