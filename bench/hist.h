/*
 * hist: a latency histogram with HDR-style log-linear buckets.
 */
#ifndef MCDB_HIST_H
#define MCDB_HIST_H

#include <stdint.h>

/* 2^HIST_SUB_BITS buckets per power of two: values are kept within 1/128 (0.8%). */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Values up to 2^HIST_MAX_BITS (ns: about 18 minutes); larger ones land in the last bucket. */
#define HIST_MAX_BITS 40
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
    uint64_t count;
    uint64_t sum;
    uint64_t min;
    uint64_t max;
    uint64_t buckets[HIST_BUCKETS];
};

/* Empty the histogram. */
void hist_init(struct hist *h);
/* Count one value. */
void hist_record(struct hist *h, uint64_t v);
/* Add every count of `from` to `to`. */
void hist_merge(struct hist *to, const struct hist *from);
/* The value at quantile q (0..1): the top of the bucket holding it, at most max. 0 if empty. */
uint64_t hist_quantile(const struct hist *h, double q);
/* The mean of the values counted, 0 if empty. */
double hist_mean(const struct hist *h);

#endif
