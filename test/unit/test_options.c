/* Unit tests of the command line: memcached's flags, defaults and errors. */
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
static char errbuf[8192];

static int parse(const char *line)
{
    char copy[1024], *argv[64];
    int argc = 0;
    snprintf(copy, sizeof(copy), "mcd %s", line);
    for (char *t = strtok(copy, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    options_free(&cfg);
    options_defaults(&cfg);
    FILE *out = fopen("/dev/null", "w");
    memset(errbuf, 0, sizeof(errbuf));
    FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
    int rc = options_parse(&cfg, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    options_free(&cfg);
    return 0;
}

static void test_defaults_match_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse(""), OPTIONS_RUN);
    assert_int_equal(cfg.port, 11211);
    assert_int_equal(cfg.udp_port, 0);
    assert_int_equal(cfg.maxbytes, 64 * 1024 * 1024);
    assert_int_equal(cfg.maxconns, 1024);
    assert_int_equal(cfg.threads, 4);
    assert_int_equal(cfg.reqs_per_event, 20);
    assert_int_equal(cfg.item_size_max, 1024 * 1024);
    assert_int_equal(cfg.chunk_size, 48);
    assert_true(cfg.factor > 1.24 && cfg.factor < 1.26);
    assert_true(cfg.use_cas && cfg.evict_to_free && cfg.flush_enabled);
    assert_false(cfg.shutdown_enabled);
}

static void test_short_and_long_forms_set_the_same_fields(void **state)
{
    (void)state;
    parse("-p 1 -t 3 -m 10 -c 5 -C -M -A -F");
    struct config s = cfg;
    parse("--port=1 --threads 3 --memory-limit=10 --conn-limit=5 --disable-cas "
          "--disable-evictions --enable-shutdown --disable-flush-all");
    assert_int_equal(cfg.port, s.port);
    assert_int_equal(cfg.threads, s.threads);
    assert_int_equal(cfg.maxbytes, s.maxbytes);
    assert_int_equal(cfg.maxconns, s.maxconns);
    assert_int_equal(cfg.use_cas, s.use_cas);
    assert_int_equal(cfg.evict_to_free, s.evict_to_free);
    assert_int_equal(cfg.shutdown_enabled, s.shutdown_enabled);
    assert_int_equal(cfg.flush_enabled, s.flush_enabled);
    assert_int_equal(cfg.threads, 3);
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

static void test_listen_lists_ipv6_and_ports(void **state)
{
    (void)state;
    assert_int_equal(parse("-l 127.0.0.1:12000,::1 -l [::1]:13000 -l localhost"), OPTIONS_RUN);
    assert_int_equal(cfg.nlisten, 4);
    assert_string_equal(cfg.listen[0].host, "127.0.0.1");
    assert_int_equal(cfg.listen[0].port, 12000);
    assert_string_equal(cfg.listen[1].host, "::1");
    assert_int_equal(cfg.listen[1].port, 0);
    assert_string_equal(cfg.listen[2].host, "::1");
    assert_int_equal(cfg.listen[2].port, 13000);
    assert_string_equal(cfg.listen[3].host, "localhost");
}

static void test_item_size_suffixes_and_limits(void **state)
{
    (void)state;
    assert_int_equal(parse("-I 2k"), OPTIONS_RUN);
    assert_int_equal(cfg.item_size_max, 2048);
    assert_int_equal(parse("-I 4m"), OPTIONS_RUN);
    assert_int_equal(cfg.item_size_max, 4 * 1024 * 1024);
    assert_int_equal(parse("-I 512"), OPTIONS_ERROR);
    assert_non_null(strstr(errbuf, "cannot be less than 1024"));
    assert_int_equal(parse("-I 64m"), OPTIONS_ERROR);
    assert_non_null(strstr(errbuf, "1/2 of memory max"));
}

static void test_growth_factor_must_exceed_one(void **state)
{
    (void)state;
    assert_int_equal(parse("-f 1.0"), OPTIONS_ERROR);
    assert_non_null(strstr(errbuf, "Factor must be greater than 1"));
    assert_int_equal(parse("-f 2"), OPTIONS_RUN);
}

static void test_extended_options(void **state)
{
    (void)state;
    assert_int_equal(parse("-o hashpower=20,idle_timeout=30,no_maxconns_fast"), OPTIONS_RUN);
    assert_int_equal(cfg.hashpower, 20);
    assert_int_equal(cfg.idle_timeout, 30);
    assert_false(cfg.maxconns_fast);
    assert_int_equal(parse("-o hashpower=5"), OPTIONS_ERROR);
    assert_int_equal(parse("-o nosuch"), OPTIONS_ERROR);
    assert_non_null(strstr(errbuf, "Illegal suboption \"nosuch\""));
}

static void test_known_but_ignored_extended_option_warns_at_v(void **state)
{
    (void)state;
    assert_int_equal(parse("-o slab_reassign,modern"), OPTIONS_RUN);
    assert_string_equal(errbuf, "");
    assert_int_equal(parse("-v -o slab_reassign"), OPTIONS_RUN);
    assert_non_null(strstr(errbuf, "ignoring -o slab_reassign"));
}

static void test_udp_and_binary_are_refused_until_supported(void **state)
{
    (void)state;
    assert_int_equal(parse("-U 11211"), OPTIONS_ERROR);
    assert_int_equal(parse("-U 0"), OPTIONS_RUN);
    assert_int_equal(parse("-B binary"), OPTIONS_ERROR);
    assert_int_equal(parse("-B ascii"), OPTIONS_RUN);
    assert_int_equal(parse("-B foo"), OPTIONS_ERROR);
}

static void test_unknown_flag_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(parse("-z"), OPTIONS_ERROR);
    assert_non_null(strstr(errbuf, "Illegal argument"));
    assert_int_equal(parse("-t 0"), OPTIONS_ERROR);
}

static void test_verbosity_counts(void **state)
{
    (void)state;
    assert_int_equal(parse("-vvv"), OPTIONS_RUN);
    assert_int_equal(cfg.verbose, 3);
}

static void test_help_and_version_exit_zero(void **state)
{
    (void)state;
    assert_int_equal(parse("-h"), OPTIONS_EXIT_OK);
    assert_int_equal(parse("--version"), OPTIONS_EXIT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_memcached),
        cmocka_unit_test(test_short_and_long_forms_set_the_same_fields),
        cmocka_unit_test(test_memcached_example_command_line),
        cmocka_unit_test(test_listen_lists_ipv6_and_ports),
        cmocka_unit_test(test_item_size_suffixes_and_limits),
        cmocka_unit_test(test_growth_factor_must_exceed_one),
        cmocka_unit_test(test_extended_options),
        cmocka_unit_test(test_known_but_ignored_extended_option_warns_at_v),
        cmocka_unit_test(test_udp_and_binary_are_refused_until_supported),
        cmocka_unit_test(test_unknown_flag_is_an_error),
        cmocka_unit_test(test_verbosity_counts),
        cmocka_unit_test(test_help_and_version_exit_zero),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
