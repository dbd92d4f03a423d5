/* Unit tests of the ASCII request parser: every command, every malformed form,
 * and the number parsers, each checked against memcached 1.6.18's replies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "num.h"
#include "text.h"

static struct text_req parse(const char *line)
{
    struct text_req r;
    text_parse(line, strlen(line), &r);
    return r;
}

static enum msg err_of(const char *line) { return parse(line).err; }

/* The reply line of a message, checked to be as long as it says. */
static const char *msg_str(enum msg m)
{
    size_t n;
    const char *line = msg_line(m, &n);
    assert_int_equal(n, strlen(line));
    return line;
}

/* "<cmd> <key of n bytes><tail>" */
static struct text_req parse_key(const char *cmd, size_t n, const char *tail)
{
    static char line[400];
    size_t c = strlen(cmd);
    memcpy(line, cmd, c);
    line[c] = ' ';
    memset(line + c + 1, 'k', n);
    strcpy(line + c + 1 + n, tail);
    return parse(line);
}

static void test_set_parses_every_field(void **state)
{
    (void)state;
    struct text_req r = parse("set foo 42 100 7");
    assert_int_equal(r.cmd, TEXT_CMD_SET);
    assert_int_equal(r.err, MSG_NONE);
    assert_int_equal(r.nkey, 3);
    assert_memory_equal(r.key, "foo", 3);
    assert_int_equal(r.flags, 42);
    assert_int_equal(r.exptime, 100);
    assert_int_equal(r.vlen, 7);
    assert_false(r.noreply);
}

static void test_add_replace_append_prepend_parse_like_set(void **state)
{
    (void)state;
    assert_int_equal(parse("add k 1 2 3").cmd, TEXT_CMD_ADD);
    assert_int_equal(parse("replace k 1 2 3").cmd, TEXT_CMD_REPLACE);
    assert_int_equal(parse("append k 1 2 3").cmd, TEXT_CMD_APPEND);
    struct text_req r = parse("prepend k 1 2 3 noreply");
    assert_int_equal(r.cmd, TEXT_CMD_PREPEND);
    assert_int_equal(r.vlen, 3);
    assert_true(r.noreply);
}

static void test_cas_parses_its_unique(void **state)
{
    (void)state;
    struct text_req r = parse("cas foo 0 0 1 18446744073709551615");
    assert_int_equal(r.cmd, TEXT_CMD_CAS);
    assert_true(r.cas == UINT64_MAX);
    assert_true(parse("cas foo 0 0 1 12 noreply").noreply);
}

static void test_cas_without_its_unique_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(err_of("cas foo 0 0 1"), MSG_ERROR);
}

static void test_cas_with_a_bad_unique_is_bad_format(void **state)
{
    (void)state;
    assert_int_equal(err_of("cas foo 0 0 1 abc"), MSG_E_FORMAT);
    assert_int_equal(err_of("cas foo 0 0 1 -1"), MSG_E_FORMAT);
}

static void test_storage_commands_with_wrong_token_counts_are_errors(void **state)
{
    (void)state;
    assert_int_equal(err_of("set foo 0 0"), MSG_ERROR);
    assert_int_equal(err_of("set"), MSG_ERROR);
    assert_int_equal(err_of("add foo 0 0 1 2 3"), MSG_ERROR);
    assert_int_equal(err_of("replace"), MSG_ERROR);
    assert_int_equal(err_of("cas foo 0 0 1 2 3 4"), MSG_ERROR);
}

static void test_noreply_is_the_last_token(void **state)
{
    (void)state;
    assert_true(parse("set foo 0 0 1 noreply").noreply);
    assert_true(parse("delete foo noreply").noreply);
    assert_true(parse("incr foo 1 noreply").noreply);
    assert_true(parse("touch foo 1 noreply").noreply);
    assert_false(parse("set foo 0 0 1").noreply);
}

static void test_noreply_must_match_exactly(void **state)
{
    (void)state;
    assert_false(parse("set foo 0 0 1 noreplyx").noreply);
    assert_false(parse("set foo 0 0 1 NOREPLY").noreply);
    assert_false(parse("set foo 0 0 1 norepl").noreply);
}

static void test_any_sixth_token_of_set_is_accepted_as_not_noreply(void **state)
{
    (void)state;
    struct text_req r = parse("set k 0 0 1 junk");
    assert_int_equal(r.err, MSG_NONE);
    assert_false(r.noreply);
    assert_int_equal(err_of("set k 0 0 1 noreply junk"), MSG_ERROR);
}

static void test_bad_flags_exptime_or_length_are_bad_command_line_format(void **state)
{
    (void)state;
    assert_int_equal(err_of("set foo abc 0 1"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo -1 0 1"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 abc 1"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 1x 1"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 0 abc"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 0 1x"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 0 1.5"), MSG_E_FORMAT);
}

static void test_negative_length_is_bad_command_line_format(void **state)
{
    (void)state;
    assert_int_equal(err_of("set foo 0 0 -1"), MSG_E_FORMAT);
    assert_int_equal(err_of("set foo 0 0 2147483648"), MSG_E_FORMAT);   /* wraps negative */
    assert_int_equal(err_of("set foo 0 0 2147483646"), MSG_E_FORMAT);   /* > INT_MAX - 2 */
    assert_int_equal(parse("set foo 0 0 2147483645").vlen, 2147483645);
}

static void test_numbers_wrap_to_32_bits_as_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("set foo 4294967295 0 1").flags, 4294967295u);
    struct text_req r = parse("set foo 4294967296 0 1");
    assert_int_equal(r.err, MSG_NONE);
    assert_int_equal(r.flags, 0);
    assert_int_equal(parse("set foo 0 0 4294967297").vlen, 1);
    assert_int_equal(parse("set foo 0 4294967297 1").exptime, 1);
    assert_int_equal(parse("set foo 0 -2147483649 1").exptime, 2147483647);
    assert_int_equal(parse("set foo 0 0 -9223372036854775808").vlen, 0);
}

static void test_negative_exptime_is_kept_for_the_cache(void **state)
{
    (void)state;
    struct text_req r = parse("set foo 0 -1 1");
    assert_int_equal(r.err, MSG_NONE);
    assert_int_equal(r.exptime, -1);
}

static void test_key_of_250_bytes_is_fine_251_is_not(void **state)
{
    (void)state;
    assert_int_equal(parse_key("set", 250, " 0 0 1").err, MSG_NONE);
    assert_int_equal(parse_key("set", 251, " 0 0 1").err, MSG_E_FORMAT);
    assert_int_equal(parse_key("delete", 250, "").err, MSG_NONE);
    assert_int_equal(parse_key("delete", 251, "").err, MSG_E_FORMAT);
    assert_int_equal(parse_key("incr", 251, " 1").err, MSG_E_FORMAT);
    assert_int_equal(parse_key("touch", 251, " 1").err, MSG_E_FORMAT);
}

static void test_too_long_key_with_noreply_stays_silent(void **state)
{
    (void)state;
    struct text_req r = parse_key("set", 251, " 0 0 1 noreply");
    assert_int_equal(r.err, MSG_E_FORMAT);
    assert_true(r.noreply);
}

static void test_delete_takes_a_key(void **state)
{
    (void)state;
    struct text_req r = parse("delete foo");
    assert_int_equal(r.cmd, TEXT_CMD_DELETE);
    assert_int_equal(r.err, MSG_NONE);
    assert_memory_equal(r.key, "foo", 3);
    assert_int_equal(err_of("delete"), MSG_ERROR);
    assert_int_equal(err_of("delete a b c d"), MSG_ERROR);
}

static void test_delete_k_0_is_accepted_as_legacy(void **state)
{
    (void)state;
    struct text_req r = parse("delete k 0");
    assert_int_equal(r.err, MSG_NONE);
    assert_false(r.noreply);
    r = parse("delete k 0 noreply");
    assert_int_equal(r.err, MSG_NONE);
    assert_true(r.noreply);
}

static void test_delete_k_1_is_refused_with_usage(void **state)
{
    (void)state;
    assert_int_equal(err_of("delete k 1"), MSG_E_DELETE_USAGE);
    assert_int_equal(err_of("delete k noreply 0"), MSG_E_DELETE_USAGE);
    assert_int_equal(err_of("delete k 0 1"), MSG_E_DELETE_USAGE);
    assert_string_equal(msg_str(MSG_E_DELETE_USAGE),
                        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
}

static void test_delete_k_1_noreply_is_refused_silently(void **state)
{
    (void)state;
    struct text_req r = parse("delete k 1 noreply");
    assert_int_equal(r.err, MSG_E_DELETE_USAGE);
    assert_true(r.noreply);
}

static void test_incr_and_decr_take_a_delta(void **state)
{
    (void)state;
    struct text_req r = parse("incr n 5");
    assert_int_equal(r.cmd, TEXT_CMD_INCR);
    assert_int_equal(r.num, 5);
    r = parse("decr n 18446744073709551615");
    assert_int_equal(r.cmd, TEXT_CMD_DECR);
    assert_true(r.num == UINT64_MAX);
    r = parse("incr n 1 2");
    assert_int_equal(r.err, MSG_NONE);
    assert_false(r.noreply);
    assert_int_equal(err_of("incr n"), MSG_ERROR);
    assert_int_equal(err_of("incr"), MSG_ERROR);
}

static void test_incr_with_a_bad_delta_is_refused(void **state)
{
    (void)state;
    assert_int_equal(err_of("decr n abc"), MSG_E_DELTA);
    assert_int_equal(err_of("incr n -1"), MSG_E_DELTA);
    assert_int_equal(err_of("incr n 1x"), MSG_E_DELTA);
    assert_int_equal(err_of("incr n 18446744073709551616"), MSG_E_DELTA);
    assert_string_equal(msg_str(MSG_E_DELTA), "CLIENT_ERROR invalid numeric delta argument\r\n");
}

static void test_get_keeps_the_rest_of_the_line_as_keys(void **state)
{
    (void)state;
    struct text_req r = parse("get a bb ccc");
    assert_int_equal(r.cmd, TEXT_CMD_GET);
    assert_int_equal(r.nrest, 8);
    assert_memory_equal(r.rest, "a bb ccc", 8);
    assert_int_equal(parse("gets x").cmd, TEXT_CMD_GETS);
    assert_int_equal(parse("  get a").cmd, TEXT_CMD_GET);
}

static void test_get_without_a_key_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(err_of("get"), MSG_ERROR);
    assert_int_equal(err_of("  get   "), MSG_ERROR);
    assert_int_equal(err_of("gx a"), MSG_ERROR);
}

static void test_get_of_more_keys_than_tokens_keeps_them_all(void **state)
{
    (void)state;
    const char *keys = "k1 k2 k3 k4 k5 k6 k7 k8 k9 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19 k20 "
                       "k21 k22 k23 k24 k25 k26 k27 k28 k29 k30";
    char line[256] = "get ";
    strcat(line, keys);
    struct text_req r = parse(line);
    assert_int_equal(r.cmd, TEXT_CMD_GET);
    assert_int_equal(r.nrest, strlen(keys));
    assert_memory_equal(r.rest, keys, strlen(keys));
}

static void test_gat_takes_an_exptime_first(void **state)
{
    (void)state;
    struct text_req r = parse("gat 100 a b");
    assert_int_equal(r.cmd, TEXT_CMD_GAT);
    assert_int_equal(r.exptime, 100);
    assert_int_equal(r.nrest, 3);
    assert_memory_equal(r.rest, "a b", 3);
    assert_int_equal(parse("gats -1 a").exptime, -1);
}

static void test_gat_with_a_bad_exptime_is_invalid_exptime(void **state)
{
    (void)state;
    assert_int_equal(err_of("gat abc a"), MSG_E_EXPTIME);
    assert_int_equal(err_of("gats 1x a"), MSG_E_EXPTIME);
    assert_string_equal(msg_str(MSG_E_EXPTIME), "CLIENT_ERROR invalid exptime argument\r\n");
}

static void test_gat_without_keys_has_no_keys(void **state)
{
    (void)state;
    struct text_req r = parse("gat 10");
    assert_int_equal(r.cmd, TEXT_CMD_GAT);
    assert_int_equal(r.err, MSG_NONE);
    assert_int_equal(r.nrest, 0);
}

static void test_touch_takes_a_key_and_exptime(void **state)
{
    (void)state;
    struct text_req r = parse("touch a 10");
    assert_int_equal(r.cmd, TEXT_CMD_TOUCH);
    assert_int_equal(r.exptime, 10);
    assert_int_equal(err_of("touch a abc"), MSG_E_EXPTIME);
    assert_int_equal(err_of("touch a"), MSG_ERROR);
}

static void test_flush_all_takes_an_optional_delay(void **state)
{
    (void)state;
    assert_int_equal(parse("flush_all").cmd, TEXT_CMD_FLUSH_ALL);
    assert_int_equal(parse("flush_all").exptime, 0);
    assert_int_equal(parse("flush_all 10").exptime, 10);
    assert_int_equal(parse("flush_all -1").exptime, -1);
    assert_true(parse("flush_all noreply").noreply);
    struct text_req r = parse("flush_all 10 noreply");
    assert_int_equal(r.exptime, 10);
    assert_true(r.noreply);
}

static void test_flush_all_with_bad_arguments_is_refused(void **state)
{
    (void)state;
    /* A bad delay is marked for text_exec, which refuses it after the -F check. */
    struct text_req r = parse("flush_all abc");
    assert_int_equal(r.err, MSG_NONE);
    assert_int_equal(r.num, 1);
    assert_int_equal(parse("flush_all 10").num, 0);
    assert_int_equal(err_of("flush_all 1 2 3"), MSG_ERROR);
}

static void test_verbosity_takes_a_level(void **state)
{
    (void)state;
    struct text_req r = parse("verbosity 2");
    assert_int_equal(r.cmd, TEXT_CMD_VERBOSITY);
    assert_int_equal(r.num, 2);
    assert_true(parse("verbosity 1 noreply").noreply);
    assert_int_equal(err_of("verbosity"), MSG_ERROR);
    assert_int_equal(err_of("verbosity 1 2 3"), MSG_ERROR);
    assert_int_equal(err_of("verbosity abc"), MSG_E_FORMAT);
}

static void test_cache_memlimit_takes_megabytes(void **state)
{
    (void)state;
    struct text_req r = parse("cache_memlimit 100");
    assert_int_equal(r.cmd, TEXT_CMD_CACHE_MEMLIMIT);
    assert_int_equal(r.num, 100);
    assert_true(parse("cache_memlimit 100 noreply").noreply);
    assert_int_equal(err_of("cache_memlimit"), MSG_ERROR);
    assert_int_equal(err_of("cache_memlimit abc"), MSG_ERROR);
}

static void test_simple_commands_are_recognised(void **state)
{
    (void)state;
    assert_int_equal(parse("version").cmd, TEXT_CMD_VERSION);
    assert_int_equal(parse("quit").cmd, TEXT_CMD_QUIT);
    assert_int_equal(parse("mn").cmd, TEXT_CMD_META);
    assert_int_equal(parse("stats").cmd, TEXT_CMD_STATS);
    assert_int_equal(parse("stats slabs").cmd, TEXT_CMD_STATS);
    assert_int_equal(parse("shutdown").cmd, TEXT_CMD_SHUTDOWN);
    assert_int_equal(parse("shutdown graceful").cmd, TEXT_CMD_SHUTDOWN);
}

static void test_unknown_and_empty_lines_are_errors(void **state)
{
    (void)state;
    assert_int_equal(err_of(""), MSG_ERROR);
    assert_int_equal(err_of("   "), MSG_ERROR);
    assert_int_equal(err_of("\r"), MSG_ERROR);
    assert_int_equal(err_of("foo bar"), MSG_ERROR);
    assert_int_equal(err_of("x"), MSG_ERROR);
    assert_int_equal(err_of("GET a"), MSG_ERROR);
    assert_int_equal(err_of("mnfoo"), MSG_ERROR);
    assert_int_equal(err_of("get\ta"), MSG_ERROR);
    assert_string_equal(msg_str(MSG_ERROR), "ERROR\r\n");
}

static void test_http_request_line_closes(void **state)
{
    (void)state;
    assert_int_equal(parse("GET / HTTP/1.1").cmd, TEXT_CMD_CLOSE);
    assert_int_equal(parse("POST /x HTTP/1.0").cmd, TEXT_CMD_CLOSE);
    assert_int_equal(parse("HTTP/1.1").cmd, TEXT_CMD_CLOSE);
    assert_int_equal(parse("GET / HTTP").cmd, TEXT_CMD_ERROR);
}

static void test_embedded_nul_ends_the_command(void **state)
{
    (void)state;
    struct text_req r;
    text_parse("get a\0b", 7, &r);
    assert_int_equal(r.cmd, TEXT_CMD_GET);
    assert_int_equal(r.nrest, 1);
    text_parse("set k 0 0 1\0 noreply", 21, &r);
    assert_int_equal(r.cmd, TEXT_CMD_SET);
    assert_false(r.noreply);
}

static void test_more_than_24_tokens_leaves_the_rest_in_the_last(void **state)
{
    (void)state;
    struct text_token tok[TEXT_MAX_TOKENS];
    const char *line = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
    int n = text_tokenize(line, strlen(line), tok, TEXT_MAX_TOKENS);
    assert_int_equal(n, 24);
    assert_memory_equal(tok[22].p, "w", 1);
    assert_non_null(tok[23].p);
    assert_memory_equal(tok[23].p, "x y z", 5);
    assert_int_equal(err_of("set a b c d e f g h i j k l m n o p q r s t u v w x y z"), MSG_ERROR);
}

static void test_runs_of_spaces_separate_like_one(void **state)
{
    (void)state;
    struct text_token tok[TEXT_MAX_TOKENS];
    int n = text_tokenize("set  a   b", 10, tok, TEXT_MAX_TOKENS);
    assert_int_equal(n, 4);
    assert_int_equal(tok[1].len, 1);
    assert_memory_equal(tok[2].p, "b", 1);
    assert_null(tok[3].p);
}

static void test_u64_parser_mirrors_strtoull(void **state)
{
    (void)state;
    uint64_t u = 99;
    assert_true(num_parse_u64("18446744073709551615", 20, &u));
    assert_true(u == UINT64_MAX);
    assert_true(num_parse_u64("+5", 2, &u) && u == 5);
    assert_true(num_parse_u64("\t 7", 3, &u) && u == 7);
    assert_true(num_parse_u64("12\t", 3, &u) && u == 12);
    assert_true(num_parse_u64("9223372036854775808", 19, &u) && u == 9223372036854775808ULL);
    assert_false(num_parse_u64("18446744073709551616", 20, &u));
    assert_false(num_parse_u64("", 0, &u));
    assert_false(num_parse_u64(" ", 1, &u));
    assert_false(num_parse_u64("+", 1, &u));
    assert_false(num_parse_u64("12a", 3, &u));
}

static void test_u64_parser_refuses_minus_only_when_the_result_looks_negative(void **state)
{
    (void)state;
    uint64_t u = 99;
    assert_false(num_parse_u64("-1", 2, &u));
    assert_false(num_parse_u64("-9223372036854775808", 20, &u));
    assert_true(num_parse_u64("-0", 2, &u) && u == 0);
    /* strtoull negates: -(2^64 - 1) is 1, which looks positive. */
    assert_true(num_parse_u64("-18446744073709551615", 21, &u) && u == 1);
}

static void test_number_followed_by_space_and_junk_is_accepted(void **state)
{
    (void)state;
    uint64_t u = 0;
    int32_t i = 0;
    /* safe_strto* only look at the character after the digits. */
    assert_true(num_parse_u64("12\tx", 4, &u) && u == 12);
    assert_true(num_parse_i32("-3\vz", 4, &i) && i == -3);
}

static void test_u32_parser_truncates_like_safe_strtoul(void **state)
{
    (void)state;
    uint32_t v = 99;
    assert_true(num_parse_u32("4294967295", 10, &v) && v == UINT32_MAX);
    assert_true(num_parse_u32("4294967296", 10, &v) && v == 0);
    assert_true(num_parse_u32("4294967301", 10, &v) && v == 5);
    assert_true(num_parse_u32("-0", 2, &v) && v == 0);
    assert_false(num_parse_u32("-1", 2, &v));
    assert_false(num_parse_u32("abc", 3, &v));
}

static void test_i32_parser_truncates_a_long_like_safe_strtol(void **state)
{
    (void)state;
    int32_t v = 99;
    assert_true(num_parse_i32("-5", 2, &v) && v == -5);
    assert_true(num_parse_i32("2147483647", 10, &v) && v == INT32_MAX);
    assert_true(num_parse_i32("2147483648", 10, &v) && v == INT32_MIN);
    assert_true(num_parse_i32("4294967297", 10, &v) && v == 1);
    assert_true(num_parse_i32("-2147483649", 11, &v) && v == INT32_MAX);
    assert_true(num_parse_i32("9223372036854775807", 19, &v) && v == -1);
    assert_true(num_parse_i32("-9223372036854775808", 20, &v) && v == 0);
}

static void test_i32_parser_refuses_what_strtol_refuses(void **state)
{
    (void)state;
    int32_t v = 99;
    assert_false(num_parse_i32("9223372036854775808", 19, &v));
    assert_false(num_parse_i32("-9223372036854775809", 20, &v));
    assert_false(num_parse_i32("abc", 3, &v));
    assert_false(num_parse_i32("1.5", 3, &v));
    assert_false(num_parse_i32("-", 1, &v));
    assert_false(num_parse_i32("", 0, &v));
}

/* Every reply line of the table is a line: text ending in one \r\n. */
static void test_every_message_is_one_line(void **state)
{
    (void)state;
    for (int m = MSG_NONE + 1; m < MSG_COUNT; m++) {
        size_t n;
        const char *line = msg_line((enum msg)m, &n);
        assert_non_null(line);
        assert_true(n > 2);
        assert_int_equal(strlen(line), n);
        assert_ptr_equal(strchr(line, '\r'), line + n - 2);
        assert_ptr_equal(strchr(line, '\n'), line + n - 1);
    }
}

/* text_parse and text_parse_tokens agree on a line: the fields a command uses. */
static void assert_same_parse(const char *line)
{
    struct text_req a, b;
    size_t len = strlen(line);
    text_parse(line, len, &a);
    text_parse_tokens(line, len, &b);
    if (a.cmd != b.cmd || a.err != b.err)
        fail_msg("'%s': cmd %d/%d, err %d/%d", line, a.cmd, b.cmd, a.err, b.err);
    /* A refused line is counted as the tokenizer counts it (libFuzzer found
     * "gets  " parsed with no token at all). */
    if (a.err != MSG_NONE && a.ntokens != b.ntokens)
        fail_msg("'%s': refused with %d tokens, the tokenizer counts %d", line, a.ntokens,
                 b.ntokens);
    if (a.err != MSG_NONE)
        return;
    switch (a.cmd) {
    case TEXT_CMD_GET:
    case TEXT_CMD_GETS:
        if (a.nrest != b.nrest || a.rest != b.rest)
            fail_msg("'%s': keys differ", line);
        break;
    case TEXT_CMD_SET:
    case TEXT_CMD_ADD:
    case TEXT_CMD_REPLACE:
    case TEXT_CMD_APPEND:
    case TEXT_CMD_PREPEND:
    case TEXT_CMD_CAS:
        if (a.noreply != b.noreply || a.key != b.key || a.nkey != b.nkey ||
            a.flags != b.flags || a.exptime != b.exptime || a.vlen != b.vlen || a.cas != b.cas)
            fail_msg("'%s': noreply %d/%d key %zu/%zu flags %u/%u exptime %lld/%lld "
                     "vlen %lld/%lld cas %llu/%llu", line, a.noreply, b.noreply, a.nkey, b.nkey,
                     a.flags, b.flags, (long long)a.exptime, (long long)b.exptime,
                     (long long)a.vlen, (long long)b.vlen, (unsigned long long)a.cas,
                     (unsigned long long)b.cas);
        break;
    default:
        break;
    }
}

/* The one-pass parses of get and the storage commands take some lines off
 * the tokenizer; on every line, usual or odd, they must agree with it. */
static void test_common_shapes_parse_as_the_tokenizer_does(void **state)
{
    (void)state;
    static const char *const cmds[] = { "set", "add", "replace", "append", "prepend", "cas",
                                        "get", "gets", "sets", "se", "  set" };
    static const char *const keys[] = { "k", "key:12345", "noreply", "", " k" };
    static const char *const nums[] = { "0", "1", "32", "007", "-1", "-0", "+1", "1x", "-",
                                        "2147483645", "2147483646", "2147483648",
                                        "4294967297", "999999999999999999",
                                        "1000000000000000000", "18446744073709551616", "" };
    static const char *const tails[] = { "", " noreply", " noreplyx", " ", " x", " noreply x",
                                         "  noreply", " 5", " 5 noreply" };
    char line[600];
    size_t ncmds = sizeof(cmds) / sizeof(cmds[0]), nnums = sizeof(nums) / sizeof(nums[0]);
    for (size_t c = 0; c < ncmds; c++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            for (size_t f = 0; f < nnums; f += 3)
                for (size_t e = 0; e < nnums; e++)
                    for (size_t v = 0; v < nnums; v++)
                        for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                            snprintf(line, sizeof(line), "%s %s %s %s %s%s", cmds[c], keys[k],
                                     nums[f], nums[e], nums[v], tails[t]);
                            assert_same_parse(line);
                        }
    /* Keys at the length limit, and gets of every shape. */
    for (size_t n = 248; n <= 252; n++) {
        memset(line, 'k', sizeof(line));
        memcpy(line, "set ", 4);
        snprintf(line + 4 + n, sizeof(line) - 4 - n, " 1 2 3");
        assert_same_parse(line);
    }
    static const char *const gets[] = { "get k", "get  k", "get k ", "get a b c", "gets x y",
                                        "get", "get ", "get  ", " get k", "getk", "gets",
                                        "gets  a", "gets  ", "gets   ", "get\tk", "bget k", "gat 1 k", "get k noreply" };
    for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++)
        assert_same_parse(gets[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_is_one_line),
        cmocka_unit_test(test_set_parses_every_field),
        cmocka_unit_test(test_add_replace_append_prepend_parse_like_set),
        cmocka_unit_test(test_cas_parses_its_unique),
        cmocka_unit_test(test_cas_without_its_unique_is_an_error),
        cmocka_unit_test(test_cas_with_a_bad_unique_is_bad_format),
        cmocka_unit_test(test_storage_commands_with_wrong_token_counts_are_errors),
        cmocka_unit_test(test_noreply_is_the_last_token),
        cmocka_unit_test(test_noreply_must_match_exactly),
        cmocka_unit_test(test_any_sixth_token_of_set_is_accepted_as_not_noreply),
        cmocka_unit_test(test_bad_flags_exptime_or_length_are_bad_command_line_format),
        cmocka_unit_test(test_negative_length_is_bad_command_line_format),
        cmocka_unit_test(test_numbers_wrap_to_32_bits_as_memcached),
        cmocka_unit_test(test_negative_exptime_is_kept_for_the_cache),
        cmocka_unit_test(test_key_of_250_bytes_is_fine_251_is_not),
        cmocka_unit_test(test_too_long_key_with_noreply_stays_silent),
        cmocka_unit_test(test_delete_takes_a_key),
        cmocka_unit_test(test_delete_k_0_is_accepted_as_legacy),
        cmocka_unit_test(test_delete_k_1_is_refused_with_usage),
        cmocka_unit_test(test_delete_k_1_noreply_is_refused_silently),
        cmocka_unit_test(test_incr_and_decr_take_a_delta),
        cmocka_unit_test(test_incr_with_a_bad_delta_is_refused),
        cmocka_unit_test(test_get_keeps_the_rest_of_the_line_as_keys),
        cmocka_unit_test(test_get_without_a_key_is_an_error),
        cmocka_unit_test(test_get_of_more_keys_than_tokens_keeps_them_all),
        cmocka_unit_test(test_gat_takes_an_exptime_first),
        cmocka_unit_test(test_gat_with_a_bad_exptime_is_invalid_exptime),
        cmocka_unit_test(test_gat_without_keys_has_no_keys),
        cmocka_unit_test(test_touch_takes_a_key_and_exptime),
        cmocka_unit_test(test_flush_all_takes_an_optional_delay),
        cmocka_unit_test(test_flush_all_with_bad_arguments_is_refused),
        cmocka_unit_test(test_verbosity_takes_a_level),
        cmocka_unit_test(test_cache_memlimit_takes_megabytes),
        cmocka_unit_test(test_simple_commands_are_recognised),
        cmocka_unit_test(test_unknown_and_empty_lines_are_errors),
        cmocka_unit_test(test_http_request_line_closes),
        cmocka_unit_test(test_embedded_nul_ends_the_command),
        cmocka_unit_test(test_common_shapes_parse_as_the_tokenizer_does),
        cmocka_unit_test(test_more_than_24_tokens_leaves_the_rest_in_the_last),
        cmocka_unit_test(test_runs_of_spaces_separate_like_one),
        cmocka_unit_test(test_u64_parser_mirrors_strtoull),
        cmocka_unit_test(test_u64_parser_refuses_minus_only_when_the_result_looks_negative),
        cmocka_unit_test(test_number_followed_by_space_and_junk_is_accepted),
        cmocka_unit_test(test_u32_parser_truncates_like_safe_strtoul),
        cmocka_unit_test(test_i32_parser_truncates_a_long_like_safe_strtol),
        cmocka_unit_test(test_i32_parser_refuses_what_strtol_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
