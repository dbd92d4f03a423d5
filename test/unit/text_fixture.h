/* The protocol fixture with a text session and text_feed as a connection
 * drives it: for the text and meta unit tests. */
#ifndef MCD_TEST_TEXT_FIXTURE_H
#define MCD_TEST_TEXT_FIXTURE_H

#include "proto_fixture.h"
#include "text.h"

static struct text_session sess;

static inline int setup(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    return proto_setup();
}

static inline int teardown(void **state)
{
    (void)state;
    text_session_reset(&sess);
    proto_teardown();
    return 0;
}

static inline size_t text_serve(const char *buf, size_t len)
{
    return text_feed(&sess, &env, buf, len, &out, &last_status);
}

/* A read of n bytes: append them and serve; returns the bytes consumed. */
static inline size_t feed_n(const char *s, size_t n) { return fixture_feed(s, n, text_serve); }

static inline size_t feed(const char *s) { return feed_n(s, strlen(s)); }

/* Everything replied so far, gathered from the iovecs and consumed. */
static inline const char *replies(void)
{
    static char buf[1 << 16];
    struct iovec iov[16];
    size_t len = 0;
    while (!reply_empty(&out)) {
        int n = reply_iov(&out, iov, 16);
        size_t took = 0;
        for (int i = 0; i < n; i++) {
            assert_true(len + iov[i].iov_len < sizeof(buf));
            memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
            len += iov[i].iov_len;
            took += iov[i].iov_len;
        }
        reply_consumed(&out, took);
    }
    buf[len] = '\0';
    return buf;
}

#endif
