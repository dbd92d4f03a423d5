/*
 * text_admin: memcached's administrative commands — slabs reassign and
 * automove, lru_crawler, lru and watch — with memcached 1.6.18's checks in
 * its order and its replies (proto_text.c), wired to what storage offers
 * through cache.h.  What mcd has no mechanism for still gets memcached's
 * reply shape, so a tool that sends it can always finish reading:
 *  - lru tune|mode|temp_ttl tune a segmented LRU mcd does not have; the
 *    values are checked as memcached checks them and reported by
 *    `stats settings`, and change nothing else;
 *  - watch answers OK and marks the session a watcher: the server then
 *    streams it the log lines (watch.c) and reads nothing more from it.
 */
#include <string.h>

#include "mc_layout.h"
#include "num.h"
#include "stats.h"
#include "text.h"
#include "watch.h"

static bool is(const struct text_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->p != NULL && t->len == n && memcmp(t->p, s, n) == 0;
}

/* memcached's set_noreply_maybe: "noreply" as the last token. */
static bool noreply(const struct text_req *r) { return is(&r->tok[r->ntokens - 2], "noreply"); }

static void reply_unless(struct reply *out, bool quiet, enum msg m)
{
    if (!quiet)
        msg_reply(out, m);
}

/* `slabs reassign <src> <dst>` */
static void slabs_reassign(const struct text_req *r, struct reply *out)
{
    static const enum msg answer[] = {
        [CACHE_REASSIGN_OK] = MSG_OK,
        [CACHE_REASSIGN_RUNNING] = MSG_REASSIGN_BUSY,
        [CACHE_REASSIGN_BADCLASS] = MSG_REASSIGN_BADCLASS,
        [CACHE_REASSIGN_NOSPARE] = MSG_REASSIGN_NOSPARE,
        [CACHE_REASSIGN_SAME] = MSG_REASSIGN_SAME,
        [CACHE_REASSIGN_DISABLED] = MSG_E_REASSIGN_DISABLED,
    };
    struct cache_settings set;
    cache_settings(&set);
    int32_t src, dst;
    if (!set.slab_reassign)
        msg_reply(out, MSG_E_REASSIGN_DISABLED);
    else if (!num_parse_i32(r->tok[2].p, r->tok[2].len, &src) ||
             !num_parse_i32(r->tok[3].p, r->tok[3].len, &dst))
        msg_reply(out, MSG_E_FORMAT);
    else
        msg_reply(out, answer[cache_slabs_reassign(src, dst)]);
}

/* `slabs automove <0|1|2>` and `slabs automove ratio <r>` */
static void slabs_automove(const struct text_req *r, struct reply *out)
{
    bool quiet = noreply(r);
    if (is(&r->tok[2], "ratio")) {
        double ratio;
        if (r->ntokens < 5 || !num_parse_double(r->tok[3].p, r->tok[3].len, &ratio)) {
            reply_unless(out, quiet, MSG_ERROR);
            return;
        }
        cache_set_automove_ratio(ratio);
    } else {
        uint32_t level;
        if (!num_parse_u32(r->tok[2].p, r->tok[2].len, &level)) {
            reply_unless(out, quiet, MSG_E_FORMAT);
            return;
        }
        if (level > 2) {
            reply_unless(out, quiet, MSG_ERROR);
            return;
        }
        cache_set_automove(level);
    }
    reply_unless(out, quiet, MSG_OK);
}

/*
 * The classes `lru_crawler crawl|metadump` name: "all", "hash" (every
 * class: mcd's walks go through the hash table anyway) or ids separated by
 * commas, each 1..63 as memcached takes them.  Ids of classes mcd does not
 * have name nothing.  false on a bad id.
 */
static bool crawl_classes(const struct text_token *t, struct cache_class_set *set, bool *hash)
{
    memset(set, 0, sizeof(*set));
    *hash = is(t, "hash");
    unsigned n = cache_nclasses();
    if (*hash || is(t, "all")) {
        for (unsigned c = 1; c <= n; c++)
            cache_class_set_add(set, c);
        return true;
    }
    const char *p = t->p, *end = t->p + t->len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        uint32_t id;
        if (e > p && (!num_parse_u32(p, (size_t)(e - p), &id) || id < 1 || id > MC_MAX_CLASS))
            return false;
        if (e > p && id <= n)
            cache_class_set_add(set, id);
        p = e + 1;
    }
    return true;
}

/* `lru_crawler crawl <classes>` */
static void crawler_crawl(const struct text_req *r, struct reply *out)
{
    static const enum msg answer[] = {
        [CACHE_CRAWL_OK] = MSG_OK,
        [CACHE_CRAWL_RUNNING] = MSG_CRAWLER_BUSY,
        [CACHE_CRAWL_BADCLASS] = MSG_CRAWLER_BADCLASS,
        [CACHE_CRAWL_NOTSTARTED] = MSG_CRAWLER_NOTSTARTED,
        [CACHE_CRAWL_DISABLED] = MSG_E_CRAWLER_DISABLED,
    };
    struct cache_class_set set;
    bool hash;
    if (!crawl_classes(&r->tok[2], &set, &hash))
        msg_reply(out, MSG_CRAWLER_BADCLASS);
    else if (hash)      /* memcached walks the hash table only to dump */
        msg_reply(out, MSG_CRAWLER_ERROR);
    else
        msg_reply(out, answer[cache_crawl(&set)]);
}

/* `lru_crawler metadump <classes>`: the dump goes on in text_dump.c. */
static bool crawler_metadump(struct text_session *s, const struct proto_env *env,
                             const struct text_req *r, struct reply *out)
{
    struct cache_class_set set;
    bool hash;
    if (!env->settings->dump_enabled)
        msg_reply(out, MSG_E_METADUMP_DISABLED);
    else if (reply_pending(out) > 0)
        msg_reply(out, MSG_E_METADUMP_PIPELINE);
    else if (!crawl_classes(&r->tok[2], &set, &hash))
        msg_reply(out, MSG_CRAWLER_BADCLASS);
    else
        return text_metadump(s, env, &set, out);
    return false;
}

/* `lru_crawler enable|disable`: memcached refuses to start a crawler that
 * runs, and stops one that does not without a word. */
static void crawler_switch(bool on, struct reply *out)
{
    struct cache_settings set;
    cache_settings(&set);
    if (on && set.lru_crawler)
        msg_reply(out, MSG_E_CRAWLER_START);
    else if (cache_crawler_enable(on) != 0)
        msg_reply(out, on ? MSG_E_CRAWLER_START : MSG_E_CRAWLER_STOP);
    else
        msg_reply(out, MSG_OK);
}

static bool lru_crawler(struct text_session *s, const struct proto_env *env,
                        const struct text_req *r, struct reply *out)
{
    const struct text_token *sub = &r->tok[1], *arg = &r->tok[2];
    struct cache_settings set;
    cache_settings(&set);
    uint32_t n;
    if (r->ntokens == 4 && (is(sub, "crawl") || is(sub, "metadump"))) {
        if (!set.lru_crawler)
            msg_reply(out, MSG_E_CRAWLER_DISABLED);
        else if (is(sub, "crawl"))
            crawler_crawl(r, out);
        else
            return crawler_metadump(s, env, r, out);
    } else if (r->ntokens == 4 && (is(sub, "tocrawl") || is(sub, "sleep"))) {
        if (!num_parse_u32(arg->p, arg->len, &n)) {
            msg_reply(out, MSG_E_FORMAT);
        } else if (is(sub, "tocrawl")) {
            cache_crawler_set_tocrawl(n);
            msg_reply(out, MSG_OK);
        } else if (n > 1000000) {
            msg_reply(out, MSG_E_CRAWLER_SLEEP);
        } else {
            cache_crawler_set_sleep(n);
            msg_reply(out, MSG_OK);
        }
    } else if (r->ntokens == 3 && (is(sub, "enable") || is(sub, "disable"))) {
        crawler_switch(is(sub, "enable"), out);
    } else {
        msg_reply(out, MSG_ERROR);
    }
    return false;
}

/* `lru tune <hot pct> <warm pct> <hot factor> <warm factor>` */
static enum msg lru_tune(const struct text_req *r, struct stats_lru_tune *t)
{
    uint32_t hot, warm;
    double hot_factor, warm_factor;
    const struct text_token *a = &r->tok[2];
    if (!num_parse_u32(a[0].p, a[0].len, &hot) || !num_parse_u32(a[1].p, a[1].len, &warm) ||
        !num_parse_double(a[2].p, a[2].len, &hot_factor) ||
        !num_parse_double(a[3].p, a[3].len, &warm_factor))
        return MSG_ERROR;
    if (hot + warm > 80)
        return MSG_E_LRU_PCTS;
    if (warm_factor <= 0 || hot_factor <= 0)
        return MSG_E_LRU_FACTORS;
    t->hot_lru_pct = hot;
    t->warm_lru_pct = warm;
    t->hot_max_factor = hot_factor;
    t->warm_max_factor = warm_factor;
    return MSG_OK;
}

static void lru(const struct text_req *r, struct reply *out)
{
    const struct text_token *sub = &r->tok[1], *arg = &r->tok[2];
    struct stats_lru_tune t;
    stats_lru_tune_get(&t);
    enum msg m = MSG_ERROR;
    int32_t ttl;
    if (is(sub, "tune") && r->ntokens >= 7) {
        m = lru_tune(r, &t);
    } else if (is(sub, "mode") && r->ntokens >= 4) {
        if (is(arg, "flat") || is(arg, "segmented")) {
            t.segmented = is(arg, "segmented");
            m = MSG_OK;
        }
    } else if (is(sub, "temp_ttl") && r->ntokens >= 4) {
        if (num_parse_i32(arg->p, arg->len, &ttl)) {
            t.temp_lru = ttl >= 0;
            if (ttl >= 0)
                t.temporary_ttl = (uint32_t)ttl;
            m = MSG_OK;
        }
    }
    if (m == MSG_OK)
        stats_lru_tune_set(&t);
    reply_unless(out, noreply(r), m);
}


static void watch(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                  struct reply *out)
{
    bool quiet = noreply(r);
    if (!env->settings->watch_enabled) {
        reply_unless(out, quiet, MSG_E_WATCH_DISABLED);
        return;
    }
    if (reply_pending(out) > 0) {
        reply_unless(out, quiet, MSG_E_WATCH_PIPELINE);
        return;
    }
    unsigned flags = 0;
    for (int i = 1; i < r->ntokens - 1; i++) {
        unsigned f = watch_flag_named(r->tok[i].p, r->tok[i].len);
        if (f == 0) {
            reply_unless(out, quiet, MSG_ERROR);
            return;
        }
        flags |= f;
    }
    flags = flags ? flags : WATCH_FETCHERS;
    /* Watching begins before the OK is sent: whatever happens once the
     * client has read it is in its log. */
    if (env->hooks->watch != NULL && env->hooks->watch(env->hooks->arg, flags, env->fd) != 0) {
        msg_reply(out, MSG_WATCHER_TOO_MANY);
        return;
    }
    /* memcached's logger says OK whatever noreply said. */
    msg_reply(out, MSG_OK);
    s->state = TEXT_STATE_WATCH;
    s->watch_flags = flags;
}

bool text_admin(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                struct reply *out)
{
    switch (r->cmd) {
    case TEXT_CMD_SLABS:
        if (r->ntokens == 5 && is(&r->tok[1], "reassign"))
            slabs_reassign(r, out);
        else if (r->ntokens >= 4 && is(&r->tok[1], "automove"))
            slabs_automove(r, out);
        else
            msg_reply(out, MSG_ERROR);
        break;
    case TEXT_CMD_LRU_CRAWLER:
        return lru_crawler(s, env, r, out);
    case TEXT_CMD_LRU:
        lru(r, out);
        break;
    default:
        watch(s, env, r, out);
        break;
    }
    return false;
}
