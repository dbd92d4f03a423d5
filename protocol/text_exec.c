/*
 * text_exec: the ASCII protocol's request loop and command handlers — bytes
 * of a connection in, calls on the cache API, replies appended to a
 * `struct reply`.  Parsing lives in text.c; `stats` in text_stats.c.
 */
#include <string.h>

#include "expiry.h"
#include "meta.h"
#include "prefix_stats.h"
#include "text.h"

static void out_lit(struct reply *out, bool noreply, const char *s, size_t n)
{
    if (!noreply)
        reply_add(out, s, n);
}

#define OUT(out, noreply, lit) out_lit((out), (noreply), lit, sizeof(lit) - 1)

/* Digits of v at the end of buf[24]; returns the first digit. */
static char *fmt_u64(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static rel_time_t text_exptime(const struct proto_env *env, int64_t exptime)
{
    return expiry_from_client(exptime, env->now, cache_started());
}

/* Values up to this size are copied into the reply: cheaper than an item
 * reference (two atomic operations) and an iovec of their own. */
#define TEXT_COPY_MAX 512
/* "VALUE " and " <flags> <bytes> <cas>\r\n" around the key, at most. */
#define TEXT_VALUE_HEAD_MAX (6 + 3 * 21 + 2)

static char *put_u64(char *p, uint64_t v)
{
    char num[24];
    char *d = fmt_u64(num + sizeof(num), v);
    size_t n = (size_t)(num + sizeof(num) - d);
    memcpy(p, d, n);
    return p + n;
}

/*
 * "VALUE <key> <flags> <bytes>[ <cas>]\r\n", the value and its "\r\n": the
 * value copied when small, else by reference (reply_item).  Called with
 * the item's stripe locked.
 */
static void text_value(struct reply *out, struct item *it, bool with_cas)
{
    size_t vlen = item_vlen(it);
    bool copy = vlen <= TEXT_COPY_MAX;
    char *start = reply_space(out, TEXT_VALUE_HEAD_MAX + item_nkey(it) + (copy ? vlen + 2 : 0));
    if (start == NULL)
        return;
    char *p = start;
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, item_key(it), item_nkey(it));
    p += item_nkey(it);
    *p++ = ' ';
    p = put_u64(p, item_flags(it));
    *p++ = ' ';
    p = put_u64(p, vlen);
    if (with_cas) {
        *p++ = ' ';
        p = put_u64(p, item_cas(it));
    }
    *p++ = '\r';
    *p++ = '\n';
    if (copy) {
        memcpy(p, item_value(it), vlen);
        p += vlen;
        *p++ = '\r';
        *p++ = '\n';
        reply_commit(out, (size_t)(p - start));
        return;
    }
    reply_commit(out, (size_t)(p - start));
    reply_item(out, it, item_value(it), vlen);
    reply_add(out, "\r\n", 2);
}

struct text_get_ctx {
    struct reply *out;
    bool with_cas;
    unsigned cls;
};

/* cache_get_visit's callback: runs under the item's stripe lock. */
static void text_get_hit(struct item *it, void *arg)
{
    struct text_get_ctx *x = arg;
    x->cls = item_class(it);
    text_value(x->out, it, x->with_cas);
}

static void text_get(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    bool touch = r->cmd == TEXT_CMD_GAT || r->cmd == TEXT_CMD_GATS;
    bool with_cas = r->cmd == TEXT_CMD_GETS || r->cmd == TEXT_CMD_GATS;
    rel_time_t exptime = touch ? text_exptime(env, r->exptime) : 0;
    struct proto_counters *c = env->counters;
    struct text_get_ctx ctx = { .out = out, .with_cas = with_cas };
    size_t mark = reply_mark(out), buf_mark = out->len;
    unsigned nkeys = 0;
    bool prev_hit = false;
    const char *p = r->rest, *end = r->rest + r->nrest;
    while (p != NULL && p < end) {
        while (p < end && *p == ' ')
            p++;
        const char *k = p;
        p = memchr(k, ' ', (size_t)(end - k));
        if (p == NULL)
            p = end;
        size_t nkey = (size_t)(p - k);
        if (nkey == 0)
            break;
        /* Where memcached starts a new response: at the first key, the
         * second, and after each hit; an empty first one is still sent.
         * Only UDP, sending each response in its own datagrams, can tell. */
        if (nkeys < 2 || prev_hit)
            reply_boundary(out, true);
        nkeys++;
        if (nkey > ITEM_KEY_MAX) {
            /* memcached drops what this get had built and sends only the error. */
            reply_rollback(out, mark, buf_mark);
            reply_str(out, "CLIENT_ERROR bad command line format\r\n");
            return;
        }
        enum cache_miss why;
        /* Grow the reply now, so the copy under the stripe lock seldom
         * waits for a realloc. */
        reply_space(out, TEXT_VALUE_HEAD_MAX + nkey + TEXT_COPY_MAX + 2);
        bool hit = touch ? cache_touch_visit(k, nkey, exptime, env->now, &why, text_get_hit, &ctx)
                         : cache_get_visit(k, nkey, env->now, &why, text_get_hit, &ctx);
        prev_hit = hit;
        if (prefix_stats_enabled())
            prefix_stats_record(k, nkey, PREFIX_GET, hit);
        counter_inc(touch ? &c->cmd_touch : &c->cmd_get);
        if (hit) {
            counter_inc(touch ? &c->cls[ctx.cls].touch_hits : &c->cls[ctx.cls].get_hits);
        } else {
            counter_inc(touch ? &c->touch_misses : &c->get_misses);
            if (why == CACHE_MISS_EXPIRED)
                counter_inc(&c->get_expired);
            else if (why == CACHE_MISS_FLUSHED)
                counter_inc(&c->get_flushed);
        }
    }
    reply_add(out, "END\r\n", 5);
}

static enum cache_op text_op(enum text_cmd cmd)
{
    switch (cmd) {
    case TEXT_CMD_ADD: return CACHE_ADD;
    case TEXT_CMD_REPLACE: return CACHE_REPLACE;
    case TEXT_CMD_APPEND: return CACHE_APPEND;
    case TEXT_CMD_PREPEND: return CACHE_PREPEND;
    case TEXT_CMD_CAS: return CACHE_CAS;
    default: return CACHE_SET;
    }
}

/* Start a storage command: allocate the item the data block goes into. */
static void text_update(struct text_session *s, const struct proto_env *env,
                        const struct text_req *r, struct reply *out)
{
    enum cache_status err;
    size_t nbytes = (size_t)r->vlen + 2;
    if (prefix_stats_enabled())
        prefix_stats_record(r->key, r->nkey, PREFIX_SET, false);
    struct item *it = cache_alloc(r->key, r->nkey, r->flags, text_exptime(env, r->exptime),
                                  (size_t)r->vlen, env->now, &err);
    if (it == NULL) {
        if (err == CACHE_TOO_LARGE) {
            counter_inc(&env->counters->store_too_large);
            OUT(out, r->noreply, "SERVER_ERROR object too large for cache\r\n");
        } else {
            counter_inc(&env->counters->store_no_memory);
            OUT(out, r->noreply, "SERVER_ERROR out of memory storing object\r\n");
        }
        s->state = TEXT_STATE_SWALLOW;
        s->swallow = nbytes;
        /* A failed set must not leave the old value to be served. */
        if (r->cmd == TEXT_CMD_SET)
            cache_delete(r->key, r->nkey, env->now, NULL);
        return;
    }
    s->state = TEXT_STATE_DATA;
    s->item = it;
    s->filled = 0;
    s->op = text_op(r->cmd);
    s->cas = r->cas;
    s->noreply = r->noreply;
}

/* The data block is complete: check its end and store it. */
static void text_update_done(struct text_session *s, const struct proto_env *env,
                             struct reply *out)
{
    if (s->mset.active) {
        meta_set_done(s, env, out);
        return;
    }
    struct item *it = s->item;
    struct proto_counters *c = env->counters;
    bool noreply = s->noreply;
    s->item = NULL;
    s->state = TEXT_STATE_CMD;
    counter_inc(&c->cls[item_class(it)].cmd_set);
    if (s->tail[0] != '\r' || s->tail[1] != '\n') {
        OUT(out, noreply, "CLIENT_ERROR bad data chunk\r\n");
        item_unref(it);
        return;
    }
    unsigned cls = item_class(it);
    switch (cache_store(it, s->op, s->cas, env->now)) {
    case CACHE_STORED:
        if (s->op == CACHE_CAS)
            counter_inc(&c->cls[cls].cas_hits);
        OUT(out, noreply, "STORED\r\n");
        break;
    case CACHE_EXISTS:
        counter_inc(&c->cls[cls].cas_badval);
        OUT(out, noreply, "EXISTS\r\n");
        break;
    case CACHE_NOT_FOUND:
        counter_inc(&c->cas_misses);
        OUT(out, noreply, "NOT_FOUND\r\n");
        break;
    case CACHE_NO_MEMORY:
        OUT(out, noreply, "SERVER_ERROR out of memory storing object\r\n");
        break;
    default:
        OUT(out, noreply, "NOT_STORED\r\n");
        break;
    }
    item_unref(it);
}

static void text_arith(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    bool incr = r->cmd == TEXT_CMD_INCR;
    uint64_t value;
    struct proto_counters *c = env->counters;
    unsigned cls = 0;
    switch (cache_arith(r->key, r->nkey, incr, r->num, env->now, &value, &cls)) {
    case CACHE_OK: {
        char num[24];
        char *d = fmt_u64(num + sizeof(num) - 2, value);
        num[22] = '\r';
        num[23] = '\n';
        counter_inc(incr ? &c->cls[cls].incr_hits : &c->cls[cls].decr_hits);
        if (!r->noreply)
            reply_add(out, d, (size_t)(num + sizeof(num) - d));
        break;
    }
    case CACHE_NOT_FOUND:
        counter_inc(incr ? &c->incr_misses : &c->decr_misses);
        OUT(out, r->noreply, "NOT_FOUND\r\n");
        break;
    case CACHE_NON_NUMERIC:
        OUT(out, r->noreply, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
        break;
    default:
        OUT(out, r->noreply, "SERVER_ERROR out of memory\r\n");
        break;
    }
}

static void text_flush(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    counter_inc(&env->counters->cmd_flush);
    if (!env->settings->flush_enabled) {
        OUT(out, r->noreply, "CLIENT_ERROR flush_all not allowed\r\n");
        return;
    }
    if (r->num != 0) {      /* the delay did not parse; checked after -F as memcached */
        OUT(out, r->noreply, "CLIENT_ERROR invalid exptime argument\r\n");
        return;
    }
    /* As memcached: with CAS on, items stored up to one second before the
     * moment go; a delay of 0 or less means now. */
    rel_time_t when = r->exptime > 0 ? text_exptime(env, r->exptime) : env->now;
    if (env->settings->use_cas)
        when = when - 1;
    cache_flush(when, env->now);
    OUT(out, r->noreply, "OK\r\n");
}

static void text_memlimit(const struct proto_env *env, const struct text_req *r,
                          struct reply *out)
{
    if (r->num < 8) {
        OUT(out, r->noreply, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
    } else if (r->num > 1000000000) {
        OUT(out, r->noreply, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
    } else {
        cache_set_memlimit((size_t)r->num * 1024 * 1024);
        (void)env;
        OUT(out, r->noreply, "OK\r\n");
    }
}

/* Run one parsed request line. */
static void text_exec(struct text_session *s, const struct proto_env *env,
                      const struct text_req *r, struct reply *out)
{
    struct proto_counters *c = env->counters;
    unsigned cls = 0;
    if (r->err != TEXT_OK) {
        if (!r->noreply) {
            reply_str(out, text_err_string(r->err));
            reply_add(out, "\r\n", 2);
        }
        return;
    }
    switch (r->cmd) {
    case TEXT_CMD_GET:
    case TEXT_CMD_GETS:
    case TEXT_CMD_GAT:
    case TEXT_CMD_GATS:
        text_get(env, r, out);
        break;
    case TEXT_CMD_SET:
    case TEXT_CMD_ADD:
    case TEXT_CMD_REPLACE:
    case TEXT_CMD_APPEND:
    case TEXT_CMD_PREPEND:
    case TEXT_CMD_CAS:
        text_update(s, env, r, out);
        break;
    case TEXT_CMD_INCR:
    case TEXT_CMD_DECR:
        text_arith(env, r, out);
        break;
    case TEXT_CMD_DELETE:
        if (prefix_stats_enabled())
            prefix_stats_record(r->key, r->nkey, PREFIX_DELETE, false);
        if (cache_delete(r->key, r->nkey, env->now, &cls) == CACHE_DELETED) {
            counter_inc(&c->cls[cls].delete_hits);
            OUT(out, r->noreply, "DELETED\r\n");
        } else {
            counter_inc(&c->delete_misses);
            OUT(out, r->noreply, "NOT_FOUND\r\n");
        }
        break;
    case TEXT_CMD_TOUCH:
        counter_inc(&c->cmd_touch);
        if (cache_touch(r->key, r->nkey, text_exptime(env, r->exptime), env->now, &cls) ==
            CACHE_OK) {
            counter_inc(&c->cls[cls].touch_hits);
            OUT(out, r->noreply, "TOUCHED\r\n");
        } else {
            counter_inc(&c->touch_misses);
            OUT(out, r->noreply, "NOT_FOUND\r\n");
        }
        break;
    case TEXT_CMD_STATS:
        text_stats(env, r, out);
        break;
    case TEXT_CMD_FLUSH_ALL:
        text_flush(env, r, out);
        break;
    case TEXT_CMD_VERSION:
        reply_printf(out, "VERSION %s\r\n", env->settings->version);
        break;
    case TEXT_CMD_META:
        meta_exec(s, env, r->tok, r->ntokens, out);
        break;
    case TEXT_CMD_QUIT:
    case TEXT_CMD_CLOSE:
        s->close = true;
        break;
    case TEXT_CMD_SHUTDOWN:
        if (!env->settings->shutdown_enabled) {
            reply_str(out, "ERROR: shutdown not enabled\r\n");
        } else if (r->num == 2) {
            reply_str(out, text_err_string(TEXT_E_SHUTDOWN_MODE));
            reply_add(out, "\r\n", 2);
        } else {
            s->close = true;
            env->hooks->shutdown(env->hooks->arg, r->num == 1);
        }
        break;
    case TEXT_CMD_VERBOSITY:
        env->hooks->verbosity(env->hooks->arg, (int)(r->num > 2 ? 2 : r->num));
        OUT(out, r->noreply, "OK\r\n");
        break;
    case TEXT_CMD_CACHE_MEMLIMIT:
        text_memlimit(env, r, out);
        break;
    case TEXT_CMD_ERROR:
        break;
    }
}

void text_session_reset(struct text_session *s)
{
    if (s->item != NULL)
        item_unref(s->item);
    memset(s, 0, sizeof(*s));
}

/*
 * Copy data-block bytes into the item being set, and its last two bytes
 * (the "\r\n" the item does not store) into s->tail.  true while more are
 * needed.
 */
static bool text_fill(struct text_session *s, const char *buf, size_t len, size_t *pos)
{
    size_t vlen = item_vlen(s->item);
    while (*pos < len && s->filled < vlen + 2) {
        size_t n = len - *pos;
        if (s->filled < vlen) {
            if (n > vlen - s->filled)
                n = vlen - s->filled;
            memcpy(item_value(s->item) + s->filled, buf + *pos, n);
        } else {
            n = 1;
            s->tail[s->filled - vlen] = buf[*pos];
        }
        s->filled += n;
        *pos += n;
    }
    return s->filled < vlen + 2;
}

/* A line with no newline yet: keep waiting, or give up on the connection. */
static void text_check_partial(struct text_session *s, const char *buf, size_t len)
{
    if (len <= TEXT_LINE_MAX)
        return;
    /* Only a multi-get may be this long, as in memcached. */
    size_t sp = 0;
    while (sp < len && buf[sp] == ' ')
        sp++;
    bool is_get = (len - sp >= 4 && memcmp(buf + sp, "get ", 4) == 0) ||
                  (len - sp >= 5 && memcmp(buf + sp, "gets ", 5) == 0);
    if (sp > 100 || !is_get || len > TEXT_GET_LINE_MAX)
        s->close = true;
}

size_t text_feed(struct text_session *s, const struct proto_env *env, const char *buf,
                 size_t len, struct reply *out, enum proto_status *st)
{
    size_t pos = 0;
    int served = 0;
    *st = PROTO_WANT_INPUT;
    while (!s->close) {
        if (s->state == TEXT_STATE_SWALLOW) {
            size_t n = len - pos < s->swallow ? len - pos : s->swallow;
            pos += n;
            s->swallow -= n;
            if (s->swallow > 0) {
                *st = PROTO_HOLD;
                break;
            }
            s->state = TEXT_STATE_CMD;
            continue;
        }
        if (s->state == TEXT_STATE_DATA) {
            if (text_fill(s, buf, len, &pos))
                break;
            text_update_done(s, env, out);
            continue;
        }
        /* memcached counts a yield once -R requests were served, whatever
         * is left; only bytes still waiting make us come back. */
        if (served >= env->settings->reqs_per_event) {
            counter_inc(&env->counters->conn_yields);
            if (pos < len)
                *st = PROTO_YIELD;
            break;
        }
        if (pos == len)
            break;
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (nl == NULL) {
            text_check_partial(s, line, len - pos);
            break;
        }
        size_t llen = (size_t)(nl - line);
        if (llen > 1 && line[llen - 1] == '\r')
            llen--;
        pos = (size_t)(nl - buf) + 1;
        struct text_req req;
        reply_boundary(out, false);
        text_parse(line, llen, &req);
        text_exec(s, env, &req, out);
        served++;
    }
    if (s->close)
        *st = PROTO_CLOSE;
    return pos;
}
