/*
 * text_dump: `stats cachedump` and `lru_crawler metadump`, listing items as
 * they are found by a walk over the cache (cache_walk_*), a batch at a
 * time.
 *
 * The walk copies each item's facts under its stripe lock and formats
 * nothing there, so a dump of a million items never makes a writer wait
 * for more than a batch's copy.  A dump is long work like a multi-get: it
 * stops when the reply reaches its bound and goes on once the reply is
 * written (the session keeps the walk), so it needs no more memory than
 * one bound.  As memcached, cachedump also stops at 2 MB of reply in all;
 * metadump lists every item.
 *
 * Both list live items only, in the walk's order (memcached walks its LRU:
 * cachedump shows the COLD segment from its head, which holds neither the
 * newest items nor the expired ones it has reclaimed).
 */
#include <stdio.h>
#include <string.h>

#include "mc_layout.h"
#include "text.h"

/* Items copied per walk step. */
#define DUMP_BATCH 64
/* memcached's cap on a cachedump reply, END and its NUL included. */
#define CACHEDUMP_MAX (2 * 1024 * 1024)

struct dump_ctx {
    struct text_dump_state *d;
    struct reply *out;
    int64_t started;
};

/* "ITEM <key> [<bytes> b; <unix exptime> s]", as memcached's item_cachedump. */
static void cachedump_item(const struct cache_item_info *it, void *arg)
{
    struct dump_ctx *x = arg;
    struct text_dump_state *d = x->d;
    /* memcached does not print binary keys. */
    if (d->stop || it->key_binary)
        return;
    if (d->limit != 0 && d->shown >= d->limit) {
        d->stop = true;
        return;
    }
    char line[ITEM_KEY_MAX + 64];
    int n = snprintf(line, sizeof(line), "ITEM %.*s [%zu b; %llu s]\r\n", (int)it->nkey, it->key,
                     it->vlen,
                     it->exptime == 0 ? 0ULL : (unsigned long long)(it->exptime + x->started));
    if (d->bytes + (size_t)n + 6 > CACHEDUMP_MAX) {
        d->stop = true;
        return;
    }
    reply_add(x->out, line, (size_t)n);
    d->bytes += (size_t)n;
    d->shown++;
}

/* memcached's uriencode: all but [A-Za-z0-9._~-] as %XX. */
static size_t uriencode(const char *src, size_t n, char *dst)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    return o;
}

/* "key=<uriencoded> exp=<unix or -1> la=<unix> cas=<n> fetch=yes|no cls=<n>
 * size=<n>\n", as memcached's crawler_metadump_eval (its lines end in \n
 * alone).  cls and size are memcached's for the item, as in `me`. */
static void metadump_item(const struct cache_item_info *it, void *arg)
{
    struct dump_ctx *x = arg;
    char line[3 * ITEM_KEY_MAX + 160];
    memcpy(line, "key=", 4);
    size_t n = 4 + uriencode(it->key, it->nkey, line + 4);
    size_t size = mc_item_size(it->nkey, it->vlen, it->flags, cache_use_cas());
    n += (size_t)snprintf(line + n, sizeof(line) - n,
                          " exp=%lld la=%llu cas=%llu fetch=%s cls=%u size=%zu\n",
                          it->exptime == 0 ? -1LL : (long long)(it->exptime + x->started),
                          (unsigned long long)(it->atime + x->started),
                          (unsigned long long)it->cas, it->fetched ? "yes" : "no",
                          mc_item_class(size), size);
    reply_add(x->out, line, n);
}

/* List what the bound allows; true when the dump is over. */
static bool dump_step(struct text_session *s, const struct proto_env *env, struct reply *out)
{
    struct text_dump_state *d = &s->dump;
    struct dump_ctx ctx = { .d = d, .out = out, .started = cache_started() };
    size_t mark = reply_mark(out), buf_mark = out->len;
    bool progressed = false;
    while (!d->walk.done && !d->stop) {
        if (progressed && reply_pending(out) >= env->settings->reply_bound)
            return false;
        cache_walk_next(&d->walk, env->now, DUMP_BATCH, d->meta ? metadump_item : cachedump_item,
                        &ctx);
        progressed = true;
        if (out->oom)
            break;
    }
    s->state = TEXT_STATE_CMD;
    if (!out->oom)
        msg_reply(out, MSG_END);
    if (out->oom) {
        /* What this turn added goes; the client sees whole lines, then why. */
        reply_rollback(out, mark, buf_mark);
        msg_reply(out, MSG_E_OOM_STATS);
        if (out->oom) {
            reply_rollback(out, mark, buf_mark);
            s->close = true;
        }
    }
    return true;
}

bool text_dump_resume(struct text_session *s, const struct proto_env *env, struct reply *out)
{
    return !dump_step(s, env, out) || s->dump.meta;
}

/* Start a walk over `classes` and list what the first turn allows. */
static bool dump_start(struct text_session *s, const struct proto_env *env,
                       const struct cache_class_set *classes, bool meta, uint32_t limit,
                       struct reply *out)
{
    struct text_dump_state *d = &s->dump;
    memset(d, 0, sizeof(*d));
    d->meta = meta;
    d->limit = limit;
    s->state = TEXT_STATE_DUMP;
    cache_walk_start(&d->walk, classes);
    /* No class to walk: nothing to look at in the whole table. */
    struct cache_class_set none;
    memset(&none, 0, sizeof(none));
    d->stop = memcmp(classes, &none, sizeof(none)) == 0;
    return text_dump_resume(s, env, out);
}

bool text_cachedump(struct text_session *s, const struct proto_env *env, unsigned cls,
                    uint32_t limit, struct reply *out)
{
    struct cache_class_set classes;
    memset(&classes, 0, sizeof(classes));
    /* Class 0 and classes mcd does not have are empty, as in memcached. */
    if (cls >= 1 && cls <= cache_nclasses())
        cache_class_set_add(&classes, cls);
    return dump_start(s, env, &classes, false, limit, out);
}

bool text_metadump(struct text_session *s, const struct proto_env *env,
                   const struct cache_class_set *classes, struct reply *out)
{
    return dump_start(s, env, classes, true, 0, out);
}
