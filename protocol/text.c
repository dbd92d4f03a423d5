/*
 * text: memcached's ASCII protocol as a push parser over byte buffers.
 *
 * text_feed() takes whatever bytes the connection has, consumes complete
 * request lines, and for storage commands copies the data block straight
 * into the newly allocated item — the one copy a value gets on its way in.
 * A data block may arrive in any number of pieces; the session remembers
 * where it is.  Replies are appended to a `struct reply` (values by
 * reference), so one writev can carry a whole pipelined batch.
 *
 * Parsing (text_tokenize, text_parse) is pure and mirrors memcached 1.6's
 * tokenizer exactly, quirks included, because clients depend on its
 * replies byte for byte; numbers are read by storage/num.h, memcached's
 * safe_strto* helpers.
 */
#include "text.h"

#include <string.h>

#include "num.h"

int text_tokenize(const char *line, size_t len, struct text_token *tok, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        if (line[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        i = (size_t)(text_find_space(line + i, line + len) - line);
        tok[n].p = line + start;
        tok[n].len = i - start;
        if (++n == max - 1) {
            /* memcached stops here, past the one space that ended the token. */
            if (i < len)
                i++;
            break;
        }
    }
    /* The terminal token points at what is left unparsed, if anything. */
    tok[n].p = i < len ? line + i : NULL;
    tok[n].len = i < len ? len - i : 0;
    return n + 1;
}

static void text_req_init(struct text_req *r)
{
    r->cmd = TEXT_CMD_ERROR;
    r->err = MSG_NONE;
    r->noreply = false;
    r->has_num = false;
    r->cas = 0;
    r->rest = NULL;
    r->nrest = 0;
}

static bool tok_is(const struct text_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->p != NULL && t->len == n && memcmp(t->p, s, n) == 0;
}

/* memcached's set_noreply_maybe: "noreply" in the last real token. */
static bool text_noreply(const struct text_req *r)
{
    return tok_is(&r->tok[r->ntokens - 2], "noreply");
}

static void text_fail(struct text_req *r, enum msg e)
{
    r->cmd = TEXT_CMD_ERROR;
    r->err = e;
}

static bool text_want(struct text_req *r, int min, int max)
{
    if (r->ntokens < min || (max > 0 && r->ntokens > max)) {
        text_fail(r, MSG_ERROR);
        return false;
    }
    return true;
}

static void text_parse_key(struct text_req *r)
{
    r->key = r->tok[1].p;
    r->nkey = r->tok[1].len;
    if (r->nkey > ITEM_KEY_MAX)
        text_fail(r, MSG_E_FORMAT);
}

static void text_parse_update(struct text_req *r, enum text_cmd cmd)
{
    bool cas = cmd == TEXT_CMD_CAS;
    if (!text_want(r, cas ? 7 : 6, cas ? 8 : 7))
        return;
    r->cmd = cmd;
    r->noreply = text_noreply(r);
    text_parse_key(r);
    if (r->err)
        return;
    int32_t exptime, vlen;
    if (!num_parse_u32(r->tok[2].p, r->tok[2].len, &r->flags) ||
        !num_parse_i32(r->tok[3].p, r->tok[3].len, &exptime) ||
        !num_parse_i32(r->tok[4].p, r->tok[4].len, &vlen) ||
        (cas && !num_parse_u64(r->tok[5].p, r->tok[5].len, &r->cas)) ||
        vlen < 0 || vlen > INT32_MAX - 2) {
        text_fail(r, MSG_E_FORMAT);
        return;
    }
    r->exptime = exptime;
    r->vlen = vlen;
}

static void text_parse_get(struct text_req *r, enum text_cmd cmd, const char *line, size_t len)
{
    r->cmd = cmd;
    int first = 1;
    if (cmd == TEXT_CMD_GAT || cmd == TEXT_CMD_GATS) {
        int32_t exptime;
        if (!num_parse_i32(r->tok[1].p, r->tok[1].len, &exptime)) {
            text_fail(r, MSG_E_EXPTIME);
            return;
        }
        r->exptime = exptime;
        first = 2;
    }
    /* Keys are walked from the line itself (text_next_key), so a multi-get
     * is not bounded by the token array. */
    if (first < r->ntokens - 1) {
        r->rest = r->tok[first].p;
        r->nrest = (size_t)(line + len - r->rest);
    } else {
        r->rest = NULL;
        r->nrest = 0;
    }
}

static void text_parse_arith(struct text_req *r, enum text_cmd cmd)
{
    if (!text_want(r, 4, 5))
        return;
    r->cmd = cmd;
    r->noreply = text_noreply(r);
    text_parse_key(r);
    if (r->err)
        return;
    if (!num_parse_u64(r->tok[2].p, r->tok[2].len, &r->num))
        text_fail(r, MSG_E_DELTA);
}

static void text_parse_delete(struct text_req *r)
{
    if (!text_want(r, 3, 5))
        return;
    r->cmd = TEXT_CMD_DELETE;
    if (r->ntokens > 3) {
        bool hold_zero = tok_is(&r->tok[2], "0");
        r->noreply = text_noreply(r);
        bool valid = (r->ntokens == 4 && (hold_zero || r->noreply)) ||
                     (r->ntokens == 5 && hold_zero && r->noreply);
        if (!valid) {
            text_fail(r, MSG_E_DELETE_USAGE);
            return;
        }
    }
    text_parse_key(r);
}

static void text_parse_touch(struct text_req *r)
{
    if (!text_want(r, 4, 5))
        return;
    r->cmd = TEXT_CMD_TOUCH;
    r->noreply = text_noreply(r);
    text_parse_key(r);
    if (r->err)
        return;
    int32_t exptime = 0;
    if (!num_parse_i32(r->tok[2].p, r->tok[2].len, &exptime))
        text_fail(r, MSG_E_EXPTIME);
    r->exptime = exptime;
}

static void text_parse_flush(struct text_req *r)
{
    if (!text_want(r, 2, 4))
        return;
    r->cmd = TEXT_CMD_FLUSH_ALL;
    r->noreply = text_noreply(r);
    r->exptime = 0;
    r->num = 0;
    if (r->ntokens != (r->noreply ? 3 : 2)) {
        int32_t delay;
        if (!num_parse_i32(r->tok[1].p, r->tok[1].len, &delay)) {
            r->num = 1;     /* refused in text_exec, after the -F check */
            return;
        }
        r->exptime = delay;
    }
}

static void text_parse_verbosity(struct text_req *r)
{
    if (!text_want(r, 3, 4))
        return;
    r->cmd = TEXT_CMD_VERBOSITY;
    r->noreply = text_noreply(r);
    uint32_t level = 0;
    if (!num_parse_u32(r->tok[1].p, r->tok[1].len, &level))
        text_fail(r, MSG_E_FORMAT);
    r->num = level;
}

static void text_parse_memlimit(struct text_req *r)
{
    if (!text_want(r, 3, 4))
        return;
    r->cmd = TEXT_CMD_CACHE_MEMLIMIT;
    r->noreply = text_noreply(r);
    uint32_t mb = 0;
    /* memcached answers a bad number here with a plain ERROR. */
    if (!num_parse_u32(r->tok[1].p, r->tok[1].len, &mb))
        text_fail(r, MSG_ERROR);
    r->num = mb;
}

static void text_parse_shutdown(struct text_req *r)
{
    /* num: 0 plain, 1 graceful, 2 an unknown mode (refused after the -A check). */
    r->cmd = TEXT_CMD_SHUTDOWN;
    r->num = 0;
    if (r->ntokens == 3 && tok_is(&r->tok[1], "graceful"))
        r->num = 1;
    else if (r->ntokens != 2)
        r->num = 2;
}

/*
 * The common requests in their common shapes, parsed in one pass over the
 * line instead of split into tokens whose numbers are then read again.
 * Each returns false for any line it does not take, which then goes to
 * text_parse_tokens; on the lines it takes, it computes what
 * text_parse_tokens computes (test_text_parse checks the two agree).
 */

/*
 * get and gets: their keys are walked from the line itself (text_get.c), so
 * all the parse needs to know is where they start, and that there is one
 * (memcached's "three tokens at least").
 */
static bool text_parse_get_line(const char *line, size_t len, struct text_req *r)
{
    size_t i = 0;
    while (i < len && line[i] == ' ')
        i++;
    size_t word;
    if (i == len || line[i] != 'g')
        return false;
    if (len - i > 4 && memcmp(line + i, "get ", 4) == 0) {
        r->cmd = TEXT_CMD_GET;
        word = 4;
    } else if (len - i > 5 && memcmp(line + i, "gets ", 5) == 0) {
        r->cmd = TEXT_CMD_GETS;
        word = 5;
    } else {
        return false;
    }
    for (i += word; i < len && line[i] == ' '; i++)
        ;
    if (i == len) {
        r->ntokens = 2;     /* the command and the terminal, as the tokenizer counts */
        text_fail(r, MSG_ERROR);
        return true;
    }
    r->rest = line + i;
    r->nrest = len - i;
    r->ntokens = 3;         /* at least: nothing past the first key is counted */
    return true;
}

/* A run of at most 18 digits at *p (so no overflow to think of), then a
 * space or the end; false for anything else. */
static inline bool scan_digits(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p, *q = s, *stop = end - s > 18 ? s + 18 : end;
    uint64_t x = 0;
    unsigned d;
    while (q < stop && (d = (unsigned)(unsigned char)*q - '0') <= 9) {
        x = x * 10 + d;
        q++;
    }
    if (q == s || (q < end && *q != ' '))
        return false;
    *v = x;
    *p = q;
    return true;
}

/* " <digits>", or with `sign` " -<digits>" too (*neg says which), as scan_digits. */
static inline bool scan_number(const char **p, const char *end, bool sign, uint64_t *v, bool *neg)
{
    if (*p == end || **p != ' ')
        return false;
    (*p)++;
    *neg = sign && *p < end && **p == '-';
    if (*neg)
        (*p)++;
    return scan_digits(p, end, v);
}

/*
 * set, add, replace, append, prepend and cas as clients send them: single
 * spaces, a key of at most 250 bytes, plain decimal numbers (exptime may be
 * negative), a length memcached accepts, then nothing or " noreply".
 */
static bool text_parse_update_line(const char *line, size_t len, struct text_req *r)
{
#define IS(word) (len > sizeof(word) - 1 && memcmp(line, word, sizeof(word) - 1) == 0)
    enum text_cmd cmd;
    size_t word;
    if (IS("set "))
        cmd = TEXT_CMD_SET, word = 4;
    else if (IS("add "))
        cmd = TEXT_CMD_ADD, word = 4;
    else if (IS("cas "))
        cmd = TEXT_CMD_CAS, word = 4;
    else if (IS("replace "))
        cmd = TEXT_CMD_REPLACE, word = 8;
    else if (IS("append "))
        cmd = TEXT_CMD_APPEND, word = 7;
    else if (IS("prepend "))
        cmd = TEXT_CMD_PREPEND, word = 8;
    else
        return false;
#undef IS
    const char *p = line + word, *end = line + len;
    const char *key = p;
    p = text_find_space(p, end);
    size_t nkey = (size_t)(p - key);
    if (nkey == 0 || nkey > ITEM_KEY_MAX)
        return false;
    uint64_t flags, exptime, vlen, cas = 0;
    bool neg, unused;
    if (!scan_number(&p, end, false, &flags, &unused) ||
        !scan_number(&p, end, true, &exptime, &neg) ||
        !scan_number(&p, end, false, &vlen, &unused) || vlen > INT32_MAX - 2)
        return false;
    if (cmd == TEXT_CMD_CAS && !scan_number(&p, end, false, &cas, &unused))
        return false;
    bool noreply = end - p == 8 && memcmp(p, " noreply", 8) == 0;
    if (p != end && !noreply)
        return false;
    r->cmd = cmd;
    r->noreply = noreply;
    r->key = key;
    r->nkey = nkey;
    r->flags = (uint32_t)flags;
    /* As num_parse_i32: a long, stored into 32 bits. */
    r->exptime = (int32_t)(neg ? -(int64_t)exptime : (int64_t)exptime);
    r->vlen = (int64_t)vlen;
    r->cas = cas;
    r->ntokens = (cmd == TEXT_CMD_CAS ? 7 : 6) + noreply;
    return true;
}

void text_parse(const char *line, size_t len, struct text_req *r)
{
    /* memcached works on a C string: an embedded NUL ends the command. */
    const char *nul = memchr(line, '\0', len);
    if (nul != NULL)
        len = (size_t)(nul - line);
    text_req_init(r);
    if (!text_parse_get_line(line, len, r) && !text_parse_update_line(line, len, r))
        text_parse_tokens(line, len, r);
}

void text_parse_tokens(const char *line, size_t len, struct text_req *r)
{
    text_req_init(r);
    r->ntokens = text_tokenize(line, len, r->tok, TEXT_MAX_TOKENS);
    const struct text_token *c = &r->tok[0];
    if (r->ntokens < 2 || c->len < 2) {
        text_fail(r, MSG_ERROR);
        return;
    }
    if (c->p[0] == 'g') {
        if (!text_want(r, 3, 0))
            return;
        if (tok_is(c, "get"))
            text_parse_get(r, TEXT_CMD_GET, line, len);
        else if (tok_is(c, "gets"))
            text_parse_get(r, TEXT_CMD_GETS, line, len);
        else if (tok_is(c, "gat"))
            text_parse_get(r, TEXT_CMD_GAT, line, len);
        else if (tok_is(c, "gats"))
            text_parse_get(r, TEXT_CMD_GATS, line, len);
        else
            text_fail(r, MSG_ERROR);
    } else if (c->p[0] == 'm' && c->len == 2) {
        r->cmd = TEXT_CMD_META;     /* meta.c parses the rest */
    } else if (tok_is(c, "set")) {
        text_parse_update(r, TEXT_CMD_SET);
    } else if (tok_is(c, "add")) {
        text_parse_update(r, TEXT_CMD_ADD);
    } else if (tok_is(c, "replace")) {
        text_parse_update(r, TEXT_CMD_REPLACE);
    } else if (tok_is(c, "append")) {
        text_parse_update(r, TEXT_CMD_APPEND);
    } else if (tok_is(c, "prepend")) {
        text_parse_update(r, TEXT_CMD_PREPEND);
    } else if (tok_is(c, "cas")) {
        text_parse_update(r, TEXT_CMD_CAS);
    } else if (tok_is(c, "incr")) {
        text_parse_arith(r, TEXT_CMD_INCR);
    } else if (tok_is(c, "decr")) {
        text_parse_arith(r, TEXT_CMD_DECR);
    } else if (tok_is(c, "delete")) {
        text_parse_delete(r);
    } else if (tok_is(c, "touch")) {
        text_parse_touch(r);
    } else if (tok_is(c, "stats")) {
        r->cmd = TEXT_CMD_STATS;
    } else if (tok_is(c, "flush_all")) {
        text_parse_flush(r);
    } else if (tok_is(c, "version")) {
        r->cmd = TEXT_CMD_VERSION;
    } else if (tok_is(c, "quit")) {
        r->cmd = TEXT_CMD_QUIT;
    } else if (tok_is(c, "shutdown")) {
        text_parse_shutdown(r);
    } else if (tok_is(c, "verbosity")) {
        text_parse_verbosity(r);
    } else if (tok_is(c, "cache_memlimit")) {
        text_parse_memlimit(r);
    } else if (tok_is(c, "slabs")) {
        r->cmd = TEXT_CMD_SLABS;
    } else if (tok_is(c, "lru_crawler")) {
        r->cmd = TEXT_CMD_LRU_CRAWLER;
    } else if (tok_is(c, "watch")) {
        r->cmd = TEXT_CMD_WATCH;
    } else if (tok_is(c, "lru")) {
        if (text_want(r, 3, 0))
            r->cmd = TEXT_CMD_LRU;
    } else if (tok_is(c, "bget")) {
        /* memcached still takes the ancient "binary get" as a get. */
        if (text_want(r, 3, 0))
            text_parse_get(r, TEXT_CMD_GET, line, len);
    } else if (tok_is(c, "refresh_certs")) {
        r->cmd = TEXT_CMD_REFRESH_CERTS;
        r->noreply = text_noreply(r);
    } else if (r->tok[r->ntokens - 2].len >= 5 &&
               memcmp(r->tok[r->ntokens - 2].p, "HTTP/", 5) == 0) {
        r->cmd = TEXT_CMD_CLOSE;
    } else {
        text_fail(r, MSG_ERROR);
    }
}
