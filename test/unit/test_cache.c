/* Unit tests of storage/cache.c: memcached's storage semantics — the store
 * commands, CAS uniques, incr/decr, and references held across changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "expiry.h"
#include "slab.h"

#include "cache_fixture.h"

/* Bytes of chunks items hold (pages stay with their class when freed). */
static uint64_t chunks_in_use(void)
{
    struct cache_stats st;
    cache_stats(&st);
    return st.malloced;
}

static int setup_no_cas(void **state) { (void)state; return setup_opts(false, true); }

static uint64_t cas_of(const char *key)
{
    enum cache_miss why;
    struct item *it = get(key, NOW, &why);
    assert_non_null(it);
    uint64_t c = item_cas(it);
    item_unref(it);
    return c;
}

static enum cache_status arith(const char *key, bool incr, uint64_t delta, uint64_t *v)
{
    return cache_arith(key, strlen(key), incr, delta, NOW, v, NULL);
}

static void test_set_stores_a_new_key(void **state)
{
    (void)state;
    assert_int_equal(put("k", "hello", CACHE_SET, 0), CACHE_STORED);
    assert_string_equal(value("k"), "hello");
}

static void test_set_replaces_value_and_flags(void **state)
{
    (void)state;
    put_full("k", "one", CACHE_SET, 0, 1, 0, NOW);
    put_full("k", "second", CACHE_SET, 0, 2, 0, NOW);
    enum cache_miss why;
    struct item *it = get("k", NOW, &why);
    assert_int_equal(item_flags(it), 2);
    assert_int_equal(item_vlen(it), 6);
    item_unref(it);
    assert_string_equal(value("k"), "second");
}

static void test_add_stores_only_a_missing_key(void **state)
{
    (void)state;
    assert_int_equal(put("a", "1", CACHE_ADD, 0), CACHE_STORED);
    assert_int_equal(put("a", "2", CACHE_ADD, 0), CACHE_NOT_STORED);
    assert_string_equal(value("a"), "1");
}

static void test_replace_stores_only_an_existing_key(void **state)
{
    (void)state;
    assert_int_equal(put("r", "1", CACHE_REPLACE, 0), CACHE_NOT_STORED);
    assert_null(value("r"));
    put("r", "1", CACHE_SET, 0);
    assert_int_equal(put("r", "2", CACHE_REPLACE, 0), CACHE_STORED);
    assert_string_equal(value("r"), "2");
}

static void test_append_and_prepend_need_the_key(void **state)
{
    (void)state;
    assert_int_equal(put("x", "a", CACHE_APPEND, 0), CACHE_NOT_STORED);
    assert_int_equal(put("x", "a", CACHE_PREPEND, 0), CACHE_NOT_STORED);
    assert_null(value("x"));
}

static void test_append_adds_after_and_prepend_before(void **state)
{
    (void)state;
    put("x", "mid", CACHE_SET, 0);
    assert_int_equal(put("x", "END", CACHE_APPEND, 0), CACHE_STORED);
    assert_int_equal(put("x", "START", CACHE_PREPEND, 0), CACHE_STORED);
    assert_string_equal(value("x"), "STARTmidEND");
}

static void test_append_keeps_the_old_flags_and_exptime(void **state)
{
    (void)state;
    put_full("x", "a", CACHE_SET, 0, 5, NOW + 100, NOW);
    put_full("x", "b", CACHE_APPEND, 0, 9, NOW + 5, NOW);
    enum cache_miss why;
    struct item *it = get("x", NOW + 50, &why);
    assert_non_null(it);
    assert_int_equal(item_flags(it), 5);
    assert_int_equal(item_exptime(it), NOW + 100);
    item_unref(it);
}

static void test_append_beyond_the_largest_item_is_not_stored(void **state)
{
    (void)state;
    static char big[600 * 1024];
    memset(big, 'b', sizeof(big) - 1);
    assert_int_equal(put("x", big, CACHE_SET, 0), CACHE_STORED);
    assert_int_equal(put("x", big, CACHE_APPEND, 0), CACHE_NOT_STORED);
    enum cache_miss why;
    struct item *it = get("x", NOW, &why);
    assert_int_equal(item_vlen(it), sizeof(big) - 1);
    item_unref(it);
}

/* memcached 1.6.18 with -I 1m: a 3-byte key takes a value of 1048514 bytes,
 * 1048510 with non-zero flags, and no more (its 48-byte header, the key's
 * NUL, 8 bytes of CAS, 4 of flags, the \r\n). */
static void test_largest_item_is_memcacheds_to_the_byte(void **state)
{
    (void)state;
    assert_true(cache_item_fits(3, 0, 1048514));
    assert_false(cache_item_fits(3, 0, 1048515));
    assert_true(cache_item_fits(3, 1, 1048510));
    assert_false(cache_item_fits(3, 1, 1048511));
}

static void test_too_large_item_is_refused_at_allocation(void **state)
{
    (void)state;
    enum cache_status err = CACHE_OK;
    assert_null(cache_alloc("big", 3, 0, 0, 1048515, NOW, &err));
    assert_int_equal(err, CACHE_TOO_LARGE);
    struct item *it = cache_alloc("big", 3, 0, 0, 1048514, NOW, &err);
    assert_non_null(it);
    item_unref(it);
}

static void test_cas_stores_with_the_current_unique(void **state)
{
    (void)state;
    put("c", "1", CACHE_SET, 0);
    assert_int_equal(put("c", "2", CACHE_CAS, cas_of("c")), CACHE_STORED);
    assert_string_equal(value("c"), "2");
}

static void test_cas_refused_after_concurrent_set(void **state)
{
    (void)state;
    put("c", "1", CACHE_SET, 0);
    uint64_t seen = cas_of("c");
    put("c", "2", CACHE_SET, 0);
    assert_int_equal(put("c", "3", CACHE_CAS, seen), CACHE_EXISTS);
    assert_string_equal(value("c"), "2");
}

/* cache_get_visit's callback: record what it saw and the reference count then. */
struct visit_seen {
    int calls;
    char value[16];
    unsigned refs;
};

static void visit_record(struct item *it, void *arg)
{
    struct visit_seen *v = arg;
    v->calls++;
    memcpy(v->value, item_value(it), item_vlen(it));
    v->value[item_vlen(it)] = '\0';
    v->refs = atomic_load(&it->refcount);
}

static void test_visit_reads_a_hit_without_taking_a_reference(void **state)
{
    (void)state;
    put("v", "abc", CACHE_SET, 0);
    struct visit_seen seen = { 0 };
    enum cache_miss why;
    assert_true(cache_get_visit("v", 1, cache_hash("v", 1), NOW, &why, visit_record, &seen));
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.value, "abc");
    assert_int_equal(seen.refs, 1);             /* the table's own */
    assert_int_equal(why, CACHE_MISS_NONE);
}

static void test_visit_of_a_missing_or_expired_key_calls_nothing(void **state)
{
    (void)state;
    struct visit_seen seen = { 0 };
    enum cache_miss why;
    assert_false(cache_get_visit("nope", 4, cache_hash("nope", 4), NOW, &why, visit_record, &seen));
    put_full("e", "1", CACHE_SET, 0, 0, NOW + 5, NOW);
    assert_false(cache_get_visit("e", 1, cache_hash("e", 1), NOW + 10, &why, visit_record, &seen));
    assert_int_equal(why, CACHE_MISS_EXPIRED);
    assert_int_equal(seen.calls, 0);
}

static void test_cas_on_a_missing_key_is_not_found(void **state)
{
    (void)state;
    assert_int_equal(put("nope", "3", CACHE_CAS, 1), CACHE_NOT_FOUND);
    assert_null(value("nope"));
}

static void test_cas_uniques_change_on_every_store(void **state)
{
    (void)state;
    uint64_t v, seen[8];
    int n = 0;
    put("u", "1", CACHE_SET, 0);
    seen[n++] = cas_of("u");
    put("u", "22", CACHE_SET, 0);
    seen[n++] = cas_of("u");
    put("u", "3", CACHE_APPEND, 0);
    seen[n++] = cas_of("u");
    put("u", "4", CACHE_PREPEND, 0);
    seen[n++] = cas_of("u");
    put("u", "5", CACHE_REPLACE, 0);
    seen[n++] = cas_of("u");
    put("u", "66", CACHE_CAS, seen[n - 1]);
    seen[n++] = cas_of("u");
    arith("u", false, 1, &v);             /* rewritten in place: "65" */
    seen[n++] = cas_of("u");
    arith("u", true, 100, &v);            /* grows: a new item */
    seen[n++] = cas_of("u");
    for (int i = 0; i < n; i++) {
        assert_int_not_equal(seen[i], 0);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(seen[i], seen[j]);
    }
}

static void test_store_reports_the_new_unique_on_the_callers_item(void **state)
{
    (void)state;
    struct item *it = mk("k", "v", 0, 0);
    assert_int_equal(cache_store(it, cache_hash("k", 1), CACHE_SET, 0, NOW), CACHE_STORED);
    assert_int_equal(item_cas(it), cas_of("k"));
    item_unref(it);
}

static void test_without_cas_uniques_are_zero_and_cas_never_matches(void **state)
{
    (void)state;
    put("c", "1", CACHE_SET, 0);
    assert_int_equal(cas_of("c"), 0);
    assert_int_equal(put("c", "2", CACHE_CAS, 0), CACHE_EXISTS);
    assert_string_equal(value("c"), "1");
}

static void test_incr_wraps_at_2_64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_true(cache_arith_apply("18446744073709551615", 20, true, 1, &v));
    assert_true(v == 0);
    assert_true(cache_arith_apply("18446744073709551615", 20, true, 18446744073709551615ULL, &v));
    assert_true(v == 18446744073709551614ULL);
}

static void test_decr_stops_at_zero(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_true(cache_arith_apply("10", 2, false, 11, &v));
    assert_true(v == 0);
    assert_true(cache_arith_apply("10", 2, false, 10, &v));
    assert_true(v == 0);
    assert_true(cache_arith_apply("10", 2, false, 3, &v));
    assert_true(v == 7);
}

static void test_arith_refuses_non_numeric_values(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_false(cache_arith_apply("abc", 3, true, 1, &v));
    assert_false(cache_arith_apply("", 0, true, 1, &v));
    assert_false(cache_arith_apply("12a", 3, true, 1, &v));
    assert_false(cache_arith_apply("-1", 2, true, 1, &v));
    assert_false(cache_arith_apply("18446744073709551616", 20, true, 1, &v));
    assert_false(cache_arith_apply("   ", 3, true, 1, &v));
    assert_true(v == 7);
}

static void test_arith_reads_numbers_as_strtoull_does(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_true(cache_arith_apply("  7  ", 5, true, 1, &v));    /* padded by an earlier decr */
    assert_true(v == 8);
    assert_true(cache_arith_apply("+5", 2, true, 1, &v));
    assert_true(v == 6);
    assert_true(cache_arith_apply("-0", 2, true, 1, &v));
    assert_true(v == 1);
    assert_true(cache_arith_apply("1 2", 3, true, 1, &v));       /* stops at the space */
    assert_true(v == 2);
}

static void test_decr_rewrites_in_place_padded_with_spaces(void **state)
{
    (void)state;
    uint64_t v;
    put("n", "100", CACHE_SET, 0);
    assert_int_equal(arith("n", false, 1, &v), CACHE_OK);
    assert_true(v == 99);
    assert_string_equal(value("n"), "99 ");
    put("n", "1000", CACHE_SET, 0);
    arith("n", false, 999, &v);
    assert_string_equal(value("n"), "1   ");
}

static void test_incr_past_the_old_length_makes_a_new_item(void **state)
{
    (void)state;
    uint64_t v;
    put_full("n", "99", CACHE_SET, 0, 7, NOW + 100, NOW);
    assert_int_equal(arith("n", true, 1, &v), CACHE_OK);
    assert_true(v == 100);
    assert_string_equal(value("n"), "100");
    enum cache_miss why;
    struct item *it = get("n", NOW, &why);
    assert_int_equal(item_flags(it), 7);
    assert_int_equal(item_exptime(it), NOW + 100);
    item_unref(it);
}

static void test_incr_wrapping_in_the_cache_pads_the_old_length(void **state)
{
    (void)state;
    uint64_t v;
    put("n", "18446744073709551615", CACHE_SET, 0);
    assert_int_equal(arith("n", true, 2, &v), CACHE_OK);
    assert_true(v == 1);
    assert_string_equal(value("n"), "1                   ");
}

static void test_arith_leaves_a_value_being_read_untouched(void **state)
{
    (void)state;
    uint64_t v;
    put("n", "100", CACHE_SET, 0);
    enum cache_miss why;
    struct item *reader = get("n", NOW, &why);
    assert_int_equal(arith("n", false, 1, &v), CACHE_OK);
    assert_memory_equal(item_value(reader), "100", 3);
    assert_string_equal(value("n"), "99");
    item_unref(reader);
}

static void test_arith_misses_and_non_numeric_values(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(arith("none", true, 1, &v), CACHE_NOT_FOUND);
    put("s", "abc", CACHE_SET, 0);
    assert_int_equal(arith("s", true, 1, &v), CACHE_NON_NUMERIC);
    assert_string_equal(value("s"), "abc");
    put("e", "", CACHE_SET, 0);
    assert_int_equal(arith("e", false, 1, &v), CACHE_NON_NUMERIC);
}

/* memcached's do_add_delta: an empty value is non-numeric, then a unique
 * that differs is EXISTS, and only then is the number parsed. */
static void test_arith_checks_the_unique_before_parsing_as_memcached(void **state)
{
    (void)state;
    put("s", "abc", CACHE_SET, 0);
    struct cache_arith_opts o = { .incr = true, .delta = 1, .cas = cas_of("s") + 1 };
    struct cache_arith_result res;
    assert_int_equal(cache_arith_ex("s", 1, &o, NOW, &res), CACHE_EXISTS);
    o.cas = cas_of("s");
    assert_int_equal(cache_arith_ex("s", 1, &o, NOW, &res), CACHE_NON_NUMERIC);
    put("e", "", CACHE_SET, 0);
    o.cas = cas_of("e") + 1;
    assert_int_equal(cache_arith_ex("e", 1, &o, NOW, &res), CACHE_NON_NUMERIC);
    put("n", "5", CACHE_SET, 0);
    o.cas = cas_of("n") + 1;
    assert_int_equal(cache_arith_ex("n", 1, &o, NOW, &res), CACHE_EXISTS);
    assert_string_equal(value("n"), "5");
}

static void test_arith_reports_the_items_class(void **state)
{
    (void)state;
    uint64_t v;
    unsigned cls = 0;
    put("n", "5", CACHE_SET, 0);
    assert_int_equal(cache_arith("n", 1, true, 1, NOW, &v, &cls), CACHE_OK);
    assert_int_equal(cls, slab_class_for(item_total(1, 0, 1)));
}

static void test_get_marks_the_item_fetched_and_counts_the_read(void **state)
{
    (void)state;
    put("k", "v", CACHE_SET, 0);
    enum cache_miss why;
    struct item *it = get("k", NOW, &why);
    assert_int_equal(why, CACHE_MISS_NONE);
    assert_int_equal(it->iflags, ITEM_LINKED | ITEM_FETCHED | ITEM_FREQ_ONE);
    item_unref(it);
}

static void test_deleted_item_stays_readable_until_unref(void **state)
{
    (void)state;
    put("ref", "kept", CACHE_SET, 0);
    size_t used = chunks_in_use();
    enum cache_miss why;
    struct item *it = get("ref", NOW, &why);
    assert_int_equal(cache_delete("ref", 3, NOW, NULL), CACHE_DELETED);
    assert_null(value("ref"));
    assert_memory_equal(item_value(it), "kept", 4);
    assert_int_equal(chunks_in_use(), used);
    item_unref(it);
    assert_int_equal(chunks_in_use(), 0);
    assert_int_equal(cache_delete("ref", 3, NOW, NULL), CACHE_NOT_FOUND);
}

static void test_replaced_item_stays_readable_until_unref(void **state)
{
    (void)state;
    put("k", "first", CACHE_SET, 0);
    enum cache_miss why;
    struct item *it = get("k", NOW, &why);
    put("k", "second", CACHE_SET, 0);
    assert_memory_equal(item_value(it), "first", 5);
    assert_string_equal(value("k"), "second");
    item_unref(it);
}

static void test_stats_count_items_and_bytes(void **state)
{
    (void)state;
    put("a", "1", CACHE_SET, 0);
    put("bb", "22", CACHE_SET, 0);
    put("a", "333", CACHE_SET, 0);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.curr_items, 2);
    assert_int_equal(st.total_items, 3);
    assert_int_equal(st.bytes, item_total(1, 0, 3) + item_total(2, 0, 2));
    assert_int_equal(st.limit_maxbytes, 64 * MB);
    assert_int_equal(st.hash_buckets, 8192);   /* a bucket of 8 slots a stripe, at least */
}

struct size_seen {
    size_t size[8];
    uint64_t count[8];
    int n;
};

static void size_record(size_t size, uint64_t count, void *arg)
{
    struct size_seen *s = arg;
    if (s->n < 8) {
        s->size[s->n] = size;
        s->count[s->n++] = count;
    }
}

/* `stats sizes`: items stored since tracking began, by memcached's size
 * (48-byte header, key and NUL, value and \r\n, CAS) in 32-byte steps. */
static void test_sizes_count_items_stored_while_tracking(void **state)
{
    (void)state;
    struct size_seen seen = { .n = 0 };
    put("before", "x", CACHE_SET, 0);
    assert_false(cache_sizes_each(size_record, &seen));
    assert_int_equal(cache_sizes_enable(), CACHE_SIZES_ENABLED);
    put("a", "1", CACHE_SET, 0);            /* 48 + 2 + 3 + 8 = 61: the 64 bucket */
    put("b", "2", CACHE_SET, 0);
    put("c", "0123456789012345678901234567890123456789", CACHE_SET, 0);    /* 100: 128 */
    cache_delete("b", 1, NOW, NULL);
    cache_delete("before", 6, NOW, NULL);   /* never counted: no change */
    assert_true(cache_sizes_each(size_record, &seen));
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.size[0], 64);
    assert_int_equal(seen.count[0], 1);
    assert_int_equal(seen.size[1], 128);
    assert_int_equal(seen.count[1], 1);
    cache_sizes_disable();
    assert_false(cache_sizes_each(size_record, &seen));
}

static void test_sizes_need_cas(void **state)
{
    (void)state;
    assert_int_equal(cache_sizes_enable(), CACHE_SIZES_NO_CAS);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_set_stores_a_new_key),
        T(test_visit_reads_a_hit_without_taking_a_reference),
        T(test_visit_of_a_missing_or_expired_key_calls_nothing),
        T(test_set_replaces_value_and_flags),
        T(test_add_stores_only_a_missing_key),
        T(test_replace_stores_only_an_existing_key),
        T(test_append_and_prepend_need_the_key),
        T(test_append_adds_after_and_prepend_before),
        T(test_append_keeps_the_old_flags_and_exptime),
        T(test_append_beyond_the_largest_item_is_not_stored),
        T(test_largest_item_is_memcacheds_to_the_byte),
        T(test_too_large_item_is_refused_at_allocation),
        T(test_cas_stores_with_the_current_unique),
        T(test_cas_refused_after_concurrent_set),
        T(test_cas_on_a_missing_key_is_not_found),
        T(test_cas_uniques_change_on_every_store),
        T(test_store_reports_the_new_unique_on_the_callers_item),
        cmocka_unit_test_setup_teardown(test_without_cas_uniques_are_zero_and_cas_never_matches,
                                        setup_no_cas, teardown),
        cmocka_unit_test(test_incr_wraps_at_2_64),
        cmocka_unit_test(test_decr_stops_at_zero),
        cmocka_unit_test(test_arith_refuses_non_numeric_values),
        cmocka_unit_test(test_arith_reads_numbers_as_strtoull_does),
        T(test_decr_rewrites_in_place_padded_with_spaces),
        T(test_incr_past_the_old_length_makes_a_new_item),
        T(test_incr_wrapping_in_the_cache_pads_the_old_length),
        T(test_arith_leaves_a_value_being_read_untouched),
        T(test_arith_misses_and_non_numeric_values),
        T(test_arith_checks_the_unique_before_parsing_as_memcached),
        T(test_sizes_count_items_stored_while_tracking),
        cmocka_unit_test_setup_teardown(test_sizes_need_cas, setup_no_cas, teardown),
        T(test_arith_reports_the_items_class),
        T(test_get_marks_the_item_fetched_and_counts_the_read),
        T(test_deleted_item_stays_readable_until_unref),
        T(test_replaced_item_stays_readable_until_unref),
        T(test_stats_count_items_and_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
