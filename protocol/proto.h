/*
 * proto: what the protocol layer needs from its caller — the clock, the
 * settings that change replies, this worker's counters, and hooks for the
 * few commands that act on the server (stats, shutdown, verbosity).  The
 * server fills one proto_env per worker; protocol code never includes a
 * server header.
 */
#ifndef MCD_PROTO_H
#define MCD_PROTO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "item.h"
#include "reply.h"

/* A counter with one writer: the owner bumps it, others only read it. */
typedef _Atomic uint64_t counter_t;

static inline void counter_add(counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void counter_inc(counter_t *c) { counter_add(c, 1); }

static inline uint64_t counter_get(const counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Per-class command counters, as in memcached's `stats slabs`. */
struct proto_class_counters {
    counter_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits;
    counter_t cas_hits, cas_badval, touch_hits;
};

/* One worker's command counters; the server sums them for `stats`. */
struct proto_counters {
    counter_t cmd_get, cmd_set, cmd_flush, cmd_touch, cmd_meta;
    counter_t get_misses, get_expired, get_flushed;
    counter_t delete_misses, incr_misses, decr_misses, cas_misses, touch_misses;
    counter_t store_too_large, store_no_memory;
    counter_t bytes_read, bytes_written, conn_yields;
    counter_t idle_kicks;       /* connections closed by -o idle_timeout */
    counter_t auth_cmds, auth_errors;   /* -Y and -S attempts, and the failed ones */
    counter_t ssl_handshake_errors, ssl_new_sessions;   /* -Z */
    struct proto_class_counters cls[CACHE_MAX_CLASSES + 1];
};

/* What a protocol's feed asks of its transport once it returns. */
enum proto_status {
    PROTO_WANT_INPUT = 0,   /* all input served: send the reply, read more */
    PROTO_HOLD,             /* read more before sending: memcached answers a refused
                             * value only once its data block has been dropped */
    PROTO_YIELD,            /* -R requests served with input left: let others run */
    PROTO_DRAIN,            /* the reply reached its bound: send it, then feed again */
    PROTO_CLOSE,            /* send the reply, then close */
};

/* The longest request a transport must be able to hold whole in its input
 * buffer: memcached's cap on a multi-get line. */
#define PROTO_INPUT_MAX (2 * 1024 * 1024)

/* Reply bytes past which a session stops producing until they are sent:
 * a client that does not read cannot make one request grow our memory. */
#define PROTO_REPLY_BOUND (256 * 1024)

/* Which protocols a connection may speak (-B). */
enum proto_mode {
    PROTO_MODE_AUTO = 0,        /* the first byte decides: 0x80 is binary */
    PROTO_MODE_ASCII,
    PROTO_MODE_BINARY,
};

/* The mode as memcached names it in `stats settings` (binding_protocol). */
static inline const char *proto_mode_name(enum proto_mode m)
{
    return m == PROTO_MODE_ASCII ? "ascii" : m == PROTO_MODE_BINARY ? "binary" : "auto-negotiate";
}

/* Settings that shape replies. */
struct proto_settings {
    const char *version;        /* memcached's version mcd speaks: "VERSION", stats version */
    const char *mcd_version;    /* mcd's own: stats mcd_version */
    bool use_cas;
    bool flush_enabled;
    bool dump_enabled;          /* false with -X: no cachedump, no metadump */
    bool watch_enabled;         /* false with -W */
    bool shutdown_enabled;
    bool evict_to_free;
    size_t item_size_max;
    size_t maxbytes;
    int maxconns;
    int threads;
    int port;
    int udp_port;
    int reqs_per_event;
    int backlog;
    int hashpower;
    int chunk_size;
    size_t slab_chunk_max;
    unsigned slab_automove_window;
    double factor;
    int idle_timeout;
    const char *inter;          /* -l as given, or NULL */
    const char *unix_socket;
    int unix_mask;
    bool maxconns_fast;
    char prefix_delimiter;      /* -D */
    enum proto_mode protocol;   /* -B */
    size_t reply_bound;         /* PROTO_REPLY_BOUND; tests set it lower */
    /* Authentication (auth.h): -Y's users, which every text connection must
     * name first; -S's, which binary connections name over SASL. */
    const struct auth_table *auth_ascii;
    const char *auth_file;      /* -Y as given, for stats settings */
    bool sasl;                  /* -S */
    const struct auth_table *sasl_users;
    const struct proto_tls *tls;    /* -Z and its -o ssl_* keys, for stats settings */
};

/* TLS settings as memcached shows them in `stats settings`. */
struct proto_tls {
    bool enabled;               /* -Z */
    const char *chain_cert, *key, *ca_cert, *ciphers;   /* NULL: not given */
    int verify_mode;            /* OpenSSL's SSL_VERIFY_* bits */
    int keyformat;              /* SSL_FILETYPE_PEM (1) */
    unsigned wbuf_size;
    bool session_cache, kernel_tls;
    const char *min_version;    /* "tlsv1.2" */
};

struct auth_table;

struct stats_sink;
struct proto_timing;

/* Server-wide figures for `stats`, filled by the server on request. */
struct proto_server_stats {
    long pid;
    uint32_t uptime;
    int64_t time;
    double rusage_user, rusage_system;
    uint64_t max_connections, curr_connections, total_connections;
    uint64_t rejected_connections, connection_structures;
    uint64_t read_buf_count, read_buf_bytes;   /* workers' and connections' read buffers */
    uint64_t listen_disabled_num;
    uint32_t since_cert_refresh;    /* -Z: seconds since the certificates were loaded */
    uint64_t time_in_listen_disabled_us;
    bool accepting_conns;
    int threads;
    int verbosity;
    struct proto_counters sum;  /* all workers' counters since the last reset */
};

struct proto_hooks {
    void *arg;
    /* Fill `out`. */
    void (*server_stats)(void *arg, struct proto_server_stats *out);
    /* Write one "<fd>:..." group of statistics per listener and connection
     * (stats conns) to the sink (struct stats_sink, stats.h). */
    void (*conn_stats)(void *arg, struct stats_sink *s);
    /* Make the current counters the new zero (stats reset). */
    void (*stats_reset)(void *arg);
    /* Stop the server (shutdown, with -A). */
    void (*shutdown)(void *arg, bool graceful);
    /* Set the log verbosity. */
    void (*verbosity)(void *arg, int level);
    /* Make client socket `fd` a watcher of the streams in `flags`
     * (watch.h), from now on: 0, or negative past the watchers' limit.
     * NULL: no watcher ever gets a line. */
    int (*watch)(void *arg, unsigned flags, int fd);
    /* Load the TLS certificates again (refresh_certs): true, or false with
     * memcached's message, "\r\n" included, in err.  NULL: not available. */
    bool (*refresh_certs)(void *arg, char *err, size_t errlen);
};

/* The key of the request being served and its hash, when a lookahead
 * (text_ahead.c, binary.c) computed it; key: where in the input its bytes
 * are, NULL when there is none. */
struct proto_key_hint {
    const char *key;
    size_t nkey;
    uint64_t hash;
};

/* cache_hash() of a key the current request names: from the hint when it
 * is the same bytes, computed otherwise. */
static inline uint64_t proto_key_hash(const struct proto_key_hint *h, const char *key, size_t nkey)
{
    if (key == h->key && nkey == h->nkey)
        return h->hash;
    return cache_hash(key, nkey);
}

/* Everything a protocol handler reads besides the request bytes. */
struct proto_env {
    rel_time_t now;             /* cache time, read once per event-loop turn */
    const struct proto_settings *settings;
    struct proto_counters *counters;    /* this worker's */
    const struct proto_hooks *hooks;
    struct proto_timing *timing;        /* this worker's latency histograms (timing.h);
                                         * NULL: not measured */
    int fd;                             /* the client's socket, for watch's cfd= */
};

#endif
