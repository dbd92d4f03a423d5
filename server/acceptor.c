/*
 * acceptor: one thread, one epoll set over every listening socket, plus an
 * eventfd that wakes it: to stop (acceptor_stop), or to run a reload on
 * this thread (acceptor_wake: SIGHUP).  An accepted socket is made non-blocking and
 * handed round-robin to a worker; the acceptor never reads from it.
 *
 * Over -c connections a new client gets memcached's "ERROR Too many open
 * connections" and is closed at once (memcached's maxconns_fast), instead
 * of waiting in the backlog.  Unlike memcached, -c counts client
 * connections, not file descriptor numbers.
 *
 * When accept() fails for want of descriptors (EMFILE, ENFILE) or memory,
 * the listening sockets are level-triggered and would wake us again at
 * once: as memcached does, the acceptor stops watching them and shrinks
 * their backlog, so new clients wait in the kernel, and tries again every
 * PAUSE_POLL_MS once a connection has closed (or after PAUSE_RETRY_MS in
 * any case: another process may have freed descriptors).  A run of failed
 * attempts counts once in listen_disabled_num and is logged once; the
 * paused time adds up in time_in_listen_disabled_us.
 */
#include "acceptor.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "worker.h"

#define ACCEPTOR_MAX_FDS 128
#define PAUSE_POLL_MS 10
#define PAUSE_RETRY_MS 1000

struct listener {
    int fd;
    bool is_unix;
    bool tls;                   /* -Z, and no notls: prefix */
    char name[128];
};

static struct listener listeners[ACCEPTOR_MAX_FDS];
static int nlisteners;
static int epfd = -1, stopfd = -1;
/* Set before stopfd is written by acceptor_stop (a signal handler, or a
 * worker serving `shutdown`); read by the acceptor once woken. */
static atomic_bool stop_asked;
static int maxconns;
static int backlog;
static char *unix_path;
static _Atomic uint64_t rejected;

/* The pause after accept() ran out of descriptors.  Only the acceptor
 * thread writes; `stats` reads the atomics from the workers. */
static struct {
    bool paused;
    bool failing;               /* accept failed since the last success: log no more */
    struct timespec since;      /* when the current pause began */
    uint64_t closes_at_pause;   /* workers_closed() then */
    _Atomic bool accepting;
    _Atomic uint64_t disabled_num;
    _Atomic uint64_t disabled_us;
} pause_state = { .accepting = true };

static int listener_add(int fd, bool is_unix, bool tls, const char *name)
{
    if (nlisteners == ACCEPTOR_MAX_FDS) {
        close(fd);
        return -EMFILE;
    }
    struct listener *l = &listeners[nlisteners++];
    l->fd = fd;
    l->is_unix = is_unix;
    l->tls = tls;
    snprintf(l->name, sizeof(l->name), "%s", name);
    return 0;
}

static int listen_unix(const struct config *cfg)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(cfg->unix_socket) >= sizeof(sa.sun_path)) {
        log_msg(LOG_ERROR, "unix socket path too long: %s", cfg->unix_socket);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, cfg->unix_socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A stale socket file from a previous run would make bind fail. */
    struct stat st;
    if (lstat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(sa.sun_path);
    mode_t old = umask((mode_t)(~cfg->unix_mask & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    /* memcached's words: what failed, then where. */
    if (rc != 0 || listen(fd, cfg->backlog) != 0) {
        int e = errno;
        log_msg(LOG_ERROR, "%s(): %s", rc != 0 ? "bind" : "listen", strerror(e));
        log_msg(LOG_ERROR, "failed to listen on UNIX socket: %s: %s", sa.sun_path, strerror(e));
        close(fd);
        return -e;
    }
    unix_path = strdup(sa.sun_path);
    char name[128];
    snprintf(name, sizeof(name), "unix:%s", sa.sun_path);
    return listener_add(fd, true, false, name);
}

static int listen_tcp(const char *host, int port, int backlog, bool tls)
{
    struct net_socket socks[8];
    int n = net_bind(host, port, false, backlog, socks, 8);
    for (int i = 0; i < n; i++) {
        int rc = listener_add(socks[i].fd, false, tls, socks[i].name);
        if (rc != 0) {
            while (++i < n)
                close(socks[i].fd);
            return rc;
        }
    }
    return n < 0 ? n : 0;
}

int acceptor_listen(const struct config *cfg)
{
    int rc = 0;
    maxconns = cfg->maxconns;
    backlog = cfg->backlog;
    if (cfg->unix_socket != NULL) {
        /* As memcached: a unix socket replaces the TCP listeners. */
        rc = listen_unix(cfg);
    } else if (cfg->nlisten == 0) {
        rc = listen_tcp(NULL, cfg->port, cfg->backlog, cfg->ssl_enabled);
    } else {
        for (int i = 0; i < cfg->nlisten && rc == 0; i++) {
            const struct config_listen *l = &cfg->listen[i];
            rc = listen_tcp(l->host, l->port ? l->port : cfg->port, cfg->backlog,
                            cfg->ssl_enabled && !l->notls);
        }
    }
    if (rc != 0)
        return rc;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epfd < 0 || stopfd < 0)
        return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
    epoll_ctl(epfd, EPOLL_CTL_ADD, stopfd, &ev);
    for (int i = 0; i < nlisteners; i++) {
        ev.data.u32 = (uint32_t)i;
        epoll_ctl(epfd, EPOLL_CTL_ADD, listeners[i].fd, &ev);
    }
    return 0;
}

static void acceptor_reject(int fd)
{
    static const char msg[] = "ERROR Too many open connections\r\n";
    atomic_fetch_add(&rejected, 1);
    if (write(fd, msg, sizeof(msg) - 1) < 0)
        log_msg(LOG_INFO, "could not tell a rejected client: %s", strerror(errno));
    close(fd);
}

static uint64_t elapsed_us(const struct timespec *from)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (int64_t)(now.tv_sec - from->tv_sec) * 1000000 +
                 (now.tv_nsec - from->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

/* Watch the listening sockets again (or stop), with memcached's backlogs. */
static void listeners_watch(bool on)
{
    for (int i = 0; i < nlisteners; i++) {
        struct epoll_event ev = { .events = on ? EPOLLIN : 0, .data.u32 = (uint32_t)i };
        epoll_ctl(epfd, EPOLL_CTL_MOD, listeners[i].fd, &ev);
        if (listen(listeners[i].fd, on ? backlog : 0) != 0)
            log_msg(LOG_INFO, "listen(): %s", strerror(errno));
    }
}

/* accept() failed for want of a resource: stop accepting for a while. */
static void acceptor_pause(int err)
{
    /* A retry that fails again continues the same episode. */
    if (!pause_state.failing) {
        log_msg(LOG_INFO, "Too many open connections (accept(): %s): new connections wait "
                          "until one closes", strerror(err));
        atomic_fetch_add(&pause_state.disabled_num, 1);
    }
    pause_state.failing = true;
    pause_state.paused = true;
    clock_gettime(CLOCK_MONOTONIC, &pause_state.since);
    pause_state.closes_at_pause = workers_closed();
    atomic_store(&pause_state.accepting, false);
    listeners_watch(false);
}

/* Called on every wake-up while paused: resume once it may work. */
static void acceptor_maybe_resume(void)
{
    uint64_t us = elapsed_us(&pause_state.since);
    if (workers_closed() == pause_state.closes_at_pause && us < PAUSE_RETRY_MS * 1000ULL)
        return;
    pause_state.paused = false;
    atomic_fetch_add(&pause_state.disabled_us, us);
    atomic_store(&pause_state.accepting, true);
    listeners_watch(true);
}

static void acceptor_drain(struct listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                acceptor_pause(e);
            else if (e != EAGAIN && e != EWOULDBLOCK)
                log_msg(LOG_INFO, "accept(): %s", strerror(e));
            return;
        }
        if (pause_state.failing) {
            pause_state.failing = false;
            log_msg(LOG_INFO, "accepting new connections again");
        }
        if (workers_curr_conns() >= (uint64_t)maxconns) {
            log_msg(LOG_INFO, "Too many open connections");
            acceptor_reject(fd);
            continue;
        }
        if (!l->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (workers_dispatch(fd, l->tls) != 0)
            acceptor_reject(fd);
        /* A pause may have begun on another listener of this wake-up. */
        if (pause_state.paused)
            return;
    }
}

void acceptor_run(void (*on_wake)(void))
{
    struct epoll_event ev[16];
    for (;;) {
        int n = epoll_wait(epfd, ev, 16, pause_state.paused ? PAUSE_POLL_MS : -1);
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == UINT32_MAX) {
                uint64_t count;
                if (read(stopfd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                    log_msg(LOG_INFO, "acceptor: eventfd read: %s", strerror(errno));
                if (atomic_load(&stop_asked))
                    return;
                if (on_wake != NULL)
                    on_wake();
                continue;
            }
            if (!pause_state.paused)
                acceptor_drain(&listeners[ev[i].data.u32]);
        }
        if (pause_state.paused)
            acceptor_maybe_resume();
    }
}

void acceptor_stop(void)
{
    atomic_store(&stop_asked, true);
    acceptor_wake();
}

void acceptor_wake(void)
{
    uint64_t one = 1;
    if (stopfd >= 0 && write(stopfd, &one, sizeof(one)) < 0)
        return;
}

void acceptor_close(void)
{
    for (int i = 0; i < nlisteners; i++)
        close(listeners[i].fd);
    nlisteners = 0;
    if (unix_path != NULL) {
        unlink(unix_path);
        free(unix_path);
        unix_path = NULL;
    }
    if (epfd >= 0)
        close(epfd);
    if (stopfd >= 0)
        close(stopfd);
    epfd = stopfd = -1;
}

uint64_t acceptor_rejected(void) { return atomic_load(&rejected); }

void acceptor_listen_stats(bool *accepting, uint64_t *disabled_num, uint64_t *disabled_us)
{
    *accepting = atomic_load(&pause_state.accepting);
    *disabled_num = atomic_load(&pause_state.disabled_num);
    *disabled_us = atomic_load(&pause_state.disabled_us);
}

void acceptor_conn_stats(struct stats_sink *s, rel_time_t now)
{
    (void)now;
    char name[32];
    for (int i = 0; i < nlisteners; i++) {
        int fd = listeners[i].fd;
        snprintf(name, sizeof(name), "%d:addr", fd);
        stats_add(s, name, "%s", listeners[i].name);
        snprintf(name, sizeof(name), "%d:state", fd);
        stats_add(s, name, "%s", "conn_listening");
        snprintf(name, sizeof(name), "%d:secs_since_last_cmd", fd);
        stats_add(s, name, "%u", 0u);
    }
}
