/*
 * acceptor: one thread, one epoll set over every listening socket, plus an
 * eventfd that stops it.  An accepted socket is made non-blocking and
 * handed round-robin to a worker; the acceptor never reads from it.
 *
 * Over -c connections a new client gets memcached's "ERROR Too many open
 * connections" and is closed at once (memcached's maxconns_fast), instead
 * of waiting in the backlog.  Unlike memcached, -c counts client
 * connections, not file descriptor numbers.
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
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define ACCEPTOR_MAX_FDS 128

struct listener {
    int fd;
    bool is_unix;
    char name[128];
};

static struct listener listeners[ACCEPTOR_MAX_FDS];
static int nlisteners;
static int epfd = -1, stopfd = -1;
static int maxconns;
static char *unix_path;
static _Atomic uint64_t rejected;

static int listener_add(int fd, bool is_unix, const char *name)
{
    if (nlisteners == ACCEPTOR_MAX_FDS) {
        close(fd);
        return -EMFILE;
    }
    struct listener *l = &listeners[nlisteners++];
    l->fd = fd;
    l->is_unix = is_unix;
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
    if (rc != 0 || listen(fd, cfg->backlog) != 0) {
        int e = errno;
        log_msg(LOG_ERROR, "failed to listen on unix socket %s: %s", sa.sun_path, strerror(e));
        close(fd);
        return -e;
    }
    unix_path = strdup(sa.sun_path);
    char name[128];
    snprintf(name, sizeof(name), "unix:%s", sa.sun_path);
    return listener_add(fd, true, name);
}

static int listen_tcp(const char *host, int port, int backlog)
{
    struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo *ai;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        log_msg(LOG_ERROR, "getaddrinfo(%s): %s", host ? host : "*", gai_strerror(rc));
        return -EINVAL;
    }
    int opened = 0, err = 0;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            err = errno;
            close(fd);
            /* An address family the host lacks is not an error when
             * another one bound (memcached does the same). */
            if (err == EADDRNOTAVAIL || err == EAFNOSUPPORT)
                continue;
            log_msg(LOG_ERROR, "failed to listen on TCP port %d: %s", port, strerror(err));
            freeaddrinfo(ai);
            return -err;
        }
        char host_s[NI_MAXHOST] = "", name[128];
        getnameinfo(a->ai_addr, a->ai_addrlen, host_s, sizeof(host_s), NULL, 0, NI_NUMERICHOST);
        snprintf(name, sizeof(name), a->ai_family == AF_INET6 ? "tcp6:[%s]:%d" : "tcp:%s:%d",
                 host_s, port);
        rc = listener_add(fd, false, name);
        if (rc != 0) {
            freeaddrinfo(ai);
            return rc;
        }
        opened++;
    }
    freeaddrinfo(ai);
    if (opened == 0) {
        log_msg(LOG_ERROR, "failed to listen on TCP port %d: %s", port, strerror(err));
        return -(err ? err : EADDRNOTAVAIL);
    }
    return 0;
}

int acceptor_listen(const struct config *cfg)
{
    int rc = 0;
    maxconns = cfg->maxconns;
    if (cfg->unix_socket != NULL) {
        /* As memcached: a unix socket replaces the TCP listeners. */
        rc = listen_unix(cfg);
    } else if (cfg->nlisten == 0) {
        rc = listen_tcp(NULL, cfg->port, cfg->backlog);
    } else {
        for (int i = 0; i < cfg->nlisten && rc == 0; i++) {
            const struct config_listen *l = &cfg->listen[i];
            rc = listen_tcp(l->host, l->port ? l->port : cfg->port, cfg->backlog);
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

static void acceptor_drain(struct listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_msg(LOG_INFO, "accept(): %s", strerror(errno));
            return;
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
        if (workers_dispatch(fd) != 0)
            acceptor_reject(fd);
    }
}

void acceptor_run(void)
{
    struct epoll_event ev[16];
    for (;;) {
        int n = epoll_wait(epfd, ev, 16, -1);
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERROR, "epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) {
            if (ev[i].data.u32 == UINT32_MAX)
                return;
            acceptor_drain(&listeners[ev[i].data.u32]);
        }
    }
}

void acceptor_stop(void)
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

void acceptor_conn_stats(struct reply *r, rel_time_t now)
{
    (void)now;
    for (int i = 0; i < nlisteners; i++) {
        reply_printf(r, "STAT %d:addr %s\r\n", listeners[i].fd, listeners[i].name);
        reply_printf(r, "STAT %d:state conn_listening\r\n", listeners[i].fd);
        reply_printf(r, "STAT %d:secs_since_last_cmd %u\r\n", listeners[i].fd, 0u);
    }
}
