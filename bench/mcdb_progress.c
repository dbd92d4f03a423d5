/*
 * mcdb_progress: the interval reporter.  Each worker copies its counters
 * into its own relaxed atomics once per loop turn (one writer each), and the
 * thread that started the run sums them at each interval's end, so a report
 * costs the workers no lock and no shared write per request.  The reporter
 * sleeps to the interval's end, waking every 20 ms to see whether the run
 * ended, so the last line comes promptly.
 */
#include "mcdb_progress.h"

#include <time.h>

#define NS_PER_S 1000000000ULL
#define POLL_NS (20 * 1000 * 1000ULL)

#define PUBLISH(l, c, f) atomic_store_explicit(&(l)->f, (c)->f, memory_order_relaxed)

void progress_publish(struct progress_live *l, const struct bench_progress *c)
{
    PUBLISH(l, c, requests);
    PUBLISH(l, c, sets);
    PUBLISH(l, c, gets);
    PUBLISH(l, c, get_keys);
    PUBLISH(l, c, hits);
    PUBLISH(l, c, misses);
    PUBLISH(l, c, sets_refused);
    PUBLISH(l, c, verify_errors);
    PUBLISH(l, c, protocol_errors);
}

void progress_done(struct progress_live *l)
{
    atomic_store_explicit(&l->done, true, memory_order_release);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

#define GATHER(p, ls, n, f) do { (p)->f = 0; for (unsigned i_ = 0; i_ < (n); i_++) \
    (p)->f += atomic_load_explicit(&(ls)[i_]->f, memory_order_relaxed); } while (0)

/* Every worker's published counts, summed. */
static void gather(struct progress_live *const *ls, unsigned n, struct bench_progress *p)
{
    GATHER(p, ls, n, requests);
    GATHER(p, ls, n, sets);
    GATHER(p, ls, n, gets);
    GATHER(p, ls, n, get_keys);
    GATHER(p, ls, n, hits);
    GATHER(p, ls, n, misses);
    GATHER(p, ls, n, sets_refused);
    GATHER(p, ls, n, verify_errors);
    GATHER(p, ls, n, protocol_errors);
}

static struct bench_progress sub(const struct bench_progress *a, const struct bench_progress *b)
{
    return (struct bench_progress){
        a->requests - b->requests, a->sets - b->sets, a->gets - b->gets,
        a->get_keys - b->get_keys, a->hits - b->hits, a->misses - b->misses,
        a->sets_refused - b->sets_refused, a->verify_errors - b->verify_errors,
        a->protocol_errors - b->protocol_errors,
    };
}

static bool all_done(struct progress_live *const *ls, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!atomic_load_explicit(&ls[i]->done, memory_order_acquire))
            return false;
    return true;
}

void progress_report(struct progress_live *const *lives, unsigned n, double interval,
                     bench_tick_fn tick, void *arg)
{
    uint64_t step = (uint64_t)(interval * NS_PER_S);
    uint64_t t0 = now_ns(), prev = t0, next = t0 + step;
    struct bench_progress last, cur;
    gather(lives, n, &last);
    for (;;) {
        bool done = all_done(lives, n);
        uint64_t now = now_ns();
        if (now >= next || done) {
            gather(lives, n, &cur);
            struct bench_progress d = sub(&cur, &last);
            if (now > prev && (!done || d.requests > 0 || d.protocol_errors > 0))
                tick((double)(now - t0) / 1e9, (double)(now - prev) / 1e9, now, &d, arg);
            if (done)
                return;
            last = cur;
            prev = now;
            while (next <= now)
                next += step;
            continue;
        }
        uint64_t until = next - now > POLL_NS ? now + POLL_NS : next;
        struct timespec ts = { (time_t)(until / NS_PER_S), (long)(until % NS_PER_S) };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}
