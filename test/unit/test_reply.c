/* Unit tests of protocol/reply.c: the segment list a connection writes with
 * writev — text merged into one segment, values by reference, partial writes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "reply.h"
#include "slab.h"

/* Bytes of chunks items hold (pages stay with their class when freed). */
static uint64_t chunks_in_use(void)
{
    struct cache_stats st;
    cache_stats(&st);
    return st.malloced;
}

static struct reply r;

static int setup(void **state)
{
    (void)state;
    struct cache_options o = {
        .maxbytes = 8 * 1024 * 1024, .item_size_max = 1024 * 1024, .factor = 1.25,
        .min_chunk = 48, .hashpower = 8, .use_cas = true, .evict_to_free = true,
        .started = 1700000000,
    };
    reply_init(&r);
    return cache_setup(&o);
}

static int teardown(void **state)
{
    (void)state;
    reply_free(&r);
    cache_teardown();
    return 0;
}

/* An unlinked item whose value is "<val>\r\n"; its one reference is the caller's. */
static struct item *mk(const char *val)
{
    enum cache_status err;
    size_t n = strlen(val);
    struct item *it = cache_alloc("k", 1, 0, 0, n + 2, 1, &err);
    assert_non_null(it);
    memcpy(item_value(it), val, n);
    memcpy(item_value(it) + n, "\r\n", 2);
    return it;
}

static unsigned refs(struct item *it) { return atomic_load(&it->refcount); }

/* Append an item's whole value and hand the caller's reference over. */
static void add_item(struct item *it)
{
    reply_item(&r, it, item_value(it), item_vlen(it));
    item_unref(it);
}

/* Every unsent byte, as the iovecs describe it (without consuming). */
static const char *pending_bytes(void)
{
    static char buf[8192];
    struct iovec iov[64];
    int n = reply_iov(&r, iov, 64);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    buf[len] = '\0';
    return buf;
}

static void test_new_reply_is_empty(void **state)
{
    (void)state;
    assert_true(reply_empty(&r));
    assert_int_equal(reply_pending(&r), 0);
    struct iovec iov[4];
    assert_int_equal(reply_iov(&r, iov, 4), 0);
}

static void test_adjacent_text_merges_into_one_segment(void **state)
{
    (void)state;
    reply_add(&r, "STORED\r\n", 8);
    reply_str(&r, "DELETED\r\n");
    reply_printf(&r, "%d\r\n", 42);
    assert_int_equal(r.nsegs, 1);
    assert_int_equal(reply_pending(&r), 21);
    assert_string_equal(pending_bytes(), "STORED\r\nDELETED\r\n42\r\n");
}

static void test_empty_add_makes_no_segment(void **state)
{
    (void)state;
    reply_add(&r, "", 0);
    assert_int_equal(r.nsegs, 0);
    assert_true(reply_empty(&r));
}

static void test_item_value_is_its_own_segment_by_reference(void **state)
{
    (void)state;
    struct item *it = mk("hello");
    reply_str(&r, "VALUE k 0 5\r\n");
    add_item(it);
    reply_str(&r, "END\r\n");
    assert_int_equal(r.nsegs, 3);
    struct iovec iov[4];
    assert_int_equal(reply_iov(&r, iov, 4), 3);
    assert_ptr_equal(iov[1].iov_base, item_value(it));
    assert_int_equal(iov[1].iov_len, 7);
    assert_string_equal(pending_bytes(), "VALUE k 0 5\r\nhello\r\nEND\r\n");
}

static void test_item_at_the_reader_cap_is_copied_not_referenced(void **state)
{
    (void)state;
    struct item *it = mk("hello");
    atomic_store(&it->refcount, ITEM_READER_REFS_MAX);
    reply_str(&r, "VALUE k 0 5\r\n");
    reply_item(&r, it, item_value(it), item_vlen(it));
    reply_str(&r, "END\r\n");
    assert_int_equal(refs(it), ITEM_READER_REFS_MAX);
    assert_int_equal(r.nsegs, 1);       /* all text: the value was copied */
    assert_string_equal(pending_bytes(), "VALUE k 0 5\r\nhello\r\nEND\r\n");
    atomic_store(&it->refcount, 1);
    item_unref(it);
    reply_consumed(&r, reply_pending(&r));
    assert_int_equal(chunks_in_use(), 0);
}

static void test_printf_longer_than_the_buffer_grows_it(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    reply_str(&r, "A");
    reply_printf(&r, "<%s>", big);
    assert_int_equal(reply_pending(&r), 1 + 2 + 2999);
    const char *p = pending_bytes();
    assert_int_equal(p[0], 'A');
    assert_int_equal(p[1], '<');
    assert_int_equal(p[3001], '>');
    assert_int_equal(r.nsegs, 1);
}

static void test_consuming_releases_an_items_reference(void **state)
{
    (void)state;
    struct item *it = mk("v");
    item_ref(it);                       /* ours, to watch the count */
    add_item(it);
    assert_int_equal(refs(it), 2);
    reply_consumed(&r, 2);
    assert_int_equal(refs(it), 2);      /* not fully written yet */
    reply_consumed(&r, 1);
    assert_int_equal(refs(it), 1);
    assert_true(reply_empty(&r));
    item_unref(it);
}

static void test_reset_releases_unsent_references(void **state)
{
    (void)state;
    struct item *a = mk("a"), *b = mk("b");
    item_ref(a);
    item_ref(b);
    add_item(a);
    add_item(b);
    reply_consumed(&r, 3);              /* a is sent and released */
    assert_int_equal(refs(a), 1);
    reply_reset(&r);
    assert_int_equal(refs(a), 1);       /* not released twice */
    assert_int_equal(refs(b), 1);
    assert_true(reply_empty(&r));
    item_unref(a);
    item_unref(b);
}

static void test_rollback_drops_what_followed_the_mark(void **state)
{
    (void)state;
    struct item *it = mk("v");
    item_ref(it);
    reply_str(&r, "STORED\r\n");
    size_t mark = reply_mark(&r), buf_mark = r.len;
    reply_str(&r, "VALUE k 0 1\r\n");   /* merges into the STORED segment */
    add_item(it);
    reply_str(&r, "VALUE x 0 1\r\n");
    reply_rollback(&r, mark, buf_mark);
    assert_int_equal(refs(it), 1);
    assert_int_equal(r.nsegs, 1);
    assert_string_equal(pending_bytes(), "STORED\r\n");
    reply_str(&r, "CLIENT_ERROR bad command line format\r\n");
    assert_string_equal(pending_bytes(), "STORED\r\nCLIENT_ERROR bad command line format\r\n");
    item_unref(it);
}

static void test_rollback_to_an_empty_reply(void **state)
{
    (void)state;
    size_t mark = reply_mark(&r), buf_mark = r.len;
    reply_str(&r, "VALUE k 0 1\r\n");
    add_item(mk("v"));
    reply_rollback(&r, mark, buf_mark);
    assert_true(reply_empty(&r));
    assert_int_equal(chunks_in_use(), 0);
}

static void test_partial_write_resumes_mid_segment(void **state)
{
    (void)state;
    struct item *it = mk("hello");
    reply_str(&r, "VALUE k 0 5\r\n");
    add_item(it);
    reply_str(&r, "END\r\n");
    reply_consumed(&r, 6);
    assert_int_equal(reply_pending(&r), 25 - 6);
    assert_string_equal(pending_bytes(), "k 0 5\r\nhello\r\nEND\r\n");
    reply_consumed(&r, 7 + 3);          /* the header and "hel" */
    struct iovec iov[4];
    assert_int_equal(reply_iov(&r, iov, 4), 2);
    assert_ptr_equal(iov[0].iov_base, item_value(it) + 3);
    assert_int_equal(iov[0].iov_len, 4);
    assert_string_equal(pending_bytes(), "lo\r\nEND\r\n");
}

static void test_partial_write_across_segments(void **state)
{
    (void)state;
    struct item *it = mk("ab");
    reply_str(&r, "X\r\n");
    add_item(it);
    reply_str(&r, "Y\r\n");
    reply_consumed(&r, 3 + 4 + 1);      /* ends one byte into the last segment */
    assert_int_equal(r.sent_seg, 2);
    assert_int_equal(r.sent_off, 1);
    assert_string_equal(pending_bytes(), "\r\n");
}

static void test_iov_stops_at_max(void **state)
{
    (void)state;
    struct item *a = mk("a"), *b = mk("b");
    reply_str(&r, "1");
    add_item(a);
    reply_str(&r, "2");
    add_item(b);
    struct iovec iov[2];
    assert_int_equal(reply_iov(&r, iov, 2), 2);
    assert_int_equal(iov[0].iov_len, 1);
    assert_int_equal(iov[1].iov_len, 3);
}

static void test_text_after_a_partial_write_still_merges(void **state)
{
    (void)state;
    reply_str(&r, "ABCD");
    reply_consumed(&r, 2);
    reply_str(&r, "EF");
    assert_int_equal(r.nsegs, 1);
    assert_string_equal(pending_bytes(), "CDEF");
}

static void test_fully_sent_reply_reuses_its_buffer_from_the_start(void **state)
{
    (void)state;
    reply_str(&r, "first\r\n");
    char *buf = r.buf;
    reply_consumed(&r, 7);
    assert_true(reply_empty(&r));
    assert_int_equal(r.len, 0);
    assert_int_equal(r.nsegs, 0);
    reply_str(&r, "second\r\n");
    assert_ptr_equal(r.buf, buf);
    assert_string_equal(pending_bytes(), "second\r\n");
}

static void test_text_after_a_value_starts_a_new_segment(void **state)
{
    (void)state;
    struct item *it = mk("v");
    reply_str(&r, "A");
    add_item(it);
    reply_str(&r, "B");
    reply_str(&r, "C");
    assert_int_equal(r.nsegs, 3);
    assert_string_equal(pending_bytes(), "Av\r\nBC");
}

/* The next `len` bytes from the cursor, as reply_copy gives them. */
static const char *copy_next(struct reply_cursor *c, size_t len)
{
    static char buf[8192];
    size_t n = reply_copy(&r, c, buf, len);
    buf[n] = '\0';
    return buf;
}

static void test_copy_walks_text_and_values_in_order(void **state)
{
    (void)state;
    struct item *it = mk("hello");
    reply_str(&r, "VALUE k 0 5\r\n");
    add_item(it);
    reply_str(&r, "END\r\n");
    struct reply_cursor c;
    reply_cursor_start(&r, &c);
    assert_string_equal(copy_next(&c, 4), "VALU");
    assert_string_equal(copy_next(&c, 12), "E k 0 5\r\nhel");
    assert_string_equal(copy_next(&c, 100), "lo\r\nEND\r\n");
    assert_string_equal(copy_next(&c, 5), "");
}

static void test_copy_starts_at_the_first_unsent_byte(void **state)
{
    (void)state;
    reply_str(&r, "STORED\r\nDELETED\r\n");
    reply_consumed(&r, 8);
    struct reply_cursor c;
    reply_cursor_start(&r, &c);
    assert_string_equal(copy_next(&c, 7), "DELETED");
}

static void test_pending_counts_through_rollback_and_partial_writes(void **state)
{
    (void)state;
    struct item *it = mk("0123456789");
    reply_str(&r, "AAAA");
    size_t mark = reply_mark(&r), buf_mark = r.len;
    reply_str(&r, "BB");
    add_item(it);
    assert_int_equal(reply_pending(&r), 4 + 2 + 12);
    reply_rollback(&r, mark, buf_mark);
    assert_int_equal(reply_pending(&r), 4);
    reply_consumed(&r, 3);
    assert_int_equal(reply_pending(&r), 1);
    reply_str(&r, "CC");
    assert_int_equal(reply_pending(&r), 3);
    assert_string_equal(pending_bytes(), "ACC");
}

static void test_bounds_are_kept_only_when_tracking(void **state)
{
    (void)state;
    reply_boundary(&r, false);
    reply_str(&r, "A\r\n");
    assert_int_equal(r.nbounds, 0);
    r.track_bounds = true;
    reply_boundary(&r, false);
    reply_str(&r, "B\r\n");
    reply_boundary(&r, true);
    assert_int_equal(r.nbounds, 2);
    assert_int_equal(r.bounds[0].off, 3);
    assert_false(r.bounds[0].keep);
    assert_int_equal(r.bounds[1].off, 6);
    assert_true(r.bounds[1].keep);
}

static void test_rollback_drops_bounds_past_the_mark(void **state)
{
    (void)state;
    r.track_bounds = true;
    reply_boundary(&r, false);
    reply_str(&r, "A\r\n");
    size_t mark = reply_mark(&r), buf_mark = r.len;
    reply_boundary(&r, true);
    reply_str(&r, "B\r\n");
    reply_boundary(&r, true);
    reply_rollback(&r, mark, buf_mark);
    /* A bound at the mark itself still starts the next response. */
    assert_int_equal(r.nbounds, 2);
    assert_int_equal(r.bounds[1].off, 3);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_new_reply_is_empty),
        T(test_adjacent_text_merges_into_one_segment),
        T(test_empty_add_makes_no_segment),
        T(test_item_value_is_its_own_segment_by_reference),
        T(test_item_at_the_reader_cap_is_copied_not_referenced),
        T(test_printf_longer_than_the_buffer_grows_it),
        T(test_consuming_releases_an_items_reference),
        T(test_reset_releases_unsent_references),
        T(test_rollback_drops_what_followed_the_mark),
        T(test_rollback_to_an_empty_reply),
        T(test_partial_write_resumes_mid_segment),
        T(test_partial_write_across_segments),
        T(test_iov_stops_at_max),
        T(test_text_after_a_partial_write_still_merges),
        T(test_fully_sent_reply_reuses_its_buffer_from_the_start),
        T(test_text_after_a_value_starts_a_new_segment),
        T(test_copy_walks_text_and_values_in_order),
        T(test_copy_starts_at_the_first_unsent_byte),
        T(test_pending_counts_through_rollback_and_partial_writes),
        T(test_bounds_are_kept_only_when_tracking),
        T(test_rollback_drops_bounds_past_the_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
