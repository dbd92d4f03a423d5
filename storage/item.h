/*
 * item: the layout of one cached item, shared by the table, the slab
 * allocator, eviction and the protocol layer (which reads keys and values
 * out of it and hands the value to writev without copying).
 *
 * An item is one chunk of a slab page (slab.h): a 14-byte header, then the
 * CAS unique (8 bytes, only when CAS is on), the client flags (4 bytes, only
 * when not 0, as memcached keeps them), the key and the value.  The value is
 * stored without the protocol's "\r\n": the reply adds it.  There are no
 * list links and no cached hash: the table keeps a hash tag beside its
 * pointer, eviction sweeps the slab pages, and an item's class is its
 * page's.  Byte by byte:
 *
 *   0  exptime    4   cache time it expires, 0 = never
 *   4  time       4   last stored or read
 *   8  nkey       1
 *   9  iflags     1   enum item_flag (atomic)
 *  10  refcount   1   (atomic)
 *  11  size       3   value length (21 bits) and the layout bits ITEM_L_*
 *  14  [cas 8] [flags 4] key value
 *
 * Items larger than the largest chunk (ITEM_L_LARGE) are allocated whole,
 * with a struct item_large in front holding their length.
 *
 * Who guards what (cache.c's locks):
 *   exptime, time  written only under the key's stripe lock (relaxed atomic
 *                  stores); read under it for every decision, and without it
 *                  only as a hint that is checked again under the lock;
 *   nkey, size, the key, cas, flags: written by the allocating thread before
 *                  the item is linked (ITEM_LINKED is set with release
 *                  order), then constant while the chunk is allocated —
 *                  except cas, which changes under the stripe lock;
 *   the value      written before linking; changed in place only by
 *                  incr/decr, under the stripe lock with no other reference;
 *   iflags         atomic: LINKED changes under the stripe lock, the other
 *                  bits are hints set and cleared anywhere;
 *   refcount       atomic; 0 means a free chunk.
 *
 * Ownership: an item linked in the table holds one reference; whoever reads
 * an item outside the stripe lock takes another and drops it with
 * item_unref; the last unref frees the chunk.  References a reader takes
 * are capped (item_ref_try): past the cap the reader copies the value.
 */
#ifndef MCD_ITEM_H
#define MCD_ITEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Seconds since the cache started; 0 as an expiry time means "never". */
typedef uint32_t rel_time_t;

#define ITEM_KEY_MAX 250

enum item_flag {
    ITEM_LINKED = 1,    /* in the table */
    ITEM_FETCHED = 2,   /* read at least once since stored */
    ITEM_STALE = 4,     /* invalidated: still served, flagged as needing a refresh */
    ITEM_WIN_SENT = 8,  /* one client has been told it won the right to refresh it */
    ITEM_FREQ_ONE = 16, /* two bits counting recent reads, up to 3 (evict.c) */
    ITEM_FREQ_MASK = 48,
    ITEM_SMALL = 64,    /* new and not yet read again: in its class's small queue (evict.c) */
    ITEM_SIZED = 128,   /* counted in `stats sizes` (cache_admin.c) */
};

/* The layout bits in the size field, set at allocation. */
enum item_layout {
    ITEM_L_VLEN = 0x1fffff,     /* value length of a slab item */
    ITEM_L_CFLAGS = 1u << 21,   /* 4 bytes of client flags follow the cas */
    ITEM_L_LARGE = 1u << 22,    /* allocated whole: struct item_large in front */
    ITEM_L_KEY_BINARY = 1u << 23, /* the key came base64-encoded: replies encode it again */
};

struct item {
    _Atomic rel_time_t exptime;
    _Atomic rel_time_t time;
    uint8_t nkey;
    _Atomic uint8_t iflags;
    _Atomic uint8_t refcount;
    uint8_t size_hi;
    uint16_t size_lo;
    char data[];
};

#define ITEM_HEADER offsetof(struct item, data)
_Static_assert(offsetof(struct item, data) == 14, "the item header is 14 bytes");

/* In front of a large item. */
struct item_large {
    struct item_large *prev, *next;     /* the large items, for eviction (slab.c) */
    size_t alloc;                       /* bytes allocated, this header included */
    uint32_t vlen;
    uint32_t pad;
};
_Static_assert(sizeof(struct item_large) % 16 == 0, "large items stay 16-byte aligned");

/*
 * The item layout that does not vary per item, set once by cache_setup
 * before any item exists and constant afterwards.
 */
struct item_layout_info {
    unsigned cas_bytes;         /* 8, or 0 with -C */
    unsigned large_class;       /* the class id reported for large items */
};
extern struct item_layout_info item_layout;

/* Slab pages are this size and aligned to it; the first byte of a page is
 * its class (slab.h). */
#define ITEM_PAGE_SIZE (1u << 20)

/* References readers may hold at once (item_ref_try); the table's and the
 * storage layer's own pins come on top, within the counter's 255. */
#define ITEM_READER_REFS_MAX 240

static inline uint32_t item_size_bits(const struct item *it)
{
    return (uint32_t)it->size_hi << 16 | it->size_lo;
}

static inline bool item_is_large(const struct item *it)
{
    return (item_size_bits(it) & ITEM_L_LARGE) != 0;
}

static inline struct item_large *item_large_of(const struct item *it)
{
    return (struct item_large *)((char *)it - sizeof(struct item_large));
}

static inline size_t item_nkey(const struct item *it) { return it->nkey; }

/* Bytes between the header and the key: the cas and the client flags. */
static inline size_t item_meta_bytes(const struct item *it)
{
    return item_layout.cas_bytes + ((item_size_bits(it) & ITEM_L_CFLAGS) ? 4 : 0);
}

static inline const char *item_key(const struct item *it) { return it->data + item_meta_bytes(it); }
static inline char *item_value(struct item *it) { return it->data + item_meta_bytes(it) + it->nkey; }
static inline const char *item_cvalue(const struct item *it)
{
    return it->data + item_meta_bytes(it) + it->nkey;
}

/* Value length in bytes (no "\r\n"). */
static inline size_t item_vlen(const struct item *it)
{
    uint32_t bits = item_size_bits(it);
    return (bits & ITEM_L_LARGE) ? item_large_of(it)->vlen : (bits & ITEM_L_VLEN);
}

/* The client's flags. */
static inline uint32_t item_flags(const struct item *it)
{
    uint32_t f = 0;
    if (item_size_bits(it) & ITEM_L_CFLAGS)
        memcpy(&f, it->data + item_layout.cas_bytes, 4);
    return f;
}

/* The CAS unique (0 with -C). */
static inline uint64_t item_cas(const struct item *it)
{
    uint64_t c = 0;
    if (item_layout.cas_bytes)
        memcpy(&c, it->data, 8);
    return c;
}

/* Set the unique (storage only: under the stripe lock, or before linking). */
static inline void item_set_cas(struct item *it, uint64_t cas)
{
    if (item_layout.cas_bytes)
        memcpy(it->data, &cas, 8);
}

/* Whether the key came base64-encoded (meta's b flag). */
static inline bool item_key_binary(const struct item *it)
{
    return (item_size_bits(it) & ITEM_L_KEY_BINARY) != 0;
}

/* The slab class holding the item. */
static inline unsigned item_class(const struct item *it)
{
    if (item_is_large(it))
        return item_layout.large_class;
    return *(const uint8_t *)((uintptr_t)it & ~(uintptr_t)(ITEM_PAGE_SIZE - 1));
}

/* Bytes an item with this key, flags and value length takes before rounding. */
static inline size_t item_total(size_t nkey, uint32_t flags, size_t vlen)
{
    return ITEM_HEADER + item_layout.cas_bytes + (flags ? 4 : 0) + nkey + vlen;
}

static inline rel_time_t item_exptime(const struct item *it)
{
    return atomic_load_explicit(&it->exptime, memory_order_relaxed);
}

static inline rel_time_t item_atime(const struct item *it)
{
    return atomic_load_explicit(&it->time, memory_order_relaxed);
}

/* Take a reference storage itself needs (an internal pin). */
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
    uint8_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
    do {
        if (r >= ITEM_READER_REFS_MAX)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint8_t)(r + 1),
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Whether `f` is set. */
static inline bool item_has(const struct item *it, enum item_flag f)
{
    return (atomic_load_explicit(&((struct item *)it)->iflags, memory_order_relaxed) & f) != 0;
}

/* Mark an item the caller alone holds (not linked yet) as keyed in base64. */
static inline void item_mark_key_binary(struct item *it)
{
    it->size_hi |= (uint8_t)(ITEM_L_KEY_BINARY >> 16);
}

/* Drop a reference; the last one frees the item (defined in cache.c). */
void item_unref(struct item *it);

#endif
