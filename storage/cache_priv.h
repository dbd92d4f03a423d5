/*
 * cache_priv: what the storage layer's own files share — cache.c's
 * semantics helpers (each expects the key's stripe lock held), the
 * settings, and the per-class counters of eviction, the crawler and the
 * mover.  For storage/ only.
 */
#ifndef MCD_CACHE_PRIV_H
#define MCD_CACHE_PRIV_H

#include <stdatomic.h>

#include "cache.h"
#include "slab.h"
#include "table.h"

/* The cache's settings, fixed at cache_setup. */
extern struct cache_options cache_opts;

/* Link a new item into a locked stripe (new unique, time = now); the table
 * takes a reference.  CACHE_STORED, or CACHE_NO_MEMORY if the table cannot grow. */
enum cache_status cache_link(struct table_stripe *s, uint64_t hash, struct item *it,
                             rel_time_t now);
/* Link `it` in place of `old` (same key) in a locked stripe, dropping old's table reference. */
void cache_replace(struct table_stripe *s, uint64_t hash, struct item *old, struct item *it,
                   rel_time_t now);
/* The mover: link a copy of `old` in the reserved chunk `it` of the same
 * class in its place, keeping its unique, times and marks (stripe locked). */
void cache_rescue(struct table_stripe *s, uint64_t hash, struct item *old, struct item *it);
/* Unlink an item from a locked stripe, dropping the table's reference. */
void cache_unlink(struct table_stripe *s, uint64_t hash, struct item *it);
/* Find a live item in a locked stripe, unlinking a dead one on the way. */
struct item *cache_find(struct table_stripe *s, uint64_t hash, const char *key, size_t nkey,
                        rel_time_t now, enum cache_miss *why);
/* cache_alloc for storage's own callers (it may run under a stripe lock). */
struct item *cache_alloc_at(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                            size_t vlen, rel_time_t now, enum cache_status *err);
/* Whether an item is still live at `now` (not expired, not flushed).  Under
 * its stripe lock this is the answer; without it, a hint. */
bool cache_live(const struct item *it, rel_time_t now, enum cache_miss *why);
/* Count a read: the fetched mark and the eviction frequency (no lock needed). */
void cache_mark_read(struct item *it);
/* Bytes an item counts for in `bytes` and mem_requested. */
size_t cache_item_bytes(const struct item *it);
/* `stats sizes` tracking (cache_admin.c): whether it is on (read without a
 * lock on every link), and the count of an item linked (add) or unlinked. */
extern _Atomic bool cache_sizes_on;
void cache_sizes_count(struct item *it, bool add);
static inline void cache_sizes_note(struct item *it, bool add)
{
    if (atomic_load_explicit(&cache_sizes_on, memory_order_relaxed))
        cache_sizes_count(it, add);
}
/* Take the administrative settings (cache_admin.c). */
void cache_admin_setup(const struct cache_options *o);

/*
 * Pin a chunk a walker found on a page: raise its count unless it is 0 (a
 * free chunk).  With the pin held the chunk stays allocated; it is an item
 * to look at only if ITEM_LINKED is then set (acquire), and is released
 * with item_unref.
 */
static inline bool cache_pin(struct item *it)
{
    uint8_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
    do {
        if (r == 0 || r == UINT8_MAX)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint8_t)(r + 1),
                                                    memory_order_acquire, memory_order_relaxed));
    return true;
}

/* Counters of eviction and reclaim for one class; see evict.c for who writes each. */
struct cache_class_counters {
    uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
    uint64_t reclaimed, expired_unfetched, lrutail_reflocked, moves_within_lru;
    uint64_t moves_to_warm;     /* new items read again, moved out of the small queue */
    uint64_t direct_reclaims;
    rel_time_t evicted_time;    /* age of the last evicted item's last access */
    rel_time_t last_evict_at;   /* when it was evicted */
};

/*
 * What happened when a walker (eviction, crawler, mover) looked at a
 * pinned chunk.  Eviction may remove a live item; the others only dead ones.
 */
enum cache_reap {
    REAP_SKIP,          /* left alone */
    REAP_BUSY,          /* could not be looked at now (stripe busy, readers) */
    REAP_UNLINKED,      /* removed, but a reader still holds it */
    REAP_FREED,         /* removed and its chunk freed */
};
/* Remove a pinned chunk's item if dead, or (evict) if it has had its
 * chances; the pin is always released.  Counters go to `c`. */
enum cache_reap cache_reap(struct item *it, rel_time_t now, bool evict,
                           struct cache_class_counters *c);

/* --- eviction (evict.c) --- */
void evict_setup(void);
/* A new key's item was linked (stripe locked): it enters the small queue. */
void evict_note_new(struct item *it, uint64_t hash);
/* An empty page is leaving class `cls` (the mover): forget every item of
 * it the small queue and the threads' pending buffers still point to. */
void evict_page_leaving(unsigned cls, const struct slab_page *page);
/* Count an item of class `cls` reclaimed unread as soon as it was stored
 * (stripe lock held; takes the hand lock). */
void evict_count_reclaimed(unsigned cls);
/* How many of those pointers into `page` there are (for tests). */
unsigned evict_pointers_into(unsigned cls, const struct slab_page *page);
void evict_teardown(void);
/* Free about `want` chunks of slab class `cls` by eviction; how many went. */
unsigned evict_class(unsigned cls, rel_time_t now, unsigned want);
/* Free large items until `bytes` could be allocated; whether any went. */
bool evict_large(rel_time_t now, size_t bytes);
/* The page the class's hand is at. */
uint32_t evict_hand_page(unsigned cls);
/* The mean age of last access of the items at the class's hand: how long
 * an item of this class lasts unread before eviction looks at it. */
rel_time_t evict_class_age(unsigned cls, rel_time_t now);
/* A class's eviction counters, copied under its lock. */
void evict_counters(unsigned cls, struct cache_class_counters *out);
/* Count an allocation the class could not serve. */
void evict_count_oom(unsigned cls);
uint64_t evict_oom_count(unsigned cls);
/* Zero the counters (stats reset). */
void evict_counters_reset(void);

/* --- the page mover (mover.c) and the crawler (crawler.c) --- */
int mover_start(const struct cache_options *o);
void mover_stop(void);
/* One automove decision at `now` (the thread calls it each tick; tests too).
 * Returns the pages moved. */
unsigned mover_tick(rel_time_t now);
/* Move one page from src (0: the pool) to dst (0: the pool) now, waiting
 * for busy items up to `wait_ms`.  Whether it moved. */
bool mover_move(unsigned src, unsigned dst, rel_time_t now, unsigned wait_ms);
/* A class could not allocate: move memory its way soon. */
void mover_wake(unsigned cls);
/* The mover's counters for `stats`. */
void mover_stats(struct cache_stats *out);
int crawler_start(const struct cache_options *o);
/* Crawl these classes now, in the calling thread; how many items went. */
uint64_t crawler_run(const struct cache_class_set *classes, rel_time_t now);
void crawler_stop(void);
/* The crawler's counters for a class. */
void crawler_class_stats(unsigned cls, uint64_t *reclaimed, uint64_t *checked);
void crawler_stats(struct cache_stats *out);

/* A warm restart's item left in place on an adopted page (persist_map.c):
 * ours (refcount 1), its times already in this process's clock, its
 * iflags holding only the marks to keep.  Linked as cache_restore links,
 * keeping its unique, last access and marks; our reference is dropped. */
enum cache_status cache_adopt(struct item *it, rel_time_t now);

#endif
