/*
 * hist: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values below 2^HIST_SUB_BITS have a bucket each; above, every power of two
 * is cut into 2^HIST_SUB_BITS equal buckets, so a bucket is never wider than
 * 1/128 of its values.  Recording is a count-leading-zeros and an increment,
 * memory is fixed (35 KB), and two histograms merge by adding counts: each
 * load-generator thread keeps its own and the report merges them.  The
 * alternative, keeping every sample and sorting, costs memory per request.
 */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v);     /* v in [2^e, 2^(e+1)) */
    if (e >= HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    unsigned shift = e - HIST_SUB_BITS;
    unsigned sub = (unsigned)(v >> shift) - HIST_SUB;   /* 0 .. HIST_SUB-1 */
    return (shift + 1) * HIST_SUB + sub;
}

/* The largest value that lands in bucket i. */
static uint64_t hist_bucket_top(unsigned i)
{
    if (i < HIST_SUB)
        return i;
    unsigned shift = i / HIST_SUB - 1;
    uint64_t m = HIST_SUB + i % HIST_SUB;
    return ((m + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
    h->buckets[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

void hist_merge(struct hist *to, const struct hist *from)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        to->buckets[i] += from->buckets[i];
    to->count += from->count;
    to->sum += from->sum;
    if (from->min < to->min)
        to->min = from->min;
    if (from->max > to->max)
        to->max = from->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    /* The rank of the value wanted, 1-based: ceil(q * count), at least 1. */
    double want = q * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want || rank < 1)
        rank++;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = hist_bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
