/*
 * mcdb_conn: the workers.  Each thread owns its connections and runs one
 * level-triggered epoll loop over them, so nothing is shared between threads
 * until the totals are summed at the end.
 *
 * A connection keeps up to `pipeline` requests in flight in a ring of
 * pending requests (kind, keys, start time); replies come back in order, so
 * the ring's head is always the request the next reply answers.  New
 * requests are encoded into one output buffer and written with one write()
 * per loop turn, and one read() per readable event feeds the parser.
 *
 * Closed loop (the default): a request is sent as soon as a slot frees, and
 * latency runs from the send.  Open loop (--rate): request i of a
 * connection is due at start + i * interval whether or not the server kept
 * up, and latency runs from that intended time, so a stall is charged to
 * every request it delayed (no coordinated omission).  The loop sleeps in
 * epoll_pwait2 with a nanosecond timeout until the next request is due.
 *
 * Every run is bounded: by --requests, by --test-time, by bench_stop (a
 * signal), and by a stall limit that fails a connection whose server stops
 * answering.
 *
 * With --report-interval the thread that started the run wakes every
 * interval and sums what the workers have published: each worker copies its
 * counters into relaxed atomics once per loop turn (one writer each), so the
 * report costs the workers no lock and no shared write per request.
 */
#include "mcdb_conn.h"

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
#define REPORT_POLL_NS (20 * 1000 * 1000ULL)  /* how soon the reporter sees the end */

/* Set by bench_stop, from a signal handler: no new request after it. */
static atomic_bool stop_requested;

enum phase { PHASE_PREFILL, PHASE_RUN };

struct pending {
    enum req_kind kind;
    unsigned nkeys;             /* keys at conn.keys[slot * multiget] */
    uint64_t t0;                /* send time, or intended send time with --rate */
};

struct conn {
    struct worker *w;
    int fd;
    unsigned gidx;              /* index over all threads' connections */
    bool closed;
    bool polling_out;
    struct keygen kg;
    struct buf in, out;
    struct pending *pend;
    uint64_t *keys;
    unsigned head, count, cap;
    uint64_t quota, issued;     /* run phase requests */
    uint64_t op;                /* position in the set:get cycle */
    uint64_t next_due;          /* --rate: when the next request is due */
    uint64_t interval;          /* --rate: ns between this connection's requests */
    uint64_t prefill_next;
    uint64_t miss_q[MISS_QUEUE];
    unsigned nmiss;
    uint64_t last_rx;
};

/* A worker's counters as the reporter reads them: written by the worker only, relaxed. */
struct live {
    _Atomic uint64_t requests, sets, gets, get_keys, hits, misses;
    _Atomic uint64_t sets_refused, verify_errors, protocol_errors;
    atomic_bool done;           /* release: every count above is final */
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
    unsigned errors_shown;
    struct bench_stats st;
    struct live live;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Fail a connection: count a protocol error, say why (a few times), close it. */
static void conn_fail(struct conn *c, const char *fmt, ...)
{
    struct worker *w = c->w;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    w->st.protocol_errors++;
    if (w->st.first_error[0] == '\0')
        snprintf(w->st.first_error, sizeof(w->st.first_error), "conn %u: %s", c->gidx, msg);
    if (w->errors_shown++ < 5)
        fprintf(stderr, "mcd-bench: conn %u: %s\n", c->gidx, msg);
    if (c->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->closed = true;
    c->count = 0;
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

/* Encode the next request and push it on the pending ring. */
static void conn_issue(struct conn *c, uint64_t now)
{
    const struct bench_config *cfg = c->w->cfg;
    unsigned slot = (c->head + c->count) % c->cap;
    struct pending *p = &c->pend[slot];
    uint64_t *ids = &c->keys[(size_t)slot * cfg->multiget];
    p->t0 = now;
    if (c->w->phase == PHASE_PREFILL) {
        ids[0] = c->prefill_next;
        c->prefill_next += (uint64_t)cfg->threads * cfg->conns;
        p->kind = REQ_SET;
        p->nkeys = 1;
    } else {
        if (c->interval) {
            p->t0 = c->next_due;
            c->next_due += c->interval;
        }
        c->issued++;
        if (c->nmiss > 0) {
            p->kind = REQ_SET;
            p->nkeys = 1;
            ids[0] = c->miss_q[--c->nmiss];
        } else if (c->op++ % (cfg->ratio_set + cfg->ratio_get) < cfg->ratio_set) {
            p->kind = REQ_SET;
            p->nkeys = 1;
            ids[0] = keys_next(&c->kg);
        } else {
            p->kind = REQ_GET;
            p->nkeys = cfg->multiget;
            for (unsigned i = 0; i < cfg->multiget; i++)
                ids[i] = keys_next(&c->kg);
        }
    }
    if (p->kind == REQ_SET)
        proto_encode_set(&cfg->pc, &c->out, ids[0]);
    else
        proto_encode_get(&cfg->pc, &c->out, ids, p->nkeys);
    if (c->count++ == 0)
        c->last_rx = now;
}

static void conn_poll_out(struct conn *c, bool on)
{
    if (c->polling_out == on)
        return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->polling_out = on;
}

static void conn_flush(struct conn *c)
{
    while (c->out.off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_poll_out(c, true);
                return;
            }
            if (errno == EINTR)
                continue;
            conn_fail(c, "send: %s", strerror(errno));
            return;
        }
        c->out.off += (size_t)n;
    }
    c->out.off = c->out.len = 0;
    conn_poll_out(c, false);
}

/* Send what is due: fill the pipeline, then write once. */
static void conn_pump(struct conn *c, uint64_t now)
{
    if (c->closed)
        return;
    unsigned depth = c->w->phase == PHASE_PREFILL ? c->cap : c->w->cfg->pipeline;
    while (c->count < depth && conn_can_issue(c, now)) {
        if (c->w->phase == PHASE_RUN && c->interval && c->next_due > now)
            break;
        conn_issue(c, now);
    }
    if (c->out.len > c->out.off && !c->polling_out)
        conn_flush(c);
}

/* Count a complete reply to the head request. */
static void conn_complete(struct conn *c, const struct pending *p, const uint64_t *ids,
                          const struct proto_result *res, uint64_t now)
{
    struct bench_stats *st = &c->w->st;
    st->sets_refused += res->refused;
    if (c->w->phase == PHASE_PREFILL) {
        st->prefill_sets++;
        return;
    }
    st->requests++;
    hist_record(&st->latency, now > p->t0 ? now - p->t0 : 0);
    if (p->kind == REQ_SET) {
        st->sets++;
        return;
    }
    st->gets++;
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

/* Read once and take every complete reply. */
static void conn_read(struct conn *c, uint64_t now)
{
    const struct bench_config *cfg = c->w->cfg;
    buf_reserve(&c->in, READ_CHUNK);
    ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_fail(c, n == 0 ? "server closed the connection" : "recv: %s", strerror(errno));
        return;
    }
    c->in.len += (size_t)n;
    c->last_rx = now;
    struct proto_result res = { .hit = c->w->hit };
    while (c->count > 0) {
        struct pending *p = &c->pend[c->head];
        const uint64_t *ids = &c->keys[(size_t)c->head * cfg->multiget];
        size_t used = 0;
        enum parse_status ps = proto_parse(&cfg->pc, p->kind, ids, p->nkeys,
                                           c->in.data + c->in.off, c->in.len - c->in.off,
                                           &used, &res);
        if (ps == PARSE_MORE)
            break;
        if (ps == PARSE_ERROR) {
            conn_fail(c, "%s", res.error);
            return;
        }
        conn_complete(c, p, ids, &res, now);
        c->in.off += used;
        c->head = (c->head + 1) % c->cap;
        c->count--;
    }
    if (c->count == 0 && c->in.len > c->in.off) {
        conn_fail(c, "%zu bytes nobody asked for", c->in.len - c->in.off);
        return;
    }
    if (c->in.off == c->in.len)
        c->in.off = c->in.len = 0;
    else
        buf_compact(&c->in);
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

#define PUBLISH(l, st, f) atomic_store_explicit(&(l)->f, (st)->f, memory_order_relaxed)

/* Copy the counters the reporter reads into their atomics. */
static void worker_publish(struct worker *w)
{
    PUBLISH(&w->live, &w->st, requests);
    PUBLISH(&w->live, &w->st, sets);
    PUBLISH(&w->live, &w->st, gets);
    PUBLISH(&w->live, &w->st, get_keys);
    PUBLISH(&w->live, &w->st, hits);
    PUBLISH(&w->live, &w->st, misses);
    PUBLISH(&w->live, &w->st, sets_refused);
    PUBLISH(&w->live, &w->st, verify_errors);
    PUBLISH(&w->live, &w->st, protocol_errors);
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
        for (unsigned i = 0; i < w->nconns; i++) {
            struct conn *c = &w->conns[i];
            if (c->closed)
                continue;
            if (c->count > 0 && now - c->last_rx > STALL_NS)
                conn_fail(c, "no reply for %llu s", (unsigned long long)(STALL_NS / NS_PER_S));
            else if (c->count > 0 || conn_can_issue(c, now))
                active = true;
        }
        if (!active)
            break;
        worker_publish(w);
        uint64_t at = worker_wake_at(w, now);
        struct timespec ts = { 0, 0 };
        if (at > now)
            ts = (struct timespec){ (time_t)((at - now) / NS_PER_S), (long)((at - now) % NS_PER_S) };
        int n = epoll_pwait2(w->ep, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            perror("mcd-bench: epoll_pwait2");
            exit(2);
        }
        now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->closed)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_read(c, now);
            if (!c->closed && (evs[i].events & EPOLLOUT))
                conn_flush(c);
            if (!open_loop)
                conn_pump(c, now);
        }
        if (open_loop)
            for (unsigned i = 0; i < w->nconns; i++)
                conn_pump(&w->conns[i], now);
    }
}

static int conn_open(struct conn *c, const struct sockaddr_in *addr)
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
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        close(fd);
        return -errno;
    }
    c->fd = fd;
    return 0;
}

static void conn_init(struct conn *c, struct worker *w, unsigned gidx)
{
    const struct bench_config *cfg = w->cfg;
    unsigned total = cfg->threads * cfg->conns;
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->fd = -1;
    c->gidx = gidx;
    c->cap = cfg->pipeline > PREFILL_DEPTH ? cfg->pipeline : PREFILL_DEPTH;
    c->pend = calloc(c->cap, sizeof(*c->pend));
    c->keys = calloc((size_t)c->cap * cfg->multiget, sizeof(*c->keys));
    if (c->pend == NULL || c->keys == NULL) {
        fprintf(stderr, "mcd-bench: out of memory\n");
        exit(2);
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

static void conn_free(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in.data);
    free(c->out.data);
    free(c->pend);
    free(c->keys);
}

/* Connect every connection of the worker; failures are counted and the rest carry on. */
static void worker_connect(struct worker *w)
{
    for (unsigned i = 0; i < w->nconns; i++) {
        struct conn *c = &w->conns[i];
        int err = conn_open(c, &w->cfg->addr);
        if (err == 0) {
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
            if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) == 0) {
                w->st.conns_ok++;
                continue;
            }
            err = -errno;
        }
        conn_fail(c, "connect: %s", strerror(-err));
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
    atomic_store_explicit(&w->live.done, true, memory_order_release);
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
    if (to->first_error[0] == '\0')
        memcpy(to->first_error, from->first_error, sizeof(to->first_error));
}

#define GATHER(p, ws, n, f) do { (p)->f = 0; for (unsigned i_ = 0; i_ < (n); i_++) \
    (p)->f += atomic_load_explicit(&(ws)[i_].live.f, memory_order_relaxed); } while (0)

/* The workers' published counters, summed. */
static void progress_gather(struct worker *ws, unsigned n, struct bench_progress *p)
{
    GATHER(p, ws, n, requests);
    GATHER(p, ws, n, sets);
    GATHER(p, ws, n, gets);
    GATHER(p, ws, n, get_keys);
    GATHER(p, ws, n, hits);
    GATHER(p, ws, n, misses);
    GATHER(p, ws, n, sets_refused);
    GATHER(p, ws, n, verify_errors);
    GATHER(p, ws, n, protocol_errors);
}

static struct bench_progress progress_sub(const struct bench_progress *a,
                                          const struct bench_progress *b)
{
    return (struct bench_progress){
        a->requests - b->requests, a->sets - b->sets, a->gets - b->gets,
        a->get_keys - b->get_keys, a->hits - b->hits, a->misses - b->misses,
        a->sets_refused - b->sets_refused, a->verify_errors - b->verify_errors,
        a->protocol_errors - b->protocol_errors,
    };
}

static bool workers_done(struct worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!atomic_load_explicit(&ws[i].live.done, memory_order_acquire))
            return false;
    return true;
}

/*
 * --report-interval: from the start of the run phase until every worker is
 * done, call on_tick at each interval's end with what that interval counted,
 * and once more for the last part (unless nothing happened in it).
 */
static void bench_report(const struct bench_config *cfg, struct worker *ws)
{
    uint64_t step = (uint64_t)(cfg->report_interval * NS_PER_S);
    uint64_t t0 = now_ns(), prev = t0, next = t0 + step;
    struct bench_progress last, cur;
    progress_gather(ws, cfg->threads, &last);
    for (;;) {
        bool done = workers_done(ws, cfg->threads);
        uint64_t now = now_ns();
        if (now >= next || done) {
            progress_gather(ws, cfg->threads, &cur);
            struct bench_progress d = progress_sub(&cur, &last);
            if (now > prev && (!done || d.requests > 0 || d.protocol_errors > 0))
                cfg->on_tick((double)(now - t0) / 1e9, (double)(now - prev) / 1e9, now, &d,
                             cfg->tick_arg);
            if (done)
                return;
            last = cur;
            prev = now;
            while (next <= now)
                next += step;
            continue;
        }
        /* Sleep to the interval's end, waking now and then to see whether the run ended. */
        uint64_t until = next - now > REPORT_POLL_NS ? now + REPORT_POLL_NS : next;
        struct timespec ts = { (time_t)(until / NS_PER_S), (long)(until % NS_PER_S) };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
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
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->conns == NULL || w->hit == NULL || w->ep < 0) {
            fprintf(stderr, "mcd-bench: cannot set up thread %u\n", t);
            exit(2);
        }
        hist_init(&w->st.latency);
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
    if (cfg->run && cfg->report_interval > 0 && cfg->on_tick)
        bench_report(cfg, ws);
    memset(out, 0, sizeof(*out));
    hist_init(&out->latency);
    for (unsigned t = 0; t < cfg->threads; t++) {
        pthread_join(ws[t].thread, NULL);
        stats_add(out, &ws[t].st, t == 0);
        for (unsigned i = 0; i < ws[t].nconns; i++)
            conn_free(&ws[t].conns[i]);
        free(ws[t].conns);
        free(ws[t].hit);
        close(ws[t].ep);
    }
    pthread_barrier_destroy(&barrier);
    free(ws);
    return 0;
}
