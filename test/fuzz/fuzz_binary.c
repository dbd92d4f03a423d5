/*
 * libFuzzer target: the binary protocol's parser.  The input is a stream
 * of binary requests (magic bytes forced to 0x80 where a header starts, so
 * the fuzzer spends its time past the magic check), fed to a binary
 * session over a fresh cache in pieces whose sizes the input's first byte
 * seeds; with the first byte's top bit, -S is on.  Replies must be whole
 * responses back to back, each with key and extras inside its body.
 */
#include "fuzz_common.h"
#include "binary.h"

static char replies[1 << 20];
static char work[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > sizeof(work))
        return 0;
    uint8_t cfg = data[0];
    memcpy(work, data + 1, size - 1);
    size--;
    /* Where each header would start if every request were well formed. */
    for (size_t p = 0; p + 24 <= size;) {
        work[p] = (char)0x80;
        uint32_t body = (uint32_t)(uint8_t)work[p + 8] << 24 | (uint32_t)(uint8_t)work[p + 9] << 16 |
                        (uint32_t)(uint8_t)work[p + 10] << 8 | (uint8_t)work[p + 11];
        if (body > size)
            break;
        p += 24 + body;
    }
    fuzz_settings_defaults();
    fuzz_settings.protocol = PROTO_MODE_BINARY;
    fuzz_settings.sasl = cfg & 0x80;
    fuzz_settings.sasl_users = fuzz_users;
    fuzz_settings.reqs_per_event = 1 + (cfg & 7);
    fuzz_cache_up();
    struct bin_session s;
    memset(&s, 0, sizeof(s));
    struct reply out;
    reply_init(&out);
    size_t pos = 0, avail = 0, n = 0;
    uint32_t rnd = cfg * 2654435761u + 1;
    enum proto_status st = PROTO_WANT_INPUT;
    for (int turns = 0; turns < 100000 && st != PROTO_CLOSE; turns++) {
        if (st == PROTO_WANT_INPUT || st == PROTO_HOLD) {
            if (avail == size)
                break;
            rnd = rnd * 1103515245u + 12345u;
            avail += 1 + (rnd >> 16) % 64;
            if (avail > size)
                avail = size;
        }
        size_t used = bin_feed(&s, &fuzz_env, work + pos, avail - pos, &out, &st);
        FUZZ_CHECK(used <= avail - pos);
        pos += used;
        fuzz_drain(&out, replies, sizeof(replies), &n, SIZE_MAX);
    }
    if (n <= sizeof(replies))
        fuzz_check_binary_replies(replies, n);
    bin_session_reset(&s);
    reply_reset(&out);
    reply_free(&out);
    fuzz_cache_down();
    return 0;
}
