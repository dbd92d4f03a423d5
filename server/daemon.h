/*
 * daemon: the process-level chores memcached does at start-up — detach,
 * pidfile, resource limits, dropping root, signals.
 */
#ifndef MCD_DAEMON_H
#define MCD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Refuse to run as root without -u, like memcached.  0 or -EPERM (logged). */
int daemon_check_user(const struct config *cfg);
/* Descriptors kept for libraries and the unforeseen, on top of those counted. */
#define DAEMON_FD_HEADROOM 16
/* Raise the open-files limit for -c plus daemon_fds_estimate(), enable
 * core dumps (-r).  0 or -errno (logged). */
int daemon_set_limits(const struct config *cfg);
/* Descriptors mcd itself will hold with this config (sockets, epoll sets,
 * eventfds), with DAEMON_FD_HEADROOM on top: an estimate made before any
 * is open, to raise the limit while still root. */
int daemon_fds_estimate(const struct config *cfg);
/* Once everything is open: count the descriptors held and make sure -c
 * more fit under the limit, raising the soft limit if need be.  0, or
 * -EMFILE with the reason printed. */
int daemon_check_fds(const struct config *cfg);
/* Lock memory (-k); a failure is a warning, as in memcached. */
void daemon_lock_memory(const struct config *cfg);
/* Fork into the background (-d); stdio goes to /dev/null unless -v. */
int daemon_detach(const struct config *cfg);
/* Write / remove the pidfile (-P). */
void daemon_write_pidfile(const char *path);
void daemon_remove_pidfile(const char *path);
/* Switch to -u's user when running as root.  0 or -errno (logged). */
int daemon_drop_privileges(const struct config *cfg);
/* SIGINT, SIGTERM and SIGUSR1 will call `on_stop`; SIGHUP marks a reload
 * due (daemon_take_reload) and calls `on_hup`; SIGPIPE is ignored.  Both
 * callbacks run in a signal handler.  Call before starting any thread: the
 * signals are blocked in the caller (and so in every thread it starts)
 * until it calls daemon_signals_deliver(). */
void daemon_signals(void (*on_stop)(void), void (*on_hup)(void));
/* Let the signals in, on the calling thread only (one that was held back
 * is handled now). */
void daemon_signals_deliver(void);
/* Whether a SIGHUP came since the last call (and clear it). */
bool daemon_take_reload(void);
/* The first stop signal received, 0 if none (a client's shutdown, an error). */
int daemon_stop_signal(void);
/* "mcd <version> build <crc of the executable>": what a warm-restart file
 * must have been written by to be loaded. */
void daemon_build_id(char *out, size_t n);

#endif
