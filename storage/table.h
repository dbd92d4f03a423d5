/*
 * table: the lock-striped hash table.  See table.c for the design.
 */
#ifndef MCD_TABLE_H
#define MCD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "item.h"
#include "lock.h"

/* Slots per bucket: one 64-byte cache line. */
#define TABLE_BUCKET_SLOTS 8

/*
 * One stripe: a lock and the sub-table it guards, in one cache line.  A
 * key's stripe is the low bits of its hash.  Every field is read and
 * written only with `lock` held.  (A prefetch reads no field: it reads the
 * stripe's table_where, table.c.)
 */
struct table_stripe {
    struct word_lock lock;      /* taken before a thread's magazine lock (slab.c) */
    uint64_t *slots;            /* nbuckets * TABLE_BUCKET_SLOTS, 64-byte aligned */
    uint32_t nbuckets;
    uint32_t count;             /* items linked */
    uint32_t hint;              /* slot of the last item found, for its removal */
    uint64_t bytes;             /* their item_total() */
    uint64_t cas;               /* last CAS unique handed out in this stripe */
    uint64_t total_items;       /* items ever linked (stats total_items) */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct table_stripe) == 64, "a stripe is one cache line");

/* Create the table with about 2^hashpower slots.  0 or -ENOMEM. */
int table_setup(unsigned hashpower);
/* Free the table; items are not touched. */
void table_teardown(void);
/* Number of stripes (a power of two). */
unsigned table_nstripes(void);
/* The stripe of a hash, unlocked. */
struct table_stripe *table_stripe(uint64_t hash);
/* Stripe by index, for walks. */
struct table_stripe *table_stripe_at(unsigned i);
/* Find a key in a locked stripe. */
struct item *table_find(struct table_stripe *s, uint64_t hash, const char *key, size_t nkey);
/* Prefetch hints (cache.h's cache_prefetch and cache_prefetch_items): the
 * stripe and the buckets of `hash`; the items in them whose tags match. */
void table_prefetch(uint64_t hash);
void table_prefetch_items(uint64_t hash);
/* Add an item (not there yet) to a locked stripe; `bytes` is counted in
 * s->bytes.  Grows the stripe when crowded; -ENOMEM if it cannot. */
int table_insert(struct table_stripe *s, uint64_t hash, struct item *it, size_t bytes);
/* Remove an item from a locked stripe; it must be there. */
void table_remove(struct table_stripe *s, uint64_t hash, struct item *it, size_t bytes);
/* Put `it` in the slot of `old` (same key), in a locked stripe. */
void table_replace(struct table_stripe *s, uint64_t hash, struct item *old, size_t old_bytes,
                   struct item *it, size_t bytes);
/* The item in slot `i` of a locked stripe, or NULL (slot walks: flush, stats). */
struct item *table_slot(const struct table_stripe *s, uint32_t i);
/* A new CAS unique from a locked stripe: the stripe's counter with the
 * stripe's index in the low bits, so uniques never repeat across keys. */
uint64_t table_next_cas(struct table_stripe *s);
/* Grow every stripe to hold its share of `items` without growing again (a bulk load). */
void table_reserve(uint64_t items);
/* Raise every stripe's counter so its next unique is above `cas` (warm restart). */
void table_cas_floor(uint64_t cas);
/* Slots over all stripes. */
uint64_t table_nslots(void);

#endif
