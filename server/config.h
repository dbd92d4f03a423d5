/*
 * config: every setting of mcd, parsed once from the command line by
 * options.c and handed by main.c to each module's setup.  No module reads
 * argv or a global settings struct; this is the only place settings live.
 */
#ifndef MCD_CONFIG_H
#define MCD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 64
/* mcd's own version (-V, stats mcd_version), and the memcached release whose
 * protocol it speaks: what `version` and `stats` report, so clients that
 * parse or gate features on the server's version see a memcached one. */
#define MCD_VERSION "0.1"
#define MCD_MEMCACHED_VERSION "1.6.18"

enum config_proto { CONFIG_PROTO_AUTO = 0, CONFIG_PROTO_ASCII, CONFIG_PROTO_BINARY };

/* One address to listen on: host (NULL = any) and TCP port. */
struct config_listen {
    char *host;
    int port;
    bool notls;                  /* "notls:" prefix: plain TCP under -Z */
};

struct config {
    /* network */
    int port;                    /* -p, default 11211 */
    int udp_port;                /* -U, default 0 (off) */
    char *unix_socket;           /* -s */
    int unix_mask;               /* -a, default 0700 */
    struct config_listen listen[CONFIG_MAX_LISTEN]; /* -l, port 0 = use -p */
    int nlisten;
    int backlog;                 /* -b, default 1024 */
    int maxconns;                /* -c, default 1024 */
    bool maxconns_fast;          /* -o maxconns_fast (default true) */
    enum config_proto protocol;  /* -B */

    /* process */
    bool daemonize;              /* -d */
    char *user;                  /* -u */
    char *pidfile;               /* -P */
    bool coredumps;              /* -r */
    bool lock_memory;            /* -k */
    int verbose;                 /* -v count */

    /* threads and fairness */
    int threads;                 /* -t, default 4 */
    int reqs_per_event;          /* -R, default 20 */
    int idle_timeout;            /* -o idle_timeout, seconds, 0 = off */

    /* memory and items */
    size_t maxbytes;             /* -m in bytes, default 64 MB */
    bool evict_to_free;          /* false with -M */
    bool use_cas;                /* false with -C */
    size_t item_size_max;        /* -I, default 1 MB */
    double factor;               /* -f, default 1.25 */
    int chunk_size;              /* -n, default 48 */
    int hashpower;               /* -o hashpower, default 16 */
    bool slab_reassign;          /* -o slab_reassign (default on) */
    unsigned slab_automove;      /* -o slab_automove=0|1|2 (default 1) */
    double slab_automove_ratio;  /* -o slab_automove_ratio (default 0.8) */
    unsigned slab_automove_window; /* -o slab_automove_window (default 30) */
    size_t slab_chunk_max;       /* -o slab_chunk_max, 0 = half a page */
    bool track_sizes;            /* -o track_sizes: `stats sizes` from the start */

    /* commands */
    bool shutdown_enabled;       /* -A */
    bool flush_enabled;          /* false with -F */
    bool dump_enabled;           /* false with -X: no stats cachedump, no metadump */
    bool watch_enabled;          /* false with -W: no watch */
    bool lru_crawler;            /* -o lru_crawler / no_lru_crawler */
    uint32_t lru_crawler_sleep;  /* -o lru_crawler_sleep, microseconds (default 100) */
    uint32_t lru_crawler_tocrawl; /* -o lru_crawler_tocrawl (default 0, all) */
    char prefix_delimiter;       /* -D, default ':' */
    bool detail_enabled;         /* -D turns per-prefix stats on */

    /* operations */
    char *memory_file;           /* -e: warm restart file, NULL = off */
    int metrics_port;            /* -o metrics_port: Prometheus endpoint, 0 = off */

    /* authentication and TLS (auth.h, tls.c) */
    char *auth_file;             /* -Y: text and meta need "user password" first */
    bool sasl;                   /* -S: binary SASL PLAIN, users from MEMCACHED_SASL_PWDB */
    bool ssl_enabled;            /* -Z */
    char *ssl_chain_cert;        /* -o ssl_chain_cert */
    char *ssl_key;               /* -o ssl_key */
    char *ssl_ca_cert;           /* -o ssl_ca_cert */
    char *ssl_ciphers;           /* -o ssl_ciphers */
    int ssl_verify_mode;         /* -o ssl_verify_mode, as OpenSSL's SSL_VERIFY_* bits */
    int ssl_keyformat;           /* -o ssl_keyformat, default 1 (PEM) */
    unsigned ssl_wbuf_size;      /* -o ssl_wbuf_size, bytes (given in KB), default 16384 */
    bool ssl_session_cache;      /* -o ssl_session_cache */
    bool ssl_kernel_tls;         /* -o ssl_kernel_tls: accepted, no effect */
    int ssl_min_version;         /* -o ssl_min_version: 0..3 = TLS 1.0..1.3, default 2 */
};

#endif
