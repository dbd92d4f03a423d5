/*
 * mcdb_proto: requests encoded into a buffer, replies parsed out of one, for
 * memcached's text, meta and binary protocols.  No sockets.
 */
#ifndef MCDB_PROTO_H
#define MCDB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum proto { PROTO_TEXT, PROTO_META, PROTO_BINARY };

enum req_kind { REQ_SET, REQ_GET };

/* A growable byte buffer: bytes [off, len) are waiting. */
struct buf {
    char *data;
    size_t off, len, cap;
};

/* What every encode and parse needs: the protocol and how keys and values are made. */
struct proto_ctx {
    enum proto proto;
    const char *prefix;
    size_t nprefix;
    size_t dmin, dmax;          /* value sizes, see keys_value_len */
    bool no_verify;             /* values' bytes are not checked (a server that stores nothing) */
};

/* The outcome of one parsed reply. */
struct proto_result {
    unsigned hits;              /* keys that came back */
    unsigned bad_values;        /* of those, values that were not the key's value */
    unsigned refused;           /* a set the server refused (SERVER_ERROR, binary ENOMEM) */
    unsigned char *hit;         /* in: room for n flags; out: hit[i] set if ids[i] came back */
    char error[128];            /* set when parse returns PARSE_ERROR */
};

enum parse_status { PARSE_OK, PARSE_MORE, PARSE_ERROR };

/* Make room for n more bytes after len (exits on out of memory). */
void buf_reserve(struct buf *b, size_t n);
/* Drop the bytes before off, moving the rest to the front. */
void buf_compact(struct buf *b);

/* Append a set of key `id` with its value. */
void proto_encode_set(const struct proto_ctx *c, struct buf *out, uint64_t id);
/* Append a get of n keys (one request: a multiget when n > 1). */
void proto_encode_get(const struct proto_ctx *c, struct buf *out, const uint64_t *ids, unsigned n);
/*
 * Parse the reply to a request of `kind` for keys ids[0..n) from buf[0..len):
 * PARSE_MORE if it is not complete yet, PARSE_ERROR if it is not a valid
 * reply, PARSE_OK with *consumed bytes and *res filled in.
 */
enum parse_status proto_parse(const struct proto_ctx *c, enum req_kind kind, const uint64_t *ids,
                              unsigned n, const char *buf, size_t len, size_t *consumed,
                              struct proto_result *res);
/* The name of a protocol, and the protocol of a name (-1 if unknown). */
const char *proto_name(enum proto p);
int proto_from_name(const char *name);

#endif
