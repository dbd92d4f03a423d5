/* Unit tests of storage/cache.c, an item's lifetime: expiry times, touch,
 * flush_all now and delayed.  Eviction is test_evict.c. */
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


/* Stored expired (a negative or past time): STORED, and reclaimed at once
 * with the key's old value, as memcached's crawler does within seconds. */
static void test_negative_exptime_is_expired_at_once(void **state)
{
    (void)state;
    put("k", "old", CACHE_SET, 0);
    rel_time_t t = expiry_from_client(-1, NOW, STARTED);
    assert_int_equal(put_full("k", "new", CACHE_SET, 0, 0, t, NOW), CACHE_STORED);
    assert_int_equal(put_full("a", "x", CACHE_ADD, 0, 0, t, NOW), CACHE_STORED);
    enum cache_miss why;
    assert_null(get("k", NOW, &why));
    assert_null(get("a", NOW, &why));
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.curr_items, 0);
    assert_int_equal(st.total_items, 3);
    assert_int_equal(st.reclaimed, 2);
    assert_int_equal(st.expired_unfetched, 2);
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
    assert_int_equal(item_exptime(it), NOW + 3);
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

/* flush_all with a time already past, as memcached: with CAS on, every
 * item stored before the flush goes (its oldest_cas)... */
static void test_a_past_flush_time_with_cas_removes_everything(void **state)
{
    (void)state;
    put_full("old", "1", CACHE_SET, 0, 0, 0, NOW - 10);
    put_full("new", "2", CACHE_SET, 0, 0, 0, NOW);
    cache_flush(NOW - 5, NOW);
    assert_null(value_at("old", NOW));
    assert_null(value_at("new", NOW));
    put_full("later", "3", CACHE_SET, 0, 0, 0, NOW);
    assert_string_equal(value_at("later", NOW), "3");
}

/* ...and under -C only the items last touched at or before that time. */
static void test_a_past_flush_time_without_cas_spares_newer_items(void **state)
{
    (void)state;
    put_full("old", "1", CACHE_SET, 0, 0, 0, NOW - 10);
    put_full("edge", "2", CACHE_SET, 0, 0, 0, NOW - 5);
    put_full("new", "3", CACHE_SET, 0, 0, 0, NOW);
    cache_flush(NOW - 5, NOW);
    enum cache_miss why;
    assert_null(get("old", NOW, &why));
    assert_int_equal(why, CACHE_MISS_FLUSHED);
    assert_null(value_at("edge", NOW));
    assert_string_equal(value_at("new", NOW), "3");
    cache_flush(NOW, NOW);                  /* and now everything */
    assert_null(value_at("new", NOW));
}

static int setup_nocas(void **state) { (void)state; return setup_opts(false, true); }

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

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
        T(test_a_past_flush_time_with_cas_removes_everything),
        cmocka_unit_test_setup_teardown(test_a_past_flush_time_without_cas_spares_newer_items,
                                        setup_nocas, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
