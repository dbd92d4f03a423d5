/*
 * stats: memcached's statistics lists, with its names, formats and order
 * (memcached.c's server_stats and process_stat_settings, items.c and
 * slabs.c), so tools that scrape them keep working.  Each list writes
 * through a stats_sink and reads the server through env->hooks and
 * storage through cache.h alone; a value is formatted once into a stack
 * buffer and framed by the sink (stats are not on the hot path).
 */
#include "stats.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "mc_layout.h"
#include "prefix_stats.h"

/* Longer than any value we print (the longest is -l's list, < 1024). */
#define STATS_VAL_MAX 4096

#define STAT(out, name, fmt, ...) stats_add((out), name, fmt, __VA_ARGS__)

void stats_add(struct stats_sink *s, const char *name, const char *fmt, ...)
{
    char val[STATS_VAL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(val))
        n = sizeof(val) - 1;
    s->stat(s, name, strlen(name), val, (size_t)n);
}

/* What the `lru` and `stats sizes_*` commands set: server-wide, changed
 * rarely, read by `stats settings`; under one lock. */
static pthread_mutex_t tune_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_lru_tune lru_tune = {
    .hot_lru_pct = 20, .warm_lru_pct = 40, .hot_max_factor = 0.2, .warm_max_factor = 2.0,
    .segmented = false, .temp_lru = false, .temporary_ttl = 61,
};

void stats_lru_tune_get(struct stats_lru_tune *t)
{
    pthread_mutex_lock(&tune_lock);
    *t = lru_tune;
    pthread_mutex_unlock(&tune_lock);
}

void stats_lru_tune_set(const struct stats_lru_tune *t)
{
    pthread_mutex_lock(&tune_lock);
    lru_tune = *t;
    pthread_mutex_unlock(&tune_lock);
}

static uint64_t sum_cls(const struct proto_counters *c, size_t field_off)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= CACHE_MAX_CLASSES; i++)
        n += counter_get((const counter_t *)((const char *)&c->cls[i] + field_off));
    return n;
}

#define SUM_CLS(c, f) sum_cls((c), offsetof(struct proto_class_counters, f))

/* The crawler's and reclaim's per-class figures, summed. */
struct class_totals {
    uint64_t crawler_reclaimed, crawler_items_checked, direct_reclaims, moves_to_warm;
};

static void class_totals(rel_time_t now, struct class_totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned c = 1; c <= cache_nclasses(); c++) {
        struct cache_class_stats st;
        cache_class_stats(c, now, &st);
        t->crawler_reclaimed += st.crawler_reclaimed;
        t->crawler_items_checked += st.crawler_items_checked;
        t->direct_reclaims += st.direct_reclaims;
        t->moves_to_warm += st.moves_to_warm;
    }
}

#define U64(v) ((unsigned long long)(v))

static void general_server(const struct proto_env *env, const struct proto_server_stats *ss,
                           struct stats_sink *out)
{
    STAT(out, "pid", "%ld", ss->pid);
    STAT(out, "uptime", "%u", ss->uptime);
    STAT(out, "time", "%lld", (long long)ss->time);
    STAT(out, "version", "%s", env->settings->version);
    STAT(out, "mcd_version", "%s", env->settings->mcd_version);
    STAT(out, "libevent", "%s", "none");
    STAT(out, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    STAT(out, "rusage_user", "%.6f", ss->rusage_user);
    STAT(out, "rusage_system", "%.6f", ss->rusage_system);
    STAT(out, "max_connections", "%llu", U64(ss->max_connections));
    STAT(out, "curr_connections", "%llu", U64(ss->curr_connections));
    STAT(out, "total_connections", "%llu", U64(ss->total_connections));
    STAT(out, "rejected_connections", "%llu", U64(ss->rejected_connections));
    STAT(out, "connection_structures", "%llu", U64(ss->connection_structures));
    STAT(out, "response_obj_oom", "%d", 0);
    STAT(out, "response_obj_count", "%d", 0);
    STAT(out, "response_obj_bytes", "%d", 0);
    STAT(out, "read_buf_count", "%llu", U64(ss->read_buf_count));
    STAT(out, "read_buf_bytes", "%llu", U64(ss->read_buf_bytes));
    STAT(out, "read_buf_bytes_free", "%d", 0);
    STAT(out, "read_buf_oom", "%d", 0);
    STAT(out, "reserved_fds", "%d", 0);
}

static void general_commands(const struct proto_env *env, const struct proto_counters *c,
                             struct stats_sink *out)
{
    STAT(out, "cmd_get", "%llu", U64(counter_get(&c->cmd_get)));
    STAT(out, "cmd_set", "%llu", U64(SUM_CLS(c, cmd_set)));
    STAT(out, "cmd_flush", "%llu", U64(counter_get(&c->cmd_flush)));
    STAT(out, "cmd_touch", "%llu", U64(counter_get(&c->cmd_touch)));
    STAT(out, "cmd_meta", "%llu", U64(counter_get(&c->cmd_meta)));
    STAT(out, "get_hits", "%llu", U64(SUM_CLS(c, get_hits)));
    STAT(out, "get_misses", "%llu", U64(counter_get(&c->get_misses)));
    STAT(out, "get_expired", "%llu", U64(counter_get(&c->get_expired)));
    STAT(out, "get_flushed", "%llu", U64(counter_get(&c->get_flushed)));
    STAT(out, "delete_misses", "%llu", U64(counter_get(&c->delete_misses)));
    STAT(out, "delete_hits", "%llu", U64(SUM_CLS(c, delete_hits)));
    STAT(out, "incr_misses", "%llu", U64(counter_get(&c->incr_misses)));
    STAT(out, "incr_hits", "%llu", U64(SUM_CLS(c, incr_hits)));
    STAT(out, "decr_misses", "%llu", U64(counter_get(&c->decr_misses)));
    STAT(out, "decr_hits", "%llu", U64(SUM_CLS(c, decr_hits)));
    STAT(out, "cas_misses", "%llu", U64(counter_get(&c->cas_misses)));
    STAT(out, "cas_hits", "%llu", U64(SUM_CLS(c, cas_hits)));
    STAT(out, "cas_badval", "%llu", U64(SUM_CLS(c, cas_badval)));
    STAT(out, "touch_hits", "%llu", U64(SUM_CLS(c, touch_hits)));
    STAT(out, "touch_misses", "%llu", U64(counter_get(&c->touch_misses)));
    STAT(out, "store_too_large", "%llu", U64(counter_get(&c->store_too_large)));
    STAT(out, "store_no_memory", "%llu", U64(counter_get(&c->store_no_memory)));
    STAT(out, "auth_cmds", "%llu", U64(counter_get(&c->auth_cmds)));
    STAT(out, "auth_errors", "%llu", U64(counter_get(&c->auth_errors)));
    if (env->settings->idle_timeout > 0)
        STAT(out, "idle_kicks", "%llu", U64(counter_get(&c->idle_kicks)));
    STAT(out, "bytes_read", "%llu", U64(counter_get(&c->bytes_read)));
    STAT(out, "bytes_written", "%llu", U64(counter_get(&c->bytes_written)));
}

static void general_storage(const struct proto_env *env, const struct proto_server_stats *ss,
                            const struct cache_stats *cs, struct stats_sink *out)
{
    struct cache_settings set;
    cache_settings(&set);
    STAT(out, "limit_maxbytes", "%llu", U64(cs->limit_maxbytes));
    STAT(out, "accepting_conns", "%d", ss->accepting_conns ? 1 : 0);
    STAT(out, "listen_disabled_num", "%llu", U64(ss->listen_disabled_num));
    STAT(out, "time_in_listen_disabled_us", "%llu", U64(ss->time_in_listen_disabled_us));
    STAT(out, "threads", "%d", ss->threads);
    STAT(out, "conn_yields", "%llu", U64(counter_get(&ss->sum.conn_yields)));
    STAT(out, "hash_power_level", "%u", cs->hash_power_level);
    STAT(out, "hash_bytes", "%llu", U64(cs->hash_bytes));
    STAT(out, "hash_is_expanding", "%d", cs->hash_is_expanding ? 1 : 0);
    if (set.slab_reassign) {
        STAT(out, "slab_reassign_rescues", "%llu", U64(cs->slab_reassign_rescues));
        STAT(out, "slab_reassign_chunk_rescues", "%llu", U64(cs->slab_reassign_chunk_rescues));
        STAT(out, "slab_reassign_evictions_nomem", "%llu",
             U64(cs->slab_reassign_evictions_nomem));
        STAT(out, "slab_reassign_inline_reclaim", "%llu", U64(cs->slab_reassign_inline_reclaim));
        STAT(out, "slab_reassign_busy_items", "%llu", U64(cs->slab_reassign_busy_items));
        STAT(out, "slab_reassign_busy_deletes", "%llu", U64(cs->slab_reassign_busy_deletes));
        STAT(out, "slab_reassign_running", "%d", cs->slab_reassign_running ? 1 : 0);
        STAT(out, "slabs_moved", "%llu", U64(cs->slabs_moved));
    }
    if (set.lru_crawler) {
        STAT(out, "lru_crawler_running", "%d", cs->lru_crawler_running ? 1 : 0);
        STAT(out, "lru_crawler_starts", "%llu", U64(cs->lru_crawler_starts));
    }
    /* memcached's LRU maintainer: mcd has none. */
    STAT(out, "lru_maintainer_juggles", "%d", 0);
    STAT(out, "malloc_fails", "%llu", U64(cs->malloc_fails));
    /* Log watchers and NAPI ids: mcd has neither. */
    static const char *const absent[] = {
        "log_worker_dropped", "log_worker_written", "log_watcher_skipped", "log_watcher_sent",
        "log_watchers", "unexpected_napi_ids", "round_robin_fallback",
    };
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]) - 2; i++)
        stats_add(out, absent[i], "%d", 0);
    const struct proto_tls *tls = env->settings->tls;
    if (tls != NULL && tls->enabled) {
        if (tls->session_cache)
            STAT(out, "ssl_new_sessions", "%llu", U64(counter_get(&ss->sum.ssl_new_sessions)));
        STAT(out, "ssl_handshake_errors", "%llu",
             U64(counter_get(&ss->sum.ssl_handshake_errors)));
        STAT(out, "time_since_server_cert_refresh", "%u", ss->since_cert_refresh);
    }
    stats_add(out, "unexpected_napi_ids", "%d", 0);
    stats_add(out, "round_robin_fallback", "%d", 0);
}

static void general_items(const struct proto_env *env, const struct cache_stats *cs,
                          struct stats_sink *out)
{
    struct class_totals t;
    class_totals(env->now, &t);
    STAT(out, "bytes", "%llu", U64(cs->bytes));
    STAT(out, "curr_items", "%llu", U64(cs->curr_items));
    STAT(out, "total_items", "%llu", U64(cs->total_items));
    STAT(out, "slab_global_page_pool", "%llu", U64(cs->slab_global_page_pool));
    STAT(out, "expired_unfetched", "%llu", U64(cs->expired_unfetched));
    STAT(out, "evicted_unfetched", "%llu", U64(cs->evicted_unfetched));
    STAT(out, "evicted_active", "%llu", U64(cs->evicted_active));
    STAT(out, "evictions", "%llu", U64(cs->evictions));
    STAT(out, "reclaimed", "%llu", U64(cs->reclaimed));
    STAT(out, "crawler_reclaimed", "%llu", U64(t.crawler_reclaimed));
    STAT(out, "crawler_items_checked", "%llu", U64(t.crawler_items_checked));
    STAT(out, "lrutail_reflocked", "%llu", U64(cs->lrutail_reflocked));
    STAT(out, "moves_to_cold", "%d", 0);
    STAT(out, "moves_to_warm", "%llu", U64(t.moves_to_warm));
    STAT(out, "moves_within_lru", "%llu", U64(cs->moves_within_lru));
    STAT(out, "direct_reclaims", "%llu", U64(t.direct_reclaims));
    STAT(out, "lru_bumps_dropped", "%d", 0);
}

void stats_general(const struct proto_env *env, struct stats_sink *out)
{
    struct proto_server_stats ss;
    memset(&ss, 0, sizeof(ss));
    env->hooks->server_stats(env->hooks->arg, &ss);
    struct cache_stats cs;
    cache_stats(&cs);
    general_server(env, &ss, out);
    general_commands(env, &ss.sum, out);
    general_storage(env, &ss, &cs, out);
    general_items(env, &cs, out);
}

/* memcached's settings that have no counterpart in mcd (extstore, TLS,
 * loggers, ...), with memcached's defaults, so tools find their names. */
static const char *const inert_settings[][2] = {
    {"watcher_logbuf_size", "262144"}, {"worker_logbuf_size", "65536"},
    {"read_buf_mem_limit", "0"}, {"track_sizes", NULL}, {"inline_ascii_response", "no"},
    {"ext_item_size", "512"}, {"ext_item_age", "4294967295"}, {"ext_low_ttl", "0"},
    {"ext_recache_rate", "2000"}, {"ext_wbuf_size", "4194304"}, {"ext_compact_under", "0"},
    {"ext_drop_under", "0"}, {"ext_max_sleep", "1000000"}, {"ext_max_frag", "0.80"},
    {"slab_automove_freeratio", "0.010"}, {"ext_drop_unread", "no"},
};

/* TLS's settings, after the inert ones, in memcached's order. */
static void settings_tls(const struct proto_env *env, struct stats_sink *out)
{
    static const struct proto_tls off = { .keyformat = 1, .wbuf_size = 16384,
                                          .min_version = "tlsv1.2" };
    const struct proto_tls *t = env->settings->tls ? env->settings->tls : &off;
    STAT(out, "ssl_enabled", "%s", t->enabled ? "yes" : "no");
    STAT(out, "ssl_chain_cert", "%s", t->chain_cert ? t->chain_cert : "(null)");
    STAT(out, "ssl_key", "%s", t->key ? t->key : "(null)");
    STAT(out, "ssl_verify_mode", "%d", t->verify_mode);
    STAT(out, "ssl_keyformat", "%d", t->keyformat);
    STAT(out, "ssl_ciphers", "%s", t->ciphers ? t->ciphers : "NULL");
    STAT(out, "ssl_ca_cert", "%s", t->ca_cert ? t->ca_cert : "NULL");
    STAT(out, "ssl_wbuf_size", "%u", t->wbuf_size);
    STAT(out, "ssl_session_cache", "%s", t->session_cache ? "yes" : "no");
    STAT(out, "ssl_kernel_tls", "%s", t->kernel_tls ? "yes" : "no");
    STAT(out, "ssl_min_version", "%s", t->min_version);
    STAT(out, "num_napi_ids", "%s", "(null)");
    STAT(out, "memory_file", "%s", "(null)");
}

static void settings_network(const struct proto_env *env, struct stats_sink *out)
{
    const struct proto_settings *s = env->settings;
    struct proto_server_stats ss;
    memset(&ss, 0, sizeof(ss));
    env->hooks->server_stats(env->hooks->arg, &ss);
    STAT(out, "maxbytes", "%llu", U64(cache_memlimit()));
    STAT(out, "maxconns", "%d", s->maxconns);
    STAT(out, "tcpport", "%d", s->port);
    STAT(out, "udpport", "%d", s->udp_port);
    STAT(out, "inter", "%s", s->inter ? s->inter : "NULL");
    STAT(out, "verbosity", "%d", ss.verbosity);
    STAT(out, "oldest", "%lu", 0UL);
    STAT(out, "evictions", "%s", s->evict_to_free ? "on" : "off");
    STAT(out, "domain_socket", "%s", s->unix_socket ? s->unix_socket : "NULL");
    STAT(out, "umask", "%o", (unsigned)s->unix_mask);
    STAT(out, "shutdown_command", "%s", s->shutdown_enabled ? "yes" : "no");
    STAT(out, "growth_factor", "%.2f", s->factor);
    STAT(out, "chunk_size", "%d", s->chunk_size);
    STAT(out, "num_threads", "%d", s->threads);
    STAT(out, "num_threads_per_udp", "%d", s->threads);
    STAT(out, "stat_key_prefix", "%c", s->prefix_delimiter);
    STAT(out, "detail_enabled", "%s", prefix_stats_enabled() ? "yes" : "no");
    STAT(out, "reqs_per_event", "%d", s->reqs_per_event);
    STAT(out, "cas_enabled", "%s", s->use_cas ? "yes" : "no");
    STAT(out, "tcp_backlog", "%d", s->backlog);
    STAT(out, "binding_protocol", "%s", proto_mode_name(s->protocol));
    STAT(out, "auth_enabled_sasl", "%s", s->sasl ? "yes" : "no");
    STAT(out, "auth_enabled_ascii", "%s", s->auth_file ? s->auth_file : "no");
    STAT(out, "item_size_max", "%zu", s->item_size_max);
    STAT(out, "maxconns_fast", "%s", s->maxconns_fast ? "yes" : "no");
    STAT(out, "hashpower_init", "%d", s->hashpower);
}

void stats_settings(const struct proto_env *env, struct stats_sink *out)
{
    const struct proto_settings *s = env->settings;
    struct cache_settings cs;
    cache_settings(&cs);
    struct stats_lru_tune t;
    stats_lru_tune_get(&t);
    settings_network(env, out);
    STAT(out, "slab_reassign", "%s", cs.slab_reassign ? "yes" : "no");
    STAT(out, "slab_automove", "%u", cs.slab_automove);
    STAT(out, "slab_automove_ratio", "%.2f", cs.slab_automove_ratio);
    STAT(out, "slab_automove_window", "%u", s->slab_automove_window);
    STAT(out, "slab_chunk_max", "%zu", s->slab_chunk_max);
    STAT(out, "lru_crawler", "%s", cs.lru_crawler ? "yes" : "no");
    STAT(out, "lru_crawler_sleep", "%u", cs.lru_crawler_sleep);
    STAT(out, "lru_crawler_tocrawl", "%lu", (unsigned long)cs.lru_crawler_tocrawl);
    STAT(out, "tail_repair_time", "%d", 0);
    STAT(out, "flush_enabled", "%s", s->flush_enabled ? "yes" : "no");
    STAT(out, "dump_enabled", "%s", s->dump_enabled ? "yes" : "no");
    STAT(out, "hash_algorithm", "%s", "siphash13");
    STAT(out, "lru_maintainer_thread", "%s", "no");
    STAT(out, "lru_segmented", "%s", t.segmented ? "yes" : "no");
    STAT(out, "hot_lru_pct", "%u", t.hot_lru_pct);
    STAT(out, "warm_lru_pct", "%u", t.warm_lru_pct);
    STAT(out, "hot_max_factor", "%.2f", t.hot_max_factor);
    STAT(out, "warm_max_factor", "%.2f", t.warm_max_factor);
    STAT(out, "temp_lru", "%s", t.temp_lru ? "yes" : "no");
    STAT(out, "temporary_ttl", "%u", t.temporary_ttl);
    STAT(out, "idle_timeout", "%d", s->idle_timeout);
    for (size_t i = 0; i < sizeof(inert_settings) / sizeof(inert_settings[0]); i++) {
        const char *v = inert_settings[i][1];
        if (v == NULL)  /* track_sizes */
            v = cache_sizes_each(NULL, NULL) ? "yes" : "no";
        stats_add(out, inert_settings[i][0], "%s", v);
    }
    settings_tls(env, out);
}

void stats_items(const struct proto_env *env, struct stats_sink *out)
{
    for (unsigned c = 1; c <= cache_nclasses(); c++) {
        struct cache_class_stats st;
        cache_class_stats(c, env->now, &st);
        if (st.number == 0 && st.evicted == 0 && st.outofmemory == 0)
            continue;
        char name[64];
#define ITEM_STAT(n, fmt, v) \
    (snprintf(name, sizeof(name), "items:%u:" n, c), stats_add(out, name, fmt, v))
        ITEM_STAT("number", "%llu", U64(st.number));
        ITEM_STAT("number_hot", "%d", 0);
        ITEM_STAT("number_warm", "%d", 0);
        ITEM_STAT("number_cold", "%llu", U64(st.number));
        ITEM_STAT("age_hot", "%d", 0);
        ITEM_STAT("age_warm", "%d", 0);
        ITEM_STAT("age", "%u", st.age);
        ITEM_STAT("mem_requested", "%llu", U64(st.mem_requested));
        ITEM_STAT("evicted", "%llu", U64(st.evicted));
        ITEM_STAT("evicted_nonzero", "%llu", U64(st.evicted_nonzero));
        ITEM_STAT("evicted_time", "%u", st.evicted_time);
        ITEM_STAT("outofmemory", "%llu", U64(st.outofmemory));
        ITEM_STAT("tailrepairs", "%d", 0);
        ITEM_STAT("reclaimed", "%llu", U64(st.reclaimed));
        ITEM_STAT("expired_unfetched", "%llu", U64(st.expired_unfetched));
        ITEM_STAT("evicted_unfetched", "%llu", U64(st.evicted_unfetched));
        ITEM_STAT("evicted_active", "%llu", U64(st.evicted_active));
        ITEM_STAT("crawler_reclaimed", "%llu", U64(st.crawler_reclaimed));
        ITEM_STAT("crawler_items_checked", "%llu", U64(st.crawler_items_checked));
        ITEM_STAT("lrutail_reflocked", "%llu", U64(st.lrutail_reflocked));
        ITEM_STAT("moves_to_cold", "%d", 0);
        ITEM_STAT("moves_to_warm", "%llu", U64(st.moves_to_warm));
        ITEM_STAT("moves_within_lru", "%llu", U64(st.moves_within_lru));
        ITEM_STAT("direct_reclaims", "%llu", U64(st.direct_reclaims));
        ITEM_STAT("hits_to_hot", "%d", 0);
        ITEM_STAT("hits_to_warm", "%d", 0);
        ITEM_STAT("hits_to_cold", "%d", 0);
        ITEM_STAT("hits_to_temp", "%d", 0);
#undef ITEM_STAT
    }
}

void stats_slabs(const struct proto_env *env, struct stats_sink *out)
{
    struct proto_server_stats ss;
    memset(&ss, 0, sizeof(ss));
    env->hooks->server_stats(env->hooks->arg, &ss);
    struct cache_stats cs;
    cache_stats(&cs);
    unsigned active = 0;
    for (unsigned c = 1; c <= cache_nclasses(); c++) {
        struct cache_class_stats st;
        cache_class_stats(c, env->now, &st);
        if (st.total_pages == 0)
            continue;
        active++;
        const struct proto_class_counters *k = &ss.sum.cls[c];
        char name[64];
#define SLAB_STAT(n, fmt, v) \
    (snprintf(name, sizeof(name), "%u:" n, c), stats_add(out, name, fmt, v))
        SLAB_STAT("chunk_size", "%zu", st.chunk_size);
        SLAB_STAT("chunks_per_page", "%llu", U64(st.chunks_per_page));
        SLAB_STAT("total_pages", "%llu", U64(st.total_pages));
        SLAB_STAT("total_chunks", "%llu", U64(st.total_chunks));
        SLAB_STAT("used_chunks", "%llu", U64(st.used_chunks));
        SLAB_STAT("free_chunks", "%llu", U64(st.free_chunks));
        SLAB_STAT("free_chunks_end", "%llu", U64(st.free_chunks_end));
        SLAB_STAT("get_hits", "%llu", U64(counter_get(&k->get_hits)));
        SLAB_STAT("cmd_set", "%llu", U64(counter_get(&k->cmd_set)));
        SLAB_STAT("delete_hits", "%llu", U64(counter_get(&k->delete_hits)));
        SLAB_STAT("incr_hits", "%llu", U64(counter_get(&k->incr_hits)));
        SLAB_STAT("decr_hits", "%llu", U64(counter_get(&k->decr_hits)));
        SLAB_STAT("cas_hits", "%llu", U64(counter_get(&k->cas_hits)));
        SLAB_STAT("cas_badval", "%llu", U64(counter_get(&k->cas_badval)));
        SLAB_STAT("touch_hits", "%llu", U64(counter_get(&k->touch_hits)));
#undef SLAB_STAT
    }
    STAT(out, "active_slabs", "%u", active);
    STAT(out, "total_malloced", "%llu", U64(cs.total_malloced));
}

void stats_conns(const struct proto_env *env, struct stats_sink *out)
{
    env->hooks->conn_stats(env->hooks->arg, out);
}

static void sizes_line(size_t size, uint64_t count, void *arg)
{
    char name[24];
    snprintf(name, sizeof(name), "%zu", size);
    stats_add(arg, name, "%llu", (unsigned long long)count);
}

/* Items by memcached's size in 32-byte steps, counted by storage as they
 * are linked and unlinked since tracking began (cache_sizes_enable). */
void stats_sizes(const struct proto_env *env, struct stats_sink *out)
{
    (void)env;
    if (!cache_sizes_each(sizes_line, out))
        stats_add(out, "sizes_status", "%s", "disabled");
}

void stats_sizes_enable(const struct proto_env *env, struct stats_sink *out)
{
    (void)env;
    switch (cache_sizes_enable()) {
    case CACHE_SIZES_ENABLED:
        stats_add(out, "sizes_status", "%s", "enabled");
        break;
    case CACHE_SIZES_NO_CAS:
        stats_add(out, "sizes_status", "%s", "error");
        stats_add(out, "sizes_error", "%s", "cas_support_disabled");
        break;
    case CACHE_SIZES_DISABLED:
        stats_add(out, "sizes_status", "%s", "error");
        stats_add(out, "sizes_error", "%s", "no_memory");
        break;
    }
}

void stats_sizes_disable(const struct proto_env *env, struct stats_sink *out)
{
    (void)env;
    cache_sizes_disable();
    stats_add(out, "sizes_status", "%s", "disabled");
}
