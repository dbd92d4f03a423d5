/*
 * watchers: the clients of `watch` and the thread that streams them the
 * log lines (protocol/watch.h).  See watchers.c.
 */
#ifndef MCD_WATCHERS_H
#define MCD_WATCHERS_H

/* Install the sink protocol/watch.c sends lines to. */
void watchers_setup(void);
/* Register a socket whose client sent `watch`, for the streams in `flags`:
 * lines are kept for it from now on.  0, or -EMFILE past memcached's 20
 * watchers. */
int watchers_add(int fd, unsigned flags);
struct tls_conn;
/* Its OK is written: the socket, and its TLS session if it has one (NULL
 * for plain TCP), are the watchers' thread's from now on. */
void watchers_start(int fd, struct tls_conn *tls);
/* The connection closed before it was handed over: drop the registration
 * (the socket is its owner's to close). */
void watchers_forget(int fd);
/* Stop the thread and close every watcher. */
void watchers_teardown(void);

#endif
