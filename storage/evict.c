/*
 * evict: which items go when a class is full — CLOCK over the slab pages.
 *
 * Each class has a hand that sweeps its pages chunk by chunk.  A read sets
 * nothing but a two-bit frequency in the item (ITEM_FREQ_*, saturating at
 * 3, one atomic operation and no lock); the hand takes one off an item
 * that has some and evicts the first linked item that has none.  So a hit
 * costs no list move and no lock, an item read often survives three sweeps
 * without being read again, and a one-pass scan of cold keys — items that
 * are never read twice — is evicted before the hot set it passes through
 * (scan resistance, the property LRU lacks).  When memory is full, a new
 * item takes the chunk the hand just freed, right behind the hand: it has
 * a whole sweep to be read before the hand comes back, which is CLOCK's
 * insertion order without a list.  An overwrite keeps its key's frequency
 * (cache_replace).
 *
 * The hand pins a chunk (cache_pin) before looking at it, so it never
 * reads a chunk that is being freed and reused; it hashes the key to find
 * the stripe and only trylocks it (it holds the class's hand lock, and the
 * lock order is stripe first), then checks again, under the stripe lock,
 * everything it decided on: still linked, still unread, still not
 * referenced by a reader, and dead or alive by the expiry the stripe lock
 * guards.  An allocation evicts a few chunks at a time into its own
 * magazine, so the hand lock is taken once per batch, not per set.
 *
 * Large items (allocated whole) are swept the same way along their list.
 *
 * Who writes what: a class's counters and hand position are guarded by its
 * hand lock; out-of-memory counts are relaxed atomics.
 */
#include <string.h>

#include "cache_priv.h"
#include "hash.h"

/* Chunks one call may look at, at least: enough for a few sweeps of a
 * page's worth of frequencies without holding the hand for long. */
#define EVICT_SCAN_MIN 4096

struct evict_hand {
    pthread_mutex_t lock;
    uint32_t page, chunk;               /* [lock] where the hand is */
    struct cache_class_counters c;      /* [lock] */
    _Atomic uint64_t outofmemory;
} __attribute__((aligned(64)));

static struct evict_hand hands[SLAB_MAX_CLASSES + 2];

void evict_setup(void)
{
    for (unsigned i = 0; i < SLAB_MAX_CLASSES + 2; i++) {
        memset(&hands[i], 0, sizeof(hands[i]));
        pthread_mutex_init(&hands[i].lock, NULL);
    }
}

void evict_teardown(void)
{
    for (unsigned i = 0; i < SLAB_MAX_CLASSES + 2; i++)
        pthread_mutex_destroy(&hands[i].lock);
}

static unsigned freq_of(uint8_t fl) { return (fl & ITEM_FREQ_MASK) / ITEM_FREQ_ONE; }

/* The stripe lock is held: count the removal and unlink. */
static void reap_count(struct item *it, bool dead, rel_time_t now, struct cache_class_counters *c)
{
    bool fetched = item_has(it, ITEM_FETCHED);
    if (dead) {
        c->reclaimed++;
        if (!fetched)
            c->expired_unfetched++;
        return;
    }
    c->evicted++;
    if (item_exptime(it) != 0)
        c->evicted_nonzero++;
    if (!fetched)
        c->evicted_unfetched++;
    c->evicted_time = now - item_atime(it);
    c->last_evict_at = now;
}

enum cache_reap cache_reap(struct item *it, rel_time_t now, bool evict,
                           struct cache_class_counters *c)
{
    /* Acquire: the key and the rest were written before the link. */
    if (!(atomic_load_explicit(&it->iflags, memory_order_acquire) & ITEM_LINKED)) {
        item_unref(it);
        return REAP_SKIP;
    }
    enum cache_miss why;
    if (cache_live(it, now, &why)) {
        uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
        if (!evict || !cache_opts.evict_to_free) {
            item_unref(it);
            return REAP_SKIP;
        }
        if (freq_of(fl) > 0) {
            /* A second chance: only the hand takes frequency away. */
            atomic_fetch_sub_explicit(&it->iflags, ITEM_FREQ_ONE, memory_order_relaxed);
            c->moves_within_lru++;
            item_unref(it);
            return REAP_SKIP;
        }
    }
    uint64_t hash = hash_key(item_key(it), it->nkey);
    struct table_stripe *s = table_stripe(hash);
    if (pthread_mutex_trylock(&s->lock) != 0) {
        item_unref(it);
        return REAP_BUSY;
    }
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    bool dead = !cache_live(it, now, &why);
    enum cache_reap r = REAP_SKIP;
    if (!(fl & ITEM_LINKED)) {
        r = REAP_SKIP;
    } else if (!dead && (!evict || !cache_opts.evict_to_free || freq_of(fl) > 0)) {
        r = REAP_SKIP;      /* read, or its expiry extended, since we looked */
    } else if (!dead && atomic_load_explicit(&it->refcount, memory_order_acquire) != 2) {
        c->lrutail_reflocked++;
        r = REAP_BUSY;
    } else {
        reap_count(it, dead, now, c);
        r = atomic_load_explicit(&it->refcount, memory_order_acquire) == 2 ? REAP_FREED
                                                                           : REAP_UNLINKED;
        cache_unlink(s, hash, it);
    }
    pthread_mutex_unlock(&s->lock);
    item_unref(it);
    return r;
}

/*
 * Sweep from where the hand stopped.  Returns the chunks freed; stops at
 * `want` or after looking at `limit` chunks.
 */
static unsigned sweep(unsigned cls, struct evict_hand *h, rel_time_t now, unsigned want,
                      unsigned limit)
{
    unsigned freed = 0, seen = 0;
    bool wrapped = false;
    while (freed < want && seen < limit) {
        uint32_t n;
        struct slab_page *p = slab_page_pin(cls, h->page, &n);
        if (p == NULL) {
            if (h->page == 0 || wrapped)
                break;          /* the class has no pages */
            h->page = 0;
            h->chunk = 0;
            wrapped = true;
            continue;
        }
        while (h->chunk < n && freed < want && seen < limit) {
            struct item *it = slab_chunk_at(cls, p, h->chunk++);
            seen++;
            if (cache_pin(it) && cache_reap(it, now, true, &h->c) == REAP_FREED)
                freed++;
        }
        slab_page_unpin(p);
        if (h->chunk >= n) {
            h->page++;
            h->chunk = 0;
        }
    }
    return freed;
}

unsigned evict_class(unsigned cls, rel_time_t now, unsigned want)
{
    struct evict_hand *h = &hands[cls];
    uint32_t perpage = slab_perpage(cls);
    unsigned limit = perpage > EVICT_SCAN_MIN ? perpage : EVICT_SCAN_MIN;
    pthread_mutex_lock(&h->lock);
    unsigned freed = sweep(cls, h, now, want, limit);
    pthread_mutex_unlock(&h->lock);
    return freed;
}

/* Large items looked at per call, at most: a few sweeps of a short list. */
#define LARGE_SCAN 64

bool evict_large(rel_time_t now, size_t bytes)
{
    (void)bytes;
    struct evict_hand *h = &hands[slab_large_class()];
    bool freed = false;
    pthread_mutex_lock(&h->lock);
    for (int k = 0; k < LARGE_SCAN && !freed; k++) {
        struct item *it;
        if (slab_large_scan(&it, 1) == 0)
            break;
        freed = cache_reap(it, now, true, &h->c) == REAP_FREED;
    }
    pthread_mutex_unlock(&h->lock);
    return freed;
}

void evict_counters(unsigned cls, struct cache_class_counters *out)
{
    struct evict_hand *h = &hands[cls];
    pthread_mutex_lock(&h->lock);
    *out = h->c;
    pthread_mutex_unlock(&h->lock);
}

void evict_count_oom(unsigned cls)
{
    atomic_fetch_add_explicit(&hands[cls].outofmemory, 1, memory_order_relaxed);
}

uint64_t evict_oom_count(unsigned cls)
{
    return atomic_load_explicit(&hands[cls].outofmemory, memory_order_relaxed);
}

void evict_counters_reset(void)
{
    for (unsigned i = 0; i < SLAB_MAX_CLASSES + 2; i++) {
        pthread_mutex_lock(&hands[i].lock);
        memset(&hands[i].c, 0, sizeof(hands[i].c));
        atomic_store(&hands[i].outofmemory, 0);
        pthread_mutex_unlock(&hands[i].lock);
    }
}

uint32_t evict_hand_page(unsigned cls)
{
    struct evict_hand *h = &hands[cls];
    pthread_mutex_lock(&h->lock);
    uint32_t p = h->page;
    pthread_mutex_unlock(&h->lock);
    return p;
}

/* Linked items sampled around the hand, for their age. */
#define AGE_SAMPLE 64

rel_time_t evict_class_age(unsigned cls, rel_time_t now)
{
    struct evict_hand *h = &hands[cls];
    uint64_t sum = 0, n = 0;
    pthread_mutex_lock(&h->lock);
    uint32_t nchunks, page = h->page, start = h->chunk;
    struct slab_page *p = slab_page_pin(cls, page, &nchunks);
    if (p == NULL && page != 0)
        p = slab_page_pin(cls, page = 0, &nchunks), start = 0;
    if (p != NULL) {
        for (uint32_t k = 0; k < nchunks && k < 4 * AGE_SAMPLE && n < AGE_SAMPLE; k++) {
            struct item *it = slab_chunk_at(cls, p, (start + k) % nchunks);
            if (!cache_pin(it))
                continue;
            if (atomic_load_explicit(&it->iflags, memory_order_acquire) & ITEM_LINKED) {
                rel_time_t t = item_atime(it);
                sum += now > t ? now - t : 0;
                n++;
            }
            item_unref(it);
        }
        slab_page_unpin(p);
    }
    pthread_mutex_unlock(&h->lock);
    return n ? (rel_time_t)(sum / n) : 0;
}
