/* Unit tests of storage/crawler.c and the walks of storage/cache_admin.c:
 * expired and flushed items reclaimed in the background, the crawler's
 * limits and answers, and resumable walks over the live items. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "cache.h"
#include "cache_priv.h"
#include "slab.h"

#include "cache_fixture.h"

static _Atomic rel_time_t fake_now = NOW;
static rel_time_t fake_clock(void) { return atomic_load(&fake_now); }

static int setup_crawler(bool enabled, bool thread, uint32_t tocrawl)
{
    atomic_store(&fake_now, NOW);
    struct cache_options o = base;
    o.lru_crawler = enabled;
    o.lru_crawler_tocrawl = tocrawl;
    o.clock = thread ? fake_clock : NULL;
    return cache_setup(&o);
}

static int setup_plain(void **state) { (void)state; return setup_crawler(true, false, 0); }
static int setup_thread(void **state) { (void)state; return setup_crawler(true, true, 0); }
static int setup_off(void **state) { (void)state; return setup_crawler(false, false, 0); }
static int setup_tocrawl(void **state) { (void)state; return setup_crawler(true, false, 10); }

static const char *key(const char *prefix, int i)
{
    static char buf[4][32];
    static int which;
    which = (which + 1) % 4;
    snprintf(buf[which], sizeof(buf[which]), "%s%05d", prefix, i);
    return buf[which];
}

static unsigned cls_of_small(void) { return slab_class_for(item_total(6, 0, 1)); }

static struct cache_class_set all_classes(void)
{
    struct cache_class_set set = { { 0 } };
    for (unsigned c = 1; c <= cache_nclasses(); c++)
        cache_class_set_add(&set, c);
    return set;
}

static uint64_t curr_items(void)
{
    struct cache_stats st;
    cache_stats(&st);
    return st.curr_items;
}

static void test_a_crawl_reclaims_expired_items_and_keeps_the_rest(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++)
        put_full(key("e", i), "x", CACHE_SET, 0, 0, NOW + 5, NOW);
    for (int i = 0; i < 50; i++)
        put_full(key("l", i), "x", CACHE_SET, 0, 0, 0, NOW);
    struct cache_class_set set = all_classes();
    assert_int_equal(crawler_run(&set, NOW + 4), 0);
    assert_int_equal(curr_items(), 150);
    assert_int_equal(crawler_run(&set, NOW + 5), 100);
    assert_int_equal(curr_items(), 50);     /* gone without anyone asking for them */
    struct cache_class_stats cs;
    cache_class_stats(cls_of_small(), NOW + 5, &cs);
    assert_int_equal(cs.crawler_reclaimed, 100);
    assert_int_equal(cs.crawler_items_checked, 300);
    struct cache_stats st;
    cache_stats(&st);
    assert_int_equal(st.lru_crawler_starts, 2);
    assert_int_equal(st.malloced, 50 * slab_chunk_size(cls_of_small()));
}

static void test_a_crawl_reclaims_items_a_delayed_flush_hid(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++)
        put_full(key("f", i), "x", CACHE_SET, 0, 0, 0, NOW);
    cache_flush(NOW + 10, NOW);
    struct cache_class_set set = all_classes();
    assert_int_equal(crawler_run(&set, NOW + 9), 0);
    assert_int_equal(crawler_run(&set, NOW + 10), 20);
    assert_int_equal(curr_items(), 0);
}

/* Large items live outside the slab pages; "crawl all" reaches them too. */
static void test_a_crawl_reclaims_expired_large_items(void **state)
{
    (void)state;
    static char big[600000];    /* past the fixture's largest chunk */
    memset(big, 'b', sizeof(big) - 1);
    for (int i = 0; i < 60; i++)
        assert_int_equal(put_full(key("L", i), big, CACHE_SET, 0, 0, i % 3 ? NOW + 5 : 0, NOW),
                         CACHE_STORED);
    struct cache_class_stats cs;
    cache_class_stats(cache_nclasses(), NOW, &cs);
    assert_int_equal(cs.used_chunks, 60);
    struct cache_class_set set = all_classes();
    assert_int_equal(cache_crawl(&set), CACHE_CRAWL_NOTSTARTED);    /* no thread here */
    assert_int_equal(crawler_run(&set, NOW + 5), 40);
    assert_int_equal(curr_items(), 20);
    cache_class_stats(cache_nclasses(), NOW + 5, &cs);
    assert_int_equal(cs.crawler_reclaimed, 40);
    for (int i = 0; i < 60; i++) {
        enum cache_miss why;
        struct item *it = get_ref(key("L", i), 6, NOW + 5, &why);
        assert_true((it != NULL) == (i % 3 == 0));
        if (it != NULL)
            item_unref(it);
    }
}

static void test_tocrawl_bounds_the_items_looked_at_per_class(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++)
        put_full(key("e", i), "x", CACHE_SET, 0, 0, NOW + 1, NOW);
    struct cache_class_set set = all_classes();
    assert_int_equal(crawler_run(&set, NOW + 1), 10);
    assert_int_equal(curr_items(), 90);
}

static void test_crawl_requests_answer_as_memcached(void **state)
{
    (void)state;
    struct cache_class_set none = { { 0 } }, bad = { { 0 } }, one = { { 0 } };
    cache_class_set_add(&bad, cache_nclasses() + 1);
    cache_class_set_add(&one, cls_of_small());
    assert_int_equal(cache_crawl(&bad), CACHE_CRAWL_BADCLASS);
    assert_int_equal(cache_crawl(&none), CACHE_CRAWL_NOTSTARTED);
    for (int i = 0; i < 30; i++)
        put_full(key("e", i), "x", CACHE_SET, 0, 0, NOW + 1, NOW);
    atomic_store(&fake_now, NOW + 2);
    assert_int_equal(cache_crawl(&one), CACHE_CRAWL_OK);
    for (int w = 0; w < 500 && curr_items() != 0; w++) {
        struct timespec ms = { 0, 10 * 1000 * 1000 };
        nanosleep(&ms, NULL);
    }
    assert_int_equal(curr_items(), 0);
}

static void test_a_disabled_crawler_refuses_crawls(void **state)
{
    (void)state;
    struct cache_class_set one = { { 0 } };
    cache_class_set_add(&one, 1);
    assert_int_equal(cache_crawl(&one), CACHE_CRAWL_DISABLED);
    assert_int_equal(cache_crawler_enable(true), 0);
    struct cache_settings s;
    cache_settings(&s);
    assert_true(s.lru_crawler);
}

struct seen {
    int n;
    char keys[400][16];
};

static void collect(const struct cache_item_info *info, void *arg)
{
    struct seen *s = arg;
    assert_true(s->n < 400);
    memcpy(s->keys[s->n], info->key, info->nkey);
    s->keys[s->n][info->nkey] = '\0';
    s->n++;
}

/* A walk shows each live item once, however it is split into calls. */
static void test_a_walk_resumes_where_it_stopped_and_skips_dead_items(void **state)
{
    (void)state;
    static char big[700 * 1024];
    memset(big, 'L', sizeof(big) - 1);
    for (int i = 0; i < 300; i++)
        put_full(key("w", i), "x", CACHE_SET, 0, 0, i % 3 == 0 ? NOW + 1 : 0, NOW);
    assert_int_equal(put("large", big, CACHE_SET, 0), CACHE_STORED);
    struct cache_class_set set = all_classes();
    struct cache_walk w;
    cache_walk_start(&w, &set);
    static struct seen s;
    memset(&s, 0, sizeof(s));
    while (!w.done)
        assert_true(cache_walk_next(&w, NOW + 1, 7, collect, &s) <= 7);
    assert_int_equal(s.n, 201);
    int large = 0;
    for (int i = 0; i < s.n; i++) {
        large += strcmp(s.keys[i], "large") == 0;
        for (int k = 0; k < i; k++)
            assert_string_not_equal(s.keys[i], s.keys[k]);
    }
    assert_int_equal(large, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_crawl_reclaims_expired_items_and_keeps_the_rest,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_a_crawl_reclaims_items_a_delayed_flush_hid,
                                        setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_a_crawl_reclaims_expired_large_items, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tocrawl_bounds_the_items_looked_at_per_class,
                                        setup_tocrawl, teardown),
        cmocka_unit_test_setup_teardown(test_crawl_requests_answer_as_memcached, setup_thread,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_disabled_crawler_refuses_crawls, setup_off,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_walk_resumes_where_it_stopped_and_skips_dead_items, setup_plain, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
