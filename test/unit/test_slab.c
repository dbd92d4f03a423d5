/* Unit tests of storage/slab.c: size classes from -n and -f rounded to the
 * jemalloc size each chunk really occupies, the class lookup, and the -m budget. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <jemalloc/jemalloc.h>
#include <cmocka.h>

#include "slab.h"

#define MB (1024 * 1024)

/* -n 48 with a 48-byte header, -f 1.25, -I 1m: the first class is 96 bytes. */
static struct slab_options opt;
/* The arena shard of the last allocation; tests run on one thread, so one. */
static uint8_t sh;

static int setup_with(size_t maxbytes, double factor, size_t min_chunk, size_t item_max)
{
    opt = (struct slab_options){
        .maxbytes = maxbytes, .factor = factor, .min_chunk = min_chunk,
        .item_size_max = item_max, .header_size = 48,
    };
    return slab_setup(&opt);
}

/* A 1 MB budget and two arenas per class, whatever the machine's CPUs. */
static int setup_two_shards(void **state)
{
    (void)state;
    opt = (struct slab_options){
        .maxbytes = MB, .factor = 1.25, .min_chunk = 48, .item_size_max = MB,
        .header_size = 48, .arena_shards = 2,
    };
    return slab_setup(&opt);
}

static int setup(void **state) { (void)state; return setup_with(64 * MB, 1.25, 48, MB); }
static int setup_f2(void **state) { (void)state; return setup_with(64 * MB, 2.0, 48, 1000000); }
static int setup_f105(void **state) { (void)state; return setup_with(64 * MB, 1.05, 48, MB); }
static int setup_n50(void **state) { (void)state; return setup_with(64 * MB, 1.25, 50, MB); }
/* Room for exactly three chunks of the first class. */
static int setup_tiny(void **state) { (void)state; return setup_with(3 * 96, 1.25, 48, MB); }

static int teardown(void **state)
{
    (void)state;
    slab_teardown();
    return 0;
}

static void test_first_class_is_header_plus_min_chunk(void **state)
{
    (void)state;
    assert_int_equal(slab_chunk_size(1), 96);
}

static void test_first_class_rounds_up_to_a_jemalloc_size(void **state)
{
    (void)state;
    /* 48 + 50 = 98 bytes live in jemalloc's 112-byte size class. */
    assert_int_equal(slab_chunk_size(1), 112);
}

static void test_classes_grow_by_the_factor_on_jemalloc_sizes(void **state)
{
    (void)state;
    /* 96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 940, 1176, 1470, 1840
     * (each x1.25, 8-aligned) as jemalloc rounds them: */
    const size_t want[] = { 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536,
                            2048 };
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(slab_chunk_size(i + 1), want[i]);
    assert_int_equal(slab_nclasses(), 42);
}

static void test_factor_two_doubles_each_class(void **state)
{
    (void)state;
    const size_t want[] = { 96, 192, 384, 768, 1536, 3072, 6144, 12288, 24576, 49152, 98304,
                            196608, 393216, 786432, 1048576 };
    assert_int_equal(slab_nclasses(), sizeof(want) / sizeof(want[0]));
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(slab_chunk_size(i + 1), want[i]);
}

static void test_classes_rounding_to_one_size_are_merged(void **state)
{
    (void)state;
    /* 96 -> 104 (112) -> 112 (112, merged) -> 120 (128) -> 128 (merged) -> 136 (160) */
    assert_int_equal(slab_chunk_size(1), 96);
    assert_int_equal(slab_chunk_size(2), 112);
    assert_int_equal(slab_chunk_size(3), 128);
    assert_int_equal(slab_chunk_size(4), 160);
    for (unsigned c = 2; c <= slab_nclasses(); c++)
        assert_true(slab_chunk_size(c) > slab_chunk_size(c - 1));
}

static void test_every_class_is_a_real_jemalloc_size(void **state)
{
    (void)state;
    assert_in_range(slab_nclasses(), 2, SLAB_MAX_CLASSES);
    for (unsigned c = 1; c <= slab_nclasses(); c++)
        assert_int_equal(nallocx(slab_chunk_size(c), 0), slab_chunk_size(c));
}

static void test_classes_are_sorted(void **state)
{
    (void)state;
    for (unsigned c = 2; c <= slab_nclasses(); c++)
        assert_true(slab_chunk_size(c) > slab_chunk_size(c - 1));
}

static void test_largest_class_holds_item_size_max(void **state)
{
    (void)state;
    unsigned n = slab_nclasses();
    assert_int_equal(slab_item_size_max(), MB);
    assert_int_equal(slab_chunk_size(n), MB);
    assert_int_equal(slab_class_for(MB), n);
    assert_int_equal(slab_class_for(MB + 1), 0);
}

static void test_item_size_max_off_a_jemalloc_size_is_still_the_limit(void **state)
{
    (void)state;
    /* -I 1000000: the last chunk is 1 MiB, but 1000001 bytes are refused. */
    unsigned n = slab_nclasses();
    assert_int_equal(slab_class_for(1000000), n);
    assert_int_equal(slab_class_for(1000001), 0);
    assert_int_equal(slab_class_for(SIZE_MAX), 0);
}

static void test_class_for_picks_the_smallest_class_that_fits(void **state)
{
    (void)state;
    assert_int_equal(slab_class_for(0), 1);
    assert_int_equal(slab_class_for(1), 1);
    assert_int_equal(slab_class_for(96), 1);
    assert_int_equal(slab_class_for(97), 2);
    assert_int_equal(slab_class_for(128), 2);
    assert_int_equal(slab_class_for(129), 3);
    for (unsigned c = 1; c < slab_nclasses(); c++) {
        assert_int_equal(slab_class_for(slab_chunk_size(c)), c);
        assert_int_equal(slab_class_for(slab_chunk_size(c) - 1), c);
        assert_int_equal(slab_class_for(slab_chunk_size(c) + 1), c + 1);
    }
}

static void test_allocation_exactly_filling_the_budget_succeeds(void **state)
{
    (void)state;
    void *p[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(p[i] = slab_alloc(1, &sh));
    assert_int_equal(slab_mem_used(), 288);
    assert_int_equal(slab_mem_limit(), 288);
    for (int i = 0; i < 3; i++)
        slab_free(p[i], 1, sh);
}

static void test_allocation_past_the_budget_is_refused(void **state)
{
    (void)state;
    void *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = slab_alloc(1, &sh);
    assert_null(slab_alloc(1, &sh));
    assert_null(slab_alloc(2, &sh));
    for (int i = 0; i < 3; i++)
        slab_free(p[i], 1, sh);
}

static void test_refused_allocation_leaves_the_counters_unchanged(void **state)
{
    (void)state;
    void *p = slab_alloc(2, &sh);      /* 128 of 288 */
    void *q = slab_alloc(2, &sh);      /* 256 of 288 */
    assert_null(slab_alloc(2, &sh));
    struct slab_class_stats st;
    slab_class_stats(2, &st);
    assert_int_equal(st.used_chunks, 2);
    assert_int_equal(slab_mem_used(), 256);
    slab_free(p, 2, sh);
    slab_free(q, 2, sh);
}

static void test_freeing_a_chunk_makes_room_again(void **state)
{
    (void)state;
    void *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = slab_alloc(1, &sh);
    slab_free(p[1], 1, sh);
    assert_int_equal(slab_mem_used(), 192);
    assert_non_null(p[1] = slab_alloc(1, &sh));
    for (int i = 0; i < 3; i++)
        slab_free(p[i], 1, sh);
    assert_int_equal(slab_mem_used(), 0);
}

static void test_budget_counts_the_chunk_not_the_request(void **state)
{
    (void)state;
    void *p = slab_alloc(slab_class_for(97), &sh);
    assert_int_equal(slab_mem_used(), 128);
    slab_free(p, 2, sh);
    assert_int_equal(slab_mem_used(), 0);
}

static void test_alloc_over_ignores_the_budget(void **state)
{
    (void)state;
    void *p[4];
    for (int i = 0; i < 3; i++)
        p[i] = slab_alloc(1, &sh);
    assert_non_null(p[3] = slab_alloc_over(1, &sh));
    assert_int_equal(slab_mem_used(), 384);
    assert_null(slab_alloc(1, &sh));
    for (int i = 0; i < 4; i++)
        slab_free(p[i], 1, sh);
}

static void test_new_limit_applies_to_the_next_allocations(void **state)
{
    (void)state;
    void *p = slab_alloc(1, &sh);
    slab_set_limit(100);
    assert_int_equal(slab_mem_limit(), 100);
    assert_null(slab_alloc(1, &sh));
    slab_set_limit(1000);
    void *q = slab_alloc(1, &sh);
    assert_non_null(q);
    slab_free(p, 1, sh);
    slab_free(q, 1, sh);
}

static void test_class_stats_count_chunks_in_use(void **state)
{
    (void)state;
    void *a = slab_alloc(3, &sh), *b = slab_alloc(3, &sh), *c = slab_alloc(4, &sh);
    struct slab_class_stats st;
    slab_class_stats(3, &st);
    assert_int_equal(st.chunk_size, 160);
    assert_int_equal(st.used_chunks, 2);
    slab_class_stats(4, &st);
    assert_int_equal(st.used_chunks, 1);
    slab_free(a, 3, sh);
    slab_class_stats(3, &st);
    assert_int_equal(st.used_chunks, 1);
    slab_free(b, 3, sh);
    slab_free(c, 4, sh);
}

static void test_chunks_are_writable_to_their_full_size(void **state)
{
    (void)state;
    unsigned n = slab_nclasses();
    char *p = slab_alloc(n, &sh);
    assert_non_null(p);
    memset(p, 0xab, slab_chunk_size(n));    /* AddressSanitizer checks the bound */
    assert_int_equal((unsigned char)p[slab_chunk_size(n) - 1], 0xab);
    slab_free(p, n, sh);
}

/* What a helper thread did: its allocation, and how it ended. */
struct other {
    void *p;
    uint8_t shard;
    size_t credit;
    bool free_it;
};

static void *other_thread(void *arg)
{
    struct other *o = arg;
    if (o->free_it) {
        slab_free(o->p, 1, o->shard);
    } else {
        o->p = slab_alloc(1, &o->shard);
    }
    o->credit = slab_thread_credit();
    return NULL;
}

static void run_other(struct other *o)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, o), 0);
    pthread_join(t, NULL);
}

static void test_threads_allocate_from_their_own_arenas(void **state)
{
    (void)state;
    assert_int_equal(slab_arena_shards(), 2);
    void *p = slab_alloc(1, &sh);
    struct other o = { 0 };
    run_other(&o);
    assert_non_null(o.p);
    assert_int_not_equal(o.shard, sh);
    assert_int_not_equal(slab_arena_of(1, o.shard), slab_arena_of(1, sh));
#ifndef MCD_SANITIZE
    unsigned arena;
    size_t len = sizeof(arena);
    assert_int_equal(mallctl("arenas.lookup", &arena, &len, &o.p, sizeof(o.p)), 0);
    assert_int_equal(arena, slab_arena_of(1, o.shard));
#endif
    /* Freed here, into the other thread's arena: both counted once. */
    struct slab_class_stats st;
    slab_class_stats(1, &st);
    assert_int_equal(st.used_chunks, 2);
    slab_free(o.p, 1, o.shard);
    slab_free(p, 1, sh);
    assert_int_equal(slab_mem_used(), 0);
}

static void test_a_thread_reserves_budget_in_batches(void **state)
{
    (void)state;
    void *p = slab_alloc(1, &sh);
    assert_int_equal(slab_thread_credit(), SLAB_CREDIT);
    slab_free(p, 1, sh);
    assert_int_equal(slab_thread_credit(), SLAB_CREDIT + 96);
    /* Frees from elsewhere pile up as credit only up to twice the batch. */
    void *q[3000];
    for (int i = 0; i < 3000; i++)
        assert_non_null(q[i] = slab_alloc(1, &sh));
    for (int i = 0; i < 3000; i++) {
        slab_free(q[i], 1, sh);
        assert_true(slab_thread_credit() <= 2 * SLAB_CREDIT);
    }
    assert_int_equal(slab_mem_used(), 0);
}

/* Another thread's credit is the only slack: the full cache refuses at most
 * 2 * SLAB_CREDIT early, never hands out more than the limit, and the credit
 * returns when that thread exits. */
static void test_credit_held_elsewhere_bounds_the_budget(void **state)
{
    (void)state;
    struct other o = { 0 };
    run_other(&o);                     /* allocates one chunk and exits */
    assert_true(o.credit <= 2 * SLAB_CREDIT);
    enum { MAX = MB / 96 + 1 };
    static void *p[MAX];
    int n = 0;
    while (n < MAX && (p[n] = slab_alloc(1, &sh)) != NULL)
        n++;
    size_t used = slab_mem_used();
    /* Its credit came back at exit, so only its one chunk is not ours. */
    assert_true(used <= MB);
    assert_true(used + 96 > MB);
    o.free_it = true;
    run_other(&o);                     /* frees its chunk, keeps the credit, exits */
    assert_non_null(p[n] = slab_alloc(1, &sh));
    n++;
    for (int i = 0; i < n; i++)
        slab_free(p[i], 1, sh);
    assert_int_equal(slab_mem_used(), 0);
}

static void *hold_credit(void *arg)
{
    struct other *o = arg;
    o->p = slab_alloc(1, &o->shard);
    o->credit = slab_thread_credit();
    /* Stay alive holding the credit until told to free. */
    while (!__atomic_load_n(&o->free_it, __ATOMIC_ACQUIRE))
        sched_yield();
    slab_free(o->p, 1, o->shard);
    return NULL;
}

static void test_live_threads_credit_refuses_at_most_its_bound_early(void **state)
{
    (void)state;
    struct other o = { 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_credit, &o), 0);
    while (__atomic_load_n(&o.credit, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    enum { MAX = MB / 96 + 1 };
    static void *p[MAX];
    int n = 0;
    while (n < MAX && (p[n] = slab_alloc(1, &sh)) != NULL)
        n++;
    size_t used = slab_mem_used();
    assert_true(used <= MB);
    assert_true(used + 96 + 2 * SLAB_CREDIT > MB);
    __atomic_store_n(&o.free_it, true, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    for (int i = 0; i < n; i++)
        slab_free(p[i], 1, sh);
    assert_int_equal(slab_mem_used(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_class_is_header_plus_min_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_class_rounds_up_to_a_jemalloc_size, setup_n50, teardown),
        cmocka_unit_test_setup_teardown(test_classes_grow_by_the_factor_on_jemalloc_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_factor_two_doubles_each_class, setup_f2, teardown),
        cmocka_unit_test_setup_teardown(test_classes_rounding_to_one_size_are_merged, setup_f105, teardown),
        cmocka_unit_test_setup_teardown(test_every_class_is_a_real_jemalloc_size, setup_f105, teardown),
        cmocka_unit_test_setup_teardown(test_classes_are_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_largest_class_holds_item_size_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_item_size_max_off_a_jemalloc_size_is_still_the_limit, setup_f2, teardown),
        cmocka_unit_test_setup_teardown(test_class_for_picks_the_smallest_class_that_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_exactly_filling_the_budget_succeeds, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_allocation_past_the_budget_is_refused, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_refused_allocation_leaves_the_counters_unchanged, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_freeing_a_chunk_makes_room_again, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_budget_counts_the_chunk_not_the_request, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_over_ignores_the_budget, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_new_limit_applies_to_the_next_allocations, setup_tiny, teardown),
        cmocka_unit_test_setup_teardown(test_class_stats_count_chunks_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks_are_writable_to_their_full_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_allocate_from_their_own_arenas, setup_two_shards, teardown),
        cmocka_unit_test_setup_teardown(test_a_thread_reserves_budget_in_batches, setup_two_shards, teardown),
        cmocka_unit_test_setup_teardown(test_credit_held_elsewhere_bounds_the_budget, setup_two_shards, teardown),
        cmocka_unit_test_setup_teardown(test_live_threads_credit_refuses_at_most_its_bound_early, setup_two_shards, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
