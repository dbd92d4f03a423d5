/*
 * watchers: the connections that asked for `watch`, and the thread that
 * writes the log lines to them.
 *
 * A client that sends `watch` stops being a client.  It is registered
 * before its OK is sent (watchers_add), so nothing that happens once the
 * client has read the OK is missed; its lines wait until the OK is written
 * and the worker hands the socket over (watchers_start) and forgets it.  Lines
 * come from any thread (protocol/watch.c formats them, only for the streams
 * watch_mask says someone watches) and are appended, under one mutex, to
 * each interested watcher's buffer; the thread writes the buffers out.  As
 * in memcached, a watcher that does not keep up loses lines rather than
 * slowing anyone down: past WATCHER_BUF bytes waiting, lines are dropped
 * and counted, and the watcher is told "skipped=N" once there is room.  The
 * mutex is taken only while someone watches; with nobody watching, a
 * request pays one relaxed load of watch_mask per event.
 */
#include "watchers.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "reply.h"
#include "tls.h"
#include "watch.h"

/* memcached's limits: LOGGER_MAX_WATCHERS and watcher_logbuf_size. */
#define WATCHERS_MAX 20
#define WATCHER_BUF (256 * 1024)

struct watcher {
    int fd;                     /* -1: a free slot */
    bool live;                  /* handed over: the thread may write to it */
    struct tls_conn *tls;       /* its TLS session (-Z), or NULL [lock; the thread's once live] */
    unsigned flags;
    char *buf;                  /* lines waiting [lock] */
    size_t len;
    uint64_t skipped;           /* lines dropped since the last "skipped=" [lock] */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct watcher watchers[WATCHERS_MAX];   /* [lock] */
static int nwatchers;                           /* [lock] */
static bool running, stopping;                  /* [lock] */
static pthread_t thread;

static void evicted(const struct cache_item_info *info, rel_time_t now)
{
    watch_eviction(info->key, info->nkey, info->fetched,
                   info->exptime ? (long long)info->exptime - (long long)now : -1,
                   (int)(now - info->atime), info->cls, info->vlen);
}

/* The streams anyone watches, after a change of watchers (lock held). */
static void update_mask(void)
{
    unsigned mask = 0;
    for (int i = 0; i < WATCHERS_MAX; i++)
        if (watchers[i].fd >= 0)
            mask |= watchers[i].flags;
    atomic_store(&watch_mask, mask);
    cache_watch_evictions(mask & WATCH_EVICTIONS ? evicted : NULL);
}

static void sink(unsigned flag, const char *line, size_t len)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < WATCHERS_MAX; i++) {
        struct watcher *w = &watchers[i];
        if (w->fd < 0 || !(w->flags & flag))
            continue;
        if (w->len + len > WATCHER_BUF) {
            w->skipped++;
            continue;
        }
        if (w->skipped > 0 && w->len + len + 32 <= WATCHER_BUF) {
            w->len += (size_t)snprintf(w->buf + w->len, 32, "skipped=%llu\n",
                                       (unsigned long long)w->skipped);
            w->skipped = 0;
        }
        memcpy(w->buf + w->len, line, len);
        w->len += len;
    }
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
}

static void drop(struct watcher *w)
{
    tls_conn_free(w->tls);
    w->tls = NULL;
    close(w->fd);
    w->fd = -1;
    w->len = 0;
    w->skipped = 0;
    nwatchers--;
    update_mask();
}

/* Whether the watcher hung up (what it sends is read and ignored). */
static bool hung_up(int fd)
{
    char junk[512];
    for (;;) {
        ssize_t r = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (r == 0)
            return true;
        if (r < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
}

/* Wait until the (non-blocking) socket takes more: false after a second,
 * the most a watcher that stopped reading may hold the writer up. */
static bool writable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int r;
    while ((r = poll(&p, 1, 1000)) < 0 && errno == EINTR)
        ;
    return r > 0 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* Write out[0..n) to a watcher, through its TLS session if it has one, as
 * memcached writes watcher lines through the connection's own transport;
 * false if it failed or the client stopped reading. */
static bool write_out(int fd, struct tls_conn *tls, const char *out, size_t n)
{
    if (tls != NULL) {
        struct reply r;
        reply_init(&r);
        reply_add(&r, out, n);
        uint64_t written = 0;
        int rc = r.oom ? -1 : 0;
        while (rc == 0 && (rc = tls_conn_flush(tls, &r, &written)) == 0)
            if (!writable(fd))
                rc = -1;
        reply_free(&r);
        return rc == 1;
    }
    for (size_t done = 0; done < n;) {
        ssize_t s = send(fd, out + done, n - done, MSG_NOSIGNAL);
        if (s < 0 && errno == EINTR)
            continue;
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && writable(fd))
            continue;
        if (s <= 0)
            return false;
        done += (size_t)s;
    }
    return true;
}

static void *watchers_main(void *arg)
{
    (void)arg;
    char *out = malloc(WATCHER_BUF);
    pthread_mutex_lock(&lock);
    while (!stopping && out != NULL) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&wake, &lock, &until);
        for (int i = 0; i < WATCHERS_MAX && !stopping; i++) {
            struct watcher *w = &watchers[i];
            if (w->fd < 0 || !w->live)
                continue;
            if (hung_up(w->fd)) {
                drop(w);
                continue;
            }
            size_t n = w->len;
            memcpy(out, w->buf, n);
            w->len = 0;
            int fd = w->fd;
            struct tls_conn *tls = w->tls;
            /* Written without the lock: the workers keep appending meanwhile. */
            pthread_mutex_unlock(&lock);
            bool failed = !write_out(fd, tls, out, n);
            pthread_mutex_lock(&lock);
            if (failed && w->fd == fd)
                drop(w);
        }
    }
    for (int i = 0; i < WATCHERS_MAX; i++)
        if (watchers[i].fd >= 0)
            drop(&watchers[i]);
    pthread_mutex_unlock(&lock);
    free(out);
    tls_thread_exit();          /* the buffer TLS writes gathered in */
    return NULL;
}

void watchers_setup(void)
{
    for (int i = 0; i < WATCHERS_MAX; i++)
        watchers[i].fd = -1;
    watch_set_sink(sink);
}

int watchers_add(int fd, unsigned flags)
{
    pthread_mutex_lock(&lock);
    int rc = -EMFILE;
    for (int i = 0; i < WATCHERS_MAX && !stopping; i++) {
        struct watcher *w = &watchers[i];
        if (w->fd >= 0)
            continue;
        if (w->buf == NULL && (w->buf = malloc(WATCHER_BUF)) == NULL) {
            rc = -ENOMEM;
            break;
        }
        if (!running) {
            if (pthread_create(&thread, NULL, watchers_main, NULL) != 0) {
                rc = -EAGAIN;
                break;
            }
            running = true;
        }
        w->fd = fd;
        w->live = false;
        w->flags = flags;
        w->len = 0;
        w->skipped = 0;
        nwatchers++;
        update_mask();
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void watchers_start(int fd, struct tls_conn *tls)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < WATCHERS_MAX; i++) {
        if (watchers[i].fd == fd && !watchers[i].live) {
            watchers[i].tls = tls;
            watchers[i].live = true;
            pthread_cond_signal(&wake);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

void watchers_forget(int fd)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < WATCHERS_MAX; i++) {
        struct watcher *w = &watchers[i];
        if (w->fd == fd && !w->live) {
            /* Its connection is closing it: the slot goes, not the socket. */
            w->fd = -1;
            w->len = 0;
            w->skipped = 0;
            nwatchers--;
            update_mask();
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

void watchers_teardown(void)
{
    pthread_mutex_lock(&lock);
    stopping = true;
    bool was_running = running;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    if (was_running)
        pthread_join(thread, NULL);
    watch_set_sink(NULL);
    for (int i = 0; i < WATCHERS_MAX; i++) {
        free(watchers[i].buf);
        watchers[i].buf = NULL;
    }
}
