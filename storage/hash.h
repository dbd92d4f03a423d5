/*
 * hash: the key hash used by the table.  A 64-bit multiply-and-mix over
 * eight bytes at a time, seeded per process: keys are short, so the
 * per-call cost matters more than throughput on long inputs.  The table takes the stripe from the low
 * bits and its tag from the high ones.
 */
#ifndef MCD_HASH_H
#define MCD_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* A random seed chosen at start-up (cache_setup), so nobody can compute
 * offline which keys collide in the table. */
extern uint64_t hash_seed;

/* 64-bit hash of a key. */
static inline uint64_t hash_key(const char *key, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = (0x2545f4914f6cdd1dULL ^ hash_seed) ^ (n * m);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ hash_mix(w)) * m;
        key += 8;
        n -= 8;
    }
    /* The last 0..7 bytes without a call to memcpy: two overlapping loads. */
    uint64_t w = 0;
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, key, 4);
        memcpy(&hi, key + n - 4, 4);
        w = (uint64_t)hi << 32 | lo;
    } else if (n > 0) {
        w = (uint64_t)(unsigned char)key[0] << 16 | (uint64_t)(unsigned char)key[n / 2] << 8 |
            (unsigned char)key[n - 1];
    }
    return hash_mix(h ^ w ^ ((uint64_t)n << 59));
}

#endif
