/*
 * persist_format: the layout of a warm-restart file, little-endian:
 *
 *   header   128 bytes  "mcdwarm\n", format version, header size, build
 *                       (mcd's version and a hash of its executable), -m,
 *                       -I, -f, -n, slab_chunk_max, CAS on, wall-clock time
 *                       of the save; CRC32C of the first 124 bytes last
 *   blocks   each       "mblk", payload length, record count, checksum
 *                       of the payload (CRC32C lanes, below); then the
 *                       payload: whole records
 *   trailer  56 bytes   "mcdend\n\0", items, blocks, bytes of blocks, sum of
 *                       the blocks' CRCs, largest CAS; CRC32C of the rest
 *
 * A record is 32 bytes of header (key length, marks, client flags, value
 * length, seconds of TTL left and seconds idle at the save, CAS), the key
 * and the value.  Times are kept relative to the save, so a load needs only
 * the wall-clock time that passed since (the header's) to know what is left
 * of each TTL, whatever the new process's clock says.
 *
 * Blocks carry their own checksums and the trailer only an order-free sum
 * of them, so the writer may write blocks from several threads at offsets
 * it reserves, and a reader checks every block before trusting any.  A file
 * cut short has no valid trailer where its size says; a block lost or
 * duplicated changes the trailer's counts.
 *
 * CRC32C, not a cryptographic hash: it guards against torn writes, bit rot
 * and truncation, not against someone who may write the file (who could
 * write the cache through the protocol anyway).  SSE4.2 computes it where
 * the processor has it; elsewhere a table does.  The header and trailer
 * carry a plain CRC32C; a block, which the save and the load both read
 * once in full (a gigabyte of them is common), carries the CRC32C of four
 * lanes' CRC32Cs, lane k holding the payload's 8-byte words k, k+4, k+8,
 * ...: one chain of crc32 instructions waits three cycles for each word,
 * four chains take one (format version 2; version 1 had one chain).  Any
 * burst of up to 32 bits still falls within two words, so changes at most
 * two lanes, each of which catches it.
 */
#include "persist_format.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

static const char header_magic[8] = { 'm', 'c', 'd', 'w', 'a', 'r', 'm', '\n' };
static const char trailer_magic[8] = { 'm', 'c', 'd', 'e', 'n', 'd', '\n', '\0' };
static const char block_magic[4] = { 'm', 'b', 'l', 'k' };

/* --- CRC32C ----------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slice-by-8 over the table. */
static uint32_t crc_soft(uint32_t c, const uint8_t *p, size_t n)
{
    pthread_once(&crc_table_once, crc_table_init);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
            crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
            crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n-- > 0)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

static _Atomic bool use_table;

void persist_crc_use_table(bool on) { atomic_store(&use_table, on); }

static bool have_hw(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2") && !atomic_load_explicit(&use_table,
                                                                     memory_order_relaxed);
#else
    return false;
#endif
}

/* One lane's (or one plain) CRC32C register over n bytes, uninverted. */
static uint32_t crc_run(uint32_t c, const uint8_t *p, size_t n)
{
#if defined(__x86_64__)
    if (have_hw())
        return crc_hw(c, p, n);
#endif
    return crc_soft(c, p, n);
}

uint32_t persist_crc32c(uint32_t crc, const void *buf, size_t n)
{
    return ~crc_run(~crc, buf, n);
}

/* --- block checksum: CRC32C lanes ---------------------------------------- */

#define LANE_STRIDE (8 * PERSIST_CRC_LANES)

void persist_crc_init(struct persist_crc *c)
{
    for (int i = 0; i < PERSIST_CRC_LANES; i++)
        c->lane[i] = ~0u;
    c->bytes = 0;
}

/* Feed bytes to their lane up to the end of the current word, or of the
 * data, with the table: how many were taken.  A lane's register is the
 * same whether its words come whole or in pieces. */
static size_t lane_step(struct persist_crc *c, const uint8_t *p, size_t n)
{
    size_t take = 8 - (size_t)(c->bytes % 8);
    if (take > n)
        take = n;
    unsigned lane = (unsigned)(c->bytes / 8 % PERSIST_CRC_LANES);
    c->lane[lane] = crc_soft(c->lane[lane], p, take);
    c->bytes += take;
    return take;
}

#if defined(__x86_64__)
/* Feed up to the end of the current word (or of the data) to its lane,
 * whole or in 4-, 2- and 1-byte steps: how many bytes were taken. */
__attribute__((target("sse4.2"))) static inline size_t lane_part_hw(uint32_t *lane,
                                                                    uint64_t at,
                                                                    const uint8_t *p,
                                                                    size_t n)
{
    size_t take = 8 - (size_t)(at % 8);
    if (take > n)
        take = n;
    uint32_t c = *lane;
    size_t k = 0;
    if (take == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        *lane = (uint32_t)_mm_crc32_u64(c, v);
        return 8;
    }
    if (take - k >= 4) {
        uint32_t v;
        memcpy(&v, p + k, 4);
        c = _mm_crc32_u32(c, v);
        k += 4;
    }
    if (take - k >= 2) {
        uint16_t v;
        memcpy(&v, p + k, 2);
        c = _mm_crc32_u16(c, v);
        k += 2;
    }
    if (take - k >= 1)
        c = _mm_crc32_u8(c, p[k]);
    *lane = c;
    return take;
}

/* persist_crc_add with the crc32 instruction: the edges of the data word
 * by word, the rest a stride at a time, four independent chains. */
__attribute__((target("sse4.2"))) static void lanes_hw(struct persist_crc *c, const uint8_t *p,
                                                       size_t n)
{
    uint64_t at = c->bytes;
    while (n > 0 && at % LANE_STRIDE != 0) {
        size_t k = lane_part_hw(&c->lane[at / 8 % PERSIST_CRC_LANES], at, p, n);
        p += k, n -= k, at += k;
    }
    _Static_assert(PERSIST_CRC_LANES == 4, "lanes_hw deals words to four lanes");
    uint64_t l0 = c->lane[0], l1 = c->lane[1], l2 = c->lane[2], l3 = c->lane[3];
    for (; n >= LANE_STRIDE; p += LANE_STRIDE, n -= LANE_STRIDE, at += LANE_STRIDE) {
        /* Four scalar loads: read as one array, the words went through
         * the stack (vector loads, then a store-forwarded crc32 each). */
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        memcpy(&w2, p + 16, 8);
        memcpy(&w3, p + 24, 8);
        l0 = _mm_crc32_u64(l0, w0);
        l1 = _mm_crc32_u64(l1, w1);
        l2 = _mm_crc32_u64(l2, w2);
        l3 = _mm_crc32_u64(l3, w3);
    }
    c->lane[0] = (uint32_t)l0;
    c->lane[1] = (uint32_t)l1;
    c->lane[2] = (uint32_t)l2;
    c->lane[3] = (uint32_t)l3;
    while (n > 0) {
        size_t k = lane_part_hw(&c->lane[at / 8 % PERSIST_CRC_LANES], at, p, n);
        p += k, n -= k, at += k;
    }
    c->bytes = at;
}
#endif

void persist_crc_add(struct persist_crc *c, const void *buf, size_t n)
{
    const uint8_t *p = buf;
#if defined(__x86_64__)
    if (have_hw()) {
        lanes_hw(c, p, n);
        return;
    }
#endif
    while (n > 0) {
        size_t k = lane_step(c, p, n);
        p += k;
        n -= k;
    }
}

uint32_t persist_crc_value(const struct persist_crc *c)
{
    uint8_t lanes[4 * PERSIST_CRC_LANES];
    for (int i = 0; i < PERSIST_CRC_LANES; i++) {
        uint32_t v = ~c->lane[i];
        for (int k = 0; k < 4; k++)
            lanes[4 * i + k] = (uint8_t)(v >> (8 * k));
    }
    return persist_crc32c(0, lanes, sizeof(lanes));
}

uint32_t persist_block_crc(const void *buf, size_t n)
{
    struct persist_crc c;
    persist_crc_init(&c);
    persist_crc_add(&c, buf, n);
    return persist_crc_value(&c);
}

/* --- little-endian fields ----------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* --- header --------------------------------------------------------------- */

const char *persist_verdict_str(enum persist_verdict v)
{
    switch (v) {
    case PERSIST_OK: return "ok";
    case PERSIST_BAD_MAGIC: return "not a warm-restart file";
    case PERSIST_BAD_VERSION: return "another file format version";
    case PERSIST_BAD_HEADER: return "header checksum mismatch";
    case PERSIST_OTHER_BUILD: return "written by another mcd version or build";
    case PERSIST_OTHER_SETTINGS: return "written with other memory or slab settings";
    case PERSIST_TRUNCATED: return "truncated";
    case PERSIST_BAD_BLOCK: return "block checksum mismatch or malformed block";
    case PERSIST_BAD_TRAILER: return "trailer missing or inconsistent";
    case PERSIST_NOT_REMOVABLE: return "cannot be removed";
    }
    return "?";
}

void persist_header_encode(const struct persist_header *h, uint8_t *out)
{
    memset(out, 0, PERSIST_HEADER_BYTES);
    memcpy(out, header_magic, 8);
    put32(out + 8, h->version);
    put32(out + 12, PERSIST_HEADER_BYTES);
    memcpy(out + 16, h->build, strnlen(h->build, PERSIST_BUILD_MAX - 1));
    put64(out + 64, h->maxbytes);
    put64(out + 72, h->item_size_max);
    uint64_t f;
    memcpy(&f, &h->factor, 8);
    put64(out + 80, f);
    put32(out + 88, h->min_chunk);
    put32(out + 92, h->slab_chunk_max);
    put32(out + 96, h->use_cas ? 1 : 0);
    put64(out + 104, (uint64_t)h->saved_wall);
    put32(out + 124, persist_crc32c(0, out, 124));
}

enum persist_verdict persist_header_decode(const uint8_t *in, struct persist_header *h)
{
    if (memcmp(in, header_magic, 8) != 0)
        return PERSIST_BAD_MAGIC;
    if (get32(in + 8) != PERSIST_FORMAT_VERSION || get32(in + 12) != PERSIST_HEADER_BYTES)
        return PERSIST_BAD_VERSION;
    if (get32(in + 124) != persist_crc32c(0, in, 124))
        return PERSIST_BAD_HEADER;
    memset(h, 0, sizeof(*h));
    h->version = get32(in + 8);
    memcpy(h->build, in + 16, PERSIST_BUILD_MAX - 1);
    h->maxbytes = get64(in + 64);
    h->item_size_max = get64(in + 72);
    uint64_t f = get64(in + 80);
    memcpy(&h->factor, &f, 8);
    h->min_chunk = get32(in + 88);
    h->slab_chunk_max = get32(in + 92);
    h->use_cas = get32(in + 96) != 0;
    h->saved_wall = (int64_t)get64(in + 104);
    return PERSIST_OK;
}

enum persist_verdict persist_header_match(const struct persist_header *file,
                                          const struct persist_header *self, char *why,
                                          size_t nwhy)
{
    if (strncmp(file->build, self->build, PERSIST_BUILD_MAX) != 0) {
        snprintf(why, nwhy, "build \"%s\", this is \"%s\"", file->build, self->build);
        return PERSIST_OTHER_BUILD;
    }
#define DIFF(field, flag, fmt, cast)                                                   \
    if (file->field != self->field) {                                                  \
        snprintf(why, nwhy, "%s " fmt ", this is " fmt, flag, (cast)file->field,        \
                 (cast)self->field);                                                   \
        return PERSIST_OTHER_SETTINGS;                                                 \
    }
    DIFF(maxbytes, "-m", "%llu bytes", unsigned long long)
    DIFF(item_size_max, "-I", "%llu", unsigned long long)
    DIFF(factor, "-f", "%g", double)
    DIFF(min_chunk, "-n", "%u", unsigned)
    DIFF(slab_chunk_max, "slab_chunk_max", "%u", unsigned)
    DIFF(use_cas, "CAS", "%d", int)
#undef DIFF
    return PERSIST_OK;
}

/* --- records and blocks --------------------------------------------------- */

enum { MARK_FETCHED = 1, MARK_STALE = 2, MARK_KEY_BINARY = 4, MARK_ALL = 7 };

size_t persist_record_encode_head(const struct persist_record *r, uint8_t *out)
{
    out[0] = r->nkey;
    out[1] = (uint8_t)((r->fetched ? MARK_FETCHED : 0) | (r->stale ? MARK_STALE : 0) |
                       (r->key_binary ? MARK_KEY_BINARY : 0));
    out[2] = out[3] = 0;
    put32(out + 4, r->flags);
    put64(out + 8, r->vlen);
    put32(out + 16, r->ttl_left);
    put32(out + 20, r->idle);
    put64(out + 24, r->cas);
    memcpy(out + PERSIST_RECORD_HEADER_BYTES, r->key, r->nkey);
    return PERSIST_RECORD_HEADER_BYTES + r->nkey;
}

size_t persist_record_encode(const struct persist_record *r, uint8_t *out)
{
    size_t head = persist_record_encode_head(r, out);
    memcpy(out + head, r->value, (size_t)r->vlen);
    return head + (size_t)r->vlen;
}

size_t persist_record_decode(const uint8_t *in, size_t len, struct persist_record *r)
{
    if (len < PERSIST_RECORD_HEADER_BYTES)
        return 0;
    uint8_t marks = in[1];
    r->nkey = in[0];
    r->vlen = get64(in + 8);
    if (r->nkey == 0 || (marks & ~MARK_ALL) != 0 || in[2] != 0 || in[3] != 0 ||
        r->vlen > len - PERSIST_RECORD_HEADER_BYTES - r->nkey ||
        r->nkey > len - PERSIST_RECORD_HEADER_BYTES)
        return 0;
    r->fetched = marks & MARK_FETCHED;
    r->stale = marks & MARK_STALE;
    r->key_binary = marks & MARK_KEY_BINARY;
    r->flags = get32(in + 4);
    r->ttl_left = get32(in + 16);
    r->idle = get32(in + 20);
    r->cas = get64(in + 24);
    r->key = (const char *)in + PERSIST_RECORD_HEADER_BYTES;
    r->value = r->key + r->nkey;
    return persist_record_size(r->nkey, r->vlen);
}

void persist_block_encode(const struct persist_block *b, uint8_t *out)
{
    memcpy(out, block_magic, 4);
    put32(out + 4, b->len);
    put32(out + 8, b->items);
    put32(out + 12, b->crc);
}

bool persist_block_decode(const uint8_t *in, struct persist_block *b)
{
    if (memcmp(in, block_magic, 4) != 0)
        return false;
    b->len = get32(in + 4);
    b->items = get32(in + 8);
    b->crc = get32(in + 12);
    return true;
}

bool persist_block_check(const struct persist_block *b, const uint8_t *payload)
{
    if (persist_block_crc(payload, b->len) != b->crc)
        return false;
    size_t pos = 0;
    for (uint32_t i = 0; i < b->items; i++) {
        struct persist_record r;
        size_t n = persist_record_decode(payload + pos, b->len - pos, &r);
        if (n == 0)
            return false;
        pos += n;
    }
    return pos == b->len;
}

/* --- trailer ---------------------------------------------------------------- */

void persist_trailer_encode(const struct persist_trailer *t, uint8_t *out)
{
    memset(out, 0, PERSIST_TRAILER_BYTES);
    memcpy(out, trailer_magic, 8);
    put64(out + 8, t->items);
    put64(out + 16, t->blocks);
    put64(out + 24, t->bytes);
    put64(out + 32, t->crc_sum);
    put64(out + 40, t->max_cas);
    put32(out + 48, persist_crc32c(0, out, 48));
}

bool persist_trailer_decode(const uint8_t *in, struct persist_trailer *t)
{
    if (memcmp(in, trailer_magic, 8) != 0 || get32(in + 48) != persist_crc32c(0, in, 48))
        return false;
    t->items = get64(in + 8);
    t->blocks = get64(in + 16);
    t->bytes = get64(in + 24);
    t->crc_sum = get64(in + 32);
    t->max_cas = get64(in + 40);
    return true;
}
