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
#include "mcdb_keys.h"
#include "mcdb_proto.h"

/* Counts so far, or over one interval: what --report-interval prints. */
struct bench_progress {
    uint64_t requests, sets, gets, get_keys, hits, misses;
    uint64_t sets_refused, verify_errors, protocol_errors;
};

/*
 * Called from the thread that started the run, every interval of the run
 * phase and once at its end: `t` seconds since the run phase began, `dt` the
 * length of this interval, `mono_ns` CLOCK_MONOTONIC at its end, `delta`
 * the counts of this interval.
 */
typedef void (*bench_tick_fn)(double t, double dt, uint64_t mono_ns,
                              const struct bench_progress *delta, void *arg);

/* One run, as the command line set it; read-only for the workers. */
struct bench_config {
    struct sockaddr_in addr;
    unsigned threads;
    unsigned conns;             /* per thread */
    unsigned pipeline;          /* requests in flight per connection */
    unsigned ratio_set, ratio_get;
    unsigned multiget;          /* keys per get */
    bool run;                   /* false: prefill only */
    uint64_t requests;          /* in all, 0 = bounded by test_time only */
    double test_time;           /* seconds, 0 = bounded by requests only */
    double rate;                /* requests/s in all, 0 = closed loop */
    bool prefill;
    bool set_on_miss;
    uint64_t seed;
    double report_interval;     /* seconds between on_tick calls, 0 = none */
    bench_tick_fn on_tick;
    void *tick_arg;
    struct proto_ctx pc;
    struct key_dist dist;
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
    struct hist latency;                        /* ns per request */
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
