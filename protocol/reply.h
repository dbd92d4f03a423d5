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
#include <string.h>
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
/* Room for `n` more bytes of text at the end, to be written in place and
 * then accounted with reply_commit; NULL if memory ran out (r->oom set). */
static inline char *reply_space(struct reply *r, size_t n);
/* Account `n` bytes written at what reply_space returned. */
static inline void reply_commit(struct reply *r, size_t n);
/* Append bytes, copied. */
static inline void reply_add(struct reply *r, const char *s, size_t n);
/* reply_space's and reply_commit's slow paths: a bigger buffer, a new segment. */
char *reply_grow(struct reply *r, size_t n);
void reply_commit_seg(struct reply *r, size_t n);
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
/* Values up to this size are copied into a reply: cheaper than an item
 * reference (two atomic operations) and an iovec of their own, and a
 * pipelined batch of small values goes out as one buffer (send, not
 * sendmsg). */
#define REPLY_COPY_MAX 512
/* Append a value the caller may read now (its stripe locked): copied up
 * to REPLY_COPY_MAX bytes, by reference (reply_item) beyond. */
static inline void reply_add(struct reply *r, const char *s, size_t n);
static inline void reply_value(struct reply *r, struct item *it, const char *p, size_t n)
{
    if (n <= REPLY_COPY_MAX)
        reply_add(r, p, n);
    else
        reply_item(r, it, p, n);
}
/* Current length of the segment list, to roll back a partial reply. */
size_t reply_mark(const struct reply *r);
/* Drop everything appended since `mark` (releasing item references), and
 * the memory failure that may have cut it short. */
void reply_rollback(struct reply *r, size_t mark, size_t buf_mark);
/* Note that a new response starts here (only when tracking bounds); `keep`
 * marks one that is sent even if nothing is added to it. */
static inline void reply_boundary(struct reply *r, bool keep);
void reply_boundary_add(struct reply *r, bool keep);
static inline void reply_boundary(struct reply *r, bool keep)
{
    if (r->track_bounds)
        reply_boundary_add(r, keep);
}
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

/*
 * The appends every request makes are inline: a reply line is a few bytes
 * written into room the buffer already has, added to the text segment it
 * continues.  Only growing the buffer and starting a segment are calls.
 */
static inline char *reply_space(struct reply *r, size_t n)
{
    return n <= r->cap - r->len ? r->buf + r->len : reply_grow(r, n);
}

static inline void reply_commit(struct reply *r, size_t n)
{
    if (r->nsegs > r->sent_seg) {
        struct reply_seg *last = &r->segs[r->nsegs - 1];
        if (last->it == NULL && last->off + last->len == r->len) {
            last->len += n;
            r->len += n;
            r->pending += n;
            return;
        }
    }
    if (n > 0)
        reply_commit_seg(r, n);
}

/* memcpy for the few bytes a key, a value or a reply line takes: no call
 * for up to 32 bytes (two overlapping copies of a power of two).  (Not
 * for a small array of the caller's: the compiler cannot see that the
 * branches past its size are never taken, and warns.) */
static inline void reply_copy_small(char *dst, const char *src, size_t n)
{
    if (n >= 16 && n <= 32) {
        memcpy(dst, src, 16);
        memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(dst, src, 8);
        memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(dst, src, 4);
        memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
    } else {
        memcpy(dst, src, n);
    }
}

static inline void reply_add(struct reply *r, const char *s, size_t n)
{
    char *p = n > 0 ? reply_space(r, n) : NULL;
    if (p == NULL)
        return;
    memcpy(p, s, n);
    reply_commit(r, n);
}

/* Write the decimal digits of v at p; returns the end. */
static inline char *reply_put_u64(char *p, uint64_t v)
{
    /* Flags are mostly 0, lengths short: one or two digits without a loop. */
    if (v < 10) {
        *p = (char)('0' + v);
        return p + 1;
    }
    if (v < 100) {
        p[0] = (char)('0' + v / 10);
        p[1] = (char)('0' + v % 10);
        return p + 2;
    }
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *e = p + n;
    do {
        *--e = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p + n;
}

#endif
