/*
 * conn: buffers and the read → serve → write step of one connection.
 *
 * A step reads once, lets the session consume every complete request in
 * the buffer (up to -R of them), then writes all replies with one writev —
 * one read and one write per batch of pipelined requests, not per request.
 * While a reply cannot be written completely no more input is served, and
 * a session stops adding to a reply past PROTO_REPLY_BOUND until it is
 * written (PROTO_DRAIN), so a client that does not read its replies cannot
 * grow our memory, not even with one request: it only fills its own
 * socket buffers.
 *
 * Memory: a step reads into its worker's scratch buffer; only the bytes a
 * step leaves unserved (half a request, or requests past -R) are copied
 * into a buffer of the connection's own, freed again once served.  A reply
 * buffer that a long reply grew is given back when the reply is written.
 * An idle connection thus holds its structs and a small reply buffer, not
 * 16 KB of input: -c 1024 costs a few MB, not 16.
 *
 * This file is transport only: which protocol the bytes speak and what
 * they ask is the session's business (protocol/session.h).
 */
#include "conn.h"

#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONN_IOV_MAX 256
/* The smallest buffer of its own a connection keeps unserved input in. */
#define CONN_OWN_MIN 4096
/* Reply buffers up to this size stay with the connection between replies. */
#define CONN_REPLY_KEEP 8192

/* Buffers connections own and their bytes: relaxed, for stats only. */
static _Atomic uint64_t own_count, own_bytes;

void conn_read_buffers(uint64_t *count, uint64_t *bytes)
{
    *count = atomic_load_explicit(&own_count, memory_order_relaxed);
    *bytes = atomic_load_explicit(&own_bytes, memory_order_relaxed);
}

/* Free the connection's own buffer, if it has one. */
static void conn_disown(struct conn *c)
{
    if (c->borrowed || c->rbuf == NULL)
        return;
    free(c->rbuf);
    c->rbuf = NULL;
    atomic_fetch_sub_explicit(&own_count, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&own_bytes, c->rcap, memory_order_relaxed);
}

struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->sess = proto_session_new(PROTO_STREAM);
    if (c->sess == NULL) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    return c;
}

void conn_free(struct conn *c)
{
    tls_conn_free(c->tls);
    close(c->fd);
    proto_session_free(c->sess);
    conn_disown(c);
    free(c);
}

bool conn_writing(struct conn *c) { return !reply_empty(proto_session_reply(c->sess)); }

/* Write pending replies: 1 all sent, 0 socket full, -1 error. */
static int conn_flush(struct conn *c, const struct proto_env *env)
{
    struct reply *out = proto_session_reply(c->sess);
    if (c->tls != NULL) {
        uint64_t w = 0;
        int rc = tls_conn_flush(c->tls, out, &w);
        counter_add(&env->counters->bytes_written, w);
        return rc;
    }
    struct iovec iov[CONN_IOV_MAX];
    while (!reply_empty(out)) {
        int n = reply_iov(out, iov, CONN_IOV_MAX);
        ssize_t w;
        /* Small values are copied into the reply, so one buffer is the
         * common case: send() skips sendmsg's iovec import. */
        if (n == 1) {
            w = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
            w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        }
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        counter_add(&env->counters->bytes_written, (uint64_t)w);
        reply_consumed(out, (size_t)w);
    }
    return 1;
}

/* Read into the worker's scratch buffer (nothing of ours is buffered). */
static void conn_borrow(struct conn *c, char *scratch)
{
    c->rbuf = scratch;
    c->rcap = CONN_SCRATCH_SIZE;
    c->rpos = c->rlen = 0;
    c->borrowed = true;
}

/* Move what is buffered into a buffer of our own of at least `cap` bytes
 * (the scratch buffer is lent for one step only); false if out of memory. */
static bool conn_own(struct conn *c, size_t cap)
{
    size_t left = c->rlen - c->rpos;
    /* Room for as much again: a half request is usually followed by its rest. */
    if (cap < CONN_OWN_MIN)
        cap = CONN_OWN_MIN;
    while (cap < 2 * left)
        cap *= 2;
    char *nb = malloc(cap);
    if (nb == NULL)
        return false;
    memcpy(nb, c->rbuf + c->rpos, left);
    conn_disown(c);
    atomic_fetch_add_explicit(&own_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&own_bytes, cap, memory_order_relaxed);
    c->rbuf = nb;
    c->rcap = cap;
    c->rpos = 0;
    c->rlen = left;
    c->borrowed = false;
    return true;
}

/* Make room to read into; false if the line is beyond every limit. */
static bool conn_room(struct conn *c, char *scratch)
{
    if (c->rpos == c->rlen) {
        /* Everything served: give back our own buffer, and the room a long
         * multi-get line made it take. */
        conn_disown(c);
        conn_borrow(c, scratch);
        return true;
    }
    if (c->rpos > 0 && c->rlen == c->rcap) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen < c->rcap)
        return true;
    /* A full buffer holding one unfinished request: a long get line, or a
     * binary header with a key of up to 64K that memcached also waits for. */
    size_t ncap = c->rcap * 2;
    if (ncap > PROTO_INPUT_MAX + CONN_SCRATCH_SIZE)
        return false;
    if (c->borrowed)
        return conn_own(c, ncap);
    char *nb = realloc(c->rbuf, ncap);
    if (nb == NULL)
        return false;
    atomic_fetch_add_explicit(&own_bytes, ncap - c->rcap, memory_order_relaxed);
    c->rbuf = nb;
    c->rcap = ncap;
    return true;
}

/*
 * Write what is owed, serve what is buffered, write again: until the
 * socket is full, the session wants input, yields or is done.  Returns what
 * to wait for, or CONN_WAIT_READ when the caller may read more.
 */
static enum conn_wait conn_answer(struct conn *c, const struct proto_env *env)
{
    enum proto_status st = PROTO_DRAIN;
    for (int n_feeds = 0;; n_feeds++) {
        int fl = conn_flush(c, env);
        if (fl < 0 || (fl > 0 && c->closing))
            return CONN_CLOSE;
        if (fl == 0)
            return CONN_WAIT_WRITE;
        /* A drained reply that goes on (a long multi-get, a dump) lets the
         * worker's other connections run first, as -R does. */
        if (st == PROTO_YIELD || (st == PROTO_DRAIN && n_feeds > 0))
            return CONN_YIELD;
        if (st == PROTO_WANT_INPUT)
            return CONN_WAIT_READ;
        size_t n = proto_feed(c->sess, env, c->rbuf + c->rpos, c->rlen - c->rpos, &st);
        c->rpos += n;
        if (n > 0)
            atomic_store_explicit(&c->last_cmd, env->now, memory_order_relaxed);
        if (st == PROTO_HOLD)
            return CONN_WAIT_READ;
        if (st == PROTO_CLOSE)
            c->closing = true;
    }
}

static enum conn_wait conn_step(struct conn *c, const struct proto_env *env, char *scratch)
{
    for (;;) {
        /* Input already buffered first: left over by -R or a full socket. */
        enum conn_wait w = conn_answer(c, env);
        if (w != CONN_WAIT_READ)
            return w;
        if (!conn_room(c, scratch))
            return CONN_CLOSE;
        ssize_t r = c->tls ? tls_conn_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen)
                           : read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r == 0)
            return CONN_CLOSE;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (c->tls != NULL && errno == EAGAIN && tls_conn_wants_write(c->tls))
                return CONN_WAIT_WRITE;     /* handshake bytes the socket cannot take yet */
            return errno == EAGAIN || errno == EWOULDBLOCK ? CONN_WAIT_READ : CONN_CLOSE;
        }
        counter_add(&env->counters->bytes_read, (uint64_t)r);
        size_t room = c->rcap - c->rlen;
        c->rlen += (size_t)r;
        /* A short read drained the socket: serve, write, and go back to
         * epoll rather than paying for a read that would say EAGAIN. */
        if ((size_t)r < room)
            return conn_answer(c, env);
    }
}

enum conn_wait conn_run(struct conn *c, const struct proto_env *env, char *scratch)
{
    if (c->rbuf == NULL)
        conn_borrow(c, scratch);
    enum conn_wait w = conn_step(c, env, scratch);
    if (w == CONN_CLOSE)
        return w;
    /* Keep what was not served, in a buffer of our own; the scratch buffer
     * goes back to the worker, and an own buffer all served is freed. */
    if (c->rpos == c->rlen) {
        conn_disown(c);
        c->rbuf = NULL;
        c->borrowed = false;
    } else if (c->borrowed && !conn_own(c, 0)) {
        return CONN_CLOSE;
    }
    if (w == CONN_WAIT_READ)
        reply_trim(proto_session_reply(c->sess), CONN_REPLY_KEEP);
    return w;
}
