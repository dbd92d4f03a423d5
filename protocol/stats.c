/*
 * stats: the text and binary sinks for the `stats` lists.  See stats.h.
 *
 * A value is formatted once into a stack buffer and then framed by the
 * sink; stats are not on the hot path, so the extra copy does not matter.
 */
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "binary.h"

/* Longer than any value we print (the longest is -l's list, < 1024). */
#define STATS_VAL_MAX 4096

static void text_stat(struct stats_sink *s, const char *name, size_t nname, const char *val,
                      size_t nval)
{
    reply_add(s->out, "STAT ", 5);
    reply_add(s->out, name, nname);
    reply_add(s->out, " ", 1);
    reply_add(s->out, val, nval);
    reply_add(s->out, "\r\n", 2);
}

static void text_end(struct stats_sink *s) { reply_add(s->out, "END\r\n", 5); }

static void bin_stat(struct stats_sink *s, const char *name, size_t nname, const char *val,
                     size_t nval)
{
    char hdr[BIN_HEADER_LEN];
    bin_write_header(hdr, BIN_CMD_STAT, BIN_OK, (uint16_t)nname, 0, (uint32_t)(nname + nval),
                     s->opaque, 0);
    reply_add(s->out, hdr, sizeof(hdr));
    reply_add(s->out, name, nname);
    reply_add(s->out, val, nval);
}

static void bin_end(struct stats_sink *s) { bin_stat(s, "", 0, "", 0); }

void stats_sink_text(struct stats_sink *s, struct reply *out)
{
    s->stat = text_stat;
    s->end = text_end;
    s->out = out;
    s->opaque = 0;
}

void stats_sink_bin(struct stats_sink *s, struct reply *out, uint32_t opaque)
{
    s->stat = bin_stat;
    s->end = bin_end;
    s->out = out;
    s->opaque = opaque;
}

void stats_add(struct stats_sink *s, const char *name, const char *fmt, ...)
{
    char val[STATS_VAL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(val))
        n = sizeof(val) - 1;
    s->stat(s, name, strlen(name), val, (size_t)n);
}
