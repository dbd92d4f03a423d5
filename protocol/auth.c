/*
 * auth: memcached's -Y authentication — its user file and the text
 * protocol's gate in front of every command — kept apart from the command
 * handlers, so a connection that has authenticated runs the text protocol
 * unchanged and one that has not reaches none of it.
 *
 * The user file is read as memcached 1.6.18's authfile.c reads it, except
 * where memcached goes wrong quietly: a line it would truncate (longer than
 * its 255-byte buffer) or a NUL byte, which it takes for the end of the
 * file, stop mcd from starting instead; and mcd reads every line where
 * memcached keeps the first eight.
 *
 * A table can take another file's users while workers check passwords
 * against it (auth_replace, for SIGHUP): the users are a set the table
 * points to, swapped with one atomic store; a worker loads the pointer once
 * per check (acquire) and uses that set to the end.  A set swapped out may
 * still be in a worker's hands, so it is kept until the table is freed
 * (and wiped then): reloads are an operator's, rare, and a set is the size
 * of its file.
 *
 * Passwords are compared in constant time: every entry is compared, each
 * byte of what the client sent against the entry's (or against a dummy
 * byte when the entry is shorter), and the results are combined without a
 * branch, so the time taken tells neither which entry nor how many bytes
 * matched.  Nothing here logs, and nothing keeps a client's password past
 * the request that carried it.
 */
#include "auth.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "num.h"
#include "text.h"

struct auth_entry {
    const char *user, *pass;
    size_t ulen, plen;
};

/* One reading of a user file.  Immutable once published. */
struct auth_set {
    size_t n;
    char *data;                 /* the file's bytes; entries point into it */
    struct auth_set *retired;   /* the set this one replaced [the replacing thread] */
    struct auth_entry e[];
};

struct auth_table {
    _Atomic(struct auth_set *) cur;     /* the users now [atomic: release on swap, acquire on read] */
};

static void set_free(struct auth_set *u)
{
    while (u != NULL) {
        struct auth_set *next = u->retired;
        /* The passwords leave no copy in freed memory. */
        if (u->data != NULL) {
            size_t len = strlen(u->data);
            memset(u->data, 0, len);
            __asm__ __volatile__("" : : "r"(u->data) : "memory");
        }
        free(u->data);
        free(u);
        u = next;
    }
}

/* The end of a line: its '\n', or the end of the data. */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

struct auth_table *auth_parse(const char *data, size_t len, char *err, size_t errlen)
{
    if (memchr(data, '\0', len) != NULL) {
        const char *nul = memchr(data, '\0', len);
        size_t line = 1;
        for (const char *p = data; p < nul; p++)
            line += *p == '\n';
        snprintf(err, errlen, "line %zu holds a NUL byte", line);
        return NULL;
    }
    size_t lines = 0;
    const char *end = data + len;
    for (const char *p = data; p < end; p = line_end(p, end) + 1)
        lines++;
    struct auth_table *table = calloc(1, sizeof(*table));
    struct auth_set *t = calloc(1, sizeof(*t) + lines * sizeof(t->e[0]));
    char *copy = malloc(len + 1);
    if (table == NULL || t == NULL || copy == NULL) {
        free(table);
        free(t);
        free(copy);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    t->data = copy;
    end = copy + len;
    size_t line = 0;
    for (const char *p = copy; p < end; p = line_end(p, end) + 1) {
        const char *nl = line_end(p, end);
        line++;
        /* memcached reads a line in 255-byte pieces and takes a piece
         * without its '\n' for the last line: its entries would differ. */
        if ((size_t)(nl - p) > AUTH_LINE_MAX) {
            snprintf(err, errlen, "line %zu is longer than %d bytes", line, AUTH_LINE_MAX);
            goto fail;
        }
        const char *colon = memchr(p, ':', (size_t)(nl - p));
        if (colon == NULL) {
            snprintf(err, errlen, "line %zu has no ':'", line);
            goto fail;
        }
        const char *pend = colon + 1;
        while (pend < nl && *pend != '\r')
            pend++;
        struct auth_entry *e = &t->e[t->n++];
        e->user = p;
        e->ulen = (size_t)(colon - p);
        e->pass = colon + 1;
        e->plen = (size_t)(pend - (colon + 1));
    }
    atomic_init(&table->cur, t);
    return table;
fail:
    set_free(t);
    free(table);
    return NULL;
}

void auth_free(struct auth_table *t)
{
    if (t == NULL)
        return;
    set_free(atomic_load_explicit(&t->cur, memory_order_relaxed));
    free(t);
}

void auth_replace(struct auth_table *t, struct auth_table *from)
{
    struct auth_set *u = atomic_load_explicit(&from->cur, memory_order_relaxed);
    free(from);
    u->retired = atomic_load_explicit(&t->cur, memory_order_relaxed);
    atomic_store_explicit(&t->cur, u, memory_order_release);
}

size_t auth_count(const struct auth_table *t)
{
    return t ? atomic_load_explicit(&((struct auth_table *)t)->cur, memory_order_acquire)->n : 0;
}

/* Zero when a[0..an) equals b[0..bn); the time depends on an alone.  b
 * points into a NUL-terminated buffer, so b[0] is always readable. */
static unsigned ct_diff(const char *a, size_t an, const char *b, size_t bn)
{
    unsigned d = (unsigned)((an ^ bn) != 0);
    for (size_t i = 0; i < an; i++) {
        size_t inside = (size_t)0 - (size_t)(i < bn);   /* all ones while i < bn */
        d |= (unsigned char)a[i] ^ (unsigned char)b[i & inside];
    }
    return d;
}

bool auth_check(const struct auth_table *t, const char *user, size_t ulen, const char *pass,
                size_t plen)
{
    unsigned found = 0;
    const struct auth_set *u =
        t ? atomic_load_explicit(&((struct auth_table *)t)->cur, memory_order_acquire) : NULL;
    for (size_t i = 0; u != NULL && i < u->n; i++) {
        const struct auth_entry *e = &u->e[i];
        unsigned d = ct_diff(user, ulen, e->user, e->ulen) | ct_diff(pass, plen, e->pass, e->plen);
        found |= (unsigned)(d == 0);
        /* Keep the compiler from stopping at the first match. */
        __asm__ __volatile__("" : "+r"(found));
    }
    return found != 0;
}

/* ---- the text protocol's gate ----------------------------------------- */

/* memcached's tokens of a C string: the bytes up to the first NUL. */
static int auth_tokenize(const char *p, size_t n, struct text_token *tok)
{
    const char *nul = memchr(p, '\0', n);
    if (nul != NULL)
        n = (size_t)(nul - p);
    return text_tokenize(p, n, tok, TEXT_MAX_TOKENS);
}

static bool tok_eq(const struct text_token *t, const char *s)
{
    size_t n = strlen(s);
    return t->p != NULL && t->len == n && memcmp(t->p, s, n) == 0;
}

/* The request line: a `set` names the length of the block to read. */
static void auth_line(struct auth_text *a, const char *line, size_t n, struct reply *out)
{
    struct text_token tok[TEXT_MAX_TOKENS];
    int ntok = auth_tokenize(line, n, tok);
    uint32_t size;
    if (ntok < 6 || !tok_eq(&tok[0], "set") || !num_parse_u32(tok[4].p, tok[4].len, &size)) {
        reply_str(out, "CLIENT_ERROR unauthenticated\r\n");
        return;
    }
    /* memcached adds 2 in 32 bits: a length near 2^32 wraps to a short block. */
    a->need = size + 2u;
    a->dropped = 0;
    a->started = true;
}

/* The block is in (or was dropped, too long to hold): answer it. */
static void auth_block(struct auth_text *a, const struct proto_env *env, const char *data,
                       size_t n, bool dropped, struct reply *out)
{
    a->started = false;
    bool crlf = dropped ? a->tail[0] == '\r' && a->tail[1] == '\n'
                        : n >= 2 && data[n - 2] == '\r' && data[n - 1] == '\n';
    if (!crlf) {
        reply_str(out, "CLIENT_ERROR bad command line termination\r\n");
        return;
    }
    bool ok = false;
    if (!dropped) {
        struct text_token tok[TEXT_MAX_TOKENS];
        if (auth_tokenize(data, n - 2, tok) < 3) {
            reply_str(out, "CLIENT_ERROR bad authentication token format\r\n");
            return;
        }
        ok = auth_check(env->settings->auth_ascii, tok[0].p, tok[0].len, tok[1].p, tok[1].len);
    }
    counter_inc(&env->counters->auth_cmds);
    if (ok) {
        a->authenticated = true;
        msg_reply(out, MSG_STORED);
    } else {
        counter_inc(&env->counters->auth_errors);
        reply_str(out, "CLIENT_ERROR authentication failure\r\n");
    }
}

/* Drop what a block too long to buffer sends; true once all of it is in. */
static bool auth_drop(struct auth_text *a, const char *buf, size_t len, size_t *pos)
{
    size_t left = a->need - a->dropped;
    size_t n = len - *pos < left ? len - *pos : left;
    for (size_t i = 0; i < n; i++) {
        a->tail[0] = a->tail[1];
        a->tail[1] = buf[*pos + i];
    }
    *pos += n;
    a->dropped += (uint32_t)n;
    return a->dropped == a->need;
}

size_t auth_text_feed(struct auth_text *a, const struct proto_env *env, const char *buf,
                      size_t len, struct reply *out, enum proto_status *st)
{
    size_t pos = 0;
    *st = PROTO_WANT_INPUT;
    while (!a->authenticated && !a->close) {
        if (a->started) {
            if (a->need > AUTH_DATA_MAX) {
                if (!auth_drop(a, buf, len, &pos))
                    break;
                auth_block(a, env, NULL, 0, true, out);
                continue;
            }
            if (len - pos < a->need)
                break;
            const char *data = buf + pos;
            pos += a->need;
            auth_block(a, env, data, a->need, false, out);
            continue;
        }
        /* Past the bound, the replies are written before more is read. */
        if (reply_pending(out) >= env->settings->reply_bound) {
            *st = PROTO_DRAIN;
            break;
        }
        if (len - pos < 2)      /* memcached: no command is this short */
            break;
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        if (nl == NULL) {
            if (len - pos > TEXT_LINE_MAX)
                a->close = true;
            break;
        }
        pos = (size_t)(nl - buf) + 1;
        auth_line(a, line, (size_t)(nl - line), out);
    }
    if (a->close)
        *st = PROTO_CLOSE;
    return pos;
}
