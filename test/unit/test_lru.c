/* Unit tests of storage/lru.c: one recency list per class, newest at the head,
 * eviction candidates at the tail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lru.h"

#define NCLASSES 4

static struct item it[5];

static int setup(void **state)
{
    (void)state;
    lru_setup(NCLASSES, 1);
    memset(it, 0, sizeof(it));
    for (int i = 0; i < 5; i++) {
        it[i].clsid = 1;
        it[i].time = (rel_time_t)(100 + i);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lru_teardown();
    return 0;
}

/* Push it[0..n-1] in order onto class 1's list, taking its lock. */
static struct lru *push(int n)
{
    struct lru *l = lru_of(1, 0);
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < n; i++)
        lru_push_head_locked(l, &it[i]);
    pthread_mutex_unlock(&l->lock);
    return l;
}

/* Assert the list, head to tail, is exactly it[idx[0]], it[idx[1]], ... */
static void assert_order(struct lru *l, const int *idx, int n)
{
    struct item *p = l->head;
    for (int i = 0; i < n; i++, p = p->next) {
        assert_ptr_equal(p, &it[idx[i]]);
        assert_ptr_equal(p->prev, i == 0 ? NULL : &it[idx[i - 1]]);
    }
    assert_null(p);
    assert_ptr_equal(l->tail, n ? &it[idx[n - 1]] : NULL);
    assert_int_equal(l->stats.count, n);
}

static void test_new_lists_are_empty(void **state)
{
    (void)state;
    for (unsigned c = 0; c <= NCLASSES; c++) {
        assert_null(lru_of(c, 0)->head);
        assert_null(lru_of(c, 0)->tail);
        assert_int_equal(lru_of(c, 0)->stats.count, 0);
    }
}

static void test_each_class_has_its_own_list(void **state)
{
    (void)state;
    assert_ptr_not_equal(lru_of(1, 0), lru_of(2, 0));
    assert_ptr_equal(lru_of(3, 0), lru_of(3, 0));
}

static void test_first_push_is_both_head_and_tail(void **state)
{
    (void)state;
    struct lru *l = push(1);
    const int want[] = { 0 };
    assert_order(l, want, 1);
    assert_null(it[0].next);
}

static void test_push_puts_the_newest_at_the_head(void **state)
{
    (void)state;
    struct lru *l = push(4);
    const int want[] = { 3, 2, 1, 0 };
    assert_order(l, want, 4);
}

static void test_remove_the_head_promotes_the_next(void **state)
{
    (void)state;
    struct lru *l = push(3);
    lru_remove_locked(l, &it[2]);
    const int want[] = { 1, 0 };
    assert_order(l, want, 2);
    assert_null(it[2].prev);
    assert_null(it[2].next);
}

static void test_remove_the_tail_makes_the_previous_the_tail(void **state)
{
    (void)state;
    struct lru *l = push(3);
    lru_remove_locked(l, &it[0]);
    const int want[] = { 2, 1 };
    assert_order(l, want, 2);
    assert_null(it[1].next);
}

static void test_remove_from_the_middle_joins_the_neighbours(void **state)
{
    (void)state;
    struct lru *l = push(3);
    lru_remove_locked(l, &it[1]);
    const int want[] = { 2, 0 };
    assert_order(l, want, 2);
}

static void test_removing_the_only_item_empties_the_list(void **state)
{
    (void)state;
    struct lru *l = push(1);
    lru_remove_locked(l, &it[0]);
    assert_order(l, NULL, 0);
}

static void test_moving_the_tail_to_the_head_rotates_the_list(void **state)
{
    (void)state;
    struct lru *l = push(3);
    lru_remove_locked(l, l->tail);
    lru_push_head_locked(l, &it[0]);
    const int want[] = { 0, 2, 1 };
    assert_order(l, want, 3);
}

static void test_link_uses_the_items_class_list(void **state)
{
    (void)state;
    it[0].clsid = 2;
    it[1].clsid = 3;
    lru_link(&it[0]);
    lru_link(&it[1]);
    lru_link(&it[2]);
    assert_ptr_equal(lru_of(2, 0)->head, &it[0]);
    assert_ptr_equal(lru_of(3, 0)->head, &it[1]);
    assert_ptr_equal(lru_of(1, 0)->head, &it[2]);
    assert_int_equal(lru_of(2, 0)->stats.count, 1);
    lru_unlink(&it[0]);
    assert_null(lru_of(2, 0)->head);
    assert_int_equal(lru_of(2, 0)->stats.count, 0);
    assert_ptr_equal(lru_of(3, 0)->head, &it[1]);
}

static const struct item *seen[8];
static int nseen;

static void record(void *arg, const struct item *i, int64_t started)
{
    assert_ptr_equal(arg, &nseen);
    assert_int_equal(started, 1700000000);
    seen[nseen++] = i;
}

static void test_dump_walks_from_the_head_up_to_the_limit(void **state)
{
    (void)state;
    push(5);
    nseen = 0;
    lru_dump(1, 2, 1700000000, &nseen, record);
    assert_int_equal(nseen, 2);
    assert_ptr_equal(seen[0], &it[4]);
    assert_ptr_equal(seen[1], &it[3]);
}

static void test_dump_limit_zero_walks_everything(void **state)
{
    (void)state;
    push(5);
    nseen = 0;
    lru_dump(1, 0, 1700000000, &nseen, record);
    assert_int_equal(nseen, 5);
    assert_ptr_equal(seen[4], &it[0]);
}

static void test_snapshot_reports_count_and_tail_time(void **state)
{
    (void)state;
    struct lru *l = push(3);
    l->stats.evicted = 7;
    struct lru_stats st;
    rel_time_t tail = 0;
    lru_snapshot(1, &st, &tail);
    assert_int_equal(st.count, 3);
    assert_int_equal(st.evicted, 7);
    assert_int_equal(tail, 100);
    lru_snapshot(2, &st, &tail);
    assert_int_equal(st.count, 0);
    assert_int_equal(tail, 0);
}

static int setup_sharded(void **state)
{
    setup(state);
    lru_teardown();
    lru_setup(NCLASSES, 4);
    for (int i = 0; i < 5; i++)
        it[i].hash = (uint32_t)i;   /* shards 0, 1, 2, 3, 0 */
    return 0;
}

static void test_items_go_to_the_shard_of_their_hash(void **state)
{
    (void)state;
    assert_int_equal(lru_nshards(), 4);
    for (int i = 0; i < 5; i++)
        lru_link(&it[i]);
    assert_ptr_equal(lru_for(&it[1]), lru_of(1, 1));
    assert_ptr_equal(lru_of(1, 1)->head, &it[1]);
    assert_ptr_equal(lru_of(1, 0)->head, &it[4]);
    assert_ptr_equal(lru_of(1, 0)->tail, &it[0]);
    assert_int_equal(lru_of(1, 0)->stats.count, 2);
    assert_int_equal(lru_of(1, 3)->stats.count, 1);
    lru_unlink(&it[4]);
    assert_ptr_equal(lru_of(1, 0)->head, &it[0]);
}

static void test_replace_swaps_an_item_for_its_successor(void **state)
{
    (void)state;
    lru_link(&it[0]);
    lru_link(&it[1]);
    it[4].hash = 1;
    lru_replace(&it[1], &it[4]);
    assert_ptr_equal(lru_of(1, 1)->head, &it[4]);
    assert_ptr_equal(lru_of(1, 1)->tail, &it[4]);
    assert_int_equal(lru_of(1, 1)->stats.count, 1);
    assert_null(it[1].next);
}

static void test_dump_merges_shards_newest_first(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        lru_link(&it[i]);
    nseen = 0;
    lru_dump(1, 0, 1700000000, &nseen, record);
    assert_int_equal(nseen, 5);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(seen[i], &it[4 - i]);
}

static void test_snapshot_sums_shards_and_reports_the_oldest_tail(void **state)
{
    (void)state;
    for (int i = 1; i < 5; i++)
        lru_link(&it[i]);
    lru_of(1, 2)->stats.evicted = 3;
    lru_of(1, 3)->stats.evicted = 4;
    struct lru_stats st;
    rel_time_t tail = 0;
    lru_snapshot(1, &st, &tail);
    assert_int_equal(st.count, 4);
    assert_int_equal(st.evicted, 7);
    assert_int_equal(tail, 101);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_lists_are_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_class_has_its_own_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_push_is_both_head_and_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_puts_the_newest_at_the_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_the_head_promotes_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_the_tail_makes_the_previous_the_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_from_the_middle_joins_the_neighbours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removing_the_only_item_empties_the_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moving_the_tail_to_the_head_rotates_the_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_uses_the_items_class_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_walks_from_the_head_up_to_the_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_limit_zero_walks_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_reports_count_and_tail_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_items_go_to_the_shard_of_their_hash, setup_sharded, teardown),
        cmocka_unit_test_setup_teardown(test_replace_swaps_an_item_for_its_successor, setup_sharded, teardown),
        cmocka_unit_test_setup_teardown(test_dump_merges_shards_newest_first, setup_sharded, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_sums_shards_and_reports_the_oldest_tail, setup_sharded, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
