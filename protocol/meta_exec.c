/*
 * meta_exec: running meta requests against the cache and writing memcached's
 * meta replies ("HD", "VA <n>", "EN", ... followed by the return flags the
 * client asked for, in the order it asked).
 *
 * A reply line is built in a stack buffer and appended once; a value goes
 * out by reference, as for get.  Flags that change the item (T, N) and
 * flags that report it (t) interact by position in memcached — "t T30"
 * reports the old TTL, "T30 t" the new one — so the reply loop walks the
 * tokens in order and tracks the expiry as memcached's loop would see it.
 * ms reuses the text session's data-block reading; what its reply needs
 * afterwards is kept in text_session.mset.
 */
#include <stdio.h>
#include <string.h>

#include "expiry.h"
#include "mc_layout.h"
#include "meta.h"
#include "watch.h"

/* Longest reply line: status, numbers, a 32-byte opaque, a base64 key. */
#define META_LINE_MAX 1024

/* A reply line being built: in a buffer of the caller's (LINE_IN), or
 * straight in the reply's room (line_in_reply, for a hit). */
struct line {
    char *start, *p;
};
#define LINE_IN(buf) { .start = (buf), .p = (buf) }

static void put(struct line *l, const char *s, size_t n)
{
    reply_copy_small(l->p, s, n);
    l->p += n;
}

static void put_u64(struct line *l, uint64_t v) { l->p = reply_put_u64(l->p, v); }

static void put_flag(struct line *l, char c)
{
    *l->p++ = ' ';
    *l->p++ = c;
}

/* " k<key>", base64 again (with " b") when the key came that way. */
static void put_key(struct line *l, const char *key, size_t nkey, bool binary)
{
    put_flag(l, 'k');
    if (binary) {
        l->p += meta_base64_encode(key, nkey, l->p);
        put(l, " b", 2);
    } else {
        put(l, key, nkey);
    }
}

/* " t<seconds left>", -1 for never, wrapping as memcached's unsigned arithmetic does. */
static void put_ttl(struct line *l, rel_time_t exptime, rel_time_t now)
{
    put_flag(l, 't');
    if (exptime == 0)
        put(l, "-1", 2);
    else
        put_u64(l, (uint32_t)(exptime - now));
}

static void put_opaque(struct line *l, const struct text_token *t)
{
    *l->p++ = ' ';
    put(l, t->p, t->len);
}

/* End a line built in a buffer and append it. */
static void finish(struct line *l, struct reply *out)
{
    put(l, "\r\n", 2);
    reply_add(out, l->start, (size_t)(l->p - l->start));
}

/* Build a line in the reply's own room, with `extra` bytes more after it:
 * nothing may be appended to the reply until line_commit.  false if memory
 * ran out (out->oom). */
static bool line_in_reply(struct line *l, struct reply *out, size_t extra)
{
    l->start = l->p = reply_space(out, META_LINE_MAX + extra);
    return l->start != NULL;
}

/* End a line built in place, and account it with what follows it in place. */
static void line_commit(struct line *l, struct reply *out)
{
    put(l, "\r\n", 2);
    reply_commit(out, (size_t)(l->p - l->start));
}

static rel_time_t meta_time(const struct proto_env *env, int32_t t)
{
    return expiry_from_client(t, env->now, cache_started());
}

/* Index of the token holding flag c, or the token count when absent. */
static int flag_pos(const struct meta_req *r, char c)
{
    for (int i = 2; i < r->ntokens - 1; i++) {
        if (r->tok[i].p[0] == c)
            return i;
    }
    return r->ntokens;
}

/* The expiry an item created by N ends with: N's or T's, whichever came last. */
static rel_time_t vivify_exptime(const struct proto_env *env, const struct meta_req *r)
{
    if (meta_has(r, 'T') && flag_pos(r, 'T') > flag_pos(r, 'N'))
        return meta_time(env, r->ttl);
    return meta_time(env, r->vivify_ttl);
}

static void meta_get_counters(const struct proto_env *env, const struct meta_req *r,
                              const struct cache_fetch *f)
{
    struct proto_counters *c = env->counters;
    if (f->why == CACHE_MISS_EXPIRED)
        counter_inc(&c->get_expired);
    else if (f->why == CACHE_MISS_FLUSHED)
        counter_inc(&c->get_flushed);
    if (!f->found) {
        counter_inc(&c->get_misses);
        counter_inc(&c->cmd_get);
    } else if (meta_has(r, 'T')) {
        counter_inc(&c->cmd_touch);
        counter_inc(&c->cls[f->cls].touch_hits);
    } else {
        counter_inc(&c->cls[f->cls].get_hits);
        counter_inc(&c->cmd_get);
    }
}

struct meta_get_ctx {
    const struct proto_env *env;
    const struct meta_req *r;
    struct reply *out;
};

/* cache_fetch's callback: the hit's reply, formatted under the item's stripe lock. */
static void meta_get_hit(const struct cache_fetch *f, void *arg)
{
    const struct meta_get_ctx *x = arg;
    const struct proto_env *env = x->env;
    const struct meta_req *r = x->r;
    struct reply *out = x->out;
    struct item *it = f->it;
    size_t vlen = item_vlen(it);
    bool value = meta_has(r, 'v'), copy = value && vlen <= REPLY_COPY_MAX;
    struct line l;
    if (!line_in_reply(&l, out, copy ? vlen + 2 : 0))
        return;
    rel_time_t exp = f->exptime_before;
    if (value) {
        put(&l, "VA ", 3);
        put_u64(&l, item_vlen(it));
    } else {
        put(&l, "HD", 2);
    }
    for (int i = 2; i < r->ntokens - 1; i++) {
        const struct text_token *t = &r->tok[i];
        switch (t->p[0]) {
        case 'T': exp = meta_time(env, r->ttl); break;
        case 'N': if (f->created) exp = meta_time(env, r->vivify_ttl); break;
        case 's': put_flag(&l, 's'); put_u64(&l, item_vlen(it)); break;
        case 't': put_ttl(&l, exp, env->now); break;
        case 'c': put_flag(&l, 'c'); put_u64(&l, f->cas); break;
        case 'f': put_flag(&l, 'f'); put_u64(&l, item_flags(it)); break;
        case 'l': put_flag(&l, 'l'); put_u64(&l, (uint32_t)(env->now - f->atime)); break;
        case 'h': put_flag(&l, 'h'); *l.p++ = f->fetched_before ? '1' : '0'; break;
        case 'O': put_opaque(&l, t); break;
        case 'k': put_key(&l, item_key(it), item_nkey(it), item_key_binary(it)); break;
        default: break;
        }
    }
    if (f->win_sent_before)
        put_flag(&l, 'Z');
    if (f->stale)
        put_flag(&l, 'X');
    if (f->won)
        put_flag(&l, 'W');
    if (copy) {
        put(&l, "\r\n", 2);      /* the line's end; a small value follows in the same room */
        put(&l, item_value(it), vlen);
    }
    line_commit(&l, out);       /* ends the line, or the value */
    if (value && !copy) {
        reply_item(out, it, item_value(it), vlen);
        reply_add(out, "\r\n", 2);
    }
}

/* Echo O and k after a status that has no item. */
static void put_echo(struct line *l, const struct meta_req *r)
{
    for (int i = 2; i < r->ntokens - 1; i++) {
        if (r->tok[i].p[0] == 'O')
            put_opaque(l, &r->tok[i]);
        else if (r->tok[i].p[0] == 'k')
            put_key(l, r->key, r->nkey, r->key_binary);
    }
}

static void meta_get(const struct text_session *s, const struct proto_env *env,
                     const struct meta_req *r, struct reply *out)
{
    if (r->opaque_too_long) {
        msg_reply(out, MSG_E_OPAQUE);
        return;
    }
    /* Times are worked out only for the flags given: a plain mg has none. */
    struct cache_fetch_opts o = {
        .touch = meta_has(r, 'T'),
        .vivify = meta_has(r, 'N'),
        .recache = meta_has(r, 'R'),
        .no_bump = meta_has(r, 'u'),
    };
    if (o.touch)
        o.exptime = meta_time(env, r->ttl);
    if (o.vivify)
        o.vivify_exptime = vivify_exptime(env, r);
    if (o.recache) {
        o.recache_time = meta_time(env, r->recache_ttl);
        o.recache_after_touch = flag_pos(r, 'T') < flag_pos(r, 'R');
    }
    struct cache_fetch f;
    struct meta_get_ctx ctx = { .env = env, .r = r, .out = out };
    cache_fetch(r->key, r->nkey, text_key_hash(s, r->key, r->nkey), &o, env->now, &f, meta_get_hit,
                &ctx);
    if (watch_on(WATCH_FETCHERS))
        watch_item_get(r->key, r->nkey, f.found ? WATCH_FOUND : f.why == CACHE_MISS_EXPIRED
                       ? WATCH_EXPIRED : f.why == CACHE_MISS_FLUSHED ? WATCH_FLUSHED
                       : WATCH_NOT_FOUND, f.found ? f.cls : 0, env->fd, f.found ? f.vlen : 0);
    meta_get_counters(env, r, &f);
    if (!f.found && !meta_has(r, 'q')) {
        char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
        put(&l, "EN", 2);
        put_echo(&l, r);
        finish(&l, out);
    }
}

static enum cache_op meta_set_op(const struct meta_req *r)
{
    switch (r->mode) {
    case 'E': return CACHE_ADD;
    case 'A': return CACHE_APPEND;
    case 'P': return CACHE_PREPEND;
    case 'R': return meta_has(r, 'C') ? CACHE_CAS : CACHE_REPLACE;
    default: return meta_has(r, 'C') ? CACHE_CAS : CACHE_SET;
    }
}

/* Start an ms: allocate the item its data block goes into. */
static void meta_set(struct text_session *s, const struct proto_env *env,
                     const struct meta_req *r, struct reply *out)
{
    size_t nbytes = (size_t)r->vlen + 2;
    if (r->err != MSG_NONE) {
        msg_reply(out, r->err);
        if (r->swallow) {
            s->state = TEXT_STATE_SWALLOW;
            s->swallow = nbytes;
        }
        return;
    }
    enum cache_status err;
    rel_time_t exptime = meta_has(r, 'T') ? meta_time(env, r->ttl) : 0;
    struct item *it = cache_alloc(r->key, r->nkey, r->client_flags, exptime, (size_t)r->vlen,
                                  env->now, &err);
    if (it == NULL) {
        if (err == CACHE_TOO_LARGE) {
            counter_inc(&env->counters->store_too_large);
            msg_reply(out, MSG_E_TOO_LARGE);
        } else {
            counter_inc(&env->counters->store_no_memory);
            msg_reply(out, MSG_E_OOM_STORE);
        }
        /* A failed store must not leave the old value to be served. */
        cache_delete(r->key, r->nkey, env->now, NULL);
        s->state = TEXT_STATE_SWALLOW;
        s->swallow = nbytes;
        return;
    }
    if (r->key_binary)
        item_mark_key_binary(it);
    s->state = TEXT_STATE_DATA;
    s->item = it;
    s->hash = text_key_hash(s, r->key, r->nkey);
    s->filled = 0;
    s->op = meta_set_op(r);
    s->cas = r->cas;
    s->noreply = meta_has(r, 'q');
    s->mset.active = true;
    s->mset.invalidate = meta_has(r, 'I') && s->op == CACHE_CAS;
    s->mset.nret = 0;
    for (int i = 2; i < r->ntokens - 1; i++) {
        const struct text_token *t = &r->tok[i];
        char *p = s->mset.ret + s->mset.nret;
        if (t->p[0] == 'O') {
            p[0] = ' ';
            memcpy(p + 1, t->p, t->len);
            s->mset.nret += (uint8_t)(t->len + 1);
        } else if (t->p[0] == 'k' || t->p[0] == 'c') {
            p[0] = ' ';
            p[1] = t->p[0];
            s->mset.nret += 2;
        }
    }
}

static void meta_set_counters(const struct proto_env *env, enum cache_op op,
                              enum cache_status st, unsigned cls)
{
    struct proto_counters *c = env->counters;
    if (op != CACHE_CAS)
        return;
    if (st == CACHE_STORED)
        counter_inc(&c->cls[cls].cas_hits);
    else if (st == CACHE_EXISTS)
        counter_inc(&c->cls[cls].cas_badval);
    else if (st == CACHE_NOT_FOUND)
        counter_inc(&c->cas_misses);
}

void meta_set_done(struct text_session *s, const struct proto_env *env, struct reply *out)
{
    struct item *it = s->item;
    s->item = NULL;
    s->state = TEXT_STATE_CMD;
    s->mset.active = false;
    counter_inc(&env->counters->cls[item_class(it)].cmd_set);
    if (s->tail[0] != '\r' || s->tail[1] != '\n') {
        /* Errors are never quiet in meta mode. */
        msg_reply(out, MSG_E_DATA_CHUNK);
        item_unref(it);
        return;
    }
    if (watch_on(WATCH_FETCHERS))
        watch_lookup(item_key(it), it->nkey, env->now, env->fd);
    enum cache_status st = s->mset.invalidate
                               ? cache_store_stale(it, s->hash, s->op, s->cas, env->now)
                               : cache_store(it, s->hash, s->op, s->cas, env->now);
    if (watch_on(WATCH_MUTATIONS))
        watch_stored(it, st, s->op, env->now, env->fd);
    meta_set_counters(env, s->op, st, item_class(it));
    char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
    switch (st) {
    case CACHE_STORED: put(&l, "HD", 2); break;
    case CACHE_EXISTS: put(&l, "EX", 2); break;
    case CACHE_NOT_FOUND: put(&l, "NF", 2); break;
    default: put(&l, "NS", 2); break;  /* memcached: a failed append is "not stored" */
    }
    if (st == CACHE_STORED && s->noreply) {
        item_unref(it);
        return;
    }
    const char *p = s->mset.ret, *e = s->mset.ret + s->mset.nret;
    while (p < e) {
        const char *sp = memchr(p + 1, ' ', (size_t)(e - p - 1));
        const char *next = sp != NULL ? sp : e;
        if (p[1] == 'O') {
            put(&l, p, (size_t)(next - p));
        } else if (p[1] == 'k') {
            put_key(&l, item_key(it), item_nkey(it), item_key_binary(it));
        } else {
            put_flag(&l, 'c');
            put_u64(&l, st == CACHE_STORED ? item_cas(it) : 0);
        }
        p = next;
    }
    finish(&l, out);
    item_unref(it);
}

static void meta_delete(const struct proto_env *env, const struct meta_req *r, struct reply *out)
{
    struct proto_counters *c = env->counters;
    const uint64_t *cas = meta_has(r, 'C') ? &r->cas : NULL;
    unsigned cls = 0;
    enum cache_status st;
    struct cache_fetch gone = { .vlen = 0 };
    if (watch_on(WATCH_DELETIONS))
        cache_peek(r->key, r->nkey, env->now, &gone);
    if (watch_on(WATCH_FETCHERS))
        watch_lookup(r->key, r->nkey, env->now, env->fd);
    if (meta_has(r, 'I'))
        st = cache_mark_stale(r->key, r->nkey, cas, meta_has(r, 'T'), meta_time(env, r->ttl),
                              env->now);
    else
        st = cache_delete_cas(r->key, r->nkey, cas, env->now, &cls);
    if (st == CACHE_DELETED && watch_on(WATCH_DELETIONS))
        watch_deleted(r->key, r->nkey, true, cls, gone.vlen);
    char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
    if (st == CACHE_OK || st == CACHE_DELETED) {
        /* Marking stale is not counted as a delete, as in memcached. */
        if (st == CACHE_DELETED)
            counter_inc(&c->cls[cls].delete_hits);
        if (meta_has(r, 'q'))
            return;
        put(&l, "HD", 2);
    } else {
        counter_inc(&c->delete_misses);
        put(&l, st == CACHE_EXISTS ? "EX" : "NF", 2);
    }
    put_echo(&l, r);
    finish(&l, out);
}

/* The status line of a successful ma, its flags in request order, then the value. */
static void meta_arith_reply(const struct proto_env *env, const struct meta_req *r,
                             const struct cache_arith_result *res, struct reply *out)
{
    char num[24];
    size_t n = (size_t)(reply_put_u64(num, res->value) - num);
    char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
    rel_time_t exp = res->exptime_before;
    if (meta_has(r, 'v')) {
        put(&l, "VA ", 3);
        put_u64(&l, n);
    } else {
        put(&l, "HD", 2);
    }
    for (int i = 2; i < r->ntokens - 1; i++) {
        const struct text_token *t = &r->tok[i];
        switch (t->p[0]) {
        case 'c': put_flag(&l, 'c'); put_u64(&l, res->cas); break;
        case 't': put_ttl(&l, exp, env->now); break;
        case 'T': exp = meta_time(env, r->ttl); break;
        case 'N': if (res->created) exp = meta_time(env, r->vivify_ttl); break;
        case 'O': put_opaque(&l, t); break;
        case 'k': put_key(&l, r->key, r->nkey, r->key_binary); break;
        default: break;
        }
    }
    if (meta_has(r, 'v')) {
        put(&l, "\r\n", 2);
        l.p = reply_put_u64(l.p, res->value);
    }
    finish(&l, out);
}

static void meta_arith(const struct proto_env *env, const struct meta_req *r, struct reply *out)
{
    struct proto_counters *c = env->counters;
    bool incr = r->mode != 'D' && r->mode != '-';
    struct cache_arith_opts o = {
        .incr = incr, .delta = r->delta, .cas = r->cas,
        .vivify = meta_has(r, 'N'), .initial = r->initial,
        .vivify_exptime = vivify_exptime(env, r),
        .touch = meta_has(r, 'T'), .exptime = meta_time(env, r->ttl),
    };
    struct cache_arith_result res;
    enum cache_status st = cache_arith_ex(r->key, r->nkey, &o, env->now, &res);
    char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
    switch (st) {
    case CACHE_OK:
        if (!res.created)
            counter_inc(incr ? &c->cls[res.cls].incr_hits : &c->cls[res.cls].decr_hits);
        if (r->opaque_too_long) {
            msg_reply(out, MSG_E_OPAQUE);
        } else if (!meta_has(r, 'q') || res.created) {
            /* memcached quiets a hit but not a vivified miss. */
            meta_arith_reply(env, r, &res, out);
        }
        return;
    case CACHE_NON_NUMERIC:
        msg_reply(out, MSG_E_NON_NUMERIC);
        return;
    case CACHE_NO_MEMORY:
        msg_reply(out, o.vivify ? MSG_E_OOM_NEW_ITEM : MSG_E_OOM);
        return;
    case CACHE_NOT_FOUND:
        counter_inc(incr ? &c->incr_misses : &c->decr_misses);
        put(&l, "NF", 2);
        break;
    default:
        put(&l, "EX", 2);
        break;
    }
    if (r->opaque_too_long) {
        msg_reply(out, MSG_E_OPAQUE);
        return;
    }
    put_echo(&l, r);
    finish(&l, out);
}

/* me: memcached's debug line, its sizes counted as memcached lays an item out. */
static void meta_debug(const struct proto_env *env, const struct meta_req *r, struct reply *out)
{
    struct cache_fetch f;
    counter_inc(&env->counters->cmd_meta);
    if (!cache_peek(r->key, r->nkey, env->now, &f)) {
        msg_reply(out, MSG_EN);
        return;
    }
    char buf[META_LINE_MAX];
    struct line l = LINE_IN(buf);
    put(&l, "ME ", 3);
    if (f.key_binary)
        l.p += meta_base64_encode(r->key, r->nkey, l.p);
    else
        put(&l, r->key, r->nkey);
    size_t size = mc_item_size(r->nkey, f.vlen, f.flags, cache_use_cas());
    l.p += sprintf(l.p, " exp=%d la=%llu cas=%llu fetch=%s cls=%u size=%zu\r\n",
                   f.exptime_before == 0 ? -1 : (int)(env->now - f.exptime_before),
                   (unsigned long long)(uint32_t)(env->now - f.atime),
                   (unsigned long long)f.cas, f.fetched_before ? "yes" : "no",
                   mc_item_class(size), size);
    reply_add(out, l.start, (size_t)(l.p - l.start));
}

void meta_exec(struct text_session *s, const struct proto_env *env, const struct text_token *tok,
               int ntokens, struct reply *out)
{
    struct meta_req r;
    meta_parse_tokens(tok, ntokens, &r);
    if (r.cmd == META_CMD_SET) {
        meta_set(s, env, &r, out);
        return;
    }
    if (r.err != MSG_NONE) {
        msg_reply(out, r.err);
        return;
    }
    switch (r.cmd) {
    case META_CMD_GET: meta_get(s, env, &r, out); break;
    case META_CMD_DELETE: meta_delete(env, &r, out); break;
    case META_CMD_ARITH: meta_arith(env, &r, out); break;
    case META_CMD_DEBUG: meta_debug(env, &r, out); break;
    case META_CMD_NOOP: msg_reply(out, MSG_MN); break;
    case META_CMD_SET:
    case META_CMD_UNKNOWN: break;
    }
}
