/*
 * worker: one thread per -t, each running its own epoll loop.
 *
 * The acceptor hands a socket over by pushing its fd on the worker's queue
 * (a small mutex-guarded ring) and writing its eventfd; from then on only
 * that worker touches the connection, so connection state needs no locks.
 * Each worker owns its counters (one writer, read by `stats` with relaxed
 * loads) and reads the clock once per loop turn, handing `now` down.
 *
 * A connection stopped by -R goes on a run-again list and the loop polls
 * with a zero timeout until the list is empty, so one busy pipelined client
 * cannot starve the others of the same worker.
 */
#include "worker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "tls.h"
#include "udp.h"
#include "watch.h"
#include "watchers.h"

#define WORKER_QUEUE 1024
#define WORKER_EVENTS 256
#define WORKER_UDP_MAX (2 * CONFIG_MAX_LISTEN)  /* as many as main.c binds */
/* epoll data for a UDP endpoint: its pointer with the low bit set (a
 * connection's pointer is aligned, so the bit tells them apart). */
#define UDP_TAG 1u

struct worker {
    int id;
    pthread_t thread;
    int epfd;
    int evfd;
    pthread_mutex_t qlock;          /* guards the hand-off ring */
    int queue[WORKER_QUEUE];        /* fd << 1 | 1 when the listener speaks TLS */
    unsigned qhead, qlen;
    pthread_mutex_t list_lock;      /* guards the conn list against `stats conns` */
    struct conn *conns;
    _Atomic(struct conn *) current; /* the connection being served (stats conns) */
    struct conn *yield_head;
    struct udp_port *udp[WORKER_UDP_MAX];
    int nudp;
    struct proto_counters counters;
    struct proto_timing timing;     /* written by this worker alone; read by scrapes */
    struct proto_env env;
    char scratch[CONN_SCRATCH_SIZE];    /* read buffer lent to each connection's step */
} __attribute__((aligned(64)));  /* no false sharing between workers' counters */

static struct worker *workers;
static int nworkers;
static int nstarted;          /* threads created, for a partial start */
static unsigned next_worker;
static struct worker_options wopts;
static _Atomic bool stopping;
static _Atomic uint64_t curr_conns, total_conns, closed_conns;
static struct timespec clock_origin;

void clock_setup(void) { clock_gettime(CLOCK_MONOTONIC, &clock_origin); }

rel_time_t clock_rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (rel_time_t)(ts.tv_sec - clock_origin.tv_sec + CLOCK_REL_START);
}

/* memcached's "tcp:ADDR:PORT" / "unix:PATH" form of a socket address. */
static void addr_str(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(out, n, "tcp:%s:%u", host, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(out, n, "tcp6:[%s]:%u", host, ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *a = (const struct sockaddr_un *)ss;
        snprintf(out, n, "unix:%s", len > sizeof(sa_family_t) ? a->sun_path : "");
    } else {
        snprintf(out, n, "unknown");
    }
}

static void worker_watch(struct worker *w, struct conn *c, enum conn_wait want)
{
    if (atomic_load_explicit(&c->waiting, memory_order_relaxed) == (int)want)
        return;
    struct epoll_event ev = { .events = want == CONN_WAIT_WRITE ? EPOLLOUT : EPOLLIN,
                              .data.ptr = c };
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    atomic_store_explicit(&c->waiting, (int)want, memory_order_relaxed);
}

/* `watch connevents`: memcached's rip, rport and transport from our
 * "tcp:ADDR:PORT", "tcp6:[ADDR]:PORT" or "unix:PATH". */
static void worker_tell_conn(const struct conn *c, bool opened, const char *reason)
{
    char rip[INET6_ADDRSTRLEN + 2] = "unix";
    unsigned port = 0;
    const char *transport = "local";
    const char *a = strchr(c->addr, ':'), *colon = strrchr(c->addr, ':');
    if (strncmp(c->addr, "tcp", 3) == 0 && a != NULL && colon > a) {
        transport = "tcp";
        const char *h = a + 1;
        size_t n = (size_t)(colon - h);
        if (*h == '[' && n >= 2) {
            h++;
            n -= 2;
        }
        snprintf(rip, sizeof(rip), "%.*s", (int)n, h);
        port = (unsigned)atoi(colon + 1);
    }
    watch_conn(opened, rip, port, transport, reason, c->fd);
}

/* Forget a connection: out of the epoll set and the list, freed, counted
 * as closed; its socket is closed with it unless `keep_socket`. */
static void worker_drop(struct worker *w, struct conn *c, bool keep_socket)
{
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (keep_socket)
        c->fd = -1;
    pthread_mutex_lock(&w->list_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->list_lock);
    conn_free(c);
    atomic_fetch_sub(&curr_conns, 1);
    atomic_fetch_add(&closed_conns, 1);
}

static void worker_close_why(struct worker *w, struct conn *c, const char *reason)
{
    if (proto_session_watching(c->sess) != 0)
        watchers_forget(c->fd);
    if (watch_on(WATCH_CONNEVENTS))
        worker_tell_conn(c, false, reason);
    log_msg(LOG_DEBUG, "<%d connection closed.", c->fd);
    worker_drop(w, c, false);
}

static void worker_close(struct worker *w, struct conn *c)
{
    worker_close_why(w, c, "normal");
}

/* A client that sent `watch` becomes a watcher: its socket goes to the
 * watchers' thread, and this worker forgets the connection. */
static void worker_handoff(struct worker *w, struct conn *c)
{
    int fd = c->fd;
    struct tls_conn *tls = c->tls;
    c->tls = NULL;              /* the watchers' thread's now, with the socket */
    worker_drop(w, c, true);
    watchers_start(fd, tls);
}

static void worker_adopt(struct worker *w, int fd, bool tls)
{
    struct conn *c = conn_new(fd);
    if (c != NULL && tls && (c->tls = tls_conn_new(fd)) == NULL) {
        conn_free(c);
        c = NULL;
    }
    if (c == NULL) {
        log_msg(LOG_ERROR, "failed to allocate a connection");
        close(fd);
        atomic_fetch_sub(&curr_conns, 1);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_str(&ss, len, c->addr, sizeof(c->addr));
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        addr_str(&ss, len, c->listen_addr, sizeof(c->listen_addr));
        if (ss.ss_family == AF_UNIX)
            memcpy(c->addr, c->listen_addr, sizeof(c->addr));
    }
    atomic_store_explicit(&c->last_cmd, w->env.now, memory_order_relaxed);
    atomic_store_explicit(&c->waiting, CONN_WAIT_READ, memory_order_relaxed);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_free(c);
        atomic_fetch_sub(&curr_conns, 1);
        return;
    }
    pthread_mutex_lock(&w->list_lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    pthread_mutex_unlock(&w->list_lock);
    if (watch_on(WATCH_CONNEVENTS))
        worker_tell_conn(c, true, NULL);
    log_msg(LOG_DEBUG, "<%d new auto-negotiating client connection", fd);
}

static void worker_drain_queue(struct worker *w)
{
    uint64_t v;
    if (read(w->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_msg(LOG_ERROR, "worker %d: eventfd read: %s", w->id, strerror(errno));
    for (;;) {
        pthread_mutex_lock(&w->qlock);
        if (w->qlen == 0) {
            pthread_mutex_unlock(&w->qlock);
            return;
        }
        int entry = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % WORKER_QUEUE;
        w->qlen--;
        pthread_mutex_unlock(&w->qlock);
        worker_adopt(w, entry >> 1, entry & 1);
    }
}

static void worker_step(struct worker *w, struct conn *c)
{
    atomic_store_explicit(&w->current, c, memory_order_relaxed);
    w->env.fd = c->fd;
    enum conn_wait r = conn_run(c, &w->env, w->scratch);
    atomic_store_explicit(&w->current, NULL, memory_order_relaxed);
    if (r == CONN_CLOSE) {
        worker_close(w, c);
        return;
    }
    if (proto_session_watching(c->sess) != 0 && !conn_writing(c)) {
        worker_handoff(w, c);
        return;
    }
    if (r == CONN_YIELD) {
        c->queued = true;
        c->qnext = w->yield_head;
        w->yield_head = c;
        r = CONN_WAIT_READ;
    }
    worker_watch(w, c, r);
}

static void worker_idle_sweep(struct worker *w)
{
    struct conn *c = w->conns, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        rel_time_t last = atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
        if (!c->queued && !conn_writing(c) && w->env.now - last > (rel_time_t)wopts.idle_timeout) {
            log_msg(LOG_INFO, "idle timeout: closing connection %d", c->fd);
            counter_inc(&w->counters.idle_kicks);
            worker_close_why(w, c, "idle_timeout");
        }
    }
}

/* After a stop: how long a connection that stopped reading its replies may
 * hold the exit up, and how long a drain may take in all. */
#define DRAIN_STALL_MS 1000
#define DRAIN_MAX_MS 10000

static int64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One last step for a connection: serve what it already sent.  A
 * connection with nothing more to read or write is closed. */
static void worker_finish_step(struct worker *w, struct conn *c)
{
    enum conn_wait r;
    w->env.fd = c->fd;
    do {
        r = conn_run(c, &w->env, w->scratch);
    } while (r == CONN_YIELD);
    if (r == CONN_WAIT_WRITE)
        worker_watch(w, c, r);
    else
        worker_close_why(w, c, "shutdown");
}

/*
 * The graceful end of a worker: every request a client sent before the
 * stop is answered and its reply written, then the connection is closed.
 * New connections are no longer accepted by then.  Clients that do not
 * read what they asked for are given up after DRAIN_STALL_MS without
 * progress, so one of them cannot hold the exit (and a service manager's
 * restart) up forever.
 */
static void worker_finish(struct worker *w)
{
    w->env.now = clock_rel_now();
    worker_drain_queue(w);
    for (struct conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        c->queued = false;
        worker_finish_step(w, c);
    }
    int64_t start = ms_now(), progress = start;
    uint64_t written = counter_get(&w->counters.bytes_written);
    struct epoll_event ev[WORKER_EVENTS];
    while (w->conns != NULL) {
        int64_t now = ms_now();
        if (counter_get(&w->counters.bytes_written) != written) {
            written = counter_get(&w->counters.bytes_written);
            progress = now;
        }
        if (now - progress > DRAIN_STALL_MS || now - start > DRAIN_MAX_MS)
            break;
        int n = epoll_wait(w->epfd, ev, WORKER_EVENTS, 50);
        w->env.now = clock_rel_now();
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL || (ev[i].data.u64 & UDP_TAG))
                continue;
            worker_finish_step(w, ev[i].data.ptr);
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev[WORKER_EVENTS];
    rel_time_t last_sweep = 0;
    tls_thread_counters(&w->counters);
    while (!atomic_load_explicit(&stopping, memory_order_relaxed)) {
        int timeout = w->yield_head ? 0 : (wopts.idle_timeout > 0 ? 1000 : -1);
        int n = epoll_wait(w->epfd, ev, WORKER_EVENTS, timeout);
        w->env.now = clock_rel_now();
        /* Connections that yielded last turn go again, after the new events. */
        struct conn *again = w->yield_head;
        w->yield_head = NULL;
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == NULL) {
                worker_drain_queue(w);
                continue;
            }
            if (ev[i].data.u64 & UDP_TAG) {
                udp_port_serve((struct udp_port *)(uintptr_t)(ev[i].data.u64 & ~(uint64_t)UDP_TAG),
                               &w->env);
                continue;
            }
            struct conn *c = ev[i].data.ptr;
            if (!c->queued)
                worker_step(w, c);
        }
        while (again != NULL) {
            struct conn *c = again;
            again = c->qnext;
            c->queued = false;
            worker_step(w, c);
        }
        if (wopts.idle_timeout > 0 && w->env.now != last_sweep) {
            last_sweep = w->env.now;
            worker_idle_sweep(w);
        }
    }
    worker_finish(w);
    tls_thread_exit();
    return NULL;
}

static int worker_init(struct worker *w, int id)
{
    w->id = id;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->epfd < 0 || w->evfd < 0)
        return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) != 0)
        return -errno;
    pthread_mutex_init(&w->qlock, NULL);
    pthread_mutex_init(&w->list_lock, NULL);
    w->env.settings = wopts.settings;
    w->env.hooks = wopts.hooks;
    w->env.counters = &w->counters;
    w->env.timing = wopts.timing ? &w->timing : NULL;
    w->env.now = clock_rel_now();
    for (int i = 0; i < wopts.nudp && i < WORKER_UDP_MAX; i++) {
        int fd = dup(wopts.udp_fds[i]);
        if (fd < 0)
            return -errno;
        struct udp_port *u = udp_port_new(fd);
        if (u == NULL) {
            close(fd);
            return -ENOMEM;
        }
        w->udp[w->nudp++] = u;
        /* One datagram wakes one worker, not all of them. */
        struct epoll_event uev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                   .data.u64 = (uint64_t)(uintptr_t)u | UDP_TAG };
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &uev) != 0)
            return -errno;
    }
    return 0;
}

int workers_start(const struct worker_options *opt)
{
    wopts = *opt;
    nworkers = opt->threads;
    atomic_store(&stopping, false);
    nstarted = 0;
    workers = aligned_alloc(64, sizeof(*workers) * (size_t)nworkers);
    if (workers == NULL)
        return -ENOMEM;
    memset(workers, 0, sizeof(*workers) * (size_t)nworkers);
    for (int i = 0; i < nworkers; i++)
        workers[i].epfd = workers[i].evfd = -1;
    for (int i = 0; i < nworkers; i++) {
        int rc = worker_init(&workers[i], i);
        if (rc != 0)
            return rc;
    }
    for (nstarted = 0; nstarted < nworkers; nstarted++) {
        int rc = pthread_create(&workers[nstarted].thread, NULL, worker_main, &workers[nstarted]);
        if (rc != 0)
            return -rc;
    }
    return 0;
}

void workers_stop(void)
{
    if (workers == NULL)
        return;
    atomic_store(&stopping, true);
    for (int i = 0; i < nstarted; i++) {
        uint64_t one = 1;
        if (write(workers[i].evfd, &one, sizeof(one)) < 0)
            log_msg(LOG_ERROR, "worker %d: wake: %s", i, strerror(errno));
    }
    for (int i = 0; i < nstarted; i++)
        pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        while (w->conns != NULL)
            worker_close_why(w, w->conns, "shutdown");
        for (; w->qlen > 0; w->qlen--, w->qhead = (w->qhead + 1) % WORKER_QUEUE)
            close(w->queue[w->qhead] >> 1);
        for (int k = 0; k < w->nudp; k++)
            udp_port_free(w->udp[k]);
        if (w->epfd >= 0)
            close(w->epfd);
        if (w->evfd >= 0)
            close(w->evfd);
        pthread_mutex_destroy(&w->qlock);
        pthread_mutex_destroy(&w->list_lock);
    }
    free(workers);
    workers = NULL;
}

int workers_dispatch(int fd, bool tls)
{
    struct worker *w = &workers[next_worker++ % (unsigned)nworkers];
    pthread_mutex_lock(&w->qlock);
    if (w->qlen == WORKER_QUEUE) {
        pthread_mutex_unlock(&w->qlock);
        return -EAGAIN;
    }
    w->queue[(w->qhead + w->qlen) % WORKER_QUEUE] = fd << 1 | (tls ? 1 : 0);
    w->qlen++;
    pthread_mutex_unlock(&w->qlock);
    atomic_fetch_add(&curr_conns, 1);
    atomic_fetch_add(&total_conns, 1);
    uint64_t one = 1;
    if (write(w->evfd, &one, sizeof(one)) < 0)
        log_msg(LOG_ERROR, "worker %d: wake: %s", w->id, strerror(errno));
    return 0;
}

uint64_t workers_curr_conns(void) { return atomic_load(&curr_conns); }

uint64_t workers_total_conns(void) { return atomic_load(&total_conns); }

uint64_t workers_closed(void) { return atomic_load(&closed_conns); }

void workers_sum_counters(struct proto_counters *out)
{
    memset(out, 0, sizeof(*out));
    counter_t *dst = (counter_t *)out;
    size_t n = sizeof(*out) / sizeof(counter_t);
    for (int i = 0; i < nworkers; i++) {
        const counter_t *src = (const counter_t *)&workers[i].counters;
        for (size_t k = 0; k < n; k++)
            counter_add(&dst[k], counter_get(&src[k]));
    }
}

void workers_sum_timing(struct proto_timing *out)
{
    memset(out, 0, sizeof(*out));
    counter_t *dst = (counter_t *)out;
    size_t n = sizeof(*out) / sizeof(counter_t);
    for (int i = 0; i < nworkers; i++) {
        const counter_t *src = (const counter_t *)&workers[i].timing;
        for (size_t k = 0; k < n; k++)
            counter_add(&dst[k], counter_get(&src[k]));
    }
}

void workers_conn_stats(struct stats_sink *s, rel_time_t now)
{
    char name[32];
#define CONN_STAT(fd, what, fmt, v) \
    (snprintf(name, sizeof(name), "%d:" what, fd), stats_add(s, name, fmt, v))
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_mutex_lock(&w->list_lock);
        for (int k = 0; k < w->nudp; k++)
            udp_port_stats(w->udp[k], s, now);
        struct conn *current = atomic_load_explicit(&w->current, memory_order_relaxed);
        for (struct conn *c = w->conns; c != NULL; c = c->next) {
            int waiting = atomic_load_explicit(&c->waiting, memory_order_relaxed);
            rel_time_t last = atomic_load_explicit(&c->last_cmd, memory_order_relaxed);
            const char *state = c == current ? "conn_parse_cmd"
                                : waiting == CONN_WAIT_WRITE ? "conn_mwrite" : "conn_waiting";
            CONN_STAT(c->fd, "addr", "%s", c->addr);
            CONN_STAT(c->fd, "listen_addr", "%s", c->listen_addr);
            CONN_STAT(c->fd, "state", "%s", state);
            CONN_STAT(c->fd, "secs_since_last_cmd", "%u", now >= last ? now - last : 0);
        }
        pthread_mutex_unlock(&w->list_lock);
    }
#undef CONN_STAT
}
