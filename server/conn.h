/*
 * conn: one client connection — its read buffer, its protocol session and
 * its pending reply — and the read/process/write step the worker runs when
 * the socket is ready.  See conn.c.
 */
#ifndef MCD_CONN_H
#define MCD_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "binary.h"
#include "proto.h"
#include "reply.h"
#include "text.h"

/* What the connection waits for after a step. */
enum conn_wait {
    CONN_WAIT_READ,     /* all input handled, reply sent */
    CONN_WAIT_WRITE,    /* the socket is full: wait until writable */
    CONN_YIELD,         /* -R reached with requests left: run again soon */
    CONN_CLOSE,         /* peer gone, error, or quit: close it */
};

/* The protocol a connection speaks, fixed by its first byte. */
enum conn_proto { CONN_PROTO_UNKNOWN = 0, CONN_PROTO_TEXT, CONN_PROTO_BINARY };

struct conn {
    int fd;
    struct conn *prev, *next;   /* the owning worker's list */
    char *rbuf;
    size_t rpos, rlen, rcap;
    struct reply out;
    enum conn_proto proto;
    struct text_session sess;   /* CONN_PROTO_TEXT */
    struct bin_session bin;     /* CONN_PROTO_BINARY */
    enum conn_wait waiting;     /* what epoll is watching for */
    bool yielded;               /* on the worker's run-again list */
    struct conn *ynext;
    rel_time_t last_cmd;
    char addr[128];              /* peer, as memcached prints it in stats conns */
    char listen_addr[128];
};

/* A connection for an accepted socket; NULL on allocation failure. */
struct conn *conn_new(int fd);
/* Close the socket and free everything the connection holds. */
void conn_free(struct conn *c);
/* Read what is there, serve it, write the replies: one step. */
enum conn_wait conn_run(struct conn *c, const struct proto_env *env);

#endif
