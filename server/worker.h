/*
 * worker: N threads, each with its own epoll loop over the connections the
 * acceptor hands it.  See worker.c.
 */
#ifndef MCD_WORKER_H
#define MCD_WORKER_H

#include <stdint.h>

#include "config.h"
#include "proto.h"
#include "reply.h"
#include "stats.h"
#include "timing.h"

/* What workers need to serve requests. */
struct worker_options {
    int threads;
    int idle_timeout;                   /* seconds, 0 = never */
    const struct proto_settings *settings;
    const struct proto_hooks *hooks;
    const int *udp_fds;                 /* bound UDP sockets (-U); each worker dups them */
    int nudp;
    bool timing;                        /* keep latency histograms (the metrics endpoint) */
};

/* Connection counts, for stats and for the acceptor's -c check. */
struct worker_conn_counts {
    uint64_t curr, total;
};

/* Start the worker threads.  0 or -errno. */
int workers_start(const struct worker_options *opt);
/* Stop the threads, close every connection, free everything. */
void workers_stop(void);
/* Hand an accepted socket to the next worker, round-robin, with whether it
 * speaks TLS.  0 or -errno (the caller then closes the socket). */
int workers_dispatch(int fd, bool tls);
/* Connections open now, counting those being handed over. */
uint64_t workers_curr_conns(void);
/* Connections accepted since start. */
uint64_t workers_total_conns(void);
/* Client connections closed since start: the acceptor waits for it to
 * change before accepting again after running out of descriptors. */
uint64_t workers_closed(void);
/* Sum every worker's counters into `out` (zeroed first). */
void workers_sum_counters(struct proto_counters *out);
/* Sum every worker's latency histograms into `out` (zeroed first). */
void workers_sum_timing(struct proto_timing *out);
/* Append `stats conns` lines for every client connection. */
void workers_conn_stats(struct stats_sink *s, rel_time_t now);

/* Cache time at process start: memcached's (ITEM_UPDATE_INTERVAL + 2), so
 * relative times clients see computed from it (meta's t flag on an item
 * given a time in the past) are memcached's. */
#define CLOCK_REL_START 62
/* Cache time from the monotonic clock (CLOCK_REL_START at process start). */
rel_time_t clock_rel_now(void);
/* Set the clock's origin; call once before anything reads it. */
void clock_setup(void);

#endif
