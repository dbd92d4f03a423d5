/* Unit tests of the meta commands: the pure parser (meta_parse), base64,
 * then whole requests through text_feed over a real (small) cache, replies
 * compared byte for byte with what memcached 1.6.18 sends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "meta.h"
#include "text_fixture.h"

/* The first unique in a reply line after " c". */
static uint64_t cas_in(const char *reply)
{
    const char *c = strstr(reply, " c");
    assert_non_null(c);
    return strtoull(c + 2, NULL, 10);
}

static struct text_token toks[TEXT_MAX_TOKENS];

static struct meta_req parse(const char *line)
{
    struct meta_req r;
    meta_parse(line, strlen(line), toks, &r);
    return r;
}

/* The reply line refusing a request, without its \r\n; NULL if none. */
static const char *err_str(enum msg m)
{
    static char buf[128];
    if (m == MSG_NONE)
        return NULL;
    size_t n;
    const char *line = msg_line(m, &n);
    assert_true(n >= 2 && n < sizeof(buf) && memcmp(line + n - 2, "\r\n", 2) == 0);
    memcpy(buf, line, n - 2);
    buf[n - 2] = '\0';
    return buf;
}

/* --- parsing --- */

static void test_parse_reads_flags_and_values(void **state)
{
    (void)state;
    struct meta_req r = parse("ms key 5 T30 F7 C99 I q MA O123");
    assert_null(err_str(r.err));
    assert_int_equal(r.cmd, META_CMD_SET);
    assert_int_equal(r.vlen, 5);
    assert_int_equal(r.ttl, 30);
    assert_int_equal(r.client_flags, 7);
    assert_int_equal(r.cas, 99);
    assert_int_equal(r.mode, 'A');
    assert_true(meta_has(&r, 'I') && meta_has(&r, 'q') && meta_has(&r, 'O'));
    assert_false(meta_has(&r, 'v'));
    assert_memory_equal(r.key, "key", 3);
}

static void test_parse_defaults_delta_to_one(void **state)
{
    (void)state;
    struct meta_req r = parse("ma n");
    assert_null(err_str(r.err));
    assert_int_equal(r.delta, 1);
    assert_int_equal(r.initial, 0);
    r = parse("ma n D5 J9 N0 MD");
    assert_int_equal(r.delta, 5);
    assert_int_equal(r.initial, 9);
    assert_int_equal(r.mode, 'D');
}

static void test_parse_refuses_a_repeated_flag(void **state)
{
    (void)state;
    assert_string_equal(err_str(parse("mg a v v").err), "CLIENT_ERROR duplicate flag");
    assert_string_equal(err_str(parse("mg a \x80").err), "CLIENT_ERROR duplicate flag");
    /* md and ma answer every flag error alike. */
    assert_string_equal(err_str(parse("md a q q").err), "CLIENT_ERROR invalid or duplicate flag");
    assert_string_equal(err_str(parse("ma a Dx").err), "CLIENT_ERROR invalid or duplicate flag");
}

static void test_parse_refuses_unknown_flags_and_bad_values(void **state)
{
    (void)state;
    assert_string_equal(err_str(parse("mg a E1").err), "CLIENT_ERROR invalid flag");
    assert_string_equal(err_str(parse("mg a T").err), "CLIENT_ERROR bad token in command line format");
    assert_string_equal(err_str(parse("mg a Tx").err), "CLIENT_ERROR bad token in command line format");
    assert_string_equal(err_str(parse("mg a Jx").err), "CLIENT_ERROR invalid numeric initial value");
    assert_string_equal(err_str(parse("mg a Dx").err), "CLIENT_ERROR invalid numeric delta value");
    assert_string_equal(err_str(parse("mg a MEE").err), "CLIENT_ERROR incorrect length for M token");
    /* A repeated flag stops the pass; a later bad value's string wins. */
    assert_string_equal(err_str(parse("mg a Tx v v").err), "CLIENT_ERROR duplicate flag");
    assert_string_equal(err_str(parse("mg a Tx Jx").err), "CLIENT_ERROR invalid numeric initial value");
}

static void test_parse_token_count_and_key_length(void **state)
{
    (void)state;
    char line[400];
    assert_string_equal(err_str(parse("mg").err), "ERROR");
    assert_string_equal(err_str(parse("mx a").err), "ERROR");
    assert_string_equal(err_str(parse("ms a").err), "CLIENT_ERROR bad command line format");
    assert_string_equal(err_str(parse("me").err), "CLIENT_ERROR bad command line format");
    snprintf(line, sizeof(line), "mg %0251d v", 0);
    assert_string_equal(err_str(parse(line).err), "CLIENT_ERROR bad command line format");
    snprintf(line, sizeof(line), "mg %0250d v", 0);
    assert_null(err_str(parse(line).err));
    assert_string_equal(err_str(parse("mg a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18").err),
                        "CLIENT_ERROR options flags are too long");
    assert_string_equal(err_str(parse("md a 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18").err),
                        "CLIENT_ERROR options flags too long");
}

static void test_parse_ms_errors_after_the_length_swallow_the_data(void **state)
{
    (void)state;
    struct meta_req r = parse("ms a x");
    assert_string_equal(err_str(r.err), "CLIENT_ERROR bad command line format");
    assert_false(r.swallow);
    r = parse("ms a 3 Z");
    assert_string_equal(err_str(r.err), "CLIENT_ERROR invalid flag");
    assert_true(r.swallow);
    r = parse("ms a 3 MZ O123456789012345678901234567890123");
    assert_string_equal(err_str(r.err), "CLIENT_ERROR invalid mode for ms M token");
    r = parse("ms a 3 O123456789012345678901234567890123");
    assert_string_equal(err_str(r.err), "CLIENT_ERROR opaque token too long");
    assert_true(r.swallow);
    assert_string_equal(err_str(parse("ms a 1 Fx").err), "CLIENT_ERROR bad command line format");
}

static void test_parse_decodes_a_base64_key(void **state)
{
    (void)state;
    struct meta_req r = parse("mg Zm9vYmFy b v");
    assert_null(err_str(r.err));
    assert_true(r.key_binary);
    assert_int_equal(r.nkey, 6);
    assert_memory_equal(r.key, "foobar", 6);
    assert_string_equal(err_str(parse("mg Zm9v= b").err), "CLIENT_ERROR error decoding key");
    assert_string_equal(err_str(parse("mg @@@@ b").err), "CLIENT_ERROR error decoding key");
    assert_string_equal(err_str(parse("me a b").err), "CLIENT_ERROR bad command line format");
}

static void test_base64_matches_memcached(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(meta_base64_decode("AA==", 4, out, sizeof(out)), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(meta_base64_decode("Zm9v!!", 6, out, sizeof(out)), 3);  /* foreign bytes skipped */
    assert_memory_equal(out, "foo", 3);
    assert_int_equal(meta_base64_decode("A===", 4, out, sizeof(out)), 0);
    assert_int_equal(meta_base64_decode("====", 4, out, sizeof(out)), 0);
    assert_int_equal(meta_base64_decode("Zm9vYmFy", 8, out, 5), 0);        /* no room */
    assert_int_equal(meta_base64_encode("foob", 4, out), 8);
    assert_memory_equal(out, "Zm9vYg==", 8);
    assert_int_equal(meta_base64_encode("fo", 2, out), 4);
    assert_memory_equal(out, "Zm8=", 4);
}

/* --- requests through text_feed --- */

static void test_mn_and_unknown_meta(void **state)
{
    (void)state;
    feed("mn\r\nmx a\r\nmg\r\n");
    assert_string_equal(replies(), "MN\r\nERROR\r\nERROR\r\n");
}

static void test_ms_then_mg_with_return_flags(void **state)
{
    (void)state;
    feed("ms a 3 F42 T100\r\nabc\r\n");
    assert_string_equal(replies(), "HD\r\n");
    feed("mg a s v f t k O9 h\r\n");
    assert_string_equal(replies(), "VA 3 s3 f42 t100 ka O9 h0\r\nabc\r\n");
    feed("mg a h l\r\nmg b v\r\nmg b k Ox\r\n");
    assert_string_equal(replies(), "HD h1 l0\r\nEN\r\nEN kb Ox\r\n");
}

static void test_ms_data_fed_in_pieces(void **state)
{
    (void)state;
    feed("ms a 5 c");
    feed(" k\r\nhel");
    assert_int_equal(sess.state, TEXT_STATE_DATA);
    feed("lo\r");
    assert_string_equal(replies(), "");
    feed("\nmg a v\r\n");
    const char *r = replies();
    assert_memory_equal(r, "HD c", 4);
    assert_non_null(strstr(r, " ka\r\nVA 5\r\nhello\r\n"));
}

static void test_ms_modes(void **state)
{
    (void)state;
    feed("ms a 1 MA\r\nx\r\nms a 1 MR\r\nx\r\nms a 1 ME\r\nx\r\nms a 1 ME\r\ny\r\n");
    assert_string_equal(replies(), "NS\r\nNS\r\nHD\r\nNS\r\n");
    feed("ms a 1 MA\r\nz\r\nms a 1 MP\r\nw\r\nmg a v\r\n");
    assert_string_equal(replies(), "HD\r\nHD\r\nVA 3\r\nwxz\r\n");
    feed("ms a 1 MR F5\r\nr\r\nms a 1 MS\r\ns\r\nmg a v f\r\nms a 1 MZ\r\nx\r\n");
    assert_string_equal(replies(), "HD\r\nHD\r\nVA 1 f0\r\ns\r\n"
                                   "CLIENT_ERROR invalid mode for ms M token\r\n");
}

static void test_ms_bad_data_chunk_is_never_quiet(void **state)
{
    (void)state;
    feed("ms a 2 q\r\nabcd\r\nmn\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n");
}

static void test_ms_refused_flag_swallows_the_data(void **state)
{
    (void)state;
    feed("ms a 3 Z\r\nabc\r\nmg a\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR invalid flag\r\nEN\r\n");
}

static void test_ms_compare_and_swap(void **state)
{
    (void)state;
    char line[80];
    feed("ms a 1 c\r\nx\r\n");
    uint64_t cas = cas_in(replies());
    snprintf(line, sizeof(line), "ms a 1 C%llu\r\ny\r\n", (unsigned long long)cas + 1);
    feed(line);
    assert_string_equal(replies(), "EX\r\n");
    snprintf(line, sizeof(line), "ms a 1 C%llu c\r\nz\r\n", (unsigned long long)cas);
    feed(line);
    assert_true(cas_in(replies()) != cas);
    feed("ms b 1 C5 c k\r\nw\r\nmg a v\r\n");
    assert_string_equal(replies(), "NF c0 kb\r\nVA 1\r\nz\r\n");
}

static void test_quiet_mode_shows_only_failures_until_mn(void **state)
{
    (void)state;
    feed("ms a 1 q\r\n1\r\nmg a v q\r\nmg b v q\r\nmd a q\r\nmd a q\r\nma c q\r\nmn\r\n");
    assert_string_equal(replies(), "VA 1\r\n1\r\nNF\r\nNF\r\nMN\r\n");
}

static void test_vivify_wins_once_then_z(void **state)
{
    (void)state;
    feed("mg a N30 s t v\r\nmg a N30 t\r\n");
    assert_string_equal(replies(), "VA 0 s0 t30 W\r\n\r\nHD t30 Z\r\n");
}

static void test_invalidate_makes_stale_and_one_winner(void **state)
{
    (void)state;
    feed("ms a 3 T100\r\nabc\r\nmd a I T30\r\nmg a v t\r\nmg a v t\r\n");
    assert_string_equal(replies(), "HD\r\nHD\r\nVA 3 t30 X W\r\nabc\r\nVA 3 t30 Z X\r\nabc\r\n");
    /* An older unique with I still stores, stale, keeping the win. */
    feed("ms a 2 C1 I\r\nzz\r\nmg a v\r\n");
    assert_string_equal(replies(), "HD\r\nVA 2 Z X\r\nzz\r\n");
    feed("ms a 2\r\nok\r\nmg a v\r\n");
    assert_string_equal(replies(), "HD\r\nVA 2\r\nok\r\n");
}

static void test_recache_wins_when_ttl_is_below(void **state)
{
    (void)state;
    feed("ms a 1 T10\r\nx\r\nmg a R30\r\nmg a R30\r\nms b 1 T100\r\nx\r\nmg b R30\r\n");
    assert_string_equal(replies(), "HD\r\nHD W\r\nHD Z\r\nHD\r\nHD\r\n");
}

static void test_touch_position_decides_the_reported_ttl(void **state)
{
    (void)state;
    feed("ms a 1 T100\r\nx\r\nmg a t T500\r\nmg a T30 t\r\n");
    assert_string_equal(replies(), "HD\r\nHD t100\r\nHD t30\r\n");
    assert_int_equal(counter_get(&counters.cmd_touch), 2);
}

static void test_md_delete_cas_and_echo(void **state)
{
    (void)state;
    feed("ms a 1\r\nx\r\nmd a C1 O7 k\r\nmd a k\r\nmd a O8\r\n");
    assert_string_equal(replies(), "HD\r\nEX O7 ka\r\nHD ka\r\nNF O8\r\n");
    assert_int_equal(counter_get(&counters.delete_misses), 2);
}

static void test_ma_modes_vivify_and_quiet(void **state)
{
    (void)state;
    feed("ma n\r\nma n N0 J10 v\r\nma n D5 v\r\nma n MD D100 v\r\nma n M+ v\r\nma n M- v\r\n");
    assert_string_equal(replies(), "NF\r\nVA 2\r\n10\r\nVA 2\r\n15\r\nVA 1\r\n0\r\n"
                                   "VA 1\r\n1\r\nVA 1\r\n0\r\n");
    feed("ma n q\r\nma m N0 q\r\nma n MX\r\n");
    assert_string_equal(replies(), "HD\r\nCLIENT_ERROR invalid mode for ma M token\r\n");
    feed("ms s 1\r\nx\r\nma s\r\n");
    assert_string_equal(replies(), "HD\r\nCLIENT_ERROR cannot increment or decrement "
                                   "non-numeric value\r\n");
}

static void test_base64_key_is_returned_encoded(void **state)
{
    (void)state;
    feed("ms Zm9vYmFy 3 b k\r\nbar\r\nmg foobar k v\r\nmd Zm9v b k\r\n");
    assert_string_equal(replies(), "HD kZm9vYmFy b\r\nVA 3 kZm9vYmFy b\r\nbar\r\nNF kZm9v b\r\n");
}

static void test_me_prints_memcached_debug_line(void **state)
{
    (void)state;
    feed("ms n 1\r\n7\r\nme n\r\nme x\r\n");
    const char *r = replies();
    assert_memory_equal(r, "HD\r\nME n exp=-1 la=0 cas=", 24);
    assert_non_null(strstr(r, " fetch=no cls=1 size=61\r\nEN\r\n"));
    assert_int_equal(counter_get(&counters.cmd_meta), 2);
}

static void test_mg_counts_as_get(void **state)
{
    (void)state;
    feed("ms a 1\r\nx\r\nmg a\r\nmg b\r\n");
    replies();
    assert_int_equal(counter_get(&counters.cmd_get), 2);
    assert_int_equal(counter_get(&counters.get_misses), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_parse_reads_flags_and_values),
        T(test_parse_defaults_delta_to_one),
        T(test_parse_refuses_a_repeated_flag),
        T(test_parse_refuses_unknown_flags_and_bad_values),
        T(test_parse_token_count_and_key_length),
        T(test_parse_ms_errors_after_the_length_swallow_the_data),
        T(test_parse_decodes_a_base64_key),
        T(test_base64_matches_memcached),
        T(test_mn_and_unknown_meta),
        T(test_ms_then_mg_with_return_flags),
        T(test_ms_data_fed_in_pieces),
        T(test_ms_modes),
        T(test_ms_bad_data_chunk_is_never_quiet),
        T(test_ms_refused_flag_swallows_the_data),
        T(test_ms_compare_and_swap),
        T(test_quiet_mode_shows_only_failures_until_mn),
        T(test_vivify_wins_once_then_z),
        T(test_invalidate_makes_stale_and_one_winner),
        T(test_recache_wins_when_ttl_is_below),
        T(test_touch_position_decides_the_reported_ttl),
        T(test_md_delete_cas_and_echo),
        T(test_ma_modes_vivify_and_quiet),
        T(test_base64_key_is_returned_encoded),
        T(test_me_prints_memcached_debug_line),
        T(test_mg_counts_as_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
