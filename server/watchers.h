/*
 * watchers: the clients of `watch` and the thread that streams them the
 * log lines (protocol/watch.h).  See watchers.c.
 */
#ifndef MCD_WATCHERS_H
#define MCD_WATCHERS_H

/* Install the sink protocol/watch.c sends lines to. */
void watchers_setup(void);
/* Take over a socket whose client sent `watch` (its OK already written),
 * for the streams in `flags`.  0, or -EMFILE past memcached's 20 watchers
 * (the caller then closes the socket). */
int watchers_add(int fd, unsigned flags);
/* Stop the thread and close every watcher. */
void watchers_teardown(void);

#endif
