/* Unit tests of server/log.c's line format: one line per message, the
 * journal's priority prefix only when stderr is the journal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static size_t fmt(char *out, size_t n, int level, bool journal, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    size_t len = log_format(out, n, level, journal, f, ap);
    va_end(ap);
    return len;
}

static void test_plain_line_is_memcacheds_text(void **state)
{
    (void)state;
    char b[128];
    size_t n = fmt(b, sizeof(b), LOG_ERROR, false, "bind(): %s", "Permission denied");
    assert_int_equal(n, strlen("bind(): Permission denied\n"));
    assert_memory_equal(b, "bind(): Permission denied\n", n);
}

static void test_journal_lines_carry_their_priority(void **state)
{
    (void)state;
    char b[128];
    size_t n = fmt(b, sizeof(b), LOG_ERROR, true, "x");
    assert_memory_equal(b, "<3>x\n", n);
    n = fmt(b, sizeof(b), LOG_INFO, true, "y");
    assert_memory_equal(b, "<6>y\n", n);
    n = fmt(b, sizeof(b), LOG_DEBUG, true, "z");
    assert_memory_equal(b, "<7>z\n", n);
    n = fmt(b, sizeof(b), LOG_TRACE, true, "t");
    assert_memory_equal(b, "<7>t\n", n);
}

static void test_a_message_is_one_line(void **state)
{
    (void)state;
    char b[128];
    size_t n = fmt(b, sizeof(b), LOG_INFO, false, "two\nlines\r\n");
    assert_memory_equal(b, "two lines  \n", n);
}

static void test_long_message_is_cut_and_still_ends_the_line(void **state)
{
    (void)state;
    char b[16];
    size_t n = fmt(b, sizeof(b), LOG_INFO, true, "%s", "0123456789abcdefghij");
    assert_true(n <= sizeof(b));
    assert_int_equal(b[n - 1], '\n');
    assert_memory_equal(b, "<6>0123456789a", 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line_is_memcacheds_text),
        cmocka_unit_test(test_journal_lines_carry_their_priority),
        cmocka_unit_test(test_a_message_is_one_line),
        cmocka_unit_test(test_long_message_is_cut_and_still_ends_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
