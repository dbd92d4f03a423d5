/*
 * md5: MD5 as RFC 1321 describes it, one-shot over a buffer.
 *
 * Ketama placement hashes every key of a request and, once per run, a few
 * hundred server point names: all short, so there is no streaming API, and
 * the 64 sine constants are computed once on first use (2^32 |sin(i + 1)|,
 * exact in double precision) rather than spelled out in a table.
 */
#include "md5.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static uint32_t sine[64];
static pthread_once_t sine_once = PTHREAD_ONCE_INIT;

static const unsigned char shift[4][4] = {
    { 7, 12, 17, 22 }, { 5, 9, 14, 20 }, { 4, 11, 16, 23 }, { 6, 10, 15, 21 },
};

static void sine_init(void)
{
    for (int i = 0; i < 64; i++)
        sine[i] = (uint32_t)floor(4294967296.0 * fabs(sin((double)(i + 1))));
}

static uint32_t rotl(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* One 64-byte block into the state h[4]. */
static void md5_block(uint32_t h[4], const unsigned char *block)
{
    uint32_t m[16];
    for (int i = 0; i < 16; i++)
        m[i] = le32(block + 4 * i);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g, round = i / 16;
        switch (round) {
        case 0: f = (b & c) | (~b & d); g = i; break;
        case 1: f = (d & b) | (~d & c); g = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d; g = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d); g = (7 * i) % 16; break;
        }
        f += a + sine[i] + m[g];
        a = d;
        d = c;
        c = b;
        b += rotl(f, shift[round][i % 4]);
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
}

void md5_digest(const void *data, size_t len, unsigned char out[16])
{
    pthread_once(&sine_once, sine_init);
    uint32_t h[4] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 };
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; p += 64, left -= 64)
        md5_block(h, p);
    /* The tail, a 0x80 byte, zeros, and the length in bits: one block or two. */
    unsigned char tail[128] = { 0 };
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t n = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[n - 8 + i] = (unsigned char)(bits >> (8 * i));
    md5_block(h, tail);
    if (n == 128)
        md5_block(h, tail + 64);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (8 * j));
}
