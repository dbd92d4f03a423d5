/*
 * daemon: the process-level chores memcached does at start-up — detach,
 * pidfile, resource limits, dropping root, signals.
 */
#ifndef MCD_DAEMON_H
#define MCD_DAEMON_H

#include "config.h"

/* Refuse to run as root without -u, like memcached.  0 or -EPERM (logged). */
int daemon_check_user(const struct config *cfg);
/* Raise the open-files limit for -c, enable core dumps (-r). 0 or -errno. */
int daemon_set_limits(const struct config *cfg);
/* Lock memory (-k); a failure is a warning, as in memcached. */
void daemon_lock_memory(const struct config *cfg);
/* Fork into the background (-d); stdio goes to /dev/null unless -v. */
int daemon_detach(const struct config *cfg);
/* Write / remove the pidfile (-P). */
void daemon_write_pidfile(const char *path);
void daemon_remove_pidfile(const char *path);
/* Switch to -u's user when running as root.  0 or -errno (logged). */
int daemon_drop_privileges(const struct config *cfg);
/* SIGINT, SIGTERM and SIGUSR1 call `on_stop`; SIGPIPE and SIGHUP are ignored. */
void daemon_signals(void (*on_stop)(void));

#endif
