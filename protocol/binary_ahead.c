/*
 * binary_ahead: the binary requests a few ahead of the one being served,
 * whose keys' memory is on its way (text_ahead.c says why): a request's
 * stripe and buckets are prefetched as it enters the queue, its items when
 * its turn is next.  Headers are cheap to read again, so only where each
 * request starts and its key's hash are kept; a request is served with its
 * hash only if the feed arrives exactly at its offset (a swallowed body,
 * say, moves it), and the hash is used only for the key bytes it was
 * computed from (proto_key_hash).
 */
#include "binary.h"

static uint16_t get16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] << 8 | u[1]);
}

static uint32_t get32(const char *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

void bin_ahead_reset(struct bin_ahead *a)
{
    a->head = 0;
    a->n = 0;
    a->pos = 0;
}

/* Whether a command's lookup takes the key's hash (bin_get, bin_update),
 * quiet forms included. */
static bool bin_hashed(uint8_t opcode)
{
#define B(op) (1ULL << (op))
    static const uint64_t hashed =
        B(BIN_CMD_GET) | B(BIN_CMD_GETQ) | B(BIN_CMD_GETK) | B(BIN_CMD_GETKQ) |
        B(BIN_CMD_TOUCH) | B(BIN_CMD_GAT) | B(BIN_CMD_GATQ) | B(BIN_CMD_GATK) | B(BIN_CMD_GATKQ) |
        B(BIN_CMD_SET) | B(BIN_CMD_SETQ) | B(BIN_CMD_ADD) | B(BIN_CMD_ADDQ) |
        B(BIN_CMD_REPLACE) | B(BIN_CMD_REPLACEQ) | B(BIN_CMD_APPEND) | B(BIN_CMD_APPENDQ) |
        B(BIN_CMD_PREPEND) | B(BIN_CMD_PREPENDQ);
#undef B
    return opcode < 64 && (hashed >> opcode & 1);
}

void bin_ahead_fill(struct bin_ahead *a, const char *buf, size_t len, size_t pos,
                    unsigned limit)
{
    if (a->n > 0 && a->q[a->head].start != pos)
        a->n = 0;
    if (a->n == 0)
        a->pos = pos;
    while (a->n < BIN_AHEAD && a->n < limit && a->pos <= len &&
           len - a->pos >= BIN_HEADER_LEN) {
        const char *p = buf + a->pos;
        if ((uint8_t)p[0] != BIN_REQ_MAGIC)
            break;
        size_t keylen = get16(p + 2), extlen = (uint8_t)p[4], bodylen = get32(p + 8);
        if (BIN_HEADER_LEN + extlen + keylen > len - a->pos)
            break;
        struct bin_ahead_req *x = &a->q[(a->head + a->n) % BIN_AHEAD];
        x->start = a->pos;
        x->key = NULL;
        if (keylen > 0 && keylen <= ITEM_KEY_MAX && bin_hashed((uint8_t)p[1])) {
            x->key = p + BIN_HEADER_LEN + extlen;
            x->nkey = keylen;
            x->hash = cache_hash(x->key, keylen);
            if (a->n > 0)       /* the request about to be served gains nothing */
                cache_prefetch(x->hash);
        }
        a->n++;
        a->pos += BIN_HEADER_LEN + bodylen;
    }
    if (a->n > 1 && a->q[(a->head + 1) % BIN_AHEAD].key != NULL)
        cache_prefetch_items(a->q[(a->head + 1) % BIN_AHEAD].hash);
}

void bin_ahead_take(struct bin_ahead *a, size_t pos, struct proto_key_hint *hint)
{
    hint->key = NULL;
    if (a->n == 0 || a->q[a->head].start != pos)
        return;
    const struct bin_ahead_req *x = &a->q[a->head];
    if (x->key != NULL)
        *hint = (struct proto_key_hint){ .key = x->key, .nkey = x->nkey, .hash = x->hash };
    a->head = (a->head + 1) % BIN_AHEAD;
    a->n--;
}
