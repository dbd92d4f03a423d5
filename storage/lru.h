/*
 * lru: the recency lists of each slab class, split into LRU_SHARDS shards
 * with a lock each.  See lru.c for the policy.
 */
#ifndef MCD_LRU_H
#define MCD_LRU_H

#include <pthread.h>
#include <stdint.h>

#include "item.h"
#include "slab.h"

/* Most shards per class, and the number lru_setup takes for 0.  An item's
 * shard is fixed by its hash. */
#define LRU_SHARDS 8

/* Counters of one shard's list, written under its lock; a class's are the sum. */
struct lru_stats {
    uint64_t count;             /* items on the list */
    uint64_t evicted;
    uint64_t evicted_nonzero;   /* evicted items that had an expiry time */
    uint64_t evicted_unfetched;
    uint64_t evicted_active;
    rel_time_t evicted_time;    /* age of the last evicted item */
    uint64_t reclaimed;         /* expired items whose memory was reused */
    uint64_t expired_unfetched;
    uint64_t outofmemory;
    uint64_t lrutail_reflocked; /* tail items skipped because in use */
    uint64_t moves_within_lru;  /* second chances given at the tail */
    uint64_t direct_reclaims;
};

/*
 * One shard of a class's list.  Lock order: a table stripe lock may be held
 * when a shard lock is taken, and then only that one shard lock; code holding
 * a shard lock only trylocks stripes.  Several shard locks of one class are
 * held together only by lru_dump, in ascending shard order, with no stripe
 * lock held.
 */
struct lru {
    pthread_mutex_t lock;
    struct item *head, *tail;
    struct lru_stats stats;
} __attribute__((aligned(64)));

/* Initialise the lists of classes 1..nclasses, `nshards` each (a power of
 * two up to LRU_SHARDS; 0 = LRU_SHARDS).  One shard is an exact per-class list. */
void lru_setup(unsigned nclasses, unsigned nshards);
/* Shards per class. */
unsigned lru_nshards(void);
/* Destroy the locks. */
void lru_teardown(void);
/* One shard of a class's list. */
struct lru *lru_of(unsigned cls, unsigned shard);
/* The shard an item belongs on: its class, and shard bits of its hash. */
struct lru *lru_for(const struct item *it);
/* Put an item at the head of a shard's list (lock held). */
void lru_push_head_locked(struct lru *l, struct item *it);
/* Take an item off a shard's list (lock held). */
void lru_remove_locked(struct lru *l, struct item *it);
/* Link / unlink taking the item's shard lock. */
void lru_link(struct item *it);
void lru_unlink(struct item *it);
/* Unlink `old` and link `it` in one hold of the shard lock; same class and hash. */
void lru_replace(struct item *old, struct item *it);
/* Call fn for up to `limit` items (0 = all) of a class, newest first across
 * its shards, under their locks. */
void lru_dump(unsigned cls, unsigned limit, int64_t started, void *arg,
              void (*fn)(void *arg, const struct item *it, int64_t started));
/* Sum a class's counters over its shards; also reports the oldest tail's time. */
void lru_snapshot(unsigned cls, struct lru_stats *out, rel_time_t *tail_time);

#endif
