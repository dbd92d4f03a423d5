/*
 * text_stats: the `stats` family of the ASCII protocol, with memcached's
 * names and order so tools that scrape them keep working.  The lists are
 * written through a stats sink (stats.h), so the binary protocol's STAT
 * sends the very same statistics as packets.
 */
#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "num.h"
#include "lru.h"
#include "prefix_stats.h"
#include "slab.h"
#include "stats.h"
#include "text.h"

/* One `stats cachedump` line, memcached's format. */
static void dump_line(void *arg, const struct item *it, int64_t started)
{
    reply_printf(arg, "ITEM %.*s [%zu b; %llu s]\r\n", (int)item_nkey(it), item_key(it), item_vlen(it),
                 it->exptime == 0 ? 0ULL : (unsigned long long)(it->exptime + started));
}

#define STAT(out, name, fmt, ...) stats_add((out), name, fmt, __VA_ARGS__)

static uint64_t sum_cls(const struct proto_counters *c, size_t field_off)
{
    uint64_t n = 0;
    for (unsigned i = 0; i <= SLAB_MAX_CLASSES; i++)
        n += counter_get((const counter_t *)((const char *)&c->cls[i] + field_off));
    return n;
}

#define SUM_CLS(c, f) sum_cls((c), offsetof(struct proto_class_counters, f))

void stats_general(const struct proto_env *env, struct stats_sink *out)
{
    struct proto_server_stats ss;
    memset(&ss, 0, sizeof(ss));
    env->hooks->server_stats(env->hooks->arg, &ss);
    struct cache_stats cs;
    cache_stats(&cs);
    const struct proto_counters *c = &ss.sum;
    uint64_t get_hits = SUM_CLS(c, get_hits);
    uint64_t nbuckets = cs.hash_buckets;
    unsigned hashpower = 0;
    while ((1ULL << hashpower) < nbuckets)
        hashpower++;

    STAT(out, "pid", "%ld", ss.pid);
    STAT(out, "uptime", "%u", ss.uptime);
    STAT(out, "time", "%lld", (long long)ss.time);
    STAT(out, "version", "%s", env->settings->version);
    STAT(out, "libevent", "%s", "none");
    STAT(out, "pointer_size", "%d", (int)(8 * sizeof(void *)));
    STAT(out, "rusage_user", "%.6f", ss.rusage_user);
    STAT(out, "rusage_system", "%.6f", ss.rusage_system);
    STAT(out, "max_connections", "%llu", (unsigned long long)ss.max_connections);
    STAT(out, "curr_connections", "%llu", (unsigned long long)ss.curr_connections);
    STAT(out, "total_connections", "%llu", (unsigned long long)ss.total_connections);
    STAT(out, "rejected_connections", "%llu", (unsigned long long)ss.rejected_connections);
    STAT(out, "connection_structures", "%llu", (unsigned long long)ss.connection_structures);
    STAT(out, "response_obj_oom", "%d", 0);
    STAT(out, "response_obj_count", "%d", 0);
    STAT(out, "response_obj_bytes", "%d", 0);
    STAT(out, "read_buf_count", "%llu", (unsigned long long)ss.curr_connections);
    STAT(out, "read_buf_bytes", "%llu", (unsigned long long)ss.curr_connections * 16384);
    STAT(out, "read_buf_bytes_free", "%d", 0);
    STAT(out, "read_buf_oom", "%d", 0);
    STAT(out, "reserved_fds", "%d", 0);
    STAT(out, "cmd_get", "%llu", (unsigned long long)counter_get(&c->cmd_get));
    STAT(out, "cmd_set", "%llu", (unsigned long long)SUM_CLS(c, cmd_set));
    STAT(out, "cmd_flush", "%llu", (unsigned long long)counter_get(&c->cmd_flush));
    STAT(out, "cmd_touch", "%llu", (unsigned long long)counter_get(&c->cmd_touch));
    STAT(out, "cmd_meta", "%llu", (unsigned long long)counter_get(&c->cmd_meta));
    STAT(out, "get_hits", "%llu", (unsigned long long)get_hits);
    STAT(out, "get_misses", "%llu", (unsigned long long)counter_get(&c->get_misses));
    STAT(out, "get_expired", "%llu", (unsigned long long)counter_get(&c->get_expired));
    STAT(out, "get_flushed", "%llu", (unsigned long long)counter_get(&c->get_flushed));
    STAT(out, "delete_misses", "%llu", (unsigned long long)counter_get(&c->delete_misses));
    STAT(out, "delete_hits", "%llu", (unsigned long long)SUM_CLS(c, delete_hits));
    STAT(out, "incr_misses", "%llu", (unsigned long long)counter_get(&c->incr_misses));
    STAT(out, "incr_hits", "%llu", (unsigned long long)SUM_CLS(c, incr_hits));
    STAT(out, "decr_misses", "%llu", (unsigned long long)counter_get(&c->decr_misses));
    STAT(out, "decr_hits", "%llu", (unsigned long long)SUM_CLS(c, decr_hits));
    STAT(out, "cas_misses", "%llu", (unsigned long long)counter_get(&c->cas_misses));
    STAT(out, "cas_hits", "%llu", (unsigned long long)SUM_CLS(c, cas_hits));
    STAT(out, "cas_badval", "%llu", (unsigned long long)SUM_CLS(c, cas_badval));
    STAT(out, "touch_hits", "%llu", (unsigned long long)SUM_CLS(c, touch_hits));
    STAT(out, "touch_misses", "%llu", (unsigned long long)counter_get(&c->touch_misses));
    STAT(out, "store_too_large", "%llu", (unsigned long long)counter_get(&c->store_too_large));
    STAT(out, "store_no_memory", "%llu", (unsigned long long)counter_get(&c->store_no_memory));
    STAT(out, "auth_cmds", "%d", 0);
    STAT(out, "auth_errors", "%d", 0);
    STAT(out, "bytes_read", "%llu", (unsigned long long)counter_get(&c->bytes_read));
    STAT(out, "bytes_written", "%llu", (unsigned long long)counter_get(&c->bytes_written));
    STAT(out, "limit_maxbytes", "%llu", (unsigned long long)cs.limit_maxbytes);
    STAT(out, "accepting_conns", "%d", ss.accepting_conns ? 1 : 0);
    STAT(out, "listen_disabled_num", "%llu", (unsigned long long)ss.listen_disabled_num);
    STAT(out, "time_in_listen_disabled_us", "%llu",
         (unsigned long long)ss.time_in_listen_disabled_us);
    STAT(out, "threads", "%d", ss.threads);
    STAT(out, "conn_yields", "%llu", (unsigned long long)counter_get(&c->conn_yields));
    STAT(out, "hash_power_level", "%u", hashpower);
    STAT(out, "hash_bytes", "%llu", (unsigned long long)(nbuckets * sizeof(void *)));
    STAT(out, "hash_is_expanding", "%d", 0);
    /* mcd has no slab mover, LRU crawler or log watchers: these stay 0. */
    static const char *const absent[] = {
        "slab_reassign_rescues", "slab_reassign_chunk_rescues", "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim", "slab_reassign_busy_items", "slab_reassign_busy_deletes",
        "slab_reassign_running", "slabs_moved", "lru_crawler_running", "lru_crawler_starts",
        "lru_maintainer_juggles", "malloc_fails", "log_worker_dropped", "log_worker_written",
        "log_watcher_skipped", "log_watcher_sent", "log_watchers", "unexpected_napi_ids",
        "round_robin_fallback",
    };
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        stats_add(out, absent[i], "%d", 0);
    STAT(out, "bytes", "%llu", (unsigned long long)cs.bytes);
    STAT(out, "curr_items", "%llu", (unsigned long long)cs.curr_items);
    STAT(out, "total_items", "%llu", (unsigned long long)cs.total_items);
    STAT(out, "slab_global_page_pool", "%d", 0);
    STAT(out, "expired_unfetched", "%llu", (unsigned long long)cs.expired_unfetched);
    STAT(out, "evicted_unfetched", "%llu", (unsigned long long)cs.evicted_unfetched);
    STAT(out, "evicted_active", "%llu", (unsigned long long)cs.evicted_active);
    STAT(out, "evictions", "%llu", (unsigned long long)cs.evictions);
    STAT(out, "reclaimed", "%llu", (unsigned long long)cs.reclaimed);
    STAT(out, "crawler_reclaimed", "%d", 0);
    STAT(out, "crawler_items_checked", "%d", 0);
    STAT(out, "lrutail_reflocked", "%llu", (unsigned long long)cs.lrutail_reflocked);
    STAT(out, "moves_to_cold", "%d", 0);
    STAT(out, "moves_to_warm", "%d", 0);
    STAT(out, "moves_within_lru", "%llu", (unsigned long long)cs.moves_within_lru);
    STAT(out, "direct_reclaims", "%d", 0);
    STAT(out, "lru_bumps_dropped", "%d", 0);
}

void stats_settings(const struct proto_env *env, struct stats_sink *out)
{
    const struct proto_settings *s = env->settings;
    struct proto_server_stats ss;
    memset(&ss, 0, sizeof(ss));
    env->hooks->server_stats(env->hooks->arg, &ss);
    STAT(out, "maxbytes", "%llu", (unsigned long long)cache_memlimit());
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
    STAT(out, "auth_enabled_sasl", "%s", "no");
    STAT(out, "auth_enabled_ascii", "%s", "no");
    STAT(out, "item_size_max", "%zu", s->item_size_max);
    STAT(out, "maxconns_fast", "%s", s->maxconns_fast ? "yes" : "no");
    STAT(out, "hashpower_init", "%d", s->hashpower);
    STAT(out, "slab_reassign", "%s", "no");
    STAT(out, "slab_automove", "%d", 0);
    STAT(out, "lru_crawler", "%s", "no");
    STAT(out, "lru_maintainer_thread", "%s", "no");
    STAT(out, "idle_timeout", "%d", s->idle_timeout);
    STAT(out, "flush_enabled", "%s", s->flush_enabled ? "yes" : "no");
    STAT(out, "dump_enabled", "%s", s->dump_enabled ? "yes" : "no");
    STAT(out, "slab_chunk_max", "%zu", s->item_size_max);
    STAT(out, "hash_algorithm", "%s", "mcd64");
    STAT(out, "lru_segmented", "%s", "no");
    /* Settings of memcached features mcd does not have (segmented LRU,
     * crawler, extstore, TLS, ...): their names, with memcached's defaults,
     * so tools that read them find what they expect; none has an effect. */
    static const char *const inert[][2] = {
        {"slab_automove_ratio", "0.80"}, {"slab_automove_window", "30"},
        {"lru_crawler_sleep", "100"}, {"lru_crawler_tocrawl", "0"}, {"tail_repair_time", "0"},
        {"hot_lru_pct", "20"}, {"warm_lru_pct", "40"}, {"hot_max_factor", "0.20"},
        {"warm_max_factor", "2.00"}, {"temp_lru", "no"}, {"temporary_ttl", "61"},
        {"watcher_logbuf_size", "262144"}, {"worker_logbuf_size", "65536"},
        {"read_buf_mem_limit", "0"}, {"track_sizes", "no"}, {"inline_ascii_response", "no"},
        {"ext_item_size", "512"}, {"ext_item_age", "4294967295"}, {"ext_low_ttl", "0"},
        {"ext_recache_rate", "2000"}, {"ext_wbuf_size", "4194304"}, {"ext_compact_under", "0"},
        {"ext_drop_under", "0"}, {"ext_max_sleep", "1000000"}, {"ext_max_frag", "0.80"},
        {"slab_automove_freeratio", "0.010"}, {"ext_drop_unread", "no"}, {"ssl_enabled", "no"},
        {"ssl_chain_cert", "(null)"}, {"ssl_key", "(null)"}, {"ssl_verify_mode", "0"},
        {"ssl_keyformat", "1"}, {"ssl_ciphers", "NULL"}, {"ssl_ca_cert", "NULL"},
        {"ssl_wbuf_size", "16384"}, {"ssl_session_cache", "no"}, {"ssl_kernel_tls", "no"},
        {"ssl_min_version", "tlsv1.2"}, {"num_napi_ids", "(null)"}, {"memory_file", "(null)"},
    };
    for (size_t i = 0; i < sizeof(inert) / sizeof(inert[0]); i++)
        stats_add(out, inert[i][0], "%s", inert[i][1]);
}

void stats_items(const struct proto_env *env, struct stats_sink *out)
{
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct lru_stats ls;
        rel_time_t tail;
        lru_snapshot(c, &ls, &tail);
        if (ls.count == 0 && ls.evicted == 0 && ls.outofmemory == 0)
            continue;
        char name[64];
#define ITEM_STAT(n, fmt, v) \
    (snprintf(name, sizeof(name), "items:%u:" n, c), stats_add(out, name, fmt, v))
        ITEM_STAT("number", "%llu", (unsigned long long)ls.count);
        ITEM_STAT("number_hot", "%d", 0);
        ITEM_STAT("number_warm", "%d", 0);
        ITEM_STAT("number_cold", "%llu", (unsigned long long)ls.count);
        ITEM_STAT("age_hot", "%d", 0);
        ITEM_STAT("age_warm", "%d", 0);
        ITEM_STAT("age", "%u", ls.count && env->now > tail ? env->now - tail : 0);
        ITEM_STAT("mem_requested", "%llu", (unsigned long long)(ls.count * slab_chunk_size(c)));
        ITEM_STAT("evicted", "%llu", (unsigned long long)ls.evicted);
        ITEM_STAT("evicted_nonzero", "%llu", (unsigned long long)ls.evicted_nonzero);
        ITEM_STAT("evicted_time", "%u", ls.evicted_time);
        ITEM_STAT("outofmemory", "%llu", (unsigned long long)ls.outofmemory);
        ITEM_STAT("tailrepairs", "%d", 0);
        ITEM_STAT("reclaimed", "%llu", (unsigned long long)ls.reclaimed);
        ITEM_STAT("expired_unfetched", "%llu", (unsigned long long)ls.expired_unfetched);
        ITEM_STAT("evicted_unfetched", "%llu", (unsigned long long)ls.evicted_unfetched);
        ITEM_STAT("evicted_active", "%llu", (unsigned long long)ls.evicted_active);
        ITEM_STAT("crawler_reclaimed", "%d", 0);
        ITEM_STAT("crawler_items_checked", "%d", 0);
        ITEM_STAT("lrutail_reflocked", "%llu", (unsigned long long)ls.lrutail_reflocked);
        ITEM_STAT("moves_to_cold", "%d", 0);
        ITEM_STAT("moves_to_warm", "%d", 0);
        ITEM_STAT("moves_within_lru", "%llu", (unsigned long long)ls.moves_within_lru);
        ITEM_STAT("direct_reclaims", "%llu", (unsigned long long)ls.direct_reclaims);
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
    const struct proto_counters *pc = &ss.sum;
    unsigned active = 0;
    uint64_t malloced = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        struct slab_class_stats st;
        slab_class_stats(c, &st);
        if (st.used_chunks == 0)
            continue;
        active++;
        uint64_t per_page = st.chunk_size >= SLAB_PAGE_SIZE ? 1 : SLAB_PAGE_SIZE / st.chunk_size;
        uint64_t pages = (st.used_chunks + per_page - 1) / per_page;
        malloced += pages * per_page * st.chunk_size;
        const struct proto_class_counters *k = &pc->cls[c];
        char name[64];
#define SLAB_STAT(n, fmt, v) \
    (snprintf(name, sizeof(name), "%u:" n, c), stats_add(out, name, fmt, v))
        SLAB_STAT("chunk_size", "%zu", st.chunk_size);
        SLAB_STAT("chunks_per_page", "%llu", (unsigned long long)per_page);
        SLAB_STAT("total_pages", "%llu", (unsigned long long)pages);
        SLAB_STAT("total_chunks", "%llu", (unsigned long long)(pages * per_page));
        SLAB_STAT("used_chunks", "%llu", (unsigned long long)st.used_chunks);
        SLAB_STAT("free_chunks", "%llu", (unsigned long long)(pages * per_page - st.used_chunks));
        SLAB_STAT("free_chunks_end", "%d", 0);
        SLAB_STAT("get_hits", "%llu", (unsigned long long)counter_get(&k->get_hits));
        SLAB_STAT("cmd_set", "%llu", (unsigned long long)counter_get(&k->cmd_set));
        SLAB_STAT("delete_hits", "%llu", (unsigned long long)counter_get(&k->delete_hits));
        SLAB_STAT("incr_hits", "%llu", (unsigned long long)counter_get(&k->incr_hits));
        SLAB_STAT("decr_hits", "%llu", (unsigned long long)counter_get(&k->decr_hits));
        SLAB_STAT("cas_hits", "%llu", (unsigned long long)counter_get(&k->cas_hits));
        SLAB_STAT("cas_badval", "%llu", (unsigned long long)counter_get(&k->cas_badval));
        SLAB_STAT("touch_hits", "%llu", (unsigned long long)counter_get(&k->touch_hits));
#undef SLAB_STAT
    }
    STAT(out, "active_slabs", "%u", active);
    STAT(out, "total_malloced", "%llu", (unsigned long long)malloced);
}

/* Item sizes in 32-byte buckets, as memcached's `stats sizes`. */
void stats_sizes(struct stats_sink *out) { stats_add(out, "sizes_status", "%s", "disabled"); }

static bool tok_eq(const struct text_token *t, const char *s)
{
    return t->p != NULL && t->len == strlen(s) && memcmp(t->p, s, t->len) == 0;
}

/* `stats cachedump <class> <limit>`: keys from the head of a class's LRU. */
static void stats_cachedump(const struct proto_env *env, const struct text_req *r,
                            struct reply *out)
{
    uint32_t cls, limit;
    if (r->ntokens < 5) {
        reply_str(out, "CLIENT_ERROR bad command line\r\n");
        return;
    }
    if (!num_parse_u32(r->tok[2].p, r->tok[2].len, &cls) ||
        !num_parse_u32(r->tok[3].p, r->tok[3].len, &limit)) {
        reply_str(out, "CLIENT_ERROR bad command line format\r\n");
        return;
    }
    (void)env;
    if (cls > SLAB_MAX_CLASSES) {
        reply_str(out, "CLIENT_ERROR Illegal slab id\r\n");
        return;
    }
    if (cls >= 1 && cls <= slab_nclasses())
        lru_dump(cls, limit, cache_started(), out, dump_line);
    reply_add(out, "END\r\n", 5);
}

/* One of the shared lists, framed as text lines ending in END. */
static void text_list(const struct proto_env *env, struct reply *out,
                      void (*list)(const struct proto_env *, struct stats_sink *))
{
    struct stats_sink sink;
    stats_sink_text(&sink, out);
    list(env, &sink);
    stats_end(&sink);
}

static void sizes_list(const struct proto_env *env, struct stats_sink *s)
{
    (void)env;
    stats_sizes(s);
}

void text_stats(const struct proto_env *env, const struct text_req *r, struct reply *out)
{
    if (r->ntokens == 2) {
        text_list(env, out, stats_general);
        return;
    }
    const struct text_token *sub = &r->tok[1];
    if (tok_eq(sub, "reset")) {
        env->hooks->stats_reset(env->hooks->arg);
        cache_stats_reset();
        reply_str(out, "RESET\r\n");
    } else if (tok_eq(sub, "settings")) {
        text_list(env, out, stats_settings);
    } else if (tok_eq(sub, "items")) {
        text_list(env, out, stats_items);
    } else if (tok_eq(sub, "slabs")) {
        text_list(env, out, stats_slabs);
    } else if (tok_eq(sub, "sizes")) {
        text_list(env, out, sizes_list);
    } else if (tok_eq(sub, "conns")) {
        env->hooks->conn_stats(env->hooks->arg, out);
        reply_add(out, "END\r\n", 5);
    } else if (tok_eq(sub, "detail")) {
        const struct text_token *arg = &r->tok[2];
        if (r->ntokens >= 4 && tok_eq(arg, "on")) {
            prefix_stats_enable(true);
            reply_str(out, "OK\r\n");
        } else if (r->ntokens >= 4 && tok_eq(arg, "off")) {
            prefix_stats_enable(false);
            reply_str(out, "OK\r\n");
        } else if (r->ntokens >= 4 && tok_eq(arg, "dump")) {
            prefix_stats_dump(out);
        } else {
            reply_str(out, "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
        }
    } else if (tok_eq(sub, "cachedump")) {
        if (env->settings->dump_enabled)
            stats_cachedump(env, r, out);
        else
            reply_str(out, "CLIENT_ERROR stats cachedump not allowed\r\n");
    } else {
        reply_str(out, "ERROR\r\n");
    }
}
