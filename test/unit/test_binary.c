/* Unit tests of the binary protocol: header coding, and bin_feed over a real
 * (small) cache, fed in pieces as a socket delivers them, replies decoded
 * and checked against what memcached 1.6.18 sends. */
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

static struct bin_session sess;

static int setup(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    return proto_setup();
}

static int teardown(void **state)
{
    (void)state;
    bin_session_reset(&sess);
    proto_teardown();
    return 0;
}

/* A request packet; returns its length. */
static size_t pack(char *buf, uint8_t op, const char *key, const char *ext, size_t next,
                   const char *val, size_t nval, uint32_t opaque, uint64_t cas)
{
    size_t nkey = key ? strlen(key) : 0;
    char h[BIN_HEADER_LEN];
    /* A response header is a request header with another magic and a status. */
    bin_write_header(h, op, 0, (uint16_t)nkey, (uint8_t)next, (uint32_t)(next + nkey + nval),
                     opaque, cas);
    h[0] = (char)BIN_REQ_MAGIC;
    memcpy(buf, h, sizeof(h));
    if (next > 0)
        memcpy(buf + 24, ext, next);
    if (nkey > 0)
        memcpy(buf + 24 + next, key, nkey);
    if (nval > 0)
        memcpy(buf + 24 + next + nkey, val, nval);
    return 24 + next + nkey + nval;
}

static size_t pack_simple(char *buf, uint8_t op, const char *key)
{
    return pack(buf, op, key, NULL, 0, NULL, 0, 0, 0);
}

static size_t pack_set(char *buf, uint8_t op, const char *key, const char *val, uint32_t flags,
                       uint64_t cas)
{
    char ext[8] = { (char)(flags >> 24), (char)(flags >> 16), (char)(flags >> 8), (char)flags,
                    0, 0, 0, 0 };
    return pack(buf, op, key, ext, 8, val, strlen(val), 0xabcd, cas);
}

static size_t pack_incr(char *buf, uint8_t op, const char *key, uint64_t delta,
                        uint64_t initial, uint32_t exptime)
{
    char ext[20];
    for (int i = 0; i < 8; i++) {
        ext[i] = (char)(delta >> (56 - 8 * i));
        ext[8 + i] = (char)(initial >> (56 - 8 * i));
    }
    for (int i = 0; i < 4; i++)
        ext[16 + i] = (char)(exptime >> (24 - 8 * i));
    return pack(buf, op, key, ext, 20, NULL, 0, 7, 0);
}

static size_t bin_serve(const char *buf, size_t len)
{
    return bin_feed(&sess, &env, buf, len, &out, &last_status);
}

/* A read of n bytes: append them and serve; returns the bytes consumed. */
static size_t feed_n(const char *s, size_t n) { return fixture_feed(s, n, bin_serve); }

/* The reply packets so far, decoded. */
struct pkt {
    struct bin_header h;        /* magic 0x81; vbucket holds the status */
    const char *ext, *key, *val;
    size_t nval;
};

static char rbuf[1 << 16];

static int replies(struct pkt *p, int max)
{
    struct iovec iov[16];
    size_t len = 0;
    while (!reply_empty(&out)) {
        int n = reply_iov(&out, iov, 16);
        size_t took = 0;
        for (int i = 0; i < n; i++) {
            assert_true(len + iov[i].iov_len <= sizeof(rbuf));
            memcpy(rbuf + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            took += iov[i].iov_len;
        }
        reply_consumed(&out, took);
    }
    int count = 0;
    for (size_t off = 0; off < len; count++) {
        assert_true(count < max);
        assert_true(len - off >= BIN_HEADER_LEN);
        bin_parse_header(rbuf + off, &p[count].h);
        assert_int_equal(p[count].h.magic, BIN_RES_MAGIC);
        p[count].ext = rbuf + off + 24;
        p[count].key = p[count].ext + p[count].h.extlen;
        p[count].val = p[count].key + p[count].h.keylen;
        p[count].nval = p[count].h.bodylen - p[count].h.keylen - p[count].h.extlen;
        off += 24 + p[count].h.bodylen;
        assert_true(off <= len);
    }
    return count;
}

static void assert_pkt(const struct pkt *p, uint8_t op, uint16_t status, const char *val)
{
    assert_int_equal(p->h.opcode, op);
    assert_int_equal(p->h.vbucket, status);
    if (val != NULL) {
        assert_int_equal(p->nval, strlen(val));
        assert_memory_equal(p->val, val, p->nval);
    }
}

static void test_header_decoded_from_network_order(void **state)
{
    (void)state;
    const char raw[24] = { (char)0x80, 0x01, 0x01, 0x02, 0x08, 0x00, 0x00, 0x05,
                           0x00, 0x01, 0x00, 0x03, (char)0xde, (char)0xad, (char)0xbe,
                           (char)0xef, 0, 0, 0, 0, 0, 0, 0x12, 0x34 };
    struct bin_header h;
    bin_parse_header(raw, &h);
    assert_int_equal(h.magic, 0x80);
    assert_int_equal(h.opcode, BIN_CMD_SET);
    assert_int_equal(h.keylen, 0x0102);
    assert_int_equal(h.extlen, 8);
    assert_int_equal(h.vbucket, 5);
    assert_int_equal(h.bodylen, 0x10003);
    assert_int_equal(h.opaque, 0xdeadbeef);
    assert_int_equal(h.cas, 0x1234);
}

static void test_response_header_encoded_in_network_order(void **state)
{
    (void)state;
    char h[24];
    bin_write_header(h, BIN_CMD_GETK, BIN_KEY_ENOENT, 3, 4, 0x01020304, 0xa1b2c3d4,
                     0x1122334455667788ULL);
    const char want[24] = { (char)0x81, 0x0c, 0x00, 0x03, 0x04, 0x00, 0x00, 0x01,
                            0x01, 0x02, 0x03, 0x04, (char)0xa1, (char)0xb2, (char)0xc3,
                            (char)0xd4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, (char)0x88 };
    assert_memory_equal(h, want, 24);
}

static void test_short_header_and_missing_key_wait(void **state)
{
    (void)state;
    char req[64];
    size_t n = pack_simple(req, BIN_CMD_GET, "abc");
    assert_int_equal(feed_n(req, 23), 0);
    assert_int_equal(feed_n(req + 23, 3), 0);   /* header, but not all of the key */
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 0);
    assert_int_equal(feed_n(req + 26, n - 26), n);
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_GET, BIN_KEY_ENOENT, "Not found");
}

static void test_set_fed_byte_by_byte_is_stored_with_crlf(void **state)
{
    (void)state;
    char req[128];
    size_t n = pack_set(req, BIN_CMD_SET, "key", "value", 0x0a0b0c0d, 0);
    for (size_t i = 0; i < n; i++)
        feed_n(req + i, 1);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_SET, BIN_OK, "");
    assert_int_equal(p[0].h.opaque, 0xabcd);
    struct cache_fetch f;
    assert_true(cache_peek("key", 3, env.now, &f));
    assert_int_equal(f.vlen, 5);
    assert_int_equal(f.flags, 0x0a0b0c0d);
    assert_int_equal(p[0].h.cas, f.cas);
    assert_int_equal(counter_get(&counters.cls[f.cls].cmd_set), 1);
}

static void test_get_answers_flags_value_and_cas(void **state)
{
    (void)state;
    char req[256];
    size_t n = pack_set(req, BIN_CMD_SET, "k", "v1", 9, 0);
    n += pack(req + n, BIN_CMD_GETK, "k", NULL, 0, NULL, 0, 0x55, 0);
    feed_n(req, n);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 2);
    assert_pkt(&p[1], BIN_CMD_GETK, BIN_OK, "v1");
    assert_int_equal(p[1].h.extlen, 4);
    assert_memory_equal(p[1].ext, "\0\0\0\x09", 4);
    assert_int_equal(p[1].h.keylen, 1);
    assert_memory_equal(p[1].key, "k", 1);
    assert_int_equal(p[1].h.opaque, 0x55);
    assert_int_equal(p[1].h.cas, p[0].h.cas);
    assert_int_equal(counter_get(&counters.cmd_get), 1);
}

static void test_quiet_pipeline_answers_hits_and_the_noop(void **state)
{
    (void)state;
    char req[512];
    size_t n = pack_set(req, BIN_CMD_SETQ, "a", "1", 0, 0);
    n += pack_simple(req + n, BIN_CMD_GETKQ, "a");
    n += pack_simple(req + n, BIN_CMD_GETKQ, "missing");
    n += pack_simple(req + n, BIN_CMD_GETQ, "missing");
    n += pack_simple(req + n, BIN_CMD_DELETEQ, "a");
    n += pack_simple(req + n, BIN_CMD_NOOP, NULL);
    assert_int_equal(feed_n(req, n), n);
    struct pkt p[8];
    assert_int_equal(replies(p, 8), 2);
    assert_pkt(&p[0], BIN_CMD_GETKQ, BIN_OK, "1");
    assert_pkt(&p[1], BIN_CMD_NOOP, BIN_OK, "");
    assert_int_equal(counter_get(&counters.get_misses), 2);
}

static void test_quiet_commands_still_send_errors(void **state)
{
    (void)state;
    char req[512];
    size_t n = pack_set(req, BIN_CMD_SET, "a", "1", 0, 0);
    n += pack_set(req + n, BIN_CMD_ADDQ, "a", "2", 0, 0);
    n += pack_simple(req + n, BIN_CMD_DELETEQ, "nope");
    n += pack_set(req + n, BIN_CMD_REPLACEQ, "nope", "2", 0, 0);
    feed_n(req, n);
    struct pkt p[8];
    assert_int_equal(replies(p, 8), 4);
    assert_pkt(&p[1], BIN_CMD_ADDQ, BIN_KEY_EEXISTS, "Data exists for key.");
    assert_pkt(&p[2], BIN_CMD_DELETEQ, BIN_KEY_ENOENT, "Not found");
    assert_pkt(&p[3], BIN_CMD_REPLACEQ, BIN_KEY_ENOENT, "Not found");
}

static void test_cas_mismatch_is_exists_and_match_stores(void **state)
{
    (void)state;
    char req[256];
    feed_n(req, pack_set(req, BIN_CMD_SET, "c", "1", 0, 0));
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    uint64_t cas = p[0].h.cas;
    feed_n(req, pack_set(req, BIN_CMD_SET, "c", "2", 0, cas + 1000));
    feed_n(req, pack_set(req, BIN_CMD_SET, "c", "3", 0, cas));
    assert_int_equal(replies(p, 4), 2);
    assert_pkt(&p[0], BIN_CMD_SET, BIN_KEY_EEXISTS, NULL);
    assert_pkt(&p[1], BIN_CMD_SET, BIN_OK, "");
    assert_true(p[1].h.cas != cas);
}

static void test_incr_creates_with_initial_unless_told_not_to(void **state)
{
    (void)state;
    char req[256];
    size_t n = pack_incr(req, BIN_CMD_INCREMENT, "n", 5, 10, BIN_NO_CREATE);
    n += pack_incr(req + n, BIN_CMD_INCREMENT, "n", 5, 10, 0);
    n += pack_incr(req + n, BIN_CMD_INCREMENT, "n", 5, 10, 0);
    n += pack_incr(req + n, BIN_CMD_DECREMENT, "n", 100, 10, 0);
    feed_n(req, n);
    struct pkt p[8];
    assert_int_equal(replies(p, 8), 4);
    assert_pkt(&p[0], BIN_CMD_INCREMENT, BIN_KEY_ENOENT, "Not found");
    const char *want[] = { "\0\0\0\0\0\0\0\x0a", "\0\0\0\0\0\0\0\x0f",
                           "\0\0\0\0\0\0\0\0" };
    for (int i = 1; i <= 3; i++) {
        assert_pkt(&p[i], i < 3 ? BIN_CMD_INCREMENT : BIN_CMD_DECREMENT, BIN_OK, NULL);
        assert_int_equal(p[i].nval, 8);     /* the new value, 64 bits big-endian */
        assert_memory_equal(p[i].val, want[i - 1], 8);
    }
    assert_true(p[1].h.cas != 0 && p[2].h.cas != p[1].h.cas);
    assert_int_equal(counter_get(&counters.incr_misses), 1);
}

static void test_incr_on_text_is_delta_badval(void **state)
{
    (void)state;
    char req[256];
    size_t n = pack_set(req, BIN_CMD_SET, "x", "abc", 0, 0);
    n += pack_incr(req + n, BIN_CMD_INCREMENTQ, "x", 1, 0, 0);
    feed_n(req, n);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 2);
    assert_pkt(&p[1], BIN_CMD_INCREMENTQ, BIN_DELTA_BADVAL,
               "Non-numeric server-side value for incr or decr");
}

static void test_bad_magic_closes_and_drops_replies_after_the_last_noop(void **state)
{
    (void)state;
    char req[256];
    size_t n = pack_simple(req, BIN_CMD_NOOP, NULL);
    n += pack_simple(req + n, BIN_CMD_GET, "a");
    n += pack_simple(req + n, BIN_CMD_NOOP, NULL);
    req[n - 24] = (char)0x81;
    feed_n(req, n);
    assert_true(sess.close);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_NOOP, BIN_OK, "");
}

static void test_long_key_is_einval_and_close(void **state)
{
    (void)state;
    char key[252], req[512];
    memset(key, 'k', 251);
    key[251] = '\0';
    feed_n(req, pack_simple(req, BIN_CMD_GET, key));
    assert_true(sess.close);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_GET, BIN_EINVAL, "Invalid arguments");
}

static void test_wrong_shape_is_einval_and_close(void **state)
{
    (void)state;
    char req[256];
    feed_n(req, pack(req, BIN_CMD_GET, "a", "1234", 4, NULL, 0, 0, 0));
    assert_true(sess.close);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_GET, BIN_EINVAL, "Invalid arguments");
}

static void test_unknown_command_swallows_bodylen_after_the_key(void **state)
{
    (void)state;
    char req[256];
    size_t n = pack(req, 0x41, "key", NULL, 0, "vvv", 3, 0, 0);
    /* bodylen is 6: the 3 value bytes and 3 more, as memcached counts. */
    assert_int_equal(feed_n(req, n), n);
    assert_int_equal(last_status, PROTO_HOLD);
    assert_int_equal(feed_n("abc", 3), 3);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    size_t m = pack_simple(req, BIN_CMD_NOOP, NULL);
    assert_int_equal(feed_n(req, m), m);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 2);
    assert_pkt(&p[0], 0x41, BIN_UNKNOWN_COMMAND, "Unknown command");
    assert_pkt(&p[1], BIN_CMD_NOOP, BIN_OK, "");
}

/* bin_feed looks ahead at the headers after the request it serves, to
 * prefetch their keys; a body swallowed past its key moves the next request
 * elsewhere than the header said, and the answers must not change. */
static void test_requests_after_a_swallowed_body_are_served_in_one_feed(void **state)
{
    (void)state;
    char req[512];
    feed_n(req, pack_set(req, BIN_CMD_SET, "k", "v1", 0, 0));
    struct pkt p[8];
    assert_int_equal(replies(p, 8), 1);
    size_t n = pack(req, 0x41, "key", NULL, 0, "vvv", 3, 0, 0);
    memcpy(req + n, "abc", 3);
    n += 3;
    n += pack_simple(req + n, BIN_CMD_GETK, "k");
    n += pack_simple(req + n, BIN_CMD_GETKQ, "k");
    n += pack_simple(req + n, BIN_CMD_NOOP, NULL);
    assert_int_equal(feed_n(req, n), n);
    assert_int_equal(replies(p, 8), 4);
    assert_pkt(&p[0], 0x41, BIN_UNKNOWN_COMMAND, "Unknown command");
    assert_pkt(&p[1], BIN_CMD_GETK, BIN_OK, "v1");
    assert_pkt(&p[2], BIN_CMD_GETKQ, BIN_OK, "v1");
    assert_pkt(&p[3], BIN_CMD_NOOP, BIN_OK, "");
}

/* Values up to 512 bytes are copied into the reply, larger ones referenced. */
static void test_small_values_are_copied_large_ones_referenced(void **state)
{
    (void)state;
    static char req[2048], big[601];
    memset(big, 'b', 600);
    size_t n = pack_set(req, BIN_CMD_SETQ, "s", "small", 0, 0);
    n += pack_set(req + n, BIN_CMD_SETQ, "b", big, 0, 0);
    n += pack_simple(req + n, BIN_CMD_GET, "s");
    feed_n(req, n);
    for (size_t i = out.sent_seg; i < out.nsegs; i++)
        assert_null(out.segs[i].it);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_GET, BIN_OK, "small");
    feed_n(req, pack_simple(req, BIN_CMD_GET, "b"));
    int refs = 0;
    for (size_t i = out.sent_seg; i < out.nsegs; i++)
        refs += out.segs[i].it != NULL;
    assert_int_equal(refs, 1);
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_GET, BIN_OK, big);
}

static void test_too_large_value_is_swallowed_then_e2big(void **state)
{
    (void)state;
    static char req[1100 * 1024];
    static char val[1024 * 1024 + 1];
    memset(val, 'x', sizeof(val) - 1);
    size_t n = pack_set(req, BIN_CMD_SETQ, "big", val, 0, 0);
    assert_int_equal(feed_n(req, 1000), 1000);
    assert_int_equal(last_status, PROTO_HOLD);
    assert_int_equal(feed_n(req + 1000, n - 1000), n - 1000);
    assert_int_equal(last_status, PROTO_WANT_INPUT);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_SETQ, BIN_E2BIG, "Too large.");
}

/* memcached's out_of_memory(): the text line without "SERVER_ERROR ". */
static void test_full_cache_under_M_is_enomem_with_memcacheds_message(void **state)
{
    (void)state;
    cache_teardown();
    struct cache_options o = {
        .maxbytes = 2 * 1024 * 1024, .item_size_max = 1024 * 1024, .factor = 1.25,
        .min_chunk = 48, .hashpower = 10, .use_cas = true, .evict_to_free = false,
        .started = 1700000000,
    };
    assert_int_equal(cache_setup(&o), 0);
    static char req[1100 * 1024];
    static char val[100 * 1024 + 1];
    memset(val, 'x', sizeof(val) - 1);
    struct pkt p[4];
    for (int i = 0; i < 1000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        feed_n(req, pack_set(req, BIN_CMD_SET, key, val, 0, 0));
        assert_int_equal(replies(p, 4), 1);
        if (p[0].h.vbucket != BIN_OK)
            break;
    }
    assert_pkt(&p[0], BIN_CMD_SET, BIN_ENOMEM, "Out of memory allocating item");
    /* The value was swallowed: the connection goes on. */
    char noop[24];
    feed_n(noop, pack_simple(noop, BIN_CMD_NOOP, NULL));
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_NOOP, BIN_OK, "");
}

static void test_flush_disabled_is_auth_error(void **state)
{
    (void)state;
    settings.flush_enabled = false;
    char req[64];
    feed_n(req, pack_simple(req, BIN_CMD_FLUSHQ, NULL));
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_FLUSHQ, BIN_AUTH_ERROR, "Auth failure.");
}

static void test_stat_packets_end_with_an_empty_one(void **state)
{
    (void)state;
    char req[64];
    feed_n(req, pack(req, BIN_CMD_STAT, "sizes", NULL, 0, NULL, 0, 99, 0));
    feed_n(req, pack(req, BIN_CMD_STAT, "reset", NULL, 0, NULL, 0, 98, 0));
    feed_n(req, pack(req, BIN_CMD_STAT, "conns", NULL, 0, NULL, 0, 97, 0));
    struct pkt p[8];
    assert_int_equal(replies(p, 8), 4);
    assert_pkt(&p[0], BIN_CMD_STAT, BIN_OK, "disabled");
    assert_memory_equal(p[0].key, "sizes_status", 12);
    assert_int_equal(p[0].h.opaque, 99);
    assert_int_equal(p[1].h.bodylen, 0);
    assert_int_equal(p[2].h.bodylen, 0);       /* reset: the terminator alone */
    assert_int_equal(p[2].h.opaque, 98);
    assert_int_equal(calls.stats_reset, 1);
    assert_pkt(&p[3], BIN_CMD_STAT, BIN_KEY_ENOENT, "Not found");
}

static void test_quit_answers_and_closes_quitq_only_closes(void **state)
{
    (void)state;
    char req[64];
    feed_n(req, pack_simple(req, BIN_CMD_QUIT, NULL));
    assert_true(sess.close);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 1);
    assert_pkt(&p[0], BIN_CMD_QUIT, BIN_OK, "");
    bin_session_reset(&sess);
    feed_n(req, pack_simple(req, BIN_CMD_QUITQ, NULL));
    assert_true(sess.close);
    assert_int_equal(replies(p, 4), 0);
}

static void test_reqs_per_event_yields_with_bytes_left(void **state)
{
    (void)state;
    settings.reqs_per_event = 2;
    char req[256];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        n += pack_simple(req + n, BIN_CMD_NOOP, NULL);
    assert_int_equal(feed_n(req, n), 48);
    assert_int_equal(last_status, PROTO_YIELD);
    assert_int_equal(counter_get(&counters.conn_yields), 1);
    assert_int_equal(feed_n(req, 0), 24);
    struct pkt p[4];
    assert_int_equal(replies(p, 4), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_decoded_from_network_order),
        cmocka_unit_test(test_response_header_encoded_in_network_order),
        cmocka_unit_test_setup_teardown(test_short_header_and_missing_key_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_fed_byte_by_byte_is_stored_with_crlf, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_get_answers_flags_value_and_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_pipeline_answers_hits_and_the_noop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_quiet_commands_still_send_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas_mismatch_is_exists_and_match_stores, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incr_creates_with_initial_unless_told_not_to, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_incr_on_text_is_delta_badval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic_closes_and_drops_replies_after_the_last_noop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_key_is_einval_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_shape_is_einval_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_after_a_swallowed_body_are_served_in_one_feed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_values_are_copied_large_ones_referenced,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_command_swallows_bodylen_after_the_key,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_large_value_is_swallowed_then_e2big, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_cache_under_M_is_enomem_with_memcacheds_message,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_disabled_is_auth_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat_packets_end_with_an_empty_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit_answers_and_closes_quitq_only_closes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reqs_per_event_yields_with_bytes_left, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
