/*
 * text: memcached's ASCII protocol over byte buffers.  See text.c.
 */
#ifndef MCD_TEXT_H
#define MCD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "msg.h"
#include "proto.h"
#include "reply.h"

/* memcached's token limit per pass, including the terminal token. */
#define TEXT_MAX_TOKENS 24
/* A line without '\n' longer than this closes the connection, unless it is a get. */
#define TEXT_LINE_MAX 2048
/* Hard cap on a multi-get line, so a client cannot grow our buffer forever. */
#define TEXT_GET_LINE_MAX PROTO_INPUT_MAX

enum text_cmd {
    TEXT_CMD_ERROR = 0,         /* unknown or malformed: reply with `err` */
    TEXT_CMD_GET, TEXT_CMD_GETS, TEXT_CMD_GAT, TEXT_CMD_GATS,
    TEXT_CMD_SET, TEXT_CMD_ADD, TEXT_CMD_REPLACE, TEXT_CMD_APPEND, TEXT_CMD_PREPEND,
    TEXT_CMD_CAS,
    TEXT_CMD_INCR, TEXT_CMD_DECR,
    TEXT_CMD_DELETE, TEXT_CMD_TOUCH,
    TEXT_CMD_STATS, TEXT_CMD_FLUSH_ALL, TEXT_CMD_VERSION, TEXT_CMD_QUIT,
    TEXT_CMD_SHUTDOWN, TEXT_CMD_VERBOSITY, TEXT_CMD_CACHE_MEMLIMIT,
    TEXT_CMD_META,              /* a two-letter m command: meta.c */
    TEXT_CMD_SLABS, TEXT_CMD_LRU_CRAWLER, TEXT_CMD_LRU, TEXT_CMD_WATCH,   /* text_admin.c */
    TEXT_CMD_CLOSE,             /* looks like HTTP: close without a reply */
    TEXT_CMD_REFRESH_CERTS,     /* reload the TLS certificates (text_tls.c) */
};

struct text_token {
    const char *p;
    size_t len;
};

/* One parsed request line. */
struct text_req {
    enum text_cmd cmd;
    enum msg err;               /* MSG_NONE, or the reply refusing the request */
    bool noreply;
    const char *key;
    size_t nkey;
    uint32_t flags;
    int64_t exptime;            /* as sent; see expiry.h */
    int64_t vlen;               /* data block length without \r\n */
    uint64_t cas;
    uint64_t num;               /* incr/decr delta, verbosity level, memlimit MB, flush delay */
    bool has_num;
    const char *rest;           /* get: the keys; stats: after "stats " */
    size_t nrest;
    int ntokens;                /* as memcached counts them, terminal token included */
    struct text_token tok[TEXT_MAX_TOKENS];
};

/* What the next bytes of a session are for. */
enum text_state {
    TEXT_STATE_CMD = 0,         /* a request line */
    TEXT_STATE_DATA,            /* the data block of a storage command */
    TEXT_STATE_SWALLOW,         /* the data block of a refused one: dropped */
    TEXT_STATE_GET,             /* nothing new: a multi-get stopped at the bound goes on */
    TEXT_STATE_DUMP,            /* nothing new: a dump goes on */
    TEXT_STATE_WATCH,           /* after `watch`: input means nothing */
};

/* What an ms remembers until its data block is in (filled by meta.c). */
struct text_meta_set {
    bool active;                /* the data block belongs to an ms */
    bool invalidate;            /* I with C: an older unique stores a stale value */
    uint8_t nret;
    char ret[48];               /* return flags in request order: " O<opaque>", " k", " c" */
};

/* A multi-get stopped at the reply's bound (text_get.c): its line stays in
 * the transport's buffer, these say where in it to go on. */
struct text_get_state {
    bool touch, with_cas;
    bool checked;               /* no key past the stop point is too long */
    bool discard;               /* one is: look keys up without replying, then refuse */
    bool prev_hit;
    unsigned nkeys;
    rel_time_t exptime;         /* gat's new expiry */
    size_t next, end;           /* offsets in the line: the next key, the last key's end */
    size_t consume;             /* the line with its line end: consumed when done */
};

/* A dump going on across turns (text_dump.c): the walk and what it printed. */
struct text_dump_state {
    bool meta;                  /* lru_crawler metadump; else stats cachedump */
    bool stop;                  /* cachedump's limit or 2 MB reached */
    uint32_t limit, shown;      /* cachedump: items asked for (0 = all), items listed */
    size_t bytes;               /* cachedump: reply bytes so far */
    struct cache_walk walk;
};

/* Per-connection protocol state. */
struct text_session {
    enum text_state state;
    struct item *item;          /* being filled from the data block */
    uint64_t hash;              /* cache_hash() of its key */
    size_t filled;              /* bytes of the block read, its "\r\n" included */
    char tail[2];               /* the block's last two bytes, which must be "\r\n" */
    enum cache_op op;
    uint64_t cas;
    bool noreply;
    size_t swallow;             /* bytes of a refused data block still to drop */
    bool close;                 /* close once the reply is sent */
    struct text_meta_set mset;
    struct text_get_state get;
    struct text_dump_state dump;
    unsigned watch_flags;       /* TEXT_STATE_WATCH: the streams asked for (watch.h) */
    uint64_t timing_start;      /* a storage command's start, while its data block comes */
    uint64_t timing_mark;       /* when the last request timed in this feed ended, or 0 */
    uint8_t timing_cmd;         /* its enum timing_cmd */
    struct proto_key_hint hint; /* during a request served from text_ahead */
};

/* cache_hash() of a key the current request names. */
static inline uint64_t text_key_hash(const struct text_session *s, const char *key, size_t nkey)
{
    return proto_key_hash(&s->hint, key, nkey);
}

/* Requests parsed ahead of their turn (text_ahead.c). */
#define TEXT_AHEAD 4

/* One request line, parsed. */
struct text_parsed {
    size_t start;               /* offset of the line in the input */
    size_t llen;                /* its length without the line end */
    size_t next;                /* offset of the byte after its '\n' */
    const char *key;            /* the key its lookup names, if it takes a hash; else NULL */
    size_t nkey;
    uint64_t hash;              /* cache_hash() of key */
    struct text_req req;
};

/* The queue of one feed over one input buffer (lives as long as the call). */
struct text_ahead {
    struct text_parsed q[TEXT_AHEAD];
    unsigned head, n;
    size_t pos;                 /* where the next request to parse starts */
};

/* An empty queue. */
void text_ahead_reset(struct text_ahead *a);
/* The request at `pos` of buf[0..len), parsed, with up to `limit` (at most
 * TEXT_AHEAD) parsed beyond it and prefetched; NULL if its line is not
 * complete.  Valid until text_ahead_pop. */
const struct text_parsed *text_ahead_next(struct text_ahead *a, const char *buf, size_t len,
                                          size_t pos, unsigned limit);
/* The request text_ahead_next returned was served. */
void text_ahead_pop(struct text_ahead *a);

/* Split a line into memcached's tokens (at most `max`, terminal included). */
int text_tokenize(const char *line, size_t len, struct text_token *tok, int max);

/*
 * The first ' ' in [p, end), or end, eight bytes at a time: a word with a
 * space has a zero byte once xored with spaces, and the lowest byte the
 * classic zero-byte test flags is the first zero (a borrow only carries
 * upwards from one).  Keys and tokens are short; a call to memchr costs
 * more than the scan.
 */
static inline const char *text_find_space(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, spaces = ones * ' ';
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= spaces;
        uint64_t hit = (w - ones) & ~w & (ones << 7);
        if (hit != 0)
            return p + __builtin_ctzll(hit) / 8;
        p += 8;
    }
#else
    (void)ones;
    (void)spaces;
#endif
    while (p < end && *p != ' ')
        p++;
    return p;
}
/* Parse one request line (without its line end) into `req`; the tokens are
 * filled only where a command needs them (not for get, gets and the common
 * forms of the storage commands). */
void text_parse(const char *line, size_t len, struct text_req *req);
/* The same by memcached's tokenizer for every line, tokens always filled
 * (text_parse's general case; no NUL in the line). */
void text_parse_tokens(const char *line, size_t len, struct text_req *req);
/*
 * Consume as much of `buf` as possible, appending replies to `out`.
 * Returns the bytes consumed; stops when a line is incomplete, when -R
 * requests were served or when the connection must close, and says which
 * in *st.  (Transports call proto_feed, which calls this.)
 */
size_t text_feed(struct text_session *s, const struct proto_env *env, const char *buf,
                 size_t len, struct reply *out, enum proto_status *st);
/* Release what a session holds (a half-read item). */
void text_session_reset(struct text_session *s);
/* get/gets/gat/gats (text_get.c): serve the keys of `r`, parsed from
 * `line`, until done (true) or until the reply reaches its bound (false:
 * TEXT_STATE_GET, the line must be passed again to text_get_resume). */
bool text_get_start(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                    const char *line, struct reply *out);
bool text_get_resume(struct text_session *s, const struct proto_env *env, const char *line,
                     struct reply *out);

/* `stats ...` (text_stats.c): append the reply for the subcommand tokens;
 * true when it must be written before the next request (a cachedump). */
bool text_stats(struct text_session *s, const struct proto_env *env, const struct text_req *req,
                struct reply *out);

/* slabs, lru_crawler, lru and watch (text_admin.c).  true when the reply
 * must be written before the next request (a metadump). */
bool text_admin(struct text_session *s, const struct proto_env *env, const struct text_req *r,
                struct reply *out);

/* Dumps (text_dump.c): list the items of a class (`stats cachedump`, at
 * most `limit`, 0 = all) or of a set of classes (`lru_crawler metadump`)
 * until done or until the reply reaches its bound (TEXT_STATE_DUMP: call
 * text_dump_resume once it is written).  Both return true when the reply
 * must be written before the next request: the dump goes on, or it was a
 * metadump (memcached hands a connection back from its crawler with
 * nothing queued, so a metadump after it is no pipelined one). */
bool text_cachedump(struct text_session *s, const struct proto_env *env, unsigned cls,
                    uint32_t limit, struct reply *out);
bool text_metadump(struct text_session *s, const struct proto_env *env,
                   const struct cache_class_set *classes, struct reply *out);
bool text_dump_resume(struct text_session *s, const struct proto_env *env, struct reply *out);

/* refresh_certs (text_tls.c): OK, or memcached's message saying why not. */
void text_refresh_certs(const struct proto_env *env, const struct text_req *r, struct reply *out);

#endif
