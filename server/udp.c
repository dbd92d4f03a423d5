/*
 * udp: memcached's UDP transport (-U).
 *
 * Every datagram starts with an 8-byte frame header: request id, sequence
 * number, datagram count, reserved (16-bit big-endian each).  A request must
 * fit in one datagram; like memcached we drop any that claims more.  The
 * reply is cut into datagrams of at most 1400 bytes, each with its own
 * header; as in memcached 1.6 every response (and every key of a multi-get)
 * is its own sequence, numbered from 0 with its own count.  Text and binary
 * requests are both served, told apart by the first byte as on TCP.
 *
 * Each worker gets a dup() of each UDP socket in its own epoll set (with
 * EPOLLEXCLUSIVE, so one datagram wakes one worker) and serves datagrams
 * with a private session and reply, so no state is shared.  A request left
 * incomplete at the end of its datagram is dropped: a datagram is the
 * whole request.  A reply the socket cannot take is dropped, as UDP may.
 */
#include "udp.h"

#include <errno.h>
#include <stdatomic.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

#define UDP_HEADER 8
#define UDP_PAYLOAD_MAX 1400                    /* header included */
#define UDP_DATA_MAX (UDP_PAYLOAD_MAX - UDP_HEADER)
#define UDP_READ_MAX 65536
#define UDP_BATCH 64                            /* datagrams per wake-up */

struct udp_port {
    int fd;
    char addr[128];             /* "udp:HOST:PORT", for stats conns */
    _Atomic rel_time_t last_cmd;    /* read by `stats conns` on other workers */
    struct proto_session *sess;     /* one datagram's request at a time */
    char buf[UDP_READ_MAX];
    char dgram[UDP_PAYLOAD_MAX];    /* one datagram being sent */
};

struct udp_port *udp_port_new(int fd)
{
    struct udp_port *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->sess = proto_session_new(PROTO_DATAGRAM);
    if (u->sess == NULL) {
        free(u);
        return NULL;
    }
    u->fd = fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST] = "", port[16] = "";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(u->addr, sizeof(u->addr),
             ss.ss_family == AF_INET6 ? "udp6:[%s]:%s" : "udp:%s:%s", host, port);
    return u;
}

void udp_port_free(struct udp_port *u)
{
    if (u == NULL)
        return;
    close(u->fd);
    proto_session_free(u->sess);
    free(u);
}

/* Send the next `len` bytes of the reply, from the cursor on, as one
 * response's datagrams.  Each datagram is copied into one buffer: a reply
 * may hold many small segments, and UDP is not the fast path.  A datagram
 * the socket refuses is dropped, as UDP may; the cursor still moves past
 * the whole response. */
static void udp_send_response(struct udp_port *u, const struct proto_env *env, uint16_t id,
                              struct reply_cursor *cur, size_t len,
                              const struct sockaddr_storage *to, socklen_t tolen)
{
    const struct reply *out = proto_session_reply(u->sess);
    size_t total = (len + UDP_DATA_MAX - 1) / UDP_DATA_MAX;
    if (total > 0xffff)
        total = 0xffff;
    bool failed = false;
    for (size_t seq = 0; seq < total || (len == 0 && seq == 0); seq++) {
        unsigned char *h = (unsigned char *)u->dgram;
        h[0] = id >> 8;
        h[1] = id & 0xff;
        h[2] = (seq >> 8) & 0xff;
        h[3] = seq & 0xff;
        h[4] = (total >> 8) & 0xff;
        h[5] = total & 0xff;
        h[6] = h[7] = 0;
        size_t want = len - seq * UDP_DATA_MAX < UDP_DATA_MAX ? len - seq * UDP_DATA_MAX
                                                              : UDP_DATA_MAX;
        size_t n = reply_copy(out, cur, u->dgram + UDP_HEADER, want);
        if (failed)
            continue;
        ssize_t w = sendto(u->fd, u->dgram, UDP_HEADER + n, MSG_NOSIGNAL,
                           (const struct sockaddr *)to, tolen);
        if (w < 0) {
            log_msg(LOG_DEBUG, "udp: reply dropped: %s", strerror(errno));
            failed = true;
            continue;
        }
        counter_add(&env->counters->bytes_written, (uint64_t)w);
    }
}

/* Send the responses built so far, each in its own datagrams; all of them,
 * or all but the last, which a long reply may still be adding to. */
static void udp_send_responses(struct udp_port *u, const struct proto_env *env, uint16_t id,
                               bool all, const struct sockaddr_storage *to, socklen_t tolen)
{
    struct reply *out = proto_session_reply(u->sess);
    size_t n = reply_responses(out);
    size_t upto = all || n == 0 ? n : n - 1;
    struct reply_cursor cur;
    reply_cursor_start(out, &cur);
    for (size_t i = 0; i < upto; i++) {
        bool keep;
        size_t len = reply_response_len(out, i, &keep);
        /* memcached sends an empty response (a get's missed first key) as a
         * bare header with a datagram count of 0.  Responses are contiguous,
         * so one cursor walks them all. */
        if (len > 0 || keep)
            udp_send_response(u, env, id, &cur, len, to, tolen);
    }
    if (!all)
        reply_drop_responses(out, upto);
}

/* Serve one request datagram and send its responses. */
static void udp_serve_datagram(struct udp_port *u, const struct proto_env *env, size_t n,
                               const struct sockaddr_storage *from, socklen_t fromlen)
{
    const unsigned char *h = (const unsigned char *)u->buf;
    uint16_t id = (uint16_t)(h[0] << 8 | h[1]);
    /* memcached serves only single-datagram requests (count 1). */
    if (h[4] != 0 || h[5] != 1)
        return;
    const char *p = u->buf + UDP_HEADER;
    size_t len = n - UDP_HEADER, pos = 0;
    enum proto_status st;
    do {
        pos += proto_feed(u->sess, env, p + pos, len - pos, &st);
        if (st == PROTO_DRAIN)
            udp_send_responses(u, env, id, false, from, fromlen);
    } while (st == PROTO_YIELD || st == PROTO_DRAIN);
    udp_send_responses(u, env, id, true, from, fromlen);
    /* What the datagram left unfinished is dropped with it; quit means
     * nothing here, there is no connection to close. */
    proto_session_reset(u->sess);
    atomic_store_explicit(&u->last_cmd, env->now, memory_order_relaxed);
}

void udp_port_serve(struct udp_port *u, const struct proto_env *env)
{
    for (int i = 0; i < UDP_BATCH; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof(from);
        ssize_t n = recvfrom(u->fd, u->buf, sizeof(u->buf), 0, (struct sockaddr *)&from,
                             &fromlen);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_msg(LOG_INFO, "udp: recvfrom: %s", strerror(errno));
            return;
        }
        counter_add(&env->counters->bytes_read, (uint64_t)n);
        if (n > UDP_HEADER)
            udp_serve_datagram(u, env, (size_t)n, &from, fromlen);
    }
}

void udp_port_stats(const struct udp_port *u, struct stats_sink *s, rel_time_t now)
{
    char name[32];
    rel_time_t last = atomic_load_explicit(&u->last_cmd, memory_order_relaxed);
    snprintf(name, sizeof(name), "%d:UDP", u->fd);
    stats_add(s, name, "%s", "UDP");
    snprintf(name, sizeof(name), "%d:addr", u->fd);
    stats_add(s, name, "%s", u->addr);
    snprintf(name, sizeof(name), "%d:state", u->fd);
    stats_add(s, name, "%s", "conn_read");
    snprintf(name, sizeof(name), "%d:secs_since_last_cmd", u->fd);
    stats_add(s, name, "%u", now >= last ? now - last : 0);
}
