/*
 * conn: buffers and the read → serve → write step of one connection.
 *
 * A step reads once, lets the protocol consume every complete request in
 * the buffer (up to -R of them), then writes all replies with one writev —
 * one read and one write per batch of pipelined requests, not per request.
 * While a reply cannot be written completely no more input is served, so a
 * client that does not read its replies cannot grow our memory: it only
 * fills its own socket buffers.
 *
 * The protocol is chosen once per connection from its first byte, as
 * memcached does: under -B auto a 0x80 means binary, anything else text;
 * -B ascii or -B binary fix it, and the other protocol's bytes are then
 * read as garbage of the fixed one, just as memcached reads them.
 */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CONN_RBUF_INITIAL 16384
#define CONN_IOV_MAX 256

struct conn *conn_new(int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->rbuf = malloc(CONN_RBUF_INITIAL);
    if (c->rbuf == NULL) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->rcap = CONN_RBUF_INITIAL;
    reply_init(&c->out);
    return c;
}

void conn_free(struct conn *c)
{
    close(c->fd);
    text_session_reset(&c->sess);
    bin_session_reset(&c->bin);
    reply_free(&c->out);
    free(c->rbuf);
    free(c);
}

/* Write pending replies: 1 all sent, 0 socket full, -1 error. */
static int conn_flush(struct conn *c, const struct proto_env *env)
{
    struct iovec iov[CONN_IOV_MAX];
    while (!reply_empty(&c->out)) {
        int n = reply_iov(&c->out, iov, CONN_IOV_MAX);
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
        reply_consumed(&c->out, (size_t)w);
    }
    return 1;
}

/* Make room to read into; false if the line is beyond every limit. */
static bool conn_room(struct conn *c)
{
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
        /* Give back the room a long multi-get line made us take. */
        if (c->rcap > CONN_RBUF_INITIAL) {
            char *nb = realloc(c->rbuf, CONN_RBUF_INITIAL);
            if (nb != NULL) {
                c->rbuf = nb;
                c->rcap = CONN_RBUF_INITIAL;
            }
        }
    } else if (c->rpos > 0 && c->rlen == c->rcap) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    if (c->rlen < c->rcap)
        return true;
    /* A full buffer holding one unfinished request: a long get line, or a
     * binary header with a key of up to 64K that memcached also waits for. */
    size_t ncap = c->rcap * 2;
    if (ncap > TEXT_GET_LINE_MAX + CONN_RBUF_INITIAL)
        return false;
    char *nb = realloc(c->rbuf, ncap);
    if (nb == NULL)
        return false;
    c->rbuf = nb;
    c->rcap = ncap;
    return true;
}

static enum conn_proto conn_pick_proto(const struct proto_env *env, unsigned char first)
{
    switch (env->settings->protocol) {
    case PROTO_MODE_ASCII: return CONN_PROTO_TEXT;
    case PROTO_MODE_BINARY: return CONN_PROTO_BINARY;
    default: return first == BIN_REQ_MAGIC ? CONN_PROTO_BINARY : CONN_PROTO_TEXT;
    }
}

/* Serve what is buffered.  Returns true if -R stopped it early. */
static bool conn_serve(struct conn *c, const struct proto_env *env)
{
    if (c->rpos == c->rlen)
        return false;
    const char *buf = c->rbuf + c->rpos;
    size_t len = c->rlen - c->rpos, n;
    if (c->proto == CONN_PROTO_UNKNOWN)
        c->proto = conn_pick_proto(env, (unsigned char)buf[0]);
    if (c->proto == CONN_PROTO_BINARY)
        n = bin_feed(&c->bin, env, buf, len, &c->out);
    else
        n = text_feed(&c->sess, env, buf, len, &c->out);
    c->rpos += n;
    if (n > 0)
        c->last_cmd = env->now;
    return c->proto == CONN_PROTO_BINARY ? c->bin.yielded : c->sess.yielded;
}

/* Whether the session wants the connection closed once replies are out. */
static bool conn_closing(const struct conn *c)
{
    return c->proto == CONN_PROTO_BINARY ? c->bin.close : c->sess.close;
}

/*
 * Serve what is buffered and write the replies.  Returns what to wait for,
 * or CONN_WAIT_READ when the caller may read more.
 */
static enum conn_wait conn_answer(struct conn *c, const struct proto_env *env)
{
    bool yielded = conn_serve(c, env);
    /* memcached sends the error for a refused value only once its data
     * block has been swallowed; clients wait for it at that point. */
    if (c->sess.state == TEXT_STATE_SWALLOW || bin_swallowing(&c->bin))
        return CONN_WAIT_READ;
    int fl = conn_flush(c, env);
    if (fl < 0 || (fl > 0 && conn_closing(c)))
        return CONN_CLOSE;
    if (fl == 0)
        return CONN_WAIT_WRITE;
    return yielded ? CONN_YIELD : CONN_WAIT_READ;
}

enum conn_wait conn_run(struct conn *c, const struct proto_env *env)
{
    for (;;) {
        /* Input already buffered first: left over by -R or a full socket. */
        enum conn_wait w = conn_answer(c, env);
        if (w != CONN_WAIT_READ)
            return w;
        if (!conn_room(c))
            return CONN_CLOSE;
        ssize_t r = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (r == 0)
            return CONN_CLOSE;
        if (r < 0) {
            if (errno == EINTR)
                continue;
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
