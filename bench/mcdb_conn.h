/*
 * mcdb_conn: the load generator's workers, each a thread with its own epoll
 * loop over its connections.
 */
#ifndef MCDB_CONN_H
#define MCDB_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "mcdb_ketama.h"
#include "mcdb_keys.h"
#include "mcdb_progress.h"
#include "mcdb_proto.h"

/*
 * One run, as the command line set it; read-only for the workers.  Every
 * connection has a socket to each server; with more than one, a key goes
 * to the server `ring` places it on, and a multiget is split by server.
 */
struct bench_config {
    struct sockaddr_in addr[KETAMA_MAX_SERVERS];
    unsigned nservers;
    struct ketama ring;
    unsigned threads;
    unsigned conns;             /* per thread */
    unsigned pipeline;          /* requests in flight per connection */
    unsigned ratio_set, ratio_get;
    unsigned multiget;          /* keys per get */
    bool run;                   /* false: prefill only */
    uint64_t requests;          /* in all, 0 = bounded by test_time only */
    double test_time;           /* seconds, 0 = bounded by requests only */
    double rate;                /* requests/s in all, 0 = closed loop */
    bool busy_poll;             /* open loop: poll until the next send instead of sleeping */
    bool prefill;
    bool set_on_miss;
    bool tls;                   /* --tls: every connection speaks TLS */
    uint64_t seed;
    double report_interval;     /* seconds between on_tick calls, 0 = none */
    bench_tick_fn on_tick;
    void *tick_arg;
    struct proto_ctx pc;
    struct key_dist dist;
};

/* What one server was sent in the run phase: requests (a multiget's part counts once),
 * keys, hits. */
struct server_counts {
    uint64_t requests, keys, hits;
};

/* What a run measured: one per worker, summed by bench_run. */
struct bench_stats {
    uint64_t requests, sets, gets, get_keys, hits, misses;
    uint64_t sets_refused;      /* SERVER_ERROR to a set: valid, but not stored */
    uint64_t verify_errors, protocol_errors;
    uint64_t prefill_sets;
    unsigned conns_ok;
    uint64_t t_prefill_start, t_prefill_end;    /* CLOCK_MONOTONIC ns */
    uint64_t t_start, t_end;
    struct hist latency;                        /* ns per request, all its parts answered */
    struct server_counts server[KETAMA_MAX_SERVERS];
    char first_error[192];
};

/* Run cfg->threads workers to the end; `out` gets the totals.  0, or -1 if no thread could start. */
int bench_run(const struct bench_config *cfg, struct bench_stats *out);
/*
 * End the run early, as if its time were up: nothing new is sent, replies in
 * flight are read, the totals are reported.  Async-signal-safe.
 */
void bench_stop(void);

#endif
