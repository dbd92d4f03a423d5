/*
 * item: the layout of one cached item, shared by the table, the LRU, the
 * slab allocator and the protocol layer (which reads keys and values out of
 * it and hands the value to writev without copying).
 *
 * One allocation holds the header, the key and the value.  The value is
 * stored without the protocol's trailing "\r\n": the reply adds it.  Code
 * outside storage/ reads an item only through the accessors below, so the
 * layout can change without the protocol layer noticing.
 *
 * Ownership: an item linked in the table holds one reference; whoever reads
 * an item outside the stripe lock takes another and drops it with
 * item_unref; the last unref frees the memory.  References a reader takes
 * are capped (item_ref_try): past the cap the reader copies the value.
 */
#ifndef MCD_ITEM_H
#define MCD_ITEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds since the cache started; 0 as an expiry time means "never". */
typedef uint32_t rel_time_t;

#define ITEM_KEY_MAX 250

enum item_flag {
    ITEM_LINKED = 1,   /* in the table and in its class's LRU */
    ITEM_FETCHED = 2,  /* read at least once since stored */
    ITEM_ACTIVE = 4,   /* read since it last passed the LRU tail (second chance) */
    ITEM_STALE = 8,    /* invalidated: still served, flagged as needing a refresh */
    ITEM_WIN_SENT = 16, /* one client has been told it won the right to refresh it */
    ITEM_KEY_BINARY = 32, /* the key came base64-encoded, so replies encode it again */
};

struct item {
    struct item *h_next;        /* hash chain within one stripe */
    struct item *prev, *next;   /* class LRU, head = most recent */
    uint64_t cas;
    rel_time_t exptime;         /* 0 = never */
    rel_time_t time;            /* last stored or accessed */
    uint32_t flags;             /* client flags */
    uint32_t nbytes;            /* value length */
    uint32_t hash;
    _Atomic uint16_t refcount;
    _Atomic uint8_t iflags;     /* enum item_flag */
    uint8_t nkey;
    uint8_t clsid;              /* slab class */
    uint8_t slab_shard;         /* which of the class's arenas holds it (slab_free) */
    char data[];                /* key, then value */
};

/* The header fits one cache line; a field added must not grow it. */
_Static_assert(sizeof(struct item) <= 64, "struct item outgrew its cache line");

/* References readers may hold at once (item_ref_try); the table's and the
 * storage layer's own come on top, within the counter's range. */
#define ITEM_READER_REFS_MAX 60000

static inline const char *item_key(const struct item *it) { return it->data; }
static inline size_t item_nkey(const struct item *it) { return it->nkey; }
static inline char *item_value(struct item *it) { return it->data + it->nkey; }
static inline const char *item_cvalue(const struct item *it) { return it->data + it->nkey; }
/* Value length in bytes (no "\r\n"). */
static inline size_t item_vlen(const struct item *it) { return it->nbytes; }
/* The client's flags. */
static inline uint32_t item_flags(const struct item *it) { return it->flags; }
/* The CAS unique (0 with -C). */
static inline uint64_t item_cas(const struct item *it) { return it->cas; }
/* The slab class holding the item. */
static inline unsigned item_class(const struct item *it) { return it->clsid; }
/* Bytes an item with this key and value length needs. */
static inline size_t item_total(size_t nkey, size_t nbytes)
{
    return sizeof(struct item) + nkey + nbytes;
}

/* Take a reference storage itself needs (the table's, an internal pin). */
static inline void item_ref(struct item *it)
{
    atomic_fetch_add_explicit(&it->refcount, 1, memory_order_relaxed);
}

/*
 * Take a reader's reference, unless ITEM_READER_REFS_MAX are already held:
 * then false, and the caller must copy what it needs while it may still
 * read the item (under the stripe lock, or under a reference it holds).
 */
static inline bool item_ref_try(struct item *it)
{
    uint16_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
    do {
        if (r >= ITEM_READER_REFS_MAX)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint16_t)(r + 1),
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Whether `f` is set. */
static inline bool item_has(struct item *it, enum item_flag f)
{
    return (atomic_load_explicit(&it->iflags, memory_order_relaxed) & f) != 0;
}

/* Mark an item the caller alone holds (not linked yet), e.g. ITEM_KEY_BINARY. */
static inline void item_mark_new(struct item *it, enum item_flag f)
{
    atomic_fetch_or_explicit(&it->iflags, (uint8_t)f, memory_order_relaxed);
}

/* Drop a reference; the last one frees the item (defined in cache.c). */
void item_unref(struct item *it);

#endif
