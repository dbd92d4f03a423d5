/*
 * text_exec: the ASCII protocol's request loop and command handlers — bytes
 * of a connection in, calls on the cache API, replies appended to a
 * `struct reply`.  Parsing lives in text.c, the multi-get in text_get.c,
 * `stats` in text_stats.c, the administrative commands in text_admin.c,
 * the meta commands in meta_exec.c.
 *
 * A reply stops growing at settings->reply_bound: no new request is served
 * past it (PROTO_DRAIN), and a multi-get stops at a key boundary.  If
 * memory runs out while a request's reply is built, what it added is taken
 * back and the connection closes once earlier replies are written, as
 * memcached closes a connection it cannot allocate a response for; a get
 * answers memcached's SERVER_ERROR instead (text_get.c).
 */
#include <string.h>

#include "expiry.h"
#include "meta.h"
#include "prefix_stats.h"
#include "text.h"
#include "timing.h"
#include "watch.h"

/* A reply line, unless the request said noreply. */
static void out_msg(struct reply *out, bool noreply, enum msg m)
{
    if (!noreply)
        msg_reply(out, m);
}

static rel_time_t text_exptime(const struct proto_env *env, int64_t exptime)
{
    return expiry_from_client(exptime, env->now, cache_started());
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
            out_msg(out, r->noreply, MSG_E_TOO_LARGE);
        } else {
            counter_inc(&env->counters->store_no_memory);
            out_msg(out, r->noreply, MSG_E_OOM_STORE);
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
    s->hash = text_key_hash(s, r->key, r->nkey);
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
        out_msg(out, noreply, MSG_E_DATA_CHUNK);
        item_unref(it);
        return;
    }
    unsigned cls = item_class(it);
    if (watch_on(WATCH_FETCHERS))
        watch_lookup(item_key(it), it->nkey, env->now, env->fd);
    enum cache_status st = cache_store(it, s->hash, s->op, s->cas, env->now);
    if (watch_on(WATCH_MUTATIONS))
        watch_stored(it, st, s->op, env->now, env->fd);
    switch (st) {
    case CACHE_STORED:
        if (s->op == CACHE_CAS)
            counter_inc(&c->cls[cls].cas_hits);
        out_msg(out, noreply, MSG_STORED);
        break;
    case CACHE_EXISTS:
        counter_inc(&c->cls[cls].cas_badval);
        out_msg(out, noreply, MSG_EXISTS);
        break;
    case CACHE_NOT_FOUND:
        counter_inc(&c->cas_misses);
        out_msg(out, noreply, MSG_NOT_FOUND);
        break;
    case CACHE_NO_MEMORY:
        out_msg(out, noreply, MSG_E_OOM_STORE);
        break;
    default:
        out_msg(out, noreply, MSG_NOT_STORED);
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
        char *e = reply_put_u64(num, value);
        *e++ = '\r';
        *e++ = '\n';
        counter_inc(incr ? &c->cls[cls].incr_hits : &c->cls[cls].decr_hits);
        if (!r->noreply)
            reply_add(out, num, (size_t)(e - num));
        break;
    }
    case CACHE_NOT_FOUND:
        counter_inc(incr ? &c->incr_misses : &c->decr_misses);
        out_msg(out, r->noreply, MSG_NOT_FOUND);
        break;
    case CACHE_NON_NUMERIC:
        out_msg(out, r->noreply, MSG_E_NON_NUMERIC);
        break;
    default:
        out_msg(out, r->noreply, MSG_E_OOM);
        break;
    }
}

static void text_flush(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    counter_inc(&env->counters->cmd_flush);
    if (!env->settings->flush_enabled) {
        out_msg(out, r->noreply, MSG_E_FLUSH_DISABLED);
        return;
    }
    if (r->num != 0) {      /* the delay did not parse; checked after -F as memcached */
        out_msg(out, r->noreply, MSG_E_EXPTIME);
        return;
    }
    /* As memcached: with CAS on, items stored up to one second before the
     * moment go; a delay of 0 or less means now.  An absolute time from
     * before the cache started (expiry_from_client's 1) names no item:
     * memcached flushes nothing then. */
    rel_time_t when = r->exptime > 0 ? text_exptime(env, r->exptime) : env->now;
    if (when > 1) {
        if (env->settings->use_cas)
            when = when - 1;
        cache_flush(when, env->now);
    }
    out_msg(out, r->noreply, MSG_OK);
}

static void text_memlimit(const struct proto_env *env, const struct text_req *r,
                          struct reply *out)
{
    if (r->num < 8) {
        out_msg(out, r->noreply, MSG_E_MEMLIMIT_SMALL);
    } else if (r->num > 1000000000) {
        out_msg(out, r->noreply, MSG_E_MEMLIMIT_MB);
    } else {
        cache_set_memlimit((size_t)r->num * 1024 * 1024);
        (void)env;
        out_msg(out, r->noreply, MSG_OK);
    }
}

/* What a request leaves to do before the next one is served. */
enum text_next {
    TEXT_NEXT = 0,              /* nothing: serve the next request */
    TEXT_STOPPED,               /* a multi-get stopped at the bound: its line stays */
    TEXT_DRAIN,                 /* write the reply first: a dump goes on, or just ended */
};

/* Run one parsed request line. */
static enum text_next text_exec(struct text_session *s, const struct proto_env *env,
                                const struct text_req *r, const char *line, struct reply *out)
{
    struct proto_counters *c = env->counters;
    unsigned cls = 0;
    if (r->err != MSG_NONE) {
        out_msg(out, r->noreply, r->err);
        return TEXT_NEXT;
    }
    switch (r->cmd) {
    case TEXT_CMD_GET:
    case TEXT_CMD_GETS:
    case TEXT_CMD_GAT:
    case TEXT_CMD_GATS:
        return text_get_start(s, env, r, line, out) ? TEXT_NEXT : TEXT_STOPPED;
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
        struct cache_fetch gone = { .vlen = 0 };
        if (watch_on(WATCH_DELETIONS))
            cache_peek(r->key, r->nkey, env->now, &gone);
        if (watch_on(WATCH_FETCHERS))
            watch_lookup(r->key, r->nkey, env->now, env->fd);
        if (cache_delete(r->key, r->nkey, env->now, &cls) == CACHE_DELETED) {
            if (watch_on(WATCH_DELETIONS))
                watch_deleted(r->key, r->nkey, false, cls, gone.vlen);
            counter_inc(&c->cls[cls].delete_hits);
            out_msg(out, r->noreply, MSG_DELETED);
        } else {
            counter_inc(&c->delete_misses);
            out_msg(out, r->noreply, MSG_NOT_FOUND);
        }
        break;
    case TEXT_CMD_TOUCH:
        counter_inc(&c->cmd_touch);
        if (cache_touch(r->key, r->nkey, text_exptime(env, r->exptime), env->now, &cls) ==
            CACHE_OK) {
            counter_inc(&c->cls[cls].touch_hits);
            out_msg(out, r->noreply, MSG_TOUCHED);
        } else {
            counter_inc(&c->touch_misses);
            out_msg(out, r->noreply, MSG_NOT_FOUND);
        }
        break;
    case TEXT_CMD_STATS:
        return text_stats(s, env, r, out) ? TEXT_DRAIN : TEXT_NEXT;
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
            msg_reply(out, MSG_E_SHUTDOWN_DISABLED);
        } else if (r->num == 2) {
            msg_reply(out, MSG_E_SHUTDOWN_MODE);
        } else {
            s->close = true;
            env->hooks->shutdown(env->hooks->arg, r->num == 1);
        }
        break;
    case TEXT_CMD_VERBOSITY:
        env->hooks->verbosity(env->hooks->arg, (int)(r->num > 2 ? 2 : r->num));
        out_msg(out, r->noreply, MSG_OK);
        break;
    case TEXT_CMD_CACHE_MEMLIMIT:
        text_memlimit(env, r, out);
        break;
    case TEXT_CMD_SLABS:
    case TEXT_CMD_LRU_CRAWLER:
    case TEXT_CMD_LRU:
    case TEXT_CMD_WATCH:
        return text_admin(s, env, r, out) ? TEXT_DRAIN : TEXT_NEXT;
    case TEXT_CMD_REFRESH_CERTS:
        text_refresh_certs(env, r, out);
        break;
    case TEXT_CMD_ERROR:
        break;
    }
    return TEXT_NEXT;
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

/* What a request counts as in the latency histograms. */
static enum timing_cmd text_timing_cmd(const struct text_req *r)
{
    /* One more than the timing_cmd: 0 is "other". */
    static const uint8_t by_cmd[] = {
        [TEXT_CMD_GET] = TIMING_GET + 1, [TEXT_CMD_GETS] = TIMING_GETS + 1,
        [TEXT_CMD_GAT] = TIMING_GAT + 1, [TEXT_CMD_GATS] = TIMING_GAT + 1,
        [TEXT_CMD_SET] = TIMING_SET + 1, [TEXT_CMD_ADD] = TIMING_ADD + 1,
        [TEXT_CMD_REPLACE] = TIMING_REPLACE + 1, [TEXT_CMD_APPEND] = TIMING_APPEND + 1,
        [TEXT_CMD_PREPEND] = TIMING_PREPEND + 1, [TEXT_CMD_CAS] = TIMING_CAS + 1,
        [TEXT_CMD_INCR] = TIMING_INCR + 1, [TEXT_CMD_DECR] = TIMING_DECR + 1,
        [TEXT_CMD_DELETE] = TIMING_DELETE + 1, [TEXT_CMD_TOUCH] = TIMING_TOUCH + 1,
        [TEXT_CMD_STATS] = TIMING_STATS + 1,
    };
    if (r->cmd == TEXT_CMD_META && r->tok[0].len == 2) {
        switch (r->tok[0].p[1]) {
        case 'g': return TIMING_MG;
        case 's': return TIMING_MS;
        case 'd': return TIMING_MD;
        case 'a': return TIMING_MA;
        case 'n': return TIMING_MN;
        case 'e': return TIMING_ME;
        }
    }
    return (size_t)r->cmd < sizeof(by_cmd) && by_cmd[r->cmd] != 0
               ? (enum timing_cmd)(by_cmd[r->cmd] - 1) : TIMING_OTHER;
}

/* Run one parsed request line of `buf`.  A reply cut short by a memory
 * failure is taken back and the connection closes. */
static enum text_next text_request(struct text_session *s, const struct proto_env *env,
                                   const char *buf, const struct text_parsed *x,
                                   struct reply *out)
{
    size_t mark = reply_mark(out), buf_mark = out->len;
    uint64_t start = env->timing ? timing_begin(&s->timing_mark) : 0;
    reply_boundary(out, false);
    s->hint = (struct proto_key_hint){ .key = x->key, .nkey = x->nkey, .hash = x->hash };
    enum text_next then = text_exec(s, env, &x->req, buf + x->start, out);
    s->hint.key = NULL;
    if (env->timing) {
        /* A storage command is timed to its store, once the data is in. */
        if (s->state == TEXT_STATE_DATA) {
            s->timing_start = start;
            s->timing_cmd = (uint8_t)text_timing_cmd(&x->req);
        } else {
            timing_record(env->timing, text_timing_cmd(&x->req), start, &s->timing_mark);
        }
    }
    if (then == TEXT_STOPPED)
        s->get.consume = x->next - x->start;
    if (out->oom) {
        reply_rollback(out, mark, buf_mark);
        s->close = true;
    }
    return then;
}

/*
 * Go on with what fills the session when no new request may start: a data
 * block, one being dropped, a stopped multi-get or dump, a watch.  Returns
 * false when the feed must stop here, with *st set.
 */
static bool text_continue(struct text_session *s, const struct proto_env *env, const char *buf,
                          size_t len, size_t *pos, int *served, struct reply *out,
                          enum proto_status *st)
{
    switch (s->state) {
    case TEXT_STATE_SWALLOW: {
        size_t n = len - *pos < s->swallow ? len - *pos : s->swallow;
        *pos += n;
        s->swallow -= n;
        if (s->swallow > 0) {
            *st = PROTO_HOLD;
            return false;
        }
        s->state = TEXT_STATE_CMD;
        return true;
    }
    case TEXT_STATE_DATA: {
        if (text_fill(s, buf, len, pos))
            return false;
        size_t mark = reply_mark(out), buf_mark = out->len;
        text_update_done(s, env, out);
        if (env->timing && s->timing_start != 0) {
            timing_record(env->timing, (enum timing_cmd)s->timing_cmd, s->timing_start,
                          &s->timing_mark);
            s->timing_start = 0;
        }
        if (out->oom) {
            reply_rollback(out, mark, buf_mark);
            s->close = true;
        }
        return true;
    }
    case TEXT_STATE_GET:
        /* Its line is still at *pos, whole: the transport passes unconsumed
         * bytes again. */
        if (len - *pos < s->get.consume)
            return false;
        if (!text_get_resume(s, env, buf + *pos, out)) {
            *st = PROTO_DRAIN;
            return false;
        }
        *pos += s->get.consume;
        (*served)++;
        return true;
    case TEXT_STATE_DUMP:
        if (text_dump_resume(s, env, out)) {
            *st = PROTO_DRAIN;
            return false;
        }
        return true;
    case TEXT_STATE_WATCH:
        /* memcached reads nothing more from a watcher. */
        *pos = len;
        return false;
    default:
        return true;
    }
}

size_t text_feed(struct text_session *s, const struct proto_env *env, const char *buf,
                 size_t len, struct reply *out, enum proto_status *st)
{
    size_t pos = 0;
    int served = 0;
    struct text_ahead ahead;
    text_ahead_reset(&ahead);
    s->timing_mark = 0;
    *st = PROTO_WANT_INPUT;
    while (!s->close) {
        if (s->state != TEXT_STATE_CMD) {
            if (!text_continue(s, env, buf, len, &pos, &served, out, st))
                break;
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
        /* Past the bound, the reply is written before more is served. */
        if (served > 0 && reply_pending(out) >= env->settings->reply_bound) {
            *st = PROTO_DRAIN;
            break;
        }
        /* Requests beyond -R are left for the next turn: none parsed ahead. */
        const struct text_parsed *x = text_ahead_next(
            &ahead, buf, len, pos, (unsigned)(env->settings->reqs_per_event - served));
        if (x == NULL) {
            text_check_partial(s, buf + pos, len - pos);
            break;
        }
        enum text_next then = text_request(s, env, buf, x, out);
        if (then == TEXT_STOPPED) {
            *st = PROTO_DRAIN;
            break;
        }
        pos = x->next;
        text_ahead_pop(&ahead);
        served++;
        if (then == TEXT_DRAIN) {
            *st = PROTO_DRAIN;
            break;
        }
    }
    if (s->close)
        *st = PROTO_CLOSE;
    return pos;
}
