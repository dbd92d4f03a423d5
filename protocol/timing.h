/*
 * timing: per-command latency histograms, one set per worker (each counter
 * has one writer, as proto_counters), summed by whoever reports them.
 * Measured only when the server asks (proto_env.timing not NULL).
 *
 * What a request costs then is one read of a cheap clock.  The clock is the
 * CPU's time-stamp counter where it is invariant (x86-64 that says so;
 * about 10 ns a read here, against about 22 for clock_gettime), scaled to
 * nanoseconds by a factor timing_setup measures against CLOCK_MONOTONIC;
 * elsewhere, clock_gettime.  And the reads are chained: within one feed
 * (one buffer of requests), a request starts when the one before it ended,
 * so each request reads the clock once, when it ends, plus one read at the
 * feed's first request.  A request's time so runs from the end of the one
 * before it (its own parsing included) to its reply queued.
 */
#ifndef MCD_TIMING_H
#define MCD_TIMING_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "proto.h"

/* The commands timed apart; the rest are "other". */
enum timing_cmd {
    TIMING_GET, TIMING_GETS, TIMING_GAT, TIMING_SET, TIMING_ADD, TIMING_REPLACE,
    TIMING_APPEND, TIMING_PREPEND, TIMING_CAS, TIMING_INCR, TIMING_DECR, TIMING_DELETE,
    TIMING_TOUCH, TIMING_MG, TIMING_MS, TIMING_MD, TIMING_MA, TIMING_MN, TIMING_ME,
    TIMING_STATS, TIMING_OTHER, TIMING_NCMD,
};

/* Bucket k counts requests of at most 2^k microseconds, k < TIMING_BUCKETS;
 * the last bucket the slower ones. */
#define TIMING_BUCKETS 20

struct proto_timing {
    counter_t count[TIMING_NCMD][TIMING_BUCKETS + 1];
    counter_t sum_ns[TIMING_NCMD];
};

/* The clock, set once by timing_setup before any worker runs: whether it
 * is the time-stamp counter, and nanoseconds per tick << 32. */
extern bool timing_tsc;
extern uint64_t timing_ns_mult;

/* Choose and calibrate the clock (about 20 ms, once, at start-up). */
void timing_setup(void);

/* The clock, in ticks (nanoseconds unless timing_tsc). */
static inline uint64_t timing_now(void)
{
#if defined(__x86_64__)
    if (timing_tsc)
        return __rdtsc();
#endif
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds between two readings of timing_now (0 if the clock seemed to
 * go back, as counters of two CPUs may by a few ticks). */
static inline uint64_t timing_ns(uint64_t start, uint64_t end)
{
    if (end <= start)
        return 0;
    return (uint64_t)(((unsigned __int128)(end - start) * timing_ns_mult) >> 32);
}

/* A request's start: where the one before it in this feed ended (*mark),
 * or now for a feed's first. */
static inline uint64_t timing_begin(const uint64_t *mark)
{
    return *mark != 0 ? *mark : timing_now();
}

/* The bucket of a request that took `ns`. */
static inline unsigned timing_bucket(uint64_t ns)
{
    uint64_t us = (ns + 999) / 1000;
    unsigned k = us <= 1 ? 0 : 64 - (unsigned)__builtin_clzll(us - 1);
    return k < TIMING_BUCKETS ? k : TIMING_BUCKETS;
}

/* Count a request of `cmd` that began at `start` (timing_begin) and ends
 * now; *mark becomes its end, the next request's start. */
static inline void timing_record(struct proto_timing *t, enum timing_cmd cmd, uint64_t start,
                                 uint64_t *mark)
{
    uint64_t end = timing_now();
    uint64_t ns = timing_ns(start, end);
    *mark = end;
    counter_inc(&t->count[cmd][timing_bucket(ns)]);
    counter_add(&t->sum_ns[cmd], ns);
}

/* The command's name in metrics ("get", "ms", "other"...). */
const char *timing_cmd_name(enum timing_cmd cmd);
/* The timed command of a binary opcode. */
enum timing_cmd timing_bin_cmd(uint8_t opcode);

#endif
