/*
 * options: memcached 1.6's flags, short and long, with its defaults and
 * error messages, so a memcached command line or init script starts mcd
 * unchanged.  Every -o key memcached knows is accepted: the ones that mean
 * something here are applied, the others are acknowledged with a warning at
 * -v.  A key memcached does not know is an error, as in memcached.
 */
#include "options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void options_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    c->port = 11211;
    c->unix_mask = 0700;
    c->backlog = 1024;
    c->maxconns = 1024;
    c->maxconns_fast = true;
    c->threads = 4;
    c->reqs_per_event = 20;
    c->maxbytes = 64 * 1024 * 1024;
    c->evict_to_free = true;
    c->use_cas = true;
    c->item_size_max = 1024 * 1024;
    c->factor = 1.25;
    c->chunk_size = 48;
    c->hashpower = 16;
    c->flush_enabled = true;
    c->dump_enabled = true;
    c->lru_crawler = true;
    c->protocol = CONFIG_PROTO_AUTO;
    c->prefix_delimiter = ':';
}

void options_usage(FILE *f)
{
    fprintf(f,
        "mcd " MCD_VERSION "\n"
        "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
        "-U, --udp-port=<num>      UDP port to listen on (default: 0, off; mcd has no UDP yet)\n"
        "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
        "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
        "-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
        "-l, --listen=<addr>       interface to listen on (default: all); comma-separated,\n"
        "                          repeatable, addr:port and [v6addr]:port accepted\n"
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
        "-V, --version             print version and exit\n"
        "-P, --pidfile=<file>      save PID in <file>\n"
        "-f, --slab-growth-factor=<num> chunk size growth factor (default: 1.25)\n"
        "-n, --slab-min-size=<bytes> min space used for key+value+flags (default: 48)\n"
        "-t, --threads=<num>       number of worker threads to use (default: 4)\n"
        "-R, --max-reqs-per-event  maximum number of requests per event, limits the\n"
        "                          requests processed per connection to prevent\n"
        "                          starvation (default: 20)\n"
        "-C, --disable-cas         disable use of CAS\n"
        "-b, --listen-backlog=<num> set the backlog queue limit (default: 1024)\n"
        "-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto);\n"
        "                          mcd speaks ascii only so far: binary is refused\n"
        "-I, --max-item-size=<num> adjusts max item size\n"
        "                          (default: 1m, min: 1k, max: 1024m)\n"
        "-F, --disable-flush-all   disable flush_all command\n"
        "-X, --disable-dumping     disable stats cachedump\n"
        "-W, --disable-watch       accepted: mcd has no watch command\n"
        "-L, --enable-largepages   accepted: jemalloc manages pages (ignored, noted at -v)\n"
        "-D <char>                 use <char> as the delimiter between key prefixes and\n"
        "                          IDs for per-prefix stats, and turn them on (they can\n"
        "                          also be turned on with \"stats detail on\")\n"
        "-o, --extended            comma separated list of extended options:\n"
        "   - maxconns_fast / no_maxconns_fast: refuse connections over -c at once (default: on)\n"
        "   - hashpower=<n>:       initial hash table size is 2^n buckets (default: 16)\n"
        "   - idle_timeout=<s>:    close connections idle this long (default: 0, never)\n"
        "   - item_size_max=<n>:   same as -I\n"
        "   every other memcached 1.6 key is accepted and, having no effect in mcd,\n"
        "   reported at -v.\n");
}

/* Parse "64", "1k", "2m", "1g" (memcached's -I syntax). */
static bool parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return false;
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1024 * 1024; end++; break;
    case 'g': case 'G': v *= 1024ULL * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end != '\0')
        return false;
    *out = (size_t)v;
    return true;
}

static bool parse_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > 0x7fffffff)
        return false;
    *out = (int)v;
    return true;
}

/* Add one -l entry: "host", "host:port", "[v6]:port" or a bare IPv6 address. */
static int add_listen(struct config *c, const char *spec, FILE *err)
{
    if (c->nlisten == CONFIG_MAX_LISTEN) {
        fprintf(err, "Too many -l addresses (max %d)\n", CONFIG_MAX_LISTEN);
        return -1;
    }
    struct config_listen *l = &c->listen[c->nlisten];
    char *host = strdup(spec);
    if (host == NULL)
        return -1;
    l->port = 0;
    char *colon = strrchr(host, ':');
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close == NULL) {
            fprintf(err, "Invalid IPv6 address: %s\n", spec);
            free(host);
            return -1;
        }
        *close = '\0';
        if (close[1] == ':' && !parse_int(close + 2, &l->port)) {
            fprintf(err, "Invalid port in -l %s\n", spec);
            free(host);
            return -1;
        }
        memmove(host, host + 1, strlen(host));
    } else if (colon != NULL && strchr(host, ':') == colon) {
        /* One colon: IPv4 or name with a port.  More: a bare IPv6 address. */
        *colon = '\0';
        if (!parse_int(colon + 1, &l->port) || l->port > 65535) {
            fprintf(err, "Invalid port in -l %s\n", spec);
            free(host);
            return -1;
        }
    }
    l->host = host;
    c->nlisten++;
    return 0;
}

static const char *const known_subopts[] = {
    "maxconns_fast", "hashpower", "no_hashexpand", "slab_reassign", "slab_automove",
    "slab_automove_ratio", "slab_automove_window", "tail_repair_time", "hash_algorithm",
    "lru_crawler", "lru_crawler_sleep", "lru_crawler_tocrawl", "lru_maintainer", "hot_lru_pct",
    "warm_lru_pct", "hot_max_factor", "warm_max_factor", "temporary_ttl", "idle_timeout",
    "watcher_logbuf_size", "worker_logbuf_size", "slab_sizes", "slab_chunk_max", "track_sizes",
    "no_inline_ascii_resp", "modern", "no_modern", "no_chunked_items", "no_slab_reassign",
    "no_slab_automove", "no_maxconns_fast", "inline_ascii_resp", "no_lru_crawler",
    "no_lru_maintainer", "no_drop_privileges", "drop_privileges", "resp_obj_mem_limit",
    "read_buf_mem_limit", "ssl_chain_cert", "ssl_key", "ssl_verify_mode", "ssl_keyformat",
    "ssl_ciphers", "ssl_ca_cert", "ssl_wbuf_size", "ssl_session_cache", "ssl_kernel_tls",
    "ssl_min_version", "proxy_config", "proxy_uring", "relaxed_privileges", "sock_cookie_id",
    "item_size_max", NULL,
};

/* Apply one -o key[=value].  Warnings go to `warn` (printed at -v). */
static int apply_subopt(struct config *c, char *opt, FILE *err, char *warn, size_t nwarn)
{
    char *val = strchr(opt, '=');
    if (val != NULL)
        *val++ = '\0';
    if (strcmp(opt, "hashpower") == 0) {
        if (val == NULL) {
            fprintf(err, "Missing numeric argument for hashpower\n");
            return -1;
        }
        c->hashpower = atoi(val);
        if (c->hashpower < 12) {
            fprintf(err, "Initial hashtable multiplier of %d is too low\n", c->hashpower);
            return -1;
        }
        if (c->hashpower > 32) {
            fprintf(err, "Initial hashtable multiplier of %d is too high\n"
                         "Choose a value based on \"STAT hash_power_level\" from a running instance\n",
                    c->hashpower);
            return -1;
        }
    } else if (strcmp(opt, "idle_timeout") == 0) {
        if (val == NULL) {
            fprintf(err, "Missing numeric argument for idle_timeout\n");
            return -1;
        }
        c->idle_timeout = atoi(val);
    } else if (strcmp(opt, "maxconns_fast") == 0) {
        c->maxconns_fast = true;
    } else if (strcmp(opt, "no_maxconns_fast") == 0) {
        c->maxconns_fast = false;
    } else if (strcmp(opt, "item_size_max") == 0) {
        if (val == NULL || !parse_size(val, &c->item_size_max)) {
            fprintf(err, "Missing or invalid argument for item_size_max\n");
            return -1;
        }
    } else if (strncmp(opt, "ext_", 4) == 0) {
        snprintf(warn + strlen(warn), nwarn - strlen(warn),
                 "mcd: ignoring -o %s: no extstore in mcd\n", opt);
    } else {
        for (int i = 0; known_subopts[i] != NULL; i++) {
            if (strcmp(opt, known_subopts[i]) == 0) {
                if (strcmp(opt, "no_lru_crawler") == 0)
                    c->lru_crawler = false;
                snprintf(warn + strlen(warn), nwarn - strlen(warn),
                         "mcd: ignoring -o %s: no effect in mcd\n", opt);
                return 0;
            }
        }
        fprintf(err, "Illegal suboption \"%s\"\n", opt);
        return -1;
    }
    return 0;
}

static const struct option longopts[] = {
    {"unix-mask", required_argument, 0, 'a'},
    {"enable-shutdown", no_argument, 0, 'A'},
    {"port", required_argument, 0, 'p'},
    {"unix-socket", required_argument, 0, 's'},
    {"udp-port", required_argument, 0, 'U'},
    {"listen", required_argument, 0, 'l'},
    {"daemon", no_argument, 0, 'd'},
    {"enable-coredumps", no_argument, 0, 'r'},
    {"user", required_argument, 0, 'u'},
    {"memory-limit", required_argument, 0, 'm'},
    {"disable-evictions", no_argument, 0, 'M'},
    {"conn-limit", required_argument, 0, 'c'},
    {"lock-memory", no_argument, 0, 'k'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {"verbose", optional_argument, 0, 'v'},
    {"pidfile", required_argument, 0, 'P'},
    {"slab-growth-factor", required_argument, 0, 'f'},
    {"slab-min-size", required_argument, 0, 'n'},
    {"threads", required_argument, 0, 't'},
    {"max-reqs-per-event", required_argument, 0, 'R'},
    {"disable-cas", no_argument, 0, 'C'},
    {"listen-backlog", required_argument, 0, 'b'},
    {"protocol", required_argument, 0, 'B'},
    {"max-item-size", required_argument, 0, 'I'},
    {"disable-flush-all", no_argument, 0, 'F'},
    {"disable-dumping", no_argument, 0, 'X'},
    {"disable-watch", no_argument, 0, 'W'},
    {"enable-largepages", no_argument, 0, 'L'},
    {"enable-sasl", no_argument, 0, 'S'},
    {"auth-file", required_argument, 0, 'Y'},
    {"memory-file", required_argument, 0, 'e'},
    {"enable-ssl", no_argument, 0, 'Z'},
    {"extended", required_argument, 0, 'o'},
    {0, 0, 0, 0},
};

static int bad_number(FILE *err, char flag, const char *arg)
{
    fprintf(err, "Invalid value for -%c: \"%s\"\n", flag, arg);
    return OPTIONS_ERROR;
}

/* Checks memcached makes once every flag is known. */
static int options_check(struct config *c, FILE *err)
{
    if (c->item_size_max < 1024) {
        fprintf(err, "Item max size cannot be less than 1024 bytes.\n");
        return OPTIONS_ERROR;
    }
    if (c->item_size_max > c->maxbytes / 2) {
        fprintf(err, "Cannot set item size limit higher than 1/2 of memory max.\n");
        return OPTIONS_ERROR;
    }
    if (c->item_size_max > 1024 * 1024 * 1024) {
        fprintf(err, "Cannot set item size limit higher than a gigabyte.\n");
        return OPTIONS_ERROR;
    }
    if (c->udp_port != 0) {
        fprintf(err, "mcd does not support UDP yet: run without -U or with -U 0\n");
        return OPTIONS_ERROR;
    }
    if (c->protocol == CONFIG_PROTO_BINARY) {
        fprintf(err, "mcd does not support the binary protocol yet: use -B ascii or auto\n");
        return OPTIONS_ERROR;
    }
    return OPTIONS_RUN;
}

int options_parse(struct config *c, int argc, char **argv, FILE *out, FILE *err)
{
    char warn[4096] = "";
    int ch;
    optind = 0;
    opterr = 1;
    while ((ch = getopt_long(argc, argv, "a:Ap:s:U:l:dru:m:Mc:khVvP:f:n:t:R:Cb:B:I:Fo:D:XWLSY:e:Z",
                             longopts, NULL)) != -1) {
        switch (ch) {
        case 'a': {
            char *end;
            long v = strtol(optarg, &end, 8);
            if (end == optarg || *end != '\0' || v < 0 || v > 0777)
                return bad_number(err, 'a', optarg);
            c->unix_mask = (int)v;
            break;
        }
        case 'A': c->shutdown_enabled = true; break;
        case 'p':
            if (!parse_int(optarg, &c->port) || c->port > 65535)
                return bad_number(err, 'p', optarg);
            break;
        case 's': free(c->unix_socket); c->unix_socket = strdup(optarg); break;
        case 'U':
            if (!parse_int(optarg, &c->udp_port) || c->udp_port > 65535)
                return bad_number(err, 'U', optarg);
            break;
        case 'l': {
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (add_listen(c, t, err) != 0) {
                    free(list);
                    return OPTIONS_ERROR;
                }
            }
            free(list);
            break;
        }
        case 'd': c->daemonize = true; break;
        case 'r': c->coredumps = true; break;
        case 'u': free(c->user); c->user = strdup(optarg); break;
        case 'm': {
            size_t mb;
            if (!parse_size(optarg, &mb))
                return bad_number(err, 'm', optarg);
            /* memcached: a plain number is megabytes, a suffix is explicit. */
            c->maxbytes = strpbrk(optarg, "kKmMgG") ? mb : mb * 1024 * 1024;
            break;
        }
        case 'M': c->evict_to_free = false; break;
        case 'c':
            if (!parse_int(optarg, &c->maxconns) || c->maxconns <= 0) {
                fprintf(err, "Maximum connections must be greater than 0\n");
                return OPTIONS_ERROR;
            }
            break;
        case 'k': c->lock_memory = true; break;
        case 'h': options_usage(out); return OPTIONS_EXIT_OK;
        case 'V': fprintf(out, "mcd " MCD_VERSION "\n"); return OPTIONS_EXIT_OK;
        case 'v':
            c->verbose++;
            break;
        case 'P': free(c->pidfile); c->pidfile = strdup(optarg); break;
        case 'f': {
            char *end;
            c->factor = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || c->factor <= 1.0) {
                fprintf(err, "Factor must be greater than 1\n");
                return OPTIONS_ERROR;
            }
            break;
        }
        case 'n':
            if (!parse_int(optarg, &c->chunk_size) || c->chunk_size == 0) {
                fprintf(err, "Chunk size must be greater than 0\n");
                return OPTIONS_ERROR;
            }
            break;
        case 't':
            if (!parse_int(optarg, &c->threads) || c->threads <= 0) {
                fprintf(err, "Number of threads must be greater than 0\n");
                return OPTIONS_ERROR;
            }
            if (c->threads > 64)
                fprintf(err, "WARNING: Setting a high number of worker threads is not "
                             "recommended.\n Set this value to the number of cores in your "
                             "machine or less.\n");
            break;
        case 'R':
            if (!parse_int(optarg, &c->reqs_per_event) || c->reqs_per_event == 0) {
                fprintf(err, "Number of requests per event must be greater than 0\n");
                return OPTIONS_ERROR;
            }
            break;
        case 'C': c->use_cas = false; break;
        case 'b':
            if (!parse_int(optarg, &c->backlog))
                return bad_number(err, 'b', optarg);
            break;
        case 'B':
            if (strcmp(optarg, "auto") == 0) {
                c->protocol = CONFIG_PROTO_AUTO;
            } else if (strcmp(optarg, "ascii") == 0) {
                c->protocol = CONFIG_PROTO_ASCII;
            } else if (strcmp(optarg, "binary") == 0) {
                c->protocol = CONFIG_PROTO_BINARY;
            } else {
                fprintf(err, "Invalid value for binding protocol: %s\n"
                             " -- should be one of auto, binary, or ascii\n", optarg);
                return OPTIONS_ERROR;
            }
            break;
        case 'I':
            if (!parse_size(optarg, &c->item_size_max))
                return bad_number(err, 'I', optarg);
            break;
        case 'F': c->flush_enabled = false; break;
        case 'X': c->dump_enabled = false; break;
        case 'W': break;    /* there is no watch command to disable */
        case 'L':
            snprintf(warn + strlen(warn), sizeof(warn) - strlen(warn),
                     "mcd: ignoring -L: jemalloc manages item pages\n");
            break;
        case 'S': case 'Y': case 'e': case 'Z':
            /* Accepting these and running without them would be unsafe. */
            fprintf(err, "mcd does not support -%c (%s) yet\n", ch,
                    ch == 'S' || ch == 'Y' ? "authentication" : ch == 'e' ? "memory file" : "TLS");
            return OPTIONS_ERROR;
        case 'D':
            if (optarg[0] == '\0' || optarg[1] != '\0') {
                fprintf(err, "No delimiter specified\n");
                return OPTIONS_ERROR;
            }
            c->prefix_delimiter = optarg[0];
            c->detail_enabled = true;
            break;
        case 'o': {
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (apply_subopt(c, t, err, warn, sizeof(warn)) != 0) {
                    free(list);
                    return OPTIONS_ERROR;
                }
            }
            free(list);
            break;
        }
        default:
            fprintf(err, "Illegal argument \"%c\"\n", ch);
            return OPTIONS_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(err, "Unexpected argument \"%s\"\n", argv[optind]);
        return OPTIONS_ERROR;
    }
    if (c->verbose > 0 && warn[0] != '\0')
        fputs(warn, err);
    return options_check(c, err);
}

void options_free(struct config *c)
{
    for (int i = 0; i < c->nlisten; i++)
        free(c->listen[i].host);
    c->nlisten = 0;
    free(c->unix_socket);
    free(c->user);
    free(c->pidfile);
    c->unix_socket = c->user = c->pidfile = NULL;
}
