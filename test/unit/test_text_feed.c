/* Unit tests of the ASCII request loop: text_feed over a real (small) cache,
 * fed in pieces as a socket delivers them, replies compared byte for byte
 * with what memcached 1.6.18 sends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text_fixture.h"

/* How many segments of the pending reply reference an item. */
static int item_segments(void)
{
    int n = 0;
    for (size_t i = out.sent_seg; i < out.nsegs; i++)
        n += out.segs[i].it != NULL;
    return n;
}

static void test_small_value_is_copied_large_value_referenced(void **state)
{
    (void)state;
    static char big[600 + 64];
    feed("set s 0 0 5\r\nsmall\r\n");
    snprintf(big, sizeof(big), "set b 0 0 600\r\n%0600d\r\n", 7);
    feed(big);
    assert_string_equal(replies(), "STORED\r\nSTORED\r\n");
    feed("get s\r\n");
    assert_int_equal(item_segments(), 0);
    assert_string_equal(replies(), "VALUE s 0 5\r\nsmall\r\nEND\r\n");
    feed("gets b\r\n");
    assert_int_equal(item_segments(), 1);
    const char *r = replies();
    assert_memory_equal(r, "VALUE b 0 600 ", 14);      /* then the cas */
    const char *v = strstr(r, "\r\n") + 2;
    assert_memory_equal(v, big + strlen("set b 0 0 600\r\n"), 602);
    assert_string_equal(v + 602, "END\r\n");
}

static void test_set_fed_in_pieces_is_stored_once_complete(void **state)
{
    (void)state;
    assert_int_equal(feed("set foo 0 0 7\r\nXYZ"), 18);
    assert_int_equal(sess.state, TEXT_STATE_DATA);
    assert_int_equal(sess.filled, 3);
    assert_string_equal(replies(), "");
    assert_int_equal(feed("abcd"), 4);
    assert_int_equal(sess.state, TEXT_STATE_DATA);
    assert_int_equal(sess.filled, 7);
    assert_string_equal(replies(), "");
    assert_int_equal(feed("\r\n"), 2);
    assert_int_equal(sess.state, TEXT_STATE_CMD);
    assert_string_equal(replies(), "STORED\r\n");
    feed("get foo\r\n");
    assert_string_equal(replies(), "VALUE foo 0 7\r\nXYZabcd\r\nEND\r\n");
}

static void test_request_line_in_pieces_waits_for_its_newline(void **state)
{
    (void)state;
    assert_int_equal(feed("get fo"), 0);
    assert_int_equal(feed("o\r"), 0);
    assert_false(sess.close);
    assert_string_equal(replies(), "");
    assert_int_equal(feed("\n"), 9);
    assert_string_equal(replies(), "END\r\n");
}

static void test_bare_newline_ends_a_line_too(void **state)
{
    (void)state;
    feed("version\nversion\r\n\r\n");
    assert_string_equal(replies(), "VERSION 1.6.18\r\nVERSION 1.6.18\r\nERROR\r\n");
}

static void test_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    feed("set a 0 0 1\r\n1\r\nset b 5 0 1\r\n2\r\nget b a\r\ndelete a\r\nget a\r\nmn\r\n");
    assert_string_equal(replies(), "STORED\r\nSTORED\r\nVALUE b 5 1\r\n2\r\nVALUE a 0 1\r\n1\r\n"
                                   "END\r\nDELETED\r\nEND\r\nMN\r\n");
}

/* Requests are parsed a few ahead of their turn (text_ahead.c), guessing
 * where the next one starts: past a storage line's data block.  When the
 * request itself says otherwise, the guess must be dropped. */
static void test_a_line_parsed_ahead_is_dropped_when_the_feed_goes_elsewhere(void **state)
{
    (void)state;
    static char line[400];
    /* A key over 250 bytes: refused before its data, which is then read as
     * a command line; the request after it was parsed past that data. */
    snprintf(line, sizeof(line), "ms %0251d 3\r\nabc\r\nmn\r\nget x\r\n", 1);
    feed(line);
    assert_string_equal(replies(), "CLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\nEND\r\n");
    /* A value too large is dropped, data block and all: the guess holds. */
    feed("set big 0 0 2000000\r\n");
    feed("get x\r\n");
    assert_string_equal(replies(), "SERVER_ERROR object too large for cache\r\n");
}

static void test_pipelined_sets_and_gets_see_each_other_in_order(void **state)
{
    (void)state;
    /* Each get was parsed, and its key looked for, before the set ahead of it ran. */
    feed("set a 0 0 1\r\n1\r\nget a\r\nset a 0 0 2\r\n22\r\nget a\r\ndelete a\r\nget a\r\n"
         "set a 0 0 3\r\n333\r\nget a b a\r\n");
    assert_string_equal(replies(), "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\nSTORED\r\n"
                                   "VALUE a 0 2\r\n22\r\nEND\r\nDELETED\r\nEND\r\nSTORED\r\n"
                                   "VALUE a 0 3\r\n333\r\nVALUE a 0 3\r\n333\r\nEND\r\n");
}

static void test_reqs_per_event_limit_yields(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    assert_int_equal(feed("version\r\nversion\r\nversion\r\n"), 18);
    assert_int_equal(last_status, PROTO_YIELD);
    assert_int_equal(counter_get(&counters.conn_yields), 1);
    assert_string_equal(replies(), "VERSION 1.6.18\r\nVERSION 1.6.18\r\n");
    assert_int_equal(feed(""), 9);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

/* memcached 1.6.18 (-R 2) counts a yield once R requests were served in one
 * turn, whatever is left in the buffer: its conn_yields went up by one for
 * "version\r\nversion\r\nvers" and again for "version\r\nversion\r\n". */
static void test_reqs_per_event_counts_a_yield_with_a_partial_line_left(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    assert_int_equal(feed("version\r\nversion\r\nvers"), 18);
    assert_int_equal(counter_get(&counters.conn_yields), 1);
    assert_int_equal(feed("ion\r\n"), 9);
    assert_string_equal(replies(), "VERSION 1.6.18\r\nVERSION 1.6.18\r\nVERSION 1.6.18\r\n");
}

static void test_reqs_per_event_counts_a_yield_after_exactly_that_many_requests(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    assert_int_equal(feed("version\r\nversion\r\n"), 18);
    assert_int_equal(counter_get(&counters.conn_yields), 1);
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
    size_t total = (size_t)h + len + 11, half = total / 2;
    feed_n(buf, half);
    assert_int_equal(sess.state, TEXT_STATE_SWALLOW);
    assert_string_equal(replies(), "SERVER_ERROR object too large for cache\r\n");
    feed_n(buf + half, total - half);
    assert_int_equal(inlen, 0);
    assert_int_equal(sess.state, TEXT_STATE_CMD);
    /* The failed set also removed the old value, as memcached does. */
    assert_string_equal(replies(), "END\r\n");
    free(buf);
}

static void test_too_large_value_with_noreply_is_swallowed_silently(void **state)
{
    (void)state;
    char line[64];
    snprintf(line, sizeof(line), "set big 0 0 %d noreply\r\n", 2 * 1024 * 1024);
    feed(line);
    char chunk[4096];
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 512; i++)
        feed_n(chunk, sizeof(chunk));
    feed("\r\nversion\r\n");
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

static void test_bad_data_chunk_is_refused(void **state)
{
    (void)state;
    feed("set a 0 0 3\r\nabcde\r\nget a\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n");
}

static void test_bad_data_chunk_with_noreply_is_silent(void **state)
{
    (void)state;
    feed("set a 0 0 3 noreply\r\nabcde\r\nversion\r\n");
    assert_string_equal(replies(), "ERROR\r\nVERSION 1.6.18\r\n");
}

static void test_long_line_without_newline_closes(void **state)
{
    (void)state;
    static char line[3000];
    memset(line, 'k', sizeof(line) - 1);
    memcpy(line, "set ", 4);
    feed(line);
    assert_true(sess.close);
}

static void test_long_get_line_without_newline_waits(void **state)
{
    (void)state;
    static char line[3000];
    memset(line, ' ', sizeof(line) - 1);
    memcpy(line, "get ", 4);
    memcpy(line + 100, "gets ", 5);
    feed(line);
    assert_false(sess.close);
    feed(" a b\r\n");
    assert_string_equal(replies(), "END\r\n");
}

static void test_long_line_after_many_leading_spaces_closes(void **state)
{
    (void)state;
    static char line[3000];
    memset(line, 'k', sizeof(line) - 1);
    memset(line, ' ', 101);
    memcpy(line + 101, "get ", 4);
    feed(line);
    assert_true(sess.close);
}

static void test_quit_closes_without_reply(void **state)
{
    (void)state;
    feed("quit\r\nversion\r\n");
    assert_true(sess.close);
    assert_string_equal(replies(), "");
}

static void test_http_request_closes_without_reply(void **state)
{
    (void)state;
    feed("GET / HTTP/1.1\r\n");
    assert_true(sess.close);
    assert_string_equal(replies(), "");
}

static void test_shutdown_needs_enabling(void **state)
{
    (void)state;
    feed("shutdown\r\nshutdown graceful\r\n");
    assert_string_equal(replies(), "ERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\n");
    assert_int_equal(calls.shutdown, 0);
    assert_false(sess.close);
}

static void test_shutdown_with_a_bad_mode_when_disabled_is_not_enabled(void **state)
{
    (void)state;
    feed("shutdown foo\r\n");
    assert_string_equal(replies(), "ERROR: shutdown not enabled\r\n");
}

static void test_shutdown_when_enabled_calls_the_hook_and_closes(void **state)
{
    (void)state;
    settings.shutdown_enabled = true;
    feed("shutdown foo\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR invalid shutdown mode\r\n");
    assert_int_equal(calls.shutdown, 0);
    feed("shutdown graceful\r\n");
    assert_int_equal(calls.shutdown, 1);
    assert_true(calls.graceful);
    assert_true(sess.close);
}

static void test_noreply_suppresses_replies_but_not_gets(void **state)
{
    (void)state;
    feed("set a 0 0 1 noreply\r\n1\r\nincr a 1 noreply\r\nadd a 0 0 1 noreply\r\nx\r\n"
         "delete zz noreply\r\ntouch a 10 noreply\r\nflush_all 100 noreply\r\n"
         "verbosity 1 noreply\r\nget a\r\n");
    assert_string_equal(replies(), "VALUE a 0 1\r\n2\r\nEND\r\n");
    assert_int_equal(calls.level, 1);
}

static void test_get_of_many_keys_reports_hits_only(void **state)
{
    (void)state;
    char line[8192];
    int n = sprintf(line, "get");
    for (int i = 0; i < 100; i++)
        n += sprintf(line + n, " key%d", i);
    strcpy(line + n, "\r\n");
    feed("set key7 0 0 1\r\n7\r\nset key70 3 0 2\r\n70\r\n");
    replies();
    feed(line);
    assert_string_equal(replies(), "VALUE key7 0 1\r\n7\r\nVALUE key70 3 2\r\n70\r\nEND\r\n");
    assert_int_equal(counter_get(&counters.get_misses), 98);
    assert_int_equal(counter_get(&counters.cmd_get), 100);
}

static void test_get_with_a_too_long_key_sends_only_the_error(void **state)
{
    (void)state;
    char line[400];
    feed("set a 0 0 1\r\na\r\n");
    replies();
    int n = sprintf(line, "get a ");
    memset(line + n, 'k', 251);
    strcpy(line + n + 251, "\r\n");
    feed(line);
    assert_string_equal(replies(), "CLIENT_ERROR bad command line format\r\n");
}

static void test_gets_shows_the_unique_cas_accepts(void **state)
{
    (void)state;
    feed("set c 0 0 1\r\n1\r\n");
    replies();
    struct cache_fetch f;
    assert_true(cache_peek("c", 1, env.now, &f));
    char want[64], line[64];
    snprintf(want, sizeof(want), "VALUE c 0 1 %llu\r\n1\r\nEND\r\n", (unsigned long long)f.cas);
    snprintf(line, sizeof(line), "cas c 0 0 1 %llu\r\n2\r\n", (unsigned long long)f.cas);
    feed("gets c\r\n");
    assert_string_equal(replies(), want);
    feed(line);
    feed(line);
    feed("cas nope 0 0 1 1\r\nx\r\n");
    assert_string_equal(replies(), "STORED\r\nEXISTS\r\nNOT_FOUND\r\n");
}

static void test_incr_decr_reply_with_the_new_value(void **state)
{
    (void)state;
    feed("set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\nincr n 1000\r\nincr x 1\r\n"
         "set s 0 0 2\r\nab\r\nincr s 1\r\nincr n abc\r\n");
    assert_string_equal(replies(), "STORED\r\n99\r\nVALUE n 0 3\r\n99 \r\nEND\r\n1099\r\n"
                                   "NOT_FOUND\r\nSTORED\r\n"
                                   "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                                   "CLIENT_ERROR invalid numeric delta argument\r\n");
}

static void test_touch_and_gat_set_the_exptime(void **state)
{
    (void)state;
    feed("set t 0 0 1\r\n1\r\ntouch t 10\r\ntouch none 10\r\ngat 0 t\r\ngat 5 none\r\n");
    assert_string_equal(replies(), "STORED\r\nTOUCHED\r\nNOT_FOUND\r\nVALUE t 0 1\r\n1\r\nEND\r\n"
                                   "END\r\n");
    feed("gat 1 t\r\n");
    replies();
    env.now += 1;
    feed("get t\r\n");
    env.now -= 1;
    assert_string_equal(replies(), "END\r\n");
}

static void test_flush_all_answers_ok_and_empties_the_cache(void **state)
{
    (void)state;
    feed("set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\n");
    assert_string_equal(replies(), "STORED\r\nOK\r\nEND\r\n");
}

static void test_flush_all_disabled_is_refused_before_its_argument(void **state)
{
    (void)state;
    settings.flush_enabled = false;
    feed("flush_all\r\nflush_all abc\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR flush_all not allowed\r\n"
                                   "CLIENT_ERROR flush_all not allowed\r\n");
}

static void test_verbosity_is_passed_to_the_hook_capped_at_2(void **state)
{
    (void)state;
    feed("verbosity 5\r\n");
    assert_string_equal(replies(), "OK\r\n");
    assert_int_equal(calls.verbosity, 1);
    assert_int_equal(calls.level, 2);
}

static void test_cache_memlimit_replies(void **state)
{
    (void)state;
    feed("cache_memlimit 7\r\ncache_memlimit 8\r\ncache_memlimit 1000000001\r\n"
         "cache_memlimit abc\r\n");
    assert_string_equal(replies(), "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n"
                                   "OK\r\n"
                                   "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n"
                                   "ERROR\r\n");
    assert_int_equal(cache_memlimit(), 8 * 1024 * 1024);
}

static void test_stats_asks_the_server_hook(void **state)
{
    (void)state;
    feed("stats\r\n");
    const char *r = replies();
    assert_int_equal(calls.server_stats, 1);
    assert_memory_equal(r, "STAT pid 4242\r\n", 15);
    assert_string_equal(r + strlen(r) - 5, "END\r\n");
}

static void test_stats_reset_calls_the_hook(void **state)
{
    (void)state;
    feed("stats reset\r\n");
    assert_string_equal(replies(), "RESET\r\n");
    assert_int_equal(calls.stats_reset, 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_set_fed_in_pieces_is_stored_once_complete),
        T(test_small_value_is_copied_large_value_referenced),
        T(test_request_line_in_pieces_waits_for_its_newline),
        T(test_bare_newline_ends_a_line_too),
        T(test_pipelined_requests_are_answered_in_order),
        T(test_a_line_parsed_ahead_is_dropped_when_the_feed_goes_elsewhere),
        T(test_pipelined_sets_and_gets_see_each_other_in_order),
        T(test_reqs_per_event_limit_yields),
        T(test_reqs_per_event_counts_a_yield_with_a_partial_line_left),
        T(test_reqs_per_event_counts_a_yield_after_exactly_that_many_requests),
        T(test_too_large_value_is_swallowed_and_connection_usable),
        T(test_too_large_value_with_noreply_is_swallowed_silently),
        T(test_bad_data_chunk_is_refused),
        T(test_bad_data_chunk_with_noreply_is_silent),
        T(test_long_line_without_newline_closes),
        T(test_long_get_line_without_newline_waits),
        T(test_long_line_after_many_leading_spaces_closes),
        T(test_quit_closes_without_reply),
        T(test_http_request_closes_without_reply),
        T(test_shutdown_needs_enabling),
        T(test_shutdown_with_a_bad_mode_when_disabled_is_not_enabled),
        T(test_shutdown_when_enabled_calls_the_hook_and_closes),
        T(test_noreply_suppresses_replies_but_not_gets),
        T(test_get_of_many_keys_reports_hits_only),
        T(test_get_with_a_too_long_key_sends_only_the_error),
        T(test_gets_shows_the_unique_cas_accepts),
        T(test_incr_decr_reply_with_the_new_value),
        T(test_touch_and_gat_set_the_exptime),
        T(test_flush_all_answers_ok_and_empties_the_cache),
        T(test_flush_all_disabled_is_refused_before_its_argument),
        T(test_verbosity_is_passed_to_the_hook_capped_at_2),
        T(test_cache_memlimit_replies),
        T(test_stats_asks_the_server_hook),
        T(test_stats_reset_calls_the_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
