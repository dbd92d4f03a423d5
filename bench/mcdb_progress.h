/*
 * mcdb_progress: --report-interval, the counts of a run while it runs.
 */
#ifndef MCDB_PROGRESS_H
#define MCDB_PROGRESS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

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

/* One worker's counts as the reporter reads them: written by that worker only, relaxed. */
struct progress_live {
    _Atomic uint64_t requests, sets, gets, get_keys, hits, misses;
    _Atomic uint64_t sets_refused, verify_errors, protocol_errors;
    atomic_bool done;           /* release: every count above is final */
};

/* Publish a worker's counts so far (from the worker's thread). */
void progress_publish(struct progress_live *l, const struct bench_progress *counts);
/* Say the worker's published counts are final. */
void progress_done(struct progress_live *l);
/*
 * From now until every one of lives[0..n) is done, call tick at the end of
 * every `interval` seconds with what that interval counted, and once more
 * for the last part (unless nothing happened in it).
 */
void progress_report(struct progress_live *const *lives, unsigned n, double interval,
                     bench_tick_fn tick, void *arg);

#endif
