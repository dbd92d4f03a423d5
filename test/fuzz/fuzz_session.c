/*
 * libFuzzer target: the whole request loop over a real cache, as a
 * connection drives it (server/conn.c): bytes in through proto_feed, split
 * at points the input chooses, unconsumed bytes kept for the next read,
 * replies taken in pieces as a socket would take them, -R yields, held
 * replies, drains and close all honoured.
 *
 * The first four bytes set the scene: protocol mode (auto, ascii, binary),
 * -Y or -S on, -R, a small reply bound, the clock advancing, -F, and the
 * seed of the split points (-C is the process's: MCD_FUZZ_NOCAS=1).  Replies must frame as their protocol
 * frames them; nothing may leak or crash (ASan, UBSan).
 */
#include "fuzz_common.h"
#include "session.h"

#define INBUF (PROTO_INPUT_MAX + 16384)

static char inbuf[INBUF];
static char replies[1 << 20];

static uint32_t next(uint32_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 17;
    *r ^= *r << 5;
    return *r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4 || size > 1 << 20)
        return 0;
    uint8_t c0 = data[0], c1 = data[1];
    uint32_t rnd = (uint32_t)data[2] << 8 | data[3] | 0x10000;
    data += 4;
    size -= 4;
    fuzz_settings_defaults();
    fuzz_settings.protocol = (enum proto_mode)(c0 % 3);
    if (c0 & 0x04)
        fuzz_settings.auth_ascii = fuzz_users;
    if (c0 & 0x08) {
        fuzz_settings.sasl = true;
        fuzz_settings.sasl_users = fuzz_users;
    }
    fuzz_settings.reqs_per_event = 1 + (c1 & 0x1f);
    if (c0 & 0x20)
        fuzz_settings.reply_bound = 64 + (size_t)(c1 >> 5) * 512;
    bool tick = c0 & 0x40;
    fuzz_settings.flush_enabled = !(c0 & 0x80);
    fuzz_cache_up();

    struct proto_session *s = proto_session_new(PROTO_STREAM);
    FUZZ_CHECK(s != NULL);
    struct reply *out = proto_session_reply(s);
    size_t fed = 0, have = 0, n = 0;
    bool binary = false, picked = false, closing = false;
    for (int turns = 0; turns < 200000; turns++) {
        /* Write what the socket takes this time. */
        size_t take = next(&rnd) % 4 == 0 ? next(&rnd) % 4096 : SIZE_MAX;
        fuzz_drain(out, replies, sizeof(replies), &n, take);
        if (!reply_empty(out))
            continue;               /* a full socket: nothing is served */
        if (closing)
            break;
        enum proto_status st;
        size_t used = proto_feed(s, &fuzz_env, inbuf, have, &st);
        FUZZ_CHECK(used <= have);
        if (!picked && have > 0) {
            picked = true;
            /* As session.c picks: -Y text, -S binary, else -B. */
            binary = fuzz_settings.auth_ascii == NULL &&
                     (fuzz_settings.sasl || fuzz_settings.protocol == PROTO_MODE_BINARY ||
                      (fuzz_settings.protocol == PROTO_MODE_AUTO && (uint8_t)inbuf[0] == 0x80));
        }
        memmove(inbuf, inbuf + used, have - used);
        have -= used;
        if (st == PROTO_CLOSE) {
            closing = true;
            continue;
        }
        if (st == PROTO_YIELD || st == PROTO_DRAIN)
            continue;
        /* Wants input (or holds): read a piece, as much as fits. */
        if (fed == size)
            break;
        size_t piece = 1 + next(&rnd) % 1500;
        if (piece > size - fed)
            piece = size - fed;
        if (piece > INBUF - have)
            break;          /* the transport would close: past every limit */
        memcpy(inbuf + have, data + fed, piece);
        have += piece;
        fed += piece;
        if (tick)
            fuzz_env.now += next(&rnd) % 3;
    }
    fuzz_drain(out, replies, sizeof(replies), &n, SIZE_MAX);
    if (n <= sizeof(replies)) {
        if (binary)
            fuzz_check_binary_replies(replies, n);
        else
            fuzz_check_text_replies(replies, n);
    }
    proto_session_free(s);
    fuzz_cache_down();
    return 0;
}
