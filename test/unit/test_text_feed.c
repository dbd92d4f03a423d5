/* Unit tests of the ASCII request loop: text_feed over a real cache, fed in
 * pieces as a socket would deliver them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "text.h"

static struct proto_counters counters;
static int shutdowns, verbosity_level = -1;

static void stub_server_stats(void *arg, struct proto_server_stats *out)
{
    (void)arg;
    memset(out, 0, sizeof(*out));
}
static void stub_conn_stats(void *arg, struct reply *r) { (void)arg; (void)r; }
static void stub_reset(void *arg) { (void)arg; }
static void stub_shutdown(void *arg, bool graceful) { (void)arg; (void)graceful; shutdowns++; }
static void stub_verbosity(void *arg, int level) { (void)arg; verbosity_level = level; }

static const struct proto_hooks hooks = {
    .server_stats = stub_server_stats, .conn_stats = stub_conn_stats,
    .stats_reset = stub_reset, .shutdown = stub_shutdown, .verbosity = stub_verbosity,
};
static struct proto_settings settings = {
    .version = "test", .use_cas = true, .flush_enabled = true, .dump_enabled = true, .reqs_per_event = 20,
    .item_size_max = 1024 * 1024,
};
static struct proto_env env = { .now = 100, .settings = &settings, .counters = &counters,
                                .hooks = &hooks };

static struct text_session sess;
static struct reply out;

static int setup(void **state)
{
    (void)state;
    struct cache_options o = {
        .maxbytes = 16 * 1024 * 1024, .item_size_max = 1024 * 1024, .factor = 1.25,
        .min_chunk = 48, .hashpower = 12, .use_cas = true, .evict_to_free = true,
        .started = 1700000000,
    };
    memset(&sess, 0, sizeof(sess));
    reply_init(&out);
    settings.reqs_per_event = 20;
    return cache_setup(&o);
}

static int teardown(void **state)
{
    (void)state;
    text_session_reset(&sess);
    reply_free(&out);
    cache_teardown();
    return 0;
}

/* Feed a string; returns the bytes consumed. */
static size_t feed(const char *s)
{
    return text_feed(&sess, &env, s, strlen(s), &out);
}

/* Everything replied so far, as a string, and consumed. */
static const char *replies(void)
{
    static char buf[1 << 16];
    struct iovec iov[64];
    size_t len = 0;
    while (!reply_empty(&out)) {
        int n = reply_iov(&out, iov, 64);
        size_t took = 0;
        for (int i = 0; i < n; i++) {
            memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            took += iov[i].iov_len;
        }
        reply_consumed(&out, took);
    }
    buf[len] = '\0';
    return buf;
}

static void test_set_fed_in_pieces_is_stored_once_complete(void **state)
{
    (void)state;
    assert_int_equal(feed("set foo 0 0 7\r\nXYZ"), 18);
    assert_int_equal(sess.state, TEXT_STATE_DATA);
    assert_string_equal(replies(), "");
    assert_int_equal(feed("abcd"), 4);
    assert_int_equal(sess.state, TEXT_STATE_DATA);
    assert_int_equal(feed("\r\n"), 2);
    assert_int_equal(sess.state, TEXT_STATE_CMD);
    assert_string_equal(replies(), "STORED\r\n");
    feed("get foo\r\n");
    assert_string_equal(replies(), "VALUE foo 0 7\r\nXYZabcd\r\nEND\r\n");
}

static void test_incomplete_line_is_left_for_later(void **state)
{
    (void)state;
    assert_int_equal(feed("get fo"), 0);
    assert_false(sess.close);
    assert_string_equal(replies(), "");
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    feed("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget b a\r\ndelete a\r\nget a\r\n");
    assert_string_equal(replies(), "STORED\r\nSTORED\r\nVALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\n"
                                   "END\r\nDELETED\r\nEND\r\n");
}

static void test_reqs_per_event_limit_yields(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    const char *in = "version\r\nversion\r\nversion\r\n";
    size_t n = feed(in);
    assert_int_equal(n, 18);
    assert_true(sess.yielded);
    assert_string_equal(replies(), "VERSION test\r\nVERSION test\r\n");
    n = text_feed(&sess, &env, in + 18, strlen(in) - 18, &out);
    assert_int_equal(n, 9);
    assert_false(sess.yielded);
}

static void test_too_large_value_is_swallowed_and_connection_usable(void **state)
{
    (void)state;
    feed("set big 0 0 1\r\nx\r\n");
    replies();
    size_t len = 2 * 1024 * 1024;
    char *buf = malloc(len + 64);
    int h = sprintf(buf, "set big 0 0 %zu\r\n", len);
    memset(buf + h, 'y', len);
    memcpy(buf + h + len, "\r\nget big\r\n", 11);
    size_t total = (size_t)h + len + 11;
    size_t used = text_feed(&sess, &env, buf, total / 2, &out);
    used += text_feed(&sess, &env, buf + used, total - used, &out);
    assert_int_equal(used, total);
    assert_string_equal(replies(), "SERVER_ERROR object too large for cache\r\nEND\r\n");
    free(buf);
}

static void test_bad_data_chunk_is_refused(void **state)
{
    (void)state;
    feed("set a 0 0 3\r\nabcde\r\nget a\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
}

static void test_long_line_without_newline_closes_unless_get(void **state)
{
    (void)state;
    char line[3000];
    memset(line, 'k', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    memcpy(line, "get ", 4);
    feed(line);
    assert_false(sess.close);
    memcpy(line, "set ", 4);
    feed(line);
    assert_true(sess.close);
}

static void test_quit_closes_and_shutdown_needs_enabling(void **state)
{
    (void)state;
    feed("shutdown\r\n");
    assert_string_equal(replies(), "ERROR: shutdown not enabled\r\n");
    assert_int_equal(shutdowns, 0);
    settings.shutdown_enabled = true;
    feed("shutdown\r\n");
    settings.shutdown_enabled = false;
    assert_int_equal(shutdowns, 1);
    assert_true(sess.close);
}

static void test_noreply_suppresses_replies_but_not_gets(void **state)
{
    (void)state;
    feed("set a 0 0 1 noreply\r\n1\r\nincr a 1 noreply\r\nget a\r\nverbosity 1 noreply\r\n");
    assert_string_equal(replies(), "VALUE a 0 1\r\n2\r\nEND\r\n");
    assert_int_equal(verbosity_level, 1);
}

static void test_get_of_many_keys_reports_hits_only(void **state)
{
    (void)state;
    char line[8192];
    int n = sprintf(line, "get");
    for (int i = 0; i < 100; i++)
        n += sprintf(line + n, " key%d", i);
    strcpy(line + n, "\r\n");
    feed("set key7 0 0 1\r\n7\r\nset key70 0 0 2\r\n70\r\n");
    replies();
    feed(line);
    assert_string_equal(replies(), "VALUE key7 0 1\r\n7\r\nVALUE key70 0 2\r\n70\r\nEND\r\n");
    assert_int_equal(counter_get(&counters.get_misses) >= 98, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_fed_in_pieces_is_stored_once_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_line_is_left_for_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_requests_are_answered_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reqs_per_event_limit_yields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_value_is_swallowed_and_connection_usable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_data_chunk_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_without_newline_closes_unless_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit_closes_and_shutdown_needs_enabling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noreply_suppresses_replies_but_not_gets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_of_many_keys_reports_hits_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
