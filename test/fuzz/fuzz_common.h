/*
 * Shared by the libFuzzer targets: one worker's env over a real (small)
 * cache with no background threads, stub server hooks, a user table for
 * -Y and -S, and checks every reply must pass whatever the input.
 *
 * Each input runs on a fresh cache (cache_setup/cache_teardown), so a crash
 * reproduces from its input alone.
 */
#ifndef MCD_FUZZ_COMMON_H
#define MCD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cache.h"
#include "proto.h"
#include "reply.h"

static inline void fuzz_server_stats(void *arg, struct proto_server_stats *out)
{
    (void)arg;
    out->pid = 1;
    out->threads = 1;
}
static inline void fuzz_conn_stats(void *arg, struct stats_sink *s) { (void)arg; (void)s; }
static inline void fuzz_stats_reset(void *arg) { (void)arg; }
static inline void fuzz_shutdown(void *arg, bool graceful) { (void)arg; (void)graceful; }
static inline void fuzz_verbosity(void *arg, int level) { (void)arg; (void)level; }

static const struct proto_hooks fuzz_hooks = {
    .server_stats = fuzz_server_stats, .conn_stats = fuzz_conn_stats,
    .stats_reset = fuzz_stats_reset, .shutdown = fuzz_shutdown, .verbosity = fuzz_verbosity,
};

static struct proto_settings fuzz_settings;
static struct proto_counters fuzz_counters;
static struct proto_env fuzz_env = { .now = 100, .settings = &fuzz_settings,
                                     .counters = &fuzz_counters, .hooks = &fuzz_hooks };
static struct auth_table *fuzz_users;

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* memcached's defaults, and -Y/-S users "alice:secret" and "bob:hunter2". */
static inline void fuzz_settings_defaults(void)
{
    static const char users[] = "alice:secret\nbob:hunter2\r\n";
    char err[128];
    if (fuzz_users == NULL)
        fuzz_users = auth_parse(users, sizeof(users) - 1, err, sizeof(err));
    FUZZ_CHECK(fuzz_users != NULL);
    fuzz_settings = (struct proto_settings){
        .version = "1.6.18", .mcd_version = "fuzz", .use_cas = true, .flush_enabled = true,
        .dump_enabled = true, .watch_enabled = true, .reqs_per_event = 20,
        .item_size_max = 64 * 1024, .maxbytes = 4 * 1024 * 1024, .evict_to_free = true,
        .reply_bound = PROTO_REPLY_BOUND, .threads = 1, .maxconns = 16, .factor = 1.25,
        .chunk_size = 48, .hashpower = 10,
    };
    memset(&fuzz_counters, 0, sizeof(fuzz_counters));
    fuzz_env.now = 100;
}

/*
 * A 4 MB cache; the crawler and the page mover do not run.  It is set up
 * once and emptied (flush_all) between inputs, which is ten times faster
 * than a new one; MCD_FUZZ_FRESH=1 sets up a new cache for every input, so
 * a crash that depends on what earlier inputs left in the slab classes
 * still reproduces from its input alone.  CAS is on (the default) unless
 * MCD_FUZZ_NOCAS=1: the mode is the process's, as -C is the server's, since
 * setting a cache up and down for every other input fragments the address
 * space until ASan cannot map (a fuzzing artefact, not a server's life).
 */
static bool fuzz_cache_is_up;

static inline bool fuzz_env_flag(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] == '1';
}

/* Whether the cache keeps CAS uniques (the server's -C inverted). */
static inline bool fuzz_use_cas(void)
{
    static int cas = -1;
    if (cas < 0)
        cas = !fuzz_env_flag("MCD_FUZZ_NOCAS");
    return cas;
}

static inline void fuzz_cache_up(void)
{
    static int fresh = -1;
    if (fresh < 0)
        fresh = fuzz_env_flag("MCD_FUZZ_FRESH");
    if (fuzz_cache_is_up && fresh) {
        cache_teardown();
        fuzz_cache_is_up = false;
    }
    if (!fuzz_cache_is_up) {
        struct cache_options o = {
            .maxbytes = 4 * 1024 * 1024, .item_size_max = 64 * 1024, .factor = 1.25,
            .min_chunk = 48, .hashpower = 10, .use_cas = fuzz_use_cas(), .evict_to_free = true,
            .started = 1700000000,
        };
        FUZZ_CHECK(cache_setup(&o) == 0);
        fuzz_cache_is_up = true;
    }
    cache_flush(0, 0);
    cache_set_memlimit(4 * 1024 * 1024);
    fuzz_settings.use_cas = fuzz_use_cas();
}

static inline void fuzz_cache_down(void) {}

/* Take up to `max` bytes of the reply as a client would read them, into
 * out (which has room for `cap` bytes in all) at *n; returns bytes taken. */
static inline size_t fuzz_drain(struct reply *r, char *out, size_t cap, size_t *n, size_t max)
{
    struct iovec iov[64];
    size_t took = 0;
    while (!reply_empty(r) && took < max) {
        int k = reply_iov(r, iov, 64);
        FUZZ_CHECK(k > 0);
        size_t step = 0;
        for (int i = 0; i < k && took + step < max; i++) {
            size_t len = iov[i].iov_len;
            if (took + step + len > max)
                len = max - took - step;
            FUZZ_CHECK(iov[i].iov_base != NULL || len == 0);
            if (*n + len <= cap)
                memcpy(out + *n, iov[i].iov_base, len);
            *n += len;
            step += len;
        }
        FUZZ_CHECK(step <= reply_pending(r));
        reply_consumed(r, step);
        took += step;
    }
    return took;
}

/* The binary replies in buf[0..n) are whole responses, back to back. */
static inline void fuzz_check_binary_replies(const char *buf, size_t n)
{
    size_t pos = 0;
    while (pos + 24 <= n) {
        const unsigned char *h = (const unsigned char *)buf + pos;
        FUZZ_CHECK(h[0] == 0x81);
        uint32_t body = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
        uint16_t keylen = (uint16_t)(h[2] << 8 | h[3]);
        FUZZ_CHECK((uint32_t)keylen + h[4] <= body);
        pos += 24 + (size_t)body;
    }
    FUZZ_CHECK(pos == n);
}

/* The text replies in buf[0..n) end with a whole line. */
static inline void fuzz_check_text_replies(const char *buf, size_t n)
{
    FUZZ_CHECK(n == 0 || (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n'));
}

#endif
