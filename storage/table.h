/*
 * table: the lock-striped hash table.  See table.c for the design.
 */
#ifndef MCD_TABLE_H
#define MCD_TABLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

/*
 * One stripe: a lock and the sub-table it guards.  A key's stripe is the low
 * bits of its hash; its bucket within the stripe the high bits.  Everything
 * in the struct is read and written only with `lock` held.
 */
struct table_stripe {
    pthread_mutex_t lock;       /* taken before any LRU lock */
    struct item **buckets;
    uint32_t mask;              /* nbuckets - 1 */
    uint32_t count;             /* items linked */
    uint64_t bytes;             /* sum of item_total() of linked items */
    uint64_t cas;               /* last CAS unique handed out in this stripe */
    uint64_t total_items;       /* items ever linked (stats total_items) */
} __attribute__((aligned(64)));

/* Create the table with about 2^hashpower buckets.  0 or -ENOMEM. */
int table_setup(unsigned hashpower);
/* Free the table; items are not touched. */
void table_teardown(void);
/* Number of stripes (a power of two). */
unsigned table_nstripes(void);
/* The stripe of a hash, unlocked. */
struct table_stripe *table_stripe(uint32_t hash);
/* Stripe by index, for walks. */
struct table_stripe *table_stripe_at(unsigned i);
/* Find a key in a locked stripe. */
struct item *table_find(struct table_stripe *s, uint32_t hash, const char *key, size_t nkey);
/* Add an item to a locked stripe, growing it when crowded. */
void table_insert(struct table_stripe *s, struct item *it);
/* Remove an item from a locked stripe; it must be there. */
void table_remove(struct table_stripe *s, struct item *it);
/* A new CAS unique from a locked stripe: the stripe's counter with the
 * stripe's index in the low bits, so uniques never repeat across keys. */
uint64_t table_next_cas(struct table_stripe *s);
/* Total buckets over all stripes (log2 is memcached's hash_power_level). */
uint64_t table_nbuckets(void);

#endif
