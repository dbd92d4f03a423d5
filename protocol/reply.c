/*
 * reply: segment list for writev.  See reply.h.
 *
 * Segments over the text buffer store offsets, not pointers, so the buffer
 * can grow while a reply is being built.  Adjacent text is merged into one
 * segment: a pipelined batch of small replies becomes one iovec.
 */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reply_init(struct reply *r) { memset(r, 0, sizeof(*r)); }

void reply_reset(struct reply *r)
{
    for (size_t i = r->sent_seg; i < r->nsegs; i++) {
        if (r->segs[i].it != NULL)
            item_unref(r->segs[i].it);
    }
    r->len = 0;
    r->nsegs = 0;
    r->sent_seg = 0;
    r->sent_off = 0;
    r->oom = false;
    r->nbounds = 0;
    r->pending = 0;
}

void reply_free(struct reply *r)
{
    reply_reset(r);
    free(r->buf);
    free(r->segs);
    free(r->bounds);
    memset(r, 0, sizeof(*r));
}

void reply_trim(struct reply *r, size_t keep)
{
    if (!reply_empty(r))
        return;
    if (r->cap > keep) {
        free(r->buf);
        r->buf = NULL;
        r->cap = 0;
    }
    if (r->segcap * sizeof(struct reply_seg) > keep) {
        free(r->segs);
        r->segs = NULL;
        r->segcap = 0;
    }
    if (r->boundcap * sizeof(struct reply_bound) > keep) {
        free(r->bounds);
        r->bounds = NULL;
        r->boundcap = 0;
    }
    r->len = r->nsegs = r->sent_seg = r->sent_off = r->nbounds = 0;
}

/* Whether growing a buffer from `old` to `new` bytes stays within r->limit. */
static bool reply_may_grow(const struct reply *r, size_t old, size_t new)
{
    return r->limit == 0 ||
           r->cap + r->segcap * sizeof(struct reply_seg) - old + new <= r->limit;
}

static struct reply_seg *reply_new_seg(struct reply *r)
{
    if (r->nsegs == r->segcap) {
        size_t ncap = r->segcap ? r->segcap * 2 : 4;
        struct reply_seg *ns = !reply_may_grow(r, r->segcap * sizeof(*ns), ncap * sizeof(*ns))
                                   ? NULL : realloc(r->segs, ncap * sizeof(*ns));
        if (ns == NULL) {
            r->oom = true;
            return NULL;
        }
        r->segs = ns;
        r->segcap = ncap;
    }
    return &r->segs[r->nsegs++];
}

static bool reply_reserve(struct reply *r, size_t n)
{
    if (r->len + n <= r->cap)
        return true;
    size_t ncap = r->cap ? r->cap : 256;
    while (ncap < r->len + n)
        ncap *= 2;
    char *nb = reply_may_grow(r, r->cap, ncap) ? realloc(r->buf, ncap) : NULL;
    if (nb == NULL) {
        r->oom = true;
        return false;
    }
    r->buf = nb;
    r->cap = ncap;
    return true;
}

/* Account `n` new bytes at the end of buf to a new segment (reply_commit
 * adds them to the last one when they continue it). */
void reply_commit_seg(struct reply *r, size_t n)
{
    struct reply_seg *s = reply_new_seg(r);
    if (s == NULL)
        return;
    s->it = NULL;
    s->ptr = NULL;
    s->off = r->len;
    s->len = n;
    r->len += n;
    r->pending += n;
}

char *reply_grow(struct reply *r, size_t n)
{
    return reply_reserve(r, n) ? r->buf + r->len : NULL;
}

void reply_str(struct reply *r, const char *s) { reply_add(r, s, strlen(s)); }

void reply_printf(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->buf ? r->buf + r->len : NULL, r->buf ? r->cap - r->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (r->buf == NULL || (size_t)n >= r->cap - r->len) {
        if (!reply_reserve(r, (size_t)n + 1))
            return;
        va_start(ap, fmt);
        vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
        va_end(ap);
    }
    reply_commit(r, (size_t)n);
}

void reply_item(struct reply *r, struct item *it, const char *p, size_t n)
{
    if (!item_ref_try(it)) {
        reply_add(r, p, n);
        return;
    }
    struct reply_seg *s = reply_new_seg(r);
    if (s == NULL) {
        item_unref(it);
        return;
    }
    s->it = it;
    s->ptr = p;
    s->off = 0;
    s->len = n;
    r->pending += n;
}

size_t reply_mark(const struct reply *r) { return r->nsegs; }

void reply_boundary_add(struct reply *r, bool keep)
{
    if (r->nbounds == r->boundcap) {
        size_t ncap = r->boundcap ? r->boundcap * 2 : 16;
        struct reply_bound *nb = realloc(r->bounds, ncap * sizeof(*nb));
        if (nb == NULL) {
            r->oom = true;
            return;
        }
        r->bounds = nb;
        r->boundcap = ncap;
    }
    r->bounds[r->nbounds].off = reply_pending(r);
    r->bounds[r->nbounds].keep = keep;
    r->nbounds++;
}

size_t reply_response_len(const struct reply *r, size_t i, bool *keep)
{
    size_t end = i + 1 < r->nbounds ? r->bounds[i + 1].off : reply_pending(r);
    *keep = r->bounds[i].keep;
    return end - r->bounds[i].off;
}

void reply_drop_responses(struct reply *r, size_t n)
{
    if (n == 0)
        return;
    size_t bytes = n < r->nbounds ? r->bounds[n].off : reply_pending(r);
    size_t left = n < r->nbounds ? r->nbounds - n : 0;
    memmove(r->bounds, r->bounds + n, left * sizeof(*r->bounds));
    for (size_t i = 0; i < left; i++)
        r->bounds[i].off -= bytes;
    reply_consumed(r, bytes);
    r->nbounds = left;  /* reply_consumed forgets them when all is sent */
}

void reply_rollback(struct reply *r, size_t mark, size_t buf_mark)
{
    for (size_t i = mark; i < r->nsegs; i++) {
        if (r->segs[i].it != NULL)
            item_unref(r->segs[i].it);
    }
    r->nsegs = mark;
    r->len = buf_mark;
    r->oom = false;
    if (mark > 0) {
        struct reply_seg *last = &r->segs[mark - 1];
        if (last->it == NULL && last->off + last->len > buf_mark)
            last->len = buf_mark - last->off;
    }
    /* Recount what is unsent: the rollback may cut inside merged text. */
    r->pending = 0;
    for (size_t i = r->sent_seg; i < r->nsegs; i++)
        r->pending += r->segs[i].len;
    r->pending -= r->nsegs > r->sent_seg ? r->sent_off : 0;
    while (r->nbounds > 0 && r->bounds[r->nbounds - 1].off > r->pending)
        r->nbounds--;
}

int reply_iov(const struct reply *r, struct iovec *iov, int max)
{
    int n = 0;
    for (size_t i = r->sent_seg; i < r->nsegs && n < max; i++, n++) {
        const struct reply_seg *s = &r->segs[i];
        const char *base = s->it ? s->ptr : r->buf + s->off;
        size_t skip = i == r->sent_seg ? r->sent_off : 0;
        iov[n].iov_base = (void *)(base + skip);
        iov[n].iov_len = s->len - skip;
    }
    return n;
}

void reply_cursor_start(const struct reply *r, struct reply_cursor *c)
{
    c->seg = r->sent_seg;
    c->off = r->sent_off;
}

size_t reply_copy(const struct reply *r, struct reply_cursor *c, char *dst, size_t len)
{
    size_t done = 0;
    while (done < len && c->seg < r->nsegs) {
        const struct reply_seg *s = &r->segs[c->seg];
        const char *base = s->it ? s->ptr : r->buf + s->off;
        size_t take = s->len - c->off < len - done ? s->len - c->off : len - done;
        memcpy(dst + done, base + c->off, take);
        done += take;
        c->off += take;
        if (c->off == s->len) {
            c->seg++;
            c->off = 0;
        }
    }
    return done;
}

void reply_consumed(struct reply *r, size_t n)
{
    r->pending -= n < r->pending ? n : r->pending;
    while (n > 0 && r->sent_seg < r->nsegs) {
        struct reply_seg *s = &r->segs[r->sent_seg];
        size_t left = s->len - r->sent_off;
        if (n < left) {
            r->sent_off += n;
            return;
        }
        n -= left;
        if (s->it != NULL)
            item_unref(s->it);
        r->sent_seg++;
        r->sent_off = 0;
    }
    if (r->sent_seg >= r->nsegs) {
        r->len = 0;
        r->nsegs = 0;
        r->sent_seg = 0;
        r->sent_off = 0;
        r->nbounds = 0;
        r->pending = 0;
    }
}
