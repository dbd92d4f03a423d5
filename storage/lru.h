/*
 * lru: one recency list per slab class, with the lock that guards it.
 * See lru.c for the policy.
 */
#ifndef MCD_LRU_H
#define MCD_LRU_H

#include <pthread.h>
#include <stdint.h>

#include "item.h"
#include "slab.h"

/* Counters of one class's list, written under its lock. */
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

struct lru {
    pthread_mutex_t lock;       /* taken after a table stripe lock, never before */
    struct item *head, *tail;
    struct lru_stats stats;
} __attribute__((aligned(64)));

/* Initialise the lists of classes 1..nclasses. */
void lru_setup(unsigned nclasses);
/* Destroy the locks. */
void lru_teardown(void);
/* The list of a class. */
struct lru *lru_of(unsigned cls);
/* Put an item at the head of its class's list (lock held). */
void lru_push_head_locked(struct lru *l, struct item *it);
/* Take an item off its class's list (lock held). */
void lru_remove_locked(struct lru *l, struct item *it);
/* Link / unlink taking the class lock. */
void lru_link(struct item *it);
void lru_unlink(struct item *it);
/* Call fn for up to `limit` items (0 = all) from the head of a class's list, under its lock. */
void lru_dump(unsigned cls, unsigned limit, int64_t started, void *arg,
              void (*fn)(void *arg, const struct item *it, int64_t started));
/* Copy a class's counters under its lock; also reports the tail's time. */
void lru_snapshot(unsigned cls, struct lru_stats *out, rel_time_t *tail_time);

#endif
