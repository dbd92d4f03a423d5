/*
 * cache_restore: linking the items a warm restart brings back (persist.c)
 * as they were — unique, expiry, last access, marks — where a store would
 * give them new ones.  Kept apart from cache.c's request path: it runs
 * before any client is served, once per item of the file.
 */
#include <string.h>

#include "cache_priv.h"
#include "hash.h"

/* Link `it` (ours: refcount 1, unlinked) unless its key is there, then give
 * it the last access, unique and marks it had; our reference is dropped. */
static enum cache_status link_as_saved(struct item *it, uint64_t hash, rel_time_t atime,
                                       uint64_t cas, uint8_t marks, rel_time_t now)
{
    struct table_stripe *s = table_stripe(hash);
    word_lock(&s->lock);
    enum cache_status st = CACHE_NOT_STORED;
    if (cache_find(s, hash, item_key(it), it->nkey, now, NULL) == NULL)
        st = cache_link(s, hash, it, now);
    if (st == CACHE_STORED) {
        atomic_store_explicit(&it->time, atime, memory_order_relaxed);
        item_set_cas(it, cas);
        atomic_fetch_or_explicit(&it->iflags, marks, memory_order_relaxed);
    }
    word_unlock(&s->lock);
    item_unref(it);
    return st;
}

enum cache_status cache_restore(const struct cache_restore_item *r, uint64_t hash,
                                rel_time_t now)
{
    enum cache_status err;
    struct item *it = cache_alloc_at(r->key, r->nkey, r->flags, r->exptime, r->vlen, now, &err);
    if (it == NULL)
        return err;
    memcpy(item_value(it), r->value, r->vlen);
    if (r->key_binary)
        item_mark_key_binary(it);
    uint8_t marks = (uint8_t)((r->fetched ? ITEM_FETCHED : 0) | (r->stale ? ITEM_STALE : 0));
    return link_as_saved(it, hash, r->atime, r->cas, marks, now);
}

enum cache_status cache_adopt(struct item *it, rel_time_t now)
{
    uint8_t marks = atomic_load_explicit(&it->iflags, memory_order_relaxed) &
                    (ITEM_FETCHED | ITEM_STALE | ITEM_FREQ_MASK);
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    return link_as_saved(it, hash_key(item_key(it), it->nkey), item_atime(it), item_cas(it),
                         marks, now);
}

void cache_restore_undo(rel_time_t now)
{
    cache_flush(now, now);
    cache_stats_reset();
}

void cache_cas_floor(uint64_t cas) { table_cas_floor(cas); }

void cache_quiesce(void)
{
    crawler_stop();
    mover_stop();
}

int cache_resume(void)
{
    int rc = mover_start(&cache_opts);
    if (rc == 0)
        rc = crawler_start(&cache_opts);
    return rc;
}

void cache_reserve(uint64_t items) { table_reserve(items); }
