/*
 * acceptor: the listening sockets and the thread that accepts on them and
 * hands each new connection to a worker.  See acceptor.c.
 */
#ifndef MCD_ACCEPTOR_H
#define MCD_ACCEPTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "stats.h"

/* Open every listening socket the config asks for.  0 or -errno, with the
 * reason logged. */
int acceptor_listen(const struct config *cfg);
/* Accept until acceptor_stop(); runs on the calling thread, and calls
 * on_wake (if not NULL) there after each acceptor_wake(). */
void acceptor_run(void (*on_wake)(void));
/* Make acceptor_run return (async-signal-safe). */
void acceptor_stop(void);
/* Make acceptor_run call its on_wake soon (async-signal-safe). */
void acceptor_wake(void);
/* Close the listening sockets and remove the unix socket file. */
void acceptor_close(void);
/* Connections refused because of -c. */
uint64_t acceptor_rejected(void);
/* Whether new connections are accepted now, how many times accepting was
 * paused for want of descriptors, and for how long in all (microseconds,
 * counted when a pause ends), for `stats`. */
void acceptor_listen_stats(bool *accepting, uint64_t *disabled_num, uint64_t *disabled_us);
/* Append `stats conns` lines for the listening sockets. */
void acceptor_conn_stats(struct stats_sink *s, rel_time_t now);

#endif
