/*
 * hash-bench: what the table's keyed hash costs.  Times hash_key (SipHash-1-3
 * under the process's random key, storage/hash.h) against the unkeyed mix
 * hash it replaced (copied here, as it was), over the keys memcached's
 * clients send: mcd-bench's "key:NNNNNNN" (11 bytes), a typical application
 * key of 32 bytes and one of 64.  Each request hashes its key once (a set
 * that evicts hashes the victims too), so the difference per key is the
 * difference per request.  Prints one JSON line with --json.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"

uint64_t hash_seed[2];

static inline uint64_t old_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The table's hash before the keyed one, unchanged. */
static inline uint64_t old_hash(const char *key, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = (0x2545f4914f6cdd1dULL ^ hash_seed[0]) ^ (n * m);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ old_mix(w)) * m;
        key += 8;
        n -= 8;
    }
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
    return old_mix(h ^ w ^ ((uint64_t)n << 59));
}

#define NKEYS 4096
#define PASSES 2000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char keys[NKEYS][72];
static size_t lens[NKEYS];

static void make_keys(size_t len)
{
    for (int i = 0; i < NKEYS; i++) {
        int n = snprintf(keys[i], sizeof(keys[i]), "key:%07d", i * 7919 % 10000000);
        for (; (size_t)n < len; n++)
            keys[i][n] = (char)('a' + (i + n) % 26);
        lens[i] = len;
    }
}

/* Nanoseconds per key; the sum keeps the compiler from skipping work. */
static double time_hash(uint64_t (*fn)(const char *, size_t), uint64_t *sink)
{
    double t0 = now_s();
    uint64_t acc = 0;
    for (int p = 0; p < PASSES; p++)
        for (int i = 0; i < NKEYS; i++)
            acc += fn(keys[i], lens[i]);
    *sink += acc;
    return (now_s() - t0) * 1e9 / ((double)PASSES * NKEYS);
}

static uint64_t keyed(const char *k, size_t n) { return hash_key(k, n); }

int main(int argc, char **argv)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    hash_seed[0] = 0x0123456789abcdefULL ^ (uint64_t)time(NULL);
    hash_seed[1] = 0xfedcba9876543210ULL;
    static const size_t lengths[] = { 11, 32, 64 };
    uint64_t sink = 0;
    if (json)
        printf("{");
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        make_keys(lengths[i]);
        time_hash(keyed, &sink);        /* warm up */
        double sip = time_hash(keyed, &sink), old = time_hash(old_hash, &sink);
        if (json)
            printf("%s\"siphash13_%zu_ns\": %.2f, \"old_%zu_ns\": %.2f", i ? ", " : "",
                   lengths[i], sip, lengths[i], old);
        else
            printf("%2zu-byte keys: SipHash-1-3 %.2f ns, old mix hash %.2f ns, +%.2f ns a key\n",
                   lengths[i], sip, old, sip - old);
    }
    if (json)
        printf(", \"sink\": %llu}\n", (unsigned long long)(sink & 1));
    return 0;
}
