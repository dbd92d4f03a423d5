/*
 * binary: memcached's binary protocol as a push parser over byte buffers.
 *
 * bin_feed() waits until a request's 24-byte header, its extras and its
 * key are buffered, then runs it; a storage command's value is copied
 * straight from the connection's buffer into the newly allocated item,
 * piece by piece if it arrives that way (items hold values without the
 * text protocol's "\r\n", so text and binary clients read the same items).
 * Values of gets are referenced in place, as in text_get.c; the cas checks
 * of DELETE, APPEND/PREPEND and INCREMENT/DECREMENT are made by the cache
 * under the key's lock (cache_delete_cas, cache_store, cache_arith_ex).
 *
 * The behaviour is memcached 1.6.18's proto_bin.c, quirks included: which
 * request shapes are a protocol error (EINVAL, then close), that errors are
 * sent even for quiet commands, that an unknown command swallows `bodylen`
 * bytes after its key, that TOUCH answers with the flags.  Clients were
 * written against those bytes.
 */
#include "binary.h"
#include "timing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expiry.h"
#include "msg.h"
#include "prefix_stats.h"
#include "sasl.h"
#include "stats.h"

/* Every error message, in one place; a status not listed has none. */
static const char *const bin_msg[] = {
    [BIN_KEY_ENOENT] = "Not found",
    [BIN_KEY_EEXISTS] = "Data exists for key.",
    [BIN_E2BIG] = "Too large.",
    [BIN_EINVAL] = "Invalid arguments",
    [BIN_NOT_STORED] = "Not stored.",
    [BIN_DELTA_BADVAL] = "Non-numeric server-side value for incr or decr",
    [BIN_AUTH_ERROR] = "Auth failure.",
    [BIN_UNKNOWN_COMMAND] = "Unknown command",
    [BIN_ENOMEM] = "Out of memory",
};

const char *bin_status_string(enum bin_status st)
{
    const char *m = (size_t)st < sizeof(bin_msg) / sizeof(bin_msg[0]) ? bin_msg[st] : NULL;
    return m != NULL ? m : "";
}

static uint16_t get16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] << 8 | u[1]);
}

static uint32_t get32(const char *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(char *p, uint16_t v)
{
    p[0] = (char)(v >> 8);
    p[1] = (char)v;
}

static void put32(char *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static void put64(char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

void bin_parse_header(const char *p, struct bin_header *h)
{
    h->magic = (uint8_t)p[0];
    h->opcode = (uint8_t)p[1];
    h->keylen = get16(p + 2);
    h->extlen = (uint8_t)p[4];
    h->datatype = (uint8_t)p[5];
    h->vbucket = get16(p + 6);
    h->bodylen = get32(p + 8);
    h->opaque = get32(p + 12);
    h->cas = get64(p + 16);
}

void bin_write_header(char *out, uint8_t opcode, uint16_t status, uint16_t keylen,
                      uint8_t extlen, uint32_t bodylen, uint32_t opaque, uint64_t cas)
{
    out[0] = (char)BIN_RES_MAGIC;
    out[1] = (char)opcode;
    put16(out + 2, keylen);
    out[4] = (char)extlen;
    out[5] = 0;                 /* datatype: raw bytes */
    put16(out + 6, status);
    put32(out + 8, bodylen);
    /* The opaque goes back exactly as it came. */
    put32(out + 12, opaque);
    put64(out + 16, cas);
}

/* A reply of this request's opcode: header, extras, key and body, copied. */
static void bin_reply(const struct bin_session *s, struct reply *out, uint16_t status,
                      const char *ext, uint8_t next, const char *key, uint16_t nkey,
                      const char *body, uint32_t nbody, uint64_t cas)
{
    char hdr[BIN_HEADER_LEN];
    bin_write_header(hdr, s->opcode, status, nkey, next, next + nkey + nbody, s->opaque, cas);
    reply_add(out, hdr, sizeof(hdr));
    reply_add(out, ext, next);
    reply_add(out, key, nkey);
    reply_add(out, body, nbody);
}

/* An error: sent even for a quiet command, as memcached does. */
static void bin_error(const struct bin_session *s, struct reply *out, enum bin_status st,
                      const char *msg)
{
    if (msg == NULL)
        msg = bin_status_string(st);
    bin_reply(s, out, (uint16_t)st, NULL, 0, NULL, 0, msg, (uint32_t)strlen(msg), 0);
}

/* ENOMEM with memcached's message for what failed: the text protocol's
 * line without its "SERVER_ERROR " and "\r\n", as its out_of_memory(). */
static void bin_oom(const struct bin_session *s, struct reply *out, enum msg m)
{
    static const char prefix[] = "SERVER_ERROR ";
    size_t n;
    const char *line = msg_line(m, &n);
    size_t skip = strncmp(line, prefix, sizeof(prefix) - 1) == 0 ? sizeof(prefix) - 1 : 0;
    bin_reply(s, out, BIN_ENOMEM, NULL, 0, NULL, 0, line + skip, (uint32_t)(n - skip - 2), 0);
}

/* Drop the `n` bytes of request body still to come before the next request. */
static void bin_swallow(struct bin_session *s, size_t n)
{
    if (n > 0) {
        s->state = BIN_STATE_SWALLOW;
        s->swallow = n;
    }
}

/* An error whose request body is still to come: drop it first. */
static void bin_error_swallow(struct bin_session *s, struct reply *out, enum bin_status st,
                              const char *msg, size_t swallow)
{
    bin_error(s, out, st, msg);
    bin_swallow(s, swallow);
}

static void bin_oom_swallow(struct bin_session *s, struct reply *out, enum msg m, size_t swallow)
{
    bin_oom(s, out, m);
    bin_swallow(s, swallow);
}

/* A request of a shape memcached refuses: EINVAL, then close. */
static void bin_protocol_error(struct bin_session *s, struct reply *out)
{
    bin_error(s, out, BIN_EINVAL, NULL);
    s->close = true;
}

/* Success with an optional body; nothing at all for a quiet command. */
static void bin_success(const struct bin_session *s, struct reply *out, const char *body,
                        uint32_t nbody, uint64_t cas)
{
    if (!s->quiet)
        bin_reply(s, out, BIN_OK, NULL, 0, NULL, 0, body, nbody, cas);
}

static rel_time_t bin_exptime(const struct proto_env *env, uint32_t exptime)
{
    /* memcached reads the field unsigned: a "negative" time is far in the future. */
    return expiry_from_client((int64_t)exptime, env->now, cache_started());
}

struct bin_get_ctx {
    struct bin_session *s;
    struct reply *out;
    const char *key;
    uint16_t nkey;
    bool with_key, with_value;
    unsigned cls;
};

/* The hit's response, formatted under the item's stripe lock. */
static void bin_get_hit(struct item *it, void *arg)
{
    struct bin_get_ctx *x = arg;
    uint32_t nval = x->with_value ? (uint32_t)item_vlen(it) : 0;
    uint16_t rkey = x->with_key ? x->nkey : 0;
    bool copy = nval <= REPLY_COPY_MAX;
    x->cls = item_class(it);
    /* Header, flags, key and a small value in one piece of the reply. */
    size_t n = BIN_HEADER_LEN + 4 + rkey + (copy ? nval : 0);
    char *p = reply_space(x->out, n);
    if (p == NULL)
        return;
    bin_write_header(p, x->s->opcode, BIN_OK, rkey, 4, 4 + rkey + nval, x->s->opaque,
                     item_cas(it));
    put32(p + BIN_HEADER_LEN, item_flags(it));
    reply_copy_small(p + BIN_HEADER_LEN + 4, x->key, rkey);
    if (copy)
        reply_copy_small(p + BIN_HEADER_LEN + 4 + rkey, item_value(it), nval);
    reply_commit(x->out, n);
    if (!copy)
        reply_item(x->out, it, item_value(it), nval);
}

/* GET, GETK, TOUCH, GAT, GATK and their quiet forms (already folded). */
static void bin_get(struct bin_session *s, const struct proto_env *env, uint8_t cmd,
                    const char *ext, const char *key, uint16_t nkey, struct reply *out)
{
    bool touch = cmd == BIN_CMD_TOUCH || cmd == BIN_CMD_GAT || cmd == BIN_CMD_GATK;
    struct bin_get_ctx x = { .s = s, .out = out, .key = key, .nkey = nkey,
                             .with_key = cmd == BIN_CMD_GETK || cmd == BIN_CMD_GATK,
                             .with_value = cmd != BIN_CMD_TOUCH };
    struct proto_counters *c = env->counters;
    enum cache_miss why;
    uint64_t hash = proto_key_hash(&s->hint, key, nkey);
    bool hit = touch ? cache_touch_visit(key, nkey, hash, bin_exptime(env, get32(ext)), env->now,
                                         &why, bin_get_hit, &x)
                     : cache_get_visit(key, nkey, hash, env->now, &why, bin_get_hit, &x);
    counter_inc(touch ? &c->cmd_touch : &c->cmd_get);
    if (prefix_stats_enabled())
        prefix_stats_record(key, nkey, PREFIX_GET, hit);
    if (hit) {
        counter_inc(touch ? &c->cls[x.cls].touch_hits : &c->cls[x.cls].get_hits);
        return;
    }
    counter_inc(touch ? &c->touch_misses : &c->get_misses);
    if (why == CACHE_MISS_EXPIRED)
        counter_inc(&c->get_expired);
    else if (why == CACHE_MISS_FLUSHED)
        counter_inc(&c->get_flushed);
    if (s->quiet)
        return;
    if (x.with_key)
        bin_reply(s, out, BIN_KEY_ENOENT, NULL, 0, key, nkey, NULL, 0, 0);
    else
        bin_error(s, out, BIN_KEY_ENOENT, NULL);
}

/* SET/ADD/REPLACE/APPEND/PREPEND: allocate the item the value goes into. */
static void bin_update(struct bin_session *s, const struct proto_env *env, uint8_t cmd,
                       const struct bin_header *h, const char *ext, const char *key,
                       struct reply *out)
{
    bool concat = cmd == BIN_CMD_APPEND || cmd == BIN_CMD_PREPEND;
    uint32_t flags = concat ? 0 : get32(ext);
    rel_time_t exptime = concat ? 0 : bin_exptime(env, get32(ext + 4));
    size_t vlen = (size_t)h->bodylen - h->keylen - h->extlen;
    if (prefix_stats_enabled())
        prefix_stats_record(key, h->keylen, PREFIX_SET, false);
    enum cache_status err;
    struct item *it = cache_alloc(key, h->keylen, flags, exptime, vlen, env->now, &err);
    if (it == NULL) {
        if (err == CACHE_TOO_LARGE)
            bin_error_swallow(s, out, BIN_E2BIG, NULL, vlen);
        else
            bin_oom_swallow(s, out, MSG_E_OOM_ITEM, vlen);
        /* A failed set must not leave the old value to be served. */
        if (cmd == BIN_CMD_SET)
            cache_delete(key, h->keylen, env->now, NULL);
        return;
    }
    switch (cmd) {
    case BIN_CMD_ADD: s->op = CACHE_ADD; break;
    case BIN_CMD_REPLACE: s->op = CACHE_REPLACE; break;
    case BIN_CMD_APPEND: s->op = CACHE_APPEND; break;
    case BIN_CMD_PREPEND: s->op = CACHE_PREPEND; break;
    default: s->op = CACHE_SET; break;
    }
    /* A cas makes any of set, add and replace a compare-and-swap. */
    if (h->cas != 0 && !concat)
        s->op = CACHE_CAS;
    s->cas = h->cas;
    s->item = it;
    s->hash = proto_key_hash(&s->hint, key, h->keylen);
    s->filled = 0;
    s->state = BIN_STATE_VALUE;
}

/* The value is complete: store it and answer. */
static void bin_update_done(struct bin_session *s, const struct proto_env *env,
                            struct reply *out)
{
    struct item *it = s->item;
    struct proto_counters *c = env->counters;
    s->item = NULL;
    s->state = BIN_STATE_HEADER;
    unsigned cls = item_class(it);
    counter_inc(&c->cls[cls].cmd_set);
    /* A cas on append/prepend is checked by the store, under its lock. */
    switch (cache_store(it, s->hash, s->op, s->cas, env->now)) {
    case CACHE_STORED:
        if (s->op == CACHE_CAS)
            counter_inc(&c->cls[cls].cas_hits);
        bin_success(s, out, NULL, 0, item_cas(it));
        break;
    case CACHE_EXISTS:
        if (s->op == CACHE_CAS)
            counter_inc(&c->cls[cls].cas_badval);
        bin_error(s, out, BIN_KEY_EEXISTS, NULL);
        break;
    case CACHE_NOT_FOUND:
        counter_inc(&c->cas_misses);
        bin_error(s, out, BIN_KEY_ENOENT, NULL);
        break;
    default:
        /* memcached words a refused add or replace by its cause. */
        bin_error(s, out, s->op == CACHE_ADD ? BIN_KEY_EEXISTS
                          : s->op == CACHE_REPLACE ? BIN_KEY_ENOENT : BIN_NOT_STORED, NULL);
        break;
    }
    item_unref(it);
}

static void bin_delete(struct bin_session *s, const struct proto_env *env,
                       const struct bin_header *h, const char *key, struct reply *out)
{
    struct proto_counters *c = env->counters;
    unsigned cls = 0;
    if (prefix_stats_enabled())
        prefix_stats_record(key, h->keylen, PREFIX_DELETE, false);
    switch (cache_delete_cas(key, h->keylen, h->cas != 0 ? &h->cas : NULL, env->now, &cls)) {
    case CACHE_DELETED:
        counter_inc(&c->cls[cls].delete_hits);
        bin_success(s, out, NULL, 0, 0);
        break;
    case CACHE_EXISTS:
        bin_error(s, out, BIN_KEY_EEXISTS, NULL);
        break;
    default:
        counter_inc(&c->delete_misses);
        bin_error(s, out, BIN_KEY_ENOENT, NULL);
        break;
    }
}

static void bin_arith(struct bin_session *s, const struct proto_env *env, uint8_t cmd,
                      const struct bin_header *h, const char *ext, const char *key,
                      struct reply *out)
{
    bool incr = cmd == BIN_CMD_INCREMENT;
    uint32_t exptime = get32(ext + 16);
    struct proto_counters *c = env->counters;
    /* The cas check, the arithmetic and creating a missing counter from
     * its initial value all happen under the key's lock. */
    struct cache_arith_opts o = {
        .incr = incr,
        .delta = get64(ext),
        .cas = h->cas,
        .vivify = exptime != BIN_NO_CREATE,
        .initial = get64(ext + 8),
        .vivify_exptime = exptime != BIN_NO_CREATE ? bin_exptime(env, exptime) : 0,
    };
    struct cache_arith_result res;
    char body[8];
    switch (cache_arith_ex(key, h->keylen, &o, env->now, &res)) {
    case CACHE_OK:
        if (!res.created)
            counter_inc(incr ? &c->cls[res.cls].incr_hits : &c->cls[res.cls].decr_hits);
        put64(body, res.value);
        bin_success(s, out, body, 8, env->settings->use_cas ? res.cas : 0);
        break;
    case CACHE_EXISTS:
        bin_error(s, out, BIN_KEY_EEXISTS, NULL);
        break;
    case CACHE_NON_NUMERIC:
        bin_error(s, out, BIN_DELTA_BADVAL, NULL);
        break;
    case CACHE_NOT_FOUND:
        counter_inc(incr ? &c->incr_misses : &c->decr_misses);
        bin_error(s, out, BIN_KEY_ENOENT, NULL);
        break;
    default:
        /* Allocation fails rarely; a creating request most likely failed
         * to create, one that may not create failed to grow the number. */
        bin_oom(s, out, o.vivify ? MSG_E_OOM_NEW_ITEM : MSG_E_OOM_INCR);
        break;
    }
}

static void bin_flush(struct bin_session *s, const struct proto_env *env,
                      const struct bin_header *h, const char *ext, struct reply *out)
{
    if (!env->settings->flush_enabled) {
        bin_error(s, out, BIN_AUTH_ERROR, NULL);
        return;
    }
    uint32_t exptime = h->extlen == 4 ? get32(ext) : 0;
    /* As text's flush_all: with CAS on, items stored up to one second
     * before the moment go too. */
    rel_time_t when = exptime > 0 ? bin_exptime(env, exptime) : env->now;
    if (env->settings->use_cas)
        when = when - 1;
    cache_flush(when, env->now);
    counter_inc(&env->counters->cmd_flush);
    bin_success(s, out, NULL, 0, 0);
}

static bool key_starts(const char *key, size_t nkey, const char *word)
{
    size_t n = strlen(word);
    return nkey >= n && memcmp(key, word, n) == 0;
}

static bool key_is(const char *key, size_t nkey, const char *word)
{
    return nkey == strlen(word) && memcmp(key, word, nkey) == 0;
}

/* The binary protocol's stats sink: one STAT packet per statistic, each
 * echoing the request's opaque; the end is an empty one. */
struct bin_sink {
    struct stats_sink base;     /* first: the lists see only this */
    struct reply *out;
    uint32_t opaque;
};

static void bin_sink_stat(struct stats_sink *s, const char *name, size_t nname, const char *val,
                          size_t nval)
{
    struct bin_sink *b = (struct bin_sink *)s;
    char hdr[BIN_HEADER_LEN];
    bin_write_header(hdr, BIN_CMD_STAT, BIN_OK, (uint16_t)nname, 0, (uint32_t)(nname + nval),
                     b->opaque, 0);
    reply_add(b->out, hdr, sizeof(hdr));
    reply_add(b->out, name, nname);
    reply_add(b->out, val, nval);
}

static void bin_sink_end(struct stats_sink *s) { bin_sink_stat(s, "", 0, "", 0); }

/* `stats detail dump`: the text dump as the value of one "detailed" stat. */
static void bin_stat_detail_dump(struct stats_sink *sink)
{
    struct reply tmp;
    reply_init(&tmp);
    prefix_stats_dump(&tmp);
    sink->stat(sink, "detailed", 8, tmp.buf, tmp.len);
    reply_free(&tmp);
}

/* STAT: the key names the group, matched as memcached matches it. */
static void bin_stat(struct bin_session *s, const struct proto_env *env, const char *key,
                     uint16_t nkey, struct reply *out)
{
    struct bin_sink b = { .base = { .stat = bin_sink_stat, .end = bin_sink_end },
                          .out = out, .opaque = s->opaque };
    struct stats_sink *sink = &b.base;
    if (nkey == 0) {
        stats_general(env, sink);
    } else if (key_starts(key, nkey, "reset")) {
        env->hooks->stats_reset(env->hooks->arg);
        cache_stats_reset();
    } else if (key_starts(key, nkey, "settings")) {
        stats_settings(env, sink);
    } else if (key_starts(key, nkey, "detail")) {
        const char *sub = key + 6;
        size_t nsub = nkey - 6u;
        if (key_starts(sub, nsub, " dump")) {
            bin_stat_detail_dump(sink);
        } else if (key_starts(sub, nsub, " on")) {
            prefix_stats_enable(true);
        } else if (key_starts(sub, nsub, " off")) {
            prefix_stats_enable(false);
        } else {
            bin_error(s, out, BIN_KEY_ENOENT, NULL);
            return;
        }
    } else if (key_is(key, nkey, "items")) {
        stats_items(env, sink);
    } else if (key_is(key, nkey, "slabs")) {
        stats_slabs(env, sink);
    } else if (key_is(key, nkey, "sizes")) {
        stats_sizes(env, sink);
    } else if (key_is(key, nkey, "sizes_enable")) {
        stats_sizes_enable(env, sink);      /* memcached sends no end packet here */
        return;
    } else if (key_is(key, nkey, "sizes_disable")) {
        stats_sizes_disable(env, sink);
        return;
    } else {
        bin_error(s, out, BIN_KEY_ENOENT, NULL);
        return;
    }
    stats_end(sink);
}

/* The command without its quiet bit; sets *quiet. */
static uint8_t bin_unquiet(uint8_t op, bool *quiet)
{
    *quiet = true;
    switch (op) {
    case BIN_CMD_SETQ: return BIN_CMD_SET;
    case BIN_CMD_ADDQ: return BIN_CMD_ADD;
    case BIN_CMD_REPLACEQ: return BIN_CMD_REPLACE;
    case BIN_CMD_DELETEQ: return BIN_CMD_DELETE;
    case BIN_CMD_INCREMENTQ: return BIN_CMD_INCREMENT;
    case BIN_CMD_DECREMENTQ: return BIN_CMD_DECREMENT;
    case BIN_CMD_QUITQ: return BIN_CMD_QUIT;
    case BIN_CMD_FLUSHQ: return BIN_CMD_FLUSH;
    case BIN_CMD_APPENDQ: return BIN_CMD_APPEND;
    case BIN_CMD_PREPENDQ: return BIN_CMD_PREPEND;
    case BIN_CMD_GETQ: return BIN_CMD_GET;
    case BIN_CMD_GETKQ: return BIN_CMD_GETK;
    case BIN_CMD_GATQ: return BIN_CMD_GAT;
    case BIN_CMD_GATKQ: return BIN_CMD_GATK;
    default: *quiet = false; return op;
    }
}

/*
 * Whether the header's lengths have the shape the command requires, as
 * memcached checks them.  -1 for a command memcached does not know.
 */
static int bin_shape_ok(uint8_t cmd, const struct bin_header *h)
{
    uint32_t body = h->bodylen, nkey = h->keylen, next = h->extlen;
    switch (cmd) {
    case BIN_CMD_VERSION:
    case BIN_CMD_NOOP:
    case BIN_CMD_QUIT:
    case BIN_CMD_SASL_LIST_MECHS:
        return next == 0 && nkey == 0 && body == 0;
    case BIN_CMD_FLUSH:
        return nkey == 0 && body == next && (next == 0 || next == 4);
    case BIN_CMD_SET:
    case BIN_CMD_ADD:
    case BIN_CMD_REPLACE:
        return next == 8 && nkey != 0 && body >= nkey + 8;
    case BIN_CMD_GET:
    case BIN_CMD_GETK:
        return next == 0 && body == nkey && nkey > 0;
    case BIN_CMD_DELETE:
        return nkey > 0 && next == 0 && body == nkey;
    case BIN_CMD_INCREMENT:
    case BIN_CMD_DECREMENT:
        return nkey > 0 && next == 20 && body == nkey + next;
    case BIN_CMD_APPEND:
    case BIN_CMD_PREPEND:
    case BIN_CMD_SASL_AUTH:
    case BIN_CMD_SASL_STEP:
        return next == 0 && nkey > 0;
    case BIN_CMD_STAT:
        return next == 0;
    case BIN_CMD_TOUCH:
    case BIN_CMD_GAT:
    case BIN_CMD_GATK:
        return next == 4 && nkey != 0;
    default:
        return -1;
    }
}

/* Run one request whose header, extras and key are in hand. */
static void bin_dispatch(struct bin_session *s, const struct proto_env *env,
                         const struct bin_header *h, const char *ext, const char *key,
                         struct reply *out)
{
    s->opcode = h->opcode;
    s->opaque = h->opaque;
    s->quiet = false;
    if (h->keylen > h->bodylen || (uint32_t)h->keylen + h->extlen > h->bodylen) {
        bin_error(s, out, BIN_UNKNOWN_COMMAND, NULL);
        s->close = true;
        return;
    }
    /* -S: before SASL succeeds, only SASL and VERSION; anything else is
     * refused and the connection closed, as memcached does. */
    if (env->settings->sasl && !s->authenticated && !sasl_allows(h->opcode)) {
        bin_error(s, out, BIN_AUTH_ERROR, NULL);
        s->close = true;
        return;
    }
    /* The wire allows 16-bit keys; items hold up to 250 bytes. */
    if (h->keylen > ITEM_KEY_MAX) {
        bin_protocol_error(s, out);
        return;
    }
    uint8_t cmd = bin_unquiet(h->opcode, &s->quiet);
    int shape = bin_shape_ok(cmd, h);
    if (shape < 0) {
        /* memcached swallows bodylen bytes after the extras and key. */
        bin_error_swallow(s, out, BIN_UNKNOWN_COMMAND, NULL, h->bodylen);
        return;
    }
    if (shape == 0) {
        bin_protocol_error(s, out);
        return;
    }
    switch (cmd) {
    case BIN_CMD_VERSION: {
        const char *v = env->settings->version;
        bin_success(s, out, v, (uint32_t)strlen(v), 0);
        break;
    }
    case BIN_CMD_NOOP:
        bin_success(s, out, NULL, 0, 0);
        break;
    case BIN_CMD_QUIT:
        bin_success(s, out, NULL, 0, 0);
        s->close = true;
        break;
    case BIN_CMD_FLUSH:
        bin_flush(s, env, h, ext, out);
        break;
    case BIN_CMD_SET:
    case BIN_CMD_ADD:
    case BIN_CMD_REPLACE:
    case BIN_CMD_APPEND:
    case BIN_CMD_PREPEND:
        bin_update(s, env, cmd, h, ext, key, out);
        break;
    case BIN_CMD_GET:
    case BIN_CMD_GETK:
    case BIN_CMD_TOUCH:
    case BIN_CMD_GAT:
    case BIN_CMD_GATK:
        bin_get(s, env, cmd, ext, key, h->keylen, out);
        break;
    case BIN_CMD_DELETE:
        bin_delete(s, env, h, key, out);
        break;
    case BIN_CMD_INCREMENT:
    case BIN_CMD_DECREMENT:
        bin_arith(s, env, cmd, h, ext, key, out);
        break;
    case BIN_CMD_STAT:
        bin_stat(s, env, key, h->keylen, out);
        break;
    case BIN_CMD_SASL_LIST_MECHS:
        if (!env->settings->sasl)
            goto unknown;
        sasl_list_mechs(s, out);
        break;
    case BIN_CMD_SASL_AUTH:
    case BIN_CMD_SASL_STEP:
        if (!env->settings->sasl)
            goto unknown;
        sasl_begin(s, env, h, key, out);
        break;
    unknown:
    default:
        /* SASL: mcd has no authentication, like memcached without -S. */
        bin_error_swallow(s, out, BIN_UNKNOWN_COMMAND, NULL, h->bodylen - h->keylen);
        break;
    }
}

void bin_session_reset(struct bin_session *s)
{
    if (s->item != NULL)
        item_unref(s->item);
    free(s->sasl);
    memset(s, 0, sizeof(*s));
}

size_t bin_feed(struct bin_session *s, const struct proto_env *env, const char *buf,
                size_t len, struct reply *out, enum proto_status *st)
{
    size_t pos = 0;
    int served = 0;
    struct bin_ahead ahead;
    bin_ahead_reset(&ahead);
    s->timing_mark = 0;
    /* Replies memcached would have written already: those of earlier
     * reads, and those up to a NOOP, which makes it write. */
    size_t kept_seg = reply_mark(out), kept_buf = out->len;
    *st = PROTO_WANT_INPUT;
    while (!s->close) {
        if (s->state == BIN_STATE_SWALLOW) {
            size_t n = len - pos < s->swallow ? len - pos : s->swallow;
            pos += n;
            s->swallow -= n;
            if (s->swallow > 0) {
                *st = PROTO_HOLD;
                break;
            }
            s->state = BIN_STATE_HEADER;
            continue;
        }
        if (s->state == BIN_STATE_SASL) {
            pos += sasl_data(s, env, buf + pos, len - pos, out);
            if (s->state == BIN_STATE_SASL)
                break;
            continue;
        }
        if (s->state == BIN_STATE_VALUE) {
            size_t need = item_vlen(s->item) - s->filled;
            size_t n = len - pos < need ? len - pos : need;
            memcpy(item_value(s->item) + s->filled, buf + pos, n);
            s->filled += n;
            pos += n;
            if (n < need)
                break;
            size_t mark = reply_mark(out), buf_mark = out->len;
            bin_update_done(s, env, out);
            if (env->timing && s->timing_start != 0) {
                timing_record(env->timing, timing_bin_cmd(s->opcode), s->timing_start,
                              &s->timing_mark);
                s->timing_start = 0;
            }
            if (out->oom) {
                reply_rollback(out, mark, buf_mark);
                s->close = true;
            }
            continue;
        }
        /* -R as in text_feed: a yield counts once the quota is served. */
        if (served >= env->settings->reqs_per_event) {
            counter_inc(&env->counters->conn_yields);
            if (pos < len)
                *st = PROTO_YIELD;
            break;
        }
        if (len - pos < BIN_HEADER_LEN)
            break;
        /* Past the bound, the reply is written before more is served. */
        if (served > 0 && reply_pending(out) >= env->settings->reply_bound) {
            *st = PROTO_DRAIN;
            break;
        }
        struct bin_header h;
        bin_parse_header(buf + pos, &h);
        if (h.magic != BIN_REQ_MAGIC) {
            /* memcached closes at once, dropping the replies not yet written. */
            reply_rollback(out, kept_seg, kept_buf);
            s->close = true;
            break;
        }
        size_t need = BIN_HEADER_LEN + (size_t)h.extlen + h.keylen;
        if (len - pos < need)
            break;
        /* A lookahead only when another request follows this one. */
        if (ahead.n > 0 || len - pos > BIN_HEADER_LEN + (size_t)h.bodylen) {
            bin_ahead_fill(&ahead, buf, len, pos,
                           (unsigned)(env->settings->reqs_per_event - served));
            bin_ahead_take(&ahead, pos, &s->hint);
        }
        const char *ext = buf + pos + BIN_HEADER_LEN;
        pos += need;
        size_t mark = reply_mark(out), buf_mark = out->len;
        uint64_t start = env->timing ? timing_begin(&s->timing_mark) : 0;
        reply_boundary(out, false);
        bin_dispatch(s, env, &h, ext, ext + h.extlen, out);
        s->hint.key = NULL;
        served++;
        if (env->timing) {
            if (s->state == BIN_STATE_VALUE)
                s->timing_start = start;
            else
                timing_record(env->timing, timing_bin_cmd(h.opcode), start, &s->timing_mark);
        }
        /* A reply cut short by a memory failure: take it back and close,
         * as memcached closes a connection it cannot answer. */
        if (out->oom) {
            reply_rollback(out, mark, buf_mark);
            s->close = true;
        }
        if (h.opcode == BIN_CMD_NOOP) {
            kept_seg = reply_mark(out);
            kept_buf = out->len;
        }
    }
    if (s->close)
        *st = PROTO_CLOSE;
    return pos;
}
