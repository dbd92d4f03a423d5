/*
 * main: parse the command line into a config, wire the modules in order
 * (storage, workers, listeners, process chores), run the acceptor on this
 * thread, and tear everything down in reverse when told to stop.  This is
 * the only file that knows every module; it also implements the protocol
 * hooks that need server-wide facts (stats, shutdown, verbosity).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "acceptor.h"
#include "authfile.h"
#include "conn.h"
#include "cache.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "net.h"
#include "options.h"
#include "prefix_stats.h"
#include "tls.h"
#include "udp.h"
#include "worker.h"

/* Counters as they were at the last `stats reset`. */
static struct proto_counters baseline;
static pthread_mutex_t baseline_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t start_unix;
static int nthreads;
static int maxconns;

static void hook_server_stats(void *arg, struct proto_server_stats *out)
{
    (void)arg;
    rel_time_t now = clock_rel_now();
    out->pid = (long)getpid();
    /* memcached's: 2 s at start, and the unix time cache time counts from. */
    out->uptime = now - (CLOCK_REL_START - 2);
    out->time = start_unix - CLOCK_REL_START + now;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        out->rusage_user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        out->rusage_system = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    }
    out->max_connections = (uint64_t)maxconns;
    out->curr_connections = workers_curr_conns();
    out->total_connections = workers_total_conns();
    out->rejected_connections = acceptor_rejected();
    out->connection_structures = out->curr_connections;
    conn_read_buffers(&out->read_buf_count, &out->read_buf_bytes);
    out->read_buf_count += (uint64_t)nthreads;     /* each worker's scratch buffer */
    out->read_buf_bytes += (uint64_t)nthreads * CONN_SCRATCH_SIZE;
    acceptor_listen_stats(&out->accepting_conns, &out->listen_disabled_num,
                          &out->time_in_listen_disabled_us);
    out->threads = nthreads;
    out->verbosity = log_level();
    out->since_cert_refresh = tls_since_refresh();
    workers_sum_counters(&out->sum);
    counter_t *dst = (counter_t *)&out->sum;
    const counter_t *base = (const counter_t *)&baseline;
    pthread_mutex_lock(&baseline_lock);
    for (size_t i = 0; i < sizeof(baseline) / sizeof(counter_t); i++)
        atomic_store_explicit(&dst[i], counter_get(&dst[i]) - counter_get(&base[i]),
                              memory_order_relaxed);
    pthread_mutex_unlock(&baseline_lock);
}

static void hook_conn_stats(void *arg, struct stats_sink *s)
{
    (void)arg;
    rel_time_t now = clock_rel_now();
    acceptor_conn_stats(s, now);
    workers_conn_stats(s, now);
}

static void hook_stats_reset(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&baseline_lock);
    workers_sum_counters(&baseline);
    pthread_mutex_unlock(&baseline_lock);
}

static void hook_shutdown(void *arg, bool graceful)
{
    (void)arg;
    (void)graceful;
    log_msg(LOG_INFO, "shutdown requested by a client");
    acceptor_stop();
}

static void hook_verbosity(void *arg, int level)
{
    (void)arg;
    log_set_level(level);
}

static bool hook_refresh_certs(void *arg, char *err, size_t errlen)
{
    (void)arg;
    return tls_refresh(err, errlen);
}

static const struct proto_hooks hooks = {
    .server_stats = hook_server_stats,
    .conn_stats = hook_conn_stats,
    .stats_reset = hook_stats_reset,
    .shutdown = hook_shutdown,
    .verbosity = hook_verbosity,
    .refresh_certs = hook_refresh_certs,
};

static void settings_from_config(const struct config *cfg, struct proto_settings *s,
                                 char *inter, size_t ninter)
{
    memset(s, 0, sizeof(*s));
    s->version = MCD_MEMCACHED_VERSION;
    s->mcd_version = MCD_VERSION;
    s->use_cas = cfg->use_cas;
    s->flush_enabled = cfg->flush_enabled;
    s->dump_enabled = cfg->dump_enabled;
    s->watch_enabled = cfg->watch_enabled;
    s->shutdown_enabled = cfg->shutdown_enabled;
    s->evict_to_free = cfg->evict_to_free;
    s->item_size_max = cfg->item_size_max;
    s->maxbytes = cfg->maxbytes;
    s->maxconns = cfg->maxconns;
    s->threads = cfg->threads;
    s->port = cfg->port;
    s->udp_port = cfg->udp_port;
    s->reqs_per_event = cfg->reqs_per_event;
    s->backlog = cfg->backlog;
    s->hashpower = cfg->hashpower;
    s->chunk_size = cfg->chunk_size;
    /* memcached's default: half its 1 MB page. */
    s->slab_chunk_max = cfg->slab_chunk_max ? cfg->slab_chunk_max : 512 * 1024;
    s->slab_automove_window = cfg->slab_automove_window;
    s->factor = cfg->factor;
    s->idle_timeout = cfg->idle_timeout;
    s->unix_socket = cfg->unix_socket;
    s->unix_mask = cfg->unix_mask;
    s->maxconns_fast = cfg->maxconns_fast;
    s->prefix_delimiter = cfg->prefix_delimiter;
    s->reply_bound = PROTO_REPLY_BOUND;
    s->protocol = cfg->protocol == CONFIG_PROTO_ASCII    ? PROTO_MODE_ASCII
                  : cfg->protocol == CONFIG_PROTO_BINARY ? PROTO_MODE_BINARY
                                                         : PROTO_MODE_AUTO;
    inter[0] = '\0';
    for (int i = 0; i < cfg->nlisten; i++) {
        size_t used = strlen(inter);
        snprintf(inter + used, ninter - used, "%s%s", i ? "," : "",
                 cfg->listen[i].host ? cfg->listen[i].host : "*");
    }
    s->inter = cfg->nlisten ? inter : NULL;
}

/* Bind the -U sockets on every -l address, as memcached does (none with
 * -s, which replaces the network listeners).  How many, or -1. */
static int open_udp(const struct config *cfg, int *fds, int max)
{
    if (cfg->udp_port == 0 || cfg->unix_socket != NULL)
        return 0;
    int n = 0;
    for (int i = 0; i < (cfg->nlisten ? cfg->nlisten : 1); i++) {
        const char *host = cfg->nlisten ? cfg->listen[i].host : NULL;
        struct net_socket socks[8];
        int rc = net_bind(host, cfg->udp_port, true, 0, socks, max - n < 8 ? max - n : 8);
        if (rc < 0) {
            while (n > 0)
                close(fds[--n]);
            return -1;
        }
        for (int k = 0; k < rc; k++)
            fds[n++] = socks[k].fd;
    }
    return n;
}

int main(int argc, char **argv)
{
    struct config cfg;
    options_defaults(&cfg);
    int rc = options_parse(&cfg, argc, argv, stdout, stderr);
    if (rc != OPTIONS_RUN) {
        options_free(&cfg);
        return rc == OPTIONS_EXIT_OK ? 0 : EX_USAGE;
    }
    log_set_level(cfg.verbose);
    nthreads = cfg.threads;
    maxconns = cfg.maxconns;

    if (daemon_check_user(&cfg) != 0) {
        options_free(&cfg);
        return EX_USAGE;
    }

    /* memcached's order: the open-files limit while still root, then drop
     * root before anything is bound (a unix socket is then created as the
     * -u user, who must be able to write there and remove it at exit),
     * then detach. */
    if (daemon_set_limits(&cfg) != 0) {
        options_free(&cfg);
        return EX_OSERR;
    }
    /* As memcached: the certificates are read before root is dropped. */
    struct proto_tls tls_shown;
    if (tls_setup(&cfg, &tls_shown) != 0) {
        tls_teardown();
        options_free(&cfg);
        return EX_USAGE;
    }
    if ((rc = daemon_drop_privileges(&cfg)) != 0 || daemon_detach(&cfg) != 0) {
        tls_teardown();
        options_free(&cfg);
        return rc == -ENOENT ? EX_NOUSER : EX_OSERR;
    }
    daemon_lock_memory(&cfg);

    clock_setup();
    start_unix = (int64_t)time(NULL);
    struct cache_options co = {
        .maxbytes = cfg.maxbytes,
        .item_size_max = cfg.item_size_max,
        .factor = cfg.factor,
        .min_chunk = (size_t)cfg.chunk_size,
        .hashpower = (unsigned)cfg.hashpower,
        .use_cas = cfg.use_cas,
        .evict_to_free = cfg.evict_to_free,
        .slab_reassign = cfg.slab_reassign,
        .slab_automove = cfg.slab_automove,
        .slab_automove_ratio = cfg.slab_automove_ratio,
        .slab_automove_window = cfg.slab_automove_window,
        .lru_crawler = cfg.lru_crawler,
        .lru_crawler_sleep = cfg.lru_crawler_sleep,
        .lru_crawler_tocrawl = cfg.lru_crawler_tocrawl,
        .slab_chunk_max = cfg.slab_chunk_max,
        .clock = clock_rel_now,
        .started = start_unix - CLOCK_REL_START,
    };
    if ((rc = cache_setup(&co)) != 0) {
        fprintf(stderr, "failed to set up the cache: %s\n", strerror(-rc));
        tls_teardown();
        options_free(&cfg);
        return EX_OSERR;
    }
    if (cfg.track_sizes)
        cache_sizes_enable();

    prefix_stats_setup(cfg.prefix_delimiter, cfg.detail_enabled);
    struct proto_settings settings;
    char inter[1024];
    settings_from_config(&cfg, &settings, inter, sizeof(inter));
    settings.tls = &tls_shown;
    /* As memcached: the user files are read once root is dropped. */
    if (authfile_setup(&cfg, &settings) != 0) {
        cache_teardown();
        prefix_stats_teardown();
        tls_teardown();
        options_free(&cfg);
        return EXIT_FAILURE;
    }
    struct worker_options wo = {
        .threads = cfg.threads,
        .idle_timeout = cfg.idle_timeout,
        .settings = &settings,
        .hooks = &hooks,
    };
    int exit_code = 0;
    bool wrote_pid = false;
    int udp_fds[2 * CONFIG_MAX_LISTEN];
    int nudp = open_udp(&cfg, udp_fds, (int)(sizeof(udp_fds) / sizeof(udp_fds[0])));
    if (nudp < 0) {
        exit_code = EX_OSERR;
        goto stop;
    }
    wo.udp_fds = udp_fds;
    wo.nudp = nudp;
    rc = workers_start(&wo);
    /* Each worker holds its own dup of every UDP socket. */
    for (int i = 0; i < nudp; i++)
        close(udp_fds[i]);
    if (rc != 0) {
        fprintf(stderr, "failed to start worker threads: %s\n", strerror(-rc));
        exit_code = EX_OSERR;
        goto stop;
    }
    if (acceptor_listen(&cfg) != 0 || daemon_check_fds(&cfg) != 0) {
        exit_code = EX_OSERR;
        goto stop;
    }
    daemon_write_pidfile(cfg.pidfile);
    wrote_pid = true;
    daemon_signals(acceptor_stop);
    log_msg(LOG_INFO, "mcd %s (memcached %s): %d worker threads, %zu MB", MCD_VERSION,
            MCD_MEMCACHED_VERSION, cfg.threads,
            cfg.maxbytes / (1024 * 1024));

    acceptor_run();

stop:
    /* Workers first: a worker serving `stats conns` or `shutdown` may still
     * be reading the acceptor's state. */
    workers_stop();
    acceptor_close();
    if (wrote_pid)
        daemon_remove_pidfile(cfg.pidfile);
    cache_teardown();
    prefix_stats_teardown();
    authfile_teardown(&settings);
    tls_teardown();
    options_free(&cfg);
    return exit_code;
}
