/*
 * lru: per-class recency lists, each split into LRU_SHARDS shards.
 *
 * A hit does not move the item: it sets ITEM_ACTIVE with one atomic OR and
 * takes no lock.  The eviction scan at the tail gives active items a second
 * chance (clear the bit, move to the head) and evicts the first inactive
 * one: CLOCK, which approximates LRU without a lock per get.  memcached
 * takes the same shortcut differently (bumps at most once per minute).
 *
 * Every store links and unlinks, so one lock per class made all writers of
 * a popular size queue on it.  Each class is therefore several lists
 * (lru_setup's nshards, LRU_SHARDS by default; one gives the exact list), an
 * item's list fixed by the low bits of its hash (so a key's items always
 * meet on one shard, and the shard needs no field in the item).  Keys hash
 * uniformly, so each shard's tail holds about the same slice of the oldest
 * items; the eviction code (cache.c) takes shards round-robin, which evicts
 * from the oldest 1/LRU_SHARDS-ish of the class rather than the single
 * oldest item — within CLOCK's own approximation.
 *
 * Lock order: see struct lru in lru.h.
 */
#include "lru.h"

#include <string.h>

static struct lru lists[SLAB_MAX_CLASSES + 1][LRU_SHARDS];
static unsigned nlists;
static unsigned nshards = LRU_SHARDS;

void lru_setup(unsigned nclasses, unsigned shards)
{
    nlists = nclasses;
    nshards = shards == 0 || shards > LRU_SHARDS || (shards & (shards - 1)) != 0 ? LRU_SHARDS
                                                                                 : shards;
    for (unsigned i = 0; i <= nclasses; i++) {
        for (unsigned s = 0; s < LRU_SHARDS; s++) {
            memset(&lists[i][s], 0, sizeof(lists[i][s]));
            pthread_mutex_init(&lists[i][s].lock, NULL);
        }
    }
}

void lru_teardown(void)
{
    for (unsigned i = 0; i <= nlists; i++) {
        for (unsigned s = 0; s < LRU_SHARDS; s++)
            pthread_mutex_destroy(&lists[i][s].lock);
    }
    nlists = 0;
}

unsigned lru_nshards(void) { return nshards; }

struct lru *lru_of(unsigned cls, unsigned shard) { return &lists[cls][shard]; }

struct lru *lru_for(const struct item *it)
{
    return &lists[it->clsid][it->hash & (nshards - 1)];
}

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
    struct lru *l = lru_for(it);
    pthread_mutex_lock(&l->lock);
    lru_push_head_locked(l, it);
    pthread_mutex_unlock(&l->lock);
}

void lru_unlink(struct item *it)
{
    struct lru *l = lru_for(it);
    pthread_mutex_lock(&l->lock);
    lru_remove_locked(l, it);
    pthread_mutex_unlock(&l->lock);
}

void lru_replace(struct item *old, struct item *it)
{
    struct lru *l = lru_for(it);
    pthread_mutex_lock(&l->lock);
    lru_remove_locked(l, old);
    lru_push_head_locked(l, it);
    pthread_mutex_unlock(&l->lock);
}

void lru_snapshot(unsigned cls, struct lru_stats *out, rel_time_t *tail_time)
{
    memset(out, 0, sizeof(*out));
    *tail_time = 0;
    bool have_tail = false;
    for (unsigned s = 0; s < nshards; s++) {
        struct lru *l = &lists[cls][s];
        pthread_mutex_lock(&l->lock);
        const struct lru_stats *st = &l->stats;
        out->count += st->count;
        out->evicted += st->evicted;
        out->evicted_nonzero += st->evicted_nonzero;
        out->evicted_unfetched += st->evicted_unfetched;
        out->evicted_active += st->evicted_active;
        /* Shards do not know which evicted last; the oldest age is the
         * one that says most about how long items survive. */
        if (st->evicted_time > out->evicted_time)
            out->evicted_time = st->evicted_time;
        out->reclaimed += st->reclaimed;
        out->expired_unfetched += st->expired_unfetched;
        out->outofmemory += st->outofmemory;
        out->lrutail_reflocked += st->lrutail_reflocked;
        out->moves_within_lru += st->moves_within_lru;
        out->direct_reclaims += st->direct_reclaims;
        if (l->tail != NULL && (!have_tail || l->tail->time < *tail_time)) {
            *tail_time = l->tail->time;
            have_tail = true;
        }
        pthread_mutex_unlock(&l->lock);
    }
}

/*
 * Walk a class newest first: all its shard locks held (ascending, see
 * lru.h), merging the shards' lists by last access time.  Within a shard the
 * list order wins, so a shard's items come out in its own recency order.
 */
void lru_dump(unsigned cls, unsigned limit, int64_t started, void *arg,
              void (*fn)(void *arg, const struct item *it, int64_t started))
{
    struct item *cur[LRU_SHARDS];
    for (unsigned s = 0; s < nshards; s++) {
        pthread_mutex_lock(&lists[cls][s].lock);
        cur[s] = lists[cls][s].head;
    }
    for (unsigned n = 0; limit == 0 || n < limit; n++) {
        int best = -1;
        for (unsigned s = 0; s < nshards; s++) {
            if (cur[s] != NULL && (best < 0 || cur[s]->time > cur[best]->time))
                best = (int)s;
        }
        if (best < 0)
            break;
        fn(arg, cur[best], started);
        cur[best] = cur[best]->next;
    }
    for (unsigned s = nshards; s-- > 0;)
        pthread_mutex_unlock(&lists[cls][s].lock);
}
