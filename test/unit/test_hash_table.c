/* Unit tests of storage/table.c and storage/hash.h: the key hash, the lock
 * stripes (low bits of the hash), buckets (high bits) and per-stripe growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"
#include "table.h"

#define MAX_ITEMS 6000

static struct item *items[MAX_ITEMS];
static int nitems;

/* An unlinked item with `key` and a 1-byte value, with the given hash. */
static struct item *mk(const char *key, uint32_t hash)
{
    size_t nkey = strlen(key);
    struct item *it = calloc(1, item_total(nkey, 1));
    assert_non_null(it);
    memcpy(it->data, key, nkey);
    memcpy(it->data + nkey, "v", 1);
    it->nkey = (uint8_t)nkey;
    it->nbytes = 1;
    it->hash = hash;
    assert_true(nitems < MAX_ITEMS);
    items[nitems++] = it;
    return it;
}

static void insert(struct item *it) { table_insert(table_stripe(it->hash), it); }

static struct item *find(const char *key, uint32_t hash)
{
    return table_find(table_stripe(hash), hash, key, strlen(key));
}

static int setup_hp(unsigned hashpower)
{
    nitems = 0;
    return table_setup(hashpower);
}

static int setup4(void **state) { (void)state; return setup_hp(4); }
static int setup12(void **state) { (void)state; return setup_hp(12); }
static int setup16(void **state) { (void)state; return setup_hp(16); }

static int teardown(void **state)
{
    (void)state;
    table_teardown();
    for (int i = 0; i < nitems; i++)
        free(items[i]);
    nitems = 0;
    return 0;
}

static void test_stripe_is_the_low_bits_of_the_hash(void **state)
{
    (void)state;
    assert_int_equal(table_nstripes(), 1024);
    const uint32_t hashes[] = { 0, 1, 5, 1023, 1024, 1029, 0xfffffc05u, 0xffffffffu };
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
        assert_ptr_equal(table_stripe(hashes[i]), table_stripe_at(hashes[i] & 1023));
    assert_ptr_equal(table_stripe(5), table_stripe(5 + 1024));
    assert_ptr_not_equal(table_stripe(5), table_stripe(6));
}

static void test_small_hashpower_gives_one_bucket_per_stripe(void **state)
{
    (void)state;
    assert_int_equal(table_nstripes(), 16);
    assert_int_equal(table_nbuckets(), 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(table_stripe_at(i)->mask, 0);
}

static void test_stripes_are_capped_at_1024_and_share_the_buckets(void **state)
{
    (void)state;
    assert_int_equal(table_nstripes(), 1024);
    assert_int_equal(table_nbuckets(), 65536);
    assert_int_equal(table_stripe_at(0)->mask, 63);
    assert_int_equal(table_stripe_at(1023)->mask, 63);
}

static void test_find_needs_the_same_hash_and_key(void **state)
{
    (void)state;
    struct item *it = mk("foo", 0x12345);
    insert(it);
    assert_ptr_equal(find("foo", 0x12345), it);
    assert_null(find("fo", 0x12345));
    assert_null(find("fooo", 0x12345));
    assert_null(find("fop", 0x12345));
    assert_null(find("foo", 0x12345 + 1024));     /* same stripe, other hash */
}

static void test_keys_sharing_a_bucket_are_all_found(void **state)
{
    (void)state;
    struct item *a = mk("a", 77), *b = mk("b", 77), *c = mk("c", 77);
    insert(a);
    insert(b);
    insert(c);
    assert_ptr_equal(find("a", 77), a);
    assert_ptr_equal(find("b", 77), b);
    assert_ptr_equal(find("c", 77), c);
    table_remove(table_stripe(77), b);
    assert_null(find("b", 77));
    assert_ptr_equal(find("a", 77), a);
    assert_ptr_equal(find("c", 77), c);
    assert_null(b->h_next);
}

static void test_insert_and_remove_keep_count_and_bytes(void **state)
{
    (void)state;
    struct table_stripe *s = table_stripe(9);
    struct item *a = mk("alpha", 9), *b = mk("be", 9 + 1024);
    insert(a);
    insert(b);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->bytes, item_total(5, 1) + item_total(2, 1));
    table_remove(s, a);
    assert_int_equal(s->count, 1);
    assert_int_equal(s->bytes, item_total(2, 1));
    table_remove(s, b);
    assert_int_equal(s->count, 0);
    assert_int_equal(s->bytes, 0);
}

static void test_bucket_is_the_high_bits_of_the_hash(void **state)
{
    (void)state;
    /* hashpower 4: 16 stripes (4 low bits); buckets use the bits above. */
    char key[16];
    for (uint32_t i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "b%u", i);
        insert(mk(key, i << 4));
    }
    struct table_stripe *s = table_stripe_at(0);
    assert_int_equal(s->count, 40);
    for (int i = 0; i < nitems; i++) {
        struct item *p = s->buckets[(items[i]->hash >> 4) & s->mask];
        while (p != NULL && p != items[i])
            p = p->h_next;
        assert_ptr_equal(p, items[i]);
    }
}

static void test_stripe_doubles_at_one_and_a_half_items_per_bucket(void **state)
{
    (void)state;
    /* Masks of stripe 0 after each of seven inserts into it. */
    const uint32_t want[] = { 0, 1, 1, 3, 3, 3, 7 };
    char key[16];
    for (uint32_t i = 0; i < 7; i++) {
        snprintf(key, sizeof(key), "g%u", i);
        insert(mk(key, i << 4));
        assert_int_equal(table_stripe_at(0)->mask, want[i]);
    }
}

static void test_growth_touches_only_the_crowded_stripe(void **state)
{
    (void)state;
    char key[16];
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "s%u", i);
        insert(mk(key, (i << 4) | 3));
    }
    assert_int_equal(table_stripe_at(3)->mask, 127);
    for (unsigned i = 0; i < 16; i++) {
        if (i != 3)
            assert_int_equal(table_stripe_at(i)->mask, 0);
    }
    assert_int_equal(table_nbuckets(), 15 + 128);
}

static void test_growth_keeps_every_item_findable(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        insert(mk(key, hash_key(key, strlen(key))));
    }
    assert_true(table_nbuckets() >= 4096);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        assert_ptr_equal(find(key, hash_key(key, strlen(key))), items[i]);
    }
    for (int i = 0; i < 5000; i++)
        table_remove(table_stripe(items[i]->hash), items[i]);
    for (unsigned i = 0; i < table_nstripes(); i++)
        assert_int_equal(table_stripe_at(i)->count, 0);
}

static void test_hash_depends_on_every_byte_of_the_key(void **state)
{
    (void)state;
    char key[41];
    memset(key, 'x', sizeof(key));
    for (size_t n = 1; n <= 40; n++) {
        uint32_t h = hash_key(key, n);
        assert_int_equal(hash_key(key, n), h);
        for (size_t i = 0; i < n; i++) {
            key[i] = 'y';
            assert_int_not_equal(hash_key(key, n), h);
            key[i] = 'x';
        }
    }
}

static void test_hash_depends_on_the_length(void **state)
{
    (void)state;
    assert_int_not_equal(hash_key("a", 1), hash_key("a\0", 2));
    assert_int_not_equal(hash_key("", 0), hash_key("\0", 1));
    assert_int_not_equal(hash_key("abcdefgh", 8), hash_key("abcdefgh\0", 9));
}

static void test_hash_reads_only_the_key_bytes(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 17; n++) {
        char *exact = malloc(n ? n : 1);   /* AddressSanitizer flags any over-read */
        char padded[32];
        memset(exact, 'k', n);
        memset(padded, 'k', n);
        memset(padded + n, 'Z', sizeof(padded) - n);
        assert_int_equal(hash_key(exact, n), hash_key(padded, n));
        free(exact);
    }
}

static void test_hash_low_bits_spread_keys_over_the_stripes(void **state)
{
    (void)state;
    static unsigned count[1024];
    char key[32];
    for (int i = 0; i < 102400; i++) {
        snprintf(key, sizeof(key), "user:%d", i);
        count[hash_key(key, strlen(key)) & 1023]++;
    }
    unsigned lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 1024; i++) {
        lo = count[i] < lo ? count[i] : lo;
        hi = count[i] > hi ? count[i] : hi;
    }
    /* 100 keys expected per stripe, standard deviation 10. */
    assert_in_range(lo, 55, 100);
    assert_in_range(hi, 100, 145);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stripe_is_the_low_bits_of_the_hash, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_small_hashpower_gives_one_bucket_per_stripe, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_stripes_are_capped_at_1024_and_share_the_buckets, setup16, teardown),
        cmocka_unit_test_setup_teardown(test_find_needs_the_same_hash_and_key, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_keys_sharing_a_bucket_are_all_found, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_insert_and_remove_keep_count_and_bytes, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_bucket_is_the_high_bits_of_the_hash, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_stripe_doubles_at_one_and_a_half_items_per_bucket, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_growth_touches_only_the_crowded_stripe, setup4, teardown),
        cmocka_unit_test_setup_teardown(test_growth_keeps_every_item_findable, setup4, teardown),
        cmocka_unit_test(test_hash_depends_on_every_byte_of_the_key),
        cmocka_unit_test(test_hash_depends_on_the_length),
        cmocka_unit_test(test_hash_reads_only_the_key_bytes),
        cmocka_unit_test(test_hash_low_bits_spread_keys_over_the_stripes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
