/*
 * reply: the output of one connection, as a list of segments ready for
 * writev.  Text the protocol formats is copied into one growing buffer;
 * item values are referenced in place, each segment holding a reference
 * to its item until the bytes are sent.
 */
#ifndef MCD_REPLY_H
#define MCD_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "item.h"

struct reply_seg {
    struct item *it;            /* NULL: bytes live in reply.buf at `off` */
    const char *ptr;            /* item bytes when it != NULL */
    size_t off;
    size_t len;
};

/* Where a response starts; `keep` sends it even when empty (see udp.c). */
struct reply_bound {
    size_t off;
    bool keep;
};

struct reply {
    char *buf;
    size_t len, cap;
    struct reply_seg *segs;
    size_t nsegs, segcap;
    size_t sent_seg;            /* first segment not fully written */
    size_t sent_off;            /* bytes of it already written */
    bool oom;                   /* an append failed: the reply is incomplete */
    size_t limit;               /* most bytes of memory the buffers may take, 0 = none:
                                 * the server sets none; tests make appends fail */
    size_t pending;             /* bytes not yet written */
    /* Where each response starts, in bytes from the first segment; kept
     * only when `track_bounds` is set (UDP sends each response in its own
     * datagrams, as memcached does). */
    bool track_bounds;
    struct reply_bound *bounds;
    size_t nbounds, boundcap;
};

/* An empty reply. */
void reply_init(struct reply *r);
/* Drop unsent data and item references; keep the buffers for reuse. */
void reply_reset(struct reply *r);
/* Free the buffers (after reply_reset). */
void reply_free(struct reply *r);
/* Give back buffers bigger than `keep` bytes; only when the reply is empty. */
void reply_trim(struct reply *r, size_t keep);
/* Append bytes, copied. */
void reply_add(struct reply *r, const char *s, size_t n);
/* Room for `n` more bytes of text at the end, to be written in place and
 * then accounted with reply_commit; NULL if memory ran out (r->oom set). */
char *reply_space(struct reply *r, size_t n);
/* Account `n` bytes written at what reply_space returned. */
void reply_commit(struct reply *r, size_t n);
/* Append a NUL-terminated string, copied. */
void reply_str(struct reply *r, const char *s);
/* Append formatted text, copied. */
void reply_printf(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Append `n` bytes at `p` inside `it`, which the caller may read now (its
 * stripe is locked): by reference when the item takes one more reader
 * (item_ref_try), copied when it refuses, so no number of readers can
 * overflow an item's count.
 */
void reply_item(struct reply *r, struct item *it, const char *p, size_t n);
/* Current length of the segment list, to roll back a partial reply. */
size_t reply_mark(const struct reply *r);
/* Drop everything appended since `mark` (releasing item references), and
 * the memory failure that may have cut it short. */
void reply_rollback(struct reply *r, size_t mark, size_t buf_mark);
/* Note that a new response starts here (only when tracking bounds); `keep`
 * marks one that is sent even if nothing is added to it. */
void reply_boundary(struct reply *r, bool keep);
/* Responses noted so far (when tracking bounds). */
static inline size_t reply_responses(const struct reply *r) { return r->nbounds; }
/* Bytes of response i, and whether it is sent even when empty. */
size_t reply_response_len(const struct reply *r, size_t i, bool *keep);
/* Forget the first n responses as written (UDP sends them as they are
 * complete, before the rest of a long reply is built). */
void reply_drop_responses(struct reply *r, size_t n);
/* A read position in an unsent reply, from its first unsent byte on. */
struct reply_cursor {
    size_t seg, off;
};
/* Start a cursor at the first unsent byte. */
void reply_cursor_start(const struct reply *r, struct reply_cursor *c);
/* Copy up to `len` bytes from the cursor into dst and advance it; returns
 * how many (fewer only at the end of the reply). */
size_t reply_copy(const struct reply *r, struct reply_cursor *c, char *dst, size_t len);
/* True when nothing is waiting to be written. */
static inline bool reply_empty(const struct reply *r) { return r->sent_seg >= r->nsegs; }
/* Fill up to `max` iovecs with unsent data; returns how many. */
int reply_iov(const struct reply *r, struct iovec *iov, int max);
/* Record that `n` bytes were written; releases finished items. */
void reply_consumed(struct reply *r, size_t n);
/* Bytes not yet written. */
static inline size_t reply_pending(const struct reply *r) { return r->pending; }

#endif
