/*
 * tls: TLS for TCP connections (-Z), with OpenSSL: the process's context
 * (certificates, verification, versions), refresh_certs, and each
 * connection's session driven from its worker's non-blocking loop.  See tls.c.
 */
#ifndef MCD_TLS_H
#define MCD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "proto.h"
#include "reply.h"

/* Load the certificates and build the context, as memcached's ssl_init:
 * 0, or -1 after memcached's message for what failed went to stderr.  Fills
 * `shown` with what `stats settings` reports. */
int tls_setup(const struct config *cfg, struct proto_tls *shown);
/* Free the context. */
void tls_teardown(void);
/* Whether -Z is on. */
bool tls_enabled(void);
/* Load the certificates again into a new context used for connections from
 * now on (refresh_certs); false with memcached's message in err. */
bool tls_refresh(char *err, size_t errlen);
/* Seconds since the certificates were last loaded. */
uint32_t tls_since_refresh(void);
/* The counters the calling worker thread's TLS connections add to. */
void tls_thread_counters(struct proto_counters *c);
/* The calling worker thread is done: its encryption buffer goes. */
void tls_thread_exit(void);

/* One connection's TLS session. */
struct tls_conn;

/* A server-side session on a connected socket; NULL if out of memory. */
struct tls_conn *tls_conn_new(int fd);
/* Free it (no close_notify is sent: the socket is closed with it). */
void tls_conn_free(struct tls_conn *t);
/*
 * Read decrypted bytes, the handshake first: as read(2), > 0 bytes, 0 at the
 * end, -1 with errno EAGAIN when the socket has no more (then
 * tls_conn_wants_write says whether handshake bytes wait to be sent first),
 * or another errno on a failure (a failed handshake is counted).
 */
ssize_t tls_conn_read(struct tls_conn *t, char *buf, size_t cap);
/* Encrypt the reply and send it with one send() per batch: 1 all sent,
 * 0 the socket is full, -1 an error.  Adds the plaintext sent to *written. */
int tls_conn_flush(struct tls_conn *t, struct reply *out, uint64_t *written);
/* True while encrypted bytes wait to be sent. */
bool tls_conn_wants_write(const struct tls_conn *t);

#endif
