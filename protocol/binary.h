/*
 * binary: memcached's binary protocol over byte buffers.  See binary.c.
 */
#ifndef MCD_BINARY_H
#define MCD_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "proto.h"
#include "reply.h"

#define BIN_HEADER_LEN 24
#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81
/* INCREMENT/DECREMENT's expiration meaning "do not create a missing key". */
#define BIN_NO_CREATE 0xffffffffu

enum bin_cmd {
    BIN_CMD_GET = 0x00, BIN_CMD_SET = 0x01, BIN_CMD_ADD = 0x02, BIN_CMD_REPLACE = 0x03,
    BIN_CMD_DELETE = 0x04, BIN_CMD_INCREMENT = 0x05, BIN_CMD_DECREMENT = 0x06,
    BIN_CMD_QUIT = 0x07, BIN_CMD_FLUSH = 0x08, BIN_CMD_GETQ = 0x09, BIN_CMD_NOOP = 0x0a,
    BIN_CMD_VERSION = 0x0b, BIN_CMD_GETK = 0x0c, BIN_CMD_GETKQ = 0x0d, BIN_CMD_APPEND = 0x0e,
    BIN_CMD_PREPEND = 0x0f, BIN_CMD_STAT = 0x10, BIN_CMD_SETQ = 0x11, BIN_CMD_ADDQ = 0x12,
    BIN_CMD_REPLACEQ = 0x13, BIN_CMD_DELETEQ = 0x14, BIN_CMD_INCREMENTQ = 0x15,
    BIN_CMD_DECREMENTQ = 0x16, BIN_CMD_QUITQ = 0x17, BIN_CMD_FLUSHQ = 0x18,
    BIN_CMD_APPENDQ = 0x19, BIN_CMD_PREPENDQ = 0x1a, BIN_CMD_TOUCH = 0x1c, BIN_CMD_GAT = 0x1d,
    BIN_CMD_GATQ = 0x1e, BIN_CMD_SASL_LIST_MECHS = 0x20, BIN_CMD_SASL_AUTH = 0x21,
    BIN_CMD_SASL_STEP = 0x22, BIN_CMD_GATK = 0x23, BIN_CMD_GATKQ = 0x24,
};

/* Response status codes; each error maps to one message in binary.c. */
enum bin_status {
    BIN_OK = 0x00,
    BIN_KEY_ENOENT = 0x01,
    BIN_KEY_EEXISTS = 0x02,
    BIN_E2BIG = 0x03,
    BIN_EINVAL = 0x04,
    BIN_NOT_STORED = 0x05,
    BIN_DELTA_BADVAL = 0x06,
    BIN_AUTH_ERROR = 0x20,
    BIN_UNKNOWN_COMMAND = 0x81,
    BIN_ENOMEM = 0x82,
};

/* A request header in host byte order. */
struct bin_header {
    uint8_t magic;
    uint8_t opcode;
    uint16_t keylen;
    uint8_t extlen;
    uint8_t datatype;
    uint16_t vbucket;
    uint32_t bodylen;
    uint32_t opaque;
    uint64_t cas;
};

enum bin_state {
    BIN_STATE_HEADER = 0,       /* waiting for a header, its extras and key */
    BIN_STATE_VALUE,            /* reading a value into `item` */
    BIN_STATE_SWALLOW,          /* dropping the body of a refused request */
    BIN_STATE_SASL,             /* reading the data of a SASL request (sasl.c) */
};

struct sasl_req;

/* Per-connection protocol state. */
struct bin_session {
    enum bin_state state;
    struct item *item;          /* being filled from the request body */
    uint64_t hash;              /* cache_hash() of its key */
    size_t filled;              /* value bytes read so far (without \r\n) */
    enum cache_op op;
    uint64_t cas;               /* the request's cas */
    uint8_t opcode;             /* as sent: the reply echoes it */
    uint32_t opaque;
    bool quiet;
    size_t swallow;             /* body bytes of a refused request still to drop */
    bool close;                 /* close once the reply is sent */
    uint64_t timing_start;      /* a storage request's start, while its value comes */
    uint64_t timing_mark;       /* when the last request timed in this feed ended, or 0 */
    /* -S (sasl.c): whether this connection has authenticated, and the
     * exchange under way. */
    bool authenticated;
    bool sasl_started, sasl_waiting;
    struct sasl_req *sasl;
    struct proto_key_hint hint; /* the request being served, from bin_feed's lookahead */
};

/* Requests a few ahead of the one being served, their keys prefetched
 * (binary_ahead.c); the queue of one feed. */
#define BIN_AHEAD 4
struct bin_ahead {
    struct bin_ahead_req {
        size_t start;           /* offset of the header */
        const char *key;        /* NULL: no lookup that takes a hash */
        size_t nkey;
        uint64_t hash;
    } q[BIN_AHEAD];
    unsigned head, n;
    size_t pos;                 /* the next header to look at */
};
/* An empty queue. */
void bin_ahead_reset(struct bin_ahead *a);
/* Queue what follows the request at `pos`, up to `limit` requests in all,
 * as far as the buffer holds their headers and keys; prefetch. */
void bin_ahead_fill(struct bin_ahead *a, const char *buf, size_t len, size_t pos,
                    unsigned limit);
/* The hint for the request at `pos` (the queue's head, or none), taken off. */
void bin_ahead_take(struct bin_ahead *a, size_t pos, struct proto_key_hint *hint);

/* Decode the 24 header bytes at `p` (network order) into `h`. */
void bin_parse_header(const char *p, struct bin_header *h);
/* Encode a response header into out[BIN_HEADER_LEN]. */
void bin_write_header(char *out, uint8_t opcode, uint16_t status, uint16_t keylen,
                      uint8_t extlen, uint32_t bodylen, uint32_t opaque, uint64_t cas);
/* memcached's message for an error status ("Not found", ...). */
const char *bin_status_string(enum bin_status st);
/*
 * Consume as much of `buf` as possible, appending replies to `out`.
 * Returns the bytes consumed; stops when a request's header, extras and
 * key are not all there yet, when -R requests were served or when the
 * connection must close, and says which in *st.  (Transports call
 * proto_feed, which calls this.)
 */
size_t bin_feed(struct bin_session *s, const struct proto_env *env, const char *buf,
                size_t len, struct reply *out, enum proto_status *st);
/* Release what a session holds (a half-read item). */
void bin_session_reset(struct bin_session *s);

#endif
