/* Unit tests of storage/table.c and storage/hash.h: the key hash, the lock
 * stripes (low bits of the hash), tagged slots in two candidate buckets,
 * and per-stripe growth by an eighth. */
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

#define MAX_ITEMS 40000

static struct item *items[MAX_ITEMS];
static uint64_t hashes[MAX_ITEMS];
static int nitems;

/* An unlinked item with `key` and no value. */
static struct item *mk(const char *key, uint64_t hash)
{
    size_t nkey = strlen(key);
    struct item *it = calloc(1, item_total(nkey, 0, 0) + 8);
    assert_non_null(it);
    it->nkey = (uint8_t)nkey;
    memcpy((char *)item_key(it), key, nkey);
    assert_true(nitems < MAX_ITEMS);
    hashes[nitems] = hash;
    items[nitems++] = it;
    return it;
}

static void insert(struct item *it, uint64_t hash)
{
    assert_int_equal(table_insert(table_stripe(hash), hash, it, 10), 0);
}

static struct item *find(const char *key, uint64_t hash)
{
    return table_find(table_stripe(hash), hash, key, strlen(key));
}

/* A hash whose stripe is `stripe` and whose top bits (the tag) are random. */
static uint64_t hash_in(unsigned stripe, uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (*rng & ~(uint64_t)0xffff) | stripe;
}

static int setup_hp(unsigned hashpower)
{
    nitems = 0;
    return table_setup(hashpower);
}

static int setup12(void **state) { (void)state; return setup_hp(12); }
static int setup16(void **state) { (void)state; return setup_hp(16); }
static int setup20(void **state) { (void)state; return setup_hp(20); }

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
    const uint64_t hs[] = { 0, 1, 5, 1023, 1024, 1029, 0xfffffc05u, UINT64_MAX };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        assert_ptr_equal(table_stripe(hs[i]), table_stripe_at(hs[i] & 1023));
    assert_ptr_not_equal(table_stripe(5), table_stripe(6));
}

static void test_hashpower_sets_the_slots_and_bigger_tables_get_more_stripes(void **state)
{
    (void)state;
    assert_int_equal(table_nstripes(), 1 << 14);
    assert_int_equal(table_nslots(), 1 << 20);
    assert_int_equal(table_stripe_at(0)->nbuckets, 8);
}

static void test_find_needs_the_same_tag_and_key(void **state)
{
    (void)state;
    uint64_t h = 0xabcdef0123456789ULL;
    struct item *it = mk("foo", h);
    insert(it, h);
    assert_ptr_equal(find("foo", h), it);
    assert_null(find("fo", h));
    assert_null(find("fooo", h));
    assert_null(find("fop", h));
    assert_null(find("foo", h ^ (1ULL << 63)));     /* same stripe, other tag */
}

static void test_keys_with_the_same_tag_are_told_apart_by_their_keys(void **state)
{
    (void)state;
    uint64_t h = 0x1234567890abcdefULL;
    struct item *a = mk("a", h), *b = mk("b", h), *c = mk("c", h);
    insert(a, h);
    insert(b, h);
    insert(c, h);
    assert_ptr_equal(find("a", h), a);
    assert_ptr_equal(find("b", h), b);
    assert_ptr_equal(find("c", h), c);
    table_remove(table_stripe(h), h, b, 10);
    assert_null(find("b", h));
    assert_ptr_equal(find("a", h), a);
    assert_ptr_equal(find("c", h), c);
}

static void test_insert_remove_and_replace_keep_count_and_bytes(void **state)
{
    (void)state;
    uint64_t h1 = 0x1111111111111009ULL, h2 = 0x2222222222222009ULL;
    struct table_stripe *s = table_stripe(h1);
    assert_ptr_equal(s, table_stripe(h2));
    struct item *a = mk("alpha", h1), *b = mk("be", h2), *a2 = mk("alpha", h1);
    assert_int_equal(table_insert(s, h1, a, 30), 0);
    assert_int_equal(table_insert(s, h2, b, 12), 0);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->bytes, 42);
    table_replace(s, h1, a, 30, a2, 40);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->bytes, 52);
    assert_ptr_equal(find("alpha", h1), a2);
    table_remove(s, h1, a2, 40);
    table_remove(s, h2, b, 12);
    assert_int_equal(s->count, 0);
    assert_int_equal(s->bytes, 0);
    assert_null(find("alpha", h1));
}

/* A stripe holds 15/16 of its slots, then grows by about an eighth; the items
 * move without being read (their tags say where). */
static void test_a_stripe_grows_by_an_eighth_when_fifteen_sixteenths_full(void **state)
{
    (void)state;
    uint64_t rng = 1;
    struct table_stripe *s = table_stripe_at(7);
    uint32_t nb = s->nbuckets;
    uint32_t cap = nb * TABLE_BUCKET_SLOTS;
    char key[16];
    for (uint32_t i = 0; i < cap - cap / 16; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        uint64_t h = hash_in(7, &rng);
        insert(mk(key, h), h);
    }
    assert_int_equal(s->nbuckets, nb);
    uint64_t h = hash_in(7, &rng);
    insert(mk("one-more", h), h);
    /* An eighth more, rounded up to fill jemalloc's size class. */
    assert_true(s->nbuckets >= nb + (nb / 8 > 0 ? nb / 8 : 1));
    assert_true(s->nbuckets <= nb + nb / 4 + 1);
    assert_int_equal(table_stripe_at(8)->nbuckets, nb);     /* the others stay */
    for (int i = 0; i < nitems; i++)
        assert_ptr_equal(table_find(s, hashes[i], item_key(items[i]), items[i]->nkey), items[i]);
}

/* Two choices of 8-slot buckets fill a stripe almost to the brim before it
 * must grow: the table costs about 8 / 0.9 bytes per item. */
static void test_stripes_fill_past_ninety_percent_before_growing(void **state)
{
    (void)state;
    uint64_t rng = 42;
    struct table_stripe *s = table_stripe_at(3);
    char key[16];
    unsigned growths = 0;
    uint32_t nb = s->nbuckets;
    for (int i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        uint64_t h = hash_in(3, &rng);
        uint32_t count = s->count, cap = s->nbuckets * TABLE_BUCKET_SLOTS;
        insert(mk(key, h), h);
        if (s->nbuckets != nb) {
            growths++;
            /* It grew only when full or nearly: at 15/16 of its slots. */
            assert_true(count * 100 >= cap * 93);
            nb = s->nbuckets;
        }
    }
    assert_true(growths > 10);
    assert_true((double)s->count / (s->nbuckets * TABLE_BUCKET_SLOTS) > 0.8);
    for (int i = 0; i < nitems; i++)
        assert_ptr_equal(table_find(s, hashes[i], item_key(items[i]), items[i]->nkey), items[i]);
}

/* Tags are never 0 (an empty slot is 0): a key whose hash has no top bits
 * is found like any other, and an empty stripe holds nothing for it. */
static void test_a_hash_without_top_bits_is_a_key_like_any_other(void **state)
{
    (void)state;
    uint64_t h = 0x1c7;                     /* tag bits all zero */
    assert_null(find("zero", h));
    struct item *it = mk("zero", h);
    insert(it, h);
    assert_ptr_equal(find("zero", h), it);
    assert_null(find("zer0", h));
    table_remove(table_stripe(h), h, it, 10);
    assert_null(find("zero", h));
}

/* The prefetch hints read without the lock (table_prefetch) or only with a
 * trylock (table_prefetch_items): they never wait, and change nothing. */
static void test_prefetch_hints_never_wait_and_change_nothing(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        uint64_t h = hash_key(key, strlen(key));
        table_prefetch(h);
        table_prefetch_items(h);
        insert(mk(key, h), h);
        table_prefetch(h);
        table_prefetch_items(h);
    }
    struct table_stripe *s = table_stripe(hashes[7]);
    word_lock(&s->lock);
    table_prefetch(hashes[7]);
    table_prefetch_items(hashes[7]);      /* the lock is held: it must not wait */
    word_unlock(&s->lock);
    for (int i = 0; i < nitems; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        assert_ptr_equal(find(key, hashes[i]), items[i]);
    }
}

static void test_growth_keeps_every_item_findable(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        uint64_t h = hash_key(key, strlen(key));
        insert(mk(key, h), h);
    }
    uint64_t count = 0;
    for (unsigned i = 0; i < table_nstripes(); i++)
        count += table_stripe_at(i)->count;
    assert_int_equal(count, 30000);
    for (int i = 0; i < nitems; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        assert_ptr_equal(find(key, hashes[i]), items[i]);
    }
    assert_true(table_nslots() >= 30000);
    assert_true(table_nslots() < 30000 * 1.3);
}

/* Keys whose tags are all equal can only share two buckets: past their 16
 * slots the stripe says no rather than looping, and keeps what it has. */
static void test_a_stripe_refuses_more_keys_than_one_tag_can_hold(void **state)
{
    (void)state;
    uint64_t h = 0x5555555555555005ULL;
    char key[16];
    int stored = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "same%d", i);
        struct item *it = mk(key, h);
        if (table_insert(table_stripe(h), h, it, 1) == 0)
            stored++;
    }
    assert_int_equal(stored, 2 * TABLE_BUCKET_SLOTS);
    for (int i = 0; i < stored; i++) {
        snprintf(key, sizeof(key), "same%d", i);
        assert_ptr_equal(find(key, h), items[i]);
    }
}

static void test_slot_walk_sees_every_item_once(void **state)
{
    (void)state;
    uint64_t rng = 9;
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof(key), "w%d", i);
        uint64_t h = hash_in(11, &rng);
        insert(mk(key, h), h);
    }
    struct table_stripe *s = table_stripe_at(11);
    int seen = 0;
    for (uint32_t k = 0; k < s->nbuckets * TABLE_BUCKET_SLOTS; k++)
        seen += table_slot(s, k) != NULL;
    assert_int_equal(seen, 50);
}

static void test_cas_uniques_are_unique_across_stripes(void **state)
{
    (void)state;
    uint64_t a = table_next_cas(table_stripe_at(0)), b = table_next_cas(table_stripe_at(1));
    uint64_t a2 = table_next_cas(table_stripe_at(0));
    assert_true(a != b);
    assert_true(a2 > a);
    assert_int_equal(a & 1023, 0);
    assert_int_equal(b & 1023, 1);
}

static void test_hash_depends_on_every_byte_and_the_length(void **state)
{
    (void)state;
    char k[40];
    memset(k, 'x', sizeof(k));
    /* Every length: short keys are read as overlapping words, long ones in
     * 16-byte steps with a tail. */
    for (size_t n = 1; n <= sizeof(k); n++) {
        uint64_t base = hash_key(k, n);
        for (size_t i = 0; i < n; i++) {
            k[i] = 'y';
            assert_true(hash_key(k, n) != base);
            k[i] = 'x';
        }
        assert_true(hash_key(k, n - 1) != base);
    }
    assert_true(hash_key("", 0) != hash_key("\0", 1));
    assert_true(hash_key("ab", 2) != hash_key("ab\0", 3));
}

static void test_hash_low_and_high_bits_spread_keys(void **state)
{
    (void)state;
    static unsigned low[1024], high[1024];
    char key[32];
    for (int i = 0; i < 102400; i++) {
        snprintf(key, sizeof(key), "memtier-%d", i);
        uint64_t h = hash_key(key, strlen(key));
        low[h & 1023]++;
        high[h >> 54]++;
    }
    for (int i = 0; i < 1024; i++) {
        assert_in_range(low[i], 50, 150);
        assert_in_range(high[i], 50, 150);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stripe_is_the_low_bits_of_the_hash, setup16,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_hashpower_sets_the_slots_and_bigger_tables_get_more_stripes, setup20, teardown),
        cmocka_unit_test_setup_teardown(test_find_needs_the_same_tag_and_key, setup16, teardown),
        cmocka_unit_test_setup_teardown(test_keys_with_the_same_tag_are_told_apart_by_their_keys,
                                        setup16, teardown),
        cmocka_unit_test_setup_teardown(test_insert_remove_and_replace_keep_count_and_bytes,
                                        setup16, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_stripe_grows_by_an_eighth_when_fifteen_sixteenths_full, setup16, teardown),
        cmocka_unit_test_setup_teardown(test_stripes_fill_past_ninety_percent_before_growing,
                                        setup12, teardown),
        cmocka_unit_test_setup_teardown(test_growth_keeps_every_item_findable, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_a_hash_without_top_bits_is_a_key_like_any_other,
                                        setup16, teardown),
        cmocka_unit_test_setup_teardown(test_prefetch_hints_never_wait_and_change_nothing,
                                        setup12, teardown),
        cmocka_unit_test_setup_teardown(test_a_stripe_refuses_more_keys_than_one_tag_can_hold,
                                        setup16, teardown),
        cmocka_unit_test_setup_teardown(test_slot_walk_sees_every_item_once, setup12, teardown),
        cmocka_unit_test_setup_teardown(test_cas_uniques_are_unique_across_stripes, setup16,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hash_depends_on_every_byte_and_the_length, setup16,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hash_low_and_high_bits_spread_keys, setup16,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
