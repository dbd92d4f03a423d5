/*
 * persist_format: the bytes of a warm-restart file (-e), as pure functions
 * over buffers — CRC32C, the header, the blocks of items and the trailer —
 * so every check a load makes is unit-tested apart from files and the
 * cache.  See persist_format.c for the layout and persist.c for its use.
 */
#ifndef MCD_PERSIST_FORMAT_H
#define MCD_PERSIST_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERSIST_FORMAT_VERSION 2
#define PERSIST_HEADER_BYTES 128
#define PERSIST_BLOCK_HEADER_BYTES 16
#define PERSIST_TRAILER_BYTES 56
#define PERSIST_RECORD_HEADER_BYTES 32
#define PERSIST_BUILD_MAX 48

/* CRC32C (Castagnoli) of `n` bytes, continuing from `crc` (0 to start). */
uint32_t persist_crc32c(uint32_t crc, const void *buf, size_t n);

/*
 * A block's checksum, computed as its bytes come, in pieces of any size:
 * the payload's 8-byte words are dealt to PERSIST_CRC_LANES lanes in turn
 * (word i to lane i % PERSIST_CRC_LANES), each lane's bytes get their own
 * CRC32C, and the value is the CRC32C of those (little-endian, lane 0
 * first).  The lanes are independent, so the processor's crc32 instruction
 * (latency 3, one a cycle) runs at full speed instead of waiting on one
 * chain.
 */
#define PERSIST_CRC_LANES 4
struct persist_crc {
    uint32_t lane[PERSIST_CRC_LANES];   /* inverted, as CRC32C keeps its register */
    uint64_t bytes;                     /* so far: which lane the next byte goes to */
};
void persist_crc_init(struct persist_crc *c);
/* Add `n` bytes. */
void persist_crc_add(struct persist_crc *c, const void *buf, size_t n);
/* The checksum of the bytes added so far. */
uint32_t persist_crc_value(const struct persist_crc *c);
/* The checksum of one buffer. */
uint32_t persist_block_crc(const void *buf, size_t n);
/* Tests: compute with the table even where the processor has crc32, or not. */
void persist_crc_use_table(bool on);

/* What must match for a file to be loaded: the build and the settings
 * that shape items and memory. */
struct persist_header {
    uint32_t version;               /* PERSIST_FORMAT_VERSION */
    char build[PERSIST_BUILD_MAX];  /* mcd's version and build id, NUL-padded */
    uint64_t maxbytes;              /* -m */
    uint64_t item_size_max;         /* -I */
    double factor;                  /* -f */
    uint32_t min_chunk;             /* -n */
    uint32_t slab_chunk_max;        /* -o slab_chunk_max (0: the default) */
    bool use_cas;                   /* not -C */
    int64_t saved_wall;             /* unix time of the save */
};

/* Why a file is refused (PERSIST_OK when it is not). */
enum persist_verdict {
    PERSIST_OK = 0,
    PERSIST_BAD_MAGIC,          /* not a warm-restart file */
    PERSIST_BAD_VERSION,        /* another format version */
    PERSIST_BAD_HEADER,         /* header checksum */
    PERSIST_OTHER_BUILD,        /* written by another mcd version or build */
    PERSIST_OTHER_SETTINGS,     /* another -m, -I, -f, -n, slab_chunk_max or -C */
    PERSIST_TRUNCATED,          /* shorter than its blocks and trailer say */
    PERSIST_BAD_BLOCK,          /* a block's checksum or its records */
    PERSIST_BAD_TRAILER,        /* trailer checksum, counts or block sum */
    PERSIST_NOT_REMOVABLE,      /* the file cannot be removed once read */
};

/* A verdict in words, for the log. */
const char *persist_verdict_str(enum persist_verdict v);

/* Write the header's PERSIST_HEADER_BYTES bytes, checksum included. */
void persist_header_encode(const struct persist_header *h, uint8_t *out);
/* Read a header (PERSIST_HEADER_BYTES bytes): PERSIST_OK, BAD_MAGIC,
 * BAD_VERSION or BAD_HEADER. */
enum persist_verdict persist_header_decode(const uint8_t *in, struct persist_header *h);
/* Compare a file's header with this process's: OK, OTHER_BUILD or
 * OTHER_SETTINGS, with the first difference in `why`. */
enum persist_verdict persist_header_match(const struct persist_header *file,
                                          const struct persist_header *self, char *why,
                                          size_t nwhy);

/* One item as saved: times are relative to the save. */
struct persist_record {
    const char *key;
    uint8_t nkey;
    bool fetched, stale, key_binary;
    uint32_t flags;
    uint64_t vlen;
    uint32_t ttl_left;          /* seconds left at the save, 0 = never expires */
    uint32_t idle;              /* seconds since last access at the save */
    uint64_t cas;
    const char *value;
};

/* Bytes a record takes in a block. */
static inline size_t persist_record_size(size_t nkey, uint64_t vlen)
{
    return PERSIST_RECORD_HEADER_BYTES + nkey + (size_t)vlen;
}

/* Write a record (header, key, value) at `out`; returns its size. */
size_t persist_record_encode(const struct persist_record *r, uint8_t *out);
/* Write only its header and key (the value is written from elsewhere);
 * returns their size. */
size_t persist_record_encode_head(const struct persist_record *r, uint8_t *out);
/* Read the record at in[0..len): its size, or 0 if it is malformed or runs
 * past `len`.  key and value point into `in`. */
size_t persist_record_decode(const uint8_t *in, size_t len, struct persist_record *r);

/* A block: its header, then `len` bytes holding `items` records. */
struct persist_block {
    uint32_t len;
    uint32_t items;
    uint32_t crc;               /* persist_block_crc of the payload */
};

void persist_block_encode(const struct persist_block *b, uint8_t *out);
/* false if the header is not a block's. */
bool persist_block_decode(const uint8_t *in, struct persist_block *b);
/* Check a block's payload: its checksum, and that it is exactly `items`
 * well-formed records. */
bool persist_block_check(const struct persist_block *b, const uint8_t *payload);

/* After the last block: what the blocks add up to. */
struct persist_trailer {
    uint64_t items;
    uint64_t blocks;
    uint64_t bytes;             /* of every block, headers included */
    uint64_t crc_sum;           /* sum of the blocks' CRCs (blocks may come in any order) */
    uint64_t max_cas;           /* the largest unique saved */
};

void persist_trailer_encode(const struct persist_trailer *t, uint8_t *out);
/* false if the magic or the checksum is wrong. */
bool persist_trailer_decode(const uint8_t *in, struct persist_trailer *t);

#endif
