/*
 * mover: the thread that moves slab pages between classes — memcached's
 * slab rebalancer and automover (`slabs reassign`, `slabs automove`).
 *
 * Moving a page empties it first: it is marked draining (slab.c takes its
 * free chunks out of circulation), then each item on it is rescued — copied
 * into a free chunk the class already has, under the item's stripe lock,
 * keeping its unique and times — or, when the class has no free chunk,
 * evicted.  A reader holding an item keeps it readable: the copy (or the
 * unlink) only changes what the table points to, and the chunk is freed
 * when the reader lets go; the page changes class once every chunk reads
 * free.  With -M nothing is evicted: a page whose items cannot all be
 * rescued stays where it is.
 *
 * Automove (level 1, memcached's default) decides once a second:
 *   - a class that could not allocate at all (no page, or nothing it may
 *     evict) gets a page at once: from the pool, else from the class whose
 *     items are oldest; while that lasts the mover looks every 100 ms;
 *   - a class that has evicted in each of the last three seconds takes a
 *     page from the class with the oldest items, if its own evicted items
 *     are younger than ratio times those (-o slab_automove_ratio): memory
 *     goes where items are evicted young.  When the gap is wide (four
 *     times), it looks again every 100 ms with fresh ages, so pages follow
 *     a shift in value sizes within seconds, not minutes, and stop once the
 *     ages meet;
 *   - a class with more than two pages of free chunks and a quiet window
 *     (-o slab_automove_window) gives its emptiest page to the pool;
 *   - over the -m limit (cache_memlimit lowered), pages of the oldest class
 *     go to the pool and are freed.
 * Level 2 acts on any eviction in the last second.  A class's age is the
 * mean last access of the items at its eviction hand (evict.c): how long
 * an item lasts there unread.
 *
 * Threading: one mover thread; `slabs reassign` queues a request for it.
 * Fields marked [lock] are guarded by `lock`; [mover] are the thread's own;
 * counters are relaxed atomics written by the mover alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache_priv.h"
#include "hash.h"

#define MOVER_WINDOW_MAX 64
/* Pages one check may give back to the pool when over the limit. */
#define MOVER_BURST 8
/* How long a move waits for items in use before giving up, in ms. */
#define MOVER_WAIT_MS 30000
#define MIN_PAGES_FOR_SOURCE 2
#define MIN_PAGES_FOR_RECLAIM 2.5

struct class_window {
    uint64_t evicted, oom;              /* counters at the last tick */
    uint8_t evicting[MOVER_WINDOW_MAX]; /* 1 if it evicted during that tick */
    rel_time_t age[MOVER_WINDOW_MAX];
    bool dirty[MOVER_WINDOW_MAX];       /* evicted, failed or grew during that tick */
    uint32_t pages;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;                 /* [lock] */
    bool req;                           /* [lock] a `slabs reassign` waiting */
    int req_src, req_dst;               /* [lock] */
    _Atomic bool running;               /* a page is being moved */
    _Atomic uint64_t oom_bits[(SLAB_MAX_CLASSES + 2 + 63) / 64]; /* classes that failed */
    rel_time_t (*clock)(void);
    unsigned tick;                      /* [mover] */
    bool hurry;                         /* [mover] the last move asked for another soon */
    struct class_window win[SLAB_MAX_CLASSES + 1]; /* [mover] */
    _Atomic uint64_t rescues, evictions_nomem, busy_items, busy_deletes, inline_reclaim;
    _Atomic uint64_t moved;
} m = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void stat_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

enum chunk_move { CHUNK_DONE, CHUNK_WAIT, CHUNK_STUCK };

/* Rescue or evict one pinned chunk of a draining page of class `cls`. */
static enum chunk_move move_chunk(unsigned cls, struct item *it, rel_time_t now)
{
    if (!(atomic_load_explicit(&it->iflags, memory_order_acquire) & ITEM_LINKED)) {
        /* Being filled by a set, or on its way to being freed. */
        item_unref(it);
        stat_inc(&m.busy_items);
        return CHUNK_WAIT;
    }
    uint64_t hash = hash_key(item_key(it), it->nkey);
    struct table_stripe *s = table_stripe(hash);
    enum chunk_move r = CHUNK_DONE;
    word_lock(&s->lock);
    enum cache_miss why;
    if (!item_has(it, ITEM_LINKED)) {
        r = CHUNK_DONE;
    } else if (!cache_live(it, now, &why)) {
        cache_unlink(s, hash, it);
        stat_inc(&m.inline_reclaim);
    } else {
        struct item *copy = slab_alloc_nogrow(cls);
        if (copy != NULL) {
            cache_rescue(s, hash, it, copy);
            item_unref(copy);
            stat_inc(&m.rescues);
        } else if (cache_opts.evict_to_free) {
            if (atomic_load_explicit(&it->refcount, memory_order_relaxed) > 2)
                stat_inc(&m.busy_deletes);
            cache_unlink(s, hash, it);
            stat_inc(&m.evictions_nomem);
        } else {
            r = CHUNK_STUCK;    /* -M: no room to rescue it, and it may not go */
        }
    }
    word_unlock(&s->lock);
    item_unref(it);
    return r;
}

/* One pass over a draining page; false if an item may not leave it. */
static bool drain_pass(unsigned cls, struct slab_page *page, rel_time_t now)
{
    for (uint32_t i = 0; i < page->nchunks; i++) {
        struct item *it = slab_chunk_at(cls, page, i);
        if (cache_pin(it) && move_chunk(cls, it, now) == CHUNK_STUCK)
            return false;
    }
    return true;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* The page of `cls` with the fewest chunks in use: the cheapest to empty. */
static uint32_t emptiest_page(unsigned cls)
{
    uint32_t best = 0, best_used = UINT32_MAX;
    for (uint32_t idx = 0;; idx++) {
        uint32_t n, used = 0;
        struct slab_page *p = slab_page_pin(cls, idx, &n);
        if (p == NULL)
            break;
        for (uint32_t i = 0; i < n; i++) {
            struct item *it = slab_chunk_at(cls, p, i);
            if (atomic_load_explicit(&it->iflags, memory_order_relaxed) & ITEM_LINKED)
                used++;
        }
        slab_page_unpin(p);
        if (used < best_used) {
            best = idx;
            best_used = used;
        }
    }
    return best;
}

/* The page is empty: take every pointer eviction keeps into it out first. */
static bool leave(unsigned src, struct slab_page *page)
{
    evict_page_leaving(src, page);
    return true;
}

static bool move_page(unsigned src, unsigned dst, uint32_t index, rel_time_t now,
                      unsigned wait_ms)
{
    struct slab_page *page = slab_drain_begin(src, index);
    if (page == NULL)
        return false;
    atomic_store(&m.running, true);
    bool moved = false;
    for (unsigned waited = 0;; waited++) {
        bool ok = drain_pass(src, page, now);
        if (ok && slab_drain_empty(src, page) && leave(src, page) &&
            slab_drain_finish(src, page, dst)) {
            moved = true;
            break;
        }
        if (!ok || waited >= wait_ms) {
            slab_drain_abandon(src, page);
            break;
        }
        sleep_ms(1);
        if (m.clock != NULL)
            now = m.clock();
    }
    atomic_store(&m.running, false);
    if (moved) {
        stat_inc(&m.moved);
        if (dst == 0 && slab_mem_used() > slab_mem_limit())
            slab_set_limit(slab_mem_limit());   /* frees pool pages beyond the limit */
    }
    return moved;
}

bool mover_move(unsigned src, unsigned dst, rel_time_t now, unsigned wait_ms)
{
    if (src == 0)
        return slab_pool_give(dst);
    uint32_t npages = slab_class_npages(src);
    if (npages == 0)
        return false;
    uint32_t index = evict_hand_page(src);
    return move_page(src, dst, index < npages ? index : 0, now, wait_ms);
}

/* --- automove ------------------------------------------------------------ */

static bool oom_pending(unsigned cls)
{
    return (atomic_load(&m.oom_bits[cls / 64]) >> (cls % 64)) & 1;
}

static bool oom_take(unsigned cls)
{
    uint64_t bit = 1ULL << (cls % 64);
    return (atomic_fetch_and(&m.oom_bits[cls / 64], ~bit) & bit) != 0;
}

/* A class's age now: sampled at this tick, or afresh between ticks. */
static rel_time_t class_age(unsigned c, rel_time_t now, int slot)
{
    return slot >= 0 ? m.win[c].age[slot] : evict_class_age(c, now);
}

/* The class (other than `not`) with the oldest items and pages to spare. */
static unsigned oldest_class(unsigned not, rel_time_t now, int slot, rel_time_t *age)
{
    unsigned best = 0;
    *age = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        if (c == not || slab_class_npages(c) < MIN_PAGES_FOR_SOURCE)
            continue;
        rel_time_t a = class_age(c, now, slot);
        if (best == 0 || a > *age) {
            best = c;
            *age = a;
        }
    }
    return best;
}

/* Record this tick's figures of every class; returns the class that failed
 * to allocate most, if any. */
static unsigned window_fill(rel_time_t now, unsigned slot)
{
    unsigned starved = 0;
    uint64_t starved_by = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct class_window *w = &m.win[c];
        struct cache_class_counters k;
        evict_counters(c, &k);
        uint64_t oom = evict_oom_count(c);
        uint32_t pages = slab_class_npages(c);
        bool failed = oom > w->oom || oom_pending(c);
        w->evicting[slot] = k.evicted > w->evicted;
        w->dirty[slot] = w->evicting[slot] || failed || pages > w->pages;
        w->age[slot] = pages ? evict_class_age(c, now) : 0;
        if (failed && oom - w->oom >= starved_by) {
            starved = c;
            starved_by = oom - w->oom;
        }
        w->evicted = k.evicted;
        w->oom = oom;
        w->pages = pages;
    }
    return starved;
}

/* A class whose free chunks come to more than a couple of pages, with
 * nothing else going on in its window. */
static unsigned class_with_spare(unsigned window)
{
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct class_window *w = &m.win[c];
        bool dirty = false;
        for (unsigned k = 0; k < window; k++)
            dirty |= w->dirty[k];
        if (dirty || w->pages < 2)
            continue;
        struct slab_class_stats st;
        slab_class_stats(c, &st);
        uint64_t total = (uint64_t)st.pages * st.perpage;
        if (total > st.used && total - st.used > (uint64_t)(MIN_PAGES_FOR_RECLAIM * st.perpage))
            return c;
    }
    return 0;
}

/* Ticks in a row a class must have evicted in to ask for memory (level 1). */
#define STEADY_TICKS 3

/* The class evicting steadily with the youngest items, or 0. */
static unsigned youngest_evicting(unsigned level, unsigned window, unsigned slot,
                                  rel_time_t now, bool fresh, rel_time_t *age)
{
    unsigned best = 0;
    *age = 0;
    unsigned need = level >= 2 ? 1 : STEADY_TICKS < window ? STEADY_TICKS : window;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct class_window *w = &m.win[c];
        unsigned k = 0;
        while (k < need && w->evicting[(slot + window - k) % window])
            k++;
        if (k < need)
            continue;
        rel_time_t a = class_age(c, now, fresh ? -1 : (int)slot);
        if (best == 0 || a < *age) {
            best = c;
            *age = a;
        }
    }
    return best;
}

/* Give a class that could not allocate one page: from the pool, else from
 * the class with the oldest items. */
static unsigned feed_starved(unsigned cls, rel_time_t now)
{
    rel_time_t age;
    unsigned src = slab_pool_pages() > 0 ? 0 : oldest_class(cls, now, -1, &age);
    if (src == 0 && slab_pool_pages() == 0)
        return 0;
    return mover_move(src, cls, now, 100) ? 1 : 0;
}

/* Between ticks: feed the classes that reported failing since the last look. */
static unsigned feed_reported(rel_time_t now)
{
    struct cache_settings set;
    cache_settings(&set);
    unsigned moved = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        if (oom_take(c) && set.slab_automove != 0 && set.slab_reassign)
            moved += feed_starved(c, now);
    }
    /* Large items take bytes, not pages: empty a page of the oldest class
     * into the pool, and free it. */
    unsigned large = slab_large_class();
    if (oom_take(large) && set.slab_automove != 0 && set.slab_reassign) {
        rel_time_t age;
        unsigned src = slab_pool_pages() > 0 ? 0 : oldest_class(0, now, -1, &age);
        if (src != 0 && mover_move(src, 0, now, 100))
            moved++;
        slab_pool_release(1);
    }
    return moved;
}

static bool any_oom(void);

static unsigned automove_window(void)
{
    unsigned window = cache_opts.slab_automove_window;
    if (window < 3)
        window = 3;
    return window > MOVER_WINDOW_MAX ? MOVER_WINDOW_MAX : window;
}

static unsigned rebalance(const struct cache_settings *set, unsigned window, unsigned slot,
                          rel_time_t now, bool fresh);

unsigned mover_tick(rel_time_t now)
{
    struct cache_settings set;
    cache_settings(&set);
    unsigned window = automove_window();
    unsigned slot = m.tick++ % window;
    unsigned starved = window_fill(now, slot);
    if (!set.slab_reassign)
        return 0;
    unsigned moved = 0;
    /* Over the limit (cache_memlimit lowered): shrink the oldest class into
     * the pool, which frees it, whatever the automove level. */
    while (slab_mem_used() > slab_mem_limit() && moved < MOVER_BURST) {
        rel_time_t age;
        unsigned src = oldest_class(0, now, (int)slot, &age);
        if (src == 0 || !mover_move(src, 0, now, MOVER_WAIT_MS))
            break;
        moved++;
    }
    if (set.slab_automove == 0)
        return moved;
    if (starved != 0 || any_oom())
        return moved + feed_reported(now);
    unsigned spare = class_with_spare(window);
    if (spare != 0) {
        if (move_page(spare, 0, emptiest_page(spare), now, MOVER_WAIT_MS))
            moved++;
        return moved;
    }
    return moved + rebalance(&set, window, slot, now, false);
}

/*
 * Memory to the class evicting the youngest items, from the class with the
 * oldest, if the gap is beyond the ratio.  A wide gap (four times) asks
 * for another look in 100 ms, with fresh ages: pages follow a change in
 * value sizes at ten a second rather than one.
 */
static unsigned rebalance(const struct cache_settings *set, unsigned window, unsigned slot,
                          rel_time_t now, bool fresh)
{
    rel_time_t young_age, old_age;
    m.hurry = false;
    unsigned dst = youngest_evicting(set->slab_automove, window, slot, now, fresh, &young_age);
    if (dst == 0)
        return 0;
    if (slab_pool_pages() > 0 && mover_move(0, dst, now, 0))
        return 1;
    unsigned src = oldest_class(dst, now, fresh ? -1 : (int)slot, &old_age);
    if (src == 0 || !(young_age < (double)old_age * set->slab_automove_ratio))
        return 0;
    if (!mover_move(src, dst, now, MOVER_WAIT_MS))
        return 0;
    m.hurry = (uint64_t)young_age * 4 < old_age;
    return 1;
}

/* Between ticks, while a move asked for it: another look, fresh ages. */
static unsigned rebalance_again(rel_time_t now)
{
    struct cache_settings set;
    cache_settings(&set);
    if (!set.slab_reassign || set.slab_automove == 0 || m.tick == 0)
        return 0;
    unsigned window = automove_window();
    return rebalance(&set, window, (m.tick - 1) % window, now, true);
}

/* --- the thread ------------------------------------------------------------- */

void mover_wake(unsigned cls)
{
    uint64_t bit = 1ULL << (cls % 64);
    if (atomic_fetch_or(&m.oom_bits[cls / 64], bit) & bit)
        return;     /* already noted: the mover will look soon */
    pthread_mutex_lock(&m.lock);
    pthread_cond_signal(&m.cond);
    pthread_mutex_unlock(&m.lock);
}

static bool any_oom(void)
{
    for (size_t i = 0; i < sizeof(m.oom_bits) / sizeof(m.oom_bits[0]); i++)
        if (atomic_load(&m.oom_bits[i]))
            return true;
    return false;
}

/* Wait until the next tick, a request or a stop.  false to stop. */
static bool mover_wait(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&m.lock);
    while (!m.stop && !m.req && !any_oom()) {
        if (pthread_cond_timedwait(&m.cond, &m.lock, &ts) == ETIMEDOUT)
            break;
    }
    bool go = !m.stop;
    pthread_mutex_unlock(&m.lock);
    return go;
}

static void *mover_main(void *arg)
{
    (void)arg;
    unsigned pause = 1000;
    rel_time_t last = 0;
    while (mover_wait(pause)) {
        rel_time_t now = m.clock();
        pthread_mutex_lock(&m.lock);
        bool req = m.req;
        int src = m.req_src, dst = m.req_dst;
        m.req = false;
        pthread_mutex_unlock(&m.lock);
        if (req) {
            mover_move((unsigned)src, (unsigned)dst, now, MOVER_WAIT_MS);
            continue;
        }
        /* A failing class is fed at once and looked at every 100 ms; the
         * automove decisions come once a second. */
        bool urgent = any_oom();
        if (urgent)
            feed_reported(now);
        if (now != last) {
            last = now;
            mover_tick(now);
        } else if (m.hurry) {
            rebalance_again(now);
        }
        pause = urgent || m.hurry ? 100 : 1000;
    }
    return NULL;
}

int mover_start(const struct cache_options *o)
{
    memset(m.win, 0, sizeof(m.win));
    m.tick = 0;
    m.hurry = false;
    m.stop = false;
    m.req = false;
    for (size_t i = 0; i < sizeof(m.oom_bits) / sizeof(m.oom_bits[0]); i++)
        atomic_store(&m.oom_bits[i], 0);
    m.clock = o->clock;
    if (o->clock == NULL)
        return 0;
    int rc = pthread_create(&m.thread, NULL, mover_main, NULL);
    if (rc != 0)
        return -rc;
    m.started = true;
    return 0;
}

void mover_stop(void)
{
    if (!m.started)
        return;
    pthread_mutex_lock(&m.lock);
    m.stop = true;
    pthread_cond_signal(&m.cond);
    pthread_mutex_unlock(&m.lock);
    pthread_join(m.thread, NULL);
    m.started = false;
}

enum cache_reassign cache_slabs_reassign(int src, int dst)
{
    struct cache_settings set;
    cache_settings(&set);
    if (!set.slab_reassign)
        return CACHE_REASSIGN_DISABLED;
    pthread_mutex_lock(&m.lock);
    bool busy = m.req || atomic_load(&m.running);
    pthread_mutex_unlock(&m.lock);
    if (busy)
        return CACHE_REASSIGN_RUNNING;
    if (src == dst)
        return CACHE_REASSIGN_SAME;
    int n = (int)slab_nclasses();
    if (src == -1) {
        /* Any class: the one with the most pages. */
        uint32_t most = 0;
        for (int c = 1; c <= n; c++) {
            uint32_t pages = slab_class_npages((unsigned)c);
            if (c != dst && pages > most) {
                most = pages;
                src = c;
            }
        }
        if (src == -1)
            return CACHE_REASSIGN_NOSPARE;
    }
    if (src < 0 || src > n || dst < 0 || dst > n)
        return CACHE_REASSIGN_BADCLASS;
    uint64_t pages = src == 0 ? slab_pool_pages() : slab_class_npages((unsigned)src);
    if (pages < (src == 0 ? 1u : 2u))
        return CACHE_REASSIGN_NOSPARE;
    if (!m.started) {
        /* No thread (tests): move now. */
        mover_move((unsigned)src, (unsigned)dst, 0, MOVER_WAIT_MS);
        return CACHE_REASSIGN_OK;
    }
    pthread_mutex_lock(&m.lock);
    m.req = true;
    m.req_src = src;
    m.req_dst = dst;
    pthread_cond_signal(&m.cond);
    pthread_mutex_unlock(&m.lock);
    return CACHE_REASSIGN_OK;
}

void mover_stats(struct cache_stats *out)
{
    out->slab_reassign_rescues = atomic_load(&m.rescues);
    out->slab_reassign_evictions_nomem = atomic_load(&m.evictions_nomem);
    out->slab_reassign_inline_reclaim = atomic_load(&m.inline_reclaim);
    out->slab_reassign_busy_items = atomic_load(&m.busy_items);
    out->slab_reassign_busy_deletes = atomic_load(&m.busy_deletes);
    pthread_mutex_lock(&m.lock);
    out->slab_reassign_running = atomic_load(&m.running) || m.req;
    pthread_mutex_unlock(&m.lock);
    out->slabs_moved = atomic_load(&m.moved);
}
