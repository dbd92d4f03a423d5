/*
 * meta: parsing memcached's meta commands.  A request line, already split
 * by the text protocol's tokenizer, becomes a `struct meta_req`; nothing
 * here touches the cache, so a fuzzer or a unit test can drive it alone.
 *
 * Flags are single letters, each at most once, some with a value glued on
 * ("T30", "Oabc").  memcached checks them in a fixed order and several of
 * its error strings depend on which check fails first (and on the command:
 * md and ma answer every flag error with one string), so the checks below
 * follow its order rather than grouping by flag.  A base64 key (b) is
 * decoded into the request's own buffer: no allocation per request.
 */
#include "meta.h"

#include <string.h>

#include "num.h"

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of a base64 byte; '=' counts as 0; -1 for anything else. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    if (c == '=')
        return 0;
    return -1;
}

size_t meta_base64_decode(const char *src, size_t len, char *out, size_t out_len)
{
    size_t valid = 0;
    for (size_t i = 0; i < len; i++)
        valid += b64_value((unsigned char)src[i]) >= 0;
    if (valid == 0 || valid % 4 != 0 || valid / 4 * 3 > out_len)
        return 0;
    unsigned char quad[4];
    size_t n = 0, o = 0;
    int pad = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)src[i]);
        if (v < 0)
            continue;
        pad += src[i] == '=';
        quad[n++] = (unsigned char)v;
        if (n < 4)
            continue;
        out[o++] = (char)(quad[0] << 2 | quad[1] >> 4);
        out[o++] = (char)(quad[1] << 4 | quad[2] >> 2);
        out[o++] = (char)(quad[2] << 6 | quad[3]);
        n = 0;
        /* The first padded quad ends the input, as in memcached. */
        if (pad > 2)
            return 0;
        if (pad > 0)
            return o - (size_t)pad;
    }
    return o;
}

size_t meta_base64_encode(const char *src, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    for (; len - i >= 3; i += 3) {
        out[o++] = b64_chars[s[i] >> 2];
        out[o++] = b64_chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
        out[o++] = b64_chars[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
        out[o++] = b64_chars[s[i + 2] & 63];
    }
    if (len - i == 1) {
        out[o++] = b64_chars[s[i] >> 2];
        out[o++] = b64_chars[(s[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        out[o++] = b64_chars[s[i] >> 2];
        out[o++] = b64_chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
        out[o++] = b64_chars[(s[i + 1] & 15) << 2];
        out[o++] = '=';
    }
    return o;
}

static bool meta_decode_key(struct meta_req *r)
{
    size_t n = meta_base64_decode(r->tok[1].p, r->tok[1].len, r->keybuf, sizeof(r->keybuf));
    r->key = r->keybuf;
    r->nkey = n;
    r->key_binary = true;
    return n != 0;
}

/* A flag's value: the token after its letter. */
static bool flag_i32(const struct text_token *t, int32_t *v)
{
    return num_parse_i32(t->p + 1, t->len - 1, v);
}

/*
 * memcached's flag pre-pass from token `start`: every letter at most once,
 * values parsed.  A repeated or unknown letter stops at once; any other
 * error is remembered and the pass goes on (a later error's string wins).
 * Returns false on an error, with *err set.
 */
static bool meta_flags(struct meta_req *r, int start, enum msg *err)
{
    bool failed = false;
    for (int i = start; i < r->ntokens && r->tok[i].len != 0; i++) {
        const struct text_token *t = &r->tok[i];
        unsigned char o = (unsigned char)t->p[0];
        if (o >= 127 || meta_has(r, (char)o)) {
            *err = MSG_E_DUP_FLAG;
            return false;
        }
        r->seen[o / 64] |= (uint64_t)1 << (o % 64);
        switch (o) {
        case 'b':
            if (!meta_decode_key(r)) {
                *err = MSG_E_DECODE_KEY;
                failed = true;
            }
            break;
        case 'N':
        case 'T':
        case 'R': {
            int32_t *dst = o == 'N' ? &r->vivify_ttl : o == 'T' ? &r->ttl : &r->recache_ttl;
            if (!flag_i32(t, dst)) {
                *err = MSG_E_TOKEN;
                failed = true;
            }
            break;
        }
        case 'F':
            /* memcached leaves the error string as it was here. */
            if (!num_parse_u32(t->p + 1, t->len - 1, &r->client_flags))
                failed = true;
            break;
        case 'C':
            if (!num_parse_u64(t->p + 1, t->len - 1, &r->cas)) {
                *err = MSG_E_TOKEN;
                failed = true;
            }
            break;
        case 'M':
            if (t->len != 2) {
                *err = MSG_E_M_LENGTH;
                failed = true;
            } else {
                r->mode = t->p[1];
            }
            break;
        case 'J':
            if (!num_parse_u64(t->p + 1, t->len - 1, &r->initial)) {
                *err = MSG_E_INITIAL;
                failed = true;
            }
            break;
        case 'D':
            if (!num_parse_u64(t->p + 1, t->len - 1, &r->delta)) {
                *err = MSG_E_DELTA_VALUE;
                failed = true;
            }
            break;
        case 'l': case 'O': case 'P': case 'L': case 'k': case 's': case 't':
        case 'c': case 'f': case 'v': case 'h': case 'u': case 'q': case 'I':
            break;
        default:
            *err = MSG_E_FLAG;
            return false;
        }
    }
    return !failed;
}

/* Whether an O token is longer than memcached echoes back. */
static bool meta_opaque_too_long(const struct meta_req *r, int start)
{
    for (int i = start; i < r->ntokens - 1; i++) {
        if (r->tok[i].p[0] == 'O' && r->tok[i].len > META_OPAQUE_MAX)
            return true;
    }
    return false;
}

static void meta_parse_debug(struct meta_req *r)
{
    if (r->ntokens < 3 || r->tok[1].len > ITEM_KEY_MAX) {
        r->err = MSG_E_FORMAT;
        return;
    }
    /* me takes only "b", and only as the token right after the key. */
    if (r->ntokens >= 4 && r->tok[2].len == 1 && r->tok[2].p[0] == 'b' && !meta_decode_key(r))
        r->err = MSG_E_FORMAT;
}

/* ms: the data length comes before the flags; errors after it swallow the data. */
static void meta_parse_set(struct meta_req *r)
{
    int32_t vlen;
    if (!num_parse_i32(r->tok[2].p, r->tok[2].len, &vlen) || vlen < 0 || vlen > INT32_MAX - 2) {
        r->err = MSG_E_FORMAT;
        return;
    }
    r->vlen = vlen;
    enum msg err = MSG_E_FORMAT;
    bool ok = meta_flags(r, 3, &err);
    if (ok && r->mode != 0 && !strchr("EAPRS", r->mode))
        err = MSG_E_MS_MODE, ok = false;
    else if (ok && meta_opaque_too_long(r, 2))
        err = MSG_E_OPAQUE, ok = false;
    if (!ok) {
        r->err = err;
        r->swallow = true;
    }
}

static void meta_parse_other(struct meta_req *r)
{
    enum msg err = MSG_E_FORMAT;
    bool ok = meta_flags(r, 2, &err);
    if (r->cmd == META_CMD_GET) {
        if (!ok)
            r->err = err;
        r->opaque_too_long = meta_opaque_too_long(r, 2);
        return;
    }
    if (!ok) {
        r->err = MSG_E_BAD_FLAG;
    } else if (r->cmd == META_CMD_DELETE) {
        if (meta_opaque_too_long(r, 2))
            r->err = MSG_E_OPAQUE;
    } else {
        if (r->mode != 0 && !strchr("I+D-", r->mode))
            r->err = MSG_E_MA_MODE;
        r->opaque_too_long = meta_opaque_too_long(r, 2);
    }
}

void meta_parse_tokens(const struct text_token *tok, int ntokens, struct meta_req *r)
{
    memset(r, 0, offsetof(struct meta_req, keybuf));
    r->tok = tok;
    r->ntokens = ntokens;
    r->delta = 1;
    switch (tok[0].p[1]) {
    case 'g': r->cmd = META_CMD_GET; break;
    case 's': r->cmd = META_CMD_SET; break;
    case 'd': r->cmd = META_CMD_DELETE; break;
    case 'a': r->cmd = META_CMD_ARITH; break;
    case 'n': r->cmd = META_CMD_NOOP; return;
    case 'e': r->cmd = META_CMD_DEBUG; break;
    default:
        r->err = MSG_ERROR;
        return;
    }
    if (ntokens >= 2) {
        r->key = tok[1].p;
        r->nkey = tok[1].len;
    }
    if (r->cmd == META_CMD_DEBUG) {
        meta_parse_debug(r);
        return;
    }
    if (ntokens < 3) {
        r->err = MSG_ERROR;
        return;
    }
    if (tok[1].len > ITEM_KEY_MAX || (r->cmd == META_CMD_SET && ntokens == 3)) {
        r->err = MSG_E_FORMAT;
        return;
    }
    if (ntokens > META_MAX_TOKENS) {
        r->err = r->cmd == META_CMD_GET ? MSG_E_MG_FLAGS_LONG
                                        : MSG_E_FLAGS_LONG;
        return;
    }
    if (r->cmd == META_CMD_SET)
        meta_parse_set(r);
    else
        meta_parse_other(r);
}

void meta_parse(const char *line, size_t len, struct text_token *tok, struct meta_req *r)
{
    int n = text_tokenize(line, len, tok, TEXT_MAX_TOKENS);
    if (n < 2 || tok[0].len != 2 || tok[0].p[0] != 'm') {
        memset(r, 0, offsetof(struct meta_req, keybuf));
        r->err = MSG_ERROR;
        return;
    }
    meta_parse_tokens(tok, n, r);
}
