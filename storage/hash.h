/*
 * hash: the key hash used by the table.  Keys are short, so the cost per
 * call matters more than speed on long inputs: a key of up to 16 bytes is
 * read as two (overlapping) 8-byte words and folded twice by a 64 x 64 ->
 * 128-bit multiply (the product's halves xored), longer keys 16 bytes per
 * fold.  Both operands of every fold carry the per-process random seed, so
 * no key can be chosen to zero one of them (which would make the other
 * side's bytes irrelevant).  The table takes the stripe from the low bits
 * and its tag from the high ones; a multiply spreads every input bit over
 * both.
 */
#ifndef MCD_HASH_H
#define MCD_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A random seed chosen at start-up (cache_setup), so nobody can compute
 * offline which keys collide in the table. */
extern uint64_t hash_seed;

/* The 128-bit product of a and b, its halves xored. */
static inline uint64_t hash_fold(uint64_t a, uint64_t b)
{
    __uint128_t p = (__uint128_t)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static inline uint64_t hash_word(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t hash_half(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* 64-bit hash of a key. */
static inline uint64_t hash_key(const char *key, size_t n)
{
    const uint64_t k1 = 0xe7037ed1a0b428dbULL, k2 = 0x8ebc6af09c88c6e3ULL;
    uint64_t s0 = hash_seed, s1 = hash_seed ^ k2, h = s1;
    uint64_t a, b;
    if (n > 16) {
        const char *p = key;
        size_t left = n;
        for (; left > 16; p += 16, left -= 16)
            h = hash_fold(hash_word(p) ^ s0, hash_word(p + 8) ^ h);
        a = hash_word(p + left - 16);
        b = hash_word(p + left - 8);
    } else if (n >= 8) {
        a = hash_word(key);
        b = hash_word(key + n - 8);
    } else if (n >= 4) {
        a = hash_half(key);
        b = hash_half(key + n - 4);
    } else {
        a = n > 0 ? (uint64_t)(unsigned char)key[0] << 16 |
                    (uint64_t)(unsigned char)key[n / 2] << 8 | (unsigned char)key[n - 1] : 0;
        b = 0;
    }
    return hash_fold(hash_fold(a ^ s0, b ^ h) ^ k1, (uint64_t)n ^ s1);
}

#endif
