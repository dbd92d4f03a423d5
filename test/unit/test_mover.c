/* Unit tests of storage/mover.c: moving slab pages between classes (items
 * rescued or evicted, readers kept safe), the automove decisions, and
 * `slabs reassign`'s answers.  No mover thread runs: the tests call
 * mover_move and mover_tick themselves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "cache.h"
#include "cache_priv.h"
#include "slab.h"

#include "cache_fixture.h"

static int setup_pages(size_t pages, bool reassign)
{
    struct cache_options o = base;
    o.maxbytes = pages * MB + MB / 2;     /* -m counts the table and queues too */
    o.slab_reassign = reassign;
    o.slab_automove = 1;
    o.slab_automove_ratio = 0.8;
    o.slab_automove_window = 3;
    return cache_setup(&o);
}

static int setup2(void **state) { (void)state; return setup_pages(2, true); }
static int setup3(void **state) { (void)state; return setup_pages(3, true); }
static int setup_off(void **state) { (void)state; return setup_pages(2, false); }

static const char *key(const char *prefix, int i)
{
    static char buf[4][32];
    static int which;
    which = (which + 1) % 4;
    snprintf(buf[which], sizeof(buf[which]), "%s%05d", prefix, i);
    return buf[which];
}

/* Class A: 6-byte keys, 10-byte values; class B: 6-byte keys, 1000-byte values. */
static unsigned class_a(void) { return slab_class_for(item_total(6, 0, 10)); }
static unsigned class_b(void) { return slab_class_for(item_total(6, 0, 1000)); }
static int cap_a(void) { return (int)slab_perpage(class_a()); }

static char big[1001];

static void fill_a(int from, int n, rel_time_t now)
{
    for (int i = from; i < from + n; i++)
        assert_int_equal(put_full(key("a", i), "0123456789", CACHE_SET, 0, 0, 0, now),
                         CACHE_STORED);
}

static uint64_t cas_of(const char *k)
{
    struct cache_fetch f;
    assert_true(cache_peek(k, strlen(k), NOW, &f));
    return f.cas;
}

static struct cache_stats stats(void)
{
    struct cache_stats st;
    cache_stats(&st);
    return st;
}

static void test_a_moved_page_rescues_its_items_into_free_chunks(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, cap + 100, NOW);                  /* page 0 full, page 1 begun */
    for (int i = 0; i < cap / 2; i++)
        assert_int_equal(cache_delete(key("a", i * 2), 6, NOW, NULL), CACHE_DELETED);
    uint64_t cas = cas_of(key("a", 1));
    assert_int_equal(slab_class_npages(class_a()), 2);
    assert_true(mover_move(class_a(), class_b(), NOW, 100));
    assert_int_equal(slab_class_npages(class_a()), 1);
    assert_int_equal(slab_class_npages(class_b()), 1);
    struct cache_stats st = stats();
    assert_int_equal(st.slabs_moved, 1);
    assert_true(st.slab_reassign_rescues > 0);
    assert_int_equal(st.slab_reassign_evictions_nomem, 0);
    for (int i = 0; i < cap + 100; i++) {
        if (i < cap && i % 2 == 0)
            continue;
        assert_string_equal(value(key("a", i)), "0123456789");
    }
    assert_int_equal(cas_of(key("a", 1)), cas);  /* a rescue keeps the unique */
    memset(big, 'b', 1000);
    assert_int_equal(put("b00000", big, CACHE_SET, 0), CACHE_STORED);
}

static void test_a_moved_page_with_no_room_elsewhere_evicts(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 2 * cap, NOW);                    /* both pages of the budget */
    assert_true(mover_move(class_a(), class_b(), NOW, 100));
    struct cache_stats st = stats();
    assert_true(st.slab_reassign_evictions_nomem > (uint64_t)cap - 64);
    assert_true(st.curr_items < (uint64_t)cap + 64);
    memset(big, 'b', 1000);
    assert_int_equal(put("b00000", big, CACHE_SET, 0), CACHE_STORED);
}

/* A page that leaves its class leaves no pointer behind in the small
 * queue or a pending buffer: eviction would otherwise pin a "chunk" inside
 * another class's item, or in memory given back (a TSan run found it). */
static void test_a_moved_page_leaves_no_pointer_in_the_small_queue(void **state)
{
    (void)state;
    int cap = cap_a();
    int total = 2 * cap + 3000;
    fill_a(0, total, NOW);                      /* evicting: new keys queue up */
    assert_true(stats().evictions > 0);
    struct slab_page *pages[2];
    for (uint32_t i = 0; i < 2; i++) {
        uint32_t n;
        pages[i] = slab_page_pin(class_a(), i, &n);
        assert_non_null(pages[i]);
        slab_page_unpin(pages[i]);
    }
    /* pages[1] is the one the queue points into. */
    if (evict_pointers_into(class_a(), pages[1]) == 0) {
        struct slab_page *t = pages[0];
        pages[0] = pages[1];
        pages[1] = t;
    }
    assert_true(evict_pointers_into(class_a(), pages[1]) > 0);
    /* It keeps 30% of its items, the other has room for them: it is the
     * one to move, and the move rescues without evicting, so the queue is
     * not emptied on the way. */
    for (int i = 0; i < total; i++) {
        enum cache_miss why;
        struct item *it = get_ref(key("a", i), 6, NOW, &why);
        if (it == NULL)
            continue;
        struct slab_page *p = slab_page_of(it);
        item_unref(it);
        if (i % 10 < (p == pages[1] ? 7 : 4))
            assert_int_equal(cache_delete(key("a", i), 6, NOW, NULL), CACHE_DELETED);
    }
    uint64_t evicted = stats().evictions;
    assert_true(mover_move(class_a(), class_b(), NOW, 100));
    assert_int_equal(stats().evictions, evicted);
    uint32_t n;
    struct slab_page *kept = slab_page_pin(class_a(), 0, &n);
    assert_non_null(kept);
    slab_page_unpin(kept);
    assert_ptr_equal(kept, pages[0]);
    assert_int_equal(evict_pointers_into(class_a(), pages[1]), 0);
    /* The class keeps evicting from what it has left, and the other class
     * fills the page that moved. */
    fill_a(10000, cap, NOW);
    memset(big, 'b', 1000);
    for (int i = 0; i < 500; i++)
        assert_int_equal(put(key("b", i), big, CACHE_SET, 0), CACHE_STORED);
    fill_a(20000, cap, NOW);
    assert_string_equal(value(key("a", 20000 + cap - 1)), "0123456789");
}

struct mover_job {
    unsigned src, dst;
    bool moved;
};

static void *move_in_thread(void *arg)
{
    struct mover_job *j = arg;
    j->moved = mover_move(j->src, j->dst, NOW, 5000);
    return NULL;
}

/* A reader holding an item of the page keeps reading the right bytes; the
 * page changes class only once it lets go. */
static void test_a_reader_keeps_its_item_while_the_page_moves(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 2 * cap, NOW);
    enum cache_miss why;
    struct item *held[8];
    for (int i = 0; i < 8; i++)
        held[i] = get(key("a", i), NOW, &why);
    struct mover_job job = { .src = class_a(), .dst = class_b() };
    pthread_t t;
    pthread_create(&t, NULL, move_in_thread, &job);
    struct timespec ms = { 0, 20 * 1000 * 1000 };
    nanosleep(&ms, NULL);
    assert_int_equal(slab_class_npages(class_b()), 0);  /* still waiting for us */
    for (int i = 0; i < 8; i++) {
        assert_memory_equal(item_value(held[i]), "0123456789", 10);
        assert_memory_equal(item_key(held[i]), key("a", i), 6);
        item_unref(held[i]);
    }
    pthread_join(t, NULL);
    assert_true(job.moved);
    assert_int_equal(slab_class_npages(class_b()), 1);
    assert_true(stats().slab_reassign_busy_deletes >= 1);
}

/* As memcached grants it, a class's first page comes at once even past -m
 * (the first set of a new size is stored, not refused); the mover's next
 * tick takes the class with the oldest items back under -m. */
static void test_a_class_with_no_page_gets_its_first_past_the_limit(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 3 * cap, NOW);                    /* every page */
    unsigned a_pages = slab_class_npages(class_a());
    memset(big, 'b', 1000);
    assert_int_equal(put_full("b00000", big, CACHE_SET, 0, 0, 0, NOW + 50), CACHE_STORED);
    assert_int_equal(slab_class_npages(class_b()), 1);
    assert_true(slab_mem_used() > slab_mem_limit());
    /* A second page is not granted so: the class evicts its own first. */
    int perb = (int)slab_perpage(class_b());
    for (int i = 1; i <= perb; i++)
        assert_int_equal(put_full(key("b", i), big, CACHE_SET, 0, 0, 0, NOW + 50), CACHE_STORED);
    assert_int_equal(slab_class_npages(class_b()), 1);
    assert_true(mover_tick(NOW + 50) >= 1);
    assert_true(slab_mem_used() <= slab_mem_limit());
    assert_int_equal(slab_class_npages(class_a()), a_pages - 1);
    assert_int_equal(slab_class_npages(class_b()), 1);
    assert_memory_equal(value(key("b", perb)), big, 1000);
}

/* Once the window has filled, memory goes to a class whose evictions are
 * much younger than another class's items. */
static void test_automove_feeds_the_class_that_evicts_young(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 3 * cap, NOW);                    /* every page, items no one reads */
    memset(big, 'b', 1000);
    rel_time_t t = NOW + 100;
    /* B's first page comes past -m; the tick takes A back under it. */
    assert_int_equal(put_full("b00000", big, CACHE_SET, 0, 0, 0, t), CACHE_STORED);
    mover_tick(t);
    assert_int_equal(slab_class_npages(class_b()), 1);
    assert_int_equal(slab_class_npages(class_a()), 2);
    int perb = (int)slab_perpage(class_b());
    int n = 0;
    for (int tick = 0; tick < 6; tick++, t++) {
        for (int i = 0; i < 2 * perb; i++, n++)
            assert_int_equal(put_full(key("b", n), big, CACHE_SET, 0, 0, 0, t), CACHE_STORED);
        mover_tick(t);
    }
    assert_int_equal(slab_class_npages(class_b()), 2);
    assert_int_equal(slab_class_npages(class_a()), 1);
}

static void test_a_class_with_spare_pages_gives_one_to_the_pool(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 3 * cap, NOW);
    for (int i = 0; i < 3 * cap; i++)
        if (i % 10 != 0)
            cache_delete(key("a", i), 6, NOW, NULL);
    for (int tick = 0; tick < 4; tick++)
        mover_tick(NOW + 10 + (rel_time_t)tick);
    assert_true(slab_pool_pages() >= 1);
    for (int i = 0; i < 3 * cap; i += 10)
        assert_string_equal(value(key("a", i)), "0123456789");
}

static void test_a_lowered_limit_gives_pages_back(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 3 * cap, NOW);
    size_t besides = slab_mem_used() - 3 * MB;     /* the table and queues */
    assert_true(besides < MB / 2);
    cache_set_memlimit(2 * MB + besides);
    mover_tick(NOW + 1);
    assert_true(slab_mem_used() <= 2 * MB + besides);
    assert_int_equal(slab_class_npages(class_a()), 2);
}

/* Large items need bytes of the budget, which pages hold: a page of the
 * oldest class is emptied and freed for them. */
static void test_a_large_item_gets_room_from_the_pages(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, 3 * cap, NOW);
    static char huge[700 * 1024];
    memset(huge, 'H', sizeof(huge) - 1);
    assert_int_equal(put_full("huge", huge, CACHE_SET, 0, 0, 0, NOW + 5), CACHE_NO_MEMORY);
    mover_tick(NOW + 5);
    assert_int_equal(slab_class_npages(class_a()), 2);
    assert_int_equal(put_full("huge", huge, CACHE_SET, 0, 0, 0, NOW + 5), CACHE_STORED);
    assert_non_null(value("huge"));
}

static void test_slabs_reassign_answers_as_memcached(void **state)
{
    (void)state;
    int cap = cap_a();
    fill_a(0, cap, NOW);
    int a = (int)class_a(), b = (int)class_b(), n = (int)cache_nclasses();
    assert_int_equal(cache_slabs_reassign(a, a), CACHE_REASSIGN_SAME);
    assert_int_equal(cache_slabs_reassign(a, n + 1), CACHE_REASSIGN_BADCLASS);
    assert_int_equal(cache_slabs_reassign(-2, b), CACHE_REASSIGN_BADCLASS);
    assert_int_equal(cache_slabs_reassign(a, b), CACHE_REASSIGN_NOSPARE);   /* one page */
    fill_a(cap, cap, NOW);
    assert_int_equal(cache_slabs_reassign(a, b), CACHE_REASSIGN_OK);
    assert_int_equal(slab_class_npages((unsigned)b), 1);
    assert_int_equal(cache_slabs_reassign(0, b), CACHE_REASSIGN_NOSPARE);   /* empty pool */
}

static void test_slabs_reassign_is_refused_when_disabled(void **state)
{
    (void)state;
    assert_int_equal(cache_slabs_reassign(1, 2), CACHE_REASSIGN_DISABLED);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup2, teardown)
#define T3(name) cmocka_unit_test_setup_teardown(name, setup3, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_a_moved_page_rescues_its_items_into_free_chunks),
        T(test_a_moved_page_with_no_room_elsewhere_evicts),
        T(test_a_moved_page_leaves_no_pointer_in_the_small_queue),
        T(test_a_reader_keeps_its_item_while_the_page_moves),
        T(test_a_class_with_no_page_gets_its_first_past_the_limit),
        T3(test_automove_feeds_the_class_that_evicts_young),
        T3(test_a_class_with_spare_pages_gives_one_to_the_pool),
        T3(test_a_lowered_limit_gives_pages_back),
        T3(test_a_large_item_gets_room_from_the_pages),
        T3(test_slabs_reassign_answers_as_memcached),
        cmocka_unit_test_setup_teardown(test_slabs_reassign_is_refused_when_disabled, setup_off,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
