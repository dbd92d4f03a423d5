/*
 * evict: which items go when a class is full — S3-FIFO (SOSP '23) over the
 * slab pages: a small FIFO queue for new items, CLOCK over the pages for
 * the rest, and a ghost of the keys the small queue let go.
 *
 * A read sets nothing but a two-bit frequency in the item (ITEM_FREQ_*,
 * saturating at 3: one atomic operation, no lock, no list move).
 *
 * Once a class has had to evict, a new key's item enters its small queue
 * (ITEM_SMALL): a ring of pointers per class holding about a tenth of the
 * class's items, oldest first (before that, every item is simply kept).  When
 * the ring is over its tenth, eviction takes from it: an item read since it
 * came in leaves the queue for the main part of the cache, one that was not
 * is evicted and its key's fingerprint goes into the ghost.  Most keys of a
 * skewed workload are read once; they now last a tenth of the cache's time
 * instead of all of it, and the rest of the cache holds keys that earned
 * their place.  A key that comes back while still in the ghost skips the
 * small queue.  Overwrites of a key are not new keys: they go to the main
 * part and keep the key's frequency (cache_replace).
 *
 * The main part is CLOCK: each class has a hand that sweeps its pages chunk
 * by chunk, takes one off an item's frequency and evicts the first item
 * that has none.  So an item read often survives three sweeps unread, and a
 * one-pass scan of cold keys passes through the small queue without
 * touching a hot set (scan resistance, the property LRU lacks).  With the
 * cache full, a new item takes a chunk just freed, so the hand meets it
 * last.
 *
 * The hand pins a chunk (cache_pin) before looking at it, so it never reads
 * a chunk that is being freed and reused; it hashes the key to find the
 * stripe and only trylocks it (it holds the class's hand lock, and the lock
 * order is stripe first), then checks again, under the stripe lock,
 * everything it decided on: still linked, still unread, still not
 * referenced by a reader, and dead or alive by the expiry the stripe lock
 * guards.  An allocation evicts a few chunks at a time into its own
 * magazine, so the hand lock is taken once per batch, not per set.  New
 * items reach the small queue through a short per-thread buffer, for the
 * same reason: a link does not take the hand lock.
 *
 * Large items (allocated whole) are swept by CLOCK along their own list.
 *
 * The queue and the ghost count against -m (slab_charge).
 *
 * Who writes what: a class's counters, hand, small queue and ghost are
 * guarded by its hand lock; out-of-memory counts are relaxed atomics; the
 * pending buffer is its thread's own.
 */
#include <stdlib.h>
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
    /* The small queue and the ghost exist once the class has had to
     * evict: before, every item is simply kept.  `active` is read without
     * the lock by a thread linking a new item. */
    _Atomic bool active;
    /* [lock] The small queue, a ring: entries of item address >> 3 and 19
     * bits of its key's hash (which tell a stale entry from a reused chunk). */
    uint64_t *small;
    uint32_t small_cap, small_head, small_n;    /* oldest at head */
    /* [lock] The ghost: 16-bit fingerprints of keys the small queue evicted,
     * one per slot, direct-mapped by other bits of the hash: as many slots
     * as the class holds items, two bytes each. */
    uint16_t *ghost;
    uint32_t ghost_slots;
} __attribute__((aligned(64)));

/*
 * New items waiting to enter their class's small queue: a buffer per
 * thread, so that a link does not take the hand lock.  The buffers are in a
 * registry because a page that leaves its class (the mover) must leave no
 * pointer into it behind: evict_page_leaving takes its items out of every
 * buffer, then out of the ring.  Lock order: the registry lock, then a
 * buffer's lock, then a hand lock.  Only its thread and the mover take a
 * buffer's lock.
 */
#define PENDING_MAX 16
struct pending {
    struct item *it;
    uint64_t hash;
    unsigned cls;
};
struct pending_buf {
    pthread_mutex_t lock;
    unsigned gen;                       /* [lock] the evict_setup its entries belong to */
    unsigned n;                         /* [lock] */
    struct pending e[PENDING_MAX];      /* [lock] */
    struct pending_buf *prev, *next;    /* [pending_registry_lock] */
};
static pthread_mutex_t pending_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending_buf *pending_registry;    /* [pending_registry_lock] */
static __thread struct pending_buf *pending_self;
static pthread_key_t pending_key;
static pthread_once_t pending_once = PTHREAD_ONCE_INIT;

static struct evict_hand hands[SLAB_MAX_CLASSES + 2];
/* Bumped by each evict_setup: a thread's pending entries from before are void. */
static _Atomic unsigned generation;

void evict_setup(void)
{
    for (unsigned i = 0; i < SLAB_MAX_CLASSES + 2; i++) {
        memset(&hands[i], 0, sizeof(hands[i]));
        pthread_mutex_init(&hands[i].lock, NULL);
    }
    atomic_fetch_add(&generation, 1);
}

/* --- the small queue and the ghost (hand lock held) ---------------------- */

#define SMALL_PTR_BITS 45
#define SMALL_PTR_MASK ((1ULL << SMALL_PTR_BITS) - 1)

static inline uint64_t small_entry(const struct item *it, uint64_t hash)
{
    return (hash >> SMALL_PTR_BITS) << SMALL_PTR_BITS | (uintptr_t)it >> 3;
}

static inline struct item *small_item(uint64_t e)
{
    return (struct item *)(uintptr_t)((e & SMALL_PTR_MASK) << 3);
}

/* What the class's pages hold. */
static uint32_t class_capacity(unsigned cls)
{
    return (uint32_t)((uint64_t)slab_class_npages(cls) * slab_perpage(cls));
}

/* The small queue's share of the class: S3-FIFO's tenth. */
#define SMALL_PERCENT 10

static uint32_t small_target(unsigned cls)
{
    return (uint32_t)((uint64_t)class_capacity(cls) * SMALL_PERCENT / 100 + 1);
}

/* Slack of the ring beyond its target: new items in threads' pending buffers. */
#define SMALL_SLACK 256

/* Room for the target and the slack, keeping the order; false if the ring
 * cannot grow. */
static bool small_fit(struct evict_hand *h, uint32_t target)
{
    if (h->small_cap >= target + SMALL_SLACK / 2)
        return true;
    uint32_t cap = target + SMALL_SLACK;
    uint64_t *q = malloc((size_t)cap * sizeof(*q));
    if (q == NULL)
        return h->small_cap > 0;
    for (uint32_t i = 0; i < h->small_n; i++)
        q[i] = h->small[(h->small_head + i) % h->small_cap];
    free(h->small);
    slab_charge((int64_t)(cap - h->small_cap) * (int64_t)sizeof(*q));
    h->small = q;
    h->small_cap = cap;
    h->small_head = 0;
    return true;
}

static struct item *small_pin(uint64_t e, uint64_t *hash);
static uint64_t small_pop(struct evict_hand *h);

static void small_push(struct evict_hand *h, unsigned cls, uint64_t e)
{
    if (!small_fit(h, small_target(cls)))
        return;     /* the item stays in the main part's sweep */
    if (h->small_n == h->small_cap) {
        /* Full: the oldest entry's item joins the main part unproven, as it
         * would have stayed in an LRU; the hand gives it its chances there. */
        uint64_t hash;
        struct item *old = small_pin(small_pop(h), &hash);
        if (old != NULL) {
            atomic_fetch_and_explicit(&old->iflags, (uint8_t)~ITEM_SMALL, memory_order_relaxed);
            item_unref(old);
        }
    }
    h->small[(h->small_head + h->small_n) % h->small_cap] = e;
    h->small_n++;
}

static uint64_t small_pop(struct evict_hand *h)
{
    uint64_t e = h->small[h->small_head];
    h->small_head = (h->small_head + 1) % h->small_cap;
    h->small_n--;
    return e;
}

/* A ghost with a slot per item of the class; a new, empty one when the
 * class grew.  Direct-mapped, it remembers about the last half-class of
 * keys the small queue let go. */
static void ghost_fit(struct evict_hand *h, unsigned cls)
{
    uint32_t want = class_capacity(cls) + 1;
    if (h->ghost != NULL && h->ghost_slots >= want)
        return;
    uint16_t *g = calloc(want, sizeof(*g));
    if (g == NULL)
        return;
    free(h->ghost);
    slab_charge(((int64_t)want - h->ghost_slots) * (int64_t)sizeof(*g));
    h->ghost = g;
    h->ghost_slots = want;
}

static inline uint16_t *ghost_slot(struct evict_hand *h, uint64_t hash)
{
    return &h->ghost[(uint32_t)(((hash >> 32) * h->ghost_slots) >> 32)];
}

static inline uint16_t ghost_fp(uint64_t hash) { return (uint16_t)(hash >> 16) | 1; }

static void ghost_put(struct evict_hand *h, uint64_t hash)
{
    if (h->ghost != NULL)
        *ghost_slot(h, hash) = ghost_fp(hash);
}

/* Whether the key was let go by the small queue lately (and forget it). */
static bool ghost_take(struct evict_hand *h, uint64_t hash)
{
    if (h->ghost == NULL)
        return false;
    uint16_t *slot = ghost_slot(h, hash);
    if (*slot != ghost_fp(hash))
        return false;
    *slot = 0;
    return true;
}

/* Pin a queued item and check it is still the one queued: linked, new, and
 * with the key whose hash the entry holds (a chunk may have been reused). */
static struct item *small_pin(uint64_t e, uint64_t *hash)
{
    struct item *it = small_item(e);
    if (!cache_pin(it))
        return NULL;
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_acquire);
    if ((fl & (ITEM_LINKED | ITEM_SMALL)) == (ITEM_LINKED | ITEM_SMALL)) {
        *hash = hash_key(item_key(it), it->nkey);
        if (*hash >> SMALL_PTR_BITS == e >> SMALL_PTR_BITS)
            return it;
    }
    item_unref(it);
    return NULL;
}

/* Enter one pending item in its class's queue (hand lock held). */
static void pending_enter(struct evict_hand *h, const struct pending *p)
{
    ghost_fit(h, p->cls);
    uint64_t e = small_entry(p->it, p->hash);
    if (!ghost_take(h, p->hash)) {
        small_push(h, p->cls, e);
        return;
    }
    /* Seen again soon after the small queue let it go: the main part, with
     * a read to its name, since the hand may pass its chunk soon. */
    uint64_t hash;
    struct item *it = small_pin(e, &hash);
    if (it != NULL) {
        uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed), want;
        do {
            want = (uint8_t)(fl & ~ITEM_SMALL);
            if (!(want & ITEM_FREQ_MASK))
                want |= ITEM_FREQ_ONE;
        } while (!atomic_compare_exchange_weak_explicit(&it->iflags, &fl, want,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed));
        item_unref(it);
    }
}

/* A thread's exit: its pending items stay out of the small queue (the
 * hand sweeps them like any other). */
static void pending_exit(void *arg)
{
    struct pending_buf *b = arg;
    pthread_mutex_lock(&pending_registry_lock);
    if (b->prev)
        b->prev->next = b->next;
    else
        pending_registry = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&pending_registry_lock);
    pthread_mutex_destroy(&b->lock);
    free(b);
    pending_self = NULL;
}

static void make_pending_key(void) { pthread_key_create(&pending_key, pending_exit); }

/* This thread's buffer, NULL if there is no memory for one. */
static struct pending_buf *pending_buf(void)
{
    struct pending_buf *b = pending_self;
    if (__builtin_expect(b != NULL, 1))
        return b;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_once(&pending_once, make_pending_key);
    pthread_setspecific(pending_key, b);
    pthread_mutex_lock(&pending_registry_lock);
    b->next = pending_registry;
    if (pending_registry)
        pending_registry->prev = b;
    pending_registry = b;
    pthread_mutex_unlock(&pending_registry_lock);
    pending_self = b;
    return b;
}

/* Void entries from before the last evict_setup (buffer locked). */
static void pending_check_gen(struct pending_buf *b)
{
    unsigned gen = atomic_load_explicit(&generation, memory_order_relaxed);
    if (b->gen != gen) {
        b->gen = gen;
        b->n = 0;
    }
}

/* Enter a buffer's pending items of class `cls` (buffer and hand locked). */
static void pending_flush_locked(struct pending_buf *b, unsigned cls)
{
    pending_check_gen(b);
    unsigned keep = 0;
    for (unsigned i = 0; i < b->n; i++) {
        if (b->e[i].cls == cls)
            pending_enter(&hands[cls], &b->e[i]);
        else
            b->e[keep++] = b->e[i];
    }
    b->n = keep;
}

/* Enter all of a buffer's items, a class at a time (buffer locked, no hand). */
static void pending_flush(struct pending_buf *b)
{
    while (b->n > 0) {
        unsigned cls = b->e[0].cls;
        pthread_mutex_lock(&hands[cls].lock);
        pending_flush_locked(b, cls);
        pthread_mutex_unlock(&hands[cls].lock);
    }
}

void evict_note_new(struct item *it, uint64_t hash)
{
    unsigned cls = item_class(it);
    if (cls > slab_nclasses() || !atomic_load_explicit(&hands[cls].active, memory_order_relaxed))
        return;     /* large items: CLOCK alone; a class not full yet: kept */
    struct pending_buf *b = pending_buf();
    if (b == NULL)
        return;     /* kept in the main part */
    pthread_mutex_lock(&b->lock);
    pending_check_gen(b);
    atomic_fetch_or_explicit(&it->iflags, ITEM_SMALL, memory_order_relaxed);
    b->e[b->n++] = (struct pending){ .it = it, .hash = hash, .cls = cls };
    if (b->n == PENDING_MAX)
        pending_flush(b);
    pthread_mutex_unlock(&b->lock);
}

static bool in_page(const struct item *it, const struct slab_page *page)
{
    return (const char *)it >= (const char *)page &&
           (const char *)it < (const char *)page + SLAB_PAGE_SIZE;
}

unsigned evict_pointers_into(unsigned cls, const struct slab_page *page)
{
    unsigned n = 0;
    pthread_mutex_lock(&pending_registry_lock);
    for (struct pending_buf *b = pending_registry; b != NULL; b = b->next) {
        pthread_mutex_lock(&b->lock);
        for (unsigned i = 0; i < b->n; i++)
            n += in_page(b->e[i].it, page);
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&pending_registry_lock);
    struct evict_hand *h = &hands[cls];
    pthread_mutex_lock(&h->lock);
    for (uint32_t i = 0; i < h->small_n; i++)
        n += in_page(small_item(h->small[(h->small_head + i) % h->small_cap]), page);
    pthread_mutex_unlock(&h->lock);
    return n;
}

void evict_page_leaving(unsigned cls, const struct slab_page *page)
{
    pthread_mutex_lock(&pending_registry_lock);
    for (struct pending_buf *b = pending_registry; b != NULL; b = b->next) {
        pthread_mutex_lock(&b->lock);
        unsigned keep = 0;
        for (unsigned i = 0; i < b->n; i++) {
            if (!in_page(b->e[i].it, page))
                b->e[keep++] = b->e[i];
        }
        b->n = keep;
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&pending_registry_lock);
    struct evict_hand *h = &hands[cls];
    pthread_mutex_lock(&h->lock);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < h->small_n; i++) {
        uint64_t e = h->small[(h->small_head + i) % h->small_cap];
        if (!in_page(small_item(e), page))
            h->small[(h->small_head + keep++) % h->small_cap] = e;
    }
    h->small_n = keep;
    pthread_mutex_unlock(&h->lock);
}

/*
 * Evict from the small queue while it is over its tenth: up to `want`
 * chunks freed.  A queued item read since it came in moves to the main part.
 */
static unsigned small_evict(unsigned cls, struct evict_hand *h, rel_time_t now, unsigned want)
{
    unsigned freed = 0;
    uint32_t target = small_target(cls);
    while (freed < want && h->small_n > target) {
        uint64_t hash;
        struct item *it = small_pin(small_pop(h), &hash);
        if (it == NULL)
            continue;
        uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
        if (fl & ITEM_FREQ_MASK) {
            /* Read again: on to the main part.  It keeps its reads: where
             * it sits in its page, the hand may come by soon. */
            atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_SMALL, memory_order_relaxed);
            h->c.moves_to_warm++;
            item_unref(it);
            continue;
        }
        enum cache_reap r = cache_reap(it, now, true, &h->c);
        if (r == REAP_FREED || r == REAP_UNLINKED)
            ghost_put(h, hash);
        if (r == REAP_FREED)
            freed++;
    }
    return freed;
}

void evict_teardown(void)
{
    for (unsigned i = 0; i < SLAB_MAX_CLASSES + 2; i++) {
        pthread_mutex_destroy(&hands[i].lock);
        free(hands[i].small);
        free(hands[i].ghost);
        slab_charge(-(int64_t)(hands[i].small_cap * sizeof(uint64_t) +
                               hands[i].ghost_slots * sizeof(uint16_t)));
    }
    atomic_fetch_add(&generation, 1);   /* every thread's pending entries are void */
}

static unsigned freq_of(uint8_t fl) { return (fl & ITEM_FREQ_MASK) / ITEM_FREQ_ONE; }

/* Who wants to hear of evictions (`watch evictions`), or NULL. */
static _Atomic(cache_evict_fn) evict_watcher;

void cache_watch_evictions(cache_evict_fn fn) { atomic_store(&evict_watcher, fn); }

static void evict_tell(const struct item *it, rel_time_t now)
{
    cache_evict_fn fn = atomic_load_explicit(&evict_watcher, memory_order_relaxed);
    if (fn == NULL)
        return;
    struct cache_item_info info = {
        .nkey = it->nkey, .key_binary = item_key_binary(it), .exptime = item_exptime(it),
        .atime = item_atime(it), .cas = item_cas(it), .fetched = item_has(it, ITEM_FETCHED),
        .cls = item_class(it), .vlen = item_vlen(it), .flags = item_flags(it),
    };
    memcpy(info.key, item_key(it), it->nkey);
    fn(&info, now);
}

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
    evict_tell(it, now);
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
    if (!word_trylock(&s->lock)) {
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
    word_unlock(&s->lock);
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
    /* This thread's pending items of the class first: its buffer's lock
     * before the hand's, the order a flush takes them in. */
    struct pending_buf *b = pending_self;
    if (b != NULL)
        pthread_mutex_lock(&b->lock);
    pthread_mutex_lock(&h->lock);
    if (!atomic_load_explicit(&h->active, memory_order_relaxed))
        atomic_store_explicit(&h->active, true, memory_order_relaxed);
    if (b != NULL) {
        pending_flush_locked(b, cls);
        pthread_mutex_unlock(&b->lock);
    }
    unsigned freed = small_evict(cls, h, now, want);
    if (freed < want)
        freed += sweep(cls, h, now, want - freed, limit);
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

void evict_count_reclaimed(unsigned cls)
{
    struct evict_hand *h = &hands[cls];
    pthread_mutex_lock(&h->lock);
    h->c.reclaimed++;
    h->c.expired_unfetched++;
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
        rel_time_t t = hands[i].c.evicted_time;
        memset(&hands[i].c, 0, sizeof(hands[i].c));
        hands[i].c.evicted_time = t;
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
