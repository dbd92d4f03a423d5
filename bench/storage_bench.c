/*
 * storage-bench: the storage layer alone, through storage/cache.h only,
 * driven from 1..N threads, no network.
 *
 * For each thread count the cache is set up fresh and filled with every key
 * (untimed), then every thread runs three phases of --ops operations each
 * on uniformly random keys of the shared key space, so threads meet on the
 * same stripes and the same slab classes as server workers do:
 *   sets   cache_alloc, fill the value, cache_store, item_unref
 *   gets   cache_get_visit, checking the whole value under the stripe lock
 *          where the server's get copies it
 *   mixed  one set to ten gets (--mixed-ratio), as a cache-aside server sees
 * Reported: ops/s of each phase at each thread count.  The ratio between
 * counts shows what locking and allocation cost as threads are added; more
 * threads than cores (4 and 8 on 2) show lock convoys as a collapse.
 *
 * A key's value is an 8-byte word derived from the key, repeated; every get
 * must hit and return exactly that, or the run counts an error and exits 1.
 * Sets never fail on a budget this large (the key space fits many times).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

#define NOW 1000
#define MAX_THREADS 64
#define MB (1024 * 1024)

struct sb_options {
    unsigned threads[MAX_THREADS];
    unsigned nthreads;
    uint64_t keys;
    uint64_t ops;               /* per thread per phase */
    size_t data_size;
    size_t memory_mb;
    unsigned hashpower;
    unsigned mixed_sets, mixed_gets;
    bool json;
};

enum sb_phase { SB_SET, SB_GET, SB_MIXED };

struct sb_thread {
    pthread_t tid;
    const struct sb_options *opt;
    pthread_barrier_t *barrier;
    enum sb_phase phase;
    uint64_t rng;
    uint64_t errors;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* "key:<id>": formatted by hand, so the harness's own work stays small
 * beside the storage operation it times (snprintf cost as much as a set). */
static size_t sb_key(char *buf, uint64_t id)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id != 0);
    memcpy(buf, "key:", 4);
    for (int i = 0; i < n; i++)
        buf[4 + i] = digits[n - 1 - i];
    return (size_t)(4 + n);
}

/* The word whose repetition is the value of key `id`. */
static uint64_t sb_value_word(uint64_t id)
{
    uint64_t x = id ^ 0x5bd1e9955bd1e995ULL;
    return splitmix64(&x);
}

static void sb_value_fill(uint64_t id, char *dst, size_t len)
{
    uint64_t w = sb_value_word(id);
    for (size_t i = 0; i < len; i += 8)
        memcpy(dst + i, &w, len - i < 8 ? len - i : 8);
}

static bool sb_value_check(uint64_t id, const char *v, size_t len)
{
    uint64_t w = sb_value_word(id);
    for (size_t i = 0; i < len; i += 8)
        if (memcmp(v + i, &w, len - i < 8 ? len - i : 8) != 0)
            return false;
    return true;
}

static int sb_set(uint64_t id, size_t vlen)
{
    char key[32];
    size_t nkey = sb_key(key, id);
    enum cache_status err;
    struct item *it = cache_alloc(key, nkey, 0, 0, vlen, NOW, &err);
    if (it == NULL)
        return -1;
    sb_value_fill(id, item_value(it), vlen);
    enum cache_status st = cache_store(it, cache_hash(key, nkey), CACHE_SET, 0, NOW);
    item_unref(it);
    return st == CACHE_STORED ? 0 : -1;
}

struct sb_check {
    uint64_t id;
    size_t vlen;
    bool ok;
};

/* What the server's get does under the stripe lock: read the whole value
 * (here, compare it with the key's value instead of copying it into a reply). */
static void sb_get_hit(struct item *it, void *arg)
{
    struct sb_check *c = arg;
    c->ok = item_vlen(it) == c->vlen && sb_value_check(c->id, item_value(it), c->vlen);
}

static int sb_get(uint64_t id, size_t vlen)
{
    char key[32];
    size_t nkey = sb_key(key, id);
    enum cache_miss why;
    struct sb_check c = { .id = id, .vlen = vlen };
    if (!cache_get_visit(key, nkey, cache_hash(key, nkey), NOW, &why, sb_get_hit, &c))
        return -1;
    return c.ok ? 0 : -1;
}

static void *sb_thread_main(void *arg)
{
    struct sb_thread *t = arg;
    const struct sb_options *o = t->opt;
    unsigned cycle = o->mixed_sets + o->mixed_gets;
    pthread_barrier_wait(t->barrier);
    for (uint64_t i = 0; i < o->ops; i++) {
        uint64_t id = (uint64_t)(((unsigned __int128)splitmix64(&t->rng) * o->keys) >> 64);
        bool set = t->phase == SB_SET || (t->phase == SB_MIXED && i % cycle < o->mixed_sets);
        int rc = set ? sb_set(id, o->data_size) : sb_get(id, o->data_size);
        if (rc < 0)
            t->errors++;
    }
    return NULL;
}

/* Run one phase on n threads; ops/s over all of them, errors added to *errors. */
static double sb_phase_run(const struct sb_options *o, unsigned n, enum sb_phase phase,
                           uint64_t *errors)
{
    struct sb_thread th[MAX_THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, n + 1);
    for (unsigned i = 0; i < n; i++) {
        th[i] = (struct sb_thread){ .opt = o, .barrier = &barrier, .phase = phase,
                                    .rng = 0x1234567ULL * (i + 1) + phase };
        if (pthread_create(&th[i].tid, NULL, sb_thread_main, &th[i]) != 0) {
            fprintf(stderr, "storage-bench: cannot start a thread\n");
            exit(2);
        }
    }
    pthread_barrier_wait(&barrier);
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
        pthread_join(th[i].tid, NULL);
        *errors += th[i].errors;
    }
    uint64_t t1 = now_ns();
    pthread_barrier_destroy(&barrier);
    return (double)o->ops * n / ((double)(t1 - t0) / 1e9);
}

static int sb_run(const struct sb_options *o, unsigned n)
{
    struct cache_options co = {
        .maxbytes = o->memory_mb * MB, .item_size_max = MB, .factor = 1.25, .min_chunk = 48,
        .hashpower = o->hashpower, .use_cas = true, .evict_to_free = true,
        .started = (int64_t)time(NULL),
    };
    int rc = cache_setup(&co);
    if (rc != 0) {
        fprintf(stderr, "storage-bench: cache_setup: %s\n", strerror(-rc));
        return -1;
    }
    uint64_t errors = 0;
    for (uint64_t id = 0; id < o->keys; id++)
        if (sb_set(id, o->data_size) < 0)
            errors++;
    double sets = sb_phase_run(o, n, SB_SET, &errors);
    double gets = sb_phase_run(o, n, SB_GET, &errors);
    double mixed = sb_phase_run(o, n, SB_MIXED, &errors);
    cache_teardown();
    if (o->json)
        printf("{\"threads\":%u,\"keys\":%llu,\"ops_per_thread\":%llu,\"data_size\":%zu,"
               "\"set_ops_per_sec\":%.0f,\"get_ops_per_sec\":%.0f,\"mixed_ops_per_sec\":%.0f,"
               "\"mixed_ratio\":\"%u:%u\",\"errors\":%llu}\n",
               n, (unsigned long long)o->keys, (unsigned long long)o->ops, o->data_size,
               sets, gets, mixed, o->mixed_sets, o->mixed_gets, (unsigned long long)errors);
    else
        printf("%2u thread%s  sets %11.0f ops/s (%9.0f per thread)   gets %11.0f ops/s "
               "(%9.0f per thread)   mixed %u:%u %11.0f ops/s   errors %llu\n",
               n, n > 1 ? "s" : " ", sets, sets / n, gets, gets / n, o->mixed_sets,
               o->mixed_gets, mixed, (unsigned long long)errors);
    return errors ? -1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: storage-bench [options]\n"
"  --threads=LIST     thread counts to run, comma-separated (default 1,2)\n"
"  --keys=N           key space, filled before timing (default 100000)\n"
"  --ops=N            operations per thread in each phase: sets, gets, mixed\n"
"                     (default 1000000)\n"
"  --mixed-ratio=S:G  sets to gets in the mixed phase (default 1:10)\n"
"  --data-size=N      value bytes (default 32)\n"
"  --memory=MB        cache budget (default 1024)\n"
"  --hashpower=N      initial table size, 2^N buckets (default 16)\n"
"  --json             one JSON line per thread count\n");
}

static int sb_parse_threads(const char *s, struct sb_options *o)
{
    o->nthreads = 0;
    char *end;
    do {
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > MAX_THREADS || o->nthreads == MAX_THREADS)
            return -1;
        o->threads[o->nthreads++] = (unsigned)v;
        s = end + 1;
    } while (*end == ',');
    return *end == '\0' ? 0 : -1;
}

static int sb_parse(int argc, char **argv, struct sb_options *o)
{
    static const struct option longs[] = {
        { "threads", required_argument, NULL, 't' }, { "keys", required_argument, NULL, 'k' },
        { "ops", required_argument, NULL, 'n' }, { "data-size", required_argument, NULL, 'd' },
        { "memory", required_argument, NULL, 'm' }, { "hashpower", required_argument, NULL, 'H' },
        { "mixed-ratio", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct sb_options){ .threads = { 1, 2 }, .nthreads = 2, .keys = 100000,
                              .ops = 1000000, .data_size = 32, .memory_mb = 1024,
                              .hashpower = 16, .mixed_sets = 1, .mixed_gets = 10 };
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        char *end = NULL;
        unsigned long long v = optarg ? strtoull(optarg, &end, 10) : 0;
        bool num_ok = optarg && end != optarg && *end == '\0';
        switch (c) {
        case 't': if (sb_parse_threads(optarg, o) < 0) return -1; break;
        case 'k': if (!num_ok || v == 0) return -1; o->keys = v; break;
        case 'n': if (!num_ok) return -1; o->ops = v; break;
        case 'd': if (!num_ok || v == 0 || v > 500000) return -1; o->data_size = v; break;
        case 'm': if (!num_ok || v == 0) return -1; o->memory_mb = v; break;
        case 'H': if (!num_ok || v < 12 || v > 32) return -1; o->hashpower = (unsigned)v; break;
        case 'r': {
            int used = 0;
            if (sscanf(optarg, "%u:%u%n", &o->mixed_sets, &o->mixed_gets, &used) != 2
                || optarg[used] != '\0' || o->mixed_sets + o->mixed_gets == 0
                || o->mixed_sets + o->mixed_gets > 1000000)
                return -1;
            break;
        }
        case 'j': o->json = true; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct sb_options o;
    if (sb_parse(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    int rc = 0;
    for (unsigned i = 0; i < o.nthreads; i++)
        if (sb_run(&o, o.threads[i]) < 0)
            rc = 1;
    return rc;
}
