/*
 * timing: per-command latency histograms, one set per worker (each counter
 * has one writer, as proto_counters), summed by whoever reports them.
 * Measured only when the server asks (proto_env.timing not NULL): a
 * request then costs two reads of the clock.
 */
#ifndef MCD_TIMING_H
#define MCD_TIMING_H

#include <stdint.h>
#include <time.h>

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

/* Nanoseconds of the monotonic clock. */
static inline uint64_t timing_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The bucket of a request that took `ns`. */
static inline unsigned timing_bucket(uint64_t ns)
{
    uint64_t us = (ns + 999) / 1000;
    unsigned k = us <= 1 ? 0 : 64 - (unsigned)__builtin_clzll(us - 1);
    return k < TIMING_BUCKETS ? k : TIMING_BUCKETS;
}

/* Count a request of `cmd` that began at `start` (timing_now()). */
static inline void timing_record(struct proto_timing *t, enum timing_cmd cmd, uint64_t start)
{
    uint64_t ns = timing_now() - start;
    counter_inc(&t->count[cmd][timing_bucket(ns)]);
    counter_add(&t->sum_ns[cmd], ns);
}

/* The command's name in metrics ("get", "ms", "other"...). */
const char *timing_cmd_name(enum timing_cmd cmd);
/* The timed command of a binary opcode. */
enum timing_cmd timing_bin_cmd(uint8_t opcode);

#endif
