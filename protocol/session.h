/*
 * session: the one way into protocol/ for a transport (server/conn.c for
 * TCP and unix sockets, server/udp.c for datagrams).  See session.c.
 */
#ifndef MCD_SESSION_H
#define MCD_SESSION_H

#include <stddef.h>

#include "proto.h"
#include "reply.h"

/* How the bytes come: a stream, or one datagram per request (UDP, which
 * sends each response in its own datagrams: the reply keeps their bounds). */
enum proto_transport { PROTO_STREAM, PROTO_DATAGRAM };

/* One client's protocol state and the reply it builds; opaque. */
struct proto_session;

/* A new session; NULL when memory runs out. */
struct proto_session *proto_session_new(enum proto_transport t);
/* Free a session and whatever it holds (a half-read item, the reply). */
void proto_session_free(struct proto_session *s);
/* Forget the protocol chosen, the work in progress and the reply: a
 * datagram is a request of its own. */
void proto_session_reset(struct proto_session *s);
/*
 * Serve what `buf` holds: the first bytes pick the protocol (text and meta,
 * or binary, as -B allows), then requests run and their replies go to the
 * session's reply.  Returns the bytes consumed; the rest must be passed
 * again, with more after it, on the next call.  *st says what to do next.
 */
size_t proto_feed(struct proto_session *s, const struct proto_env *env, const char *buf,
                  size_t len, enum proto_status *st);
/* The log streams (watch.h) a client asked for with `watch`: from then on
 * it is a watcher, not a client; 0 for every other session. */
unsigned proto_session_watching(const struct proto_session *s);
/* The reply built so far, which the transport writes and consumes. */
struct reply *proto_session_reply(struct proto_session *s);

#endif
