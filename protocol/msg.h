/*
 * msg: every fixed reply line of the text and meta protocols, in one table
 * keyed by an enum, so a string memcached's clients match on is written
 * once (msg.c) and each handler names what it answers.
 */
#ifndef MCD_MSG_H
#define MCD_MSG_H

#include <stddef.h>

#include "reply.h"

enum msg {
    MSG_NONE = 0,               /* no reply */
    /* status lines */
    MSG_ERROR, MSG_STORED, MSG_NOT_STORED, MSG_EXISTS, MSG_NOT_FOUND, MSG_DELETED,
    MSG_TOUCHED, MSG_OK, MSG_END, MSG_RESET,
    /* meta status lines without return flags */
    MSG_MN, MSG_EN,
    /* request errors */
    MSG_E_FORMAT,               /* CLIENT_ERROR bad command line format */
    MSG_E_LINE,                 /* CLIENT_ERROR bad command line */
    MSG_E_DELETE_USAGE, MSG_E_DELTA, MSG_E_EXPTIME, MSG_E_SHUTDOWN_MODE, MSG_E_DATA_CHUNK,
    MSG_E_NON_NUMERIC, MSG_E_FLUSH_DISABLED, MSG_E_SHUTDOWN_DISABLED,
    MSG_E_MEMLIMIT_SMALL, MSG_E_MEMLIMIT_MB,
    /* meta request errors */
    MSG_E_TOKEN, MSG_E_DUP_FLAG, MSG_E_DECODE_KEY, MSG_E_M_LENGTH, MSG_E_INITIAL,
    MSG_E_DELTA_VALUE, MSG_E_FLAG, MSG_E_MS_MODE, MSG_E_MA_MODE, MSG_E_OPAQUE,
    MSG_E_BAD_FLAG, MSG_E_MG_FLAGS_LONG, MSG_E_FLAGS_LONG,
    /* server errors */
    MSG_E_TOO_LARGE, MSG_E_OOM_STORE, MSG_E_OOM, MSG_E_OOM_NEW_ITEM, MSG_E_OOM_GET,
    MSG_E_OOM_STATS, MSG_E_OOM_ITEM, MSG_E_OOM_INCR,
    /* stats and administration */
    MSG_E_STATS_DETAIL, MSG_E_CACHEDUMP_DISABLED, MSG_E_SLAB_ID, MSG_E_METADUMP_DISABLED,
    MSG_E_METADUMP_PIPELINE, MSG_E_CRAWLER_DISABLED, MSG_E_CRAWLER_SLEEP,
    MSG_CRAWLER_BUSY, MSG_CRAWLER_BADCLASS, MSG_CRAWLER_NOTSTARTED, MSG_CRAWLER_ERROR,
    MSG_E_CRAWLER_START, MSG_E_CRAWLER_STOP,
    MSG_REASSIGN_BUSY, MSG_REASSIGN_BADCLASS, MSG_REASSIGN_NOSPARE, MSG_REASSIGN_SAME,
    MSG_E_REASSIGN_DISABLED,
    MSG_E_LRU_PCTS, MSG_E_LRU_FACTORS,
    MSG_E_WATCH_DISABLED, MSG_E_WATCH_PIPELINE, MSG_WATCHER_TOO_MANY,
    MSG_COUNT
};

struct msg_line {
    const char *s;
    size_t n;
};
/* The lines, by enum msg (msg.c); read them through the functions below. */
extern const struct msg_line msg_lines[MSG_COUNT];

/* The line for m, "\r\n" included, and its length. */
static inline const char *msg_line(enum msg m, size_t *len)
{
    *len = msg_lines[m].n;
    return msg_lines[m].s;
}

/* Append the line for m (nothing for MSG_NONE): inline, a status line
 * follows nearly every request. */
static inline void msg_reply(struct reply *out, enum msg m)
{
    size_t n = msg_lines[m].n;
    char *p = n > 0 ? reply_space(out, n) : NULL;
    if (p == NULL)
        return;
    reply_copy_small(p, msg_lines[m].s, n);
    reply_commit(out, n);
}

#endif
