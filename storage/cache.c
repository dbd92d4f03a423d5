/*
 * cache: memcached's storage semantics over the striped table, the per-class
 * LRU lists and the slab allocator.
 *
 * Locking: every operation on a key takes that key's stripe lock, once.
 * Linking and unlinking also take the item's LRU shard lock (lru.h), inside the stripe
 * lock.  Eviction starts from the LRU side, so it only trylocks stripes and
 * skips an item whose stripe is busy — the order stays stripe → LRU.
 *
 * Lifetime: the table holds one reference to each linked item.  A reader
 * takes its reference under the stripe lock, so an item can be unlinked
 * (replaced, deleted, evicted) while a connection is still writing it out;
 * its memory returns to the budget when that last reference goes.
 *
 * CAS uniques come from a counter per stripe, bumped under the stripe lock,
 * with the stripe's index in the low bits: unique across all keys, rising
 * for each key, and no global counter shared by all writers.
 *
 * flush_all with no delay unlinks everything at once, stripe by stripe, so
 * the memory is free immediately; a delayed flush records the time, and
 * items stored before it are treated as missing once it has come.
 */
#include "cache.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cache_priv.h"
#include "expiry.h"
#include "hash.h"
#include "lru.h"
#include "slab.h"
#include "table.h"

/* Inactive tail items one eviction pass looks at before giving up. */
#define CACHE_EVICT_SCAN 5
/* Eviction passes one allocation may make before reporting out of memory. */
#define CACHE_EVICT_PASSES 20000

static struct cache_options opts;
static _Atomic rel_time_t oldest_live;

int cache_setup(const struct cache_options *opt)
{
    opts = *opt;
    atomic_store(&oldest_live, 0);
    cache_admin_setup(opt);
    struct slab_options so = {
        .maxbytes = opt->maxbytes,
        .factor = opt->factor,
        .min_chunk = opt->min_chunk,
        /* Room for our header beyond what memcached's -I arithmetic allows. */
        .item_size_max = opt->item_size_max + sizeof(struct item),
        .header_size = sizeof(struct item),
    };
    int rc = slab_setup(&so);
    if (rc != 0)
        return rc;
    lru_setup(slab_nclasses(), opt->lru_shards);
    rc = table_setup(opt->hashpower);
    if (rc != 0) {
        lru_teardown();
        slab_teardown();
    }
    return rc;
}

void cache_teardown(void)
{
    cache_flush(0, 0);
    table_teardown();
    lru_teardown();
    slab_teardown();
}

int64_t cache_started(void) { return opts.started; }

bool cache_use_cas(void) { return opts.use_cas; }

void item_unref(struct item *it)
{
    if (atomic_fetch_sub_explicit(&it->refcount, 1, memory_order_acq_rel) == 1)
        slab_free(it, it->clsid, it->slab_shard);
}

bool cache_live(const struct item *it, rel_time_t now, enum cache_miss *why)
{
    if (expiry_passed(it->exptime, now)) {
        *why = CACHE_MISS_EXPIRED;
        return false;
    }
    rel_time_t ol = atomic_load_explicit(&oldest_live, memory_order_relaxed);
    if (ol != 0 && ol <= now && it->time <= ol) {
        *why = CACHE_MISS_FLUSHED;
        return false;
    }
    return true;
}

/* Stamp a new item and put it in a locked stripe's table, which holds a
 * reference to it from now on; the caller puts it on its LRU list. */
static void cache_table_add(struct table_stripe *s, struct item *it, rel_time_t now)
{
    it->time = now;
    it->cas = opts.use_cas ? table_next_cas(s) : 0;
    item_ref(it);
    atomic_fetch_or_explicit(&it->iflags, ITEM_LINKED, memory_order_relaxed);
    table_insert(s, it);
    s->total_items++;
}

void cache_link(struct table_stripe *s, struct item *it, rel_time_t now)
{
    cache_table_add(s, it, now);
    lru_link(it);
}

/*
 * Put `it` in place of `old` (same key) in a locked stripe.  Same class —
 * the common overwrite — means the same LRU shard, so one hold of its lock
 * does both list moves.
 */
void cache_replace(struct table_stripe *s, struct item *old, struct item *it, rel_time_t now)
{
    if (old->clsid != it->clsid) {
        cache_unlink(s, old);
        cache_link(s, it, now);
        return;
    }
    table_remove(s, old);
    atomic_fetch_and_explicit(&old->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
    cache_table_add(s, it, now);
    lru_replace(old, it);
    item_unref(old);
}

void cache_unlink(struct table_stripe *s, struct item *it)
{
    table_remove(s, it);
    lru_unlink(it);
    atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
    item_unref(it);
}

struct item *cache_find(struct table_stripe *s, uint32_t hash, const char *key,
                               size_t nkey, rel_time_t now, enum cache_miss *why)
{
    enum cache_miss dummy;
    struct item *it = table_find(s, hash, key, nkey);
    if (it != NULL && !cache_live(it, now, why ? why : &dummy)) {
        cache_unlink(s, it);
        return NULL;
    }
    return it;
}

/*
 * One eviction pass over one LRU shard: reclaim an expired item or evict the
 * first inactive, unreferenced one near its tail.  true if one went.
 */
static bool cache_evict_shard(struct lru *l, rel_time_t now)
{
    pthread_mutex_lock(&l->lock);
    struct item *it = l->tail;
    /* Second chances do not count against the scan: each one clears a bit,
     * so a list of only active items yields a victim within one lap. */
    for (int checked = 0; it != NULL && checked < CACHE_EVICT_SCAN;) {
        struct item *prev = it->prev;
        enum cache_miss why = CACHE_MISS_NONE;
        bool dead = !cache_live(it, now, &why);
        uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
        if (!dead && (fl & ITEM_ACTIVE) && opts.evict_to_free) {
            /* Second chance: recently read, so move it to the head. */
            atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_ACTIVE, memory_order_relaxed);
            lru_remove_locked(l, it);
            lru_push_head_locked(l, it);
            l->stats.moves_within_lru++;
            it = prev != NULL ? prev : l->tail;
            continue;
        }
        checked++;
        if (!dead && !opts.evict_to_free) {
            it = prev;
            continue;
        }
        struct table_stripe *s = table_stripe(it->hash);
        if (pthread_mutex_trylock(&s->lock) != 0) {
            it = prev;
            continue;
        }
        if (atomic_load_explicit(&it->refcount, memory_order_acquire) > 1) {
            l->stats.lrutail_reflocked++;
            pthread_mutex_unlock(&s->lock);
            it = prev;
            continue;
        }
        if (dead) {
            l->stats.reclaimed++;
            if (!(fl & ITEM_FETCHED))
                l->stats.expired_unfetched++;
        } else {
            l->stats.evicted++;
            if (it->exptime != 0)
                l->stats.evicted_nonzero++;
            if (!(fl & ITEM_FETCHED))
                l->stats.evicted_unfetched++;
            l->stats.evicted_time = now - it->time;
        }
        table_remove(s, it);
        lru_remove_locked(l, it);
        atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_LINKED, memory_order_relaxed);
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_unlock(&l->lock);
        item_unref(it);
        return true;
    }
    pthread_mutex_unlock(&l->lock);
    return false;
}

/*
 * One eviction pass over class `cls`.  Each thread takes the class's shards
 * round-robin from where it last stopped (a thread-local cursor: no shared
 * write on the eviction path), moving on while a shard yields nothing.
 */
static bool cache_evict_one(unsigned cls, rel_time_t now)
{
    static __thread unsigned cursor;
    unsigned n = lru_nshards();
    for (unsigned i = 0; i < n; i++) {
        unsigned shard = cursor++ & (n - 1);
        if (cache_evict_shard(lru_of(cls, shard), now))
            return true;
    }
    return false;
}

/* Evict from the class holding the most memory, other than `skip`. */
static bool cache_evict_elsewhere(unsigned skip, rel_time_t now)
{
    unsigned best = 0;
    uint64_t best_bytes = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct slab_class_stats st;
        slab_class_stats(c, &st);
        uint64_t b = st.used_chunks * st.chunk_size;
        if (c != skip && b > best_bytes) {
            best = c;
            best_bytes = b;
        }
    }
    return best != 0 && cache_evict_one(best, now);
}

static void *cache_alloc_chunk(unsigned cls, rel_time_t now, uint8_t *shard)
{
    for (int pass = 0; pass < CACHE_EVICT_PASSES; pass++) {
        void *p = slab_alloc(cls, shard);
        if (p != NULL)
            return p;
        if (!cache_evict_one(cls, now) && !cache_evict_elsewhere(cls, now))
            break;
    }
    /* Counted on the first shard: a class's counters are summed anyway. */
    struct lru *l = lru_of(cls, 0);
    pthread_mutex_lock(&l->lock);
    l->stats.outofmemory++;
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/*
 * Whether an item is within -I, by memcached's own arithmetic (its 48-byte
 * header, the key's NUL, 8 bytes of CAS when on, 4 of flags when not 0) so the largest value
 * accepted is the same byte for byte, whatever our header's size.
 */
bool cache_item_fits(size_t nkey, uint32_t flags, size_t vlen)
{
    /* memcached stores the value with its "\r\n". */
    size_t mc_total = 48 + nkey + 1 + vlen + 2 + (opts.use_cas ? 8 : 0) + (flags ? 4 : 0);
    return mc_total <= opts.item_size_max;
}

struct item *cache_alloc_at(const char *key, size_t nkey, uint32_t hash, uint32_t flags,
                                   rel_time_t exptime, size_t nbytes, rel_time_t now,
                                   enum cache_status *err)
{
    unsigned cls = cache_item_fits(nkey, flags, nbytes) ? slab_class_for(item_total(nkey, nbytes))
                                                        : 0;
    if (cls == 0) {
        *err = CACHE_TOO_LARGE;
        return NULL;
    }
    uint8_t shard;
    struct item *it = cache_alloc_chunk(cls, now, &shard);
    if (it == NULL) {
        *err = CACHE_NO_MEMORY;
        return NULL;
    }
    it->h_next = it->prev = it->next = NULL;
    it->cas = 0;
    it->exptime = exptime;
    it->time = now;
    it->flags = flags;
    it->nbytes = (uint32_t)nbytes;
    it->hash = hash;
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    it->nkey = (uint8_t)nkey;
    it->clsid = (uint8_t)cls;
    it->slab_shard = shard;
    memcpy(it->data, key, nkey);
    return it;
}

struct item *cache_alloc(const char *key, size_t nkey, uint32_t flags, rel_time_t exptime,
                         size_t nbytes, rel_time_t now, enum cache_status *err)
{
    return cache_alloc_at(key, nkey, hash_key(key, nkey), flags, exptime, nbytes, now, err);
}

/* Build the item append/prepend store: old value and new data joined. */
static struct item *cache_join(struct item *old, struct item *it, bool append, rel_time_t now,
                               enum cache_status *err)
{
    size_t olen = old->nbytes, nlen = it->nbytes;
    struct item *j = cache_alloc_at(item_key(it), it->nkey, it->hash, old->flags, old->exptime,
                                    olen + nlen, now, err);
    if (j == NULL)
        return NULL;
    char *v = item_value(j);
    if (append) {
        memcpy(v, item_value(old), olen);
        memcpy(v + olen, item_value(it), nlen);
    } else {
        memcpy(v, item_value(it), nlen);
        memcpy(v + nlen, item_value(old), olen);
    }
    return j;
}

/* memcached's CAS verdict, taken before the store mode is looked at. */
enum cache_cas { CAS_NONE, CAS_MATCH, CAS_BADVAL, CAS_STALE };

static enum cache_cas cache_cas_check(const struct item *old, uint64_t cas, bool stale_ok)
{
    if (cas == 0)
        return CAS_NONE;
    if (opts.use_cas && cas == old->cas)
        return CAS_MATCH;
    if (stale_ok && cas < old->cas)
        return CAS_STALE;
    return CAS_BADVAL;
}

static enum cache_status cache_store_at(struct item *it, enum cache_op op, uint64_t cas,
                                        bool stale_ok, rel_time_t now)
{
    struct table_stripe *s = table_stripe(it->hash);
    enum cache_status st = CACHE_STORED;
    struct item *link = it;
    pthread_mutex_lock(&s->lock);
    struct item *old = cache_find(s, it->hash, item_key(it), it->nkey, now, NULL);
    enum cache_cas verdict = old != NULL ? cache_cas_check(old, cas, stale_ok) : CAS_NONE;
    switch (op) {
    case CACHE_ADD:
        if (old != NULL) {
            /* memcached refreshes the item a failed add collided with. */
            old->time = now;
            st = CACHE_NOT_STORED;
        }
        break;
    case CACHE_CAS:
        /* With -C nothing matches, as in memcached. */
        if (old == NULL) {
            st = CACHE_NOT_FOUND;
        } else if (verdict == CAS_STALE) {
            /* An older writer may still store, but only as a stale value
             * that keeps the expiry and the win of the one it replaces. */
            it->exptime = old->exptime;
            item_mark_new(it, ITEM_STALE);
            if (item_has(old, ITEM_WIN_SENT))
                item_mark_new(it, ITEM_WIN_SENT);
        } else if (verdict != CAS_MATCH) {
            st = CACHE_EXISTS;
        }
        break;
    case CACHE_APPEND:
    case CACHE_PREPEND:
        if (old == NULL) {
            st = CACHE_NOT_STORED;
        } else if (verdict != CAS_NONE && verdict != CAS_MATCH) {
            st = CACHE_EXISTS;
        } else {
            enum cache_status err;
            link = cache_join(old, it, op == CACHE_APPEND, now, &err);
            /* memcached: a result over -I is "not stored", no memory is an error. */
            if (link == NULL)
                st = err == CACHE_TOO_LARGE ? CACHE_NOT_STORED : CACHE_NO_MEMORY;
        }
        break;
    case CACHE_REPLACE:
        if (old == NULL)
            st = CACHE_NOT_STORED;
        break;
    case CACHE_SET:
        break;
    }
    if (st == CACHE_STORED) {
        if (old != NULL)
            cache_replace(s, old, link, now);
        else
            cache_link(s, link, now);
        it->cas = link->cas;
    }
    pthread_mutex_unlock(&s->lock);
    if (link != it && link != NULL)
        item_unref(link);
    return st;
}

enum cache_status cache_store(struct item *it, enum cache_op op, uint64_t cas, rel_time_t now)
{
    return cache_store_at(it, op, cas, false, now);
}

enum cache_status cache_store_stale(struct item *it, enum cache_op op, uint64_t cas, rel_time_t now)
{
    return cache_store_at(it, op, cas, true, now);
}

void cache_mark_read(struct item *it)
{
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    if ((fl & (ITEM_FETCHED | ITEM_ACTIVE)) != (ITEM_FETCHED | ITEM_ACTIVE))
        atomic_fetch_or_explicit(&it->iflags, ITEM_FETCHED | ITEM_ACTIVE, memory_order_relaxed);
}

/* Find a live key under its stripe lock and count the read; with `touch`, set a new expiry. */
static struct item *cache_read_locked(struct table_stripe *s, uint32_t hash, const char *key,
                                      size_t nkey, const rel_time_t *touch, rel_time_t now,
                                      enum cache_miss *why)
{
    struct item *it = cache_find(s, hash, key, nkey, now, why);
    if (it == NULL)
        return NULL;
    /* A read after the first refreshes last access, as memcached's bump does. */
    if (item_has(it, ITEM_FETCHED))
        it->time = now;
    if (touch != NULL) {
        it->exptime = *touch;
        it->time = now;
    }
    cache_mark_read(it);
    return it;
}

static bool cache_visit(const char *key, size_t nkey, const rel_time_t *touch, rel_time_t now,
                        enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    uint32_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    *why = CACHE_MISS_NONE;
    pthread_mutex_lock(&s->lock);
    struct item *it = cache_read_locked(s, hash, key, nkey, touch, now, why);
    if (it != NULL)
        fn(it, arg);
    pthread_mutex_unlock(&s->lock);
    return it != NULL;
}

bool cache_get_visit(const char *key, size_t nkey, rel_time_t now, enum cache_miss *why,
                     cache_visit_fn fn, void *arg)
{
    return cache_visit(key, nkey, NULL, now, why, fn, arg);
}

bool cache_touch_visit(const char *key, size_t nkey, rel_time_t exptime, rel_time_t now,
                       enum cache_miss *why, cache_visit_fn fn, void *arg)
{
    return cache_visit(key, nkey, &exptime, now, why, fn, arg);
}

enum cache_status cache_touch(const char *key, size_t nkey, rel_time_t exptime, rel_time_t now,
                              unsigned *cls)
{
    uint32_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_miss why;
    pthread_mutex_lock(&s->lock);
    struct item *it = cache_read_locked(s, hash, key, nkey, &exptime, now, &why);
    if (it != NULL && cls != NULL)
        *cls = it->clsid;
    pthread_mutex_unlock(&s->lock);
    return it != NULL ? CACHE_OK : CACHE_NOT_FOUND;
}

enum cache_status cache_delete(const char *key, size_t nkey, rel_time_t now, unsigned *cls)
{
    uint32_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    pthread_mutex_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it != NULL) {
        if (cls != NULL)
            *cls = it->clsid;
        cache_unlink(s, it);
    }
    pthread_mutex_unlock(&s->lock);
    return it != NULL ? CACHE_DELETED : CACHE_NOT_FOUND;
}

static bool arith_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool cache_arith_apply(const char *val, size_t len, bool incr, uint64_t delta, uint64_t *out)
{
    /* As strtoull: leading space, a sign, digits; then space or the end. */
    size_t i = 0;
    while (i < len && arith_space(val[i]))
        i++;
    bool neg = false;
    if (i < len && (val[i] == '+' || val[i] == '-'))
        neg = val[i++] == '-';
    size_t start = i;
    uint64_t v = 0;
    for (; i < len && val[i] >= '0' && val[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(val[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == start || (i < len && !arith_space(val[i])))
        return false;
    if (neg) {
        v = -v;
        if ((int64_t)v < 0)
            return false;
    }
    if (incr)
        v += delta;
    else
        v = delta > v ? 0 : v - delta;
    *out = v;
    return true;
}

/* Replace a number in place, or link a new item holding it; `buf` has `n` digits. */
static enum cache_status cache_arith_write(struct table_stripe *s, struct item *it,
                                           const char *buf, size_t n, rel_time_t now,
                                           bool *in_place, uint64_t *cas)
{
    if (n <= it->nbytes && atomic_load_explicit(&it->refcount, memory_order_acquire) == 1) {
        /* Fits and nobody is reading it: rewrite in place, space-padded
         * to the old length as memcached does. */
        memcpy(item_value(it), buf, n);
        memset(item_value(it) + n, ' ', it->nbytes - n);
        it->cas = opts.use_cas ? table_next_cas(s) : 0;
        it->time = now;
        *in_place = true;
        *cas = it->cas;
        return CACHE_OK;
    }
    enum cache_status st;
    struct item *ni = cache_alloc_at(item_key(it), it->nkey, it->hash, it->flags, it->exptime,
                                     n, now, &st);
    if (ni == NULL)
        return CACHE_NO_MEMORY;
    memcpy(item_value(ni), buf, n);
    cache_replace(s, it, ni, now);
    *in_place = false;
    *cas = ni->cas;
    item_unref(ni);
    return CACHE_OK;
}

/* On a miss with vivify: link a new item holding the initial value. */
static enum cache_status cache_arith_vivify(struct table_stripe *s, const char *key, size_t nkey,
                                            uint32_t hash, const struct cache_arith_opts *o,
                                            rel_time_t now, struct cache_arith_result *res)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->initial);
    enum cache_status st;
    struct item *it = cache_alloc_at(key, nkey, hash, 0, o->vivify_exptime, (size_t)n, now, &st);
    if (it == NULL)
        return CACHE_NO_MEMORY;
    memcpy(item_value(it), buf, (size_t)n);
    cache_link(s, it, now);
    res->value = o->initial;
    res->cas = it->cas;
    res->cls = it->clsid;
    res->created = true;
    item_unref(it);
    return CACHE_OK;
}

enum cache_status cache_arith_ex(const char *key, size_t nkey, const struct cache_arith_opts *o,
                                 rel_time_t now, struct cache_arith_result *res)
{
    uint32_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_status st = CACHE_OK;
    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it == NULL) {
        st = o->vivify ? cache_arith_vivify(s, key, nkey, hash, o, now, res) : CACHE_NOT_FOUND;
    } else if (it->nbytes == 0 ||
               !cache_arith_apply(item_value(it), it->nbytes, o->incr, o->delta, &res->value)) {
        /* memcached looks at the value before the unique. */
        st = CACHE_NON_NUMERIC;
    } else if (o->cas != 0 && it->cas != o->cas) {
        st = CACHE_EXISTS;
    } else {
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)res->value);
        bool in_place = false;
        res->cls = it->clsid;
        res->exptime_before = it->exptime;
        st = cache_arith_write(s, it, buf, (size_t)n, now, &in_place, &res->cas);
        /* memcached applies a new expiry to the item it started from, so
         * when the number moved to a new item the expiry is lost with the old. */
        if (st == CACHE_OK && o->touch && in_place)
            it->exptime = o->exptime;
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

enum cache_status cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
                              rel_time_t now, uint64_t *value, unsigned *cls)
{
    struct cache_arith_opts o = { .incr = incr, .delta = delta };
    struct cache_arith_result res;
    enum cache_status st = cache_arith_ex(key, nkey, &o, now, &res);
    if (st == CACHE_OK) {
        *value = res.value;
        if (cls != NULL)
            *cls = res.cls;
    }
    return st;
}

void cache_flush(rel_time_t when, rel_time_t now)
{
    if (when > now) {
        atomic_store(&oldest_live, when);
        return;
    }
    atomic_store(&oldest_live, 0);
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        pthread_mutex_lock(&s->lock);
        for (uint32_t b = 0; b <= s->mask; b++) {
            while (s->buckets[b] != NULL)
                cache_unlink(s, s->buckets[b]);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

void cache_set_memlimit(size_t maxbytes) { slab_set_limit(maxbytes); }

size_t cache_memlimit(void) { return slab_mem_limit(); }

void cache_stats(struct cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        pthread_mutex_lock(&s->lock);
        out->curr_items += s->count;
        out->bytes += s->bytes;
        out->total_items += s->total_items;
        out->hash_buckets += s->mask + 1;
        pthread_mutex_unlock(&s->lock);
    }
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct lru_stats ls;
        rel_time_t tail;
        lru_snapshot(c, &ls, &tail);
        out->evictions += ls.evicted;
        out->reclaimed += ls.reclaimed;
        out->expired_unfetched += ls.expired_unfetched;
        out->evicted_unfetched += ls.evicted_unfetched;
        out->evicted_active += ls.evicted_active;
        out->lrutail_reflocked += ls.lrutail_reflocked;
        out->moves_within_lru += ls.moves_within_lru;
    }
    out->malloced = slab_mem_used();
    out->limit_maxbytes = slab_mem_limit();
    out->total_malloced = out->malloced;
    out->hash_bytes = out->hash_buckets * sizeof(void *);
    while ((1ULL << out->hash_power_level) < out->hash_buckets)
        out->hash_power_level++;
}

void cache_stats_reset(void)
{
    for (unsigned i = 0; i < table_nstripes(); i++) {
        struct table_stripe *s = table_stripe_at(i);
        pthread_mutex_lock(&s->lock);
        s->total_items = 0;
        pthread_mutex_unlock(&s->lock);
    }
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        for (unsigned sh = 0; sh < lru_nshards(); sh++) {
            struct lru *l = lru_of(c, sh);
            pthread_mutex_lock(&l->lock);
            uint64_t count = l->stats.count;
            memset(&l->stats, 0, sizeof(l->stats));
            l->stats.count = count;
            pthread_mutex_unlock(&l->lock);
        }
    }
}
