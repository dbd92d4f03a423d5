/*
 * hash: the key hash used by the table: SipHash-1-3 (siphash.h) under a
 * 128-bit key drawn at random when the cache is set up, so nobody can
 * compute offline which keys collide in the table (hash flooding).  The
 * table takes the stripe from the low bits and its tag from the high ones.
 */
#ifndef MCD_HASH_H
#define MCD_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

/* The secret key, chosen at start-up (cache_setup) with getrandom(). */
extern uint64_t hash_seed[2];

/* 64-bit hash of a key. */
static inline uint64_t hash_key(const char *key, size_t n)
{
    return siphash13(hash_seed[0], hash_seed[1], key, n);
}

#endif
