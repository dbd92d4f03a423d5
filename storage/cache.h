/*
 * cache: the storage API the protocol layer calls — memcached's operations
 * (store, get, touch, delete, incr/decr, flush) over the table, the LRU and
 * the slab allocator.  See cache.c for the locking and eviction rules.
 */
#ifndef MCD_CACHE_H
#define MCD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "item.h"

enum cache_status {
    CACHE_OK = 0,
    CACHE_STORED,
    CACHE_NOT_STORED,
    CACHE_EXISTS,
    CACHE_NOT_FOUND,
    CACHE_DELETED,
    CACHE_TOO_LARGE,
    CACHE_NO_MEMORY,
    CACHE_NON_NUMERIC,
};

enum cache_op {
    CACHE_SET,
    CACHE_ADD,
    CACHE_REPLACE,
    CACHE_APPEND,
    CACHE_PREPEND,
    CACHE_CAS,
};

/* Why a lookup missed, for the get_expired / get_flushed counters. */
enum cache_miss { CACHE_MISS_NONE = 0, CACHE_MISS_EXPIRED, CACHE_MISS_FLUSHED };

struct cache_options {
    size_t maxbytes;
    size_t item_size_max;
    double factor;
    size_t min_chunk;
    unsigned hashpower;
    bool use_cas;
    bool evict_to_free;
    bool slab_reassign;         /* -o slab_reassign (default on) */
    unsigned slab_automove;     /* -o slab_automove=0|1|2 (default 1) */
    double slab_automove_ratio; /* -o slab_automove_ratio (default 0.8) */
    unsigned slab_automove_window; /* -o slab_automove_window, seconds (default 30) */
    bool lru_crawler;           /* -o lru_crawler (default on) */
    uint32_t lru_crawler_sleep; /* -o lru_crawler_sleep, microseconds (default 100) */
    uint32_t lru_crawler_tocrawl; /* -o lru_crawler_tocrawl, items per class, 0 = all */
    size_t slab_chunk_max;      /* -o slab_chunk_max (default half a page) */
    /* The clock, for storage's background threads (the page mover and the
     * crawler); NULL runs none of them (tests drive them by hand). */
    rel_time_t (*clock)(void);
    unsigned lru_shards;        /* LRU lists per class, a power of two; 0 = 8, 1 = exact LRU */
    int64_t started;            /* unix time of cache time 0 */
};

/* Totals for `stats`. */
struct cache_stats {
    uint64_t curr_items;
    uint64_t bytes;
    uint64_t evictions;
    uint64_t reclaimed;
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t evicted_active;
    uint64_t lrutail_reflocked;
    uint64_t moves_within_lru;
    uint64_t total_items;
    uint64_t hash_buckets;
    uint64_t malloced;          /* bytes of chunks handed out */
    uint64_t limit_maxbytes;
    uint64_t total_malloced;    /* bytes of slab pages taken, as memcached counts -m */
    uint64_t slab_global_page_pool; /* pages free for any class */
    unsigned hash_power_level;  /* log2 of hash_bytes / 8, rounded up */
    uint64_t hash_bytes;        /* memory of the hash table */
    bool hash_is_expanding;
    /* The page mover (slabs reassign / automove). */
    uint64_t slab_reassign_rescues, slab_reassign_chunk_rescues, slab_reassign_evictions_nomem;
    uint64_t slab_reassign_inline_reclaim, slab_reassign_busy_items, slab_reassign_busy_deletes;
    bool slab_reassign_running;
    uint64_t slabs_moved;
    /* The expired-item crawler. */
    bool lru_crawler_running;
    uint64_t lru_crawler_starts;
    uint64_t malloc_fails;
};

/* One slab class for `stats slabs` and `stats items`, with memcached's names. */
struct cache_class_stats {
    size_t chunk_size;
    uint64_t chunks_per_page, total_pages, total_chunks, used_chunks, free_chunks;
    uint64_t free_chunks_end;
    uint64_t mem_requested;     /* bytes of the items held */
    uint64_t number;            /* items linked */
    uint32_t age;               /* seconds since the least recent access of an item */
    uint64_t evicted, evicted_nonzero, evicted_unfetched, evicted_active;
    uint32_t evicted_time;      /* seconds since the last evicted item's access */
    uint64_t outofmemory, reclaimed, expired_unfetched;
    uint64_t crawler_reclaimed, crawler_items_checked;
    uint64_t lrutail_reflocked, moves_within_lru, direct_reclaims;
    uint64_t moves_to_warm;     /* new items read again, out of the small queue */
};

/* Set up slabs, LRU and table.  0 or -errno. */
int cache_setup(const struct cache_options *opt);
/* Free every item and the structures. */
void cache_teardown(void);
/* Unix time of cache time 0. */
int64_t cache_started(void);
/* Whether CAS uniques are kept (-C turns them off). */
bool cache_use_cas(void);

/*
 * The hash that places a key.  The lookups and stores a request makes take
 * it as an argument, so that a key is hashed once for its prefetch and its
 * lookup; pass cache_hash() of the same key.
 */
static inline uint64_t cache_hash(const char *key, size_t nkey) { return hash_key(key, nkey); }
/*
 * Prefetch hints, for a transport serving a batch of requests: start
 * loading what a lookup of `hash` reads — the stripe and the key's buckets
 * (cache_prefetch), then, once those are in, the items whose tags match
 * (cache_prefetch_items) — so that the lookup, a few requests later, finds
 * them in cache.  They change nothing, and never wait: the second reads the
 * buckets only if the stripe's lock is free at once (a trylock).
 */
void cache_prefetch(uint64_t hash);
void cache_prefetch_items(uint64_t hash);
/* Whether an item of this key length, flags and value length is within -I. */
bool cache_item_fits(size_t nkey, uint32_t flags, size_t vlen);
/*
 * Allocate an unlinked item for `key` with room for `vlen` bytes of value
 * (without the protocol's \r\n), evicting if the budget is full.  The caller
 * owns the one reference.  NULL with *err = CACHE_TOO_LARGE or CACHE_NO_MEMORY.
 */
struct item *cache_alloc(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                         size_t vlen, rel_time_t now, enum cache_status *err);
/*
 * Store a filled item according to `op`; `hash` is cache_hash() of its key,
 * `cas` the client's unique for CACHE_CAS.  The caller keeps its reference.
 * Returns STORED, NOT_STORED, EXISTS, NOT_FOUND or NO_MEMORY (append/prepend
 * could not grow).
 */
enum cache_status cache_store(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                              rel_time_t now);
/*
 * As cache_store, but a CACHE_CAS whose unique is older than the item's
 * still stores: the new value is marked stale and keeps the old expiry and
 * win mark (the meta protocol's invalidating set).
 */
enum cache_status cache_store_stale(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                                    rel_time_t now);
/*
 * What a reader does with a hit: called while the item's stripe is locked,
 * so the item cannot change or go until it returns.  It copies what it
 * needs, or keeps the item with item_ref_try (copying when that refuses).
 * It must not call into the cache.
 */
typedef void (*cache_visit_fn)(struct item *it, void *arg);
/* Look a key up (`hash`: cache_hash() of it) and show a hit to `fn`.
 * Returns whether the key was found. */
bool cache_get_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t now,
                     enum cache_miss *why, cache_visit_fn fn, void *arg);
/* The same, setting a new expiry time first (gat). */
bool cache_touch_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t exptime,
                       rel_time_t now, enum cache_miss *why, cache_visit_fn fn, void *arg);
/* Set a new expiry time: CACHE_OK or CACHE_NOT_FOUND.  *cls (if not NULL) gets the item's class. */
enum cache_status cache_touch(const char *key, size_t nkey, rel_time_t exptime, rel_time_t now,
                              unsigned *cls);
/* Delete: CACHE_DELETED or CACHE_NOT_FOUND; *cls as for cache_touch. */
enum cache_status cache_delete(const char *key, size_t nkey, rel_time_t now, unsigned *cls);
/*
 * incr/decr by `delta`: incr wraps at 2^64, decr stops at 0.  On CACHE_OK
 * *value holds the new value.  CACHE_NOT_FOUND, CACHE_NON_NUMERIC or
 * CACHE_NO_MEMORY otherwise.
 */
enum cache_status cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
                              rel_time_t now, uint64_t *value, unsigned *cls);
/* What cache_fetch may do besides finding the item (the meta get's flags). */
struct cache_fetch_opts {
    bool touch;                 /* set a new expiry time */
    rel_time_t exptime;
    bool vivify;                /* on a miss, link an empty item; the caller wins it */
    rel_time_t vivify_exptime;
    bool recache;               /* win if the item expires before recache_time */
    rel_time_t recache_time;
    bool recache_after_touch;   /* compare with the new expiry, not the old one */
    bool no_bump;               /* leave the fetched mark and last access alone */
};

/* A found item and its state as it was found, read under the item's lock. */
struct cache_fetch {
    struct item *it;            /* valid only inside the visit callback; NULL on a miss */
    bool found;
    enum cache_miss why;
    bool created;               /* vivified by this fetch */
    bool won;                   /* this caller should refresh the item */
    bool win_sent_before;       /* another caller already won it */
    bool stale;
    bool fetched_before;
    rel_time_t exptime_before;  /* before this fetch changed it */
    rel_time_t atime;           /* last access before this fetch */
    uint64_t cas;
    size_t vlen;
    uint32_t flags;
    unsigned cls;
    bool key_binary;
};
/*
 * Look up with the meta options (`hash`: cache_hash() of the key).  On a
 * hit (out->found), `fn` is called with `arg` under the stripe lock once
 * `out` is filled, out->it set for it.
 */
void cache_fetch(const char *key, size_t nkey, uint64_t hash, const struct cache_fetch_opts *o,
                 rel_time_t now, struct cache_fetch *out,
                 void (*fn)(const struct cache_fetch *f, void *arg), void *arg);
/* Look up without counting a read (debug output): fills every field of
 * `out` but `it`, which stays NULL.  Returns out->found. */
bool cache_peek(const char *key, size_t nkey, rel_time_t now, struct cache_fetch *out);
/* Delete if `cas` is NULL or equals the item's unique: DELETED, EXISTS or NOT_FOUND. */
enum cache_status cache_delete_cas(const char *key, size_t nkey, const uint64_t *cas,
                                   rel_time_t now, unsigned *cls);
/*
 * Invalidate instead of deleting: mark the item stale with a new unique so
 * the next reader wins the refresh; a new expiry if `touch`.  `cas` as for
 * cache_delete_cas.  CACHE_OK, CACHE_EXISTS or CACHE_NOT_FOUND.
 */
enum cache_status cache_mark_stale(const char *key, size_t nkey, const uint64_t *cas, bool touch,
                                   rel_time_t exptime, rel_time_t now);

/* incr/decr with the meta arithmetic's options. */
struct cache_arith_opts {
    bool incr;
    uint64_t delta;
    uint64_t cas;               /* 0: no check */
    bool vivify;                /* on a miss, store `initial` */
    uint64_t initial;
    rel_time_t vivify_exptime;
    bool touch;                 /* set a new expiry time */
    rel_time_t exptime;
};

struct cache_arith_result {
    uint64_t value;
    uint64_t cas;
    rel_time_t exptime_before;  /* 0 for a vivified item */
    unsigned cls;
    bool created;
};
/*
 * cache_arith with options: CACHE_OK, CACHE_NOT_FOUND, CACHE_NON_NUMERIC,
 * CACHE_EXISTS (cas differs) or CACHE_NO_MEMORY.
 */
enum cache_status cache_arith_ex(const char *key, size_t nkey, const struct cache_arith_opts *o,
                                 rel_time_t now, struct cache_arith_result *res);
/*
 * Invalidate every item stored at or before `when` once `now` reaches it
 * (replacing a flush still to come).  when == now removes every item at
 * once, and so does any past time when CAS is on (memcached's oldest_cas);
 * under -C a past time invalidates the items last touched at or before it.
 */
void cache_flush(rel_time_t when, rel_time_t now);
/* Change the memory budget. */
void cache_set_memlimit(size_t maxbytes);
/* The memory budget in bytes. */
size_t cache_memlimit(void);
/* Sum the storage counters. */
void cache_stats(struct cache_stats *out);
/* One class's figures at `now`; all zero for a class that holds nothing. */
void cache_class_stats(unsigned cls, rel_time_t now, struct cache_class_stats *out);
/* Zero the counters that `stats reset` resets. */
void cache_stats_reset(void);

/* --- administration: memcached's slabs, lru_crawler and cachedump commands --- */

/* Most slab classes; ids are 1..cache_nclasses(), 0 names the pool of free pages. */
#define CACHE_MAX_CLASSES 255

/* A set of class ids, as `lru_crawler crawl|metadump 1,2,3|all` names them. */
struct cache_class_set {
    uint64_t bits[(CACHE_MAX_CLASSES + 64) / 64];
};

static inline void cache_class_set_add(struct cache_class_set *s, unsigned cls)
{
    s->bits[cls / 64] |= 1ULL << (cls % 64);
}

static inline bool cache_class_set_has(const struct cache_class_set *s, unsigned cls)
{
    return (s->bits[cls / 64] >> (cls % 64)) & 1;
}

/* Number of slab classes. */
unsigned cache_nclasses(void);

/* What `slabs reassign` answers; the protocol maps each to memcached's line. */
enum cache_reassign {
    CACHE_REASSIGN_OK,          /* OK: the page moves in the background */
    CACHE_REASSIGN_RUNNING,     /* BUSY currently processing reassign request */
    CACHE_REASSIGN_BADCLASS,    /* BADCLASS invalid src or dst class id */
    CACHE_REASSIGN_NOSPARE,     /* NOSPARE source class has no spare pages */
    CACHE_REASSIGN_SAME,        /* SAME src and dst class are identical */
    CACHE_REASSIGN_DISABLED,    /* CLIENT_ERROR slab reassignment disabled */
};
/* Move one page from class `src` (-1: a class chosen by the cache) to `dst`
 * (0: the pool of free pages). */
enum cache_reassign cache_slabs_reassign(int src, int dst);
/* `slabs automove <level>` (0, 1 or 2) and `slabs automove ratio <r>`. */
void cache_set_automove(unsigned level);
void cache_set_automove_ratio(double ratio);

/* What `lru_crawler crawl|metadump` answers. */
enum cache_crawl {
    CACHE_CRAWL_OK,
    CACHE_CRAWL_RUNNING,        /* BUSY currently processing crawler request */
    CACHE_CRAWL_BADCLASS,       /* BADCLASS invalid class id */
    CACHE_CRAWL_NOTSTARTED,     /* NOTSTARTED no items to crawl */
    CACHE_CRAWL_DISABLED,       /* CLIENT_ERROR lru crawler disabled */
};
/* Reclaim the expired items of these classes in the background. */
enum cache_crawl cache_crawl(const struct cache_class_set *classes);
/* `lru_crawler enable|disable`: 0 or -errno. */
int cache_crawler_enable(bool on);
/* `lru_crawler sleep <us>` and `lru_crawler tocrawl <n>`. */
void cache_crawler_set_sleep(uint32_t us);
void cache_crawler_set_tocrawl(uint32_t n);

/* The settings the commands above change, for `stats settings`. */
struct cache_settings {
    bool slab_reassign;
    unsigned slab_automove;
    double slab_automove_ratio;
    bool lru_crawler;
    uint32_t lru_crawler_sleep;
    uint32_t lru_crawler_tocrawl;
};
void cache_settings(struct cache_settings *out);

/* `stats sizes`: counts of the items stored since tracking was turned on
 * (`stats sizes_enable`), by memcached's size of each in 32-byte steps. */
enum cache_sizes {
    CACHE_SIZES_ENABLED,
    CACHE_SIZES_DISABLED,
    CACHE_SIZES_NO_CAS,         /* memcached needs CAS for it: refused with -C */
};
/* Turn tracking on (as -o track_sizes does at start). */
enum cache_sizes cache_sizes_enable(void);
/* Turn it off and forget the counts. */
void cache_sizes_disable(void);
/* Call fn (if not NULL) for every size with items (size = a multiple of
 * 32); false, and no call, when tracking is off. */
bool cache_sizes_each(void (*fn)(size_t size, uint64_t count, void *arg), void *arg);

/* One item as a walk shows it: copied while the item was held, so the
 * callback runs with no lock a writer could wait for. */
struct cache_item_info {
    char key[ITEM_KEY_MAX];
    size_t nkey;
    bool key_binary;
    rel_time_t exptime;
    rel_time_t atime;           /* last access */
    uint64_t cas;
    bool fetched;
    unsigned cls;
    size_t vlen;
    uint32_t flags;
};

/* A resumable walk over the live items of some classes (metadump,
 * cachedump): the protocol layer keeps it between turns of a connection. */
struct cache_walk {
    struct cache_class_set classes;
    unsigned cls;               /* storage's cursor: opaque to callers */
    uint64_t pos, sub;
    bool done;
};
/* Start a walk over `classes`. */
void cache_walk_start(struct cache_walk *w, const struct cache_class_set *classes);
/* Show up to `max` live items to `fn`; returns how many were shown, and sets
 * w->done when the walk is over.  Items linked or removed during a walk
 * may be shown or not. */
size_t cache_walk_next(struct cache_walk *w, rel_time_t now, size_t max,
                       void (*fn)(const struct cache_item_info *info, void *arg), void *arg);

/* An item as a warm restart (persist.c) brings it back. */
struct cache_restore_item {
    const char *key;
    size_t nkey;
    uint32_t flags;
    rel_time_t exptime;         /* cache time, 0 = never */
    rel_time_t atime;           /* last access, cache time */
    uint64_t cas;
    bool fetched, stale, key_binary;
    const char *value;
    size_t vlen;
};
/* Link a saved item keeping its unique, times and marks (a key already
 * there stays); `hash` is cache_hash() of its key.  CACHE_STORED,
 * CACHE_NOT_STORED, CACHE_TOO_LARGE or CACHE_NO_MEMORY. */
enum cache_status cache_restore(const struct cache_restore_item *r, uint64_t hash,
                                rel_time_t now);
/* Remove every item restored so far and zero the counts of them: a restore
 * that turns out bad part way leaves the cache empty (its pages stay, free). */
void cache_restore_undo(rel_time_t now);
/* Make every unique handed out from now on larger than `cas`. */
void cache_cas_floor(uint64_t cas);
/* Called (under the item's stripe lock: be quick, call nothing in the
 * cache) for every live item eviction removes, while set; NULL: nobody. */
typedef void (*cache_evict_fn)(const struct cache_item_info *info, rel_time_t now);
void cache_watch_evictions(cache_evict_fn fn);
/* Size the hash table for `items` before a bulk load (a warm restart). */
void cache_reserve(uint64_t items);
/* Stop storage's own threads (the page mover, the crawler): once clients
 * are gone too, no item changes any more (a warm-restart save). */
void cache_quiesce(void);
/* Start them again (after a warm-restart load): 0 or -errno. */
int cache_resume(void);

/*
 * Pure incr/decr arithmetic on a value's bytes (no \r\n): parses a decimal
 * unsigned 64-bit number as memcached does.  false if not numeric.
 */
bool cache_arith_apply(const char *val, size_t len, bool incr, uint64_t delta, uint64_t *out);

#endif
