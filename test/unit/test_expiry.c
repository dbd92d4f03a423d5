/* Unit tests of storage/expiry.h: memcached's exptime rules as pure arithmetic.
 * Cache time `now` counts seconds since `started` (a unix time). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "expiry.h"

#define STARTED 1700000000
#define NOW 1000

static void test_exptime_zero_means_never(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(0, NOW, STARTED), 0);
}

static void test_never_is_not_passed_at_any_time(void **state)
{
    (void)state;
    assert_false(expiry_passed(0, 0));
    assert_false(expiry_passed(0, NOW));
    assert_false(expiry_passed(0, UINT32_MAX));
}

static void test_small_exptime_is_relative_to_now(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(1, NOW, STARTED), NOW + 1);
    assert_int_equal(expiry_from_client(100, NOW, STARTED), NOW + 100);
    assert_int_equal(expiry_from_client(100, 5, STARTED), 105);
}

static void test_thirty_days_exactly_is_still_relative(void **state)
{
    (void)state;
    assert_int_equal(EXPIRY_MAX_DELTA, 2592000);
    assert_int_equal(expiry_from_client(2592000, NOW, STARTED), 2592000 + NOW);
}

static void test_thirty_days_and_one_second_is_an_absolute_unix_time(void **state)
{
    (void)state;
    /* 2592001 as a unix time is January 1970: long before STARTED. */
    assert_int_equal(expiry_from_client(2592001, NOW, STARTED), 1);
}

static void test_absolute_time_in_the_future_maps_to_cache_time(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(STARTED + 500, NOW, STARTED), 500);
    assert_int_equal(expiry_from_client(STARTED + 500, 7, STARTED), 500);
    assert_int_equal(expiry_from_client(STARTED + 1, NOW, STARTED), 1);
}

static void test_absolute_time_at_or_before_start_is_expired(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(STARTED, NOW, STARTED), 1);
    assert_int_equal(expiry_from_client(STARTED - 1, NOW, STARTED), 1);
    assert_true(expiry_passed(expiry_from_client(STARTED, NOW, STARTED), NOW));
}

static void test_absolute_time_beyond_cache_time_range_is_capped(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client((int64_t)STARTED + UINT32_MAX + 10, NOW, STARTED),
                     UINT32_MAX);
}

static void test_negative_exptime_is_expired_at_once(void **state)
{
    (void)state;
    assert_int_equal(expiry_from_client(-1, NOW, STARTED), 1);
    assert_int_equal(expiry_from_client(INT32_MIN, NOW, STARTED), 1);
    assert_true(expiry_passed(expiry_from_client(-1, NOW, STARTED), NOW));
    /* The server's clock starts at 2, so "1" is already in the past. */
    assert_true(expiry_passed(expiry_from_client(-1, 2, STARTED), 2));
}

static void test_item_expires_when_now_reaches_exptime(void **state)
{
    (void)state;
    rel_time_t t = expiry_from_client(10, NOW, STARTED);
    assert_false(expiry_passed(t, NOW + 9));
    assert_true(expiry_passed(t, NOW + 10));
    assert_true(expiry_passed(t, NOW + 11));
}

static void test_remaining_is_minus_one_for_never(void **state)
{
    (void)state;
    assert_int_equal(expiry_remaining(0, NOW), -1);
}

static void test_remaining_counts_down_to_zero(void **state)
{
    (void)state;
    assert_int_equal(expiry_remaining(NOW + 30, NOW), 30);
    assert_int_equal(expiry_remaining(NOW + 1, NOW), 1);
    assert_int_equal(expiry_remaining(NOW, NOW), 0);
    assert_int_equal(expiry_remaining(NOW - 5, NOW), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exptime_zero_means_never),
        cmocka_unit_test(test_never_is_not_passed_at_any_time),
        cmocka_unit_test(test_small_exptime_is_relative_to_now),
        cmocka_unit_test(test_thirty_days_exactly_is_still_relative),
        cmocka_unit_test(test_thirty_days_and_one_second_is_an_absolute_unix_time),
        cmocka_unit_test(test_absolute_time_in_the_future_maps_to_cache_time),
        cmocka_unit_test(test_absolute_time_at_or_before_start_is_expired),
        cmocka_unit_test(test_absolute_time_beyond_cache_time_range_is_capped),
        cmocka_unit_test(test_negative_exptime_is_expired_at_once),
        cmocka_unit_test(test_item_expires_when_now_reaches_exptime),
        cmocka_unit_test(test_remaining_is_minus_one_for_never),
        cmocka_unit_test(test_remaining_counts_down_to_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
