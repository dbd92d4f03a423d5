/*
 * text_stats: the `stats` command of the ASCII protocol and its sink, which
 * writes the shared lists (stats.c) as "STAT <name> <value>\r\n" lines.
 */
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "mc_layout.h"
#include "num.h"
#include "prefix_stats.h"
#include "stats.h"
#include "text.h"

struct text_sink {
    struct stats_sink base;     /* first: the lists see only this */
    struct reply *out;
};

static void text_stat(struct stats_sink *s, const char *name, size_t nname, const char *val,
                      size_t nval)
{
    struct reply *out = ((struct text_sink *)s)->out;
    reply_add(out, "STAT ", 5);
    reply_add(out, name, nname);
    reply_add(out, " ", 1);
    reply_add(out, val, nval);
    reply_add(out, "\r\n", 2);
}

static void text_end(struct stats_sink *s) { msg_reply(((struct text_sink *)s)->out, MSG_END); }

/* One of the shared lists as text lines, ending in END unless `end` is false. */
static void text_list(const struct proto_env *env, struct reply *out, bool end,
                      void (*list)(const struct proto_env *, struct stats_sink *))
{
    struct text_sink sink = { .base = { .stat = text_stat, .end = text_end }, .out = out };
    list(env, &sink.base);
    if (end)
        stats_end(&sink.base);
}

static bool tok_eq(const struct text_token *t, const char *s)
{
    return t->p != NULL && t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

/* `stats cachedump <class> <limit>`, checked as memcached checks it. */
static bool stats_cachedump(struct text_session *s, const struct proto_env *env,
                            const struct text_req *r, struct reply *out)
{
    uint32_t cls, limit;
    if (r->ntokens < 5)
        msg_reply(out, MSG_E_LINE);
    else if (!num_parse_u32(r->tok[2].p, r->tok[2].len, &cls) ||
             !num_parse_u32(r->tok[3].p, r->tok[3].len, &limit))
        msg_reply(out, MSG_E_FORMAT);
    else if (cls > MC_MAX_CLASS)
        msg_reply(out, MSG_E_SLAB_ID);
    else
        return text_cachedump(s, env, cls, limit, out);
    return false;
}

bool text_stats(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                struct reply *out)
{
    if (r->ntokens == 2) {
        text_list(env, out, true, stats_general);
        return false;
    }
    const struct text_token *sub = &r->tok[1];
    if (tok_eq(sub, "reset")) {
        env->hooks->stats_reset(env->hooks->arg);
        cache_stats_reset();
        msg_reply(out, MSG_RESET);
    } else if (tok_eq(sub, "settings")) {
        text_list(env, out, true, stats_settings);
    } else if (tok_eq(sub, "items")) {
        text_list(env, out, true, stats_items);
    } else if (tok_eq(sub, "slabs")) {
        text_list(env, out, true, stats_slabs);
    } else if (tok_eq(sub, "sizes")) {
        text_list(env, out, true, stats_sizes);
    } else if (tok_eq(sub, "sizes_enable")) {
        text_list(env, out, false, stats_sizes_enable);
    } else if (tok_eq(sub, "sizes_disable")) {
        text_list(env, out, false, stats_sizes_disable);
    } else if (tok_eq(sub, "conns")) {
        text_list(env, out, true, stats_conns);
    } else if (tok_eq(sub, "detail")) {
        const struct text_token *arg = &r->tok[2];
        if (r->ntokens >= 4 && tok_eq(arg, "on")) {
            prefix_stats_enable(true);
            msg_reply(out, MSG_OK);
        } else if (r->ntokens >= 4 && tok_eq(arg, "off")) {
            prefix_stats_enable(false);
            msg_reply(out, MSG_OK);
        } else if (r->ntokens >= 4 && tok_eq(arg, "dump")) {
            prefix_stats_dump(out);
        } else {
            msg_reply(out, MSG_E_STATS_DETAIL);
        }
    } else if (tok_eq(sub, "cachedump")) {
        if (env->settings->dump_enabled)
            return stats_cachedump(s, env, r, out);
        msg_reply(out, MSG_E_CACHEDUMP_DISABLED);
    } else {
        msg_reply(out, MSG_ERROR);
    }
    return false;
}
