/*
 * siphash: SipHash-1-3 (Aumasson and Bernstein's keyed hash with one
 * compression round and three finalization rounds), written for the table.
 *
 * Why keyed: the table's old hash was a fixed, invertible mix, so anyone
 * could compute offline keys that share a bucket chain whatever the seed,
 * and fill one stripe with them (hash flooding).  With a 128-bit secret key
 * drawn at start-up, finding collisions means recovering the key, which
 * SipHash is built to resist.  Why 1-3 rather than the paper's 2-4: keys
 * are short, the table needs no MAC, and 1-3 is what Python, Rust and
 * Ruby use for their hash tables for the same trade: about half the cost.
 */
#ifndef MCD_SIPHASH_H
#define MCD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIP_ROUND(v0, v1, v2, v3)                                                               \
    do {                                                                                       \
        v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);                      \
        v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                                             \
        v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                                             \
        v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);                      \
    } while (0)

/* Eight bytes as a little-endian word, whatever the host's order. */
static inline uint64_t sip_load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* SipHash-1-3 of in[0..n) under the key (k0, k1): k0 is the key's first
 * eight bytes read little-endian, k1 the last eight. */
static inline uint64_t siphash13(uint64_t k0, uint64_t k1, const void *in, size_t n)
{
    const unsigned char *p = in;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t b = (uint64_t)n << 56;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t m = sip_load64(p);
        v3 ^= m;
        SIP_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    switch (n) {
    case 7: b |= (uint64_t)p[6] << 48; /* fall through */
    case 6: b |= (uint64_t)p[5] << 40; /* fall through */
    case 5: b |= (uint64_t)p[4] << 32; /* fall through */
    case 4: b |= (uint64_t)p[3] << 24; /* fall through */
    case 3: b |= (uint64_t)p[2] << 16; /* fall through */
    case 2: b |= (uint64_t)p[1] << 8;  /* fall through */
    case 1: b |= (uint64_t)p[0];       /* fall through */
    default: break;
    }
    v3 ^= b;
    SIP_ROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    SIP_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

#endif
