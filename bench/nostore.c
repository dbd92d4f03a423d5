/*
 * nostore: the storage API (storage/cache.h) with no storage behind it, for
 * mcd-nostore, the no-storage responder of `make bench` (bench/README.md).
 *
 * mcd-nostore is mcd's own server and protocol layers linked against this
 * file instead of storage/: every request is read, parsed and answered by
 * the code mcd runs, but a get finds a fixed value without a table, a lock
 * or a hash, and a set's data is read into an item that is then dropped.
 * Its CPU per request is the floor for mcd's: what mcd spends beyond it is
 * the cost of actually storing.
 *
 * Every get hits, with NOSTORE_VALUE_LEN bytes (the throughput workloads'
 * -d 32); the values are not the keys' own, so mcd-bench runs against it
 * with --no-verify.  Items are what the protocol layer expects (the key,
 * the flags, the value; readers may take references), built in buffers
 * each worker thread reuses, so a request costs no malloc.  Nothing else
 * is kept: deletes, touches and arithmetic find nothing, stats are zeros.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "hash.h"
#include "persist.h"

/* The value every get finds. */
#define NOSTORE_VALUE_LEN 32
/* Items whose key, flags and value fit this are reused from a thread's list. */
#define NOSTORE_SMALL 1024

struct item_layout_info item_layout = { .cas_bytes = 8, .large_class = 1 };
uint64_t hash_seed[2];

static struct cache_options opts;
static const char fixed_value[NOSTORE_VALUE_LEN] = "nostore-value-of-every-key-32-b";
static _Atomic uint64_t next_cas;

/*
 * Each item is laid out as a large item (a struct item_large in front
 * holds its value length), so it needs no slab page; small ones come from
 * and go back to the calling thread's free list.
 */
struct stub_buf {
    struct stub_buf *next;      /* on the free list */
    size_t cap;                 /* bytes after the item header */
};
#define STUB_ROOM(cap) (sizeof(struct stub_buf) + sizeof(struct item_large) + ITEM_HEADER + (cap))

static __thread struct stub_buf *free_small;

static struct item *stub_item(const char *key, size_t nkey, uint32_t flags, size_t vlen)
{
    size_t need = 8 + 4 + nkey + vlen;
    struct stub_buf *b;
    if (need <= NOSTORE_SMALL && free_small != NULL) {
        b = free_small;
        free_small = b->next;
    } else {
        size_t cap = need <= NOSTORE_SMALL ? NOSTORE_SMALL : need;
        b = malloc(STUB_ROOM(cap));
        if (b == NULL)
            return NULL;
        b->cap = cap;
    }
    struct item_large *l = (struct item_large *)(b + 1);
    l->vlen = (uint32_t)vlen;
    struct item *it = (struct item *)(l + 1);
    atomic_store_explicit(&it->exptime, 0, memory_order_relaxed);
    atomic_store_explicit(&it->time, 0, memory_order_relaxed);
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    it->nkey = (uint8_t)nkey;
    uint32_t bits = ITEM_L_LARGE | (flags != 0 ? ITEM_L_CFLAGS : 0);
    it->size_hi = (uint8_t)(bits >> 16);
    it->size_lo = (uint16_t)bits;
    item_set_cas(it, 0);
    if (flags != 0)
        memcpy(it->data + 8, &flags, 4);
    memcpy((char *)item_key(it), key, nkey);
    return it;
}

void item_unref(struct item *it)
{
    if (atomic_fetch_sub_explicit(&it->refcount, 1, memory_order_acq_rel) != 1)
        return;
    struct stub_buf *b = (struct stub_buf *)item_large_of(it) - 1;
    if (b->cap > NOSTORE_SMALL) {
        free(b);
        return;
    }
    b->next = free_small;
    free_small = b;
}

/* A get finds the fixed value under the key asked for. */
static struct item *stub_hit(const char *key, size_t nkey)
{
    struct item *it = stub_item(key, nkey, 0, NOSTORE_VALUE_LEN);
    if (it != NULL) {
        memcpy(item_value(it), fixed_value, NOSTORE_VALUE_LEN);
        item_set_cas(it, 1);
    }
    return it;
}

int cache_setup(const struct cache_options *opt)
{
    opts = *opt;
    item_layout.cas_bytes = 8;  /* the layout keeps room for it; -C only hides it */
    return 0;
}

void cache_teardown(void) {}

int64_t cache_started(void) { return opts.started; }

bool cache_use_cas(void) { return opts.use_cas; }

struct item *cache_alloc(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                         size_t vlen, rel_time_t now, enum cache_status *err)
{
    (void)exptime;
    (void)now;
    if (vlen > opts.item_size_max) {
        *err = CACHE_TOO_LARGE;
        return NULL;
    }
    struct item *it = stub_item(key, nkey, flags, vlen);
    if (it == NULL)
        *err = CACHE_NO_MEMORY;
    return it;
}

/* A set is answered as stored, and its item dropped by the caller. */
enum cache_status cache_store(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                              rel_time_t now)
{
    (void)hash;
    (void)op;
    (void)cas;
    (void)now;
    item_set_cas(it, atomic_fetch_add_explicit(&next_cas, 1, memory_order_relaxed) + 1);
    return CACHE_STORED;
}

enum cache_status cache_store_stale(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                                    rel_time_t now)
{
    return cache_store(it, hash, op, cas, now);
}

bool cache_get_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t now,
                     enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    (void)hash;
    (void)now;
    *why = CACHE_MISS_NONE;
    struct item *it = stub_hit(key, nkey);
    if (it == NULL)
        return false;
    fn(it, arg);
    item_unref(it);
    return true;
}

bool cache_touch_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t exptime,
                       rel_time_t now, enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    (void)exptime;
    return cache_get_visit(key, nkey, hash, now, why, fn, arg);
}

/* Nothing to prefetch. */
void cache_prefetch(uint64_t hash) { (void)hash; }

void cache_prefetch_items(uint64_t hash) { (void)hash; }

void cache_fetch(const char *key, size_t nkey, uint64_t hash, const struct cache_fetch_opts *o,
                 rel_time_t now, struct cache_fetch *out,
                 void (*fn)(const struct cache_fetch *f, void *arg), void *arg)
{
    (void)hash;
    (void)o;
    memset(out, 0, sizeof(*out));
    struct item *it = stub_hit(key, nkey);
    if (it == NULL)
        return;
    out->found = true;
    out->atime = now;
    out->cas = 1;
    out->vlen = NOSTORE_VALUE_LEN;
    out->cls = item_layout.large_class;
    out->it = it;
    fn(out, arg);
    out->it = NULL;
    item_unref(it);
}

bool cache_peek(const char *key, size_t nkey, rel_time_t now, struct cache_fetch *out)
{
    (void)key;
    (void)nkey;
    (void)now;
    memset(out, 0, sizeof(*out));
    return false;
}

/* --- nothing is kept, so nothing else is found --- */

enum cache_status cache_touch(const char *key, size_t nkey, rel_time_t exptime, rel_time_t now,
                              unsigned *cls)
{
    (void)key, (void)nkey, (void)exptime, (void)now, (void)cls;
    return CACHE_NOT_FOUND;
}

enum cache_status cache_delete(const char *key, size_t nkey, rel_time_t now, unsigned *cls)
{
    (void)key, (void)nkey, (void)now, (void)cls;
    return CACHE_NOT_FOUND;
}

enum cache_status cache_delete_cas(const char *key, size_t nkey, const uint64_t *cas,
                                   rel_time_t now, unsigned *cls)
{
    (void)key, (void)nkey, (void)cas, (void)now, (void)cls;
    return CACHE_NOT_FOUND;
}

enum cache_status cache_mark_stale(const char *key, size_t nkey, const uint64_t *cas, bool touch,
                                   rel_time_t exptime, rel_time_t now)
{
    (void)key, (void)nkey, (void)cas, (void)touch, (void)exptime, (void)now;
    return CACHE_NOT_FOUND;
}

enum cache_status cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
                              rel_time_t now, uint64_t *value, unsigned *cls)
{
    (void)key, (void)nkey, (void)incr, (void)delta, (void)now, (void)value, (void)cls;
    return CACHE_NOT_FOUND;
}

enum cache_status cache_arith_ex(const char *key, size_t nkey, const struct cache_arith_opts *o,
                                 rel_time_t now, struct cache_arith_result *res)
{
    (void)key, (void)nkey, (void)o, (void)now;
    memset(res, 0, sizeof(*res));
    return CACHE_NOT_FOUND;
}

void cache_flush(rel_time_t when, rel_time_t now) { (void)when, (void)now; }

/* --- settings and statistics: what a server with nothing in it reports --- */

void cache_set_memlimit(size_t maxbytes) { opts.maxbytes = maxbytes; }

size_t cache_memlimit(void) { return opts.maxbytes; }

void cache_stats(struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->limit_maxbytes = opts.maxbytes;
}

unsigned cache_nclasses(void) { return 1; }

void cache_class_stats(unsigned cls, rel_time_t now, struct cache_class_stats *out)
{
    (void)cls, (void)now;
    memset(out, 0, sizeof(*out));
}

void cache_stats_reset(void) {}

enum cache_reassign cache_slabs_reassign(int src, int dst)
{
    (void)src, (void)dst;
    return CACHE_REASSIGN_DISABLED;
}

void cache_set_automove(unsigned level) { (void)level; }

void cache_set_automove_ratio(double ratio) { (void)ratio; }

enum cache_crawl cache_crawl(const struct cache_class_set *classes)
{
    (void)classes;
    return CACHE_CRAWL_DISABLED;
}

int cache_crawler_enable(bool on)
{
    (void)on;
    return 0;
}

void cache_crawler_set_sleep(uint32_t us) { (void)us; }

void cache_crawler_set_tocrawl(uint32_t n) { (void)n; }

void cache_settings(struct cache_settings *out) { memset(out, 0, sizeof(*out)); }

enum cache_sizes cache_sizes_enable(void) { return CACHE_SIZES_DISABLED; }

void cache_sizes_disable(void) {}

bool cache_sizes_each(void (*fn)(size_t size, uint64_t count, void *arg), void *arg)
{
    (void)fn, (void)arg;
    return false;
}

void cache_walk_start(struct cache_walk *w, const struct cache_class_set *classes)
{
    memset(w, 0, sizeof(*w));
    w->classes = *classes;
    w->done = true;
}

size_t cache_walk_next(struct cache_walk *w, rel_time_t now, size_t max,
                       void (*fn)(const struct cache_item_info *info, void *arg), void *arg)
{
    (void)now, (void)max, (void)fn, (void)arg;
    w->done = true;
    return 0;
}

/* Warm restart and eviction watching: nothing is kept, so nothing is saved,
 * restored or evicted. */
void cache_watch_evictions(cache_evict_fn fn) { (void)fn; }

int persist_save(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, bool skip_mapped, struct persist_report *rep)
{
    (void)path, (void)id, (void)now, (void)wall, (void)threads, (void)skip_mapped;
    memset(rep, 0, sizeof(*rep));
    return 0;
}

int persist_load(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, struct persist_report *rep)
{
    (void)path, (void)id, (void)now, (void)wall, (void)threads;
    memset(rep, 0, sizeof(*rep));
    snprintf(rep->why, sizeof(rep->why), "the no-storage responder keeps nothing");
    return -1;
}

void persist_release_wait(void) {}

void cache_quiesce(void) {}

int cache_resume(void) { return 0; }

int persist_map_start(const char *path, const struct persist_identity *id, rel_time_t now,
                      int64_t wall, unsigned threads, bool *mapped, struct persist_report *rep)
{
    *mapped = false;
    return persist_load(path, id, now, wall, threads, rep);
}

int persist_map_save(const char *path, const struct persist_identity *id, rel_time_t now,
                     int64_t wall, unsigned threads, struct persist_report *rep)
{
    return persist_save(path, id, now, wall, threads, false, rep);
}
