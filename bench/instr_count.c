/*
 * instr-count: the server's request path as a deterministic program, for
 * counting instructions per request under callgrind (`make bench`'s
 * callgrind workload; bench/README.md).
 *
 * A real cache (100,000 keys of 32-byte values, as the throughput
 * workloads) and a real connection (server/conn.c) over a unix socket
 * pair: this program plays the client, writing a batch of requests in
 * mcd-bench's own formats and reading the replies, and calls conn_run()
 * once per batch, as a worker does when the socket is readable.  Run under
 * `valgrind --tool=callgrind --toggle-collect=conn_run`, only what
 * conn_run does is counted: the read, parsing, hashing, the table, the
 * replies, the send — the server's whole user-space path, but not epoll
 * and not this client.  Each phase (protocol x request kind x batch size)
 * ends with a callgrind dump named after it; the instruction count of the
 * dump divided by the phase's requests is the cost of one request.
 *
 * Last, text get hits and sets again with the latency histograms on (as
 * under -o metrics_port; kinds "get_hit_timed", "set_timed"): what timing
 * every request costs.
 *
 * Without valgrind the program runs the same phases unmeasured, checking
 * them: every get of a present key must hit, every other must miss.
 * Deterministic: a fixed hash seed, fixed key sequences, no clock, no
 * background threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_DUMP_STATS_AT
#define CALLGRIND_DUMP_STATS_AT(label) ((void)(label))
#define CALLGRIND_ZERO_STATS ((void)0)
#define CALLGRIND_START_INSTRUMENTATION ((void)0)
#endif

#include "cache.h"
#include "conn.h"
#include "hash.h"
#include "proto.h"
#include "timing.h"

#define KEYS 100000
#define VLEN 32
#define MGET 10
#define BIN_HEADER 24

enum kind { GET_HIT, GET_MISS, SET, MGET10, NKINDS };
static const char *const kind_name[NKINDS] = { "get_hit", "get_miss", "set", "multiget_10" };
enum proto { TEXT, META, BINARY, NPROTOS };
static const char *const proto_name[NPROTOS] = { "text", "meta", "binary" };

static struct proto_settings settings = {
    .version = "1.6.18", .mcd_version = "instr-count", .use_cas = true, .flush_enabled = true,
    .reqs_per_event = 20, .item_size_max = 1024 * 1024, .evict_to_free = true,
    .reply_bound = PROTO_REPLY_BOUND,
};
static void no_stats(void *arg, struct proto_server_stats *out) { (void)arg; (void)out; }
static void no_conns(void *arg, struct stats_sink *s) { (void)arg; (void)s; }
static void no_reset(void *arg) { (void)arg; }
static void no_shutdown(void *arg, bool graceful) { (void)arg; (void)graceful; }
static void no_verbosity(void *arg, int level) { (void)arg; (void)level; }
static const struct proto_hooks hooks = { .server_stats = no_stats, .conn_stats = no_conns,
                                          .stats_reset = no_reset, .shutdown = no_shutdown,
                                          .verbosity = no_verbosity };
static struct proto_counters counters;
static struct proto_timing timing;
static struct proto_env env = { .now = 1000, .settings = &settings, .counters = &counters,
                                .hooks = &hooks };
static char scratch[CONN_SCRATCH_SIZE];

static void die(const char *what)
{
    fprintf(stderr, "instr-count: %s\n", what);
    exit(1);
}

/* xorshift64*: the same key sequence on every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_id(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (rng * 0x2545f4914f6cdd1dULL) % KEYS;
}

/* --- requests in mcd-bench's formats (bench/mcdb_proto.c) --- */

struct buf {
    char data[64 * 1024];
    size_t len;
};

static void put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > sizeof(b->data))
        die("batch too large");
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_str(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static size_t key_of(char *k, bool present, uint64_t id)
{
    return (size_t)sprintf(k, "%s%llu", present ? "key:" : "nokey:", (unsigned long long)id);
}

static void bin_header(struct buf *b, uint8_t op, size_t nkey, size_t next, size_t nbody)
{
    unsigned char h[BIN_HEADER] = { 0x80, op, (unsigned char)(nkey >> 8), (unsigned char)nkey,
                                    (unsigned char)next };
    h[8] = (unsigned char)(nbody >> 24);
    h[9] = (unsigned char)(nbody >> 16);
    h[10] = (unsigned char)(nbody >> 8);
    h[11] = (unsigned char)nbody;
    put(b, h, sizeof(h));
}

static void add_set(struct buf *b, enum proto p, uint64_t id)
{
    char k[32], line[64], value[VLEN];
    size_t nk = key_of(k, true, id);
    memset(value, 'a' + (int)(id % 26), VLEN);
    if (p == BINARY) {
        static const char extras[8];
        bin_header(b, 0x01, nk, 8, 8 + nk + VLEN);
        put(b, extras, 8);
        put(b, k, nk);
        put(b, value, VLEN);
        return;
    }
    sprintf(line, p == META ? "ms %s %d\r\n" : "set %s 0 0 %d\r\n", k, VLEN);
    put_str(b, line);
    put(b, value, VLEN);
    put_str(b, "\r\n");
}

/* A get of n keys, present or not. */
static void add_get(struct buf *b, enum proto p, bool present, unsigned n)
{
    char k[32];
    if (p == TEXT)
        put_str(b, "get");
    for (unsigned i = 0; i < n; i++) {
        size_t nk = key_of(k, present, next_id());
        if (p == TEXT) {
            put_str(b, " ");
            put(b, k, nk);
        } else if (p == META) {
            put_str(b, "mg ");
            put(b, k, nk);
            put_str(b, n > 1 ? " v k q\r\n" : " v k\r\n");
        } else {
            bin_header(b, n > 1 ? 0x0d : 0x0c, nk, 0, nk);   /* GETKQ / GETK */
            put(b, k, nk);
        }
    }
    if (p == TEXT)
        put_str(b, "\r\n");
    else if (n > 1 && p == META)
        put_str(b, "mn\r\n");
    else if (n > 1)
        bin_header(b, 0x0a, 0, 0, 0);                        /* NOOP */
}

static void add_request(struct buf *b, enum proto p, enum kind k)
{
    switch (k) {
    case GET_HIT: add_get(b, p, true, 1); break;
    case GET_MISS: add_get(b, p, false, 1); break;
    case SET: add_set(b, p, next_id()); break;
    default: add_get(b, p, true, MGET); break;
    }
}

/* --- the connection --- */

struct client {
    int fd;                     /* our end */
    struct conn *conn;          /* the server's end */
};

static void client_open(struct client *cl)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        die("socketpair");
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    cl->fd = sv[1];
    cl->conn = conn_new(sv[0]);
    if (cl->conn == NULL)
        die("conn_new");
}

/* Send one batch, let the server serve it, read every reply byte. */
static void client_batch(struct client *cl, const struct buf *b)
{
    if (write(cl->fd, b->data, b->len) != (ssize_t)b->len)
        die("write: the batch did not fit the socket");
    /* -R stops a long batch: the worker runs the connection again on its
     * next turn, as here. */
    enum conn_wait w;
    while ((w = conn_run(cl->conn, &env, scratch)) == CONN_YIELD)
        ;
    if (w != CONN_WAIT_READ)
        die("the connection did not go back to reading");
    char sink[64 * 1024];
    while (read(cl->fd, sink, sizeof(sink)) > 0)
        ;
    if (errno != EAGAIN)
        die("read");
}

/* Hits and sets are counted per class. */
static uint64_t total_hits(void)
{
    uint64_t n = 0;
    for (unsigned c = 0; c <= CACHE_MAX_CLASSES; c++)
        n += counter_get(&counters.cls[c].get_hits);
    return n;
}

static uint64_t total_sets(void)
{
    uint64_t n = 0;
    for (unsigned c = 0; c <= CACHE_MAX_CLASSES; c++)
        n += counter_get(&counters.cls[c].cmd_set);
    return n;
}

/* Run `requests` requests of one kind, `batch` per read; check the hits. */
static void phase(struct client *cl, enum proto p, enum kind k, unsigned batch,
                  unsigned requests, const char *label)
{
    uint64_t hits = total_hits(), misses = counter_get(&counters.get_misses);
    uint64_t sets = total_sets();
    CALLGRIND_ZERO_STATS;
    for (unsigned done = 0; done < requests; done += batch) {
        struct buf b = { .len = 0 };
        for (unsigned i = 0; i < batch; i++)
            add_request(&b, p, k);
        client_batch(cl, &b);
    }
    CALLGRIND_DUMP_STATS_AT(label);
    uint64_t keys = (uint64_t)requests * (k == MGET10 ? MGET : 1);
    uint64_t dh = total_hits() - hits, dm = counter_get(&counters.get_misses) - misses;
    uint64_t ds = total_sets() - sets;
    bool ok = k == SET ? ds == requests
                       : (k == GET_MISS ? dm == keys && dh == 0 : dh == keys && dm == 0);
    if (!ok) {
        fprintf(stderr, "instr-count: %s: hits %llu, misses %llu, sets %llu for %llu keys\n",
                label, (unsigned long long)dh, (unsigned long long)dm, (unsigned long long)ds,
                (unsigned long long)keys);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    unsigned requests = argc > 1 ? (unsigned)atoi(argv[1]) : 1600;
    if (requests < 16)
        die("usage: instr-count [requests per phase, at least 16]");
    struct cache_options o = {
        .maxbytes = 1024u * 1024 * 1024, .item_size_max = 1024 * 1024, .factor = 1.08,
        .min_chunk = 48, .hashpower = 16, .use_cas = true, .evict_to_free = true,
        .slab_reassign = true, .started = 1700000000,
    };
    if (cache_setup(&o) != 0)
        die("cache_setup");
    hash_seed[0] = 0x5eed;      /* before any key is placed: the same table every run */
    hash_seed[1] = 0xfeed;
    struct client cl[NPROTOS];
    for (int p = 0; p < NPROTOS; p++)
        client_open(&cl[p]);
    /* Every key present, as after mcd-bench --prefill. */
    for (uint64_t id = 0; id < KEYS;) {
        struct buf b = { .len = 0 };
        for (unsigned i = 0; i < 64 && id < KEYS; i++)
            add_set(&b, TEXT, id++);
        client_batch(&cl[TEXT], &b);
    }
    CALLGRIND_START_INSTRUMENTATION;
    static const unsigned batches[] = { 16, 1 };
    printf("{\"requests\":%u,\"phases\":[", requests);
    const char *sep = "";
    for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
        for (int p = 0; p < NPROTOS; p++) {
            for (int k = 0; k < NKINDS; k++) {
                char label[64];
                snprintf(label, sizeof(label), "%s %s %u", proto_name[p], kind_name[k],
                         batches[bi]);
                /* Warm the path (and the reply buffers) first, unmeasured. */
                phase(&cl[p], p, k, batches[bi], 64, "warm-up");
                phase(&cl[p], p, k, batches[bi], requests, label);
                printf("%s{\"label\":\"%s\",\"protocol\":\"%s\",\"kind\":\"%s\",\"batch\":%u}",
                       sep, label, proto_name[p], kind_name[k], batches[bi]);
                sep = ",";
            }
        }
    }
    /* The same paths timed, as when the metrics endpoint is on. */
    timing_setup();
    env.timing = &timing;
    static const enum kind timed[] = { GET_HIT, SET };
    for (size_t bi = 0; bi < sizeof(batches) / sizeof(batches[0]); bi++) {
        for (size_t t = 0; t < sizeof(timed) / sizeof(timed[0]); t++) {
            char label[64];
            snprintf(label, sizeof(label), "text %s_timed %u", kind_name[timed[t]], batches[bi]);
            phase(&cl[TEXT], TEXT, timed[t], batches[bi], 64, "warm-up");
            phase(&cl[TEXT], TEXT, timed[t], batches[bi], requests, label);
            printf(",{\"label\":\"%s\",\"protocol\":\"text\",\"kind\":\"%s_timed\","
                   "\"batch\":%u}", label, kind_name[timed[t]], batches[bi]);
        }
    }
    uint64_t timed_count = 0;
    for (unsigned b = 0; b <= TIMING_BUCKETS; b++)
        timed_count += counter_get(&timing.count[TIMING_GET][b]) +
                       counter_get(&timing.count[TIMING_SET][b]);
    if (timed_count != 2 * sizeof(batches) / sizeof(batches[0]) * (64 + (uint64_t)requests))
        die("the timed phases were not all counted in the histograms");
    printf("]}\n");
    for (int p = 0; p < NPROTOS; p++) {
        conn_free(cl[p].conn);
        close(cl[p].fd);
    }
    cache_teardown();
    return 0;
}
