/*
 * meta: memcached's meta commands (mg, ms, md, ma, mn, me) on top of the
 * text protocol's request loop.  See meta.c (parsing) and meta_exec.c.
 */
#ifndef MCD_META_H
#define MCD_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text.h"

/* A meta request with more tokens than this (command and end included) is refused. */
#define META_MAX_TOKENS 20
/* Longest opaque token echoed back, its 'O' included. */
#define META_OPAQUE_MAX 32

enum meta_cmd {
    META_CMD_UNKNOWN = 0,       /* m? that is no meta command: ERROR */
    META_CMD_GET, META_CMD_SET, META_CMD_DELETE, META_CMD_ARITH, META_CMD_NOOP, META_CMD_DEBUG,
};

/* One parsed meta request line. */
struct meta_req {
    enum meta_cmd cmd;
    enum msg err;               /* the reply refusing the request, else MSG_NONE */
    bool swallow;               /* a refused ms: drop its data block of vlen + 2 bytes */
    bool opaque_too_long;       /* mg/ma refuse it only after acting, as memcached does */
    const char *key;            /* the token, or keybuf once base64-decoded */
    size_t nkey;
    bool key_binary;            /* b: the key was base64 */
    uint64_t seen[2];           /* bit c set: flag letter c was given */
    int32_t ttl;                /* T */
    int32_t vivify_ttl;         /* N */
    int32_t recache_ttl;        /* R */
    uint32_t client_flags;      /* F */
    uint64_t cas;               /* C */
    uint64_t delta;             /* D, 1 by default */
    uint64_t initial;           /* J */
    char mode;                  /* M, 0 when not given */
    int64_t vlen;               /* ms: data length without \r\n */
    const struct text_token *tok;   /* the request's tokens */
    int ntokens;                /* memcached's count, end token included */
    char keybuf[ITEM_KEY_MAX];
};

/* Whether the request carries flag letter c. */
static inline bool meta_has(const struct meta_req *r, char c)
{
    unsigned u = (unsigned char)c;
    return u < 128 && (r->seen[u / 64] >> (u % 64) & 1) != 0;
}

/* Parse a meta request from text_tokenize's tokens (tok[0] is "m?"). */
void meta_parse_tokens(const struct text_token *tok, int ntokens, struct meta_req *r);
/* Tokenize and parse one line (without its line end); `tok` holds TEXT_MAX_TOKENS. */
void meta_parse(const char *line, size_t len, struct text_token *tok, struct meta_req *r);
/* Run a meta request line already tokenized by the text protocol. */
void meta_exec(struct text_session *s, const struct proto_env *env, const struct text_token *tok,
               int ntokens, struct reply *out);
/* The ms data block is in (s->item full): store it and reply. */
void meta_set_done(struct text_session *s, const struct proto_env *env, struct reply *out);

/* memcached's base64 decode: skips foreign bytes; 0 on a malformed input or when out is short. */
size_t meta_base64_decode(const char *src, size_t len, char *out, size_t out_len);
/* Standard base64 with padding; returns the length written (out needs 4 * ceil(len / 3)). */
size_t meta_base64_encode(const char *src, size_t len, char *out);

#endif
