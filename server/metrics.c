/*
 * metrics: Prometheus's text exposition format over HTTP, on its own port
 * and its own thread, so a scrape never runs on a worker.
 *
 * What it shows is what `stats`, `stats slabs` and `stats items` show: the
 * page is built by running those lists into a sink that turns each
 * statistic into a sample, named as prometheus/memcached_exporter names it
 * where it has a name for it (memcached_commands_total{command,status},
 * memcached_current_items, memcached_slab_chunks_used{slab}, ...) and
 * memcached_<stat> / memcached_slab_<stat>{slab} otherwise; dashboards
 * built on the exporter keep working.  On top come the per-command latency
 * histograms (mcd_command_duration_seconds) that the workers keep, each its
 * own with one writer per counter: the request path takes no lock for
 * them, the scrape sums them.
 *
 * The HTTP side is the least that Prometheus needs: one request per
 * connection, GET (or HEAD) /metrics, answered and closed.  Scrapes are
 * rare and served one at a time; a client gets two seconds to send its
 * request.
 */
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "net.h"
#include "stats.h"
#include "worker.h"

#define METRICS_MAX_FDS 32
#define METRICS_FAMILIES 160

/* --- families: samples grouped by metric name, as the format requires ---- */

struct family {
    char name[96];
    const char *type;           /* "counter", "gauge", or NULL (untyped) */
    const char *help;
    char *buf;                  /* its sample lines */
    size_t len;
    FILE *f;
};

struct page {
    struct family fam[METRICS_FAMILIES];
    int n;
};

static struct family *family(struct page *p, const char *name, const char *type,
                             const char *help)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->fam[i].name, name) == 0)
            return &p->fam[i];
    if (p->n == METRICS_FAMILIES)
        return NULL;
    struct family *f = &p->fam[p->n];
    f->f = open_memstream(&f->buf, &f->len);
    if (f->f == NULL)
        return NULL;
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->type = type;
    f->help = help;
    p->n++;
    return f;
}

/* One sample: labels is "" or `slab="3",command="get"`. */
static void sample(struct page *p, const char *name, const char *type, const char *help,
                   const char *labels, const char *value)
{
    struct family *f = family(p, name, type, help);
    if (f == NULL)
        return;
    /* `stats slabs` and `stats items` both list a few figures (mem_requested):
     * a series appears once. */
    char series[320];
    int n = labels[0] ? snprintf(series, sizeof(series), "%s{%s} ", name, labels)
                      : snprintf(series, sizeof(series), "%s ", name);
    fflush(f->f);
    for (const char *at = f->buf; at != NULL && (at = strstr(at, series)) != NULL; at++) {
        if (at == f->buf || at[-1] == '\n')
            return;
    }
    fprintf(f->f, "%.*s%s\n", n, series, value);
}

static void page_write(struct page *p, FILE *out)
{
    for (int i = 0; i < p->n; i++) {
        struct family *f = &p->fam[i];
        fclose(f->f);
        if (f->help)
            fprintf(out, "# HELP %s %s\n", f->name, f->help);
        if (f->type)
            fprintf(out, "# TYPE %s %s\n", f->name, f->type);
        fwrite(f->buf, 1, f->len, out);
        free(f->buf);
    }
    p->n = 0;
}

/* --- statistics to samples ------------------------------------------------ */

/* A statistic the exporter has a name for. */
struct mapping {
    const char *stat;
    const char *metric;
    const char *type;
    const char *labels;         /* fixed labels, or NULL */
    const char *help;
};

static const struct mapping general[] = {
    {"uptime", "memcached_uptime_seconds", "counter", NULL, "Seconds since the server started."},
    {"time", "memcached_time_seconds", "gauge", NULL, "Current unix time of the server."},
    {"rusage_user", "memcached_process_user_cpu_seconds_total", "counter", NULL,
     "User CPU time of the process."},
    {"rusage_system", "memcached_process_system_cpu_seconds_total", "counter", NULL,
     "System CPU time of the process."},
    {"bytes_read", "memcached_read_bytes_total", "counter", NULL, "Bytes read from clients."},
    {"bytes_written", "memcached_written_bytes_total", "counter", NULL,
     "Bytes written to clients."},
    {"curr_connections", "memcached_current_connections", "gauge", NULL,
     "Open client connections."},
    {"max_connections", "memcached_max_connections", "gauge", NULL, "The -c limit."},
    {"total_connections", "memcached_connections_total", "counter", NULL,
     "Connections accepted since start."},
    {"rejected_connections", "memcached_connections_rejected_total", "counter", NULL,
     "Connections refused over -c."},
    {"conn_yields", "memcached_connections_yielded_total", "counter", NULL,
     "Times a connection yielded at -R."},
    {"listen_disabled_num", "memcached_connections_listener_disabled_total", "counter", NULL,
     "Times accepting paused for want of descriptors."},
    {"accepting_conns", "memcached_accepting_connections", "gauge", NULL,
     "Whether new connections are accepted."},
    {"bytes", "memcached_current_bytes", "gauge", NULL, "Bytes of the items stored."},
    {"limit_maxbytes", "memcached_limit_bytes", "gauge", NULL, "The -m limit in bytes."},
    {"curr_items", "memcached_current_items", "gauge", NULL, "Items stored now."},
    {"total_items", "memcached_items_total", "counter", NULL, "Items stored since start."},
    {"evictions", "memcached_items_evicted_total", "counter", NULL,
     "Live items evicted to make room."},
    {"reclaimed", "memcached_items_reclaimed_total", "counter", NULL,
     "Stores that reused an expired item's memory."},
    {"store_too_large", "memcached_item_too_large_total", "counter", NULL,
     "Stores refused over -I."},
    {"store_no_memory", "memcached_item_no_memory_total", "counter", NULL,
     "Stores refused for want of memory."},
    {"direct_reclaims", "memcached_direct_reclaims_total", "counter", NULL,
     "Times a request had to evict or reclaim."},
    {"lru_crawler_starts", "memcached_lru_crawler_starts_total", "counter", NULL,
     "Crawler runs."},
    {"crawler_reclaimed", "memcached_lru_crawler_reclaimed_total", "counter", NULL,
     "Items the crawler freed."},
    {"crawler_items_checked", "memcached_lru_crawler_items_checked_total", "counter", NULL,
     "Items the crawler looked at."},
    {"moves_to_cold", "memcached_lru_crawler_moves_to_cold_total", "counter", NULL, NULL},
    {"moves_to_warm", "memcached_lru_crawler_moves_to_warm_total", "counter", NULL, NULL},
    {"moves_within_lru", "memcached_lru_crawler_moves_within_lru_total", "counter", NULL, NULL},
    {"total_malloced", "memcached_malloced_bytes", "gauge", NULL,
     "Bytes of slab pages allocated."},
    {"get_hits", "memcached_commands_total", "counter", "command=\"get\",status=\"hit\"", NULL},
    {"get_misses", "memcached_commands_total", "counter", "command=\"get\",status=\"miss\"", NULL},
    {"get_expired", "memcached_commands_total", "counter", "command=\"get\",status=\"expired\"",
     NULL},
    {"get_flushed", "memcached_commands_total", "counter", "command=\"get\",status=\"flushed\"",
     NULL},
    {"delete_hits", "memcached_commands_total", "counter", "command=\"delete\",status=\"hit\"",
     NULL},
    {"delete_misses", "memcached_commands_total", "counter",
     "command=\"delete\",status=\"miss\"", NULL},
    {"incr_hits", "memcached_commands_total", "counter", "command=\"incr\",status=\"hit\"", NULL},
    {"incr_misses", "memcached_commands_total", "counter", "command=\"incr\",status=\"miss\"",
     NULL},
    {"decr_hits", "memcached_commands_total", "counter", "command=\"decr\",status=\"hit\"", NULL},
    {"decr_misses", "memcached_commands_total", "counter", "command=\"decr\",status=\"miss\"",
     NULL},
    {"cas_hits", "memcached_commands_total", "counter", "command=\"cas\",status=\"hit\"", NULL},
    {"cas_misses", "memcached_commands_total", "counter", "command=\"cas\",status=\"miss\"", NULL},
    {"cas_badval", "memcached_commands_total", "counter", "command=\"cas\",status=\"badval\"",
     NULL},
    {"touch_hits", "memcached_commands_total", "counter", "command=\"touch\",status=\"hit\"", NULL},
    {"touch_misses", "memcached_commands_total", "counter", "command=\"touch\",status=\"miss\"",
     NULL},
    {"cmd_set", "memcached_commands_total", "counter", "command=\"set\",status=\"hit\"", NULL},
    {"cmd_flush", "memcached_commands_total", "counter", "command=\"flush\",status=\"hit\"", NULL},
};

/* Per class: `stats slabs` "N:field" and `stats items` "items:N:field". */
static const struct mapping per_class[] = {
    {"chunk_size", "memcached_slab_chunk_size_bytes", "gauge", NULL, NULL},
    {"number_hot", "memcached_slab_hot_items", "gauge", NULL, NULL},
    {"number_warm", "memcached_slab_warm_items", "gauge", NULL, NULL},
    {"number_cold", "memcached_slab_cold_items", "gauge", NULL, NULL},
    {"number_temp", "memcached_slab_temporary_items", "gauge", NULL, NULL},
    {"age_hot", "memcached_slab_hot_age_seconds", "gauge", NULL, NULL},
    {"age_warm", "memcached_slab_warm_age_seconds", "gauge", NULL, NULL},
    {"chunks_per_page", "memcached_slab_chunks_per_page", "gauge", NULL, NULL},
    {"total_pages", "memcached_slab_current_pages", "gauge", NULL, NULL},
    {"total_chunks", "memcached_slab_current_chunks", "gauge", NULL, NULL},
    {"used_chunks", "memcached_slab_chunks_used", "gauge", NULL, NULL},
    {"free_chunks", "memcached_slab_chunks_free", "gauge", NULL, NULL},
    {"free_chunks_end", "memcached_slab_chunks_free_end", "gauge", NULL, NULL},
    {"mem_requested", "memcached_slab_mem_requested_bytes", "gauge", NULL, NULL},
    {"number", "memcached_slab_current_items", "gauge", NULL, NULL},
    {"age", "memcached_slab_items_age_seconds", "gauge", NULL, NULL},
    {"evicted", "memcached_slab_items_evicted_total", "counter", NULL, NULL},
    {"evicted_nonzero", "memcached_slab_items_evicted_nonzero_total", "counter", NULL, NULL},
    {"evicted_time", "memcached_slab_items_evicted_time_seconds", "gauge", NULL, NULL},
    {"evicted_unfetched", "memcached_slab_items_evicted_unfetched_total", "counter", NULL, NULL},
    {"expired_unfetched", "memcached_slab_items_expired_unfetched_total", "counter", NULL, NULL},
    {"outofmemory", "memcached_slab_items_outofmemory_total", "counter", NULL, NULL},
    {"reclaimed", "memcached_slab_items_reclaimed_total", "counter", NULL, NULL},
    {"crawler_reclaimed", "memcached_slab_items_crawler_reclaimed_total", "counter", NULL, NULL},
    {"tailrepairs", "memcached_slab_items_tailrepairs_total", "counter", NULL, NULL},
    {"moves_to_cold", "memcached_slab_items_moves_to_cold", "counter", NULL, NULL},
    {"moves_to_warm", "memcached_slab_items_moves_to_warm", "counter", NULL, NULL},
    {"moves_within_lru", "memcached_slab_items_moves_within_lru", "counter", NULL, NULL},
    {"get_hits", "memcached_slab_commands_total", "counter", "command=\"get\",status=\"hit\"", NULL},
    {"cmd_set", "memcached_slab_commands_total", "counter", "command=\"set\",status=\"hit\"", NULL},
    {"delete_hits", "memcached_slab_commands_total", "counter", "command=\"delete\",status=\"hit\"",
     NULL},
    {"incr_hits", "memcached_slab_commands_total", "counter", "command=\"incr\",status=\"hit\"",
     NULL},
    {"decr_hits", "memcached_slab_commands_total", "counter", "command=\"decr\",status=\"hit\"",
     NULL},
    {"cas_hits", "memcached_slab_commands_total", "counter", "command=\"cas\",status=\"hit\"", NULL},
    {"cas_badval", "memcached_slab_commands_total", "counter", "command=\"cas\",status=\"badval\"",
     NULL},
    {"touch_hits", "memcached_slab_commands_total", "counter", "command=\"touch\",status=\"hit\"",
     NULL},
};

static const struct mapping *find(const struct mapping *m, size_t n, const char *stat)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].stat, stat) == 0)
            return &m[i];
    return NULL;
}

/* Whether a statistic's value is a number Prometheus reads. */
static bool numeric(const char *v)
{
    char *end;
    if (*v == '\0')
        return false;
    (void)strtod(v, &end);
    return *end == '\0';
}

/* Whether a name is a valid metric name suffix. */
static bool plain(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

struct metrics_sink {
    struct stats_sink sink;
    struct page *page;
};

/* One statistic of `stats`, `stats slabs` or `stats items`. */
static void sink_stat(struct stats_sink *s, const char *name, size_t nname, const char *val,
                      size_t nval)
{
    struct page *p = ((struct metrics_sink *)s)->page;
    char n[128], v[128];
    if (nname >= sizeof(n) || nval >= sizeof(v))
        return;
    memcpy(n, name, nname);
    n[nname] = '\0';
    memcpy(v, val, nval);
    v[nval] = '\0';
    if (strcmp(n, "version") == 0) {
        char labels[160];
        snprintf(labels, sizeof(labels), "version=\"%s\"", v);
        sample(p, "memcached_version", "gauge", "The memcached version mcd speaks.", labels, "1");
        return;
    }
    if (!numeric(v))
        return;
    /* "items:3:number" or "3:chunk_size": a class's statistic. */
    const char *field = n;
    unsigned cls = 0;
    int used = 0;
    if (sscanf(n, "items:%u:%n", &cls, &used) == 1 && used > 0)
        field = n + used;
    else if (sscanf(n, "%u:%n", &cls, &used) == 1 && used > 0)
        field = n + used;
    char metric[160], labels[200];
    if (cls > 0) {
        const struct mapping *m = find(per_class, sizeof(per_class) / sizeof(per_class[0]), field);
        snprintf(labels, sizeof(labels), "slab=\"%u\"%s%s", cls, m && m->labels ? "," : "",
                 m && m->labels ? m->labels : "");
        if (m != NULL) {
            sample(p, m->metric, m->type, m->help, labels, v);
        } else if (plain(field)) {
            snprintf(metric, sizeof(metric), "memcached_slab_%s", field);
            sample(p, metric, NULL, NULL, labels, v);
        }
        return;
    }
    const struct mapping *m = find(general, sizeof(general) / sizeof(general[0]), n);
    if (m != NULL) {
        sample(p, m->metric, m->type, m->help, m->labels ? m->labels : "", v);
    } else if (plain(n)) {
        snprintf(metric, sizeof(metric), "memcached_%s", n);
        sample(p, metric, NULL, NULL, "", v);
    }
}

static void sink_end(struct stats_sink *s) { (void)s; }

/* The workers' latency histograms, summed. */
static void histograms(struct page *p, const struct metrics_options *opt)
{
    struct proto_timing *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return;
    opt->timing_sum(t);
    const char *name = "mcd_command_duration_seconds";
    struct family *f = family(p, name, "histogram",
                              "Time a worker spent on a request, from its first byte parsed "
                              "to its reply queued.");
    for (int c = 0; f != NULL && c < TIMING_NCMD; c++) {
        uint64_t cum = 0;
        for (int k = 0; k <= TIMING_BUCKETS; k++)
            cum += counter_get(&t->count[c][k]);
        if (cum == 0)
            continue;
        const char *cmd = timing_cmd_name((enum timing_cmd)c);
        cum = 0;
        for (int k = 0; k < TIMING_BUCKETS; k++) {
            cum += counter_get(&t->count[c][k]);
            fprintf(f->f, "%s_bucket{command=\"%s\",le=\"%g\"} %llu\n", name, cmd,
                    (double)(1ULL << k) * 1e-6, (unsigned long long)cum);
        }
        cum += counter_get(&t->count[c][TIMING_BUCKETS]);
        fprintf(f->f, "%s_bucket{command=\"%s\",le=\"+Inf\"} %llu\n", name, cmd,
                (unsigned long long)cum);
        fprintf(f->f, "%s_sum{command=\"%s\"} %.9f\n", name, cmd,
                (double)counter_get(&t->sum_ns[c]) / 1e9);
        fprintf(f->f, "%s_count{command=\"%s\"} %llu\n", name, cmd, (unsigned long long)cum);
    }
    free(t);
}

void metrics_write(FILE *out, const struct metrics_options *opt)
{
    struct page *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return;
    struct proto_counters *scratch = calloc(1, sizeof(*scratch));
    struct proto_env env = { .now = clock_rel_now(), .settings = opt->settings,
                             .counters = scratch, .hooks = opt->hooks };
    sample(p, "memcached_up", "gauge", "Whether the server answers (always 1 here).", "", "1");
    struct metrics_sink ms = { { sink_stat, sink_end }, p };
    if (scratch != NULL) {
        stats_general(&env, &ms.sink);
        stats_slabs(&env, &ms.sink);
        stats_items(&env, &ms.sink);
    }
    histograms(p, opt);
    page_write(p, out);
    free(scratch);
    free(p);
}

/* --- the HTTP side ---------------------------------------------------------- */

static struct {
    struct metrics_options opt;
    int fds[METRICS_MAX_FDS];
    int nfds;
    int stopfd;
    pthread_t thread;
    bool started;
} mx = { .stopfd = -1 };

static void respond(int fd, const char *status, const char *type, const char *body, size_t len,
                    bool head)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n", status, type, len);
    struct iovec iov[2] = { { hdr, (size_t)n }, { (void *)body, head ? 0 : len } };
    size_t total = (size_t)n + iov[1].iov_len;
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    while (total > 0) {
        ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        total -= (size_t)w;
        while (msg.msg_iovlen > 0 && (size_t)w >= msg.msg_iov->iov_len) {
            w -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + w;
            msg.msg_iov->iov_len -= (size_t)w;
        }
    }
}

static void serve(int fd)
{
    struct timeval tv = { 2, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[2048];
    size_t len = 0;
    while (len < sizeof(req) - 1) {
        ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);
        if (r <= 0)
            return;
        len += (size_t)r;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    bool head = strncmp(req, "HEAD ", 5) == 0;
    if (strncmp(req, "GET ", 4) != 0 && !head) {
        static const char msg[] = "only GET /metrics here\n";
        respond(fd, "405 Method Not Allowed", "text/plain", msg, sizeof(msg) - 1, false);
        return;
    }
    const char *path = req + (head ? 5 : 4);
    if (strncmp(path, "/metrics", 8) != 0 || (path[8] != ' ' && path[8] != '?')) {
        static const char msg[] = "metrics are at /metrics\n";
        respond(fd, "404 Not Found", "text/plain", msg, sizeof(msg) - 1, head);
        return;
    }
    char *body = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&body, &blen);
    if (f == NULL)
        return;
    metrics_write(f, &mx.opt);
    fclose(f);
    respond(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, blen, head);
    free(body);
}

static void *metrics_main(void *arg)
{
    (void)arg;
    struct pollfd pfd[METRICS_MAX_FDS + 1];
    for (int i = 0; i < mx.nfds; i++)
        pfd[i] = (struct pollfd){ .fd = mx.fds[i], .events = POLLIN };
    pfd[mx.nfds] = (struct pollfd){ .fd = mx.stopfd, .events = POLLIN };
    for (;;) {
        if (poll(pfd, (nfds_t)mx.nfds + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_msg(LOG_ERROR, "metrics: poll: %s", strerror(errno));
            return NULL;
        }
        if (pfd[mx.nfds].revents)
            return NULL;
        for (int i = 0; i < mx.nfds; i++) {
            if (!pfd[i].revents)
                continue;
            int fd = accept4(mx.fds[i], NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            serve(fd);
            close(fd);
        }
    }
}

int metrics_start(const struct metrics_options *opt)
{
    const struct config *cfg = opt->cfg;
    mx.opt = *opt;
    mx.nfds = 0;
    /* The -l addresses, or loopback: never every interface by default. */
    int nhosts = cfg->nlisten > 0 && cfg->unix_socket == NULL ? cfg->nlisten : 1;
    for (int i = 0; i < nhosts; i++) {
        const char *host = cfg->nlisten > 0 && cfg->unix_socket == NULL ? cfg->listen[i].host
                                                                         : "localhost";
        struct net_socket socks[8];
        int max = METRICS_MAX_FDS - mx.nfds < 8 ? METRICS_MAX_FDS - mx.nfds : 8;
        int n = net_bind(host, cfg->metrics_port, false, 64, socks, max);
        if (n < 0) {
            log_msg(LOG_ERROR, "metrics: cannot listen on %s port %d", host ? host : "*",
                    cfg->metrics_port);
            metrics_stop();
            return n;
        }
        for (int k = 0; k < n; k++)
            mx.fds[mx.nfds++] = socks[k].fd;
    }
    mx.stopfd = eventfd(0, EFD_CLOEXEC);
    if (mx.stopfd < 0 || pthread_create(&mx.thread, NULL, metrics_main, NULL) != 0) {
        metrics_stop();
        return -EAGAIN;
    }
    mx.started = true;
    log_msg(LOG_INFO, "metrics: Prometheus text on port %d, /metrics", cfg->metrics_port);
    return 0;
}

void metrics_stop(void)
{
    if (mx.started) {
        uint64_t one = 1;
        if (write(mx.stopfd, &one, sizeof(one)) < 0)
            log_msg(LOG_ERROR, "metrics: stop: %s", strerror(errno));
        pthread_join(mx.thread, NULL);
        mx.started = false;
    }
    for (int i = 0; i < mx.nfds; i++)
        close(mx.fds[i]);
    mx.nfds = 0;
    if (mx.stopfd >= 0)
        close(mx.stopfd);
    mx.stopfd = -1;
}
