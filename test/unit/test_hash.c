/* Unit tests of the table's keyed hash (storage/hash.h, siphash.h): SipHash
 * against the paper's test vector and a plain re-implementation, and the
 * hash-flooding keys built for the old unkeyed hash, which must no longer
 * collide in the table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "cache_fixture.h"
#include "hash.h"

/* SipHash-c-d written from the paper, byte by byte, for checking. */
static uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

static void round_(uint64_t v[4])
{
    v[0] += v[1]; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32);
    v[2] += v[3]; v[3] = rotl(v[3], 16); v[3] ^= v[2];
    v[0] += v[3]; v[3] = rotl(v[3], 21); v[3] ^= v[0];
    v[2] += v[1]; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32);
}

static uint64_t ref_siphash(int c, int d, const uint8_t key[16], const uint8_t *m, size_t n)
{
    uint64_t k0 = 0, k1 = 0;
    for (int i = 7; i >= 0; i--) {
        k0 = k0 << 8 | key[i];
        k1 = k1 << 8 | key[8 + i];
    }
    uint64_t v[4] = { k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
                      k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL };
    size_t blocks = n / 8 + 1;
    for (size_t b = 0; b < blocks; b++) {
        uint64_t w = 0;
        for (int i = 7; i >= 0; i--) {
            size_t at = b * 8 + (size_t)i;
            uint8_t byte = at < n ? m[at] : 0;
            if (b == blocks - 1 && i == 7)
                byte = (uint8_t)n;
            w = w << 8 | byte;
        }
        v[3] ^= w;
        for (int r = 0; r < c; r++)
            round_(v);
        v[0] ^= w;
    }
    v[2] ^= 0xff;
    for (int r = 0; r < d; r++)
        round_(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static void test_reference_matches_the_papers_vector(void **state)
{
    (void)state;
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    /* SipHash-2-4 of 00..0e under 00..0f (Aumasson, Bernstein, appendix A). */
    assert_true(ref_siphash(2, 4, key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(ref_siphash(2, 4, key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_siphash13_matches_the_reference_at_every_length(void **state)
{
    (void)state;
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)(i * 13 + 1);
    uint64_t k0, k1;
    memcpy(&k0, key, 8);
    memcpy(&k1, key + 8, 8);
    for (size_t n = 0; n <= 64; n++)
        assert_true(siphash13(k0, k1, msg, n) == ref_siphash(1, 3, key, msg, n));
}

/* The old table hash, unkeyed but for a seed mixed into its start. */
static uint64_t old_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t old_hash(uint64_t seed, const char *key, size_t n)
{
    const uint64_t m = 0x9e3779b97f4a7c15ULL;
    uint64_t h = (0x2545f4914f6cdd1dULL ^ seed) ^ (n * m);
    for (; n >= 8; key += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, key, 8);
        h = (h ^ old_mix(w)) * m;
    }
    assert_int_equal(n, 0);     /* the keys below are whole words */
    return old_mix(h ^ ((uint64_t)n << 59));
}

/*
 * Two printable words whose mixes differ only in bit 63 (found by inverting
 * the mix, which is a bijection).  Flipping bit 63 of h ^ mix(w) commutes
 * with the multiply, so a key of 16-byte units, each "AA" or "BB", hashes
 * the same whatever the seed: 2^k keys of k units share one hash.
 */
#define WORD_A "o(h,SIAT"
#define WORD_B "Qd0MpWBa"
#define UNITS 12                            /* 192-byte keys, 4096 of them */
#define NKEYS (1u << UNITS)

static void flood_key(unsigned i, char *key)
{
    for (int u = 0; u < UNITS; u++) {
        const char *w = (i >> u & 1) ? WORD_B : WORD_A;
        memcpy(key + 16 * u, w, 8);
        memcpy(key + 16 * u + 8, w, 8);
    }
}

static void test_words_mix_apart_in_bit_63_only(void **state)
{
    (void)state;
    uint64_t a, b;
    memcpy(&a, WORD_A, 8);
    memcpy(&b, WORD_B, 8);
    assert_true((old_mix(a) ^ old_mix(b)) == 1ULL << 63);
}

static void test_flood_keys_all_collided_in_the_old_hash(void **state)
{
    (void)state;
    char key[16 * UNITS];
    for (uint64_t seed = 0; seed < 3; seed++) {
        flood_key(0, key);
        uint64_t first = old_hash(seed * 0x1234567, key, sizeof(key));
        for (unsigned i = 1; i < NKEYS; i++) {
            flood_key(i, key);
            assert_true(old_hash(seed * 0x1234567, key, sizeof(key)) == first);
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_flood_keys_spread_under_the_keyed_hash(void **state)
{
    (void)state;
    static uint64_t h[NKEYS];
    char key[16 * UNITS];
    unsigned buckets[256] = { 0 };
    for (unsigned i = 0; i < NKEYS; i++) {
        flood_key(i, key);
        h[i] = hash_key(key, sizeof(key));
        buckets[h[i] & 255]++;      /* the stripe bits */
    }
    qsort(h, NKEYS, sizeof(h[0]), cmp_u64);
    for (unsigned i = 1; i < NKEYS; i++)
        assert_true(h[i] != h[i - 1]);
    /* 16 keys a stripe on average; a flood would put all 4096 in one. */
    for (int b = 0; b < 256; b++)
        assert_true(buckets[b] < 48);
}

static void test_flood_keys_are_all_stored(void **state)
{
    (void)state;
    /* With the old hash, a key's two buckets hold 16 slots: the 17th
     * colliding key was refused (out of memory) after two stripe rebuilds. */
    char key[16 * UNITS];
    for (unsigned i = 0; i < 1024; i++) {
        flood_key(i, key);
        enum cache_status err;
        struct item *it = cache_alloc(key, sizeof(key), 0, 0, 1, NOW, &err);
        assert_non_null(it);
        item_value(it)[0] = 'v';
        assert_int_equal(cache_store(it, cache_hash(key, sizeof(key)), CACHE_SET, 0, NOW), CACHE_STORED);
        item_unref(it);
    }
    for (unsigned i = 0; i < 1024; i++) {
        flood_key(i, key);
        enum cache_miss why;
        struct item *it = get_ref(key, sizeof(key), NOW, &why);
        assert_non_null(it);
        item_unref(it);
    }
}

static void test_key_differs_between_setups(void **state)
{
    (void)state;
    uint64_t before = hash_key("same key", 8);
    cache_teardown();
    assert_int_equal(setup(NULL), 0);
    assert_true(hash_key("same key", 8) != before);     /* 2^-64 to fail */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_matches_the_papers_vector),
        cmocka_unit_test(test_siphash13_matches_the_reference_at_every_length),
        cmocka_unit_test(test_words_mix_apart_in_bit_63_only),
        cmocka_unit_test(test_flood_keys_all_collided_in_the_old_hash),
        cmocka_unit_test_setup_teardown(test_flood_keys_spread_under_the_keyed_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_keys_are_all_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_differs_between_setups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
