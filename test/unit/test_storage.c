/* Unit tests of storage/: expiry arithmetic, slab sizing, the striped table,
 * LRU order, and the cache's memcached semantics (store, arith, flush, evict). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "expiry.h"
#include "hash.h"
#include "lru.h"
#include "slab.h"
#include "table.h"

#define NOW 1000

static int setup_cache(size_t maxbytes, bool evict, void **state)
{
    (void)state;
    struct cache_options o = {
        .maxbytes = maxbytes, .item_size_max = 1024 * 1024, .factor = 1.25,
        .min_chunk = 48, .hashpower = 12, .use_cas = true, .evict_to_free = evict,
        .started = 1700000000,
    };
    return cache_setup(&o);
}

static int setup(void **state) { return setup_cache(64 * 1024 * 1024, true, state); }

static int teardown(void **state)
{
    (void)state;
    cache_teardown();
    return 0;
}

/* Store `val` under `key` with op; returns the status. */
static enum cache_status put(const char *key, const char *val, enum cache_op op, uint64_t cas)
{
    enum cache_status err;
    size_t n = strlen(val);
    struct item *it = cache_alloc(key, strlen(key), 0, 0, n + 2, NOW, &err);
    if (it == NULL)
        return err;
    memcpy(item_value(it), val, n);
    memcpy(item_value(it) + n, "\r\n", 2);
    enum cache_status st = cache_store(it, op, cas, NOW);
    item_unref(it);
    return st;
}

/* The value of key without \r\n, or "" on a miss. */
static const char *value(const char *key)
{
    static char buf[4096];
    enum cache_miss why;
    struct item *it = cache_get(key, strlen(key), NOW, &why);
    if (it == NULL)
        return "";
    snprintf(buf, sizeof(buf), "%.*s", (int)(it->nbytes - 2), item_value(it));
    item_unref(it);
    return buf;
}

static uint64_t cas_of(const char *key)
{
    enum cache_miss why;
    struct item *it = cache_get(key, strlen(key), NOW, &why);
    assert_non_null(it);
    uint64_t c = it->cas;
    item_unref(it);
    return c;
}

static void test_exptime_zero_is_never(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(0, 10, 1700000000), 0);
    assert_false(expiry_passed(0, 4000000000u));
}

static void test_exptime_up_to_30_days_is_relative(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(100, 10, 1700000000), 110);
    assert_int_equal(expiry_from_client(EXPIRY_MAX_DELTA, 10, 1700000000), EXPIRY_MAX_DELTA + 10);
}

static void test_exptime_beyond_30_days_is_absolute(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(1700000500, 10, 1700000000), 500);
    assert_int_equal(expiry_from_client(EXPIRY_MAX_DELTA + 1, 10, 1700000000), 1);
}

static void test_negative_exptime_is_already_expired(void **state)
{
    (void)state;
    rel_time_t t = expiry_from_client(-1, 10, 1700000000);
    assert_true(expiry_passed(t, 10));
}

static void test_slab_classes_grow_and_fit_the_largest_item(void **state)
{
    (void)state;
    unsigned n = slab_nclasses();
    assert_true(n > 10);
    for (unsigned c = 2; c <= n; c++)
        assert_true(slab_chunk_size(c) > slab_chunk_size(c - 1));
    assert_true(slab_chunk_size(n) >= 1024 * 1024);
    /* -I is judged by memcached's arithmetic: 48-byte header, key NUL, CAS. */
    assert_true(cache_item_fits(10, 0, 1024 * 1024 - 48 - 11 - 8));
    assert_false(cache_item_fits(10, 0, 1024 * 1024 - 48 - 11 - 8 + 1));
    assert_false(cache_item_fits(10, 1, 1024 * 1024 - 48 - 11 - 8));
    unsigned c = slab_class_for(100);
    assert_true(slab_chunk_size(c) >= 100);
    assert_true(c == 1 || slab_chunk_size(c - 1) < 100);
}

static void test_table_stripe_is_low_bits_and_growth_keeps_items(void **state)
{
    (void)state;
    assert_ptr_equal(table_stripe(5), table_stripe(5 + table_nstripes()));
    uint64_t before = table_nbuckets();
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        assert_int_equal(put(key, key, CACHE_SET, 0), CACHE_STORED);
    }
    assert_true(table_nbuckets() > before);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        assert_string_equal(value(key), key);
    }
}

static void test_add_only_stores_a_missing_key(void **state)
{
    (void)state;
    assert_int_equal(put("a", "1", CACHE_ADD, 0), CACHE_STORED);
    assert_int_equal(put("a", "2", CACHE_ADD, 0), CACHE_NOT_STORED);
    assert_string_equal(value("a"), "1");
}

static void test_replace_append_prepend_need_the_key(void **state)
{
    (void)state;
    assert_int_equal(put("r", "x", CACHE_REPLACE, 0), CACHE_NOT_STORED);
    assert_int_equal(put("r", "x", CACHE_APPEND, 0), CACHE_NOT_STORED);
    assert_int_equal(put("r", "x", CACHE_PREPEND, 0), CACHE_NOT_STORED);
    put("r", "mid", CACHE_SET, 0);
    assert_int_equal(put("r", "END", CACHE_APPEND, 0), CACHE_STORED);
    assert_int_equal(put("r", "START", CACHE_PREPEND, 0), CACHE_STORED);
    assert_string_equal(value("r"), "STARTmidEND");
}

static void test_cas_refused_after_concurrent_set(void **state)
{
    (void)state;
    put("c", "1", CACHE_SET, 0);
    uint64_t seen = cas_of("c");
    put("c", "2", CACHE_SET, 0);
    assert_true(cas_of("c") != seen);
    assert_int_equal(put("c", "3", CACHE_CAS, seen), CACHE_EXISTS);
    assert_int_equal(put("c", "3", CACHE_CAS, cas_of("c")), CACHE_STORED);
    assert_int_equal(put("nope", "3", CACHE_CAS, 1), CACHE_NOT_FOUND);
}

static void test_incr_wraps_at_2_64(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(cache_arith_apply("18446744073709551615", 20, true, 1, &v));
    assert_true(v == 0);
    assert_true(cache_arith_apply("10", 2, true, 5, &v));
    assert_true(v == 15);
}

static void test_decr_stops_at_zero(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(cache_arith_apply("10", 2, false, 11, &v));
    assert_true(v == 0);
}

static void test_arith_refuses_non_numeric_values(void **state)
{
    (void)state;
    uint64_t v;
    assert_false(cache_arith_apply("abc", 3, true, 1, &v));
    assert_false(cache_arith_apply("", 0, true, 1, &v));
    assert_false(cache_arith_apply("-1", 2, true, 1, &v));
    assert_false(cache_arith_apply("99999999999999999999", 20, true, 1, &v));
    assert_true(cache_arith_apply(" 7 ", 3, true, 1, &v));
    assert_true(v == 8);
}

static void test_decr_in_place_pads_with_spaces(void **state)
{
    (void)state;
    uint64_t v;
    put("n", "100", CACHE_SET, 0);
    assert_int_equal(cache_arith("n", 1, false, 1, NOW, &v, NULL), CACHE_OK);
    assert_true(v == 99);
    assert_string_equal(value("n"), "99 ");
    assert_int_equal(cache_arith("n", 1, true, 1000, NOW, &v, NULL), CACHE_OK);
    assert_string_equal(value("n"), "1099");
    assert_int_equal(cache_arith("zz", 2, true, 1, NOW, &v, NULL), CACHE_NOT_FOUND);
}

static void test_expired_item_is_a_miss(void **state)
{
    (void)state;
    enum cache_status err;
    struct item *it = cache_alloc("e", 1, 0, NOW + 5, 3, NOW, &err);
    memcpy(item_value(it), "x\r\n", 3);
    cache_store(it, CACHE_SET, 0, NOW);
    item_unref(it);
    enum cache_miss why;
    struct item *hit = cache_get("e", 1, NOW + 4, &why);
    assert_non_null(hit);
    item_unref(hit);
    assert_null(cache_get("e", 1, NOW + 5, &why));
    assert_int_equal(why, CACHE_MISS_EXPIRED);
}

static void test_flush_now_removes_everything(void **state)
{
    (void)state;
    put("f1", "1", CACHE_SET, 0);
    put("f2", "2", CACHE_SET, 0);
    cache_flush(NOW, NOW);
    assert_string_equal(value("f1"), "");
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.curr_items, 0);
    put("f3", "3", CACHE_SET, 0);
    assert_string_equal(value("f3"), "3");
}

static void test_delayed_flush_hides_older_items_when_due(void **state)
{
    (void)state;
    put("d", "1", CACHE_SET, 0);
    cache_flush(NOW + 10, NOW);
    assert_string_equal(value("d"), "1");
    enum cache_miss why;
    assert_null(cache_get("d", 1, NOW + 10, &why));
    assert_int_equal(why, CACHE_MISS_FLUSHED);
}

static void test_deleted_item_stays_readable_while_referenced(void **state)
{
    (void)state;
    put("ref", "kept", CACHE_SET, 0);
    enum cache_miss why;
    struct item *it = cache_get("ref", 3, NOW, &why);
    assert_int_equal(cache_delete("ref", 3, NOW, NULL), CACHE_DELETED);
    assert_memory_equal(item_value(it), "kept\r\n", 6);
    item_unref(it);
    assert_int_equal(cache_delete("ref", 3, NOW, NULL), CACHE_NOT_FOUND);
}

static void test_lru_pushes_at_head_and_removes_anywhere(void **state)
{
    (void)state;
    struct lru *l = lru_of(1, 0);
    struct item a = { .clsid = 1 }, b = { .clsid = 1 }, c = { .clsid = 1 };
    pthread_mutex_lock(&l->lock);
    lru_push_head_locked(l, &a);
    lru_push_head_locked(l, &b);
    lru_push_head_locked(l, &c);
    assert_ptr_equal(l->head, &c);
    assert_ptr_equal(l->tail, &a);
    lru_remove_locked(l, &b);
    assert_ptr_equal(c.next, &a);
    assert_ptr_equal(a.prev, &c);
    lru_remove_locked(l, &a);
    assert_ptr_equal(l->tail, &c);
    lru_remove_locked(l, &c);
    assert_null(l->head);
    pthread_mutex_unlock(&l->lock);
}

static int setup_small(void **state) { return setup_cache(2 * 1024 * 1024, true, state); }

static int setup_small_noevict(void **state) { return setup_cache(2 * 1024 * 1024, false, state); }

static void test_full_cache_evicts_least_recently_used(void **state)
{
    (void)state;
    char key[32], val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    put("first", val, CACHE_SET, 0);
    for (int i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(put(key, val, CACHE_SET, 0), CACHE_STORED);
    }
    struct cache_stats st;
    cache_stats(&st);
    assert_true(st.evictions > 0);
    assert_true(st.malloced <= 2 * 1024 * 1024);
    assert_string_equal(value("first"), "");
    assert_string_equal(value("k29999"), val);
}

static void test_eviction_succeeds_when_every_item_was_read(void **state)
{
    (void)state;
    char key[32], val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (int i = 0; i < 30000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(put(key, val, CACHE_SET, 0), CACHE_STORED);
        assert_string_equal(value(key), val);   /* every item is active */
    }
    struct cache_stats st;
    cache_stats(&st);
    assert_true(st.evictions > 0);
    assert_true(st.moves_within_lru > 0);
}

static void test_disabled_evictions_answer_out_of_memory(void **state)
{
    (void)state;
    char key[32], val[200];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    enum cache_status st = CACHE_STORED;
    int i;
    for (i = 0; i < 30000 && st == CACHE_STORED; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        st = put(key, val, CACHE_SET, 0);
    }
    assert_int_equal(st, CACHE_NO_MEMORY);
    assert_string_equal(value("k0"), val);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_exptime_zero_is_never),
        cmocka_unit_test(test_exptime_up_to_30_days_is_relative),
        cmocka_unit_test(test_exptime_beyond_30_days_is_absolute),
        cmocka_unit_test(test_negative_exptime_is_already_expired),
        cmocka_unit_test(test_incr_wraps_at_2_64),
        cmocka_unit_test(test_decr_stops_at_zero),
        cmocka_unit_test(test_arith_refuses_non_numeric_values),
    };
    const struct CMUnitTest cache[] = {
        cmocka_unit_test_setup_teardown(test_slab_classes_grow_and_fit_the_largest_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_stripe_is_low_bits_and_growth_keeps_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_only_stores_a_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_append_prepend_need_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas_refused_after_concurrent_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decr_in_place_pads_with_spaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_item_is_a_miss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_now_removes_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_flush_hides_older_items_when_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_item_stays_readable_while_referenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_pushes_at_head_and_removes_anywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_cache_evicts_least_recently_used, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_eviction_succeeds_when_every_item_was_read, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_disabled_evictions_answer_out_of_memory, setup_small_noevict, teardown),
    };
    int failed = cmocka_run_group_tests(pure, NULL, NULL);
    return failed + cmocka_run_group_tests(cache, NULL, NULL);
}
