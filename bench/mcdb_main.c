/*
 * mcd-bench: a load generator for memcached-compatible servers.
 *
 * This file reads the command line into a struct bench_config, runs it
 * (mcdb_conn.c) and reports: a few human lines, or one JSON line with
 * --json for scripts.  Values are checked on every read (mcdb_keys.c), and
 * the exit status is 1 if any value was wrong or any reply was not a valid
 * one, so a benchmark never reports the speed of a broken server.
 *
 * --report-interval adds a line per interval of the run (ops/s and hit
 * ratio over that interval) before the final report; SIGINT or SIGTERM ends
 * the run early and still reports, so a script can stop a run when it has
 * seen enough (a second signal kills).
 *
 * --servers spreads the keys over several servers as a client library does
 * (ketama, mcdb_ketama.c), with a connection to each server per connection,
 * and reports what each server was sent.
 *
 * It loads servers on the loopback network only (127.0.0.0/8): it is a
 * test tool, and a test tool must not flood someone else's machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcdb_conn.h"
#include "mcdb_tls.h"

#define NS_PER_US 1000.0

static void usage(FILE *f)
{
    fprintf(f,
"usage: mcd-bench [options]\n"
"  -s, --server=ADDR        IPv4 loopback address of the server (default 127.0.0.1)\n"
"  -p, --port=PORT          TCP port (default 11211)\n"
"      --servers=LIST       several servers instead of -s/-p: ADDR:PORT[:WEIGHT],... (up to\n"
"                           %d); each key goes to one of them by libmemcached's weighted\n"
"                           ketama (pylibmc's {\"ketama_weighted\": True}; nutcracker's\n"
"                           ketama with hash md5); a multiget is split by server\n"
"  -P, --protocol=NAME      text, meta or binary (default text)\n"
"      --tls                speak TLS (the server's certificate is not checked)\n"
"  -t, --threads=N          load threads, each with its own epoll loop (default 1)\n"
"  -c, --conns=M            connections per thread (default 1)\n"
"      --pipeline=D         requests in flight per connection (default 1)\n"
"      --ratio=S:G          sets to gets (default 1:10)\n"
"  -d, --data-size=N|A-B    value bytes, fixed or a range fixed per key (default 32)\n"
"      --key-max=N          keys 0..N-1 (default 100000)\n"
"      --key-prefix=STR     (default \"key:\")\n"
"      --key-pattern=P      uniform, sequential, gaussian or zipf[:S] (default uniform;\n"
"                           zipf exponent S default 0.99)\n"
"      --multiget=K         keys per get (default 1)\n"
"  -n, --requests=N         requests in all, over every connection; 0 with --prefill:\n"
"                           prefill only (default 100000 unless --test-time)\n"
"  -T, --test-time=SECS     run for this long (with -n: whichever ends first)\n"
"      --rate=R             open loop: R requests/s in all at fixed intervals, latency\n"
"                           from the intended send time (default: closed loop)\n"
"      --busy-poll          open loop: poll until the next send is due instead of\n"
"                           sleeping, so the load thread's own wake-up delay is not\n"
"                           counted as latency (it keeps its CPU busy)\n"
"      --prefill            set every key once before measuring\n"
"      --set-on-miss        set a key after a get misses it (cache-aside)\n"
"      --no-verify          do not check the bytes of values read (a server that stores\n"
"                           nothing, bench/mcd-nostore); replies are still parsed\n"
"      --seed=N             random seed (default 1)\n"
"      --report-interval=S  also report every S seconds of the run: requests, hits and\n"
"                           misses of that interval (with --json: a JSON line each,\n"
"                           with \"interval\"; the last line is still the total)\n"
"      --json               print one JSON line instead of the report\n"
"  SIGINT or SIGTERM ends the run early; the report covers what was done.\n"
"  -h, --help\n", KETAMA_MAX_SERVERS);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || *s == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned *out, unsigned min)
{
    uint64_t v;
    if (parse_u64(s, &v) < 0 || v < min || v > 1000000)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_pattern(const char *s, struct key_dist *d)
{
    d->zipf_s = 0.99;
    if (strcmp(s, "uniform") == 0)
        d->pattern = KEYS_UNIFORM;
    else if (strcmp(s, "sequential") == 0)
        d->pattern = KEYS_SEQUENTIAL;
    else if (strcmp(s, "gaussian") == 0)
        d->pattern = KEYS_GAUSSIAN;
    else if (strncmp(s, "zipf", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
        d->pattern = KEYS_ZIPF;
        if (s[4] == ':') {
            char *end;
            d->zipf_s = strtod(s + 5, &end);
            if (*end != '\0' || !(d->zipf_s > 0) || d->zipf_s > 10)
                return -1;
        }
    } else
        return -1;
    return 0;
}

static int parse_size_range(const char *s, size_t *lo, size_t *hi)
{
    unsigned long a, b;
    int used = 0;
    if (sscanf(s, "%lu-%lu%n", &a, &b, &used) == 2 && s[used] == '\0' && a <= b) {
        *lo = a;
        *hi = b;
    } else if (sscanf(s, "%lu%n", &a, &used) == 1 && s[used] == '\0') {
        *lo = *hi = a;
    } else
        return -1;
    return *hi <= (1u << 30) ? 0 : -1;
}

enum {
    OPT_PIPELINE = 256, OPT_RATIO, OPT_KEY_MAX, OPT_KEY_PREFIX, OPT_KEY_PATTERN, OPT_MULTIGET,
    OPT_RATE, OPT_PREFILL, OPT_SET_ON_MISS, OPT_SEED, OPT_JSON, OPT_REPORT_INTERVAL, OPT_SERVERS,
    OPT_TLS,
    OPT_NO_VERIFY, OPT_BUSY_POLL,
};

static const struct option long_opts[] = {
    { "server", required_argument, NULL, 's' },
    { "port", required_argument, NULL, 'p' },
    { "servers", required_argument, NULL, OPT_SERVERS },
    { "tls", no_argument, NULL, OPT_TLS },
    { "protocol", required_argument, NULL, 'P' },
    { "threads", required_argument, NULL, 't' },
    { "conns", required_argument, NULL, 'c' },
    { "pipeline", required_argument, NULL, OPT_PIPELINE },
    { "ratio", required_argument, NULL, OPT_RATIO },
    { "data-size", required_argument, NULL, 'd' },
    { "key-max", required_argument, NULL, OPT_KEY_MAX },
    { "key-prefix", required_argument, NULL, OPT_KEY_PREFIX },
    { "key-pattern", required_argument, NULL, OPT_KEY_PATTERN },
    { "multiget", required_argument, NULL, OPT_MULTIGET },
    { "requests", required_argument, NULL, 'n' },
    { "test-time", required_argument, NULL, 'T' },
    { "rate", required_argument, NULL, OPT_RATE },
    { "busy-poll", no_argument, NULL, OPT_BUSY_POLL },
    { "prefill", no_argument, NULL, OPT_PREFILL },
    { "set-on-miss", no_argument, NULL, OPT_SET_ON_MISS },
    { "no-verify", no_argument, NULL, OPT_NO_VERIFY },
    { "seed", required_argument, NULL, OPT_SEED },
    { "json", no_argument, NULL, OPT_JSON },
    { "report-interval", required_argument, NULL, OPT_REPORT_INTERVAL },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};

struct cli {
    struct bench_config cfg;
    const char *server;
    const char *servers;        /* --servers, or NULL */
    bool server_given;          /* -s or -p */
    struct ketama_server ring[KETAMA_MAX_SERVERS];
    bool json;
    bool requests_given;
};

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "mcd-bench: bad %s '%s'\n", what, arg);
    return -1;
}

/* One option into the config; -1 on a bad value. */
static int apply_option(struct cli *cli, int opt, const char *arg)
{
    struct bench_config *cfg = &cli->cfg;
    uint64_t v;
    char *end;
    switch (opt) {
    case 's': cli->server = arg; cli->server_given = true; return 0;
    case 'p':
        if (parse_u64(arg, &v) < 0 || v == 0 || v > 65535)
            return bad("port", arg);
        cfg->addr[0].sin_port = htons((uint16_t)v);
        cli->server_given = true;
        return 0;
    case OPT_SERVERS: cli->servers = arg; return 0;
    case OPT_TLS: cfg->tls = true; return 0;
    case 'P': {
        int p = proto_from_name(arg);
        if (p < 0)
            return bad("protocol", arg);
        cfg->pc.proto = (enum proto)p;
        return 0;
    }
    case 't': return parse_uint(arg, &cfg->threads, 1) < 0 ? bad("thread count", arg) : 0;
    case 'c': return parse_uint(arg, &cfg->conns, 1) < 0 ? bad("connection count", arg) : 0;
    case OPT_PIPELINE: return parse_uint(arg, &cfg->pipeline, 1) < 0 ? bad("pipeline", arg) : 0;
    case OPT_MULTIGET: return parse_uint(arg, &cfg->multiget, 1) < 0 ? bad("multiget", arg) : 0;
    case OPT_RATIO:
        if (sscanf(arg, "%u:%u", &cfg->ratio_set, &cfg->ratio_get) != 2
            || cfg->ratio_set + cfg->ratio_get == 0 || cfg->ratio_set + cfg->ratio_get > 1000000)
            return bad("ratio", arg);
        return 0;
    case 'd':
        return parse_size_range(arg, &cfg->pc.dmin, &cfg->pc.dmax) < 0 ? bad("data size", arg) : 0;
    case OPT_KEY_MAX:
        if (parse_u64(arg, &cfg->dist.key_max) < 0 || cfg->dist.key_max == 0)
            return bad("key count", arg);
        return 0;
    case OPT_KEY_PREFIX:
        cfg->pc.prefix = arg;
        cfg->pc.nprefix = strlen(arg);
        if (cfg->pc.nprefix > 200 || strpbrk(arg, " \r\n\t") != NULL)
            return bad("key prefix", arg);
        return 0;
    case OPT_KEY_PATTERN: return parse_pattern(arg, &cfg->dist) < 0 ? bad("key pattern", arg) : 0;
    case 'n':
        cli->requests_given = true;
        return parse_u64(arg, &cfg->requests) < 0 ? bad("request count", arg) : 0;
    case 'T':
        cfg->test_time = strtod(arg, &end);
        return *end != '\0' || !(cfg->test_time > 0) || cfg->test_time > 86400
               ? bad("test time", arg) : 0;
    case OPT_RATE:
        cfg->rate = strtod(arg, &end);
        return *end != '\0' || !(cfg->rate > 0) ? bad("rate", arg) : 0;
    case OPT_BUSY_POLL: cfg->busy_poll = true; return 0;
    case OPT_PREFILL: cfg->prefill = true; return 0;
    case OPT_SET_ON_MISS: cfg->set_on_miss = true; return 0;
    case OPT_NO_VERIFY: cfg->pc.no_verify = true; return 0;
    case OPT_SEED: return parse_u64(arg, &cfg->seed) < 0 ? bad("seed", arg) : 0;
    case OPT_JSON: cli->json = true; return 0;
    case OPT_REPORT_INTERVAL:
        cfg->report_interval = strtod(arg, &end);
        return *end != '\0' || !(cfg->report_interval >= 0.01) || cfg->report_interval > 3600
               ? bad("report interval", arg) : 0;
    default: return -1;
    }
}

/* Server i is addr:port of this weight; loopback addresses only. */
static int set_server(struct cli *cli, unsigned i, const char *addr, unsigned port,
                      unsigned weight)
{
    struct sockaddr_in *sa = &cli->cfg.addr[i];
    *sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1 || (ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "mcd-bench: '%s': only IPv4 loopback addresses (127.x.x.x) are loaded\n",
                addr);
        return -1;
    }
    /* Named as libmemcached names a server on its ring (see mcdb_ketama.c). */
    struct ketama_server *k = &cli->ring[i];
    if (port == 11211)
        snprintf(k->name, sizeof(k->name), "%s", addr);
    else
        snprintf(k->name, sizeof(k->name), "%s:%u", addr, port);
    k->weight = weight;
    return 0;
}

/* --servers=ADDR:PORT[:WEIGHT],... */
static int parse_servers(struct cli *cli, const char *list)
{
    char copy[4096];
    if (strlen(list) >= sizeof(copy))
        return bad("server list (too long)", list);
    strcpy(copy, list);
    unsigned n = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char addr[64];
        unsigned port, weight = 1;
        int used = 0, more = 0;
        if (n == KETAMA_MAX_SERVERS)
            return bad("server list (too many servers)", list);
        if (sscanf(item, "%63[0-9.]:%u%n", addr, &port, &used) != 2
            || (item[used] == ':' && sscanf(item + used, ":%u%n", &weight, &more) != 1)
            || item[used + more] != '\0' || port == 0 || port > 65535 || weight == 0
            || weight > 1000)
            return bad("server (ADDR:PORT[:WEIGHT])", item);
        if (set_server(cli, n++, addr, port, weight) < 0)
            return -1;
    }
    if (n == 0)
        return bad("server list", list);
    cli->cfg.nservers = n;
    return 0;
}

static int parse_args(int argc, char **argv, struct cli *cli)
{
    struct bench_config *cfg = &cli->cfg;
    *cli = (struct cli){ .server = "127.0.0.1" };
    *cfg = (struct bench_config){
        .threads = 1, .conns = 1, .pipeline = 1, .ratio_set = 1, .ratio_get = 10,
        .multiget = 1, .seed = 1,
        .pc = { .proto = PROTO_TEXT, .prefix = "key:", .nprefix = 4, .dmin = 32, .dmax = 32 },
        .dist = { .pattern = KEYS_UNIFORM, .key_max = 100000, .zipf_s = 0.99 },
    };
    cfg->nservers = 1;
    cfg->addr[0].sin_family = AF_INET;
    cfg->addr[0].sin_port = htons(11211);
    int opt;
    while ((opt = getopt_long(argc, argv, "s:p:P:t:c:d:n:T:h", long_opts, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || apply_option(cli, opt, optarg) < 0)
            return -1;
    }
    if (optind < argc)
        return bad("argument", argv[optind]);
    if (cli->servers && cli->server_given)
        return bad("--servers with -s or -p (one or the other)", cli->servers);
    if (cli->servers ? parse_servers(cli, cli->servers) < 0
                     : set_server(cli, 0, cli->server, ntohs(cfg->addr[0].sin_port), 1) < 0)
        return -1;
    if (ketama_build(&cfg->ring, cli->ring, cfg->nservers) < 0)
        return bad("server list (out of memory)", cli->servers);
    if (cfg->pc.nprefix + 20 > 250)
        return bad("key prefix (keys would pass 250 bytes)", cfg->pc.prefix);
    if (cfg->busy_poll && cfg->rate == 0)
        return bad("option (--busy-poll paces an open loop: give --rate too)", "--busy-poll");
    if (!cli->requests_given && cfg->test_time == 0)
        cfg->requests = 100000;
    cfg->run = cfg->requests > 0 || cfg->test_time > 0;
    if (!cfg->run && !cfg->prefill)
        return bad("request count (0 without --prefill does nothing)", "0");
    keys_dist_init(&cfg->dist);
    return 0;
}

static const char *pattern_name(const struct key_dist *d)
{
    static const char *names[] = { "uniform", "sequential", "gaussian", "zipf" };
    return names[d->pattern];
}

static double secs(uint64_t from, uint64_t to) { return to > from ? (double)(to - from) / 1e9 : 0; }

static double per_sec(uint64_t n, double s) { return s > 0 ? (double)n / s : 0; }

static double us(const struct hist *h, double q) { return (double)hist_quantile(h, q) / NS_PER_US; }

/* "addr:port" of server i. */
static const char *server_addr(const struct bench_config *cfg, unsigned i, char *buf, size_t n)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &cfg->addr[i].sin_addr, ip, sizeof(ip));
    snprintf(buf, n, "%s:%u", ip, ntohs(cfg->addr[i].sin_port));
    return buf;
}

/* A line per server: its share of the requests of the run. */
static void report_servers_text(const struct cli *cli, const struct bench_stats *st)
{
    const struct bench_config *cfg = &cli->cfg;
    uint64_t keys = 0;
    for (unsigned i = 0; i < cfg->nservers; i++)
        keys += st->server[i].keys;
    for (unsigned i = 0; i < cfg->nservers; i++) {
        const struct server_counts *sc = &st->server[i];
        char addr[64];
        printf("server %u: %s weight %u, %u points: keys %llu (%.1f%%), requests %llu, hits %llu\n",
               i, server_addr(cfg, i, addr, sizeof(addr)), cli->ring[i].weight,
               cli->ring[i].points, (unsigned long long)sc->keys,
               keys ? 100.0 * (double)sc->keys / (double)keys : 0.0,
               (unsigned long long)sc->requests, (unsigned long long)sc->hits);
    }
}

static void report_text(const struct cli *cli, const struct bench_stats *st)
{
    const struct bench_config *cfg = &cli->cfg;
    const struct hist *h = &st->latency;
    double el = secs(st->t_start, st->t_end);
    char where[64];
    if (cfg->nservers > 1)
        snprintf(where, sizeof(where), "%u servers (ketama)", cfg->nservers);
    else
        server_addr(cfg, 0, where, sizeof(where));
    printf("mcd-bench: %s %s, %u thread(s) x %u conn(s), pipeline %u, ratio %u:%u, "
           "%zu-%zu B values, %llu keys %s",
           proto_name(cfg->pc.proto), where, cfg->threads,
           cfg->conns, cfg->pipeline, cfg->ratio_set, cfg->ratio_get, cfg->pc.dmin, cfg->pc.dmax,
           (unsigned long long)cfg->dist.key_max, pattern_name(&cfg->dist));
    if (cfg->dist.pattern == KEYS_ZIPF)
        printf(":%g", cfg->dist.zipf_s);
    if (cfg->multiget > 1)
        printf(", multiget %u", cfg->multiget);
    if (cfg->rate > 0)
        printf(", open loop at %.0f/s", cfg->rate);
    printf("\n");
    if (cfg->prefill)
        printf("prefill:  %llu sets in %.2f s (%.0f/s)\n", (unsigned long long)st->prefill_sets,
               secs(st->t_prefill_start, st->t_prefill_end),
               per_sec(st->prefill_sets, secs(st->t_prefill_start, st->t_prefill_end)));
    if (cfg->run) {
        printf("requests: %llu in %.2f s: %.0f ops/s (sets %.0f/s, gets %.0f/s)\n",
               (unsigned long long)st->requests, el, per_sec(st->requests, el),
               per_sec(st->sets, el), per_sec(st->gets, el));
        printf("get keys: %llu (%.0f keys/s): hits %llu, misses %llu, hit ratio %.2f%%\n",
               (unsigned long long)st->get_keys, per_sec(st->get_keys, el),
               (unsigned long long)st->hits, (unsigned long long)st->misses,
               st->get_keys ? 100.0 * (double)st->hits / (double)st->get_keys : 0.0);
        printf("latency:  p50 %.1f us, p90 %.1f, p99 %.1f, p99.9 %.1f, max %.1f (mean %.1f)\n",
               us(h, 0.5), us(h, 0.9), us(h, 0.99), us(h, 0.999), us(h, 1.0),
               hist_mean(h) / NS_PER_US);
        if (cfg->nservers > 1)
            report_servers_text(cli, st);
    }
    if (st->sets_refused)
        printf("refused:  %llu sets (SERVER_ERROR)\n", (unsigned long long)st->sets_refused);
    printf("errors:   verify %llu, protocol %llu%s%s\n", (unsigned long long)st->verify_errors,
           (unsigned long long)st->protocol_errors, st->first_error[0] ? "; first: " : "",
           st->first_error);
}

/* One interval of --report-interval, as a JSON line or a text line; flushed, for pipes. */
static void report_interval(double t, double dt, uint64_t mono_ns, const struct bench_progress *d,
                            void *arg)
{
    const struct cli *cli = arg;
    double ratio = d->get_keys ? (double)d->hits / (double)d->get_keys : 0.0;
    if (cli->json)
        printf("{\"interval\":true,\"t\":%.3f,\"dt\":%.3f,\"mono\":%.3f,\"requests\":%llu,"
               "\"ops_per_sec\":%.1f,\"sets\":%llu,\"gets\":%llu,\"get_keys\":%llu,\"hits\":%llu,"
               "\"misses\":%llu,\"hit_ratio\":%.6f,\"sets_refused\":%llu,\"verify_errors\":%llu,"
               "\"protocol_errors\":%llu}\n",
               t, dt, (double)mono_ns / 1e9, (unsigned long long)d->requests,
               per_sec(d->requests, dt), (unsigned long long)d->sets,
               (unsigned long long)d->gets, (unsigned long long)d->get_keys,
               (unsigned long long)d->hits, (unsigned long long)d->misses, ratio,
               (unsigned long long)d->sets_refused, (unsigned long long)d->verify_errors,
               (unsigned long long)d->protocol_errors);
    else
        printf("[%7.2f s] %9.0f ops/s, hits %llu, misses %llu, hit ratio %6.2f%%, refused %llu, "
               "errors %llu\n", t, per_sec(d->requests, dt), (unsigned long long)d->hits,
               (unsigned long long)d->misses, 100 * ratio, (unsigned long long)d->sets_refused,
               (unsigned long long)(d->verify_errors + d->protocol_errors));
    fflush(stdout);
}

/* One JSON object on one line; the error text is reduced to safe characters. */
static void report_json(const struct cli *cli, const struct bench_stats *st)
{
    const struct bench_config *cfg = &cli->cfg;
    const struct hist *h = &st->latency;
    double el = secs(st->t_start, st->t_end), pel = secs(st->t_prefill_start, st->t_prefill_end);
    char err[sizeof(st->first_error)];
    size_t i;
    for (i = 0; st->first_error[i] && i < sizeof(err) - 1; i++)
        err[i] = (st->first_error[i] == '"' || st->first_error[i] == '\\') ? '\''
                 : st->first_error[i];
    err[i] = '\0';
    printf("{\"protocol\":\"%s\",\"threads\":%u,\"conns\":%u,\"pipeline\":%u,\"multiget\":%u,"
           "\"prefill_sets\":%llu,\"prefill_s\":%.3f,\"requests\":%llu,\"elapsed_s\":%.3f,"
           "\"ops_per_sec\":%.1f,\"sets\":%llu,\"gets\":%llu,\"get_keys\":%llu,"
           "\"keys_per_sec\":%.1f,\"hits\":%llu,\"misses\":%llu,\"hit_ratio\":%.6f,"
           "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
           "\"mean_us\":%.2f,\"sets_refused\":%llu,\"verify_errors\":%llu,\"protocol_errors\":%llu,\"error\":\"%s\",",
           proto_name(cfg->pc.proto), cfg->threads, cfg->conns, cfg->pipeline, cfg->multiget,
           (unsigned long long)st->prefill_sets, pel, (unsigned long long)st->requests, el,
           per_sec(st->requests, el), (unsigned long long)st->sets, (unsigned long long)st->gets,
           (unsigned long long)st->get_keys, per_sec(st->get_keys, el),
           (unsigned long long)st->hits, (unsigned long long)st->misses,
           st->get_keys ? (double)st->hits / (double)st->get_keys : 0.0,
           us(h, 0.5), us(h, 0.9), us(h, 0.99), us(h, 0.999), us(h, 1.0),
           hist_mean(h) / NS_PER_US, (unsigned long long)st->sets_refused,
           (unsigned long long)st->verify_errors,
           (unsigned long long)st->protocol_errors, err);
    printf("\"servers\":[");
    for (unsigned i = 0; i < cfg->nservers; i++) {
        const struct server_counts *sc = &st->server[i];
        char addr[64];
        printf("%s{\"addr\":\"%s\",\"weight\":%u,\"points\":%u,\"requests\":%llu,\"keys\":%llu,"
               "\"hits\":%llu}", i ? "," : "", server_addr(cfg, i, addr, sizeof(addr)),
               cli->ring[i].weight, cli->ring[i].points, (unsigned long long)sc->requests,
               (unsigned long long)sc->keys, (unsigned long long)sc->hits);
    }
    printf("]}\n");
}

/* The first SIGINT or SIGTERM ends the run; SA_RESETHAND lets a second one kill. */
static void on_stop_signal(int sig)
{
    (void)sig;
    bench_stop();
}

int main(int argc, char **argv)
{
    struct cli cli;
    if (parse_args(argc, argv, &cli) < 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cli.cfg.on_tick = report_interval;
    cli.cfg.tick_arg = &cli;
    static struct bench_stats st;
    if (cli.cfg.tls && mcdb_tls_setup() != 0) {
        fprintf(stderr, "mcd-bench: cannot set up TLS\n");
        return 2;
    }
    if (bench_run(&cli.cfg, &st) < 0) {
        fprintf(stderr, "mcd-bench: cannot start the load threads\n");
        return 2;
    }
    if (cli.json)
        report_json(&cli, &st);
    else
        report_text(&cli, &st);
    ketama_free(&cli.cfg.ring);
    if (st.conns_ok == 0 && st.protocol_errors == 0)
        st.protocol_errors = 1;
    return st.verify_errors || st.protocol_errors ? 1 : 0;
}
