/*
 * mcdb_proto: the three memcached protocols as the load generator uses them.
 *
 * A SERVER_ERROR to a set (binary: ENOMEM) is a valid reply, memcached's
 * answer when it cannot free memory fast enough; it is counted as a refused
 * set, not a protocol error.
 *
 *   text    set k 0 0 n / STORED;  get k1 k2 ... / VALUE ... END
 *   meta    ms k n / HD;  mg k v k / VA n kKEY or EN; a multiget is
 *           "mg k v k q" per key then "mn", ended by MN (misses are silent)
 *   binary  SET / status;  GETK for one key; a multiget is GETKQ per key then
 *           NOOP, ended by the NOOP's reply (misses are silent)
 *
 * A reply is parsed only once it is complete: until then proto_parse says
 * PARSE_MORE and is called again from the start with more bytes.  That
 * re-reads a partial multiget reply, a cost only large replies pay, and
 * keeps the parser free of state between calls.  Every returned key must be
 * one that was asked for, in order, and every value must be the key's own.
 */
#include "mcdb_proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcdb_keys.h"

#define BIN_REQ 0x80
#define BIN_RES 0x81
#define BIN_SET 0x01
#define BIN_NOOP 0x0a
#define BIN_GETK 0x0c
#define BIN_GETKQ 0x0d
#define BIN_HEADER 24
#define BIN_NOT_FOUND 0x0001
#define BIN_ENOMEM 0x0082

void buf_reserve(struct buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        fprintf(stderr, "mcd-bench: out of memory\n");
        exit(2);
    }
    b->data = p;
    b->cap = cap;
}

void buf_compact(struct buf *b)
{
    if (b->off == 0)
        return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

const char *proto_name(enum proto p)
{
    return p == PROTO_META ? "meta" : p == PROTO_BINARY ? "binary" : "text";
}

int proto_from_name(const char *name)
{
    if (strcmp(name, "text") == 0 || strcmp(name, "ascii") == 0)
        return PROTO_TEXT;
    if (strcmp(name, "meta") == 0)
        return PROTO_META;
    if (strcmp(name, "binary") == 0)
        return PROTO_BINARY;
    return -1;
}

/* --- encoding ----------------------------------------------------------------- */

static void put_be16(char *p, uint16_t v) { p[0] = (char)(v >> 8); p[1] = (char)v; }

static void put_be32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24); p[1] = (char)(v >> 16); p[2] = (char)(v >> 8); p[3] = (char)v;
}

static uint16_t get_be16(const char *p)
{
    return (uint16_t)((uint8_t)p[0] << 8 | (uint8_t)p[1]);
}

static uint32_t get_be32(const char *p)
{
    return (uint32_t)(uint8_t)p[0] << 24 | (uint32_t)(uint8_t)p[1] << 16
         | (uint32_t)(uint8_t)p[2] << 8 | (uint8_t)p[3];
}

/* A binary request header with extras, key and body lengths. */
static void bin_header(char *h, uint8_t opcode, size_t nkey, size_t next, size_t nbody)
{
    memset(h, 0, BIN_HEADER);
    h[0] = (char)BIN_REQ;
    h[1] = (char)opcode;
    put_be16(h + 2, (uint16_t)nkey);
    h[4] = (char)next;
    put_be32(h + 8, (uint32_t)nbody);
}

/* Append a decimal number. */
static size_t put_uint(char *p, uint64_t v)
{
    char d[24];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = d[n - 1 - i];
    return n;
}

void proto_encode_set(const struct proto_ctx *c, struct buf *out, uint64_t id)
{
    size_t vlen = keys_value_len(id, c->dmin, c->dmax);
    buf_reserve(out, 300 + vlen + 2);
    char *p = out->data + out->len, *start = p;
    if (c->proto == PROTO_BINARY) {
        char *h = p;
        p += BIN_HEADER;
        memset(p, 0, 8);                /* flags, exptime */
        p += 8;
        size_t nkey = keys_format(p, c->prefix, c->nprefix, id);
        p += nkey;
        bin_header(h, BIN_SET, nkey, 8, 8 + nkey + vlen);
        keys_value_fill(id, p, vlen);
        p += vlen;
    } else {
        if (c->proto == PROTO_META) {
            memcpy(p, "ms ", 3);
            p += 3;
            p += keys_format(p, c->prefix, c->nprefix, id);
            *p++ = ' ';
            p += put_uint(p, vlen);
        } else {
            memcpy(p, "set ", 4);
            p += 4;
            p += keys_format(p, c->prefix, c->nprefix, id);
            memcpy(p, " 0 0 ", 5);
            p += 5;
            p += put_uint(p, vlen);
        }
        memcpy(p, "\r\n", 2);
        p += 2;
        keys_value_fill(id, p, vlen);
        p += vlen;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    out->len += (size_t)(p - start);
}

void proto_encode_get(const struct proto_ctx *c, struct buf *out, const uint64_t *ids, unsigned n)
{
    buf_reserve(out, (size_t)n * (c->nprefix + 64) + 64);
    char *p = out->data + out->len, *start = p;
    if (c->proto == PROTO_TEXT) {
        memcpy(p, "get", 3);
        p += 3;
        for (unsigned i = 0; i < n; i++) {
            *p++ = ' ';
            p += keys_format(p, c->prefix, c->nprefix, ids[i]);
        }
        memcpy(p, "\r\n", 2);
        p += 2;
    } else if (c->proto == PROTO_META) {
        for (unsigned i = 0; i < n; i++) {
            memcpy(p, "mg ", 3);
            p += 3;
            p += keys_format(p, c->prefix, c->nprefix, ids[i]);
            memcpy(p, n > 1 ? " v k q\r\n" : " v k\r\n", n > 1 ? 8 : 6);
            p += n > 1 ? 8 : 6;
        }
        if (n > 1) {
            memcpy(p, "mn\r\n", 4);
            p += 4;
        }
    } else {
        for (unsigned i = 0; i < n; i++) {
            char *h = p;
            p += BIN_HEADER;
            size_t nkey = keys_format(p, c->prefix, c->nprefix, ids[i]);
            p += nkey;
            bin_header(h, n > 1 ? BIN_GETKQ : BIN_GETK, nkey, 0, nkey);
        }
        if (n > 1) {
            bin_header(p, BIN_NOOP, 0, 0, 0);
            p += BIN_HEADER;
        }
    }
    out->len += (size_t)(p - start);
}

/* --- parsing ------------------------------------------------------------------ */

/* Record an error with up to 40 bytes of the offending line. */
static enum parse_status parse_error(struct proto_result *res, const char *what,
                                     const char *line, size_t n)
{
    char shown[41];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40 && line[i] != '\r' && line[i] != '\n'; i++)
        shown[k++] = (line[i] >= 32 && line[i] < 127) ? line[i] : '?';
    shown[k] = '\0';
    snprintf(res->error, sizeof(res->error), "%s: '%s'", what, shown);
    return PARSE_ERROR;
}

/* A value came back for key `key`: match it to the next asked-for key and check it. */
static enum parse_status take_value(const struct proto_ctx *c, const uint64_t *ids, unsigned n,
                                    unsigned *cursor, const char *key, size_t nkey,
                                    const char *val, size_t nval, struct proto_result *res)
{
    uint64_t id;
    if (!keys_parse(key, nkey, c->prefix, c->nprefix, &id))
        return parse_error(res, "value for a key not asked for", key, nkey);
    while (*cursor < n && ids[*cursor] != id)
        (*cursor)++;
    if (*cursor == n)
        return parse_error(res, "value for a key not asked for (or out of order)", key, nkey);
    res->hit[(*cursor)++] = 1;
    res->hits++;
    if (!c->no_verify && !keys_value_check(id, val, nval, c->dmin, c->dmax))
        res->bad_values++;
    return PARSE_OK;
}

/* The line at p, without its \r\n: its length in *nline and the bytes to its end in *used. */
static bool next_line(const char *p, size_t len, size_t *nline, size_t *used)
{
    const char *nl = memchr(p, '\n', len);
    if (nl == NULL)
        return false;
    *used = (size_t)(nl - p) + 1;
    *nline = (nl > p && nl[-1] == '\r') ? (size_t)(nl - p) - 1 : (size_t)(nl - p);
    return true;
}

static bool line_is(const char *line, size_t n, const char *word)
{
    size_t w = strlen(word);
    return n == w && memcmp(line, word, w) == 0;
}

/* A decimal size at *p, advancing past it; false if there is none. */
static bool parse_size(const char **p, const char *end, size_t *out)
{
    size_t v = 0;
    const char *q = *p;
    while (q < end && *q >= '0' && *q <= '9' && v < ((size_t)1 << 40))
        v = v * 10 + (size_t)(*q++ - '0');
    if (q == *p)
        return false;
    *p = q;
    *out = v;
    return true;
}

/* The value block of `nval` bytes plus \r\n at buf+pos: PARSE_MORE until all there. */
static enum parse_status value_block(const char *buf, size_t len, size_t pos, size_t nval,
                                     struct proto_result *res)
{
    if (len - pos < nval + 2)
        return PARSE_MORE;
    if (buf[pos + nval] != '\r' || buf[pos + nval + 1] != '\n')
        return parse_error(res, "value not ended by \\r\\n", buf + pos + nval, 2);
    return PARSE_OK;
}

/* "VALUE <key> <flags> <bytes> [<cas>]" */
static enum parse_status text_get(const struct proto_ctx *c, const uint64_t *ids, unsigned n,
                                  const char *buf, size_t len, size_t *consumed,
                                  struct proto_result *res)
{
    size_t pos = 0, nline, used;
    unsigned cursor = 0;
    while (next_line(buf + pos, len - pos, &nline, &used)) {
        const char *line = buf + pos, *end = line + nline;
        if (line_is(line, nline, "END")) {
            *consumed = pos + used;
            return PARSE_OK;
        }
        if (nline < 6 || memcmp(line, "VALUE ", 6) != 0)
            return parse_error(res, "unexpected reply to get", line, nline);
        const char *key = line + 6, *sp = memchr(key, ' ', (size_t)(end - key));
        size_t flags, nval;
        const char *q = sp ? sp + 1 : end;
        if (sp == NULL || !parse_size(&q, end, &flags) || q == end || *q++ != ' '
            || !parse_size(&q, end, &nval))
            return parse_error(res, "bad VALUE line", line, nline);
        enum parse_status st = value_block(buf, len, pos + used, nval, res);
        if (st != PARSE_OK)
            return st;
        st = take_value(c, ids, n, &cursor, key, (size_t)(sp - key), buf + pos + used, nval, res);
        if (st != PARSE_OK)
            return st;
        pos += used + nval + 2;
    }
    return PARSE_MORE;
}

/* "VA <bytes> <flags>*" with a kKEY flag; EN for a miss; MN ends a multiget. */
static enum parse_status meta_get(const struct proto_ctx *c, const uint64_t *ids, unsigned n,
                                  const char *buf, size_t len, size_t *consumed,
                                  struct proto_result *res)
{
    size_t pos = 0, nline, used;
    unsigned cursor = 0;
    while (next_line(buf + pos, len - pos, &nline, &used)) {
        const char *line = buf + pos, *end = line + nline;
        if ((n > 1 && line_is(line, nline, "MN")) || (n == 1 && line_is(line, nline, "EN"))) {
            *consumed = pos + used;
            return PARSE_OK;
        }
        const char *q = line + 3;
        size_t nval;
        if (nline < 4 || memcmp(line, "VA ", 3) != 0 || !parse_size(&q, end, &nval))
            return parse_error(res, "unexpected reply to mg", line, nline);
        const char *key = NULL;
        size_t nkey = 0;
        while (q < end) {
            while (q < end && *q == ' ')
                q++;
            const char *tok = q;
            while (q < end && *q != ' ')
                q++;
            if (q > tok && *tok == 'k') {
                key = tok + 1;
                nkey = (size_t)(q - tok) - 1;
            }
        }
        if (key == NULL)
            return parse_error(res, "VA without the k flag", line, nline);
        enum parse_status st = value_block(buf, len, pos + used, nval, res);
        if (st != PARSE_OK)
            return st;
        st = take_value(c, ids, n, &cursor, key, nkey, buf + pos + used, nval, res);
        if (st != PARSE_OK)
            return st;
        pos += used + nval + 2;
        if (n == 1) {
            *consumed = pos;
            return PARSE_OK;
        }
    }
    return PARSE_MORE;
}

/* The one-line reply to a set: `want`, or a SERVER_ERROR (out of memory) that refuses it. */
static enum parse_status line_reply(const char *buf, size_t len, size_t *consumed,
                                    const char *want, struct proto_result *res)
{
    size_t nline, used;
    if (!next_line(buf, len, &nline, &used))
        return PARSE_MORE;
    if (nline >= 13 && memcmp(buf, "SERVER_ERROR ", 13) == 0)
        res->refused = 1;
    else if (!line_is(buf, nline, want))
        return parse_error(res, "unexpected reply to a set", buf, nline);
    *consumed = used;
    return PARSE_OK;
}

/* Binary: replies to SET, GETK, or GETKQ... NOOP. */
static enum parse_status binary_reply(const struct proto_ctx *c, enum req_kind kind,
                                      const uint64_t *ids, unsigned n, const char *buf,
                                      size_t len, size_t *consumed, struct proto_result *res)
{
    size_t pos = 0;
    unsigned cursor = 0;
    while (len - pos >= BIN_HEADER) {
        const char *h = buf + pos;
        uint8_t opcode = (uint8_t)h[1];
        size_t nkey = get_be16(h + 2), next = (uint8_t)h[4];
        uint16_t status = get_be16(h + 6);
        size_t nbody = get_be32(h + 8);
        if ((uint8_t)h[0] != BIN_RES || nbody < nkey + next)
            return parse_error(res, "bad binary reply header", "", 0);
        if (len - pos < BIN_HEADER + nbody)
            return PARSE_MORE;
        pos += BIN_HEADER + nbody;
        char what[64];
        if (kind == REQ_SET) {
            if (opcode == BIN_SET && status == BIN_ENOMEM)
                res->refused = 1;
            else if (opcode != BIN_SET || status != 0) {
                snprintf(what, sizeof(what), "SET reply opcode 0x%02x status 0x%04x", opcode, status);
                return parse_error(res, what, "", 0);
            }
            *consumed = pos;
            return PARSE_OK;
        }
        if (n > 1 && opcode == BIN_NOOP) {
            *consumed = pos;
            return PARSE_OK;
        }
        if (opcode != (n > 1 ? BIN_GETKQ : BIN_GETK) || (status != 0 && status != BIN_NOT_FOUND)) {
            snprintf(what, sizeof(what), "GET reply opcode 0x%02x status 0x%04x", opcode, status);
            return parse_error(res, what, "", 0);
        }
        if (status == 0) {
            const char *key = h + BIN_HEADER + next;
            enum parse_status st = take_value(c, ids, n, &cursor, key, nkey, key + nkey,
                                              nbody - nkey - next, res);
            if (st != PARSE_OK)
                return st;
        }
        if (n == 1) {
            *consumed = pos;
            return PARSE_OK;
        }
    }
    return PARSE_MORE;
}

enum parse_status proto_parse(const struct proto_ctx *c, enum req_kind kind, const uint64_t *ids,
                              unsigned n, const char *buf, size_t len, size_t *consumed,
                              struct proto_result *res)
{
    res->hits = 0;
    res->bad_values = 0;
    res->refused = 0;
    res->error[0] = '\0';
    if (kind == REQ_GET)
        memset(res->hit, 0, n);
    switch (c->proto) {
    case PROTO_BINARY:
        return binary_reply(c, kind, ids, n, buf, len, consumed, res);
    case PROTO_META:
        if (kind == REQ_SET)
            return line_reply(buf, len, consumed, "HD", res);
        return meta_get(c, ids, n, buf, len, consumed, res);
    case PROTO_TEXT:
    default:
        if (kind == REQ_SET)
            return line_reply(buf, len, consumed, "STORED", res);
        return text_get(c, ids, n, buf, len, consumed, res);
    }
}
