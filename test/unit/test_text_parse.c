/* Unit tests of the ASCII request parser: every command, every malformed form. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "text.h"

static struct text_req parse(const char *line)
{
    struct text_req r;
    text_parse(line, strlen(line), &r);
    return r;
}

static void test_set_parses_every_field(void **state)
{
    (void)state;
    struct text_req r = parse("set foo 42 100 7");
    assert_int_equal(r.cmd, TEXT_CMD_SET);
    assert_int_equal(r.err, TEXT_OK);
    assert_int_equal(r.nkey, 3);
    assert_memory_equal(r.key, "foo", 3);
    assert_int_equal(r.flags, 42);
    assert_int_equal(r.exptime, 100);
    assert_int_equal(r.vlen, 7);
    assert_false(r.noreply);
}

static void test_noreply_is_the_last_token(void **state)
{
    (void)state;
    assert_true(parse("set foo 0 0 1 noreply").noreply);
    assert_true(parse("delete foo noreply").noreply);
    assert_true(parse("incr foo 1 noreply").noreply);
    assert_false(parse("set foo 0 0 1").noreply);
}

static void test_cas_needs_its_unique(void **state)
{
    (void)state;
    struct text_req r = parse("cas foo 0 0 1 12345");
    assert_int_equal(r.cmd, TEXT_CMD_CAS);
    assert_int_equal(r.cas, 12345);
    assert_int_equal(parse("cas foo 0 0 1").err, TEXT_E_ERROR);
    assert_int_equal(parse("cas foo 0 0 1 abc").err, TEXT_E_FORMAT);
}

static void test_storage_commands_with_wrong_token_counts_are_errors(void **state)
{
    (void)state;
    assert_int_equal(parse("set foo 0 0").err, TEXT_E_ERROR);
    assert_int_equal(parse("add foo 0 0 1 2 3").err, TEXT_E_ERROR);
    assert_int_equal(parse("replace").err, TEXT_E_ERROR);
}

static void test_bad_numbers_are_bad_command_line_format(void **state)
{
    (void)state;
    assert_int_equal(parse("set foo abc 0 1").err, TEXT_E_FORMAT);
    assert_int_equal(parse("set foo 0 abc 1").err, TEXT_E_FORMAT);
    assert_int_equal(parse("set foo 0 0 -1").err, TEXT_E_FORMAT);
    assert_int_equal(parse("set foo -1 0 1").err, TEXT_E_FORMAT);
    assert_int_equal(parse("set foo 0 0 1x").err, TEXT_E_FORMAT);
}

static void test_flags_wrap_to_32_bits_as_memcached(void **state)
{
    (void)state;
    assert_int_equal(parse("set foo 4294967295 0 1").flags, 4294967295u);
    struct text_req r = parse("set foo 4294967296 0 1");
    assert_int_equal(r.err, TEXT_OK);
    assert_int_equal(r.flags, 0);
}

static void test_key_of_250_bytes_is_fine_251_is_not(void **state)
{
    (void)state;
    char line[300];
    memset(line, 0, sizeof(line));
    memcpy(line, "set ", 4);
    memset(line + 4, 'k', 250);
    strcat(line, " 0 0 1");
    assert_int_equal(parse(line).err, TEXT_OK);
    memset(line + 4, 'k', 251);
    strcpy(line + 4 + 251, " 0 0 1");
    assert_int_equal(parse(line).err, TEXT_E_FORMAT);
}

static void test_delete_accepts_legacy_zero_only(void **state)
{
    (void)state;
    assert_int_equal(parse("delete foo").err, TEXT_OK);
    assert_int_equal(parse("delete foo 0").err, TEXT_OK);
    assert_int_equal(parse("delete foo 0 noreply").err, TEXT_OK);
    assert_int_equal(parse("delete foo 5").err, TEXT_E_DELETE_USAGE);
    assert_int_equal(parse("delete foo 5 noreply").err, TEXT_E_DELETE_USAGE);
    assert_int_equal(parse("delete").err, TEXT_E_ERROR);
}

static void test_incr_with_a_bad_delta_is_refused(void **state)
{
    (void)state;
    struct text_req r = parse("incr n 5");
    assert_int_equal(r.cmd, TEXT_CMD_INCR);
    assert_int_equal(r.num, 5);
    assert_int_equal(parse("decr n abc").err, TEXT_E_DELTA);
    assert_int_equal(parse("incr n -1").err, TEXT_E_DELTA);
    assert_int_equal(parse("incr n").err, TEXT_E_ERROR);
}

static void test_get_keeps_the_rest_of_the_line_as_keys(void **state)
{
    (void)state;
    struct text_req r = parse("get a bb ccc");
    assert_int_equal(r.cmd, TEXT_CMD_GET);
    assert_int_equal(r.nrest, 8);
    assert_memory_equal(r.rest, "a bb ccc", 8);
    assert_int_equal(parse("get").err, TEXT_E_ERROR);
    assert_int_equal(parse("gets x").cmd, TEXT_CMD_GETS);
}

static void test_gat_takes_an_exptime_first(void **state)
{
    (void)state;
    struct text_req r = parse("gat 100 a b");
    assert_int_equal(r.cmd, TEXT_CMD_GAT);
    assert_int_equal(r.exptime, 100);
    assert_memory_equal(r.rest, "a b", 3);
    assert_int_equal(parse("gats abc a").err, TEXT_E_EXPTIME);
}

static void test_touch_exptime_errors(void **state)
{
    (void)state;
    assert_int_equal(parse("touch a 10").cmd, TEXT_CMD_TOUCH);
    assert_int_equal(parse("touch a abc").err, TEXT_E_EXPTIME);
}

static void test_flush_all_forms(void **state)
{
    (void)state;
    assert_int_equal(parse("flush_all").exptime, 0);
    assert_int_equal(parse("flush_all 10").exptime, 10);
    assert_true(parse("flush_all noreply").noreply);
    assert_int_equal(parse("flush_all 10 noreply").exptime, 10);
    assert_int_equal(parse("flush_all abc").err, TEXT_E_EXPTIME);
    assert_int_equal(parse("flush_all 1 2 3").err, TEXT_E_ERROR);
}

static void test_verbosity_and_memlimit_arguments(void **state)
{
    (void)state;
    assert_int_equal(parse("verbosity 2").num, 2);
    assert_int_equal(parse("verbosity").err, TEXT_E_ERROR);
    assert_int_equal(parse("verbosity abc").err, TEXT_E_FORMAT);
    assert_int_equal(parse("cache_memlimit 100").num, 100);
    assert_int_equal(parse("cache_memlimit abc").err, TEXT_E_ERROR);
}

static void test_unknown_and_empty_lines_are_errors(void **state)
{
    (void)state;
    assert_int_equal(parse("").err, TEXT_E_ERROR);
    assert_int_equal(parse("   ").err, TEXT_E_ERROR);
    assert_int_equal(parse("foo bar").err, TEXT_E_ERROR);
    assert_int_equal(parse("x").err, TEXT_E_ERROR);
    assert_int_equal(parse("GET a").err, TEXT_E_ERROR);
}

static void test_http_request_line_closes(void **state)
{
    (void)state;
    assert_int_equal(parse("GET / HTTP/1.1").cmd, TEXT_CMD_CLOSE);
}

static void test_embedded_nul_ends_the_command(void **state)
{
    (void)state;
    struct text_req r;
    text_parse("get a\0b", 7, &r);
    assert_int_equal(r.cmd, TEXT_CMD_GET);
    assert_int_equal(r.nrest, 1);
}

static void test_tokenizer_caps_at_24_tokens(void **state)
{
    (void)state;
    struct text_token tok[TEXT_MAX_TOKENS];
    const char *line = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
    int n = text_tokenize(line, strlen(line), tok, TEXT_MAX_TOKENS);
    assert_int_equal(n, 24);
    assert_non_null(tok[23].p);
    assert_memory_equal(tok[23].p, "x y z", 5);
    n = text_tokenize("set  a   b", 10, tok, TEXT_MAX_TOKENS);
    assert_int_equal(n, 4);
    assert_null(tok[3].p);
}

static void test_number_parsers_mirror_strtoull(void **state)
{
    (void)state;
    uint64_t u;
    uint32_t u32;
    int32_t i32;
    assert_true(text_parse_u64("18446744073709551615", 20, &u));
    assert_true(u == UINT64_MAX);
    assert_false(text_parse_u64("18446744073709551616", 20, &u));
    assert_false(text_parse_u64("-1", 2, &u));
    assert_true(text_parse_u64("-0", 2, &u));
    assert_true(u == 0);
    assert_false(text_parse_u64("", 0, &u));
    assert_false(text_parse_u64("12a", 3, &u));
    assert_true(text_parse_u64("12\t", 3, &u));
    assert_true(u == 12);
    assert_true(text_parse_u32("7", 1, &u32));
    assert_int_equal(u32, 7);
    assert_true(text_parse_i32("-5", 2, &i32));
    assert_int_equal(i32, -5);
    assert_false(text_parse_i32("abc", 3, &i32));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_parses_every_field),
        cmocka_unit_test(test_noreply_is_the_last_token),
        cmocka_unit_test(test_cas_needs_its_unique),
        cmocka_unit_test(test_storage_commands_with_wrong_token_counts_are_errors),
        cmocka_unit_test(test_bad_numbers_are_bad_command_line_format),
        cmocka_unit_test(test_flags_wrap_to_32_bits_as_memcached),
        cmocka_unit_test(test_key_of_250_bytes_is_fine_251_is_not),
        cmocka_unit_test(test_delete_accepts_legacy_zero_only),
        cmocka_unit_test(test_incr_with_a_bad_delta_is_refused),
        cmocka_unit_test(test_get_keeps_the_rest_of_the_line_as_keys),
        cmocka_unit_test(test_gat_takes_an_exptime_first),
        cmocka_unit_test(test_touch_exptime_errors),
        cmocka_unit_test(test_flush_all_forms),
        cmocka_unit_test(test_verbosity_and_memlimit_arguments),
        cmocka_unit_test(test_unknown_and_empty_lines_are_errors),
        cmocka_unit_test(test_http_request_line_closes),
        cmocka_unit_test(test_embedded_nul_ends_the_command),
        cmocka_unit_test(test_tokenizer_caps_at_24_tokens),
        cmocka_unit_test(test_number_parsers_mirror_strtoull),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
