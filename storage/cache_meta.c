/*
 * cache_meta: the storage side of memcached's meta commands — lookups that
 * report what they found before changing it (fetched, last access, expiry),
 * create an item on a miss, hand out the right to refresh an item ("win"),
 * and invalidate an item instead of deleting it (stale).
 *
 * Each operation is one stripe-locked step, so the state a reply reports is
 * the state the operation acted on.  The win mark (ITEM_WIN_SENT) and the
 * stale mark live in the item's atomic flags: no extra bytes per item.
 */
#include <string.h>

#include "cache_priv.h"
#include "hash.h"

/* Create the empty item a vivifying fetch links on a miss. */
static struct item *cache_vivify(struct table_stripe *s, const char *key, size_t nkey,
                                 uint64_t hash, rel_time_t exptime, rel_time_t now)
{
    enum cache_status err;
    struct item *it = cache_alloc_at(key, nkey, 0, exptime, 0, now, &err);
    if (it == NULL)
        return NULL;
    if (cache_link(s, hash, it, now) != CACHE_STORED) {
        item_unref(it);
        return NULL;
    }
    return it;      /* the caller's reference from the allocation */
}

/* Decide the win as memcached's mg does; called with the stripe locked. */
static void cache_fetch_win(struct item *it, const struct cache_fetch_opts *o,
                            struct cache_fetch *out)
{
    rel_time_t exp_seen = o->recache_after_touch ? item_exptime(it) : out->exptime_before;
    bool sent = item_has(it, ITEM_WIN_SENT);
    out->won = out->created;
    if (o->recache && !sent && !out->created && exp_seen != 0 && exp_seen < o->recache_time)
        out->won = true;
    out->win_sent_before = sent;
    out->stale = item_has(it, ITEM_STALE);
    if (out->stale && !sent)
        out->won = true;
    if (out->won)
        atomic_fetch_or_explicit(&it->iflags, ITEM_WIN_SENT, memory_order_relaxed);
}

/* Fill the state a fetch or peek reports, before it changes anything. */
static void cache_fetch_state(struct item *it, struct cache_fetch *out)
{
    out->found = true;
    out->exptime_before = item_exptime(it);
    out->atime = item_atime(it);
    out->fetched_before = item_has(it, ITEM_FETCHED);
    out->vlen = item_vlen(it);
    out->flags = item_flags(it);
    out->cls = item_class(it);
    out->key_binary = item_key_binary(it);
}

void cache_fetch(const char *key, size_t nkey, uint64_t hash, const struct cache_fetch_opts *o,
                 rel_time_t now, struct cache_fetch *out,
                 void (*fn)(const struct cache_fetch *f, void *arg), void *arg)
{
    struct table_stripe *s = table_stripe(hash);
    memset(out, 0, sizeof(*out));
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, &out->why);
    if (it == NULL && o->vivify) {
        /* memcached links it with no expiry and sets N's in the reply loop. */
        it = cache_vivify(s, key, nkey, hash, 0, now);
        out->created = it != NULL;
    }
    if (it != NULL) {
        cache_fetch_state(it, out);
        if (out->created)
            atomic_store_explicit(&it->exptime, o->vivify_exptime, memory_order_relaxed);
        else if (o->touch)
            atomic_store_explicit(&it->exptime, o->exptime, memory_order_relaxed);
        cache_fetch_win(it, o, out);
        out->cas = item_cas(it);
        if (!o->no_bump) {
            if (out->fetched_before)
                atomic_store_explicit(&it->time, now, memory_order_relaxed);
            cache_mark_read(it);
        }
        out->it = it;
        fn(out, arg);
        out->it = NULL;
        if (out->created)
            item_unref(it);     /* the allocation's reference; the table keeps its own */
    }
    word_unlock(&s->lock);
}

bool cache_peek(const char *key, size_t nkey, rel_time_t now, struct cache_fetch *out)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    memset(out, 0, sizeof(*out));
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, &out->why);
    if (it != NULL) {
        cache_fetch_state(it, out);
        out->cas = item_cas(it);
    }
    word_unlock(&s->lock);
    return out->found;
}

enum cache_status cache_delete_cas(const char *key, size_t nkey, const uint64_t *cas,
                                   rel_time_t now, unsigned *cls)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_status st = CACHE_NOT_FOUND;
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it != NULL && cas != NULL && item_cas(it) != *cas) {
        st = CACHE_EXISTS;
    } else if (it != NULL) {
        if (cls != NULL)
            *cls = item_class(it);
        cache_unlink(s, hash, it);
        st = CACHE_DELETED;
    }
    word_unlock(&s->lock);
    return st;
}

enum cache_status cache_mark_stale(const char *key, size_t nkey, const uint64_t *cas, bool touch,
                                   rel_time_t exptime, rel_time_t now)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_status st = CACHE_NOT_FOUND;
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it != NULL && cas != NULL && item_cas(it) != *cas) {
        st = CACHE_EXISTS;
    } else if (it != NULL) {
        if (touch)
            atomic_store_explicit(&it->exptime, exptime, memory_order_relaxed);
        atomic_fetch_or_explicit(&it->iflags, ITEM_STALE, memory_order_relaxed);
        /* The next reader wins the refresh. */
        atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_WIN_SENT, memory_order_relaxed);
        item_set_cas(it, cache_use_cas() ? table_next_cas(s) : 0);
        st = CACHE_OK;
    }
    word_unlock(&s->lock);
    return st;
}
