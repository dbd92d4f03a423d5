/*
 * text_get: get, gets, gat, gats and bget — the ASCII multi-get, served in
 * pieces so that its reply stays bounded.
 *
 * One request line may name a million keys.  memcached builds the whole
 * reply before writing any of it; we would need hundreds of megabytes for
 * a client that never reads.  So once the reply holds settings->reply_bound
 * bytes the get stops (PROTO_DRAIN): the line stays in the transport's
 * buffer, the session remembers the offset of the next key, and the get
 * goes on once the reply has been written.  The bytes on the wire are
 * memcached's, in memcached's order.
 *
 * Two of memcached's answers replace the whole reply of a get, and a reply
 * partly written cannot be taken back:
 *  - a key over 250 bytes: memcached sends only CLIENT_ERROR.  Before the
 *    first stop the rest of the line is checked; if such a key lies ahead,
 *    the get does not stop but goes on without output (the lookups still
 *    count and touch, as memcached's do) up to that key, and answers the
 *    error alone.
 *  - memory running out while the reply grows: memcached sends only
 *    "SERVER_ERROR out of memory writing get response".  We drop what this
 *    get added since it started or last resumed, and send that line: the
 *    client sees whole VALUE blocks, then the error, never a hit turned
 *    into a miss.
 */
#include <string.h>

#include "expiry.h"
#include "msg.h"
#include "prefix_stats.h"
#include "text.h"
#include "watch.h"

/* "VALUE " and " <flags> <bytes> <cas>\r\n" around the key, at most. */
#define TEXT_VALUE_HEAD_MAX (6 + 3 * 21 + 2)

/*
 * "VALUE <key> <flags> <bytes>[ <cas>]\r\n", the value and its "\r\n": the
 * value copied when small, else by reference (reply_item).  Called with
 * the item's stripe locked.
 */
static void text_value(struct reply *out, struct item *it, bool with_cas)
{
    size_t nkey = item_nkey(it), vlen = item_vlen(it);
    const char *key = item_key(it);
    char *value = (char *)key + nkey;
    bool copy = vlen <= REPLY_COPY_MAX;
    char *start = reply_space(out, TEXT_VALUE_HEAD_MAX + nkey + (copy ? vlen + 2 : 0));
    if (start == NULL)
        return;
    char *p = start;
    memcpy(p, "VALUE ", 6);
    reply_copy_small(p + 6, key, nkey);
    p += 6 + nkey;
    *p++ = ' ';
    p = reply_put_u64(p, item_flags(it));
    *p++ = ' ';
    p = reply_put_u64(p, vlen);
    if (with_cas) {
        *p++ = ' ';
        p = reply_put_u64(p, item_cas(it));
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    if (copy) {
        reply_copy_small(p, value, vlen);
        memcpy(p + vlen, "\r\n", 2);
        reply_commit(out, (size_t)(p + vlen + 2 - start));
        return;
    }
    reply_commit(out, (size_t)(p - start));
    reply_item(out, it, value, vlen);
    reply_add(out, "\r\n", 2);
}

struct text_get_ctx {
    struct reply *out;
    bool with_cas;
    unsigned cls;
    size_t vlen;                /* the hit's value length (watch fetchers) */
};

/* cache_get_visit's callback: runs under the item's stripe lock. */
static void text_get_hit(struct item *it, void *arg)
{
    struct text_get_ctx *x = arg;
    x->cls = item_class(it);
    x->vlen = item_vlen(it);
    text_value(x->out, it, x->with_cas);
}

/* The next key from *p on (spaces skipped), its length in *n; NULL at the
 * end.  A key text_ahead already measured (`known`, may be NULL) is not
 * scanned again. */
static const char *next_key(const char **p, const char *end, const struct proto_key_hint *known,
                            size_t *n)
{
    const char *k = *p;
    while (k < end && *k == ' ')
        k++;
    const char *e = known != NULL && k == known->key ? k + known->nkey : text_find_space(k, end);
    *n = (size_t)(e - k);
    *p = e;
    return *n > 0 ? k : NULL;
}

/* Whether a key longer than memcached takes lies between p and end. */
static bool long_key_ahead(const char *p, const char *end)
{
    size_t n;
    while (next_key(&p, end, NULL, &n) != NULL) {
        if (n > ITEM_KEY_MAX)
            return true;
    }
    return false;
}

/*
 * The keys of a multi-get a few ahead of the one being looked up, scanned,
 * hashed and prefetched as text_ahead does for whole requests: the next
 * keys' buckets as they are scanned, the next key's items when its turn is
 * near.  Each key is scanned once.
 */
#define GET_AHEAD 4

struct get_ahead {
    struct get_key {
        const char *from;       /* where the scan for it started: a stop resumes there */
        const char *k;
        size_t n;
        uint64_t hash;
    } q[GET_AHEAD];
    unsigned head, count;
    const char *scan, *end;
};

/* The next key, with up to GET_AHEAD - 1 more scanned and prefetched
 * beyond it; NULL at the end of the line. */
static const struct get_key *get_ahead_next(struct get_ahead *a, const struct text_session *s)
{
    while (a->count < GET_AHEAD) {
        struct get_key *x = &a->q[(a->head + a->count) % GET_AHEAD];
        x->from = a->scan;
        x->k = next_key(&a->scan, a->end, &s->hint, &x->n);
        if (x->k == NULL)
            break;
        if (x->n <= ITEM_KEY_MAX) {
            x->hash = text_key_hash(s, x->k, x->n);
            if (a->count > 0)
                cache_prefetch(x->hash);
        }
        a->count++;
    }
    if (a->count == 0)
        return NULL;
    if (a->count > 1 && a->q[(a->head + 1) % GET_AHEAD].n <= ITEM_KEY_MAX)
        cache_prefetch_items(a->q[(a->head + 1) % GET_AHEAD].hash);
    return &a->q[a->head];
}

static void get_ahead_pop(struct get_ahead *a)
{
    a->head = (a->head + 1) % GET_AHEAD;
    a->count--;
}

/* Look one key up, append its VALUE block on a hit, count it. */
static void text_get_one(const struct proto_env *env, const struct text_get_state *g,
                         const char *k, size_t nkey, uint64_t hash, struct text_get_ctx *ctx,
                         bool *hit)
{
    struct proto_counters *c = env->counters;
    enum cache_miss why;
    *hit = g->touch ? cache_touch_visit(k, nkey, hash, g->exptime, env->now, &why, text_get_hit, ctx)
                    : cache_get_visit(k, nkey, hash, env->now, &why, text_get_hit, ctx);
    if (prefix_stats_enabled())
        prefix_stats_record(k, nkey, PREFIX_GET, *hit);
    if (watch_on(WATCH_FETCHERS))
        watch_item_get(k, nkey, *hit ? WATCH_FOUND : why == CACHE_MISS_EXPIRED ? WATCH_EXPIRED
                                : why == CACHE_MISS_FLUSHED ? WATCH_FLUSHED : WATCH_NOT_FOUND,
                       *hit ? ctx->cls : 0, env->fd, *hit ? ctx->vlen : 0);
    counter_inc(g->touch ? &c->cmd_touch : &c->cmd_get);
    if (*hit) {
        counter_inc(g->touch ? &c->cls[ctx->cls].touch_hits : &c->cls[ctx->cls].get_hits);
        return;
    }
    counter_inc(g->touch ? &c->touch_misses : &c->get_misses);
    if (why == CACHE_MISS_EXPIRED)
        counter_inc(&c->get_expired);
    else if (why == CACHE_MISS_FLUSHED)
        counter_inc(&c->get_flushed);
}

/* Replace what the get added since `mark` by one error line; if even that
 * cannot be had, the connection closes (as memcached's does). */
static void text_get_fail(struct text_session *s, struct reply *out, size_t mark,
                          size_t buf_mark, enum msg m)
{
    reply_rollback(out, mark, buf_mark);
    msg_reply(out, m);
    if (out->oom) {
        reply_rollback(out, mark, buf_mark);
        s->close = true;
    }
}

/*
 * Serve the keys from s->get.next on.  `line` is the request line (the
 * same bytes on every call).  Returns false when the reply reached its
 * bound first: s->get.next is then where to go on.
 */
static bool text_get_keys(struct text_session *s, const struct proto_env *env, const char *line,
                          struct reply *out)
{
    struct text_get_state *g = &s->get;
    struct text_get_ctx ctx = { .out = out, .with_cas = g->with_cas };
    /* Where this get started, or resumed: what an error takes back. */
    size_t mark = reply_mark(out), buf_mark = out->len;
    const char *end = line + g->end;
    struct get_ahead ahead;     /* fields set one by one: an initializer would zero q too */
    ahead.head = ahead.count = 0;
    ahead.scan = line + g->next;
    ahead.end = end;
    bool progressed = false;
    for (;;) {
        const struct get_key *key = get_ahead_next(&ahead, s);
        if (key == NULL)
            break;
        const char *resume = key->from, *k = key->k;
        size_t nkey = key->n;
        /* Stop at the bound, once this call has served a key at least. */
        if (progressed && !g->discard && reply_pending(out) >= env->settings->reply_bound) {
            if (!g->checked) {
                g->checked = true;
                g->discard = long_key_ahead(resume, end);
            }
            if (!g->discard) {
                g->next = (size_t)(resume - line);
                return false;
            }
            reply_rollback(out, mark, buf_mark);
        }
        progressed = true;
        /* Where memcached starts a new response: at the first key, the
         * second, and after each hit; an empty first one is still sent.
         * Only UDP, sending each response in its own datagrams, can tell. */
        if (g->nkeys < 2 || g->prev_hit)
            reply_boundary(out, true);
        g->nkeys++;
        if (nkey > ITEM_KEY_MAX) {
            text_get_fail(s, out, mark, buf_mark, MSG_E_FORMAT);
            return true;
        }
        /* Grow the reply now, so the copy under the stripe lock seldom
         * waits for a realloc. */
        reply_space(out, TEXT_VALUE_HEAD_MAX + nkey + REPLY_COPY_MAX + 2);
        text_get_one(env, g, k, nkey, key->hash, &ctx, &g->prev_hit);
        get_ahead_pop(&ahead);
        if (out->oom) {
            text_get_fail(s, out, mark, buf_mark, MSG_E_OOM_GET);
            return true;
        }
        if (g->discard)
            reply_rollback(out, mark, buf_mark);
    }
    msg_reply(out, MSG_END);
    if (out->oom)
        text_get_fail(s, out, mark, buf_mark, MSG_E_OOM_GET);
    return true;
}

bool text_get_start(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                    const char *line, struct reply *out)
{
    struct text_get_state *g = &s->get;
    memset(g, 0, sizeof(*g));
    g->touch = r->cmd == TEXT_CMD_GAT || r->cmd == TEXT_CMD_GATS;
    g->with_cas = r->cmd == TEXT_CMD_GETS || r->cmd == TEXT_CMD_GATS;
    g->exptime = g->touch ? expiry_from_client(r->exptime, env->now, cache_started()) : 0;
    g->next = r->rest != NULL ? (size_t)(r->rest - line) : 0;
    g->end = r->rest != NULL ? (size_t)(r->rest + r->nrest - line) : 0;
    bool done = text_get_keys(s, env, line, out);
    if (!done)
        s->state = TEXT_STATE_GET;
    return done;
}

bool text_get_resume(struct text_session *s, const struct proto_env *env, const char *line,
                     struct reply *out)
{
    bool done = text_get_keys(s, env, line, out);
    if (done)
        s->state = TEXT_STATE_CMD;
    return done;
}
