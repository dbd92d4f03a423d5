/*
 * conn: one client connection — its socket, its read buffer and its
 * protocol session — and the read/serve/write step the worker runs when the
 * socket is ready.  See conn.c.
 */
#ifndef MCD_CONN_H
#define MCD_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "session.h"

/* What the connection waits for after a step. */
enum conn_wait {
    CONN_WAIT_READ,     /* all input handled, reply sent */
    CONN_WAIT_WRITE,    /* the socket is full: wait until writable */
    CONN_YIELD,         /* -R reached with requests left: run again soon */
    CONN_CLOSE,         /* peer gone, error, or quit: close it */
};

/*
 * Owned by one worker thread, which alone reads and writes it; `stats conns`
 * on other workers reads the fields marked so, under the owner's list lock.
 */
struct conn {
    int fd;                     /* stats conns: set before the conn is listed */
    struct conn *prev, *next;   /* the owning worker's list, under its list lock */
    char *rbuf;                 /* unserved input; NULL when none (between steps) */
    size_t rpos, rlen, rcap;
    bool borrowed;              /* rbuf is the worker's scratch (during a step) */
    struct proto_session *sess;
    struct tls_conn *tls;       /* -Z: the TLS session, NULL on plain connections */
    bool closing;               /* close once the reply is written */
    bool queued;                /* on the worker's run-again list */
    struct conn *qnext;
    _Atomic int waiting;        /* stats conns: the enum conn_wait epoll watches for */
    _Atomic rel_time_t last_cmd;    /* stats conns, idle_timeout */
    char addr[128];             /* stats conns: peer, as memcached prints it; set
                                 * before the conn is listed */
    char listen_addr[128];
};

/* A connection for an accepted socket; NULL on allocation failure. */
struct conn *conn_new(int fd);
/* Close the socket and free everything the connection holds. */
void conn_free(struct conn *c);
/* Bytes of the read buffer a worker lends its connections. */
#define CONN_SCRATCH_SIZE 16384

/* Read what is there, serve it, write the replies: one step.  `scratch`
 * (CONN_SCRATCH_SIZE bytes, the worker's) is used during the step only. */
enum conn_wait conn_run(struct conn *c, const struct proto_env *env, char *scratch);
/* Read buffers connections hold of their own (unserved input), for stats. */
void conn_read_buffers(uint64_t *count, uint64_t *bytes);
/* True while part of a reply waits to be written. */
bool conn_writing(struct conn *c);

#endif
