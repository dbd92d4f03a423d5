/*
 * stats: where the `stats` formatters put their lines.  The same list of
 * statistics is written as "STAT name value\r\n" lines for the text
 * protocol or as one response packet per statistic for the binary one; a
 * sink hides the difference, so both protocols share one stat list.
 */
#ifndef MCD_STATS_H
#define MCD_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "reply.h"

struct stats_sink {
    /* Append one statistic. */
    void (*stat)(struct stats_sink *s, const char *name, size_t nname, const char *val,
                 size_t nval);
    /* Append the end marker (text "END\r\n", binary an empty STAT packet). */
    void (*end)(struct stats_sink *s);
    struct reply *out;
    uint32_t opaque;            /* binary: echoed in every packet */
};

/* A sink writing memcached's text lines to `out`. */
void stats_sink_text(struct stats_sink *s, struct reply *out);
/* A sink writing binary STAT packets carrying `opaque` to `out`. */
void stats_sink_bin(struct stats_sink *s, struct reply *out, uint32_t opaque);
/* Append one statistic, its value formatted printf-style. */
void stats_add(struct stats_sink *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append the end marker. */
static inline void stats_end(struct stats_sink *s) { s->end(s); }

/* The lists themselves (text_stats.c), without the end marker. */
/* `stats`: server, command and storage counters. */
void stats_general(const struct proto_env *env, struct stats_sink *s);
/* `stats settings`. */
void stats_settings(const struct proto_env *env, struct stats_sink *s);
/* `stats items`: per-class LRU figures. */
void stats_items(const struct proto_env *env, struct stats_sink *s);
/* `stats slabs`: per-class memory and command figures. */
void stats_slabs(const struct proto_env *env, struct stats_sink *s);
/* `stats sizes`. */
void stats_sizes(struct stats_sink *s);

#endif
