/* Unit tests of storage/slab.c: size classes (8-byte steps, then -f), the
 * class lookup, carving 1 MB pages, per-thread magazines, the -m budget in
 * pages, large items, and the mover's primitives (draining a page). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "slab.h"

#define MB (1024 * 1024)
#define HDR 22          /* item header with CAS */

static struct slab_options opt;

static int setup_with(size_t maxbytes, double factor, size_t min_chunk)
{
    opt = (struct slab_options){
        .maxbytes = maxbytes, .factor = factor, .min_chunk = min_chunk,
        .item_size_max = 2 * MB, .header = HDR,
    };
    slab_budget_reset();
    return slab_setup(&opt);
}

static int setup(void **state) { (void)state; return setup_with(64 * MB, 1.08, 10); }
static int setup_f125(void **state) { (void)state; return setup_with(64 * MB, 1.25, 48); }
static int setup_2pages(void **state) { (void)state; return setup_with(2 * MB, 1.08, 10); }

static int teardown(void **state)
{
    (void)state;
    slab_teardown();
    return 0;
}

/* Give an allocated chunk back, as item_unref does when its count ends. */
static void release(void *p)
{
    struct item *it = p;
    it->size_hi = 0;
    atomic_store(&it->refcount, 0);
    slab_free(p);
}

static void test_classes_step_by_8_bytes_then_by_the_factor(void **state)
{
    (void)state;
    assert_int_equal(slab_chunk_size(1), 32);           /* round8(22 + 10) */
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        size_t sz = slab_chunk_size(c);
        assert_int_equal(sz % 8, 0);
        if (c == 1)
            continue;
        size_t prev = slab_chunk_size(c - 1);
        assert_true(sz > prev);
        if (prev * 8 / 100 <= 8 && c < slab_nclasses())
            assert_int_equal(sz, prev + 8);
        else if (c < slab_nclasses())
            assert_true(sz <= (size_t)(prev * 1.08) + 8);
    }
    /* 1.08 cannot climb to half a page in 62 steps: the ladder stops there,
     * its top is the largest chunk, and the large class is id 63 like
     * memcached's largest. */
    assert_int_equal(slab_nclasses(), SLAB_MAX_CLASSES);
    assert_int_equal(slab_large_class(), 63);
    assert_true(slab_chunk_size(slab_nclasses()) > 4096);
    assert_int_equal(slab_class_for(slab_chunk_size(slab_nclasses()) + 1), slab_large_class());
}

static void test_a_coarse_factor_ends_at_half_a_page(void **state)
{
    (void)state;
    assert_true(slab_nclasses() < SLAB_MAX_CLASSES);
    assert_int_equal(slab_chunk_size(slab_nclasses()), (MB - SLAB_PAGE_HEADER) / 2 / 8 * 8);
    assert_int_equal(slab_class_for((MB - SLAB_PAGE_HEADER) / 2 / 8 * 8), slab_nclasses());
}

static void test_memcacheds_factor_gives_memcacheds_progression(void **state)
{
    (void)state;
    assert_int_equal(slab_chunk_size(1), 72);           /* round8(22 + 48) */
    assert_int_equal(slab_chunk_size(2), 96);           /* 72 * 1.25 = 90, rounded up */
    assert_int_equal(slab_chunk_size(3), 120);
}

/* The point of fine classes: what rounding up to a chunk loses. */
static void test_rounding_loses_under_five_percent_on_average(void **state)
{
    (void)state;
    double lost = 0;
    unsigned n = 0;
    size_t max = slab_chunk_size(slab_nclasses());
    for (size_t size = 40; size <= max; size += 7, n++) {
        size_t chunk = slab_chunk_size(slab_class_for(size));
        assert_true(chunk >= size);
        lost += (double)(chunk - size) / (double)chunk;
    }
    assert_true(lost / n < 0.05);
}

static void test_class_for_is_the_smallest_class_that_fits(void **state)
{
    (void)state;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        size_t sz = slab_chunk_size(c);
        assert_int_equal(slab_class_for(sz), c);
        if (c > 1)
            assert_int_equal(slab_class_for(slab_chunk_size(c - 1) + 1), c);
    }
    size_t max = slab_chunk_size(slab_nclasses());
    assert_int_equal(slab_class_for(max + 1), slab_large_class());
    assert_int_equal(slab_class_for(2 * MB), slab_large_class());
    assert_int_equal(slab_class_for(2 * MB + 1), 0);
}

static void test_chunks_are_carved_from_a_page_of_their_class(void **state)
{
    (void)state;
    unsigned cls = slab_class_for(100);
    void *a = slab_alloc(cls), *b = slab_alloc(cls);
    assert_non_null(a);
    assert_non_null(b);
    struct slab_page *p = slab_page_of(a);
    assert_ptr_equal(slab_page_of(b), p);
    assert_int_equal(p->cls, cls);
    assert_int_equal(item_class(a), cls);
    size_t off = (size_t)((char *)a - (char *)p) - SLAB_PAGE_HEADER;
    assert_int_equal(off % slab_chunk_size(cls), 0);
    assert_int_equal(atomic_load(&((struct item *)a)->refcount), 1);
    assert_int_equal(slab_mem_used(), SLAB_PAGE_SIZE);
    assert_int_equal(slab_class_npages(cls), 1);
    release(a);
    release(b);
}

static void test_a_freed_chunk_is_the_next_one_allocated(void **state)
{
    (void)state;
    unsigned cls = slab_class_for(200);
    void *a = slab_alloc(cls);
    release(a);
    /* In the magazine, reserved for this thread: still counted as taken. */
    assert_int_equal(atomic_load(&((struct item *)a)->refcount), 1);
    assert_ptr_equal(slab_alloc(cls), a);
    release(a);
}

static void test_a_full_magazine_gives_half_back_to_its_class(void **state)
{
    (void)state;
    unsigned cls = slab_class_for(64);
    void *p[SLAB_MAG_SIZE + 1];
    for (int i = 0; i <= SLAB_MAG_SIZE; i++)
        p[i] = slab_alloc(cls);
    for (int i = 0; i <= SLAB_MAG_SIZE; i++)
        release(p[i]);
    struct slab_class_stats st;
    slab_class_stats(cls, &st);
    assert_int_equal(st.free_listed, SLAB_MAG_SIZE / 2);
    assert_int_equal(st.used, 0);
    /* Those on the list read 0; those in the magazine stay reserved. */
    struct slab_page *pg = slab_page_of(p[0]);
    unsigned on_list = 0;
    for (uint32_t i = 0; i < pg->nchunks; i++)
        on_list += atomic_load(&((struct item *)slab_chunk_at(cls, pg, i))->refcount) == 0;
    assert_int_equal(on_list, SLAB_MAG_SIZE / 2);
}

static void test_the_budget_counts_whole_pages(void **state)
{
    (void)state;
    unsigned a = slab_class_for(100), b = slab_class_for(1000), c = slab_class_for(5000);
    assert_non_null(slab_alloc(a));
    assert_non_null(slab_alloc(b));
    assert_int_equal(slab_mem_used(), 2 * SLAB_PAGE_SIZE);
    assert_false(slab_page_available());
    /* A class's first page may go past the budget (by a page at this -m),
     * as memcached grants it; no second page does, and no other first. */
    assert_non_null(slab_alloc(c));
    assert_int_equal(slab_mem_used(), 3 * SLAB_PAGE_SIZE);
    uint32_t per_c = slab_perpage(c);
    for (uint32_t i = 1; i < per_c; i++)
        assert_non_null(slab_alloc(c));
    assert_null(slab_alloc(c));
    assert_null(slab_alloc(slab_class_for(3000)));
    /* Class a still has its page's chunks, and no more. */
    uint32_t per = slab_perpage(a);
    for (uint32_t i = 1; i < per; i++)
        assert_non_null(slab_alloc(a));
    assert_null(slab_alloc(a));
    assert_int_equal(slab_mem_used(), 3 * SLAB_PAGE_SIZE);
}

static void test_large_items_count_their_bytes(void **state)
{
    (void)state;
    struct item *it = slab_alloc_large(600 * 1024, 600 * 1024 - 40);
    assert_non_null(it);
    it->size_hi = (uint8_t)(ITEM_L_LARGE >> 16);
    assert_int_equal(item_vlen(it), 600 * 1024 - 40);
    assert_int_equal(item_class(it), slab_large_class());
    size_t used = slab_mem_used();
    assert_true(used >= 600 * 1024 + sizeof(struct item_large));
    assert_null(slab_alloc_large(2 * MB - 600 * 1024, 10));    /* over the budget */
    atomic_store(&it->refcount, 0);
    slab_free_large(it);
    assert_int_equal(slab_mem_used(), 0);
}

/* The mover's way: drain a page, wait for its last chunk, give it away. */
static void test_a_draining_page_leaves_once_its_last_chunk_is_free(void **state)
{
    (void)state;
    unsigned a = slab_class_for(100), b = slab_class_for(1000);
    void *held = slab_alloc(a);
    void *spare = slab_alloc(a);
    release(spare);                     /* in this thread's magazine */
    assert_non_null(slab_alloc(b));
    struct slab_page *p = slab_drain_begin(a, 0);
    assert_ptr_equal(p, slab_page_of(held));
    assert_false(slab_drain_empty(a, p));
    /* The spare chunk left the magazine: a new allocation cannot get it. */
    void *again = slab_alloc_nogrow(a);
    assert_null(again);
    release(held);                      /* dropped, not cached: the page drains */
    assert_int_equal(atomic_load(&((struct item *)held)->refcount), 0);
    assert_true(slab_drain_empty(a, p));
    assert_true(slab_drain_finish(a, p, 0));
    assert_int_equal(slab_class_npages(a), 0);
    assert_int_equal(slab_pool_pages(), 1);
    /* Class c had no room; the pool page is now free for it. */
    unsigned c = slab_class_for(5000);
    void *x = slab_alloc(c);
    assert_non_null(x);
    assert_ptr_equal(slab_page_of(x), p);
    assert_int_equal(item_class(x), c);
    assert_int_equal(slab_pool_pages(), 0);
}

static void test_an_abandoned_drain_gives_the_free_chunks_back(void **state)
{
    (void)state;
    unsigned a = slab_class_for(100);
    void *held = slab_alloc(a), *other = slab_alloc(a);
    release(other);
    struct slab_page *p = slab_drain_begin(a, 0);
    slab_drain_abandon(a, p);
    assert_int_equal(p->state, SLAB_PAGE_ACTIVE);
    void *x = slab_alloc_nogrow(a);
    assert_ptr_equal(slab_page_of(x), p);
    release(x);
    release(held);
}

static void test_lowering_the_limit_frees_pool_pages(void **state)
{
    (void)state;
    unsigned a = slab_class_for(100), b = slab_class_for(1000);
    void *x = slab_alloc(a);
    void *y = slab_alloc(b);
    release(y);
    struct slab_page *p = slab_drain_begin(b, 0);
    assert_true(slab_drain_empty(b, p));
    assert_true(slab_drain_finish(b, p, 0));
    assert_int_equal(slab_mem_used(), 2 * SLAB_PAGE_SIZE);
    slab_set_limit(SLAB_PAGE_SIZE);
    assert_int_equal(slab_pool_pages(), 0);
    assert_int_equal(slab_mem_used(), SLAB_PAGE_SIZE);
    release(x);
}

static void *alloc_then_exit(void *arg)
{
    unsigned cls = *(unsigned *)arg;
    void *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = slab_alloc(cls);
    for (int i = 0; i < 4; i++)
        release(p[i]);
    return p[7];
}

/* A thread's counts and spare chunks outlive it. */
static void test_a_threads_counts_and_magazine_survive_its_exit(void **state)
{
    (void)state;
    unsigned cls = slab_class_for(300);
    pthread_t t;
    pthread_create(&t, NULL, alloc_then_exit, &cls);
    void *last;
    pthread_join(t, &last);
    struct slab_class_stats st;
    slab_class_stats(cls, &st);
    assert_int_equal(st.used, 4);
    assert_true(st.free_listed >= 4);
    assert_non_null(last);
}

/* --- pages from a file (warm restart on tmpfs) --- */

/* A 1 MB aligned shared mapping of `pages` pages of a new memfd. */
static char *map_file(int *fd, size_t pages)
{
    *fd = memfd_create("test_slab", MFD_CLOEXEC);
    assert_true(*fd >= 0);
    assert_int_equal(ftruncate(*fd, (off_t)(pages * MB)), 0);
    char *r = mmap(NULL, (pages + 1) * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(r != MAP_FAILED);
    char *base = (char *)(((uintptr_t)r + MB - 1) & ~(uintptr_t)(MB - 1));
    assert_true(mmap(base, pages * MB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, *fd, 0)
                == base);
    return base;
}

static bool keep_marked(struct item *it, unsigned cls, void *arg)
{
    (void)cls;
    (*(unsigned *)arg)++;
    return it->nkey == 7;
}

static void test_pages_from_a_file_are_adopted_by_a_later_setup(void **state)
{
    (void)state;
    int fd;
    char *base = map_file(&fd, 4);
    assert_int_equal(slab_map_setup(base, 4, fd, 0, 0), 0);
    unsigned cls = slab_class_for(HDR + 40);
    void *p[10];
    for (int i = 0; i < 10; i++) {
        p[i] = slab_alloc(cls);
        assert_non_null(p[i]);
        assert_true(slab_map_holds(slab_page_of(p[i])));
        ((struct item *)p[i])->nkey = i % 2 ? 7 : 3;    /* odd ones to keep */
    }
    size_t page = slab_map_index(slab_page_of(p[0]));
    assert_int_equal(slab_map_extent(), 1);
    /* A stop: the file keeps what the pages hold.  Then a new start. */
    slab_map_keep();
    slab_teardown();
    assert_int_equal(setup_with(64 * MB, 1.08, 10), 0);
    assert_int_equal(slab_map_setup(base, 4, fd, 0, 1), 0);
    unsigned asked = 0;
    static uint64_t bits[SLAB_ADOPT_BITS_WORDS];
    int kept = slab_adopt(cls, page, 20, keep_marked, &asked, bits);
    assert_int_equal(kept, 5);
    assert_int_equal(asked, 20);            /* only the carved chunks are asked about */
    /* The bitmap names exactly the kept chunks. */
    unsigned marked = 0;
    for (uint32_t i = 0; i < 20; i++) {
        if (bits[i / 64] & (1ull << (i % 64))) {
            marked++;
            assert_int_equal(((struct item *)slab_chunk_at(cls, slab_page_of(p[0]), i))->nkey, 7);
        }
    }
    assert_int_equal(marked, 5);
    assert_int_equal(slab_adopt(cls, page, 20, keep_marked, &asked, bits), -1);  /* not twice */
    slab_map_adopt_done();
    for (int i = 1; i < 10; i += 2)
        assert_int_equal(atomic_load(&((struct item *)p[i])->refcount), 1);
    /* The rest of the page is free: allocations never return a kept chunk. */
    struct slab_class_stats st;
    slab_class_stats(cls, &st);
    assert_int_equal(st.used, 5);
    assert_int_equal(st.pages, 1);
    for (uint32_t n = 0; n < st.perpage - 5; n++) {
        struct item *it = slab_alloc_nogrow(cls);
        assert_non_null(it);
        assert_true(slab_page_of(it) == slab_page_of(p[0]));
        for (int i = 1; i < 10; i += 2)
            assert_ptr_not_equal(it, p[i]);
    }
    assert_null(slab_alloc_nogrow(cls));
    /* A new page comes from the file, past the adopted one. */
    void *q = slab_alloc(cls);
    assert_non_null(q);
    assert_true(slab_map_holds(slab_page_of(q)));
    assert_int_equal(slab_map_index(slab_page_of(q)), 1);
    slab_teardown();
    assert_int_equal(setup_with(64 * MB, 1.08, 10), 0);     /* for the teardown */
    munmap(base, 4 * MB);
    close(fd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_classes_step_by_8_bytes_then_by_the_factor),
        cmocka_unit_test_setup_teardown(test_memcacheds_factor_gives_memcacheds_progression,
                                        setup_f125, teardown),
        cmocka_unit_test_setup_teardown(test_a_coarse_factor_ends_at_half_a_page,
                                        setup_f125, teardown),
        T(test_rounding_loses_under_five_percent_on_average),
        T(test_class_for_is_the_smallest_class_that_fits),
        T(test_chunks_are_carved_from_a_page_of_their_class),
        T(test_a_freed_chunk_is_the_next_one_allocated),
        T(test_a_full_magazine_gives_half_back_to_its_class),
        cmocka_unit_test_setup_teardown(test_the_budget_counts_whole_pages, setup_2pages,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_large_items_count_their_bytes, setup_2pages,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_draining_page_leaves_once_its_last_chunk_is_free,
                                        setup_2pages, teardown),
        T(test_an_abandoned_drain_gives_the_free_chunks_back),
        T(test_lowering_the_limit_frees_pool_pages),
        T(test_a_threads_counts_and_magazine_survive_its_exit),
        T(test_pages_from_a_file_are_adopted_by_a_later_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
