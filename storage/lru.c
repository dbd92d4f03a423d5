/*
 * lru: per-class recency lists.
 *
 * A hit does not move the item: it sets ITEM_ACTIVE with one atomic OR and
 * takes no lock.  The eviction scan at the tail gives active items a second
 * chance (clear the bit, move to the head) and evicts the first inactive
 * one: CLOCK, which approximates LRU without a lock per get.  memcached
 * takes the same shortcut differently (bumps at most once per minute).
 *
 * Lock order: a table stripe lock may be held when an LRU lock is taken;
 * code holding an LRU lock only ever trylocks a stripe (see cache.c).
 */
#include "lru.h"

#include <string.h>

static struct lru lists[SLAB_MAX_CLASSES + 1];
static unsigned nlists;

void lru_setup(unsigned nclasses)
{
    nlists = nclasses;
    for (unsigned i = 0; i <= nclasses; i++) {
        memset(&lists[i], 0, sizeof(lists[i]));
        pthread_mutex_init(&lists[i].lock, NULL);
    }
}

void lru_teardown(void)
{
    for (unsigned i = 0; i <= nlists; i++)
        pthread_mutex_destroy(&lists[i].lock);
    nlists = 0;
}

struct lru *lru_of(unsigned cls) { return &lists[cls]; }

void lru_push_head_locked(struct lru *l, struct item *it)
{
    it->prev = NULL;
    it->next = l->head;
    if (l->head)
        l->head->prev = it;
    l->head = it;
    if (l->tail == NULL)
        l->tail = it;
    l->stats.count++;
}

void lru_remove_locked(struct lru *l, struct item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        l->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        l->tail = it->prev;
    it->prev = it->next = NULL;
    l->stats.count--;
}

void lru_link(struct item *it)
{
    struct lru *l = &lists[it->clsid];
    pthread_mutex_lock(&l->lock);
    lru_push_head_locked(l, it);
    pthread_mutex_unlock(&l->lock);
}

void lru_unlink(struct item *it)
{
    struct lru *l = &lists[it->clsid];
    pthread_mutex_lock(&l->lock);
    lru_remove_locked(l, it);
    pthread_mutex_unlock(&l->lock);
}

void lru_snapshot(unsigned cls, struct lru_stats *out, rel_time_t *tail_time)
{
    struct lru *l = &lists[cls];
    pthread_mutex_lock(&l->lock);
    *out = l->stats;
    *tail_time = l->tail ? l->tail->time : 0;
    pthread_mutex_unlock(&l->lock);
}

void lru_dump(unsigned cls, unsigned limit, int64_t started, void *arg,
              void (*fn)(void *arg, const struct item *it, int64_t started))
{
    struct lru *l = &lists[cls];
    pthread_mutex_lock(&l->lock);
    unsigned n = 0;
    for (struct item *it = l->head; it != NULL && (limit == 0 || n < limit); it = it->next, n++)
        fn(arg, it, started);
    pthread_mutex_unlock(&l->lock);
}
