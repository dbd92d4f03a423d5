/* Unit tests of -Y and -S: the user file as memcached reads it, the
 * constant-time check, the text protocol's gate and binary SASL PLAIN —
 * through proto_feed over a real (small) cache, as a connection drives it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "auth.h"
#include "binary.h"
#include "proto_fixture.h"
#include "sasl.h"
#include "session.h"

static struct proto_session *sess;
static struct auth_table *users;

static const char users_file[] = "alice:secret\nbob:hunter2\r\n:nameless\ncolon:a:b\n";

static int setup(void **state)
{
    (void)state;
    int rc = proto_setup();
    char err[128];
    users = auth_parse(users_file, sizeof(users_file) - 1, err, sizeof(err));
    sess = proto_session_new(PROTO_STREAM);
    return rc != 0 || sess == NULL || users == NULL;
}

static int teardown(void **state)
{
    (void)state;
    proto_session_free(sess);
    auth_free(users);
    proto_teardown();
    return 0;
}

static size_t session_serve(const char *buf, size_t len)
{
    return proto_feed(sess, &env, buf, len, &last_status);
}

static size_t feed_n(const char *s, size_t n) { return fixture_feed(s, n, session_serve); }
static size_t feed(const char *s) { return feed_n(s, strlen(s)); }

static char rbuf[1 << 16];

/* Everything replied so far, consumed, its length in *n. */
static const char *replies_n(size_t *n)
{
    struct reply *r = proto_session_reply(sess);
    struct iovec iov[16];
    size_t len = 0;
    while (!reply_empty(r)) {
        int k = reply_iov(r, iov, 16);
        size_t took = 0;
        for (int i = 0; i < k; i++) {
            assert_true(len + iov[i].iov_len < sizeof(rbuf));
            memcpy(rbuf + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            took += iov[i].iov_len;
        }
        reply_consumed(r, took);
    }
    rbuf[len] = '\0';
    if (n != NULL)
        *n = len;
    return rbuf;
}

static const char *replies(void) { return replies_n(NULL); }

/* ---- the user file ------------------------------------------------------ */

static void test_file_takes_memcacheds_user_password_lines(void **state)
{
    (void)state;
    assert_int_equal(auth_count(users), 4);
    assert_true(auth_check(users, "alice", 5, "secret", 6));
    assert_true(auth_check(users, "bob", 3, "hunter2", 7));    /* "\r\n" ends it */
    assert_true(auth_check(users, "", 0, "nameless", 8));      /* an empty user, as memcached */
    assert_true(auth_check(users, "colon", 5, "a:b", 3));      /* the first ':' splits */
}

static void test_check_refuses_near_misses(void **state)
{
    (void)state;
    assert_false(auth_check(users, "alice", 5, "secreT", 6));
    assert_false(auth_check(users, "alice", 5, "secre", 5));
    assert_false(auth_check(users, "alice", 5, "secrets", 7));
    assert_false(auth_check(users, "alic", 4, "secret", 6));
    assert_false(auth_check(users, "alice", 5, "hunter2", 7));  /* another user's */
    assert_false(auth_check(users, "", 0, "", 0));
    assert_false(auth_check(NULL, "alice", 5, "secret", 6));
}

static void test_malformed_files_are_refused_with_the_line(void **state)
{
    (void)state;
    char err[128];
    static const struct { const char *data; size_t len; const char *why; } bad[] = {
        { "alice:secret\nbob\n", 17, "line 2 has no ':'" },
        { "alice:secret\n\n", 14, "line 2 has no ':'" },          /* memcached too */
        { "a:b\0c\n", 6, "line 1 holds a NUL byte" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(auth_parse(bad[i].data, bad[i].len, err, sizeof(err)));
        assert_string_equal(err, bad[i].why);
    }
    char longline[300];
    memset(longline, 'x', sizeof(longline));
    longline[3] = ':';
    assert_null(auth_parse(longline, sizeof(longline), err, sizeof(err)));
    assert_string_equal(err, "line 1 is longer than 255 bytes");
}

static void test_empty_file_has_no_users(void **state)
{
    (void)state;
    char err[64];
    struct auth_table *t = auth_parse("", 0, err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(auth_count(t), 0);
    assert_false(auth_check(t, "", 0, "", 0));
    auth_free(t);
}

static void test_replace_swaps_every_user(void **state)
{
    (void)state;
    char err[64];
    struct auth_table *t = auth_parse("alice:one\ncarol:x\n", 18, err, sizeof(err));
    assert_non_null(t);
    for (int round = 0; round < 3; round++) {
        struct auth_table *next = auth_parse("bob:two\n", 8, err, sizeof(err));
        assert_non_null(next);
        auth_replace(t, next);      /* consumes next; the old users go with t */
        assert_int_equal(auth_count(t), 1);
        assert_true(auth_check(t, "bob", 3, "two", 3));
        assert_false(auth_check(t, "alice", 5, "one", 3));
        assert_false(auth_check(t, "carol", 5, "x", 1));
    }
    auth_free(t);                   /* every set it had: LeakSanitizer checks */
}

/* ---- -Y ---------------------------------------------------------------- */

static void ascii_auth_on(void)
{
    settings.auth_ascii = users;
    settings.auth_file = "users";
}

static void test_every_command_before_auth_is_refused(void **state)
{
    (void)state;
    ascii_auth_on();
    static const char *const cmds[] = {
        "get k\r\n", "gets k\r\n", "delete k\r\n", "incr k 1\r\n", "touch k 1\r\n",
        "stats\r\n", "version\r\n", "flush_all\r\n", "quit\r\n", "verbosity 1\r\n",
        "mg k v\r\n", "mn\r\n", "me k\r\n", "md k\r\n", "ma k\r\n", "ms k 1\r\n",
        "set k 0 0\r\n", "add k 0 0 1\r\n", "cas k 0 0 1 1\r\n", "shutdown\r\n",
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        feed(cmds[i]);
        assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n");
        assert_int_equal(last_status, PROTO_WANT_INPUT);
    }
    assert_int_equal(counter_get(&counters.auth_cmds), 0);
}

static void test_add_is_not_the_auth_command(void **state)
{
    (void)state;
    ascii_auth_on();
    /* Only "set" names the block: add's line is refused, its data too. */
    feed("add k 0 0 12\r\nalice secret\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n"
                                   "CLIENT_ERROR unauthenticated\r\n");
}

static void test_wrong_then_right_password(void **state)
{
    (void)state;
    ascii_auth_on();
    feed("set k 0 0 9\r\nalice bad\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR authentication failure\r\n");
    feed("get k\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n");
    feed("set anything 1 2 12\r\nalice secret\r\n");
    assert_string_equal(replies(), "STORED\r\n");
    assert_int_equal(counter_get(&counters.auth_cmds), 2);
    assert_int_equal(counter_get(&counters.auth_errors), 1);
    /* Authenticated: the text protocol as usual, and the auth set stored nothing. */
    feed("get anything\r\nset k 0 0 1\r\nv\r\nget k\r\nmn\r\n");
    assert_string_equal(replies(), "END\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\nMN\r\n");
}

static void test_auth_and_commands_in_one_read(void **state)
{
    (void)state;
    ascii_auth_on();
    feed("set a 0 0 11\r\nbob hunter2\r\nset k 0 0 1\r\nv\r\nget k\r\n");
    assert_string_equal(replies(), "STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
}

static void test_auth_split_at_every_byte(void **state)
{
    (void)state;
    ascii_auth_on();
    const char *req = "get x\r\nset a 0 0 9\r\nalice bad\r\nset a 0 0 12\r\nalice secret\r\n"
                      "get a\r\n";
    for (size_t i = 0; req[i] != '\0'; i++)
        feed_n(req + i, 1);
    assert_int_equal(inlen, 0);
    assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n"
                                   "CLIENT_ERROR authentication failure\r\n"
                                   "STORED\r\nEND\r\n");
}

static void test_block_shapes_answered_as_memcached(void **state)
{
    (void)state;
    ascii_auth_on();
    feed("set a 0 0 5\r\nalice\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR bad authentication token format\r\n");
    feed("set a 0 0 12\r\nalice secretXY");
    assert_string_equal(replies(), "CLIENT_ERROR bad command line termination\r\n");
    /* Extra tokens after the password are ignored, as memcached ignores them. */
    feed("set a 0 0 18\r\nalice secret extra\r\n");
    assert_string_equal(replies(), "STORED\r\n");
}

static void test_length_wrapping_32_bits_is_a_bad_termination(void **state)
{
    (void)state;
    ascii_auth_on();
    /* memcached adds 2 in 32 bits: 4294967294 + 2 is a block of 0 bytes. */
    feed("set a 0 0 4294967294\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR bad command line termination\r\n");
    feed("set a 0 0 -1\r\n");
    assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n");
}

static void test_long_block_is_dropped_not_held(void **state)
{
    (void)state;
    ascii_auth_on();
    static char big[100000];
    memset(big, 'x', sizeof(big));
    char line[64];
    snprintf(line, sizeof(line), "set a 0 0 %zu\r\n", sizeof(big) - 2);
    feed(line);
    big[sizeof(big) - 2] = '\r';
    big[sizeof(big) - 1] = '\n';
    /* Fed in pieces, each consumed at once: nothing waits in the input. */
    for (size_t off = 0; off < sizeof(big); off += 4096) {
        size_t n = sizeof(big) - off < 4096 ? sizeof(big) - off : 4096;
        assert_int_equal(feed_n(big + off, n), n);
        assert_int_equal(inlen, 0);
    }
    assert_string_equal(replies(), "CLIENT_ERROR authentication failure\r\n");
}

static void test_no_newline_in_2048_bytes_closes(void **state)
{
    (void)state;
    ascii_auth_on();
    static char junk[3000];
    memset(junk, 0x80, sizeof(junk));   /* a binary client on a -Y server */
    feed_n(junk, 2048);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    feed_n(junk, 1);
    assert_int_equal(last_status, PROTO_CLOSE);
}

static void test_binary_bytes_are_read_as_text_under_y(void **state)
{
    (void)state;
    ascii_auth_on();
    settings.protocol = PROTO_MODE_AUTO;    /* even if -B were not forced */
    char req[24] = { (char)0x80, 0x0a };    /* NOOP: its opcode is a '\n' */
    feed_n(req, sizeof(req));
    assert_string_equal(replies(), "CLIENT_ERROR unauthenticated\r\n");
}

/* ---- -S ---------------------------------------------------------------- */

static size_t pack(char *buf, uint8_t op, const char *key, const char *val, size_t nval,
                   uint32_t opaque)
{
    size_t nkey = key ? strlen(key) : 0;
    bin_write_header(buf, op, 0, (uint16_t)nkey, 0, (uint32_t)(nkey + nval), opaque, 0);
    buf[0] = (char)BIN_REQ_MAGIC;
    if (nkey > 0)
        memcpy(buf + 24, key, nkey);
    if (nval > 0)
        memcpy(buf + 24 + nkey, val, nval);
    return 24 + nkey + nval;
}

static void sasl_on(void)
{
    settings.sasl = true;
    settings.sasl_users = users;
    settings.protocol = PROTO_MODE_BINARY;
}

/* The status and body of the reply at r (one response). */
static uint16_t status_of(const char *r) { return (uint16_t)((unsigned char)r[6] << 8 | (unsigned char)r[7]); }

static void test_sasl_lists_plain(void **state)
{
    (void)state;
    sasl_on();
    char req[64];
    feed_n(req, pack(req, BIN_CMD_SASL_LIST_MECHS, NULL, NULL, 0, 7));
    size_t n;
    const char *r = replies_n(&n);
    assert_int_equal(n, 29);
    assert_int_equal(status_of(r), 0);
    assert_memory_equal(r + 24, "PLAIN", 5);
    assert_memory_equal(r + 12, "\0\0\0\x07", 4);       /* the opaque comes back */
}

static void test_sasl_refuses_and_closes_before_auth(void **state)
{
    (void)state;
    sasl_on();
    char req[64];
    feed_n(req, pack(req, BIN_CMD_NOOP, NULL, NULL, 0, 0));
    size_t n;
    const char *r = replies_n(&n);
    assert_int_equal(last_status, PROTO_CLOSE);
    assert_int_equal(status_of(r), BIN_AUTH_ERROR);
    assert_int_equal(n, 24 + 13);
    assert_memory_equal(r + 24, "Auth failure.", 13);
}

static void test_sasl_version_is_allowed_before_auth(void **state)
{
    (void)state;
    sasl_on();
    char req[64];
    feed_n(req, pack(req, BIN_CMD_VERSION, NULL, NULL, 0, 0));
    const char *r = replies();
    assert_int_equal(status_of(r), 0);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
}

static void test_sasl_plain_right_and_wrong(void **state)
{
    (void)state;
    sasl_on();
    char req[128];
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "PLAIN", "\0alice\0nope", 11, 0));
    const char *r = replies();
    assert_int_equal(status_of(r), BIN_AUTH_ERROR);
    assert_int_equal(last_status, PROTO_WANT_INPUT);    /* a failure leaves it open */
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "PLAIN", "alice\0alice\0secret", 18, 0));
    size_t n;
    r = replies_n(&n);
    assert_int_equal(status_of(r), 0);
    assert_int_equal(n, 24 + 13);
    assert_memory_equal(r + 24, "Authenticated", 13);
    feed_n(req, pack(req, BIN_CMD_NOOP, NULL, NULL, 0, 0));
    assert_int_equal(status_of(replies()), 0);
    assert_int_equal(counter_get(&counters.auth_cmds), 2);
    assert_int_equal(counter_get(&counters.auth_errors), 1);
}

static void test_sasl_plain_refuses_another_authzid_and_bad_shapes(void **state)
{
    (void)state;
    sasl_on();
    char req[128];
    static const struct { const char *d; size_t n; } bad[] = {
        { "bob\0alice\0secret", 16 }, { "alice\0secret", 12 }, { "\0alice\0secret\0", 14 },
        { "\0\0secret", 8 }, { "", 0 + 1 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "PLAIN", bad[i].d, bad[i].n, 0));
        assert_int_equal(status_of(replies()), BIN_AUTH_ERROR);
    }
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "CRAM-MD5", "x", 1, 0));
    assert_int_equal(status_of(replies()), BIN_AUTH_ERROR);
}

static void test_sasl_plain_in_two_steps(void **state)
{
    (void)state;
    sasl_on();
    char req[128];
    feed_n(req, pack(req, BIN_CMD_SASL_STEP, "PLAIN", "\0alice\0secret", 13, 0));
    assert_int_equal(status_of(replies()), BIN_AUTH_ERROR);     /* no exchange started */
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "PLAIN", NULL, 0, 0));
    size_t n;
    const char *r = replies_n(&n);
    assert_int_equal(status_of(r), SASL_AUTH_CONTINUE);
    assert_int_equal(n, 24);
    size_t len = pack(req, BIN_CMD_SASL_STEP, "PLAIN", "\0alice\0secret", 13, 0);
    for (size_t i = 0; i < len; i++)     /* split at every byte */
        feed_n(req + i, 1);
    assert_int_equal(status_of(replies()), 0);
}

static void test_sasl_listing_mechanisms_forgets_the_login(void **state)
{
    (void)state;
    sasl_on();
    char req[128];
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "PLAIN", "\0bob\0hunter2", 12, 0));
    assert_int_equal(status_of(replies()), 0);
    feed_n(req, pack(req, BIN_CMD_SASL_LIST_MECHS, NULL, NULL, 0, 0));
    replies();
    feed_n(req, pack(req, BIN_CMD_NOOP, NULL, NULL, 0, 0));
    assert_int_equal(status_of(replies()), BIN_AUTH_ERROR);
    assert_int_equal(last_status, PROTO_CLOSE);
}

static void test_sasl_long_mechanism_is_einval(void **state)
{
    (void)state;
    sasl_on();
    char req[128];
    feed_n(req, pack(req, BIN_CMD_SASL_AUTH, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", "xy", 2, 0));
    const char *r = replies();
    assert_int_equal(status_of(r), BIN_EINVAL);
    assert_int_equal(inlen, 0);                 /* its data swallowed */
}

static void test_sasl_long_data_is_dropped_then_refused(void **state)
{
    (void)state;
    sasl_on();
    static char req[24 + 5 + 50000];
    static char val[50000];
    memset(val, 'a', sizeof(val));
    size_t len = pack(req, BIN_CMD_SASL_AUTH, "PLAIN", val, sizeof(val), 0);
    for (size_t off = 0; off < len; off += 1000) {
        size_t n = len - off < 1000 ? len - off : 1000;
        feed_n(req + off, n);
    }
    assert_int_equal(inlen, 0);
    assert_int_equal(status_of(replies()), BIN_AUTH_ERROR);
}

static void test_sasl_off_answers_unknown_command(void **state)
{
    (void)state;
    char req[64];
    feed_n(req, pack(req, BIN_CMD_SASL_LIST_MECHS, NULL, NULL, 0, 0));
    assert_int_equal(status_of(replies()), BIN_UNKNOWN_COMMAND);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_file_takes_memcacheds_user_password_lines),
        T(test_check_refuses_near_misses),
        T(test_malformed_files_are_refused_with_the_line),
        T(test_empty_file_has_no_users),
        T(test_replace_swaps_every_user),
        T(test_every_command_before_auth_is_refused),
        T(test_add_is_not_the_auth_command),
        T(test_wrong_then_right_password),
        T(test_auth_and_commands_in_one_read),
        T(test_auth_split_at_every_byte),
        T(test_block_shapes_answered_as_memcached),
        T(test_length_wrapping_32_bits_is_a_bad_termination),
        T(test_long_block_is_dropped_not_held),
        T(test_no_newline_in_2048_bytes_closes),
        T(test_binary_bytes_are_read_as_text_under_y),
        T(test_sasl_lists_plain),
        T(test_sasl_refuses_and_closes_before_auth),
        T(test_sasl_version_is_allowed_before_auth),
        T(test_sasl_plain_right_and_wrong),
        T(test_sasl_plain_refuses_another_authzid_and_bad_shapes),
        T(test_sasl_plain_in_two_steps),
        T(test_sasl_listing_mechanisms_forgets_the_login),
        T(test_sasl_long_mechanism_is_einval),
        T(test_sasl_long_data_is_dropped_then_refused),
        T(test_sasl_off_answers_unknown_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
