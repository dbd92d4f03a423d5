/*
 * mcdb_tls: mcd-bench's TLS client (--tls): every connection does its
 * handshake before the run and then reads and writes through OpenSSL.
 * See mcdb_tls.c.
 */
#ifndef MCDB_TLS_H
#define MCDB_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct ssl_st;

/* The client context: TLS 1.2 or later, the server's certificate not
 * checked (a benchmark measures the server, not the PKI).  0 or -1. */
int mcdb_tls_setup(void);
/* A session over the connected, still blocking socket fd, handshake done;
 * NULL with the reason on stderr. */
struct ssl_st *mcdb_tls_connect(int fd);
/* send() and recv() through the session: bytes, or -1 with errno EAGAIN
 * when the socket must become writable / readable first, or another errno. */
ssize_t mcdb_tls_send(struct ssl_st *s, const void *buf, size_t n);
ssize_t mcdb_tls_recv(struct ssl_st *s, void *buf, size_t n);
/* Whether decrypted bytes wait inside the session (epoll cannot see them). */
int mcdb_tls_pending(struct ssl_st *s);
void mcdb_tls_free(struct ssl_st *s);

#endif
