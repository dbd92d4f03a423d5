/*
 * options: memcached 1.6.18's command line — its short and long flags, its
 * defaults, its -o keys and its error messages — so that a memcached command
 * line, init script or unit file starts mcd unchanged.
 *
 * Design: read like memcached reads, refuse what memcached refuses.  Numbers
 * are read as memcached's atoi() reads them (the leading integer; "-m 1g" is
 * 1 MB there, so here too), range checks and their wording are memcached's,
 * and the checks memcached makes once every flag is known (-I against -m, -p
 * range) are made in the same order after the loop.  Where mcd differs it
 * says so: tuning
 * knobs that have no counterpart in mcd (-L, slab_automove, ext_*, ...) are
 * accepted and named in a note printed at -v.  Each -o key is one row of a
 * table so the full list stays readable and checkable against memcached.
 */
#include "options.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MB (1024LL * 1024)

/* What one options_parse call works with besides cfg. */
struct parse {
    struct config *cfg;
    FILE *out;
    FILE *err;
    FILE *notes;            /* memstream: notes shown at the end if -v */
    char *notes_buf;
    size_t notes_len;
    long long item_size;    /* -I before its range checks (memcached: int) */
    int napi_ids;           /* -N, checked against -t after the loop */
    bool tcp_port_given;    /* -p seen: -U alone also sets the TCP port */
    bool entry_ascii;       /* the -l entry being read has proto[ascii] */
    bool entry_notls;       /* ... and notls: */
    bool any_notls;
    bool protocol_given;    /* -B seen: -S and -Y then check it instead of setting it */
    int ascii_listeners;    /* -l entries with proto[ascii] */
};

void options_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 11211;
    c->udp_port = 0;
    c->unix_mask = 0700;
    c->backlog = 1024;
    c->maxconns = 1024;
    c->maxconns_fast = true;
    c->protocol = CONFIG_PROTO_AUTO;
    c->threads = 4;
    c->reqs_per_event = 20;
    c->maxbytes = 64 * MB;
    c->evict_to_free = true;
    c->use_cas = true;
    c->item_size_max = 1 * MB;
    c->factor = 1.08;
    c->chunk_size = 10;
    c->hashpower = 16;
    c->flush_enabled = true;
    c->dump_enabled = true;
    c->watch_enabled = true;
    c->lru_crawler = true;
    c->lru_crawler_sleep = 100;
    c->slab_reassign = true;
    c->slab_automove = 1;
    c->slab_automove_ratio = 0.8;
    c->slab_automove_window = 30;
    c->prefix_delimiter = ':';
    c->ssl_keyformat = 1;
    c->ssl_wbuf_size = 16 * 1024;
    c->ssl_min_version = 2;
}

void options_usage(FILE *f)
{
    fputs("mcd " MCD_VERSION " (memcached " MCD_MEMCACHED_VERSION ")\n"
"-p, --port=<num>          TCP port to listen on (default: 11211)\n"
"-U, --udp-port=<num>      UDP port to listen on (default: 0, off)\n"
"-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
"-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
"-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
"-l, --listen=<addr>       interface to listen on (default: INADDR_ANY); a comma-\n"
"                          separated list, repeatable: <ip>, <ip>:<port>, <ipv6>,\n"
"                          [<ipv6>]:<port>, * for any\n"
"-d, --daemon              run as a daemon\n"
"-r, --enable-coredumps    maximize core file limit\n"
"-u, --user=<user>         assume identity of <username> (only when run as root)\n"
"-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
"-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
"-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
"-k, --lock-memory         lock down all paged memory\n"
"-v, --verbose             verbose (print errors/warnings while in event loop)\n"
"-vv                       very verbose (also print client commands/responses)\n"
"-vvv                      extremely verbose (internal state transitions)\n"
"-h, --help                print this help and exit\n"
"-i, --license             print mcd's license and exit\n"
"-V, --version             print version and exit\n"
"-P, --pidfile=<file>      save PID in <file>, only used with -d option\n"
"-f, --slab-growth-factor=<num> chunk size growth factor; classes are at least\n"
"                          8 bytes apart, at most 62 of them (default: 1.08;\n"
"                          memcached's is 1.25)\n"
"-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 10;\n"
"                          memcached's is 48, for its bigger item header)\n"
"-L, --enable-largepages   accepted, no effect in mcd\n"
"-D <char>                 use <char> as the delimiter between key prefixes and\n"
"                          IDs for per-prefix stats (default: \":\"); turns them on,\n"
"                          as \"stats detail on\" does\n"
"-t, --threads=<num>       number of threads to use (default: 4)\n"
"-R, --max-reqs-per-event  maximum number of requests per event, limits the\n"
"                          requests processed per connection to prevent\n"
"                          starvation (default: 20)\n"
"-C, --disable-cas         disable use of CAS\n"
"-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)\n"
"-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)\n"
"-I, --max-item-size=<num> adjusts max item size, k and m suffixes\n"
"                          (default: 1m, min: 1k, max: 1024m)\n"
"-S, --enable-sasl         turn on SASL authentication (binary protocol only;\n"
"                          PLAIN, users from the file MEMCACHED_SASL_PWDB names)\n"
"-F, --disable-flush-all   disable flush_all command\n"
"-X, --disable-dumping     disable stats cachedump and lru_crawler metadump\n"
"-W, --disable-watch       disable watch commands (live logging)\n"
"-Y, --auth-file=<file>    enable ASCII protocol authentication. format:\n"
"                          user:pass\\nuser2:pass2\\n (text and meta only)\n"
"-e, --memory-file=<file>  warm restart: a graceful stop (SIGTERM, SIGINT,\n"
"                          SIGUSR1, shutdown) saves the cache to <file>, the next\n"
"                          start with the same settings loads it (any filesystem;\n"
"                          on tmpfs the cache's pages live in <file>.live)\n"
"-Z, --enable-ssl          enable TLS/SSL on the TCP listeners (see ssl_* below;\n"
"                          an -l entry prefixed notls: stays plain)\n"
"-N, --napi-ids=<num>      accepted (must be 1..threads), no effect in mcd\n"
"-o, --extended            comma separated list of extended options\n"
"   - maxconns_fast:       immediately close new connections after limit\n"
"                          (default: enabled; no_maxconns_fast to disable)\n"
"   - hashpower:           initial hash table size as a power of 2, 12..32,\n"
"                          grows at runtime (default: 16)\n"
"   - idle_timeout:        timeout for idle connections, seconds (default: 0, none)\n"
"   - lru_crawler:         background expiry of items (default: enabled;\n"
"                          no_lru_crawler to disable)\n"
"   - lru_crawler_sleep:   microseconds the crawler sleeps between batches\n"
"                          (default: 100)\n"
"   - lru_crawler_tocrawl: most items the crawler checks per class per run\n"
"                          (default: 0, all)\n"
"   - slab_reassign:       allow slab pages to move between classes (default:\n"
"                          enabled; no_slab_reassign to disable)\n"
"   - slab_automove:       0 = never move pages, 1 = move them to where\n"
"                          items are evicted young, 2 = also on every\n"
"                          eviction (default: 1; no_slab_automove = 0)\n"
"   - slab_automove_ratio: how much younger the evictions of a class must be\n"
"                          than another's before a page moves (default: 0.8)\n"
"   - slab_automove_window: seconds of history automove looks at (default: 30)\n"
"   - track_sizes:         count items by size for `stats sizes` from the start\n"
"   - slab_chunk_max:      largest slab chunk, bytes; larger items are stored\n"
"                          whole (default: half a page, 524288, or the\n"
"                          62nd class if the -f ladder stops there)\n"
"   - item_size_max:       same as -I\n"
"   - metrics_port:        serve Prometheus metrics over HTTP on this TCP port,\n"
"                          on the -l addresses (default: 0, off)\n"
"   - ssl_chain_cert:      certificate chain file in PEM format\n"
"   - ssl_key:             private key, if not part of the -ssl_chain_cert\n"
"   - ssl_keyformat:       private key format (1 PEM, 2 DER) (default: 1)\n"
"   - ssl_verify_mode:     peer certificate verification mode, default is 0(None).\n"
"                          valid values are 0(None), 1(Request), 2(Require)\n"
"                          or 3(Once)\n"
"   - ssl_ciphers:         specify cipher list to be used (TLS 1.2 and older)\n"
"   - ssl_ca_cert:         PEM format file of acceptable client CA's\n"
"   - ssl_wbuf_size:       size in kilobytes of the plaintext encrypted per\n"
"                          record write (default: 16)\n"
"   - ssl_session_cache:   enable server-side SSL session cache, to support session\n"
"                          resumption\n"
"   - ssl_kernel_tls:      accepted, no effect: mcd batches its own writes\n"
"   - ssl_min_version:     minimum protocol version to accept (default: 2)\n"
"                          valid values are 0(tlsv1.0), 1(tlsv1.1), 2(tlsv1.2)\n"
"                          or 3(tlsv1.3)\n"
"   - modern:              memcached's future defaults: currently nothing\n"
"   - no_modern:           memcached 1.4 defaults: no maxconns_fast, no\n"
"                          lru_crawler, no slab_reassign\n"
"   every other key memcached 1.6.18 knows (hash_algorithm, lru_maintainer,\n"
"   ext_*, ...) is checked as memcached checks it and then ignored;\n"
"   -v names each one\n", f);
}

/* A note on something accepted but ignored; shown at the end if -v. */
static void note(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->notes, fmt, ap);
    va_end(ap);
}

static int fail(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->err, fmt, ap);
    va_end(ap);
    return OPTIONS_ERROR;
}

/* memcached's atoi(): the leading integer, clamped to int; the rest is
 * ignored, which mcd notes at -v because "-m 1g" meaning 1 MB surprises. */
static int lead_int(struct parse *p, const char *flag, const char *arg, const char *unit)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (v > INT_MAX)
        v = INT_MAX;
    if (v < INT_MIN)
        v = INT_MIN;
    if (*end != '\0' && (unit == NULL || strcmp(end, unit) != 0))
        note(p, "mcd: %s %s read as %ld, as memcached reads it\n", flag, arg, v);
    return (int)v;
}

/* A string flag given twice keeps the last, as memcached does. */
static int set_string(struct parse *p, char **field, const char *arg)
{
    free(*field);
    *field = strdup(arg);
    return *field ? 0 : fail(p, "Failed to allocate memory\n");
}

/* -I: memcached strips one k/K/m/M suffix, then atoi()s the rest. */
static long long item_size_arg(struct parse *p, const char *arg)
{
    size_t n = strlen(arg);
    char unit = n ? arg[n - 1] : '\0';
    long long mult = 1;
    if (unit == 'k' || unit == 'K')
        mult = 1024;
    else if (unit == 'm' || unit == 'M')
        mult = MB;
    char unitstr[2] = { unit, '\0' };
    return lead_int(p, "-I", arg, mult > 1 ? unitstr : NULL) * mult;
}

/* ---- -l --------------------------------------------------------------- */

/* Strip memcached's "proto[name]:" and "tag[name]:" listener prefixes. */
static int listen_prefixes(struct parse *p, char **entry)
{
    char *s = *entry;
    p->entry_ascii = false;
    p->entry_notls = false;
    /* memcached skips "notls" and the character after it; whether -Z is
     * on is checked once every flag is read. */
    if (strncmp(s, "notls", 5) == 0) {
        p->entry_notls = p->any_notls = true;
        s += s[5] != '\0' ? 6 : 5;
    }
    if (strncmp(s, "proto[", 6) == 0) {
        char *e = strchr(s, ']');
        if (e == NULL)
            return fail(p, "Invalid protocol spec: \"%s\"\n", s + 5);
        size_t len = (size_t)(e - (s + 6));
        if (len > 0 && strncmp(s + 6, "binary", len) == 0)
            return fail(p, "mcd does not support a protocol per listener yet: \"%s\" "
                           "(-B binary sets it for all)\n", s);
        if (len > 0 && strncmp(s + 6, "proxy", len) == 0)
            return fail(p, "Server not built with proxy: \"%s\"\n", s);
        p->entry_ascii = len > 0 && strncmp(s + 6, "ascii", len) == 0;
        s = e[1] ? e + 2 : e + 1;
    }
    if (strncmp(s, "tag[", 4) == 0) {
        char *e = strchr(s, ']');
        if (e == NULL)
            return fail(p, "Invalid tag in socket config: \"%s\"\n", s + 3);
        size_t len = (size_t)(e - (s + 4));
        if (len < 1 || len > 8)
            return fail(p, "Listener tags must be between 1 and 8 characters: \"%.*s\"\n",
                        (int)len, s + 4);
        note(p, "mcd: ignoring listener tag in -l %s\n", *entry);
        s = e[1] ? e + 2 : e + 1;
    }
    *entry = s;
    return 0;
}

/* Split one entry into host and port, as memcached's server_sockets(). */
static int listen_split(struct parse *p, char *s, char **host, int *port)
{
    *port = 0;
    char *bracketed = NULL;
    if (*s == '[') {
        char *e = strchr(s, ']');
        if (e == NULL)
            return fail(p, "Invalid IPV6 address: \"%s\"\n", s);
        *e = '\0';
        bracketed = s + 1;
        s = e + 1;
    }
    /* One colon: host:port.  More, unbracketed: a bare IPv6 address. */
    char *colon = strchr(s, ':');
    if (colon != NULL && (bracketed != NULL || strchr(colon + 1, ':') == NULL)) {
        *colon = '\0';
        char *end;
        long v = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || v < 0 || v > 65535)
            return fail(p, "Invalid port number: \"%s\"\n", colon + 1);
        *port = (int)v;
    }
    *host = bracketed ? bracketed : s;
    if (strcmp(*host, "*") == 0)
        *host = NULL;
    return 0;
}

static bool listen_known(const struct config *c, const char *host, int port)
{
    for (int i = 0; i < c->nlisten; i++) {
        const struct config_listen *l = &c->listen[i];
        if (l->port == port && (l->host == host ||
                                (l->host && host && strcmp(l->host, host) == 0)))
            return true;
    }
    return false;
}

static int listen_add(struct parse *p, char *entry)
{
    struct config *c = p->cfg;
    char *host = NULL;
    int port = 0;
    if (listen_prefixes(p, &entry) != 0 || listen_split(p, entry, &host, &port) != 0)
        return OPTIONS_ERROR;
    if (listen_known(c, host, port))     /* memcached also skips a repeated -l */
        return 0;
    if (c->nlisten == CONFIG_MAX_LISTEN)
        return fail(p, "mcd: too many -l addresses (at most %d)\n", CONFIG_MAX_LISTEN);
    struct config_listen *l = &c->listen[c->nlisten];
    l->host = NULL;
    if (host != NULL && set_string(p, &l->host, host) != 0)
        return OPTIONS_ERROR;
    l->port = port;
    l->notls = p->entry_notls;
    c->nlisten++;
    if (p->entry_ascii)
        p->ascii_listeners++;
    return 0;
}

/* -l: entries separated by ',' or ';' (memcached tokenizes on both). */
static int listen_arg(struct parse *p, const char *arg)
{
    char *list = strdup(arg), *save = NULL;
    if (list == NULL)
        return fail(p, "Failed to allocate memory\n");
    int rc = 0;
    for (char *t = strtok_r(list, ";,", &save); t && rc == 0; t = strtok_r(NULL, ";,", &save))
        rc = listen_add(p, t);
    free(list);
    return rc;
}

/* ---- -o --------------------------------------------------------------- */

/* How memcached reads the value of a key mcd only acknowledges. */
enum ext_kind {
    EXT_FLAG,       /* no value needed; one given is ignored */
    EXT_STR,        /* a value is required */
    EXT_UINT,       /* safe_strtoul(): a whole non-negative integer */
    EXT_REAL,       /* safe_strtod(): a whole number */
    EXT_INT,        /* atoi() within [lo, hi] */
    EXT_INT_OPT,    /* the same, value optional */
    EXT_POS,        /* atof() with lo < v <= hi */
    EXT_HASH,       /* jenkins, murmur3 or xxh3 */
};

struct ext_key {
    const char *name;
    enum ext_kind kind;
    const char *missing;    /* NULL: "Missing <name> argument" */
    const char *bad;        /* NULL: "could not parse argument to <name>" */
    double lo, hi;
};

#define ANY_INT INT_MIN, INT_MAX

/* The -o keys of memcached 1.6.18 as Debian builds it (TLS, extstore and
 * sock_cookie_id on; proxy and debug-only keys off) that mcd only
 * acknowledges.  The keys mcd applies are handled in ext_applied(). */
static const struct ext_key ext_keys[] = {
    { "no_hashexpand", EXT_FLAG, NULL, NULL, 0, 0 },
    { "tail_repair_time", EXT_INT, "Missing numeric argument for tail_repair_time\n",
      "Cannot set tail_repair_time to less than 10 seconds\n", 10, INT_MAX },
    { "hash_algorithm", EXT_HASH, NULL,
      "Unknown hash_algorithm option (jenkins, murmur3, xxh3)\n", 0, 0 },
    { "lru_maintainer", EXT_FLAG, NULL, NULL, 0, 0 },
    { "hot_lru_pct", EXT_INT, NULL, "hot_lru_pct must be > 1 and < 80\n", 1, 79 },
    { "warm_lru_pct", EXT_INT, NULL, "warm_lru_pct must be > 1 and < 80\n", 1, 79 },
    { "hot_max_factor", EXT_POS, NULL, "hot_max_factor must be > 0\n", 0, HUGE_VAL },
    { "warm_max_factor", EXT_POS, NULL, "warm_max_factor must be > 0\n", 0, HUGE_VAL },
    { "temporary_ttl", EXT_INT, NULL, NULL, ANY_INT },
    { "watcher_logbuf_size", EXT_UINT, NULL, NULL, 0, 0 },
    { "worker_logbuf_size", EXT_UINT, NULL, NULL, 0, 0 },
    { "slab_sizes", EXT_STR, NULL, NULL, 0, 0 },
    { "no_inline_ascii_resp", EXT_FLAG, NULL, NULL, 0, 0 },
    { "inline_ascii_resp", EXT_FLAG, NULL, NULL, 0, 0 },
    { "no_chunked_items", EXT_FLAG, NULL, NULL, 0, 0 },
    { "no_lru_maintainer", EXT_FLAG, NULL, NULL, 0, 0 },
    { "no_drop_privileges", EXT_FLAG, NULL, NULL, 0, 0 },
    { "drop_privileges", EXT_FLAG, NULL, NULL, 0, 0 },
    { "resp_obj_mem_limit", EXT_FLAG, NULL, NULL, 0, 0 },
    { "read_buf_mem_limit", EXT_UINT, NULL, NULL, 0, 0 },
    { "sock_cookie_id", EXT_FLAG, NULL, NULL, 0, 0 },
    { "ext_page_size", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_wbuf_size", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_threads", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_io_depth", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_path", EXT_STR, "missing argument to ext_path, ie: ext_path=/d/file:5G\n",
      NULL, 0, 0 },
    { "ext_item_size", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_item_age", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_low_ttl", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_recache_rate", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_compact_under", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_drop_under", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_max_sleep", EXT_UINT, NULL, NULL, 0, 0 },
    { "ext_max_frag", EXT_REAL, NULL, NULL, 0, 0 },
    { "ext_drop_unread", EXT_FLAG, NULL, NULL, 0, 0 },
    { "slab_automove_freeratio", EXT_REAL, NULL, NULL, 0, 0 },
};

static bool whole_uint(const char *s)
{
    char *end;
    if (*s == '\0' || strchr(s, '-') != NULL)
        return false;
    (void)strtoull(s, &end, 10);
    return *end == '\0';
}

static bool whole_real(const char *s)
{
    char *end;
    (void)strtod(s, &end);
    return end != s && *end == '\0';
}

/* Check an acknowledged key's value as memcached would, then note it. */
static int ext_ignored(struct parse *p, const struct ext_key *k, const char *val)
{
    bool ok = true;
    if (val == NULL && k->kind != EXT_FLAG && k->kind != EXT_INT_OPT) {
        if (k->missing)
            return fail(p, "%s", k->missing);
        return fail(p, "Missing %s argument\n", k->name);
    }
    switch (k->kind) {
    case EXT_FLAG:
    case EXT_STR:
        break;
    case EXT_UINT: ok = whole_uint(val); break;
    case EXT_REAL: ok = whole_real(val); break;
    case EXT_INT:
    case EXT_INT_OPT: ok = val == NULL || (atoi(val) >= k->lo && atoi(val) <= k->hi); break;
    case EXT_POS: ok = atof(val) > k->lo && atof(val) <= k->hi; break;
    case EXT_HASH:
        ok = !strcmp(val, "jenkins") || !strcmp(val, "murmur3") || !strcmp(val, "xxh3");
        break;
    }
    if (!ok) {
        if (k->bad)
            return fail(p, "%s", k->bad);
        return fail(p, "could not parse argument to %s\n", k->name);
    }
    if (strcmp(k->name, "resp_obj_mem_limit") == 0)     /* memcached always says so */
        fprintf(p->err, "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n");
    note(p, "mcd: ignoring -o %s: no effect in mcd\n", k->name);
    return 0;
}

/* The keys that mean something in mcd.  1 = not one of them. */
static int ext_applied(struct parse *p, const char *key, const char *val)
{
    struct config *c = p->cfg;
    if (strcmp(key, "hashpower") == 0) {
        if (val == NULL)
            return fail(p, "Missing numeric argument for hashpower\n");
        c->hashpower = atoi(val);
        if (c->hashpower < 12)
            return fail(p, "Initial hashtable multiplier of %d is too low\n", c->hashpower);
        if (c->hashpower > 32)
            return fail(p, "Initial hashtable multiplier of %d is too high\n"
                        "Choose a value based on \"STAT hash_power_level\" from a running "
                        "instance\n", c->hashpower);
    } else if (strcmp(key, "idle_timeout") == 0) {
        if (val == NULL)
            return fail(p, "Missing numeric argument for idle_timeout\n");
        c->idle_timeout = atoi(val);
    } else if (strcmp(key, "item_size_max") == 0) {     /* mcd's: memcached has only -I */
        if (val == NULL)
            return fail(p, "Missing item_size_max argument\n");
        p->item_size = item_size_arg(p, val);
    } else if (strcmp(key, "maxconns_fast") == 0 || strcmp(key, "no_maxconns_fast") == 0) {
        c->maxconns_fast = key[0] != 'n';
    } else if (strcmp(key, "lru_crawler") == 0 || strcmp(key, "no_lru_crawler") == 0) {
        c->lru_crawler = key[0] != 'n';
    } else if (strcmp(key, "slab_reassign") == 0 || strcmp(key, "no_slab_reassign") == 0) {
        c->slab_reassign = key[0] != 'n';
    } else if (strcmp(key, "slab_automove") == 0 || strcmp(key, "no_slab_automove") == 0) {
        int level = key[0] == 'n' ? 0 : val == NULL ? 1 : atoi(val);
        if (level < 0 || level > 2)
            return fail(p, "slab_automove must be between 0 and 2\n");
        c->slab_automove = (unsigned)level;
    } else if (strcmp(key, "slab_automove_ratio") == 0) {
        if (val == NULL)
            return fail(p, "Missing slab_automove_ratio argument\n");
        c->slab_automove_ratio = atof(val);
        if (c->slab_automove_ratio <= 0 || c->slab_automove_ratio > 1)
            return fail(p, "slab_automove_ratio must be > 0 and < 1\n");
    } else if (strcmp(key, "slab_automove_window") == 0) {
        if (val == NULL)
            return fail(p, "Missing slab_automove_window argument\n");
        if (atoi(val) < 3)
            return fail(p, "slab_automove_window must be > 2\n");
        c->slab_automove_window = (unsigned)atoi(val);
    } else if (strcmp(key, "lru_crawler_sleep") == 0) {
        if (val == NULL)
            return fail(p, "Missing lru_crawler_sleep value\n");
        if (atoi(val) < 0 || atoi(val) > 1000000)
            return fail(p, "LRU crawler sleep must be between 0 and 1 second\n");
        c->lru_crawler_sleep = (uint32_t)atoi(val);
    } else if (strcmp(key, "lru_crawler_tocrawl") == 0) {
        if (val == NULL)
            return fail(p, "Missing lru_crawler_tocrawl value\n");
        if (!whole_uint(val) || strtoull(val, NULL, 10) > UINT32_MAX)
            return fail(p, "lru_crawler_tocrawl takes a numeric 32bit value\n");
        c->lru_crawler_tocrawl = (uint32_t)strtoull(val, NULL, 10);
    } else if (strcmp(key, "metrics_port") == 0) {     /* mcd's own */
        if (val == NULL || !whole_uint(val) || strtoull(val, NULL, 10) > 65535)
            return fail(p, "metrics_port takes a TCP port number, 0 to 65535\n");
        c->metrics_port = (int)strtoull(val, NULL, 10);
    } else if (strcmp(key, "track_sizes") == 0) {
        c->track_sizes = true;
    } else if (strcmp(key, "slab_chunk_max") == 0) {
        if (val == NULL || !whole_uint(val))
            return fail(p, "could not parse argument to slab_chunk_max\n");
        c->slab_chunk_max = (size_t)strtoull(val, NULL, 10);
    } else if (strcmp(key, "modern") == 0) {
        /* memcached 1.6.18: "currently no new defaults" */
    } else if (strcmp(key, "no_modern") == 0) {
        c->slab_reassign = false;
        c->slab_automove = 0;
        c->maxconns_fast = false;
        c->lru_crawler = false;
        note(p, "mcd: -o no_modern: only maxconns_fast, lru_crawler and slab_reassign "
                "apply in mcd\n");
    } else {
        return 1;
    }
    return 0;
}

/* One key[=value] token, matched as getsubopt() matches. */
static int ext_token(struct parse *p, char *tok)
{
    char *val = strchr(tok, '=');
    size_t keylen = val ? (size_t)(val - tok) : strlen(tok);
    char key[64];
    if (keylen < sizeof(key)) {
        memcpy(key, tok, keylen);
        key[keylen] = '\0';
        int rc = ext_applied(p, key, val ? val + 1 : NULL);
        if (rc <= 0)
            return rc;
        rc = options_tls_key(p->cfg, key, val ? val + 1 : NULL, p->err);
        if (rc <= 0)
            return rc;
        for (size_t i = 0; i < sizeof(ext_keys) / sizeof(ext_keys[0]); i++)
            if (strcmp(key, ext_keys[i].name) == 0)
                return ext_ignored(p, &ext_keys[i], val ? val + 1 : NULL);
    }
    return fail(p, "Illegal suboption \"%s\"\n", tok);
}

/* -o: tokens split on ','; an empty token is illegal, a trailing ',' is not. */
static int ext_arg(struct parse *p, const char *arg)
{
    char *list = strdup(arg);
    if (list == NULL)
        return fail(p, "Failed to allocate memory\n");
    int rc = 0;
    for (char *t = list; *t != '\0' && rc == 0;) {
        char *comma = strchr(t, ',');
        char *next = comma ? comma + 1 : t + strlen(t);
        if (comma)
            *comma = '\0';
        rc = ext_token(p, t);
        t = next;
    }
    free(list);
    return rc;
}

/* ---- flags ------------------------------------------------------------ */

static const char shortopts[] = "a:AZp:s:U:m:Mc:khiVrvdl:u:P:f:n:t:D:LR:Cb:B:I:SFXWY:e:o:N:";

static const struct option longopts[] = {
    {"unix-mask", required_argument, 0, 'a'},
    {"enable-shutdown", no_argument, 0, 'A'},
    {"enable-ssl", no_argument, 0, 'Z'},
    {"port", required_argument, 0, 'p'},
    {"unix-socket", required_argument, 0, 's'},
    {"udp-port", required_argument, 0, 'U'},
    {"memory-limit", required_argument, 0, 'm'},
    {"disable-evictions", no_argument, 0, 'M'},
    {"conn-limit", required_argument, 0, 'c'},
    {"lock-memory", no_argument, 0, 'k'},
    {"help", no_argument, 0, 'h'},
    {"license", no_argument, 0, 'i'},
    {"version", no_argument, 0, 'V'},
    {"enable-coredumps", no_argument, 0, 'r'},
    {"verbose", optional_argument, 0, 'v'},
    {"daemon", no_argument, 0, 'd'},
    {"listen", required_argument, 0, 'l'},
    {"user", required_argument, 0, 'u'},
    {"pidfile", required_argument, 0, 'P'},
    {"slab-growth-factor", required_argument, 0, 'f'},
    {"slab-min-size", required_argument, 0, 'n'},
    {"threads", required_argument, 0, 't'},
    {"enable-largepages", no_argument, 0, 'L'},
    {"max-reqs-per-event", required_argument, 0, 'R'},
    {"disable-cas", no_argument, 0, 'C'},
    {"listen-backlog", required_argument, 0, 'b'},
    {"protocol", required_argument, 0, 'B'},
    {"max-item-size", required_argument, 0, 'I'},
    {"enable-sasl", no_argument, 0, 'S'},
    {"disable-flush-all", no_argument, 0, 'F'},
    {"disable-dumping", no_argument, 0, 'X'},
    {"disable-watch", no_argument, 0, 'W'},
    {"auth-file", required_argument, 0, 'Y'},
    {"memory-file", required_argument, 0, 'e'},
    {"extended", required_argument, 0, 'o'},
    {"napi-ids", required_argument, 0, 'N'},
    {0, 0, 0, 0},
};

static int protocol_arg(struct parse *p, const char *arg)
{
    p->protocol_given = true;
    if (strcmp(arg, "auto") == 0)
        p->cfg->protocol = CONFIG_PROTO_AUTO;
    else if (strcmp(arg, "binary") == 0)
        p->cfg->protocol = CONFIG_PROTO_BINARY;
    else if (strcmp(arg, "ascii") == 0)
        p->cfg->protocol = CONFIG_PROTO_ASCII;
    else
        return fail(p, "Invalid value for binding protocol: %s\n"
                    " -- should be one of auto, binary, or ascii\n", arg);
    return 0;
}

static int threads_arg(struct parse *p, const char *arg)
{
    p->cfg->threads = lead_int(p, "-t", arg, NULL);
    if (p->cfg->threads <= 0)
        return fail(p, "Number of threads must be greater than 0\n");
    if (p->cfg->threads > 64)   /* memcached prints this one whatever -v says */
        fprintf(p->err, "WARNING: Setting a high number of workerthreads is not recommended.\n"
                        " Set this value to the number of cores in your machine or less.\n");
    return 0;
}

/* Flags that change nothing in mcd or that it refuses.  1 = not one. */
static int flag_unsupported(struct parse *p, int ch, const char *arg)
{
    switch (ch) {
    case 'S':
        p->cfg->sasl = true;
        return 0;
    case 'Z':
        p->cfg->ssl_enabled = true;
        return 0;
    case 'Y':
        return set_string(p, &p->cfg->auth_file, arg);
    case 'L':
        note(p, "mcd: ignoring -L: jemalloc decides page sizes in mcd\n");
        return 0;
    case 'N':
        p->napi_ids = lead_int(p, "-N", arg, NULL);
        if (p->napi_ids <= 0)
            return fail(p, "Maximum number of NAPI IDs must be greater than 0\n");
        note(p, "mcd: ignoring -N: no NAPI ID based thread selection in mcd\n");
        return 0;
    }
    return 1;
}

/* Flags with a value to read.  1 = not one of them. */
static int flag_value(struct parse *p, int ch, const char *arg)
{
    struct config *c = p->cfg;
    switch (ch) {
    case 'a': c->unix_mask = (int)strtol(arg, NULL, 8); break;
    case 'p':
        c->port = lead_int(p, "-p", arg, NULL);
        p->tcp_port_given = true;
        break;
    case 'U': c->udp_port = lead_int(p, "-U", arg, NULL); break;
    case 's': return set_string(p, &c->unix_socket, arg);
    case 'u': return set_string(p, &c->user, arg);
    case 'P': return set_string(p, &c->pidfile, arg);
    case 'e': return set_string(p, &c->memory_file, arg);
    case 'l': return listen_arg(p, arg);
    case 'o': return ext_arg(p, arg);
    case 'B': return protocol_arg(p, arg);
    case 't': return threads_arg(p, arg);
    case 'I': p->item_size = item_size_arg(p, arg); break;
    case 'b': c->backlog = lead_int(p, "-b", arg, NULL); break;
    case 'm': {
        int mb = lead_int(p, "-m", arg, NULL);
        if (mb < 0)
            return fail(p, "mcd: -m %s: memory limit cannot be negative\n", arg);
        c->maxbytes = (size_t)mb * MB;
        break;
    }
    case 'c':
        c->maxconns = lead_int(p, "-c", arg, NULL);
        if (c->maxconns <= 0)
            return fail(p, "Maximum connections must be greater than 0\n");
        break;
    case 'R':
        c->reqs_per_event = lead_int(p, "-R", arg, NULL);
        if (c->reqs_per_event <= 0)
            return fail(p, "Number of requests per event must be greater than 0\n");
        break;
    case 'n':
        c->chunk_size = lead_int(p, "-n", arg, NULL);
        if (c->chunk_size <= 0)
            return fail(p, "Chunk size must be greater than 0\n");
        break;
    case 'f':
        c->factor = atof(arg);
        if (!(c->factor > 1.0))
            return fail(p, "Factor must be greater than 1\n");
        break;
    case 'D':
        if (arg[0] == '\0')
            return fail(p, "No delimiter specified\n");
        c->prefix_delimiter = arg[0];
        c->detail_enabled = true;
        break;
    default:
        return flag_unsupported(p, ch, arg);
    }
    return 0;
}

static void license(FILE *f)
{
    fputs("mcd " MCD_VERSION " (memcached " MCD_MEMCACHED_VERSION ")\n\n"
          "mcd is a memcached-compatible server written from scratch; it contains no\n"
          "memcached or libevent code.  See the license file of your mcd distribution.\n", f);
}

/* One flag from getopt.  OPTIONS_EXIT_OK ends parsing early (-h, -V). */
static int flag(struct parse *p, int ch, const char *arg)
{
    struct config *c = p->cfg;
    switch (ch) {
    case 'A': c->shutdown_enabled = true; break;
    case 'd': c->daemonize = true; break;
    case 'r': c->coredumps = true; break;
    case 'k': c->lock_memory = true; break;
    case 'M': c->evict_to_free = false; break;
    case 'C': c->use_cas = false; break;
    case 'F': c->flush_enabled = false; break;
    case 'X': c->dump_enabled = false; break;
    case 'W': c->watch_enabled = false; break;
    case 'v': c->verbose++; break;
    case 'h': options_usage(p->out); return OPTIONS_EXIT_OK;
    case 'i': license(p->out); return OPTIONS_EXIT_OK;
    case 'V':
        fputs("mcd " MCD_VERSION " (memcached " MCD_MEMCACHED_VERSION ")\n", p->out);
        return OPTIONS_EXIT_OK;
    default: {
        int rc = flag_value(p, ch, arg);
        if (rc != 1)
            return rc;
        /* getopt already said why: memcached then prints the '?' it got. */
        return fail(p, "Illegal argument \"%c\"\n", ch);
    }
    }
    return 0;
}

/* The checks memcached makes once every flag is read, in its order. */
static int check_all(struct parse *p)
{
    struct config *c = p->cfg;
    if (p->napi_ids > c->threads)
        return fail(p, "Number of napi_ids(%d) cannot be greater than number of threads(%d)\n",
                    p->napi_ids, c->threads);
    if (p->item_size < 1024)
        return fail(p, "Item max size cannot be less than 1024 bytes.\n");
    if (p->item_size > (long long)(c->maxbytes / 2))
        return fail(p, "Cannot set item size limit higher than 1/2 of memory max.\n");
    if (p->item_size > 1024 * MB)
        return fail(p, "Cannot set item size limit higher than a gigabyte.\n");
    c->item_size_max = (size_t)p->item_size;
    /* memcached: -S means binary and -Y ascii (a -B saying otherwise is an
     * error); with both, -Y's ascii wins and SASL is unreachable. */
    if (c->sasl) {
        if (!p->protocol_given)
            c->protocol = CONFIG_PROTO_BINARY;
        else if (c->protocol != CONFIG_PROTO_BINARY)
            return fail(p, "ERROR: You cannot allow the ASCII protocol while using SASL.\n");
        if (c->udp_port)
            return fail(p, "ERROR: Cannot enable UDP while using binary SASL authentication.\n");
    }
    if (c->auth_file) {
        if (!p->protocol_given)
            c->protocol = CONFIG_PROTO_ASCII;
        else if (c->protocol != CONFIG_PROTO_ASCII)
            return fail(p, "ERROR: You cannot allow the BINARY protocol while using ascii "
                           "authentication tokens.\n");
    }
    /* As memcached: -U without -p serves TCP on the UDP port too. */
    if (c->udp_port != 0 && !p->tcp_port_given)
        c->port = c->udp_port;
    if (c->port < 0 || c->port > 65535)
        return fail(p, "ERROR: Invalid port number %d.\n", c->port);
    if (c->ssl_enabled && c->port == 0)
        return fail(p, "ERROR: You cannot enable SSL without a TCP port.\n");
    if (p->any_notls && !c->ssl_enabled)
        return fail(p, "'notls' option is valid only when SSL is enabled\n");
    if (c->auth_file && c->udp_port)
        return fail(p, "Cannot use UDP with ascii authentication enabled (-U 0 to disable)\n");
    if (c->ssl_kernel_tls)
        note(p, "mcd: ignoring -o ssl_kernel_tls: mcd encrypts into its own write batches\n");
    /* mcd has one protocol setting for all listeners: proto[ascii] on
     * every -l entry is -B ascii; on some of them it cannot be honoured. */
    if (p->ascii_listeners > 0 && p->ascii_listeners == c->nlisten)
        c->protocol = CONFIG_PROTO_ASCII;
    else if (p->ascii_listeners > 0)
        note(p, "mcd: proto[ascii] applies only when every -l entry has it; -B decides\n");
    return OPTIONS_RUN;
}

/* getopt_long() prints its own complaints (unknown flag, missing value,
 * ambiguous long name) to stderr, in glibc's words that memcached's users
 * see.  glibc documents stderr as an assignable variable, so for the length
 * of the loop it is pointed at err; parsing runs before any thread starts. */
static int flags_loop(struct parse *p, int argc, char **argv)
{
    FILE *saved = stderr;
    int ch, rc = 0;
    optind = 0;     /* glibc: start over, as if never called */
    opterr = 1;
    stderr = p->err;
    while (rc == 0 && (ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
        rc = flag(p, ch, optarg);
    stderr = saved;
    if (rc != 0)
        return rc;
    /* memcached ignores words that are not flags; mcd says so at -v. */
    for (int i = optind; i < argc; i++)
        note(p, "mcd: ignoring argument \"%s\", as memcached does\n", argv[i]);
    return 0;
}

int options_parse(struct config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    struct parse p = { .cfg = cfg, .out = out, .err = err,
                       .item_size = (long long)cfg->item_size_max };
    p.notes = open_memstream(&p.notes_buf, &p.notes_len);
    if (p.notes == NULL) {
        fprintf(err, "Failed to allocate memory\n");
        return OPTIONS_ERROR;
    }
    int rc = flags_loop(&p, argc, argv);
    if (rc == 0)
        rc = check_all(&p);
    fclose(p.notes);
    /* Also after an error: "-I 2g read as 2" explains memcached's complaint. */
    if (rc != OPTIONS_EXIT_OK && cfg->verbose >= 1 && p.notes_len > 0)
        fputs(p.notes_buf, err);
    free(p.notes_buf);
    return rc;
}

void options_free(struct config *c)
{
    for (int i = 0; i < c->nlisten; i++) {
        free(c->listen[i].host);
        c->listen[i].host = NULL;
    }
    c->nlisten = 0;
    free(c->unix_socket);
    free(c->user);
    free(c->pidfile);
    free(c->memory_file);
    c->unix_socket = c->user = c->pidfile = c->memory_file = NULL;
    free(c->auth_file);
    free(c->ssl_chain_cert);
    free(c->ssl_key);
    free(c->ssl_ca_cert);
    free(c->ssl_ciphers);
    c->auth_file = c->ssl_chain_cert = c->ssl_key = c->ssl_ca_cert = c->ssl_ciphers = NULL;
}
