/* Unit tests of storage/cache.c, an item's lifetime: expiry times, touch,
 * flush_all now and delayed, and eviction under a small memory budget. */
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

static int setup_no_evict(void **state) { (void)state; return setup_opts(true, false); }

static void test_negative_exptime_is_expired_at_once(void **state)
{
    (void)state;
    put("k", "old", CACHE_SET, 0);
    rel_time_t t = expiry_from_client(-1, NOW, STARTED);
    assert_int_equal(put_full("k", "new", CACHE_SET, 0, 0, t, NOW), CACHE_STORED);
    enum cache_miss why;
    assert_null(get("k", NOW, &why));
    assert_int_equal(why, CACHE_MISS_EXPIRED);
}

static void test_relative_exptime_expires_after_that_many_seconds(void **state)
{
    (void)state;
    put_full("k", "v", CACHE_SET, 0, 0, expiry_from_client(10, NOW, STARTED), NOW);
    assert_string_equal(value_at("k", NOW + 9), "v");
    enum cache_miss why;
    assert_null(get("k", NOW + 10, &why));
    assert_int_equal(why, CACHE_MISS_EXPIRED);
}

static void test_absolute_exptime_expires_at_that_unix_time(void **state)
{
    (void)state;
    rel_time_t t = expiry_from_client(STARTED + NOW + 20, NOW, STARTED);
    put_full("k", "v", CACHE_SET, 0, 0, t, NOW);
    assert_string_equal(value_at("k", NOW + 19), "v");
    assert_null(value_at("k", NOW + 20));
}

static void test_expired_key_counts_as_missing_for_every_command(void **state)
{
    (void)state;
    uint64_t v;
    const char *keys[] = { "e1", "e2", "e3", "e4", "e5", "e6" };
    for (int i = 0; i < 6; i++)
        put_full(keys[i], "1", CACHE_SET, 0, 0, NOW + 1, NOW);
    rel_time_t later = NOW + 1;
    assert_int_equal(put_full("e1", "2", CACHE_ADD, 0, 0, 0, later), CACHE_STORED);
    assert_int_equal(put_full("e2", "2", CACHE_REPLACE, 0, 0, 0, later), CACHE_NOT_STORED);
    assert_int_equal(put_full("e3", "2", CACHE_APPEND, 0, 0, 0, later), CACHE_NOT_STORED);
    assert_int_equal(put_full("e4", "2", CACHE_CAS, 1, 0, 0, later), CACHE_NOT_FOUND);
    assert_int_equal(cache_arith("e5", 2, true, 1, later, &v, NULL), CACHE_NOT_FOUND);
    assert_int_equal(cache_delete("e6", 2, later, NULL), CACHE_NOT_FOUND);
    assert_string_equal(value_at("e1", later), "2");
}

static void test_touch_sets_a_new_exptime(void **state)
{
    (void)state;
    put_full("k", "v", CACHE_SET, 0, 0, NOW + 5, NOW);
    assert_int_equal(cache_touch("k", 1, NOW + 100, NOW, NULL), CACHE_OK);
    assert_string_equal(value_at("k", NOW + 50), "v");
    assert_int_equal(cache_touch("k", 1, 0, NOW, NULL), CACHE_OK);
    assert_string_equal(value_at("k", UINT32_MAX), "v");
    assert_int_equal(cache_touch("none", 4, 0, NOW, NULL), CACHE_NOT_FOUND);
}

static void test_get_touch_returns_the_item_and_sets_its_exptime(void **state)
{
    (void)state;
    put("k", "v", CACHE_SET, 0);
    enum cache_miss why;
    struct item *it = touch_ref("k", 1, NOW + 3, NOW, &why);
    assert_non_null(it);
    assert_int_equal(it->exptime, NOW + 3);
    item_unref(it);
    assert_null(value_at("k", NOW + 3));
}

static void test_flush_now_removes_everything_and_frees_the_memory(void **state)
{
    (void)state;
    put("f1", "1", CACHE_SET, 0);
    put("f2", "2", CACHE_SET, 0);
    cache_flush(NOW, NOW);
    assert_null(value("f1"));
    assert_null(value("f2"));
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.curr_items, 0);
    assert_int_equal(st.bytes, 0);
    assert_int_equal(st.malloced, 0);
    put("f3", "3", CACHE_SET, 0);
    assert_string_equal(value("f3"), "3");
}

static void test_delayed_flush_hides_older_items_when_due(void **state)
{
    (void)state;
    put_full("old", "1", CACHE_SET, 0, 0, 0, NOW);
    cache_flush(NOW + 10, NOW);
    enum cache_miss why;
    struct item *it = get("old", NOW + 9, &why);
    assert_non_null(it);
    item_unref(it);
    put_full("at", "2", CACHE_SET, 0, 0, 0, NOW + 10);
    put_full("after", "3", CACHE_SET, 0, 0, 0, NOW + 11);
    assert_null(get("old", NOW + 11, &why));
    assert_int_equal(why, CACHE_MISS_FLUSHED);
    assert_null(value_at("at", NOW + 11));
    assert_string_equal(value_at("after", NOW + 11), "3");
}

/* A budget of exactly 8 chunks of the class "k0".."k9" with 10-byte values use. */
static size_t small_chunk(void) { return slab_chunk_size(slab_class_for(item_total(2, 12))); }

static void fill8(void)
{
    cache_set_memlimit(8 * small_chunk());
    char key[16];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(put(key, "0123456789", CACHE_SET, 0), CACHE_STORED);
    }
}

static void test_full_cache_evicts_the_least_recently_used(void **state)
{
    (void)state;
    fill8();
    assert_int_equal(put("k8", "0123456789", CACHE_SET, 0), CACHE_STORED);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.evicted_unfetched, 1);
    assert_int_equal(st.curr_items, 8);
    assert_null(value("k0"));
    assert_string_equal(value("k1"), "0123456789");
    assert_string_equal(value("k8"), "0123456789");
}

static void test_eviction_gives_a_recently_read_item_a_second_chance(void **state)
{
    (void)state;
    fill8();
    assert_string_equal(value("k0"), "0123456789");
    assert_int_equal(put("k8", "0123456789", CACHE_SET, 0), CACHE_STORED);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.moves_within_lru, 1);
    assert_string_equal(value("k0"), "0123456789");
    assert_null(value("k1"));
}

static void test_eviction_skips_an_item_in_use(void **state)
{
    (void)state;
    cache_set_memlimit(8 * small_chunk());
    struct item *held = mk("k0", "0123456789", 0, 0);
    cache_store(held, CACHE_SET, 0, NOW);
    char key[16];
    for (int i = 1; i < 9; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(put(key, "0123456789", CACHE_SET, 0), CACHE_STORED);
    }
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.lrutail_reflocked, 1);
    assert_null(value("k1"));
    item_unref(held);
    assert_string_equal(value("k0"), "0123456789");
}

static void test_full_class_evicts_from_the_class_holding_most_memory(void **state)
{
    (void)state;
    fill8();
    char big[200];
    memset(big, 'B', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t need = slab_chunk_size(slab_class_for(item_total(3, sizeof(big) + 1)));
    size_t evict = (need + small_chunk() - 1) / small_chunk();
    assert_int_equal(put("big", big, CACHE_SET, 0), CACHE_STORED);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.evictions, evict);
    char key[16];
    for (size_t i = 0; i < 8; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        if (i < evict)
            assert_null(value(key));
        else
            assert_string_equal(value(key), "0123456789");
    }
}

static void test_no_evict_option_answers_out_of_memory(void **state)
{
    (void)state;
    fill8();
    enum cache_status err = CACHE_OK;
    assert_null(cache_alloc("k8", 2, 0, 0, 12, NOW, &err));
    assert_int_equal(err, CACHE_NO_MEMORY);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.evictions, 0);
    assert_string_equal(value("k0"), "0123456789");
    assert_string_equal(value("k7"), "0123456789");
}

static void test_no_evict_option_still_reclaims_expired_items(void **state)
{
    (void)state;
    cache_set_memlimit(8 * small_chunk());
    put_full("k0", "0123456789", CACHE_SET, 0, 0, NOW + 1, NOW);
    char key[16];
    for (int i = 1; i < 8; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(key, "0123456789", CACHE_SET, 0);
    }
    assert_int_equal(put_full("k8", "0123456789", CACHE_SET, 0, 0, 0, NOW + 1), CACHE_STORED);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.reclaimed, 1);
    assert_int_equal(st.evictions, 0);
}

/* With the default sharded lists, eviction still takes from the oldest end:
 * each shard's tail is the oldest of its slice of the keys. */
static void test_sharded_lists_evict_from_the_oldest_items(void **state)
{
    (void)state;
    enum { N = 800, MORE = 100 };
    cache_set_memlimit(N * small_chunk());
    char key[16];
    for (int i = 0; i < N + MORE; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        assert_int_equal(put_full(key, "0123456789", CACHE_SET, 0, 0, 0, NOW + (rel_time_t)i),
                         CACHE_STORED);
    }
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.evictions, MORE);
    int missing = 0;
    for (int i = 0; i < N + MORE; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        bool gone = value_at(key, NOW + N + MORE) == NULL;
        missing += gone;
        /* The victims are among the oldest quarter of what was stored. */
        if (gone)
            assert_in_range(i, 0, (N + MORE) / 4);
    }
    assert_int_equal(missing, MORE);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define E(name) cmocka_unit_test_setup_teardown(name, setup_exact_lru, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_negative_exptime_is_expired_at_once),
        T(test_relative_exptime_expires_after_that_many_seconds),
        T(test_absolute_exptime_expires_at_that_unix_time),
        T(test_expired_key_counts_as_missing_for_every_command),
        T(test_touch_sets_a_new_exptime),
        T(test_get_touch_returns_the_item_and_sets_its_exptime),
        T(test_flush_now_removes_everything_and_frees_the_memory),
        T(test_delayed_flush_hides_older_items_when_due),
        E(test_full_cache_evicts_the_least_recently_used),
        E(test_eviction_gives_a_recently_read_item_a_second_chance),
        E(test_eviction_skips_an_item_in_use),
        E(test_full_class_evicts_from_the_class_holding_most_memory),
        T(test_sharded_lists_evict_from_the_oldest_items),
        cmocka_unit_test_setup_teardown(test_no_evict_option_answers_out_of_memory,
                                        setup_no_evict, teardown),
        cmocka_unit_test_setup_teardown(test_no_evict_option_still_reclaims_expired_items,
                                        setup_no_evict, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
