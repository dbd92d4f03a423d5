/*
 * stats: memcached's statistics lists (`stats`, `stats settings`, `items`,
 * `slabs`, `sizes`), protocol-neutral.  A list is written to a sink that
 * frames each statistic as its protocol does — text lines for the ASCII
 * protocol (text_stats.c), packets for the binary one (binary.c) — and
 * reads storage only through cache.h.  See stats.c.
 */
#ifndef MCD_STATS_H
#define MCD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct stats_sink {
    /* Append one statistic. */
    void (*stat)(struct stats_sink *s, const char *name, size_t nname, const char *val,
                 size_t nval);
    /* Append the end marker. */
    void (*end)(struct stats_sink *s);
};

/* Append one statistic, its value formatted printf-style. */
void stats_add(struct stats_sink *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append the end marker. */
static inline void stats_end(struct stats_sink *s) { s->end(s); }

/* The lists, without the end marker. */
/* `stats`: server, command and storage counters. */
void stats_general(const struct proto_env *env, struct stats_sink *s);
/* `stats settings`. */
void stats_settings(const struct proto_env *env, struct stats_sink *s);
/* `stats items`: per-class LRU figures. */
void stats_items(const struct proto_env *env, struct stats_sink *s);
/* `stats slabs`: per-class memory and command figures. */
void stats_slabs(const struct proto_env *env, struct stats_sink *s);
/* `stats conns`: the server's listeners and connections (env->hooks). */
void stats_conns(const struct proto_env *env, struct stats_sink *s);
/* `stats sizes`: live items by memcached's size, in 32-byte steps, once
 * `stats sizes_enable` asked for it (a walk over every item). */
void stats_sizes(const struct proto_env *env, struct stats_sink *s);
/* `stats sizes_enable` and `stats sizes_disable`: memcached ends neither
 * with a marker. */
void stats_sizes_enable(const struct proto_env *env, struct stats_sink *s);
void stats_sizes_disable(const struct proto_env *env, struct stats_sink *s);

/* memcached's LRU tunables (`lru tune|mode|temp_ttl`): mcd's LRU has no
 * segments, so they change nothing but what `stats settings` reports. */
struct stats_lru_tune {
    uint32_t hot_lru_pct, warm_lru_pct;
    double hot_max_factor, warm_max_factor;
    bool segmented;
    bool temp_lru;
    uint32_t temporary_ttl;
};
void stats_lru_tune_get(struct stats_lru_tune *t);
void stats_lru_tune_set(const struct stats_lru_tune *t);

#endif
