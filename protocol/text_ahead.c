/*
 * text_ahead: the ASCII request lines of a batch, parsed a few requests
 * ahead of their turn, so that the memory their keys need is on its way.
 *
 * A batch of pipelined requests is served one by one, and a lookup waits
 * for memory two or three times: the key's stripe and buckets, then the
 * item its key is compared with.  Served back to back, those waits add up
 * to most of a request's time.  So text_feed takes its requests from here:
 * up to TEXT_AHEAD of them are parsed beyond the one being served, and as
 * each is parsed the cache starts loading its stripe and buckets
 * (cache_prefetch); as its turn nears, the items its buckets point to
 * (cache_prefetch_items).  Each line is still read once: its parse, its
 * line end and its key's hash are kept for its turn.
 *
 * What a request does can change how the bytes after it are read (a
 * refused value is dropped, a multi-get stops at the bound, a storage line
 * that does not parse has no data block, `quit`...).  So a request parsed
 * ahead is served only if the feed, reading commands, arrives exactly at
 * its offset; otherwise the queue is dropped and parsing starts again where
 * the feed is.  Parsing is pure, so a line parsed ahead is the line parsed
 * at its turn: the lookahead changes when memory is loaded, never what a
 * request does.
 */
#include <string.h>

#include "num.h"
#include "text.h"

/* The key a request's lookup will name, if it is one that takes a hash. */
static void ahead_key(struct text_parsed *x)
{
    const struct text_req *r = &x->req;
    x->key = NULL;
    x->nkey = 0;
    if (r->err != MSG_NONE)
        return;
    switch (r->cmd) {
    case TEXT_CMD_GET:
    case TEXT_CMD_GETS:
    case TEXT_CMD_GAT:
    case TEXT_CMD_GATS:
        /* The first key; text_get_keys looks ahead through the others. */
        if (r->rest != NULL) {
            x->key = r->rest;
            x->nkey = (size_t)(text_find_space(r->rest, r->rest + r->nrest) - r->rest);
        }
        break;
    case TEXT_CMD_SET:
    case TEXT_CMD_ADD:
    case TEXT_CMD_REPLACE:
    case TEXT_CMD_APPEND:
    case TEXT_CMD_PREPEND:
    case TEXT_CMD_CAS:
        x->key = r->key;
        x->nkey = r->nkey;
        break;
    case TEXT_CMD_META:
        /* mg and ms name their key as sent, unless it is base64 (then the
         * hint is simply not used: text_key_hash compares the bytes' address). */
        if (r->ntokens > 2 && (r->tok[0].p[1] == 'g' || r->tok[0].p[1] == 's')) {
            x->key = r->tok[1].p;
            x->nkey = r->tok[1].len;
        }
        break;
    default:
        break;
    }
    if (x->key != NULL && x->nkey > ITEM_KEY_MAX)
        x->key = NULL;
}

/* Where the request after x starts, as its own bytes tell: past the data
 * block of a storage command, text or meta. */
static size_t ahead_after(const struct text_parsed *x)
{
    const struct text_req *r = &x->req;
    if (r->err != MSG_NONE)
        return x->next;
    switch (r->cmd) {
    case TEXT_CMD_SET:
    case TEXT_CMD_ADD:
    case TEXT_CMD_REPLACE:
    case TEXT_CMD_APPEND:
    case TEXT_CMD_PREPEND:
    case TEXT_CMD_CAS:
        return x->next + (size_t)r->vlen + 2;
    case TEXT_CMD_META: {
        int32_t vlen;
        if (r->tok[0].p[1] == 's' && r->ntokens > 3 &&
            num_parse_i32(r->tok[2].p, r->tok[2].len, &vlen) && vlen >= 0)
            return x->next + (size_t)vlen + 2;
        return x->next;
    }
    default:
        return x->next;
    }
}

/* Parse the request at a->pos into the queue's tail; false if its line is
 * not complete yet. */
static bool ahead_parse_one(struct text_ahead *a, const char *buf, size_t len)
{
    if (a->pos >= len)
        return false;
    const char *line = buf + a->pos;
    const char *nl = memchr(line, '\n', len - a->pos);
    if (nl == NULL)
        return false;
    struct text_parsed *x = &a->q[(a->head + a->n) % TEXT_AHEAD];
    x->start = a->pos;
    x->llen = (size_t)(nl - line);
    if (x->llen > 1 && line[x->llen - 1] == '\r')
        x->llen--;
    x->next = (size_t)(nl - buf) + 1;
    text_parse(line, x->llen, &x->req);
    ahead_key(x);
    if (x->key != NULL) {
        x->hash = cache_hash(x->key, x->nkey);
        /* Not for the request about to be served: too late to help it. */
        if (a->n > 0)
            cache_prefetch(x->hash);
    }
    a->n++;
    a->pos = ahead_after(x);
    return true;
}

void text_ahead_reset(struct text_ahead *a)
{
    a->head = 0;
    a->n = 0;
    a->pos = 0;
}

const struct text_parsed *text_ahead_next(struct text_ahead *a, const char *buf, size_t len,
                                          size_t pos, unsigned limit)
{
    if (a->n > 0 && a->q[a->head].start != pos)
        a->n = 0;               /* the feed went elsewhere: start again where it is */
    if (a->n == 0)
        a->pos = pos;
    while (a->n < TEXT_AHEAD && a->n < limit && ahead_parse_one(a, buf, len))
        ;
    if (a->n == 0)
        return NULL;
    /* The next request's buckets were asked for as it was parsed, a few
     * requests ago: by now its items can be asked for. */
    if (a->n > 1) {
        const struct text_parsed *y = &a->q[(a->head + 1) % TEXT_AHEAD];
        if (y->key != NULL)
            cache_prefetch_items(y->hash);
    }
    return &a->q[a->head];
}

void text_ahead_pop(struct text_ahead *a)
{
    a->head = (a->head + 1) % TEXT_AHEAD;
    a->n--;
}
