/* Shared fixture of the protocol unit tests: stub server hooks that record
 * their calls, one worker's env over a real (small) cache, a connection's
 * input buffer and reply.  Each test file adds its session and its feed. */
#ifndef MCD_TEST_PROTO_FIXTURE_H
#define MCD_TEST_PROTO_FIXTURE_H

#include <string.h>

#include "cache.h"
#include "proto.h"
#include "reply.h"

/* What the stub hooks saw. */
static struct {
    int server_stats, conn_stats, stats_reset, shutdown, verbosity;
    bool graceful;
    int level;
} calls;

static inline void stub_server_stats(void *arg, struct proto_server_stats *out)
{
    (void)arg;
    calls.server_stats++;
    out->pid = 4242;
}
static inline void stub_conn_stats(void *arg, struct stats_sink *s)
{
    (void)arg;
    (void)s;
    calls.conn_stats++;
}
static inline void stub_stats_reset(void *arg) { (void)arg; calls.stats_reset++; }
static inline void stub_shutdown(void *arg, bool graceful)
{
    (void)arg;
    calls.shutdown++;
    calls.graceful = graceful;
}
static inline void stub_verbosity(void *arg, int level)
{
    (void)arg;
    calls.verbosity++;
    calls.level = level;
}

static const struct proto_hooks hooks = {
    .server_stats = stub_server_stats, .conn_stats = stub_conn_stats,
    .stats_reset = stub_stats_reset, .shutdown = stub_shutdown, .verbosity = stub_verbosity,
};
static struct proto_settings settings;
static struct proto_counters counters;
static struct proto_env env = { .now = 100, .settings = &settings, .counters = &counters,
                                .hooks = &hooks };
static struct reply out;
/* What the last feed asked of its transport. */
static enum proto_status last_status;

/* The connection's input buffer: unconsumed bytes stay for the next read. */
static char in[4 * 1024 * 1024];
static size_t inlen;

/* A 4 MB cache, memcached's default settings, everything zeroed. */
static inline int proto_setup(void)
{
    struct cache_options o = {
        .maxbytes = 4 * 1024 * 1024, .item_size_max = 1024 * 1024, .factor = 1.25,
        .min_chunk = 48, .hashpower = 10, .use_cas = true, .evict_to_free = true,
        .started = 1700000000,
    };
    settings = (struct proto_settings){
        .version = "1.6.18", .use_cas = true, .flush_enabled = true, .reqs_per_event = 20,
        .item_size_max = 1024 * 1024, .evict_to_free = true, .reply_bound = PROTO_REPLY_BOUND,
    };
    memset(&calls, 0, sizeof(calls));
    memset(&counters, 0, sizeof(counters));
    inlen = 0;
    reply_init(&out);
    return cache_setup(&o);
}

/* A read of n bytes: append them to the input, let `serve` consume what it
 * can (as the connection would), keep the rest; returns the bytes consumed. */
static inline size_t fixture_feed(const char *s, size_t n, size_t (*serve)(const char *, size_t))
{
    assert_true(inlen + n <= sizeof(in));
    memcpy(in + inlen, s, n);
    inlen += n;
    size_t used = serve(in, inlen);
    memmove(in, in + used, inlen - used);
    inlen -= used;
    return used;
}

static inline void proto_teardown(void)
{
    reply_free(&out);
    cache_teardown();
}

#endif
