/* Unit tests of the command line: memcached 1.6.18's flags, defaults and
 * error messages, checked against what the memcached binary prints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

static struct config cfg;
static char *out_text, *err_text;

/* Parse argv as given ("mcd" is argv[0]); out/err land in out_text/err_text. */
static int parse_argv(int argc, char **argv)
{
    size_t out_len, err_len;
    free(out_text);
    free(err_text);
    options_free(&cfg);
    options_defaults(&cfg);
    FILE *out = open_memstream(&out_text, &out_len);
    FILE *err = open_memstream(&err_text, &err_len);
    assert_non_null(out);
    assert_non_null(err);
    int rc = options_parse(&cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

/* Parse a command line split on spaces. */
static int parse(const char *line)
{
    static char copy[1024];
    char *argv[64];
    int argc = 0;
    snprintf(copy, sizeof(copy), "mcd %s", line);
    for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    return parse_argv(argc, argv);
}

static int teardown(void **state)
{
    (void)state;
    options_free(&cfg);
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    return 0;
}

static void test_defaults_match_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse(""), OPTIONS_RUN);
    assert_int_equal(cfg.port, 11211);
    assert_int_equal(cfg.udp_port, 0);
    assert_null(cfg.unix_socket);
    assert_int_equal(cfg.unix_mask, 0700);
    assert_int_equal(cfg.nlisten, 0);
    assert_int_equal(cfg.backlog, 1024);
    assert_int_equal(cfg.maxconns, 1024);
    assert_true(cfg.maxconns_fast);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_AUTO);
    assert_false(cfg.daemonize);
    assert_null(cfg.user);
    assert_null(cfg.pidfile);
    assert_int_equal(cfg.verbose, 0);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.reqs_per_event, 20);
    assert_int_equal(cfg.idle_timeout, 0);
    assert_int_equal(cfg.maxbytes, 64 * 1024 * 1024);
    assert_true(cfg.evict_to_free);
    assert_true(cfg.use_cas);
    assert_int_equal(cfg.item_size_max, 1024 * 1024);
    assert_true(cfg.factor == 1.08);
    assert_int_equal(cfg.chunk_size, 10);
    assert_int_equal(cfg.hashpower, 16);
    assert_false(cfg.shutdown_enabled);
    assert_true(cfg.flush_enabled);
    assert_true(cfg.lru_crawler);
    assert_int_equal(cfg.prefix_delimiter, ':');
    assert_false(cfg.detail_enabled);
    assert_string_equal(err_text, "");
}

static void assert_same_config(const struct config *a, const struct config *b)
{
    assert_int_equal(a->port, b->port);
    assert_int_equal(a->unix_mask, b->unix_mask);
    assert_string_equal(a->unix_socket, b->unix_socket);
    assert_string_equal(a->user, b->user);
    assert_string_equal(a->pidfile, b->pidfile);
    assert_int_equal(a->nlisten, b->nlisten);
    assert_string_equal(a->listen[0].host, b->listen[0].host);
    assert_int_equal(a->backlog, b->backlog);
    assert_int_equal(a->maxconns, b->maxconns);
    assert_int_equal(a->protocol, b->protocol);
    assert_int_equal(a->daemonize, b->daemonize);
    assert_int_equal(a->coredumps, b->coredumps);
    assert_int_equal(a->lock_memory, b->lock_memory);
    assert_int_equal(a->verbose, b->verbose);
    assert_int_equal(a->threads, b->threads);
    assert_int_equal(a->reqs_per_event, b->reqs_per_event);
    assert_int_equal(a->maxbytes, b->maxbytes);
    assert_int_equal(a->evict_to_free, b->evict_to_free);
    assert_int_equal(a->use_cas, b->use_cas);
    assert_int_equal(a->item_size_max, b->item_size_max);
    assert_true(a->factor == b->factor);
    assert_int_equal(a->chunk_size, b->chunk_size);
    assert_int_equal(a->hashpower, b->hashpower);
    assert_int_equal(a->idle_timeout, b->idle_timeout);
    assert_int_equal(a->shutdown_enabled, b->shutdown_enabled);
    assert_int_equal(a->flush_enabled, b->flush_enabled);
}

static void test_short_and_long_forms_set_the_same_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("-p 1 -a 755 -s /tmp/s -l 10.0.0.1 -d -r -u nobody -m 10 -M -c 5 "
                           "-k -v -P /tmp/p -f 2 -n 64 -t 3 -R 7 -C -b 99 -B ascii -I 2m -A "
                           "-F -o hashpower=20,idle_timeout=9"), OPTIONS_RUN);
    struct config s = cfg;
    memset(&cfg, 0, sizeof(cfg));       /* s owns the strings now */
    assert_int_equal(parse("--port=1 --unix-mask=755 --unix-socket=/tmp/s --listen=10.0.0.1 "
                           "--daemon --enable-coredumps --user=nobody --memory-limit=10 "
                           "--disable-evictions --conn-limit=5 --lock-memory --verbose "
                           "--pidfile=/tmp/p --slab-growth-factor=2 --slab-min-size=64 "
                           "--threads=3 --max-reqs-per-event=7 --disable-cas "
                           "--listen-backlog=99 --protocol=ascii --max-item-size=2m "
                           "--enable-shutdown --disable-flush-all "
                           "--extended=hashpower=20,idle_timeout=9"), OPTIONS_RUN);
    assert_same_config(&cfg, &s);
    assert_int_equal(cfg.unix_mask, 0755);
    assert_int_equal(cfg.threads, 3);
    options_free(&s);
}

static void test_long_threads_listen_and_port(void **state)
{
    (void)state;
    assert_int_equal(parse("--threads 8 -l 127.0.0.1 -p 12000"), OPTIONS_RUN);
    assert_int_equal(cfg.threads, 8);
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen[0].host, "127.0.0.1");
    assert_int_equal(cfg.listen[0].port, 0);
    assert_int_equal(cfg.port, 12000);
}

static void test_memcached_example_command_line(void **state)
{
    (void)state;
    assert_int_equal(parse("-d -m 10 -u root -l 127.0.0.1 -p 12000 -c 256 -P /tmp/mcd.pid"),
                     OPTIONS_RUN);
    assert_true(cfg.daemonize);
    assert_int_equal(cfg.maxbytes, 10 * 1024 * 1024);
    assert_string_equal(cfg.user, "root");
    assert_int_equal(cfg.nlisten, 1);
    assert_string_equal(cfg.listen[0].host, "127.0.0.1");
    assert_int_equal(cfg.port, 12000);
    assert_int_equal(cfg.maxconns, 256);
    assert_string_equal(cfg.pidfile, "/tmp/mcd.pid");
}

static void test_listen_list_takes_ipv4_ipv6_and_addr_port(void **state)
{
    (void)state;
    assert_int_equal(parse("-l 127.0.0.1:12000,::1,[::1]:13000,[fe80::1],localhost;*"),
                     OPTIONS_RUN);
    assert_int_equal(cfg.nlisten, 6);
    assert_string_equal(cfg.listen[0].host, "127.0.0.1");
    assert_int_equal(cfg.listen[0].port, 12000);
    assert_string_equal(cfg.listen[1].host, "::1");
    assert_int_equal(cfg.listen[1].port, 0);
    assert_string_equal(cfg.listen[2].host, "::1");
    assert_int_equal(cfg.listen[2].port, 13000);
    assert_string_equal(cfg.listen[3].host, "fe80::1");
    assert_int_equal(cfg.listen[3].port, 0);
    assert_string_equal(cfg.listen[4].host, "localhost");
    assert_null(cfg.listen[5].host);    /* "*": any address */
}

static void test_listen_repeats_add_and_skip_duplicates(void **state)
{
    (void)state;
    assert_int_equal(parse("-l 127.0.0.1 -l 127.0.0.2:5 -l 127.0.0.1 -l 127.0.0.1:6"),
                     OPTIONS_RUN);
    assert_int_equal(cfg.nlisten, 3);
    assert_string_equal(cfg.listen[1].host, "127.0.0.2");
    assert_int_equal(cfg.listen[1].port, 5);
    assert_int_equal(cfg.listen[2].port, 6);
}

static void test_listen_bad_port_or_ipv6_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-l 127.0.0.1:http"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Invalid port number: \"http\"\n");
    assert_int_equal(parse("-l [::1:5"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Invalid IPV6 address: \"[::1:5\"\n");
}

static void test_item_size_takes_k_and_m_suffixes(void **state)
{
    (void)state;
    assert_int_equal(parse("-I 2048k"), OPTIONS_RUN);
    assert_int_equal(cfg.item_size_max, 2048 * 1024);
    assert_int_equal(parse("-I 4M"), OPTIONS_RUN);
    assert_int_equal(cfg.item_size_max, 4 * 1024 * 1024);
    assert_int_equal(parse("-I 1024"), OPTIONS_RUN);
    assert_int_equal(cfg.item_size_max, 1024);
}

static void test_item_size_below_1k_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-I 1023"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Item max size cannot be less than 1024 bytes.\n");
}

static void test_item_size_g_suffix_read_as_bytes_like_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-I 2g"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Item max size cannot be less than 1024 bytes.\n");
    assert_int_equal(parse("-v -I 2g"), OPTIONS_ERROR);
    assert_non_null(strstr(err_text, "mcd: -I 2g read as 2"));
}

static void test_item_size_over_half_of_memory_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-I 64m"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Cannot set item size limit higher than 1/2 of memory max.\n");
    assert_int_equal(parse("-I 64m -m 128"), OPTIONS_RUN);
}

static void test_item_size_over_a_gigabyte_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-m 4096 -I 1025m"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Cannot set item size limit higher than a gigabyte.\n");
    assert_int_equal(parse("-m 4096 -I 1024m"), OPTIONS_RUN);
}

static void test_memory_limit_is_megabytes_without_suffixes(void **state)
{
    (void)state;
    assert_int_equal(parse("-m 2048"), OPTIONS_RUN);
    assert_int_equal(cfg.maxbytes, 2048ULL * 1024 * 1024);
    assert_int_equal(parse("-m 1g -I 512k"), OPTIONS_RUN);  /* memcached's atoi: 1 MB */
    assert_int_equal(cfg.maxbytes, 1024 * 1024);
}

static void test_growth_factor_at_or_below_one_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-f 1.0"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Factor must be greater than 1\n");
    assert_int_equal(parse("-f 0.5"), OPTIONS_ERROR);
    assert_int_equal(parse("-f 1.08"), OPTIONS_RUN);
    assert_true(cfg.factor == 1.08);
}

static void test_hashpower_out_of_range_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-o hashpower=11"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Initial hashtable multiplier of 11 is too low\n");
    assert_int_equal(parse("-o hashpower=33"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Initial hashtable multiplier of 33 is too high\n"
                        "Choose a value based on \"STAT hash_power_level\" from a running "
                        "instance\n");
    assert_int_equal(parse("-o hashpower"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Missing numeric argument for hashpower\n");
}

static void test_applied_extended_options_set_config(void **state)
{
    (void)state;
    assert_int_equal(parse("-o hashpower=32,idle_timeout=30,no_maxconns_fast,no_lru_crawler,"
                           "item_size_max=2m,slab_reassign,modern"), OPTIONS_RUN);
    assert_int_equal(cfg.hashpower, 32);
    assert_int_equal(cfg.idle_timeout, 30);
    assert_false(cfg.maxconns_fast);
    assert_false(cfg.lru_crawler);
    assert_int_equal(cfg.item_size_max, 2 * 1024 * 1024);
    assert_true(cfg.slab_reassign);
    assert_int_equal(parse("-o no_modern"), OPTIONS_RUN);
    assert_false(cfg.maxconns_fast);
    assert_false(cfg.lru_crawler);
}

static void test_unknown_extended_option_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-o nosuch"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Illegal suboption \"nosuch\"\n");
    assert_int_equal(parse("-o hashpower=20,ext_foo=1"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Illegal suboption \"ext_foo=1\"\n");
    assert_int_equal(parse("-o proxy_config=x"), OPTIONS_ERROR);   /* not in Debian's build */
}

static void test_empty_extended_option_refused_trailing_comma_not(void **state)
{
    (void)state;
    assert_int_equal(parse("-o hashpower=20,,idle_timeout=3"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Illegal suboption \"\"\n");
    assert_int_equal(parse("-o hashpower=20,"), OPTIONS_RUN);
}

static void test_known_but_ignored_extended_option_accepted(void **state)
{
    (void)state;
    assert_int_equal(parse("-o slab_automove=1,hash_algorithm=xxh3,ext_path=/d/f:1G,"
                           "ssl_key=k,lru_maintainer,track_sizes"), OPTIONS_RUN);
    assert_string_equal(err_text, "");
}

static void test_known_but_ignored_extended_option_noted_at_v(void **state)
{
    (void)state;
    assert_int_equal(parse("-o hash_algorithm=xxh3 -v"), OPTIONS_RUN);
    assert_string_equal(err_text, "mcd: ignoring -o hash_algorithm: no effect in mcd\n");
}

static void test_storage_extended_options_are_applied(void **state)
{
    (void)state;
    assert_int_equal(parse("-o slab_automove=2,slab_automove_ratio=0.5,slab_automove_window=10,"
                           "lru_crawler_sleep=50,lru_crawler_tocrawl=7,slab_chunk_max=2048 -v"),
                     OPTIONS_RUN);
    assert_string_equal(err_text, "");
    assert_int_equal(cfg.slab_automove, 2);
    assert_true(cfg.slab_automove_ratio == 0.5);
    assert_int_equal(cfg.slab_automove_window, 10);
    assert_int_equal(cfg.lru_crawler_sleep, 50);
    assert_int_equal(cfg.lru_crawler_tocrawl, 7);
    assert_int_equal(cfg.slab_chunk_max, 2048);
    assert_int_equal(parse("-o slab_automove"), OPTIONS_RUN);
    assert_int_equal(cfg.slab_automove, 1);
    assert_int_equal(parse("-o no_slab_automove"), OPTIONS_RUN);
    assert_int_equal(cfg.slab_automove, 0);
    assert_true(cfg.slab_reassign);
    assert_int_equal(parse("-o no_slab_reassign"), OPTIONS_RUN);
    assert_false(cfg.slab_reassign);
}

static void test_ignored_extended_option_value_checked_as_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-o slab_automove=3"), OPTIONS_ERROR);
    assert_string_equal(err_text, "slab_automove must be between 0 and 2\n");
    assert_int_equal(parse("-o hash_algorithm=md5"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Unknown hash_algorithm option (jenkins, murmur3, xxh3)\n");
    assert_int_equal(parse("-o ext_page_size"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Missing ext_page_size argument\n");
    assert_int_equal(parse("-o ext_threads=x"), OPTIONS_ERROR);
    assert_string_equal(err_text, "could not parse argument to ext_threads\n");
}

static void test_udp_port_alone_is_the_tcp_port_too(void **state)
{
    (void)state;
    assert_int_equal(parse("-U 12000"), OPTIONS_RUN);
    assert_int_equal(cfg.udp_port, 12000);
    assert_int_equal(cfg.port, 12000);
    assert_int_equal(parse("-p 11000 -U 12000"), OPTIONS_RUN);
    assert_int_equal(cfg.port, 11000);
    assert_int_equal(parse("-U 12000 -p 11000"), OPTIONS_RUN);
    assert_int_equal(cfg.port, 11000);
    assert_int_equal(parse("--udp-port=0"), OPTIONS_RUN);
    assert_int_equal(cfg.port, 11211);
}

static void test_protocol_modes_taken_and_unknown_named(void **state)
{
    (void)state;
    assert_int_equal(parse("-B binary"), OPTIONS_RUN);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_BINARY);
    assert_int_equal(parse("-B ascii"), OPTIONS_RUN);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_ASCII);
    assert_int_equal(parse("-B foo"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Invalid value for binding protocol: foo\n"
                        " -- should be one of auto, binary, or ascii\n");
    assert_int_equal(parse("-B auto"), OPTIONS_RUN);
}

static void test_proto_ascii_on_every_listener_is_B_ascii(void **state)
{
    (void)state;
    assert_int_equal(parse("-l proto[ascii]:127.0.0.1,proto[ascii]:127.0.0.2"), OPTIONS_RUN);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_ASCII);
    assert_int_equal(parse("-B binary -l proto[ascii]:127.0.0.1"), OPTIONS_RUN);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_ASCII);
    /* Only some of them: -B decides for all. */
    assert_int_equal(parse("-l proto[ascii]:127.0.0.1,127.0.0.2"), OPTIONS_RUN);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_AUTO);
    assert_int_equal(parse("-l proto[binary]:127.0.0.1"), OPTIONS_ERROR);
}

static void test_unknown_flag_refused_like_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-z"), OPTIONS_ERROR);
    assert_string_equal(err_text, "mcd: invalid option -- 'z'\nIllegal argument \"?\"\n");
    assert_int_equal(parse("--nosuch"), OPTIONS_ERROR);
    assert_string_equal(err_text, "mcd: unrecognized option '--nosuch'\nIllegal argument \"?\"\n");
}

static void test_missing_flag_value_refused_like_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-p"), OPTIONS_ERROR);
    assert_string_equal(err_text,
                        "mcd: option requires an argument -- 'p'\nIllegal argument \"?\"\n");
    assert_int_equal(parse("--threads"), OPTIONS_ERROR);
    assert_string_equal(err_text,
                        "mcd: option '--threads' requires an argument\nIllegal argument \"?\"\n");
}

/* -S, -Y and -Z as memcached takes them: -S means binary, -Y ascii, a -B
 * that says otherwise is refused with memcached's words; neither goes with
 * UDP; notls: needs -Z. */
static void test_sasl_tls_and_auth_file_as_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-S"), OPTIONS_RUN);
    assert_true(cfg.sasl);
    assert_int_equal(cfg.protocol, CONFIG_PROTO_BINARY);
    assert_int_equal(parse("-S -B ascii"), OPTIONS_ERROR);
    assert_string_equal(err_text, "ERROR: You cannot allow the ASCII protocol while using SASL.\n");
    assert_int_equal(parse("-S -U 11211"), OPTIONS_ERROR);
    assert_string_equal(err_text,
                        "ERROR: Cannot enable UDP while using binary SASL authentication.\n");
    assert_int_equal(parse("-Y /etc/auth"), OPTIONS_RUN);
    assert_string_equal(cfg.auth_file, "/etc/auth");
    assert_int_equal(cfg.protocol, CONFIG_PROTO_ASCII);
    assert_int_equal(parse("-Y /etc/auth -B binary"), OPTIONS_ERROR);
    assert_non_null(strstr(err_text, "You cannot allow the BINARY protocol"));
    assert_int_equal(parse("--enable-ssl"), OPTIONS_RUN);
    assert_true(cfg.ssl_enabled);
    assert_int_equal(parse("-l notls:127.0.0.1"), OPTIONS_ERROR);
    assert_string_equal(err_text, "'notls' option is valid only when SSL is enabled\n");
}

static void test_ignored_flags_accepted_and_noted_at_v(void **state)
{
    (void)state;
    assert_int_equal(parse("-L -W -e /dev/shm/mc -N 2"), OPTIONS_RUN);
    assert_string_equal(err_text, "");
    assert_int_equal(parse("-L -v"), OPTIONS_RUN);
    assert_non_null(strstr(err_text, "mcd: ignoring -L"));
}

static void test_memory_file_and_metrics_port(void **state)
{
    (void)state;
    assert_int_equal(parse("-e /var/lib/mcd/cache -o metrics_port=9150"), OPTIONS_RUN);
    assert_string_equal(cfg.memory_file, "/var/lib/mcd/cache");
    assert_int_equal(cfg.metrics_port, 9150);
    assert_int_equal(parse("--memory-file=/tmp/x"), OPTIONS_RUN);
    assert_string_equal(cfg.memory_file, "/tmp/x");
    assert_int_equal(parse(""), OPTIONS_RUN);
    assert_null(cfg.memory_file);
    assert_int_equal(cfg.metrics_port, 0);
    assert_int_equal(parse("-o metrics_port=65536"), OPTIONS_ERROR);
    assert_int_equal(parse("-o metrics_port"), OPTIONS_ERROR);
    assert_int_equal(parse("-o metrics_port=-1"), OPTIONS_ERROR);
}

static void test_threads_zero_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-t 0"), OPTIONS_ERROR);
    assert_string_equal(err_text, "Number of threads must be greater than 0\n");
}

static void test_threads_over_64_warn_like_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("-t 65"), OPTIONS_RUN);
    assert_string_equal(err_text,
                        "WARNING: Setting a high number of workerthreads is not recommended.\n"
                        " Set this value to the number of cores in your machine or less.\n");
}

static void test_port_over_65535_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("-p 70000"), OPTIONS_ERROR);
    assert_string_equal(err_text, "ERROR: Invalid port number 70000.\n");
}

static void test_delimiter_sets_prefix_and_turns_detail_on(void **state)
{
    (void)state;
    assert_int_equal(parse("-D /"), OPTIONS_RUN);
    assert_int_equal(cfg.prefix_delimiter, '/');
    assert_true(cfg.detail_enabled);
    char *argv[] = { "mcd", "-D", "", NULL };
    assert_int_equal(parse_argv(3, argv), OPTIONS_ERROR);
    assert_string_equal(err_text, "No delimiter specified\n");
}

static void test_vvv_counts_three(void **state)
{
    (void)state;
    assert_int_equal(parse("-vvv"), OPTIONS_RUN);
    assert_int_equal(cfg.verbose, 3);
    assert_int_equal(parse("-v --verbose -v"), OPTIONS_RUN);
    assert_int_equal(cfg.verbose, 3);
}

static void test_extra_arguments_ignored_like_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("start -p 1"), OPTIONS_RUN);
    assert_int_equal(cfg.port, 1);
}

static void test_help_lists_every_long_flag_and_exits_ok(void **state)
{
    (void)state;
    static const char *const flags[] = {
        "--port", "--udp-port", "--unix-socket", "--unix-mask", "--enable-shutdown", "--listen",
        "--daemon", "--enable-coredumps", "--user", "--memory-limit", "--disable-evictions",
        "--conn-limit", "--lock-memory", "--verbose", "--help", "--license", "--version",
        "--pidfile", "--slab-growth-factor", "--slab-min-size", "--enable-largepages",
        "--threads", "--max-reqs-per-event", "--disable-cas", "--listen-backlog", "--protocol",
        "--max-item-size", "--enable-sasl", "--disable-flush-all", "--disable-dumping",
        "--disable-watch", "--auth-file", "--memory-file", "--enable-ssl", "--extended",
        "--napi-ids",
    };
    assert_int_equal(parse("-h"), OPTIONS_EXIT_OK);
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        assert_non_null(strstr(out_text, flags[i]));
    assert_int_equal(parse("--help -t 0"), OPTIONS_EXIT_OK);
}

static void test_version_prints_mcd_version(void **state)
{
    (void)state;
    assert_int_equal(parse("-V"), OPTIONS_EXIT_OK);
    assert_string_equal(out_text, "mcd " MCD_VERSION " (memcached " MCD_MEMCACHED_VERSION ")\n");
    assert_int_equal(parse("--version"), OPTIONS_EXIT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_memcached),
        cmocka_unit_test(test_short_and_long_forms_set_the_same_fields),
        cmocka_unit_test(test_long_threads_listen_and_port),
        cmocka_unit_test(test_memcached_example_command_line),
        cmocka_unit_test(test_listen_list_takes_ipv4_ipv6_and_addr_port),
        cmocka_unit_test(test_listen_repeats_add_and_skip_duplicates),
        cmocka_unit_test(test_listen_bad_port_or_ipv6_refused),
        cmocka_unit_test(test_item_size_takes_k_and_m_suffixes),
        cmocka_unit_test(test_item_size_below_1k_refused),
        cmocka_unit_test(test_item_size_g_suffix_read_as_bytes_like_memcached),
        cmocka_unit_test(test_item_size_over_half_of_memory_refused),
        cmocka_unit_test(test_item_size_over_a_gigabyte_refused),
        cmocka_unit_test(test_memory_limit_is_megabytes_without_suffixes),
        cmocka_unit_test(test_growth_factor_at_or_below_one_refused),
        cmocka_unit_test(test_hashpower_out_of_range_refused),
        cmocka_unit_test(test_applied_extended_options_set_config),
        cmocka_unit_test(test_unknown_extended_option_refused),
        cmocka_unit_test(test_empty_extended_option_refused_trailing_comma_not),
        cmocka_unit_test(test_known_but_ignored_extended_option_accepted),
        cmocka_unit_test(test_known_but_ignored_extended_option_noted_at_v),
        cmocka_unit_test(test_storage_extended_options_are_applied),
        cmocka_unit_test(test_ignored_extended_option_value_checked_as_memcached),
        cmocka_unit_test(test_udp_port_alone_is_the_tcp_port_too),
        cmocka_unit_test(test_protocol_modes_taken_and_unknown_named),
        cmocka_unit_test(test_proto_ascii_on_every_listener_is_B_ascii),
        cmocka_unit_test(test_unknown_flag_refused_like_memcached),
        cmocka_unit_test(test_missing_flag_value_refused_like_memcached),
        cmocka_unit_test(test_sasl_tls_and_auth_file_as_memcached),
        cmocka_unit_test(test_ignored_flags_accepted_and_noted_at_v),
        cmocka_unit_test(test_memory_file_and_metrics_port),
        cmocka_unit_test(test_threads_zero_refused),
        cmocka_unit_test(test_threads_over_64_warn_like_memcached),
        cmocka_unit_test(test_port_over_65535_refused),
        cmocka_unit_test(test_delimiter_sets_prefix_and_turns_detail_on),
        cmocka_unit_test(test_vvv_counts_three),
        cmocka_unit_test(test_extra_arguments_ignored_like_memcached),
        cmocka_unit_test(test_help_lists_every_long_flag_and_exits_ok),
        cmocka_unit_test(test_version_prints_mcd_version),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
