/*
 * cache_arith: incr and decr — memcached's number parsing and its rules for
 * rewriting the value in place (space-padded to the old length) or moving
 * the number to a new item when it grew or someone is reading the old one.
 * Each operation is one stripe-locked step.
 */
#include <stdio.h>
#include <string.h>

#include "cache_priv.h"
#include "hash.h"
#include "num.h"

bool cache_arith_apply(const char *val, size_t len, bool incr, uint64_t delta, uint64_t *out)
{
    uint64_t v;
    if (!num_parse_u64(val, len, &v))
        return false;
    if (incr)
        v += delta;
    else
        v = delta > v ? 0 : v - delta;
    *out = v;
    return true;
}

/* Replace a number in place, or link a new item holding it; `buf` has `n` digits. */
static enum cache_status cache_arith_write(struct table_stripe *s, uint64_t hash,
                                           struct item *it, const char *buf, size_t n,
                                           rel_time_t now, bool *in_place, uint64_t *cas)
{
    size_t vlen = item_vlen(it);
    if (n <= vlen && atomic_load_explicit(&it->refcount, memory_order_acquire) == 1) {
        /* Fits and nobody is reading it: rewrite in place, space-padded
         * to the old length as memcached does. */
        memcpy(item_value(it), buf, n);
        memset(item_value(it) + n, ' ', vlen - n);
        item_set_cas(it, cache_opts.use_cas ? table_next_cas(s) : 0);
        atomic_store_explicit(&it->time, now, memory_order_relaxed);
        *in_place = true;
        *cas = item_cas(it);
        return CACHE_OK;
    }
    enum cache_status st;
    struct item *ni = cache_alloc_at(item_key(it), it->nkey, item_flags(it), item_exptime(it), n,
                                     now, &st);
    if (ni == NULL)
        return CACHE_NO_MEMORY;
    memcpy(item_value(ni), buf, n);
    cache_replace(s, hash, it, ni, now);
    *in_place = false;
    *cas = item_cas(ni);
    item_unref(ni);
    return CACHE_OK;
}

/* On a miss with vivify: link a new item holding the initial value. */
static enum cache_status cache_arith_vivify(struct table_stripe *s, const char *key, size_t nkey,
                                            uint64_t hash, const struct cache_arith_opts *o,
                                            rel_time_t now, struct cache_arith_result *res)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->initial);
    enum cache_status st;
    struct item *it = cache_alloc_at(key, nkey, 0, o->vivify_exptime, (size_t)n, now, &st);
    if (it == NULL)
        return CACHE_NO_MEMORY;
    memcpy(item_value(it), buf, (size_t)n);
    st = cache_link(s, hash, it, now);
    if (st == CACHE_STORED) {
        res->value = o->initial;
        res->cas = item_cas(it);
        res->cls = item_class(it);
        res->created = true;
        st = CACHE_OK;
    }
    item_unref(it);
    return st;
}

enum cache_status cache_arith_ex(const char *key, size_t nkey, const struct cache_arith_opts *o,
                                 rel_time_t now, struct cache_arith_result *res)
{
    uint64_t hash = hash_key(key, nkey);
    struct table_stripe *s = table_stripe(hash);
    enum cache_status st = CACHE_OK;
    memset(res, 0, sizeof(*res));
    word_lock(&s->lock);
    struct item *it = cache_find(s, hash, key, nkey, now, NULL);
    if (it == NULL) {
        st = o->vivify ? cache_arith_vivify(s, key, nkey, hash, o, now, res) : CACHE_NOT_FOUND;
    } else if (item_vlen(it) == 0) {
        st = CACHE_NON_NUMERIC;
    } else if (o->cas != 0 && item_cas(it) != o->cas) {
        /* memcached's order: an empty value, then the unique, then the number. */
        st = CACHE_EXISTS;
    } else if (!cache_arith_apply(item_cvalue(it), item_vlen(it), o->incr, o->delta,
                                  &res->value)) {
        st = CACHE_NON_NUMERIC;
    } else {
        char buf[24];
        int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)res->value);
        bool in_place = false;
        res->cls = item_class(it);
        res->exptime_before = item_exptime(it);
        st = cache_arith_write(s, hash, it, buf, (size_t)n, now, &in_place, &res->cas);
        /* memcached applies a new expiry to the item it started from, so
         * when the number moved to a new item the expiry is lost with the old. */
        if (st == CACHE_OK && o->touch && in_place)
            atomic_store_explicit(&it->exptime, o->exptime, memory_order_relaxed);
    }
    word_unlock(&s->lock);
    return st;
}

enum cache_status cache_arith(const char *key, size_t nkey, bool incr, uint64_t delta,
                              rel_time_t now, uint64_t *value, unsigned *cls)
{
    struct cache_arith_opts o = { .incr = incr, .delta = delta };
    struct cache_arith_result res;
    enum cache_status st = cache_arith_ex(key, nkey, &o, now, &res);
    if (st == CACHE_OK) {
        *value = res.value;
        if (cls != NULL)
            *cls = res.cls;
    }
    return st;
}
