/*
 * cache: memcached's storage semantics over the striped table (table.c),
 * the slab allocator (slab.c) and CLOCK eviction (evict.c).
 *
 * Locking: every operation on a key takes that key's stripe lock, once, and
 * does everything it decides under it: find, check, link, unlink.  Freeing
 * a chunk then takes the thread's own magazine lock (slab.c).  Eviction
 * holds a class's hand lock and only trylocks stripes, so the order stays
 * stripe, then hand, then magazine, then class.  An allocation may run
 * under a stripe lock (append, incr, vivify), and may then evict.
 *
 * Lifetime: the table holds one reference to each linked item.  A reader
 * is shown a hit under the stripe lock (cache_get_visit) and copies it or
 * takes a capped reference there, so an item can be unlinked (replaced,
 * deleted, evicted) while a connection is still writing it out; its chunk
 * returns to its class when that last reference goes.
 *
 * CAS uniques come from a counter per stripe, bumped under the stripe lock,
 * with the stripe's index in the low bits: unique across all keys, rising
 * for each key, and no global counter shared by all writers.
 *
 * flush_all with no delay unlinks everything at once, stripe by stripe, so
 * the memory is free immediately; a delayed flush records the time, and
 * items stored before it are treated as missing once it has come (the
 * crawler and the hand reclaim them).
 */
#include "cache.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "cache_priv.h"
#include "expiry.h"
#include "hash.h"
#include "slab.h"
#include "table.h"

/* Eviction batches one allocation may try before reporting out of memory. */
#define CACHE_EVICT_PASSES 64
/* Chunks an allocation evicts at a time (into its thread's magazine). */
#define CACHE_EVICT_BATCH 8

struct cache_options cache_opts;
uint64_t hash_seed[2];
static _Atomic rel_time_t oldest_live;

int cache_setup(const struct cache_options *opt)
{
    cache_opts = *opt;
    atomic_store(&oldest_live, 0);
    if (getrandom(hash_seed, sizeof(hash_seed), 0) != sizeof(hash_seed)) {
        hash_seed[0] = (uint64_t)(uintptr_t)&hash_seed ^ (uint64_t)opt->started;
        hash_seed[1] = hash_seed[0] * 0x9e3779b97f4a7c15ULL;
    }
    item_layout.cas_bytes = opt->use_cas ? 8 : 0;
    cache_admin_setup(opt);
    struct slab_options so = {
        .maxbytes = opt->maxbytes,
        .factor = opt->factor,
        .min_chunk = opt->min_chunk,
        .chunk_max = opt->slab_chunk_max,
        /* The largest item memcached's -I arithmetic allows, in our layout. */
        .item_size_max = opt->item_size_max + ITEM_HEADER + item_layout.cas_bytes,
        .header = ITEM_HEADER + item_layout.cas_bytes,
    };
    slab_budget_reset();
    int rc = slab_setup(&so);
    if (rc != 0)
        return rc;
    evict_setup();
    rc = table_setup(opt->hashpower);
    if (rc == 0)
        rc = mover_start(opt);
    if (rc == 0)
        rc = crawler_start(opt);
    if (rc != 0) {
        mover_stop();
        table_teardown();
        evict_teardown();
        slab_teardown();
    }
    return rc;
}

void cache_teardown(void)
{
    crawler_stop();
    mover_stop();
    cache_flush(0, 0);
    table_teardown();
    evict_teardown();
    slab_teardown();
    slab_budget_reset();
}

int64_t cache_started(void) { return cache_opts.started; }

bool cache_use_cas(void) { return cache_opts.use_cas; }

bool cache_live(const struct item *it, rel_time_t now, enum cache_miss *why)
{
    if (expiry_passed(item_exptime(it), now)) {
        *why = CACHE_MISS_EXPIRED;
        return false;
    }
    rel_time_t ol = atomic_load_explicit(&oldest_live, memory_order_relaxed);
    if (ol != 0 && ol <= now && item_atime(it) <= ol) {
        *why = CACHE_MISS_FLUSHED;
        return false;
    }
    return true;
}

size_t cache_item_bytes(const struct item *it)
{
    return ITEM_HEADER + item_meta_bytes(it) + it->nkey + item_vlen(it);
}

void cache_mark_read(struct item *it)
{
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    for (;;) {
        uint8_t want = fl | ITEM_FETCHED;
        if ((fl & ITEM_FREQ_MASK) != ITEM_FREQ_MASK)
            want = (uint8_t)(want + ITEM_FREQ_ONE);
        if (want == fl)
            return;     /* already fetched and at the top frequency: no write */
        if (atomic_compare_exchange_weak_explicit(&it->iflags, &fl, want, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

static void set_time(struct item *it, rel_time_t t)
{
    atomic_store_explicit(&it->time, t, memory_order_relaxed);
}

static void set_exptime(struct item *it, rel_time_t t)
{
    atomic_store_explicit(&it->exptime, t, memory_order_relaxed);
}

enum cache_status cache_link(struct table_stripe *s, uint64_t hash, struct item *it,
                             rel_time_t now)
{
    size_t bytes = cache_item_bytes(it);
    if (table_insert(s, hash, it, bytes) != 0)
        return CACHE_NO_MEMORY;
    set_time(it, now);
    item_set_cas(it, cache_opts.use_cas ? table_next_cas(s) : 0);
    item_ref(it);
    /* Release: a walker that sees the link may read the key and the rest. */
    atomic_fetch_or_explicit(&it->iflags, ITEM_LINKED, memory_order_release);
    s->total_items++;
    slab_count_link(item_class(it), 1, bytes);
    cache_sizes_note(it, true);
    evict_note_new(it, hash);
    return CACHE_STORED;
}

void cache_replace(struct table_stripe *s, uint64_t hash, struct item *old, struct item *it,
                   rel_time_t now)
{
    size_t old_bytes = cache_item_bytes(old), bytes = cache_item_bytes(it);
    table_replace(s, hash, old, old_bytes, it, bytes);
    set_time(it, now);
    item_set_cas(it, cache_opts.use_cas ? table_next_cas(s) : 0);
    item_ref(it);
    /* The key keeps its standing with eviction: an overwrite is not a new key. */
    uint8_t freq = atomic_load_explicit(&old->iflags, memory_order_relaxed) & ITEM_FREQ_MASK;
    atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_SMALL, memory_order_relaxed);
    atomic_fetch_or_explicit(&it->iflags, (uint8_t)(ITEM_LINKED | freq), memory_order_release);
    atomic_fetch_and_explicit(&old->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
    s->total_items++;
    unsigned ocls = item_class(old), cls = item_class(it);
    if (ocls == cls) {
        slab_count_bytes(cls, (int64_t)bytes - (int64_t)old_bytes);
    } else {
        slab_count_link(ocls, -1, old_bytes);
        slab_count_link(cls, 1, bytes);
    }
    cache_sizes_note(old, false);
    cache_sizes_note(it, true);
    item_unref(old);
}

void cache_rescue(struct table_stripe *s, uint64_t hash, struct item *old, struct item *it)
{
    size_t bytes = cache_item_bytes(old);
    it->nkey = old->nkey;
    it->size_hi = old->size_hi;
    it->size_lo = old->size_lo;
    memcpy(it->data, old->data, bytes - ITEM_HEADER);
    set_exptime(it, item_exptime(old));
    set_time(it, item_atime(old));
    /* The copy has no place in the small queue: it joins the main part
     * (and is counted in `stats sizes` as the original was). */
    uint8_t marks = atomic_load_explicit(&old->iflags, memory_order_relaxed) &
                    (uint8_t)~(ITEM_LINKED | ITEM_SMALL);
    atomic_store_explicit(&it->iflags, marks, memory_order_relaxed);
    table_replace(s, hash, old, bytes, it, bytes);
    item_ref(it);
    atomic_fetch_or_explicit(&it->iflags, ITEM_LINKED, memory_order_release);
    atomic_fetch_and_explicit(&old->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
    item_unref(old);
}

void cache_unlink(struct table_stripe *s, uint64_t hash, struct item *it)
{
    size_t bytes = cache_item_bytes(it);
    table_remove(s, hash, it, bytes);
    atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
    slab_count_link(item_class(it), -1, bytes);
    cache_sizes_note(it, false);
    item_unref(it);
}

struct item *cache_find(struct table_stripe *s, uint64_t hash, const char *key, size_t nkey,
                        rel_time_t now, enum cache_miss *why)
{
    enum cache_miss dummy;
    struct item *it = table_find(s, hash, key, nkey);
    if (it != NULL && !cache_live(it, now, why ? why : &dummy)) {
        cache_unlink(s, hash, it);
        return NULL;
    }
    return it;
}

/* A chunk of class `cls`, evicting as needed; NULL when nothing can go. */
static struct item *cache_alloc_chunk(unsigned cls, size_t size, size_t vlen, rel_time_t now)
{
    if (cls == slab_large_class()) {
        for (int pass = 0; pass < CACHE_EVICT_PASSES; pass++) {
            struct item *it = slab_alloc_large(size, vlen);
            if (it != NULL)
                return it;
            /* Free pages first: they hold nothing; then large items. */
            if (slab_pool_release(1) == 0 && !evict_large(now, size))
                break;
        }
    } else {
        for (int pass = 0; pass < CACHE_EVICT_PASSES; pass++) {
            struct item *it = slab_alloc(cls);
            if (it != NULL)
                return it;
            if (evict_class(cls, now, CACHE_EVICT_BATCH) == 0 && pass > 0)
                break;
        }
    }
    evict_count_oom(cls);
    mover_wake(cls);
    return NULL;
}

/*
 * Whether an item is within -I, by memcached's own arithmetic (its 48-byte
 * header, the key's NUL, the value's \r\n, 8 bytes of CAS when on, 4 of
 * flags when not 0) so the largest value accepted is the same byte for byte.
 */
bool cache_item_fits(size_t nkey, uint32_t flags, size_t vlen)
{
    size_t mc_total = 48 + nkey + 1 + vlen + 2 + (cache_opts.use_cas ? 8 : 0) + (flags ? 4 : 0);
    return mc_total <= cache_opts.item_size_max;
}

struct item *cache_alloc_at(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                            size_t vlen, rel_time_t now, enum cache_status *err)
{
    size_t size = item_total(nkey, flags, vlen);
    unsigned cls = cache_item_fits(nkey, flags, vlen) ? slab_class_for(size) : 0;
    if (cls == 0) {
        *err = CACHE_TOO_LARGE;
        return NULL;
    }
    struct item *it = cache_alloc_chunk(cls, size, vlen, now);
    if (it == NULL) {
        *err = CACHE_NO_MEMORY;
        return NULL;
    }
    /* The chunk is reserved (refcount 1, ours); a walker may pin it, so the
     * count and flags are left to atomics. */
    set_exptime(it, exptime);
    set_time(it, now);
    it->nkey = (uint8_t)nkey;
    uint32_t bits = cls == slab_large_class() ? ITEM_L_LARGE : (uint32_t)vlen;
    if (flags != 0)
        bits |= ITEM_L_CFLAGS;
    it->size_hi = (uint8_t)(bits >> 16);
    it->size_lo = (uint16_t)bits;
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    item_set_cas(it, 0);
    if (flags != 0)
        memcpy(it->data + item_layout.cas_bytes, &flags, 4);
    memcpy((char *)item_key(it), key, nkey);
    return it;
}

struct item *cache_alloc(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                         size_t vlen, rel_time_t now, enum cache_status *err)
{
    return cache_alloc_at(key, nkey, flags, exptime, vlen, now, err);
}

/* Build the item append/prepend store: old value and new data joined. */
static struct item *cache_join(struct item *old, struct item *it, bool append, rel_time_t now,
                               enum cache_status *err)
{
    size_t olen = item_vlen(old), nlen = item_vlen(it);
    struct item *j = cache_alloc_at(item_key(it), it->nkey, item_flags(old), item_exptime(old),
                                    olen + nlen, now, err);
    if (j == NULL)
        return NULL;
    char *v = item_value(j);
    if (append) {
        memcpy(v, item_cvalue(old), olen);
        memcpy(v + olen, item_cvalue(it), nlen);
    } else {
        memcpy(v, item_cvalue(it), nlen);
        memcpy(v + nlen, item_cvalue(old), olen);
    }
    return j;
}

/* memcached's CAS verdict, taken before the store mode is looked at. */
enum cache_cas { CAS_NONE, CAS_MATCH, CAS_BADVAL, CAS_STALE };

static enum cache_cas cache_cas_check(const struct item *old, uint64_t cas, bool stale_ok)
{
    if (cas == 0)
        return CAS_NONE;
    if (cache_opts.use_cas && cas == item_cas(old))
        return CAS_MATCH;
    if (stale_ok && cas < item_cas(old))
        return CAS_STALE;
    return CAS_BADVAL;
}

/* What a store decides, under the stripe lock, for an existing or missing key. */
static enum cache_status cache_store_decide(struct item *old, struct item *it, enum cache_op op,
                                            uint64_t cas, bool stale_ok, rel_time_t now,
                                            struct item **link)
{
    enum cache_cas verdict = old != NULL ? cache_cas_check(old, cas, stale_ok) : CAS_NONE;
    switch (op) {
    case CACHE_ADD:
        if (old == NULL)
            return CACHE_STORED;
        /* memcached refreshes the item a failed add collided with. */
        set_time(old, now);
        return CACHE_NOT_STORED;
    case CACHE_CAS:
        /* With -C nothing matches, as in memcached. */
        if (old == NULL)
            return CACHE_NOT_FOUND;
        if (verdict == CAS_STALE) {
            /* An older writer may still store, but only as a stale value
             * that keeps the expiry and the win of the one it replaces. */
            set_exptime(it, item_exptime(old));
            uint8_t marks = ITEM_STALE | (item_has(old, ITEM_WIN_SENT) ? ITEM_WIN_SENT : 0);
            atomic_fetch_or_explicit(&it->iflags, marks, memory_order_relaxed);
            return CACHE_STORED;
        }
        return verdict == CAS_MATCH ? CACHE_STORED : CACHE_EXISTS;
    case CACHE_APPEND:
    case CACHE_PREPEND: {
        if (old == NULL)
            return CACHE_NOT_STORED;
        if (verdict != CAS_NONE && verdict != CAS_MATCH)
            return CACHE_EXISTS;
        enum cache_status err;
        *link = cache_join(old, it, op == CACHE_APPEND, now, &err);
        /* memcached: a result over -I is "not stored", no memory is an error. */
        if (*link == NULL)
            return err == CACHE_TOO_LARGE ? CACHE_NOT_STORED : CACHE_NO_MEMORY;
        return CACHE_STORED;
    }
    case CACHE_REPLACE:
        return old == NULL ? CACHE_NOT_STORED : CACHE_STORED;
    case CACHE_SET:
        break;
    }
    return CACHE_STORED;
}

static enum cache_status cache_store_at(struct item *it, uint64_t hash, enum cache_op op,
                                        uint64_t cas, bool stale_ok, rel_time_t now)
{
    struct table_stripe *s = table_stripe(hash);
    struct item *link = it;
    word_lock(&s->lock);
    struct item *old = cache_find(s, hash, item_key(it), it->nkey, now, NULL);
    enum cache_status st = cache_store_decide(old, it, op, cas, stale_ok, now, &link);
    if (st == CACHE_STORED && expiry_passed(item_exptime(link), now)) {
        /* Expired on arrival (a negative or past time): memcached links it
         * and its crawler reclaims it within seconds; it is reclaimed here
         * at once, taking the key's old value with it. */
        if (old != NULL)
            cache_unlink(s, hash, old);
        item_set_cas(it, cache_opts.use_cas ? table_next_cas(s) : 0);
        s->total_items++;
        evict_count_reclaimed(item_class(link));
    } else if (st == CACHE_STORED) {
        if (old != NULL)
            cache_replace(s, hash, old, link, now);
        else
            st = cache_link(s, hash, link, now);
        if (st == CACHE_STORED)
            item_set_cas(it, item_cas(link));
    }
    word_unlock(&s->lock);
    if (link != it && link != NULL)
        item_unref(link);
    return st;
}

enum cache_status cache_store(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                              rel_time_t now)
{
    return cache_store_at(it, hash, op, cas, false, now);
}

enum cache_status cache_store_stale(struct item *it, uint64_t hash, enum cache_op op, uint64_t cas,
                                    rel_time_t now)
{
    return cache_store_at(it, hash, op, cas, true, now);
}

/* Find a live key under its stripe lock and count the read; with `touch`, set a new expiry. */
static struct item *cache_read_locked(struct table_stripe *s, uint64_t hash, const char *key,
                                      size_t nkey, const rel_time_t *touch, rel_time_t now,
                                      enum cache_miss *why)
{
    struct item *it = cache_find(s, hash, key, nkey, now, why);
    if (it == NULL)
        return NULL;
    /* A read after the first refreshes last access, as memcached's bump does. */
    if (item_has(it, ITEM_FETCHED))
        set_time(it, now);
    if (touch != NULL) {
        set_exptime(it, *touch);
        set_time(it, now);
    }
    cache_mark_read(it);
    return it;
}

static bool cache_visit(const char *key, size_t nkey, uint64_t hash, const rel_time_t *touch,
                        rel_time_t now, enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    struct table_stripe *s = table_stripe(hash);
    *why = CACHE_MISS_NONE;
    word_lock(&s->lock);
    struct item *it = cache_read_locked(s, hash, key, nkey, touch, now, why);
    if (it != NULL)
        fn(it, arg);
    word_unlock(&s->lock);
    return it != NULL;
}

bool cache_get_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t now,
                     enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    return cache_visit(key, nkey, hash, NULL, now, why, fn, arg);
}

bool cache_touch_visit(const char *key, size_t nkey, uint64_t hash, rel_time_t exptime,
                       rel_time_t now, enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    return cache_visit(key, nkey, hash, &exptime, now, why, fn, arg);
}

void cache_prefetch(uint64_t hash) { table_prefetch(hash); }

void cache_prefetch_items(uint64_t hash) { table_prefetch_items(hash); }

enum cache_status cache_touch(const char *key, size_t nkey, rel_time_t exptime, rel_time_t now,
                              unsigned *cls)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_miss why;
    word_lock(&s->lock);
    struct item *it = cache_read_locked(s, hash, key, nkey, &exptime, now, &why);
    if (it != NULL && cls != NULL)
        *cls = item_class(it);
    word_unlock(&s->lock);
    return it != NULL ? CACHE_OK : CACHE_NOT_FOUND;
}

enum cache_status cache_delete(const char *key, size_t nkey, rel_time_t now, unsigned *cls)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it != NULL) {
        if (cls != NULL)
            *cls = item_class(it);
        cache_unlink(s, hash, it);
    }
    word_unlock(&s->lock);
    return it != NULL ? CACHE_DELETED : CACHE_NOT_FOUND;
}

void cache_flush(rel_time_t when, rel_time_t now)
{
    /* A time still to come waits for it, replacing any earlier one.  Past
     * times are memcached's too: with CAS it invalidates everything stored
     * before the flush (its oldest_cas); without, only the items last
     * touched at or before that time. */
    if (when > now || (!cache_opts.use_cas && when < now)) {
        atomic_store(&oldest_live, when);
        return;
    }
    atomic_store(&oldest_live, 0);
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        word_lock(&s->lock);
        for (uint32_t k = 0; k < s->nbuckets * TABLE_BUCKET_SLOTS; k++) {
            struct item *it = table_slot(s, k);
            if (it != NULL)
                cache_unlink(s, hash_key(item_key(it), it->nkey), it);
        }
        word_unlock(&s->lock);
    }
}

void cache_set_memlimit(size_t maxbytes) { slab_set_limit(maxbytes); }

size_t cache_memlimit(void) { return slab_mem_limit(); }

void cache_stats(struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t slots = 0;
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        word_lock(&s->lock);
        out->curr_items += s->count;
        out->bytes += s->bytes;
        out->total_items += s->total_items;
        slots += (uint64_t)s->nbuckets * TABLE_BUCKET_SLOTS;
        word_unlock(&s->lock);
    }
    out->hash_buckets = slots;
    out->hash_bytes = slots * sizeof(uint64_t);
    while ((1ULL << out->hash_power_level) < slots)
        out->hash_power_level++;
    for (unsigned c = 1; c <= slab_large_class(); c++) {
        struct cache_class_counters k;
        evict_counters(c, &k);
        out->evictions += k.evicted;
        out->reclaimed += k.reclaimed;
        out->expired_unfetched += k.expired_unfetched;
        out->evicted_unfetched += k.evicted_unfetched;
        out->evicted_active += k.evicted_active;
        out->lrutail_reflocked += k.lrutail_reflocked;
        out->moves_within_lru += k.moves_within_lru;
        struct slab_class_stats st;
        slab_class_stats(c, &st);
        out->malloced += c == slab_large_class() ? st.large_bytes : st.used * st.chunk_size;
        out->total_malloced += c == slab_large_class() ? st.large_bytes
                                                       : st.pages * SLAB_PAGE_SIZE;
    }
    out->slab_global_page_pool = slab_pool_pages();
    out->total_malloced += out->slab_global_page_pool * SLAB_PAGE_SIZE;
    out->limit_maxbytes = slab_mem_limit();
    mover_stats(out);
    crawler_stats(out);
}

void cache_stats_reset(void)
{
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        word_lock(&s->lock);
        s->total_items = 0;
        word_unlock(&s->lock);
    }
    evict_counters_reset();
}
