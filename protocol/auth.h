/*
 * auth: memcached's user file (-Y, and the users SASL PLAIN checks with -S)
 * and the text protocol's authentication gate.  See auth.c.
 */
#ifndef MCD_AUTH_H
#define MCD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "reply.h"

/* The longest line of a user file memcached reads whole (its fgets buffer). */
#define AUTH_LINE_MAX 255
/* The longest data block of an unauthenticated `set` that is buffered; a
 * longer one ("user password" cannot be) is read and dropped, then refused. */
#define AUTH_DATA_MAX 1024

/* The users of a user file: `user:password` lines. */
struct auth_table;

/*
 * Parse a user file's bytes, as memcached 1.6.18's authfile_load reads
 * them: one `user:password` per line, the password ending at '\r' or
 * '\n'.  Returns the table, or NULL with a reason in err (the line number
 * and what is wrong): a line without ':' (an empty line too), a NUL byte,
 * a line longer than AUTH_LINE_MAX.  An empty file is a table of no users.
 */
struct auth_table *auth_parse(const char *data, size_t len, char *err, size_t errlen);
/* Free a table from auth_parse (and every set of users it ever had). */
void auth_free(struct auth_table *t);
/* Give t the users of `from` (a table from auth_parse, consumed), while
 * other threads may be checking passwords against t: a check sees the old
 * users or the new, never a mix.  One thread replaces at a time. */
void auth_replace(struct auth_table *t, struct auth_table *from);
/* Users in the table. */
size_t auth_count(const struct auth_table *t);
/* Whether user and password match an entry.  The time taken depends on the
 * lengths given and the number of entries, never on which bytes or which
 * entry matched. */
bool auth_check(const struct auth_table *t, const char *user, size_t ulen, const char *pass,
                size_t plen);

/* A text connection's progress through memcached's -Y handshake. */
struct auth_text {
    bool authenticated;
    bool started;               /* the `set` line is in: reading its data block */
    uint32_t need;              /* its length with "\r\n", in memcached's 32-bit arithmetic */
    uint32_t dropped;           /* of a block too long to buffer: bytes dropped so far */
    char tail[2];               /* its last two bytes so far */
    bool close;
};

/*
 * Serve a text connection that has not authenticated yet, as memcached's
 * try_read_command_asciiauth: a `set <any> <any> <any> <len>` line and a
 * data block "user password" answer STORED (the connection is then
 * authenticated: a->authenticated) or CLIENT_ERROR authentication failure;
 * every other line CLIENT_ERROR unauthenticated; 2048 bytes without a
 * newline close.  Returns the bytes consumed; stops once authenticated.
 */
size_t auth_text_feed(struct auth_text *a, const struct proto_env *env, const char *buf,
                      size_t len, struct reply *out, enum proto_status *st);

#endif
