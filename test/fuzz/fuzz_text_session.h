/*
 * fuzz_text_session: the text targets' (text, meta) run of a whole input
 * through text_feed over a real cache.
 */
#ifndef MCD_FUZZ_TEXT_SESSION_H
#define MCD_FUZZ_TEXT_SESSION_H

#include "fuzz_common.h"
#include "text.h"

/* The whole input as one read of a text session over a fresh cache: fed as
 * a connection serves a read, until it wants input or closes; the replies
 * must end with a whole line. */
static inline void fuzz_text_session(const char *in, size_t size)
{
    static char replies[1 << 20];
    fuzz_settings_defaults();
    fuzz_settings.protocol = PROTO_MODE_ASCII;
    fuzz_cache_up();
    struct text_session s;
    memset(&s, 0, sizeof(s));
    struct reply out;
    reply_init(&out);
    size_t pos = 0, n = 0;
    enum proto_status st = PROTO_WANT_INPUT;
    for (int turns = 0; turns < 10000; turns++) {
        size_t used = text_feed(&s, &fuzz_env, in + pos, size - pos, &out, &st);
        FUZZ_CHECK(used <= size - pos);
        pos += used;
        fuzz_drain(&out, replies, sizeof(replies), &n, SIZE_MAX);
        if (st == PROTO_CLOSE || st == PROTO_WANT_INPUT || st == PROTO_HOLD)
            break;
    }
    if (n <= sizeof(replies))
        fuzz_check_text_replies(replies, n);
    text_session_reset(&s);
    reply_reset(&out);
    reply_free(&out);
    fuzz_cache_down();
}

#endif
