/* Unit tests of storage/evict.c: which items go when a class is full —
 * S3-FIFO: a small queue for new keys, CLOCK over the slab pages with a
 * two-bit read frequency per item for the rest, and a ghost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "expiry.h"
#include "slab.h"

#include "cache_fixture.h"

/* One page of memory: the class of a 6-byte key and a 10-byte value gets
 * it.  -m also counts the hash table and eviction's queues: half a page
 * more covers those. */
static int setup_one_page(bool evict)
{
    struct cache_options o = base;
    o.maxbytes = MB + MB / 2;
    o.evict_to_free = evict;
    return cache_setup(&o);
}

static int setup_page(void **state) { (void)state; return setup_one_page(true); }
static int setup_page_no_evict(void **state) { (void)state; return setup_one_page(false); }

static const char *key(const char *prefix, int i)
{
    static char buf[4][32];
    static int which;
    which = (which + 1) % 4;
    snprintf(buf[which], sizeof(buf[which]), "%s%05d", prefix, i);
    return buf[which];
}

/* How many items of "k%05d" = "0123456789" one page holds. */
static int capacity(void)
{
    return (int)slab_perpage(slab_class_for(item_total(6, 0, 10)));
}

static void fill(const char *prefix, int from, int n)
{
    for (int i = from; i < from + n; i++)
        assert_int_equal(put(key(prefix, i), "0123456789", CACHE_SET, 0), CACHE_STORED);
}

static struct cache_stats stats(void)
{
    struct cache_stats st;
    cache_stats(&st);
    return st;
}

static void test_a_full_page_evicts_before_it_refuses(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    assert_int_equal(stats().evictions, 0);
    assert_int_equal(stats().curr_items, cap);
    fill("k", cap, 1);
    struct cache_stats st = stats();
    assert_int_equal(st.evictions, 8);          /* a batch, into this thread's magazine */
    assert_int_equal(st.evicted_unfetched, 8);
    assert_int_equal(st.curr_items, cap - 7);
    assert_string_equal(value(key("k", cap)), "0123456789");
    assert_string_equal(value(key("k", cap - 1)), "0123456789");
}

/* Items a reader holds are not evicted: with every item held, a store is
 * refused rather than taking memory that is still being read. */
static void test_referenced_items_are_skipped(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    static struct item *held[40000];
    assert_true(cap <= 40000);
    enum cache_miss why;
    for (int i = 0; i < cap; i++) {
        held[i] = get(key("k", i), NOW, &why);
        /* get() counted a read: take it back so only the reference protects it. */
        atomic_fetch_and(&held[i]->iflags, (uint8_t)~ITEM_FREQ_MASK);
    }
    assert_int_equal(put(key("k", cap), "0123456789", CACHE_SET, 0), CACHE_NO_MEMORY);
    assert_true(stats().lrutail_reflocked > 0);
    assert_int_equal(stats().evictions, 0);
    for (int i = 0; i < cap; i++)
        item_unref(held[i]);
    assert_int_equal(put(key("k", cap), "0123456789", CACHE_SET, 0), CACHE_STORED);
    assert_string_equal(value(key("k", 0)), "0123456789");
}

/* With every item read and left in the main part, the hand gives each a
 * second chance: a sweep takes a read off each before it evicts. */
static void test_the_hand_gives_read_items_another_sweep(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    for (int i = 0; i < cap; i++) {
        enum cache_miss why;
        struct item *it = get(key("k", i), NOW, &why);
        atomic_fetch_and(&it->iflags, (uint8_t)~ITEM_SMALL);    /* as if promoted */
        item_unref(it);
    }
    fill("k", cap, 1);
    struct cache_stats st = stats();
    assert_int_equal(st.evictions, 8);
    assert_true(st.moves_within_lru >= (uint64_t)cap);
}

/*
 * The property LRU lacks: a one-pass scan of cold keys, twice the size of
 * the cache, passes through without flushing a hot set that was read a few
 * times before it.
 */
static void test_a_scan_does_not_flush_the_hot_set(void **state)
{
    (void)state;
    int cap = capacity();
    fill("hot", 0, 1000);
    for (int r = 0; r < 3; r++)
        for (int i = 0; i < 1000; i++)
            assert_non_null(value(key("hot", i)));
    fill("cold", 0, 2 * cap);
    for (int i = 0; i < 1000; i++)
        assert_string_equal(value(key("hot", i)), "0123456789");
    assert_true(stats().evictions > (uint64_t)cap);
}

static void test_a_hot_set_read_during_a_long_scan_survives_it(void **state)
{
    (void)state;
    int cap = capacity();
    fill("hot", 0, 500);
    for (int step = 0; step < 10; step++) {
        for (int i = 0; i < 500; i++)
            assert_string_equal(value(key("hot", i)), "0123456789");
        fill("cold", step * cap, cap);
    }
    for (int i = 0; i < 500; i++)
        assert_string_equal(value(key("hot", i)), "0123456789");
}

static void test_an_overwrite_keeps_the_keys_standing(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, 10);
    for (int r = 0; r < 3; r++)
        assert_non_null(value(key("k", 5)));
    assert_int_equal(put(key("k", 5), "abcdefghij", CACHE_SET, 0), CACHE_STORED);
    fill("cold", 0, 2 * cap);
    assert_string_equal(value(key("k", 5)), "abcdefghij");
}

/* S3-FIFO: new keys wait in a small queue, a tenth of the class; keys seen
 * once leave from there and never displace the main part of the cache. */
static void test_one_hit_keys_pass_through_the_small_queue(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    fill("once", 0, 2 * cap);
    /* Before the class had to evict, every key was kept; the first
     * evictions, before the queue filled, took the oldest of those.  The
     * rest stay: an LRU would keep none. */
    int kept = 0;
    for (int i = 0; i < cap; i++)
        kept += value(key("k", i)) != NULL;
    assert_true(kept > cap * 8 / 10);
    assert_non_null(value(key("k", cap - 1)));
    assert_true(stats().evictions >= (uint64_t)2 * cap - 16);
}

/* A new key read again before the small queue lets it go moves on to the
 * main part, where the hand evicts the unread first. */
static void test_new_keys_read_again_move_to_the_main_part(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    for (int i = 0; i < cap; i++) {
        fill("n", i, 1);
        assert_non_null(value(key("n", i)));
    }
    int kept = 0;
    for (int i = 0; i < cap; i++)
        kept += value(key("n", i)) != NULL;
    assert_true(kept > cap * 9 / 10);
    struct cache_class_stats cs;
    cache_class_stats(slab_class_for(item_total(6, 0, 10)), NOW, &cs);
    assert_true(cs.moves_to_warm > (uint64_t)cap / 2);
}

/* A key the small queue let go, stored again soon after, skips the queue:
 * the ghost remembers it. */
static void test_a_key_back_from_the_ghost_skips_the_small_queue(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    fill("once", 0, cap);                 /* the small queue lets most go */
    /* The one let go last: the ghost is direct-mapped, later ones may
     * have taken an earlier one's slot. */
    int gone = -1;
    for (int i = cap - 1; i >= 0 && gone < 0; i--)
        if (value(key("once", i)) == NULL)
            gone = i;
    assert_true(gone >= 0);
    assert_int_equal(put(key("once", gone), "0123456789", CACHE_SET, 0), CACHE_STORED);
    fill("more", 0, 64);                  /* evictions enter this thread's new keys */
    enum cache_miss why;
    struct item *it = get(key("once", gone), NOW, &why);
    assert_non_null(it);
    assert_false(item_has(it, ITEM_SMALL));
    item_unref(it);
}

static void test_no_evict_option_answers_out_of_memory(void **state)
{
    (void)state;
    int cap = capacity();
    fill("k", 0, cap);
    enum cache_status err = CACHE_OK;
    assert_null(cache_alloc(key("k", cap), 6, 0, 0, 10, NOW, &err));
    assert_int_equal(err, CACHE_NO_MEMORY);
    assert_int_equal(stats().evictions, 0);
    assert_string_equal(value(key("k", 0)), "0123456789");
    struct cache_class_stats cs;
    cache_class_stats(slab_class_for(item_total(6, 0, 10)), NOW, &cs);
    assert_int_equal(cs.outofmemory, 1);
}

static void test_no_evict_option_still_reclaims_expired_items(void **state)
{
    (void)state;
    int cap = capacity();
    for (int i = 0; i < 20; i++)
        put_full(key("t", i), "0123456789", CACHE_SET, 0, 0, NOW + 1, NOW);
    fill("k", 20, cap - 20);
    assert_int_equal(put_full(key("k", cap), "0123456789", CACHE_SET, 0, 0, 0, NOW + 1),
                     CACHE_STORED);
    struct cache_stats st = stats();
    assert_true(st.reclaimed >= 1);
    assert_int_equal(st.evictions, 0);
}

/* Large items (over the largest chunk) are swept along their own list,
 * oldest first, and give their bytes back to the budget. */
static void test_large_items_evict_the_oldest_large_item(void **state)
{
    (void)state;
    static char big[700 * 1024];
    memset(big, 'L', sizeof(big) - 1);
    cache_set_memlimit(2 * MB + MB / 4);
    assert_int_equal(put("L1", big, CACHE_SET, 0), CACHE_STORED);
    assert_int_equal(put("L2", big, CACHE_SET, 0), CACHE_STORED);
    assert_int_equal(put("L3", big, CACHE_SET, 0), CACHE_STORED);
    assert_null(value("L1"));
    assert_non_null(value("L3"));
    assert_true(slab_mem_used() <= 2 * MB + MB / 4);
    assert_int_equal(stats().evictions, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup_page, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_a_full_page_evicts_before_it_refuses),
        T(test_referenced_items_are_skipped),
        T(test_the_hand_gives_read_items_another_sweep),
        T(test_a_scan_does_not_flush_the_hot_set),
        T(test_a_hot_set_read_during_a_long_scan_survives_it),
        T(test_an_overwrite_keeps_the_keys_standing),
        T(test_one_hit_keys_pass_through_the_small_queue),
        T(test_new_keys_read_again_move_to_the_main_part),
        T(test_a_key_back_from_the_ghost_skips_the_small_queue),
        cmocka_unit_test_setup_teardown(test_no_evict_option_answers_out_of_memory,
                                        setup_page_no_evict, teardown),
        cmocka_unit_test_setup_teardown(test_no_evict_option_still_reclaims_expired_items,
                                        setup_page_no_evict, teardown),
        cmocka_unit_test_setup_teardown(test_large_items_evict_the_oldest_large_item, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
