/*
 * table: a hash table split into independent stripes, each with its own lock
 * and its own array of cache-line buckets.
 *
 * The low bits of a key's 64-bit hash pick the stripe, so an operation on
 * one key takes exactly one lock.  A stripe is a two-choice bucketized
 * cuckoo table: a bucket is one 64-byte line of 8 slots, and a key may sit
 * in either of two buckets.  A slot is 64 bits: the item's address (items
 * are 8-byte aligned below 2^48, so 45 bits hold it) and a 19-bit tag, the
 * top bits of the hash.  A lookup reads at most two lines and compares tags
 * before it touches an item, so a miss seldom reads an item at all; items
 * carry no hash and no chain link.
 *
 * Both bucket choices are computed from the tag alone (a multiply-shift of
 * it, and of a scrambled copy), so moving a slot to its other bucket, and
 * rebuilding a stripe bigger, never reads the item.  The cost is that the
 * tag and the bucket index share bits: keys in one bucket agree on the
 * index bits, leaving 19 - log2(buckets per stripe) bits to tell them
 * apart (12 bits at a million items) — which is why the stripe count grows
 * with -o hashpower.
 *
 * The slots count against -m (slab_charge).
 *
 * A stripe holds up to 94% of its slots (two-choice 8-way cuckoo tables
 * stay insertable well past that), then grows by an eighth under its own
 * lock: incremental growth by construction, and about 8.9 bytes of table
 * per item on average instead of the 12+ a doubling table averages.
 */
#include "table.h"

#include "slab.h"

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG_BITS 19
#define TAG_MASK ((1u << TAG_BITS) - 1)
#define PTR_BITS 45
#define PTR_MASK ((1ULL << PTR_BITS) - 1)
/* Most buckets a displacement search visits. */
#define BFS_MAX 192

static struct table_stripe *stripes;
static unsigned stripe_bits;
static unsigned nstripes;

/*
 * Where each stripe's buckets are, for table_prefetch, which reads it
 * without the stripe's lock: a copy of `slots` and `nbuckets`, stored
 * (relaxed) under the lock whenever they change.  A prefetch may read them
 * stale, or one new and one old, while a stripe grows: it then prefetches
 * an address that is no bucket, which is harmless (a prefetch never
 * faults), and nothing ever dereferences them.  16 bytes a stripe, dense,
 * so that finding the buckets costs no miss of its own.
 */
struct table_where {
    _Atomic(uint64_t *) slots;
    _Atomic uint32_t nbuckets;
};
static struct table_where *where;

/* A stripe's slots changed (its lock held): tell the prefetches. */
static void where_update(const struct table_stripe *s)
{
    struct table_where *w = &where[s - stripes];
    atomic_store_explicit(&w->slots, s->slots, memory_order_relaxed);
    atomic_store_explicit(&w->nbuckets, s->nbuckets, memory_order_relaxed);
}

/* A key's tag: the top bits of its hash, never 0, so that an empty slot
 * (0) matches no key. */
static inline uint32_t tag_of(uint64_t hash)
{
    uint32_t t = (uint32_t)(hash >> (64 - TAG_BITS));
    return t != 0 ? t : 1;
}

static inline uint64_t slot_make(uint32_t tag, const struct item *it)
{
    return (uint64_t)tag << PTR_BITS | (uintptr_t)it >> 3;
}

static inline uint32_t slot_tag(uint64_t slot) { return (uint32_t)(slot >> PTR_BITS); }

static inline struct item *slot_item(uint64_t slot)
{
    return (struct item *)(uintptr_t)((slot & PTR_MASK) << 3);
}

static inline uint32_t bucket1(uint32_t tag, uint32_t nb)
{
    return (uint32_t)(((uint64_t)tag * nb) >> TAG_BITS);
}

static inline uint32_t bucket2(uint32_t tag, uint32_t nb)
{
    uint32_t x = (tag ^ (tag >> 7)) * 0x5a3b5u;
    x = (x ^ (x >> 11)) & TAG_MASK;
    return (uint32_t)(((uint64_t)x * nb) >> TAG_BITS);
}

/* The bucket a slot now in `b` would move to. */
static inline uint32_t other_bucket(uint64_t slot, uint32_t b, uint32_t nb)
{
    uint32_t t = slot_tag(slot), b1 = bucket1(t, nb);
    return b == b1 ? bucket2(t, nb) : b1;
}

/*
 * Slot arrays come from an arena of their own that returns freed memory to
 * the system at once (decay 0): a growing stripe frees its old array, and
 * those would otherwise stay resident for jemalloc's default ten seconds.
 */
static unsigned slots_arena;
static int slots_flags;

static int slots_arena_setup(void)
{
    size_t sz = sizeof(slots_arena);
    if (mallctl("arenas.create", &slots_arena, &sz, NULL, 0) != 0)
        return -ENOMEM;
    slots_flags = MALLOCX_ARENA(slots_arena) | MALLOCX_TCACHE_NONE | MALLOCX_ALIGN(64);
    ssize_t zero = 0;
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", slots_arena);
    mallctl(name, NULL, NULL, &zero, sizeof(zero));
    snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", slots_arena);
    mallctl(name, NULL, NULL, &zero, sizeof(zero));
    return 0;
}

/* Buckets to ask for so the array fills its allocation: jemalloc rounds a
 * size up to its size class, and the rest would be wasted. */
static uint32_t buckets_for(uint32_t want)
{
    size_t real = nallocx((size_t)want * 64, slots_flags);
    return real > 0 ? (uint32_t)(real / 64) : want;
}

static uint64_t *slots_alloc(uint32_t nbuckets)
{
    size_t bytes = (size_t)nbuckets * TABLE_BUCKET_SLOTS * sizeof(uint64_t);
    slab_charge((int64_t)bytes);
#ifdef MCD_SANITIZE
    uint64_t *p = aligned_alloc(64, bytes);
#else
    uint64_t *p = mallocx(bytes, slots_flags);
#endif
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

static void slots_free(uint64_t *p, uint32_t nbuckets)
{
    slab_charge(-(int64_t)((size_t)nbuckets * TABLE_BUCKET_SLOTS * sizeof(uint64_t)));
#ifdef MCD_SANITIZE
    free(p);
#else
    if (p != NULL)
        dallocx(p, slots_flags);
#endif
}

int table_setup(unsigned hashpower)
{
    /* More stripes for bigger tables: each keeps its tags' bits useful. */
    stripe_bits = hashpower > 16 ? hashpower - 6 : 10;
    if (stripe_bits > 16)
        stripe_bits = 16;
    nstripes = 1u << stripe_bits;
    uint64_t slots = 1ULL << hashpower;
    uint32_t per_stripe = (uint32_t)(slots / nstripes / TABLE_BUCKET_SLOTS);
    if (per_stripe == 0)
        per_stripe = 1;
    if (slots_arena_setup() != 0)
        return -ENOMEM;
    per_stripe = buckets_for(per_stripe);
    stripes = aligned_alloc(64, sizeof(*stripes) * nstripes);
    where = calloc(nstripes, sizeof(*where));
    if (stripes == NULL || where == NULL) {
        free(stripes);
        free(where);
        stripes = NULL;
        where = NULL;
        return -ENOMEM;
    }
    memset(stripes, 0, sizeof(*stripes) * nstripes);
    for (unsigned i = 0; i < nstripes; i++) {
        struct table_stripe *s = &stripes[i];
        word_lock_init(&s->lock);
        s->slots = slots_alloc(per_stripe);
        if (s->slots == NULL) {
            nstripes = i + 1;
            table_teardown();
            return -ENOMEM;
        }
        s->nbuckets = per_stripe;
        where_update(s);
    }
    return 0;
}

void table_teardown(void)
{
    for (unsigned i = 0; stripes && i < nstripes; i++)
        slots_free(stripes[i].slots, stripes[i].nbuckets);
    free(stripes);
    free(where);
    stripes = NULL;
    where = NULL;
    nstripes = 0;
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.destroy", slots_arena);
    mallctl(name, NULL, NULL, NULL, 0);
}

unsigned table_nstripes(void) { return nstripes; }

struct table_stripe *table_stripe(uint64_t hash) { return &stripes[hash & (nstripes - 1)]; }

struct table_stripe *table_stripe_at(unsigned i) { return &stripes[i]; }

/* Keys are short: compare eight bytes at a time, no call. */
static inline bool key_equal(const char *a, const char *b, size_t n)
{
    while (n >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return false;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n-- > 0)
        if (*a++ != *b++)
            return false;
    return true;
}

/* The first slot of bucket b from i on whose tag is the one `want` holds
 * in place (tag << PTR_BITS), or TABLE_BUCKET_SLOTS. */
static inline int bucket_match(const uint64_t *b, int i, uint64_t want)
{
    for (; i < TABLE_BUCKET_SLOTS; i++) {
        if ((b[i] & ~PTR_MASK) == want)
            break;
    }
    return i;
}

/* Slot i of bucket b holding `key`, or -1.  Tags are compared before any
 * item is read. */
static inline int bucket_find(const uint64_t *b, uint32_t tag, const char *key, size_t nkey)
{
    uint64_t want = (uint64_t)tag << PTR_BITS;
    for (int i = bucket_match(b, 0, want); i < TABLE_BUCKET_SLOTS; i = bucket_match(b, i + 1, want)) {
        const struct item *it = slot_item(b[i]);
        if (it->nkey == nkey && key_equal(item_key(it), key, nkey))
            return i;
    }
    return -1;
}

struct item *table_find(struct table_stripe *s, uint64_t hash, const char *key, size_t nkey)
{
    uint32_t tag = tag_of(hash), nb = s->nbuckets;
    uint32_t b = bucket1(tag, nb);
    int i = bucket_find(s->slots + (size_t)b * TABLE_BUCKET_SLOTS, tag, key, nkey);
    if (i < 0) {
        uint32_t b2 = bucket2(tag, nb);
        if (b2 == b)
            return NULL;
        b = b2;
        i = bucket_find(s->slots + (size_t)b * TABLE_BUCKET_SLOTS, tag, key, nkey);
        if (i < 0)
            return NULL;
    }
    /* Remembered for the remove or replace that often follows. */
    s->hint = b * TABLE_BUCKET_SLOTS + (uint32_t)i;
    return slot_item(s->slots[s->hint]);
}

void table_prefetch(uint64_t hash)
{
    unsigned i = (unsigned)(hash & (nstripes - 1));
    uint64_t *slots = atomic_load_explicit(&where[i].slots, memory_order_relaxed);
    uint32_t nb = atomic_load_explicit(&where[i].nbuckets, memory_order_relaxed);
    uint32_t tag = tag_of(hash);
    __builtin_prefetch(&stripes[i], 1);     /* its lock is taken, its hint written */
    __builtin_prefetch(slots + (size_t)bucket1(tag, nb) * TABLE_BUCKET_SLOTS);
    __builtin_prefetch(slots + (size_t)bucket2(tag, nb) * TABLE_BUCKET_SLOTS);
}

/*
 * The buckets can be read only under the stripe's lock: this is the one
 * place a key's stripe is locked twice in a request, and only when the
 * lock is free at once.  It pays when the buckets are already cached (a
 * table_prefetch a while before): then a few instructions start the item's
 * load long before the lookup would wait for it.
 */
void table_prefetch_items(uint64_t hash)
{
    struct table_stripe *s = table_stripe(hash);
    if (!word_trylock(&s->lock))
        return;
    uint32_t tag = tag_of(hash), nb = s->nbuckets;
    uint64_t want = (uint64_t)tag << PTR_BITS;
    /* The first match, as table_find looks: another tag match is rare.
     * (The prefetch stays in this function: GCC deems a helper that only
     * prefetches free of effects, and drops the call to it.) */
    const uint64_t *b = s->slots + (size_t)bucket1(tag, nb) * TABLE_BUCKET_SLOTS;
    int i = bucket_match(b, 0, want);
    if (i == TABLE_BUCKET_SLOTS) {
        b = s->slots + (size_t)bucket2(tag, nb) * TABLE_BUCKET_SLOTS;
        i = bucket_match(b, 0, want);
    }
    const struct item *it = i < TABLE_BUCKET_SLOTS ? slot_item(b[i]) : NULL;
    word_unlock(&s->lock);
    /* After the unlock: a locked instruction may wait for the load a
     * prefetch started before it.  Two lines: chunks are not aligned to
     * lines, and the key and a small value often reach into the next. */
    if (it != NULL) {
        __builtin_prefetch(it);
        __builtin_prefetch((const char *)it + 64);
    }
}

/* An empty slot of bucket b, or -1. */
static int bucket_free_slot(const uint64_t *slots, uint32_t b)
{
    const uint64_t *p = slots + (size_t)b * TABLE_BUCKET_SLOTS;
    for (int i = 0; i < TABLE_BUCKET_SLOTS; i++)
        if (p[i] == 0)
            return i;
    return -1;
}

struct bfs_node {
    uint32_t bucket;
    int16_t parent;     /* node whose slot `pslot` moves into this bucket; -1 at the roots */
    uint8_t pslot;
};

/* Whether bucket b is on the chain from node qi back to its root: a chain
 * that passed a bucket twice would move one slot twice. */
static bool on_path(const struct bfs_node *q, int qi, uint32_t b)
{
    for (int n = qi; n >= 0; n = q[n].parent)
        if (q[n].bucket == b)
            return true;
    return false;
}

/*
 * Free a slot in bucket b1 or b2 by moving slots to their other buckets
 * (breadth first, so the shortest chain of moves).  Returns the flat index
 * of the freed slot, or -1 if none was found within BFS_MAX buckets.
 */
static long cuckoo_make_room(uint64_t *slots, uint32_t nb, uint32_t b1, uint32_t b2)
{
    struct bfs_node q[BFS_MAX];
    int n = 0;
    q[n++] = (struct bfs_node){ b1, -1, 0 };
    if (b2 != b1)
        q[n++] = (struct bfs_node){ b2, -1, 0 };
    for (int qi = 0; qi < n; qi++) {
        uint32_t b = q[qi].bucket;
        for (int j = 0; j < TABLE_BUCKET_SLOTS; j++) {
            uint64_t v = slots[(size_t)b * TABLE_BUCKET_SLOTS + j];
            uint32_t alt = other_bucket(v, b, nb);
            if (alt == b)
                continue;
            int e = bucket_free_slot(slots, alt);
            if (e < 0) {
                if (n < BFS_MAX && !on_path(q, qi, alt))
                    q[n++] = (struct bfs_node){ alt, (int16_t)qi, (uint8_t)j };
                continue;
            }
            /* Found: shift the chain, last move first. */
            slots[(size_t)alt * TABLE_BUCKET_SLOTS + e] = v;
            int node = qi, freed = j;
            while (q[node].parent >= 0) {
                const struct bfs_node *p = &q[q[node].parent];
                size_t from = (size_t)p->bucket * TABLE_BUCKET_SLOTS + q[node].pslot;
                slots[(size_t)q[node].bucket * TABLE_BUCKET_SLOTS + freed] = slots[from];
                freed = q[node].pslot;
                node = q[node].parent;
            }
            long at = (long)q[node].bucket * TABLE_BUCKET_SLOTS + freed;
            slots[at] = 0;
            return at;
        }
    }
    return -1;
}

/* Put a slot value in a table of nb buckets; false if no room was found. */
static bool slot_place(uint64_t *slots, uint32_t nb, uint64_t v)
{
    uint32_t tag = slot_tag(v), b1 = bucket1(tag, nb), b2 = bucket2(tag, nb);
    int e = bucket_free_slot(slots, b1);
    if (e >= 0) {
        slots[(size_t)b1 * TABLE_BUCKET_SLOTS + e] = v;
        return true;
    }
    e = bucket_free_slot(slots, b2);
    if (e >= 0) {
        slots[(size_t)b2 * TABLE_BUCKET_SLOTS + e] = v;
        return true;
    }
    long at = cuckoo_make_room(slots, nb, b1, b2);
    if (at < 0)
        return false;
    slots[at] = v;
    return true;
}

/* Rebuild a stripe with more buckets; -ENOMEM if it cannot. */
static int table_grow(struct table_stripe *s)
{
    uint32_t nb = s->nbuckets;
    for (int attempt = 0; attempt < 4; attempt++) {
        nb = buckets_for(nb + (nb / 8 > 0 ? nb / 8 : 1));
        if (nb > TAG_MASK / 2)
            return -ENOMEM;
        uint64_t *ns = slots_alloc(nb);
        if (ns == NULL)
            return -ENOMEM;
        size_t n = (size_t)s->nbuckets * TABLE_BUCKET_SLOTS;
        size_t i = 0;
        for (; i < n; i++) {
            if (s->slots[i] != 0 && !slot_place(ns, nb, s->slots[i]))
                break;
        }
        if (i == n) {
            slots_free(s->slots, s->nbuckets);
            s->slots = ns;
            s->nbuckets = nb;
            where_update(s);
            return 0;
        }
        slots_free(ns, nb);
    }
    return -ENOMEM;
}

int table_insert(struct table_stripe *s, uint64_t hash, struct item *it, size_t bytes)
{
    uint64_t cap = (uint64_t)s->nbuckets * TABLE_BUCKET_SLOTS;
    if ((uint64_t)s->count + 1 > cap - cap / 16)
        table_grow(s);      /* on failure, the table is just fuller */
    uint64_t v = slot_make(tag_of(hash), it);
    /* One growth makes room unless the key's two buckets are full of its
     * own tag (keys made to collide): then refuse rather than grow on. */
    for (int grown = 0; !slot_place(s->slots, s->nbuckets, v); grown++) {
        if (grown == 2 || table_grow(s) != 0)
            return -ENOMEM;
    }
    s->count++;
    s->bytes += bytes;
    return 0;
}

/* The flat index of the slot holding `it`; it must be there. */
static size_t slot_of(const struct table_stripe *s, uint64_t hash, const struct item *it)
{
    uint64_t v = slot_make(tag_of(hash), it);
    if (s->hint < (size_t)s->nbuckets * TABLE_BUCKET_SLOTS && s->slots[s->hint] == v)
        return s->hint;
    uint32_t tag = tag_of(hash);
    uint32_t bs[2] = { bucket1(tag, s->nbuckets), bucket2(tag, s->nbuckets) };
    for (int k = 0; k < 2; k++) {
        size_t base = (size_t)bs[k] * TABLE_BUCKET_SLOTS;
        for (int i = 0; i < TABLE_BUCKET_SLOTS; i++)
            if (s->slots[base + i] == v)
                return base + i;
    }
    abort();    /* the caller's lock contract was broken */
}

void table_remove(struct table_stripe *s, uint64_t hash, struct item *it, size_t bytes)
{
    s->slots[slot_of(s, hash, it)] = 0;
    s->count--;
    s->bytes -= bytes;
}

void table_replace(struct table_stripe *s, uint64_t hash, struct item *old, size_t old_bytes,
                   struct item *it, size_t bytes)
{
    s->slots[slot_of(s, hash, old)] = slot_make(tag_of(hash), it);
    s->bytes = s->bytes - old_bytes + bytes;
}

struct item *table_slot(const struct table_stripe *s, uint32_t i)
{
    if (i >= s->nbuckets * TABLE_BUCKET_SLOTS || s->slots[i] == 0)
        return NULL;
    return slot_item(s->slots[i]);
}

uint64_t table_nslots(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < nstripes; i++) {
        word_lock(&stripes[i].lock);
        n += (uint64_t)stripes[i].nbuckets * TABLE_BUCKET_SLOTS;
        word_unlock(&stripes[i].lock);
    }
    return n;
}

uint64_t table_next_cas(struct table_stripe *s)
{
    return (++s->cas << stripe_bits) | (uint64_t)(s - stripes);
}

void table_cas_floor(uint64_t cas)
{
    uint64_t floor = cas >> stripe_bits;
    for (unsigned i = 0; i < nstripes; i++) {
        word_lock(&stripes[i].lock);
        if (stripes[i].cas <= floor)
            stripes[i].cas = floor + 1;
        word_unlock(&stripes[i].lock);
    }
}

void table_reserve(uint64_t items)
{
    /* A tenth more than the average share: stripes are not filled evenly. */
    uint64_t per = items / nstripes + items / nstripes / 10 + 1;
    uint64_t buckets = (per * 16 / 15 + TABLE_BUCKET_SLOTS - 1) / TABLE_BUCKET_SLOTS;
    if (buckets > TAG_MASK / 2)
        buckets = TAG_MASK / 2;
    for (unsigned i = 0; i < nstripes; i++) {
        struct table_stripe *s = &stripes[i];
        word_lock(&s->lock);
        uint32_t nb = buckets_for((uint32_t)buckets);
        uint64_t *ns = s->count == 0 && s->nbuckets < nb ? slots_alloc(nb) : NULL;
        if (ns != NULL) {
            slots_free(s->slots, s->nbuckets);
            s->slots = ns;
            s->nbuckets = nb;
            where_update(s);
        }
        while (s->nbuckets < buckets && table_grow(s) == 0)
            ;
        word_unlock(&s->lock);
    }
}
