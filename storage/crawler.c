/*
 * crawler: the thread that reclaims expired and flushed items without
 * waiting for a get or for eviction to find them — memcached's LRU crawler
 * (`lru_crawler crawl|enable|disable|sleep|tocrawl`), walking slab pages
 * instead of LRU lists.
 *
 * A crawl visits the chosen classes page by page; each chunk is pinned and
 * looked at as eviction would (cache_reap with no right to evict): a dead
 * item is unlinked under its stripe lock, which trylocks, so the crawler
 * never waits behind a worker.  It sleeps -o lru_crawler_sleep microseconds
 * every CRAWL_BATCH chunks and looks at no more than -o lru_crawler_tocrawl
 * items per class (0: all).
 *
 * Besides the crawls asked for, it crawls every class on its own, at most
 * once a minute and never more than 1% of its time: the pause after a crawl
 * is a hundred times what the crawl took.
 *
 * Threading: [lock] fields are guarded by `lock`; counters are relaxed
 * atomics written by the crawler thread alone.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "cache_priv.h"

#define CRAWL_BATCH 1024
#define CRAWL_AUTO_MIN_S 60

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;                 /* [lock] */
    bool req;                           /* [lock] a crawl asked for */
    struct cache_class_set req_set;     /* [lock] */
    _Atomic bool running;
    rel_time_t (*clock)(void);
    _Atomic uint64_t starts;
    _Atomic uint64_t reclaimed[SLAB_MAX_CLASSES + 2], checked[SLAB_MAX_CLASSES + 2];
} cr = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void sleep_us(uint32_t us)
{
    if (us == 0)
        return;
    struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static bool stopping(void)
{
    pthread_mutex_lock(&cr.lock);
    bool s = cr.stop;
    pthread_mutex_unlock(&cr.lock);
    return s;
}

/*
 * Crawl the large items: along their list in pinned batches.  Items
 * removed meanwhile shift the position, so one may be looked at twice or
 * not at all in a pass; the next pass catches it.
 */
static uint64_t crawl_large(unsigned cls, rel_time_t now, uint32_t sleep, uint32_t tocrawl)
{
    struct cache_class_counters k;
    memset(&k, 0, sizeof(k));
    uint64_t checked = 0, pos = 0;
    struct item *batch[64];
    for (;;) {
        unsigned n = slab_large_pin_range(pos, batch, 64);
        if (n == 0)
            break;
        unsigned i = 0;
        for (; i < n && (tocrawl == 0 || checked < tocrawl); i++) {
            if (atomic_load_explicit(&batch[i]->iflags, memory_order_relaxed) & ITEM_LINKED)
                checked++;
            /* A freed item has left the list; any other stays in place. */
            if (cache_reap(batch[i], now, false, &k) != REAP_FREED)
                pos++;
        }
        for (; i < n; i++)
            item_unref(batch[i]);
        if (tocrawl != 0 && checked >= tocrawl)
            break;
        sleep_us(sleep);
        if (stopping())
            break;
        if (cr.clock != NULL)
            now = cr.clock();
    }
    atomic_fetch_add_explicit(&cr.reclaimed[cls], k.reclaimed, memory_order_relaxed);
    atomic_fetch_add_explicit(&cr.checked[cls], checked, memory_order_relaxed);
    return k.reclaimed;
}

/* Crawl one class: how many items were reclaimed. */
static uint64_t crawl_class(unsigned cls, rel_time_t now, uint32_t sleep, uint32_t tocrawl)
{
    if (cls == slab_large_class())
        return crawl_large(cls, now, sleep, tocrawl);
    struct cache_class_counters k;
    memset(&k, 0, sizeof(k));
    uint64_t checked = 0, seen = 0;
    for (uint32_t idx = 0;; idx++) {
        uint32_t n;
        struct slab_page *p = slab_page_pin(cls, idx, &n);
        if (p == NULL)
            break;
        for (uint32_t i = 0; i < n && (tocrawl == 0 || checked < tocrawl); i++) {
            struct item *it = slab_chunk_at(cls, p, i);
            if (cache_pin(it)) {
                if (atomic_load_explicit(&it->iflags, memory_order_relaxed) & ITEM_LINKED)
                    checked++;
                cache_reap(it, now, false, &k);
            }
            if (++seen % CRAWL_BATCH == 0) {
                slab_page_unpin(p);
                sleep_us(sleep);
                if (stopping())
                    goto out;
                if (cr.clock != NULL)
                    now = cr.clock();
                p = slab_page_pin(cls, idx, &n);
                if (p == NULL)
                    goto out;
            }
        }
        slab_page_unpin(p);
        if (tocrawl != 0 && checked >= tocrawl)
            break;
    }
out:
    atomic_fetch_add_explicit(&cr.reclaimed[cls], k.reclaimed, memory_order_relaxed);
    atomic_fetch_add_explicit(&cr.checked[cls], checked, memory_order_relaxed);
    return k.reclaimed;
}

uint64_t crawler_run(const struct cache_class_set *classes, rel_time_t now)
{
    struct cache_settings set;
    cache_settings(&set);
    atomic_store(&cr.running, true);
    atomic_fetch_add_explicit(&cr.starts, 1, memory_order_relaxed);
    uint64_t reclaimed = 0;
    for (unsigned c = 1; c <= slab_large_class(); c++) {
        if (cache_class_set_has(classes, c))
            reclaimed += crawl_class(c, now, set.lru_crawler_sleep, set.lru_crawler_tocrawl);
    }
    atomic_store(&cr.running, false);
    return reclaimed;
}

/* Wait up to `ms` for a request or a stop; false to stop. */
static bool crawler_wait(uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    pthread_mutex_lock(&cr.lock);
    while (!cr.stop && !cr.req) {
        if (pthread_cond_timedwait(&cr.cond, &cr.lock, &ts) == ETIMEDOUT)
            break;
    }
    bool go = !cr.stop;
    pthread_mutex_unlock(&cr.lock);
    return go;
}

static void *crawler_main(void *arg)
{
    (void)arg;
    uint64_t pause_ms = CRAWL_AUTO_MIN_S * 1000;
    while (crawler_wait(pause_ms)) {
        struct cache_class_set set;
        pthread_mutex_lock(&cr.lock);
        bool asked = cr.req;
        set = cr.req_set;
        cr.req = false;
        pthread_mutex_unlock(&cr.lock);
        struct cache_settings s;
        cache_settings(&s);
        if (!s.lru_crawler && !asked) {
            pause_ms = CRAWL_AUTO_MIN_S * 1000;
            continue;
        }
        if (!asked) {
            memset(&set, 0, sizeof(set));
            for (unsigned c = 1; c <= slab_large_class(); c++)
                cache_class_set_add(&set, c);
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        crawler_run(&set, cr.clock());
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint64_t took_ms = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000 +
                           (uint64_t)(t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (!asked) {
            pause_ms = 100 * took_ms;
            if (pause_ms < CRAWL_AUTO_MIN_S * 1000)
                pause_ms = CRAWL_AUTO_MIN_S * 1000;
        }
    }
    return NULL;
}

int crawler_start(const struct cache_options *o)
{
    cr.stop = false;
    cr.req = false;
    cr.clock = o->clock;
    for (unsigned c = 0; c < SLAB_MAX_CLASSES + 2; c++) {
        atomic_store(&cr.reclaimed[c], 0);
        atomic_store(&cr.checked[c], 0);
    }
    atomic_store(&cr.starts, 0);
    if (o->clock == NULL)
        return 0;
    int rc = pthread_create(&cr.thread, NULL, crawler_main, NULL);
    if (rc != 0)
        return -rc;
    cr.started = true;
    return 0;
}

void crawler_stop(void)
{
    if (!cr.started)
        return;
    pthread_mutex_lock(&cr.lock);
    cr.stop = true;
    pthread_cond_signal(&cr.cond);
    pthread_mutex_unlock(&cr.lock);
    pthread_join(cr.thread, NULL);
    cr.started = false;
}

enum cache_crawl cache_crawl(const struct cache_class_set *classes)
{
    struct cache_settings s;
    cache_settings(&s);
    if (!s.lru_crawler)
        return CACHE_CRAWL_DISABLED;
    bool any = false;
    for (unsigned c = 0; c <= CACHE_MAX_CLASSES; c++) {
        if (!cache_class_set_has(classes, c))
            continue;
        if (c == 0 || c > slab_large_class())
            return CACHE_CRAWL_BADCLASS;
        any = true;
    }
    if (!any)
        return CACHE_CRAWL_NOTSTARTED;
    pthread_mutex_lock(&cr.lock);
    enum cache_crawl r = CACHE_CRAWL_OK;
    if (cr.req || atomic_load(&cr.running))
        r = CACHE_CRAWL_RUNNING;
    else if (!cr.started)
        r = CACHE_CRAWL_NOTSTARTED;
    else {
        cr.req = true;
        cr.req_set = *classes;
        pthread_cond_signal(&cr.cond);
    }
    pthread_mutex_unlock(&cr.lock);
    return r;
}

void crawler_class_stats(unsigned cls, uint64_t *reclaimed, uint64_t *checked)
{
    *reclaimed = atomic_load_explicit(&cr.reclaimed[cls], memory_order_relaxed);
    *checked = atomic_load_explicit(&cr.checked[cls], memory_order_relaxed);
}

void crawler_stats(struct cache_stats *out)
{
    out->lru_crawler_running = atomic_load(&cr.running);
    out->lru_crawler_starts = atomic_load(&cr.starts);
}
