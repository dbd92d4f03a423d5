/*
 * main: parse the command line into a config, wire the modules in order
 * (storage, workers, listeners, process chores), run the acceptor on this
 * thread, and tear everything down in reverse when told to stop.  This is
 * the only file that knows every module; it also implements the protocol
 * hooks that need server-wide facts (stats, shutdown, verbosity).
 */
#include <errno.h>
#include <signal.h>
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
#include "metrics.h"
#include "net.h"
#include "notify.h"
#include "options.h"
#include "persist.h"
#include "prefix_stats.h"
#include "timing.h"
#include "tls.h"
#include "udp.h"
#include "watchers.h"
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
    log_msg(LOG_INFO, "%s requested by a client", graceful ? "graceful shutdown" : "shutdown");
    acceptor_stop();
}

static void hook_verbosity(void *arg, int level)
{
    (void)arg;
    log_set_level(level);
}

static int hook_watch(void *arg, unsigned flags, int fd)
{
    (void)arg;
    return watchers_add(fd, flags);
}

static bool hook_refresh_certs(void *arg, char *err, size_t errlen)
{
    (void)arg;
    return tls_refresh(err, errlen);
}

static const struct proto_hooks hooks = {
    .watch = hook_watch,
    .server_stats = hook_server_stats,
    .conn_stats = hook_conn_stats,
    .stats_reset = hook_stats_reset,
    .shutdown = hook_shutdown,
    .verbosity = hook_verbosity,
    .refresh_certs = hook_refresh_certs,
};

/* The options a reload reads again, and the settings it updates: set by
 * main before the acceptor runs, and only read on its thread. */
static const struct config *reload_cfg;
static struct proto_settings *reload_settings;

/*
 * SIGHUP, on the acceptor's thread: read -Y's user file (and -S's) again
 * and, with -Z, the certificates, as memcached does on SIGHUP (1.6.18 the
 * user file; later releases the certificates too).  A file that does not
 * load leaves what was loaded in force, with the reason logged.  Clients
 * already authenticated stay so; a new authentication uses the new users.
 */
static void reload(void)
{
    if (!daemon_take_reload() || reload_cfg == NULL || reload_settings == NULL)
        return;
    const struct config *cfg = reload_cfg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading (SIGHUP)",
                (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    log_msg(LOG_INFO, "SIGHUP: reloading%s%s%s", cfg->auth_file ? " the -Y user file" : "",
            cfg->sasl ? " the -S user file" : "", cfg->ssl_enabled ? " the certificates" : "");
    bool ok = authfile_reload(cfg, reload_settings) == 0;
    if (!ok)
        log_msg(LOG_ERROR, "SIGHUP: a user file did not load: the users loaded before stay");
    if (cfg->ssl_enabled) {
        char err[256];
        if (!tls_refresh(err, sizeof(err))) {
            log_msg(LOG_ERROR, "SIGHUP: could not reload the TLS certificates: %s", err);
            ok = false;
        }
    }
    notify_send("READY=1\nSTATUS=serving; reloaded on SIGHUP%s",
                ok ? "" : " (with errors: see the log)");
}

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

/* Threads for saving and loading the -e file: one per core. */
static unsigned persist_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Whether -e's file holds the cache's pages (tmpfs: persist_map.c), or is
 * written at the stop (persist.c). [main thread] */
static bool warm_mapped;

/* -e at start: load the file a graceful stop left, or say why not.  A
 * refused file never stops mcd: it starts empty and serves. */
static void warm_load(const struct config *cfg, const struct persist_identity *id,
                      char *status, size_t nstatus)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Nothing but the load touches the cache meanwhile: the page mover and
     * the crawler wait for it. */
    cache_quiesce();
    struct persist_report rep;
    int rc = persist_map_start(cfg->memory_file, id, clock_rel_now(), (int64_t)time(NULL),
                               persist_threads(), &warm_mapped, &rep);
    if (!warm_mapped) {
        if (rc != -EXDEV)
            log_msg(LOG_ERROR, "warm restart: %s: %s; the cache is written out at the stop "
                    "instead", cfg->memory_file, rep.why);
        rc = persist_load(cfg->memory_file, id, clock_rel_now(), (int64_t)time(NULL),
                          persist_threads(), &rep);
    } else {
        log_msg(LOG_INFO, "warm restart: %s is on tmpfs: the cache's pages live in %s.live",
                cfg->memory_file, cfg->memory_file);
    }
    if (rc == -ENOENT) {
        log_msg(LOG_INFO, "warm restart: no %s, starting with an empty cache", cfg->memory_file);
        snprintf(status, nstatus, "empty cache (no %s)", cfg->memory_file);
    } else if (rc < 0) {
        log_msg(LOG_ERROR, "warm restart: cannot read %s: %s; starting with an empty cache",
                cfg->memory_file, strerror(-rc));
        snprintf(status, nstatus, "empty cache (%s unreadable)", cfg->memory_file);
    } else if (rc > 0) {
        log_msg(LOG_ERROR, "warm restart: refusing %s: %s; starting with an empty cache",
                cfg->memory_file, rep.why);
        snprintf(status, nstatus, "empty cache (%s refused: %s)", cfg->memory_file,
                 persist_verdict_str(rep.verdict));
    } else {
        double secs = seconds_since(&t0);
        log_msg(LOG_INFO, "warm restart: restored %llu items from %s (%llu MB) in %.2f s "
                "(%s in %.2f s, %s in %.2f s); %llu expired meanwhile, %llu did not fit",
                (unsigned long long)rep.items, cfg->memory_file,
                (unsigned long long)(rep.bytes >> 20), secs,
                warm_mapped ? "pages mapped and checked" : "mapped", rep.map_secs,
                warm_mapped ? "items linked" : "checked and stored", rep.store_secs,
                (unsigned long long)rep.expired, (unsigned long long)rep.dropped);
        snprintf(status, nstatus, "restored %llu items in %.1f s", (unsigned long long)rep.items,
                 secs);
    }
    rc = cache_resume();
    if (rc != 0)
        log_msg(LOG_ERROR, "warm restart: cannot start the page mover and the crawler again: %s",
                strerror(-rc));
}

/* -e at a graceful stop: save the cache for the next start. */
static void warm_save(const struct config *cfg, const struct persist_identity *id)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    notify_send("STATUS=saving the cache to %s", cfg->memory_file);
    struct persist_report rep;
    /* Streamed, one thread: the kernel copies a file's writes one at a
     * time (its inode lock), and more writers only spin on that lock. */
    int rc = warm_mapped ? persist_map_save(cfg->memory_file, id, clock_rel_now(),
                                            (int64_t)time(NULL), persist_threads(), &rep)
                         : persist_save(cfg->memory_file, id, clock_rel_now(), (int64_t)time(NULL),
                                        1, false, &rep);
    if (rc != 0)
        log_msg(LOG_ERROR, "warm restart: cannot save the cache to %s: %s", cfg->memory_file,
                strerror(-rc));
    else
        log_msg(LOG_INFO, "warm restart: saved %llu items to %s (%llu MB) in %.2f s",
                (unsigned long long)rep.items, cfg->memory_file,
                (unsigned long long)(rep.bytes >> 20), seconds_since(&t0));
}

static const char *stop_reason(void)
{
    switch (daemon_stop_signal()) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case 0: return "shutdown command";
    default: return "signal";
    }
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
    log_setup();
    log_set_level(cfg.verbose);
    /* From now on a stop signal is a graceful stop, even before the
     * listeners are open: it is held back until they are. */
    daemon_signals(acceptor_stop, acceptor_wake);
    nthreads = cfg.threads;
    maxconns = cfg.maxconns;

    if (daemon_check_user(&cfg) != 0) {
        options_free(&cfg);
        return EX_USAGE;
    }
    notify_setup();
    char build[PERSIST_BUILD_MAX];
    daemon_build_id(build, sizeof(build));
    struct persist_identity persist_id = { .build = build };
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
    char restored[256] = "";
    if (cfg.memory_file != NULL)
        warm_load(&cfg, &persist_id, restored, sizeof(restored));

    prefix_stats_setup(cfg.prefix_delimiter, cfg.detail_enabled);
    watchers_setup();
    struct proto_settings settings;
    char inter[1024];
    settings_from_config(&cfg, &settings, inter, sizeof(inter));
    settings.tls = &tls_shown;
    /* As memcached: the user files are read once root is dropped. */
    if (authfile_setup(&cfg, &settings) != 0) {
        persist_release_wait();
        cache_teardown();
        prefix_stats_teardown();
        tls_teardown();
        options_free(&cfg);
        return EXIT_FAILURE;
    }
    /* The latency histograms' clock, before any worker reads it. */
    if (cfg.metrics_port != 0)
        timing_setup();
    struct worker_options wo = {
        .threads = cfg.threads,
        .idle_timeout = cfg.idle_timeout,
        .settings = &settings,
        .hooks = &hooks,
        .timing = cfg.metrics_port != 0,
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
    struct metrics_options mo = { .cfg = &cfg, .settings = &settings, .hooks = &hooks,
                                  .timing_sum = workers_sum_timing };
    if (cfg.metrics_port != 0 && metrics_start(&mo) != 0) {
        exit_code = EX_OSERR;
        goto stop;
    }
    daemon_write_pidfile(cfg.pidfile);
    wrote_pid = true;
    daemon_signals_deliver();   /* on this, the acceptor's thread, alone */
    log_msg(LOG_INFO, "mcd %s (memcached %s): %d worker threads, %zu MB", MCD_VERSION,
            MCD_MEMCACHED_VERSION, cfg.threads,
            cfg.maxbytes / (1024 * 1024));
    /* Every listener is bound and listening, the workers run: a client
     * connecting now is served. */
    notify_send("READY=1\nSTATUS=serving on %s port %d, %zu MB, %d threads%s%s",
                cfg.unix_socket ? cfg.unix_socket : settings.inter ? settings.inter : "*",
                cfg.unix_socket ? 0 : cfg.port, cfg.maxbytes >> 20, cfg.threads,
                restored[0] ? "; " : "", restored);

    reload_cfg = &cfg;
    reload_settings = &settings;
    acceptor_run(reload);
    log_msg(LOG_INFO, "%s: stopping: no new connections, answering what was asked",
            stop_reason());
    notify_send("STOPPING=1\nSTATUS=stopping (%s)", stop_reason());

stop:
    /* Workers first: a worker serving `stats conns` or `shutdown` may still
     * be reading the acceptor's state. */
    metrics_stop();
    workers_stop();
    watchers_teardown();
    acceptor_close();
    /* A load's unmapping of its file is long done by now, unless the stop
     * came at once: no thread is left running at exit. */
    persist_release_wait();
    if (wrote_pid && cfg.memory_file != NULL && exit_code == 0)
        warm_save(&cfg, &persist_id);
    if (wrote_pid)
        daemon_remove_pidfile(cfg.pidfile);
    notify_teardown();
#ifdef MCD_SANITIZE
    /* A leak checker wants every item freed.  Otherwise the process's exit
     * frees the memory at once: unlinking a gigabyte item by item would
     * only delay the restart a service manager waits for. */
    cache_teardown();
#endif
    prefix_stats_teardown();
    authfile_teardown(&settings);
    tls_teardown();
    options_free(&cfg);
    return exit_code;
}
