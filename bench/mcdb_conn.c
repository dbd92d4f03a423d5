/*
 * mcdb_conn: the workers.  Each thread owns its connections and runs one
 * level-triggered epoll loop over them, so nothing is shared between threads
 * until the totals are summed at the end.
 *
 * A connection is what a client library keeps: one socket (a link) to each
 * server, a single one without --servers.  It keeps up to `pipeline`
 * requests in flight; a request's keys go to the servers the ring places
 * them on, one part per server (a set, or a get of one key, is one part),
 * and the request is answered when its last part is.  Each link keeps its
 * parts in a ring in send order: replies come back in order, so the ring's
 * head is always the part the next reply answers.  New parts are encoded
 * into the link's output buffer and written with one write() per loop turn,
 * and one read() per readable event feeds the parser.
 *
 * Closed loop (the default): a request is sent as soon as a slot frees, and
 * latency runs from the send.  Open loop (--rate): request i of a
 * connection is due at start + i * interval whether or not the server kept
 * up, and latency runs from that intended time, so a stall is charged to
 * every request it delayed (no coordinated omission).  The loop sleeps in
 * epoll_pwait2 with a nanosecond timeout until the next request is due;
 * with --busy-poll it polls instead (a zero timeout), so how late a
 * sleeping thread wakes up -- tens of microseconds on a virtual CPU, now
 * and then milliseconds -- is not charged to the server.
 *
 * Every run is bounded: by --requests, by --test-time, by bench_stop (a
 * signal), and by a stall limit that fails a connection whose server stops
 * answering.  A link that fails fails its whole connection, as a request
 * with a part lost could never complete.
 *
 * With --report-interval each worker publishes its counters once per loop
 * turn for the reporter (mcdb_progress.c).
 */
#include "mcdb_conn.h"

#include "mcdb_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PREFILL_DEPTH 64
#define MISS_QUEUE 64
#define READ_CHUNK 65536
#define STALL_NS (10 * NS_PER_S)
#define TICK_NS (100 * 1000 * 1000ULL)      /* longest sleep: stall checks */
#define NS_PER_S 1000000000ULL
#define MAX_EVENTS 256
#define NO_PART UINT32_MAX

/* Set by bench_stop, from a signal handler: no new request after it. */
static atomic_bool stop_requested;

enum phase { PHASE_PREFILL, PHASE_RUN };

/* A request in flight: answered when parts_left reaches 0. */
struct request {
    enum req_kind kind;
    uint32_t parts_left;
    uint64_t t0;                /* send time, or intended send time with --rate */
};

/* The share of a request that went to one server. */
struct part {
    enum req_kind kind;
    uint32_t nkeys;             /* keys at link.keys[slot * multiget] */
    uint32_t req;               /* its request, an index into conn.reqs */
};

/* One socket to one server: the parts sent on it, in order. */
struct link {
    struct conn *c;
    unsigned server;
    int fd;
    struct ssl_st *tls;         /* --tls */
    bool polling_out;
    struct buf in, out;
    struct part *parts;         /* ring of conn.cap slots */
    uint64_t *keys;             /* multiget per slot */
    unsigned head, count;
    uint64_t last_rx;
};

struct conn {
    struct worker *w;
    unsigned gidx;              /* index over all threads' connections */
    bool closed;
    struct keygen kg;
    struct link *links;         /* one per server */
    struct request *reqs;       /* cap slots */
    uint32_t *free_reqs;        /* a stack of the free slots of reqs */
    unsigned nfree, cap;
    unsigned count;             /* requests in flight */
    uint64_t quota, issued;     /* run phase requests */
    uint64_t op;                /* position in the set:get cycle */
    uint64_t next_due;          /* --rate: when the next request is due */
    uint64_t interval;          /* --rate: ns between this connection's requests */
    uint64_t prefill_next;
    uint64_t miss_q[MISS_QUEUE];
    unsigned nmiss;
};

struct worker {
    const struct bench_config *cfg;
    pthread_t thread;
    pthread_barrier_t *barrier;
    int ep;
    struct conn *conns;
    unsigned nconns;
    enum phase phase;
    uint64_t deadline;          /* 0: none */
    unsigned char *hit;         /* scratch for the parser, multiget flags */
    uint64_t *ids;              /* scratch for conn_issue: a request's keys */
    uint32_t *open_part;        /* scratch for conn_issue: per server, the slot of its part */
    unsigned *touched;          /* scratch for conn_issue: the servers a request went to */
    unsigned errors_shown;
    struct bench_stats st;
    struct progress_live live;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Fail a connection: count a protocol error, say why (a few times), close every link. */
static void conn_vfail(struct conn *c, const struct link *l, const char *fmt, va_list ap)
{
    struct worker *w = c->w;
    char msg[160], where[24] = "";
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (l != NULL && w->cfg->nservers > 1)
        snprintf(where, sizeof(where), " server %u", l->server);
    w->st.protocol_errors++;
    /* The first error in full is on stderr; the report keeps what fits. */
    if (w->st.first_error[0] == '\0')
        snprintf(w->st.first_error, sizeof(w->st.first_error), "conn %u%s: %.150s", c->gidx,
                 where, msg);
    if (w->errors_shown++ < 5)
        fprintf(stderr, "mcd-bench: conn %u%s: %s\n", c->gidx, where, msg);
    for (unsigned i = 0; i < w->cfg->nservers; i++) {
        struct link *k = &c->links[i];
        if (k->fd >= 0) {
            epoll_ctl(w->ep, EPOLL_CTL_DEL, k->fd, NULL);
            close(k->fd);
        }
        k->fd = -1;
        k->count = 0;
    }
    c->closed = true;
    c->count = 0;
}

static void link_fail(struct link *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    conn_vfail(l->c, l, fmt, ap);
    va_end(ap);
}

void bench_stop(void)
{
    atomic_store_explicit(&stop_requested, true, memory_order_relaxed);
}

static bool conn_can_issue(const struct conn *c, uint64_t now)
{
    const struct worker *w = c->w;
    if (atomic_load_explicit(&stop_requested, memory_order_relaxed))
        return false;
    if (w->phase == PHASE_PREFILL)
        return c->prefill_next < w->cfg->dist.key_max;
    if (c->issued >= c->quota)
        return false;
    return w->deadline == 0 || now < w->deadline;
}

/* The server of key `id`. */
static unsigned key_server(const struct bench_config *cfg, uint64_t id)
{
    if (cfg->nservers == 1)
        return 0;
    char key[256];
    size_t n = keys_format(key, cfg->pc.prefix, cfg->pc.nprefix, id);
    return ketama_server_of(&cfg->ring, key, n);
}

/* The keys of the next request into w->ids; its kind, and how many. */
static enum req_kind conn_next_keys(struct conn *c, unsigned *nkeys)
{
    const struct bench_config *cfg = c->w->cfg;
    uint64_t *ids = c->w->ids;
    *nkeys = 1;
    if (c->w->phase == PHASE_PREFILL) {
        ids[0] = c->prefill_next;
        c->prefill_next += (uint64_t)cfg->threads * cfg->conns;
        return REQ_SET;
    }
    c->issued++;
    if (c->nmiss > 0) {
        ids[0] = c->miss_q[--c->nmiss];
        return REQ_SET;
    }
    if (c->op++ % (cfg->ratio_set + cfg->ratio_get) < cfg->ratio_set) {
        ids[0] = keys_next(&c->kg);
        return REQ_SET;
    }
    *nkeys = cfg->multiget;
    for (unsigned i = 0; i < cfg->multiget; i++)
        ids[i] = keys_next(&c->kg);
    return REQ_GET;
}

/* Take the next request, split its keys by server, and encode a part for each server. */
static void conn_issue(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    const struct bench_config *cfg = w->cfg;
    uint32_t r = c->free_reqs[--c->nfree];
    struct request *q = &c->reqs[r];
    q->t0 = now;
    if (w->phase == PHASE_RUN && c->interval) {
        q->t0 = c->next_due;
        c->next_due += c->interval;
    }
    unsigned n, ntouched = 0;
    q->kind = conn_next_keys(c, &n);
    q->parts_left = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned s = key_server(cfg, w->ids[i]);
        struct link *l = &c->links[s];
        if (w->open_part[s] == NO_PART) {
            uint32_t slot = (l->head + l->count) % c->cap;
            l->parts[slot] = (struct part){ q->kind, 0, r };
            if (l->count++ == 0)
                l->last_rx = now;
            w->open_part[s] = slot;
            w->touched[ntouched++] = s;
            q->parts_left++;
        }
        struct part *p = &l->parts[w->open_part[s]];
        l->keys[(size_t)w->open_part[s] * cfg->multiget + p->nkeys++] = w->ids[i];
    }
    for (unsigned t = 0; t < ntouched; t++) {
        unsigned s = w->touched[t];
        struct link *l = &c->links[s];
        const struct part *p = &l->parts[w->open_part[s]];
        const uint64_t *ids = &l->keys[(size_t)w->open_part[s] * cfg->multiget];
        if (p->kind == REQ_SET)
            proto_encode_set(&cfg->pc, &l->out, ids[0]);
        else
            proto_encode_get(&cfg->pc, &l->out, ids, p->nkeys);
        w->open_part[s] = NO_PART;
    }
    c->count++;
}

static void link_poll_out(struct link *l, bool on)
{
    if (l->polling_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = l };
    epoll_ctl(l->c->w->ep, EPOLL_CTL_MOD, l->fd, &ev);
    l->polling_out = on;
}

static void link_flush(struct link *l)
{
    while (l->out.off < l->out.len) {
        ssize_t n = l->tls ? mcdb_tls_send(l->tls, l->out.data + l->out.off, l->out.len - l->out.off)
                           : send(l->fd, l->out.data + l->out.off, l->out.len - l->out.off,
                                  MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                link_poll_out(l, true);
                return;
            }
            if (errno == EINTR)
                continue;
            link_fail(l, "send: %s", strerror(errno));
            return;
        }
        l->out.off += (size_t)n;
    }
    l->out.off = l->out.len = 0;
    link_poll_out(l, false);
}

/* Send what is due: fill the pipeline, then write once on each link that has something. */
static void conn_pump(struct conn *c, uint64_t now)
{
    if (c->closed)
        return;
    const struct bench_config *cfg = c->w->cfg;
    unsigned depth = c->w->phase == PHASE_PREFILL ? c->cap : cfg->pipeline;
    while (c->count < depth && conn_can_issue(c, now)) {
        if (c->w->phase == PHASE_RUN && c->interval && c->next_due > now)
            break;
        conn_issue(c, now);
    }
    for (unsigned s = 0; s < cfg->nservers && !c->closed; s++) {
        struct link *l = &c->links[s];
        if (l->out.len > l->out.off && !l->polling_out)
            link_flush(l);
    }
}

/* Count a complete reply to the head part of a link, and its request if that was its last part. */
static void link_complete(struct link *l, const struct part *p, const uint64_t *ids,
                          const struct proto_result *res, uint64_t now)
{
    struct conn *c = l->c;
    struct bench_stats *st = &c->w->st;
    struct request *q = &c->reqs[p->req];
    bool last = --q->parts_left == 0;
    if (last)
        c->free_reqs[c->nfree++] = p->req;
    st->sets_refused += res->refused;
    if (c->w->phase == PHASE_PREFILL) {
        if (last) {
            st->prefill_sets++;
            c->count--;
        }
        return;
    }
    struct server_counts *sc = &st->server[l->server];
    sc->requests++;
    sc->keys += p->nkeys;
    if (p->kind == REQ_GET) {
        sc->hits += res->hits;
        st->get_keys += p->nkeys;
        st->hits += res->hits;
        st->misses += p->nkeys - res->hits;
        st->verify_errors += res->bad_values;
        if (res->bad_values && c->w->errors_shown++ < 5)
            fprintf(stderr, "mcd-bench: conn %u: %u wrong value(s) in a reply\n", c->gidx,
                    res->bad_values);
        if (c->w->cfg->set_on_miss)
            for (unsigned i = 0; i < p->nkeys && c->nmiss < MISS_QUEUE; i++)
                if (!res->hit[i])
                    c->miss_q[c->nmiss++] = ids[i];
    }
    if (!last)
        return;
    c->count--;
    st->requests++;
    hist_record(&st->latency, now > q->t0 ? now - q->t0 : 0);
    if (q->kind == REQ_SET)
        st->sets++;
    else
        st->gets++;
}

/* Read once and take every complete reply. */
static void link_read(struct link *l, uint64_t now)
{
    const struct bench_config *cfg = l->c->w->cfg;
    buf_reserve(&l->in, READ_CHUNK);
    ssize_t n = l->tls ? mcdb_tls_recv(l->tls, l->in.data + l->in.len, l->in.cap - l->in.len)
                       : recv(l->fd, l->in.data + l->in.len, l->in.cap - l->in.len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        link_fail(l, n == 0 ? "server closed the connection" : "recv: %s", strerror(errno));
        return;
    }
    l->in.len += (size_t)n;
    l->last_rx = now;
    struct proto_result res = { .hit = l->c->w->hit };
    while (l->count > 0) {
        struct part *p = &l->parts[l->head];
        const uint64_t *ids = &l->keys[(size_t)l->head * cfg->multiget];
        size_t used = 0;
        enum parse_status ps = proto_parse(&cfg->pc, p->kind, ids, p->nkeys,
                                           l->in.data + l->in.off, l->in.len - l->in.off,
                                           &used, &res);
        if (ps == PARSE_MORE)
            break;
        if (ps == PARSE_ERROR) {
            link_fail(l, "%s", res.error);
            return;
        }
        link_complete(l, p, ids, &res, now);
        l->in.off += used;
        l->head = (l->head + 1) % l->c->cap;
        l->count--;
    }
    if (l->count == 0 && l->in.len > l->in.off) {
        link_fail(l, "%zu bytes nobody asked for", l->in.len - l->in.off);
        return;
    }
    if (l->in.off == l->in.len)
        l->in.off = l->in.len = 0;
    else
        buf_compact(&l->in);
}

/* When the loop must wake up next: a due request, the deadline, or a tick for stall checks. */
static uint64_t worker_wake_at(struct worker *w, uint64_t now)
{
    uint64_t at = now + TICK_NS;
    if (w->deadline && w->deadline < at)
        at = w->deadline;
    if (w->phase != PHASE_RUN)
        return at;
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        if (!c->closed && c->interval && c->count < w->cfg->pipeline && c->next_due < at
            && conn_can_issue(c, now))
            at = c->next_due;
    }
    return at;
}

/* Fail the connection if a link waits too long for a reply; whether it is still busy. */
static bool conn_check(struct conn *c, uint64_t now)
{
    if (c->closed)
        return false;
    for (unsigned s = 0; s < c->w->cfg->nservers; s++) {
        struct link *l = &c->links[s];
        if (l->count > 0 && now - l->last_rx > STALL_NS) {
            link_fail(l, "no reply for %llu s", (unsigned long long)(STALL_NS / NS_PER_S));
            return false;
        }
    }
    return c->count > 0 || conn_can_issue(c, now);
}

/* Copy the counters the reporter reads into their atomics. */
static void worker_publish(struct worker *w)
{
    const struct bench_stats *st = &w->st;
    struct bench_progress p = {
        st->requests, st->sets, st->gets, st->get_keys, st->hits, st->misses,
        st->sets_refused, st->verify_errors, st->protocol_errors,
    };
    progress_publish(&w->live, &p);
}

/* Run one phase until every connection has nothing to send and nothing in flight. */
static void worker_loop(struct worker *w)
{
    struct epoll_event evs[MAX_EVENTS];
    bool open_loop = w->phase == PHASE_RUN && w->cfg->rate > 0;
    uint64_t now = now_ns();
    for (unsigned i = 0; i < w->nconns; i++)
        conn_pump(&w->conns[i], now);
    for (;;) {
        bool active = false;
        for (unsigned i = 0; i < w->nconns; i++)
            if (conn_check(&w->conns[i], now))
                active = true;
        if (!active)
            break;
        worker_publish(w);
        uint64_t at = worker_wake_at(w, now);
        struct timespec ts = { 0, 0 };
        if (at > now && !(open_loop && w->cfg->busy_poll))
            ts = (struct timespec){ (time_t)((at - now) / NS_PER_S), (long)((at - now) % NS_PER_S) };
        int n = epoll_pwait2(w->ep, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            perror("mcd-bench: epoll_pwait2");
            exit(2);
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct link *l = evs[i].data.ptr;
            struct conn *c = l->c;
            if (c->closed)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                link_read(l, now);
                /* Records OpenSSL already decrypted wake no epoll. */
                while (!c->closed && l->tls != NULL && mcdb_tls_pending(l->tls) > 0)
                    link_read(l, now);
            }
            if (!c->closed && (evs[i].events & EPOLLOUT))
                link_flush(l);
            if (!open_loop)
                conn_pump(c, now);
        }
        if (open_loop)
            for (unsigned i = 0; i < w->nconns; i++)
                conn_pump(&w->conns[i], now);
    }
}

static int link_open(struct link *l, const struct sockaddr_in *addr, bool tls)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls && (l->tls = mcdb_tls_connect(fd)) == NULL) {
        close(fd);
        return -EPROTO;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        close(fd);
        return -errno;
    }
    l->fd = fd;
    return 0;
}

static void *alloc_or_exit(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) {
        fprintf(stderr, "mcd-bench: out of memory\n");
        exit(2);
    }
    return p;
}

static void conn_init(struct conn *c, struct worker *w, unsigned gidx)
{
    const struct bench_config *cfg = w->cfg;
    unsigned total = cfg->threads * cfg->conns;
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->gidx = gidx;
    c->cap = cfg->pipeline > PREFILL_DEPTH ? cfg->pipeline : PREFILL_DEPTH;
    c->reqs = alloc_or_exit(c->cap, sizeof(*c->reqs));
    c->free_reqs = alloc_or_exit(c->cap, sizeof(*c->free_reqs));
    for (unsigned i = 0; i < c->cap; i++)
        c->free_reqs[i] = c->cap - 1 - i;
    c->nfree = c->cap;
    c->links = alloc_or_exit(cfg->nservers, sizeof(*c->links));
    for (unsigned s = 0; s < cfg->nservers; s++) {
        struct link *l = &c->links[s];
        l->c = c;
        l->server = s;
        l->fd = -1;
        /* A request has at most one part per link: a link needs no more slots than requests. */
        l->parts = alloc_or_exit(c->cap, sizeof(*l->parts));
        l->keys = alloc_or_exit((size_t)c->cap * cfg->multiget, sizeof(*l->keys));
    }
    keys_gen_init(&c->kg, &cfg->dist, cfg->seed, gidx, total);
    c->prefill_next = gidx;
    /* --requests is shared out evenly, the remainder to the first connections. */
    c->quota = UINT64_MAX;
    if (cfg->requests)
        c->quota = cfg->requests / total + (gidx < cfg->requests % total ? 1 : 0);
    if (cfg->rate > 0)
        c->interval = (uint64_t)((double)NS_PER_S * total / cfg->rate);
}

static void conn_free(struct conn *c, unsigned nservers)
{
    for (unsigned s = 0; s < nservers; s++) {
        struct link *l = &c->links[s];
        if (l->tls)
            mcdb_tls_free(l->tls);
        if (l->fd >= 0)
            close(l->fd);
        free(l->in.data);
        free(l->out.data);
        free(l->parts);
        free(l->keys);
    }
    free(c->links);
    free(c->reqs);
    free(c->free_reqs);
}

/* Connect every link of every connection of the worker; a connection with a link that
 * cannot connect is failed, and the rest carry on. */
static void worker_connect(struct worker *w)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        unsigned s;
        for (s = 0; s < w->cfg->nservers; s++) {
            struct link *l = &c->links[s];
            int err = link_open(l, &w->cfg->addr[s], w->cfg->tls);
            if (err == 0) {
                struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
                if (epoll_ctl(w->ep, EPOLL_CTL_ADD, l->fd, &ev) == 0)
                    continue;
                err = -errno;
            }
            link_fail(l, "connect: %s", strerror(-err));
            break;
        }
        if (s == w->cfg->nservers)
            w->st.conns_ok++;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct bench_config *cfg = w->cfg;
    worker_connect(w);
    pthread_barrier_wait(w->barrier);
    if (cfg->prefill) {
        w->phase = PHASE_PREFILL;
        w->st.t_prefill_start = now_ns();
        worker_loop(w);
        w->st.t_prefill_end = now_ns();
    }
    worker_publish(w);          /* the reporter's starting point, read after the barrier */
    /* Every thread's prefill is done before any thread measures. */
    pthread_barrier_wait(w->barrier);
    if (cfg->run) {
        w->phase = PHASE_RUN;
        w->st.t_start = now_ns();
        if (cfg->test_time > 0)
            w->deadline = w->st.t_start + (uint64_t)(cfg->test_time * NS_PER_S);
        for (unsigned i = 0; i < w->nconns; i++)
            w->conns[i].next_due = w->st.t_start
                + w->conns[i].interval * i / (w->nconns ? w->nconns : 1);
        worker_loop(w);
        w->st.t_end = now_ns();
    }
    worker_publish(w);
    progress_done(&w->live);
    return NULL;
}

static void stats_add(struct bench_stats *to, const struct bench_stats *from, bool first)
{
    to->requests += from->requests;
    to->sets += from->sets;
    to->gets += from->gets;
    to->get_keys += from->get_keys;
    to->hits += from->hits;
    to->misses += from->misses;
    to->sets_refused += from->sets_refused;
    to->verify_errors += from->verify_errors;
    to->protocol_errors += from->protocol_errors;
    to->prefill_sets += from->prefill_sets;
    to->conns_ok += from->conns_ok;
    if (first || from->t_prefill_start < to->t_prefill_start)
        to->t_prefill_start = from->t_prefill_start;
    if (first || from->t_start < to->t_start)
        to->t_start = from->t_start;
    if (from->t_prefill_end > to->t_prefill_end)
        to->t_prefill_end = from->t_prefill_end;
    if (from->t_end > to->t_end)
        to->t_end = from->t_end;
    hist_merge(&to->latency, &from->latency);
    for (unsigned s = 0; s < KETAMA_MAX_SERVERS; s++) {
        to->server[s].requests += from->server[s].requests;
        to->server[s].keys += from->server[s].keys;
        to->server[s].hits += from->server[s].hits;
    }
    if (to->first_error[0] == '\0')
        memcpy(to->first_error, from->first_error, sizeof(to->first_error));
}

int bench_run(const struct bench_config *cfg, struct bench_stats *out)
{
    struct worker *ws = calloc(cfg->threads, sizeof(*ws));
    pthread_barrier_t barrier;
    /* The workers and this thread, which waits with them to learn when the run phase starts. */
    if (ws == NULL || pthread_barrier_init(&barrier, NULL, cfg->threads + 1) != 0)
        return -1;
    for (unsigned t = 0; t < cfg->threads; t++) {
        struct worker *w = &ws[t];
        w->cfg = cfg;
        w->barrier = &barrier;
        w->nconns = cfg->conns;
        w->conns = calloc(cfg->conns, sizeof(*w->conns));
        w->hit = calloc(cfg->multiget, 1);
        w->ids = calloc(cfg->multiget, sizeof(*w->ids));
        w->open_part = malloc(cfg->nservers * sizeof(*w->open_part));
        w->touched = calloc(cfg->nservers, sizeof(*w->touched));
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->conns == NULL || w->hit == NULL || w->ids == NULL || w->open_part == NULL
            || w->touched == NULL || w->ep < 0) {
            fprintf(stderr, "mcd-bench: cannot set up thread %u\n", t);
            exit(2);
        }
        hist_init(&w->st.latency);
        for (unsigned s = 0; s < cfg->nservers; s++)
            w->open_part[s] = NO_PART;
        for (unsigned i = 0; i < cfg->conns; i++)
            conn_init(&w->conns[i], w, t * cfg->conns + i);
    }
    for (unsigned t = 0; t < cfg->threads; t++) {
        if (pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]) != 0) {
            /* The barrier counts every thread: without them all, none could finish. */
            fprintf(stderr, "mcd-bench: cannot start thread %u\n", t);
            exit(2);
        }
    }
    pthread_barrier_wait(&barrier);     /* connected */
    pthread_barrier_wait(&barrier);     /* prefilled: the run phase starts */
    if (cfg->run && cfg->report_interval > 0 && cfg->on_tick) {
        struct progress_live **lives = calloc(cfg->threads, sizeof(*lives));
        if (lives == NULL) {
            fprintf(stderr, "mcd-bench: out of memory\n");
            exit(2);
        }
        for (unsigned t = 0; t < cfg->threads; t++)
            lives[t] = &ws[t].live;
        progress_report(lives, cfg->threads, cfg->report_interval, cfg->on_tick, cfg->tick_arg);
        free(lives);
    }
    memset(out, 0, sizeof(*out));
    hist_init(&out->latency);
    for (unsigned t = 0; t < cfg->threads; t++) {
        pthread_join(ws[t].thread, NULL);
        stats_add(out, &ws[t].st, t == 0);
        for (unsigned i = 0; i < ws[t].nconns; i++)
            conn_free(&ws[t].conns[i], cfg->nservers);
        free(ws[t].conns);
        free(ws[t].hit);
        free(ws[t].ids);
        free(ws[t].open_part);
        free(ws[t].touched);
        close(ws[t].ep);
    }
    pthread_barrier_destroy(&barrier);
    free(ws);
    return 0;
}
