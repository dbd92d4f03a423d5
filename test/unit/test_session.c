/* Unit tests of protocol/'s entry point: proto_feed over a real (small)
 * cache, as a transport drives it — which protocol a session picks, input
 * split anywhere, -R yields, close, held replies, and a reply that stops at
 * its bound and resumes as it is written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "binary.h"
#include "proto_fixture.h"
#include "session.h"

static struct proto_session *sess;

static int setup(void **state)
{
    (void)state;
    int rc = proto_setup();
    sess = proto_session_new(PROTO_STREAM);
    return rc != 0 || sess == NULL;
}

static int teardown(void **state)
{
    (void)state;
    proto_session_free(sess);
    proto_teardown();
    return 0;
}

static size_t session_serve(const char *buf, size_t len)
{
    return proto_feed(sess, &env, buf, len, &last_status);
}

/* A read of n bytes, served as a connection would; returns bytes consumed. */
static size_t feed_n(const char *s, size_t n) { return fixture_feed(s, n, session_serve); }

static size_t feed(const char *s) { return feed_n(s, strlen(s)); }

/* Append what the session's reply holds to buf (at *len), as written. */
static void drain_into(char *buf, size_t cap, size_t *len)
{
    struct reply *r = proto_session_reply(sess);
    struct iovec iov[16];
    while (!reply_empty(r)) {
        int n = reply_iov(r, iov, 16);
        size_t took = 0;
        for (int i = 0; i < n; i++) {
            assert_true(*len + iov[i].iov_len <= cap);
            memcpy(buf + *len, iov[i].iov_base, iov[i].iov_len);
            *len += iov[i].iov_len;
            took += iov[i].iov_len;
        }
        reply_consumed(r, took);
    }
}

static char rbuf[1 << 20];

/* Everything replied so far, consumed; its length in *n if asked. */
static const char *replies_n(size_t *n)
{
    size_t len = 0;
    drain_into(rbuf, sizeof(rbuf) - 1, &len);
    rbuf[len] = '\0';
    if (n != NULL)
        *n = len;
    return rbuf;
}

static const char *replies(void) { return replies_n(NULL); }

/* A binary request: header, extras, key, value. */
static size_t pack(char *buf, uint8_t op, const char *key, const char *ext, size_t next,
                   const char *val, size_t nval)
{
    size_t nkey = key ? strlen(key) : 0;
    bin_write_header(buf, op, 0, (uint16_t)nkey, (uint8_t)next, (uint32_t)(next + nkey + nval),
                     0, 0);
    buf[0] = (char)BIN_REQ_MAGIC;
    if (next > 0)
        memcpy(buf + 24, ext, next);
    if (nkey > 0)
        memcpy(buf + 24 + next, key, nkey);
    if (nval > 0)
        memcpy(buf + 24 + next + nkey, val, nval);
    return 24 + next + nkey + nval;
}

static void test_text_is_picked_from_the_first_byte(void **state)
{
    (void)state;
    feed("version\r\n");
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

static void test_binary_is_picked_from_0x80(void **state)
{
    (void)state;
    char req[64];
    size_t n = pack(req, BIN_CMD_NOOP, NULL, NULL, 0, NULL, 0);
    assert_int_equal(feed_n(req, n), n);
    size_t len;
    const char *r = replies_n(&len);
    assert_int_equal(len, 24);
    assert_int_equal((unsigned char)r[0], BIN_RES_MAGIC);
    assert_int_equal(r[1], BIN_CMD_NOOP);
}

static void test_meta_is_served_by_the_text_session(void **state)
{
    (void)state;
    feed("ms k 2 T0\r\nhi\r\nmg k v\r\nmn\r\n");
    assert_string_equal(replies(), "HD\r\nVA 2\r\nhi\r\nMN\r\n");
}

static void test_ascii_mode_reads_binary_as_a_text_line(void **state)
{
    (void)state;
    settings.protocol = PROTO_MODE_ASCII;
    char req[64];
    /* NOOP's opcode is '\n': the text protocol sees the line "\x80". */
    size_t n = pack(req, BIN_CMD_NOOP, NULL, NULL, 0, NULL, 0);
    feed_n(req, n);
    assert_string_equal(replies(), "ERROR\r\n");
}

static void test_binary_mode_closes_on_text(void **state)
{
    (void)state;
    settings.protocol = PROTO_MODE_BINARY;
    feed("version\r\nversion\r\nversion\r\n");
    assert_int_equal(last_status, PROTO_CLOSE);
    assert_string_equal(replies(), "");
}

static void test_reset_forgets_the_protocol_picked(void **state)
{
    (void)state;
    char req[64];
    feed_n(req, pack(req, BIN_CMD_NOOP, NULL, NULL, 0, NULL, 0));
    proto_session_reset(sess);
    assert_string_equal(replies(), "");
    feed("version\r\n");
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

/* Requests of every kind, in one session's bytes (text or binary). */
static const char text_script[] =
    "set a 1 0 3\r\nabc\r\nget a b\r\nappend a 0 0 2 noreply\r\nde\r\n"
    "ms m 4 F7\r\nwxyz\r\nmg m v f s k\r\nincr n 1\r\nset n 0 0 2\r\n10\r\nincr n 5\r\n"
    "delete a\r\nmd m q\r\nmg m\r\nmn\r\nget a m n\r\n";

static size_t binary_script(char *buf)
{
    char ext[8] = { 0, 0, 0, 9, 0, 0, 0, 0 };
    size_t n = 0;
    n += pack(buf + n, BIN_CMD_SETQ, "a", ext, 8, "abc", 3);
    n += pack(buf + n, BIN_CMD_GETK, "a", NULL, 0, NULL, 0);
    n += pack(buf + n, BIN_CMD_GETQ, "missing", NULL, 0, NULL, 0);
    n += pack(buf + n, BIN_CMD_APPEND, "a", NULL, 0, "de", 2);
    n += pack(buf + n, BIN_CMD_GET, "a", NULL, 0, NULL, 0);
    n += pack(buf + n, BIN_CMD_DELETE, "a", NULL, 0, NULL, 0);
    n += pack(buf + n, BIN_CMD_NOOP, NULL, NULL, 0, NULL, 0);
    return n;
}

/* The replies to `script` fed in two reads split at `cut` (whole if 0),
 * from a fresh session over an empty cache, into buf; returns their length. */
static size_t run_split(const char *script, size_t n, size_t cut, char *buf, size_t cap)
{
    proto_session_reset(sess);
    cache_flush(env.now, env.now);
    size_t len = 0;
    if (cut > 0) {
        feed_n(script, cut);
        drain_into(buf, cap, &len);
    }
    feed_n(script + cut, n - cut);
    drain_into(buf, cap, &len);
    assert_int_equal(inlen, 0);
    return len;
}

/* Binary replies carry CAS uniques, which differ from run to run: zero them. */
static void zero_cas(char *buf, size_t len)
{
    for (size_t off = 0; off + 24 <= len && (unsigned char)buf[off] == BIN_RES_MAGIC;) {
        struct bin_header h;
        bin_parse_header(buf + off, &h);
        memset(buf + off + 16, 0, 8);
        off += 24 + h.bodylen;
    }
}

static void assert_same_at_every_split(const char *script, size_t n)
{
    static char whole[8192], split[8192];
    size_t nwhole = run_split(script, n, 0, whole, sizeof(whole));
    zero_cas(whole, nwhole);
    assert_true(nwhole > 0);
    for (size_t cut = 1; cut < n; cut++) {
        size_t nsplit = run_split(script, n, cut, split, sizeof(split));
        zero_cas(split, nsplit);
        if (nsplit != nwhole || memcmp(split, whole, nwhole) != 0)
            fail_msg("replies differ when the input is cut at byte %zu", cut);
    }
}

static void test_text_split_at_every_byte_gives_the_same_replies(void **state)
{
    (void)state;
    assert_same_at_every_split(text_script, sizeof(text_script) - 1);
    size_t n = run_split(text_script, sizeof(text_script) - 1, 0, rbuf, sizeof(rbuf));
    rbuf[n] = '\0';
    assert_string_equal(rbuf, "STORED\r\nVALUE a 1 3\r\nabc\r\nEND\r\nHD\r\n"
                              "VA 4 f7 s4 km\r\nwxyz\r\nNOT_FOUND\r\nSTORED\r\n15\r\n"
                              "DELETED\r\nEN\r\nMN\r\nVALUE n 0 2\r\n15\r\nEND\r\n");
}

static void test_binary_split_at_every_byte_gives_the_same_replies(void **state)
{
    (void)state;
    static char script[1024];
    assert_same_at_every_split(script, binary_script(script));
}

static void test_reqs_per_event_yields_and_resumes(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    assert_int_equal(feed("version\r\nversion\r\nversion\r\n"), 18);
    assert_int_equal(last_status, PROTO_YIELD);
    assert_int_equal(feed(""), 9);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    assert_string_equal(replies(), "VERSION 1.6.18\r\nVERSION 1.6.18\r\nVERSION 1.6.18\r\n");
}

static void test_quit_closes_and_leaves_the_rest_unread(void **state)
{
    (void)state;
    assert_int_equal(feed("version\r\nquit\r\nversion\r\n"), 15);
    assert_int_equal(last_status, PROTO_CLOSE);
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

static void test_binary_quit_closes(void **state)
{
    (void)state;
    char req[64];
    size_t n = pack(req, BIN_CMD_QUITQ, NULL, NULL, 0, NULL, 0);
    feed_n(req, n);
    assert_int_equal(last_status, PROTO_CLOSE);
    assert_string_equal(replies(), "");
}

static void test_refused_value_holds_the_reply_until_dropped(void **state)
{
    (void)state;
    static char big[2 * 1024 * 1024 + 64];
    int h = sprintf(big, "set big 0 0 %d\r\n", 2 * 1024 * 1024);
    feed_n(big, (size_t)h + 1000);
    assert_int_equal(last_status, PROTO_HOLD);
    memset(big, 'x', sizeof(big));
    feed_n(big, 2 * 1024 * 1024 - 1000);
    assert_int_equal(last_status, PROTO_HOLD);
    feed("\r\n");
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    assert_string_equal(replies(), "SERVER_ERROR object too large for cache\r\n");
}


/* Serve `req` as a transport would: feed, write the reply out, feed again
 * while the session drains; the whole reply in rbuf, its length returned.
 * *feeds counts the calls, *peak the largest reply held at once. */
static size_t serve_all(const char *req, size_t n, int *feeds, size_t *peak)
{
    struct reply *r = proto_session_reply(sess);
    size_t len = 0;
    *feeds = 0;
    *peak = 0;
    memcpy(in + inlen, req, n);
    inlen += n;
    do {
        size_t used = proto_feed(sess, &env, in, inlen, &last_status);
        memmove(in, in + used, inlen - used);
        inlen -= used;
        (*feeds)++;
        if (reply_pending(r) > *peak)
            *peak = reply_pending(r);
        drain_into(rbuf, sizeof(rbuf) - 1, &len);
    } while (last_status == PROTO_DRAIN);
    rbuf[len] = '\0';
    return len;
}

static char value500[501];

/* "get" and n keys "a", and the reply memcached sends for it when a holds value500. */
static size_t get_line(char *buf, const char *cmd, int n)
{
    size_t len = (size_t)sprintf(buf, "%s", cmd);
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(buf + len, " a");
    return len + (size_t)sprintf(buf + len, "\r\n");
}

static size_t get_reply(char *buf, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(buf + len, "VALUE a 0 500\r\n%s\r\n", value500);
    return len + (size_t)sprintf(buf + len, "END\r\n");
}

static void set_a(void)
{
    memset(value500, 'v', 500);
    char req[600];
    feed_n(req, (size_t)sprintf(req, "set a 0 0 500\r\n%s\r\n", value500));
    assert_string_equal(replies(), "STORED\r\n");
}

static void test_multiget_stops_at_the_bound_and_resumes_with_the_same_bytes(void **state)
{
    (void)state;
    static char req[1024], want[100 * 600];
    set_a();
    settings.reply_bound = 4096;
    size_t n = get_line(req, "get", 100);
    int feeds;
    size_t peak;
    size_t len = serve_all(req, n, &feeds, &peak);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    assert_int_equal(inlen, 0);
    assert_int_equal(len, get_reply(want, 100));
    assert_memory_equal(rbuf, want, len);
    assert_true(feeds >= 10);
    assert_true(peak < 4096 + 600);
    assert_int_equal(counter_get(&counters.cmd_get), 100);
}

static void test_pipelined_requests_after_a_stopped_get_wait_their_turn(void **state)
{
    (void)state;
    static char req[1024], want[40 * 600];
    set_a();
    settings.reply_bound = 2048;
    size_t n = get_line(req, "get", 20);
    n += (size_t)sprintf(req + n, "version\r\nget b\r\n");
    int feeds;
    size_t peak;
    size_t len = serve_all(req, n, &feeds, &peak);
    size_t wlen = get_reply(want, 20);
    wlen += (size_t)sprintf(want + wlen, "VERSION 1.6.18\r\nEND\r\n");
    assert_int_equal(len, wlen);
    assert_memory_equal(rbuf, want, len);
    assert_int_equal(inlen, 0);
}

static void test_every_call_serves_a_key_even_past_the_bound(void **state)
{
    (void)state;
    static char req[1024], want[10 * 600];
    set_a();
    settings.reply_bound = 1;
    int feeds;
    size_t peak;
    size_t len = serve_all(req, get_line(req, "get", 10), &feeds, &peak);
    assert_int_equal(feeds, 10);
    assert_int_equal(len, get_reply(want, 10));
}

static void test_long_key_past_the_bound_answers_only_the_error(void **state)
{
    (void)state;
    static char req[2048];
    set_a();
    settings.reply_bound = 2048;
    size_t n = get_line(req, "get", 20) - 2;
    req[n++] = ' ';
    memset(req + n, 'k', 251);
    n += 251;
    n += (size_t)sprintf(req + n, " a\r\n");
    int feeds;
    size_t peak;
    serve_all(req, n, &feeds, &peak);
    assert_string_equal(rbuf, "CLIENT_ERROR bad command line format\r\n");
    /* memcached looked up (and counted) the keys before the long one. */
    assert_int_equal(counter_get(&counters.cmd_get), 20);
    assert_int_equal(inlen, 0);
}

static void test_get_out_of_memory_answers_an_error_never_a_miss(void **state)
{
    (void)state;
    static char req[1024];
    set_a();
    proto_session_reply(sess)->limit = 8192;
    int feeds;
    size_t peak;
    serve_all(req, get_line(req, "get", 40), &feeds, &peak);
    assert_string_equal(rbuf, "SERVER_ERROR out of memory writing get response\r\n");
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    /* The connection goes on, framing intact. */
    feed("get a\r\n");
    char want[600];
    get_reply(want, 1);
    assert_string_equal(replies(), want);
}

static void test_out_of_memory_elsewhere_keeps_earlier_replies_and_closes(void **state)
{
    (void)state;
    /* Room for VERSION, not for the stats. */
    proto_session_reply(sess)->limit = 2048;
    feed("version\r\nstats\r\nversion\r\n");
    assert_int_equal(last_status, PROTO_CLOSE);
    assert_string_equal(replies(), "VERSION 1.6.18\r\n");
}

static void test_binary_pipeline_stops_at_the_bound(void **state)
{
    (void)state;
    static char req[64 * 40];
    set_a();
    proto_session_reset(sess);      /* the next bytes pick binary */
    settings.reply_bound = 2048;
    size_t n = 0;
    for (int i = 0; i < 10; i++)
        n += pack(req + n, BIN_CMD_GETK, "a", NULL, 0, NULL, 0);
    int feeds;
    size_t peak;
    size_t len = serve_all(req, n, &feeds, &peak);
    assert_int_equal(len, 10 * (24 + 4 + 1 + 500));
    assert_true(feeds >= 3);
    assert_true(peak < 2048 + 600);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_text_is_picked_from_the_first_byte),
        T(test_binary_is_picked_from_0x80),
        T(test_meta_is_served_by_the_text_session),
        T(test_ascii_mode_reads_binary_as_a_text_line),
        T(test_binary_mode_closes_on_text),
        T(test_reset_forgets_the_protocol_picked),
        T(test_text_split_at_every_byte_gives_the_same_replies),
        T(test_binary_split_at_every_byte_gives_the_same_replies),
        T(test_reqs_per_event_yields_and_resumes),
        T(test_quit_closes_and_leaves_the_rest_unread),
        T(test_binary_quit_closes),
        T(test_refused_value_holds_the_reply_until_dropped),
        T(test_multiget_stops_at_the_bound_and_resumes_with_the_same_bytes),
        T(test_pipelined_requests_after_a_stopped_get_wait_their_turn),
        T(test_every_call_serves_a_key_even_past_the_bound),
        T(test_long_key_past_the_bound_answers_only_the_error),
        T(test_get_out_of_memory_answers_an_error_never_a_miss),
        T(test_out_of_memory_elsewhere_keeps_earlier_replies_and_closes),
        T(test_binary_pipeline_stops_at_the_bound),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
