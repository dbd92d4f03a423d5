/*
 * table: a hash table split into independent stripes, each with its own lock
 * and its own bucket array.
 *
 * The low bits of a key's hash pick the stripe, the high bits the bucket, so
 * an operation on one key takes exactly one lock.  Growth is per stripe:
 * when a stripe holds 1.5 items per bucket, its array doubles under that
 * stripe's lock alone.  This is incremental growth by construction — one
 * stripe's rehash moves 1/nstripes of the items while the other stripes keep
 * serving — without memcached's global expansion thread and its item-lock
 * switchover.  The cost is that the pause for one stripe grows with the
 * table (a 4M-item table with 1024 stripes rehashes ~4k items at a time,
 * tens of microseconds).
 *
 * Each item caches its 32-bit hash, so growth never rehashes keys and the
 * eviction code can find an item's stripe from the item alone.
 */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_STRIPE_BITS_MAX 10

static struct table_stripe *stripes;
static unsigned stripe_bits;
static unsigned nstripes;

int table_setup(unsigned hashpower)
{
    stripe_bits = hashpower < TABLE_STRIPE_BITS_MAX ? hashpower : TABLE_STRIPE_BITS_MAX;
    nstripes = 1u << stripe_bits;
    unsigned per_stripe = 1u << (hashpower > stripe_bits ? hashpower - stripe_bits : 0);
    stripes = aligned_alloc(64, sizeof(*stripes) * nstripes);
    if (stripes == NULL)
        return -ENOMEM;
    memset(stripes, 0, sizeof(*stripes) * nstripes);
    for (unsigned i = 0; i < nstripes; i++) {
        struct table_stripe *s = &stripes[i];
        pthread_mutex_init(&s->lock, NULL);
        s->buckets = calloc(per_stripe, sizeof(*s->buckets));
        if (s->buckets == NULL) {
            nstripes = i + 1;
            table_teardown();
            return -ENOMEM;
        }
        s->mask = per_stripe - 1;
    }
    return 0;
}

void table_teardown(void)
{
    for (unsigned i = 0; stripes && i < nstripes; i++) {
        pthread_mutex_destroy(&stripes[i].lock);
        free(stripes[i].buckets);
    }
    free(stripes);
    stripes = NULL;
    nstripes = 0;
}

unsigned table_nstripes(void) { return nstripes; }

struct table_stripe *table_stripe(uint32_t hash)
{
    return &stripes[hash & (nstripes - 1)];
}

struct table_stripe *table_stripe_at(unsigned i) { return &stripes[i]; }

static inline uint32_t table_bucket(const struct table_stripe *s, uint32_t hash)
{
    return (hash >> stripe_bits) & s->mask;
}

struct item *table_find(struct table_stripe *s, uint32_t hash, const char *key, size_t nkey)
{
    struct item *it = s->buckets[table_bucket(s, hash)];
    for (; it != NULL; it = it->h_next) {
        if (it->hash == hash && it->nkey == nkey && memcmp(it->data, key, nkey) == 0)
            return it;
    }
    return NULL;
}

/* Double a stripe's bucket array; on allocation failure keep the old one. */
static void table_grow(struct table_stripe *s)
{
    uint32_t nold = s->mask + 1;
    if (nold >= (1u << (32 - stripe_bits)))
        return;
    struct item **nb = calloc((size_t)nold * 2, sizeof(*nb));
    if (nb == NULL)
        return;
    struct item **old = s->buckets;
    s->buckets = nb;
    s->mask = nold * 2 - 1;
    for (uint32_t b = 0; b < nold; b++) {
        struct item *it = old[b];
        while (it != NULL) {
            struct item *next = it->h_next;
            uint32_t nbk = table_bucket(s, it->hash);
            it->h_next = nb[nbk];
            nb[nbk] = it;
            it = next;
        }
    }
    free(old);
}

void table_insert(struct table_stripe *s, struct item *it)
{
    if (s->count + 1 > (s->mask + 1) + (s->mask + 1) / 2)
        table_grow(s);
    uint32_t b = table_bucket(s, it->hash);
    it->h_next = s->buckets[b];
    s->buckets[b] = it;
    s->count++;
    s->bytes += item_total(it->nkey, it->nbytes);
}

void table_remove(struct table_stripe *s, struct item *it)
{
    struct item **pp = &s->buckets[table_bucket(s, it->hash)];
    while (*pp != it)
        pp = &(*pp)->h_next;
    *pp = it->h_next;
    it->h_next = NULL;
    s->count--;
    s->bytes -= item_total(it->nkey, it->nbytes);
}

uint64_t table_nbuckets(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < nstripes; i++) {
        pthread_mutex_lock(&stripes[i].lock);
        n += stripes[i].mask + 1;
        pthread_mutex_unlock(&stripes[i].lock);
    }
    return n;
}

uint64_t table_next_cas(struct table_stripe *s)
{
    return (++s->cas << stripe_bits) | (uint64_t)(s - stripes);
}
