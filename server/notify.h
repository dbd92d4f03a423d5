/*
 * notify: systemd's service notification protocol (sd_notify), spoken
 * directly: one datagram per state change to $NOTIFY_SOCKET.  See notify.c.
 */
#ifndef MCD_NOTIFY_H
#define MCD_NOTIFY_H

#include <stdbool.h>

/* Open and connect the socket $NOTIFY_SOCKET names, and remove the variable
 * from the environment.  Call before dropping root: the socket belongs to
 * the service manager.  Without the variable every send does nothing. */
void notify_setup(void);
/* Whether a service manager listens. */
bool notify_enabled(void);
/* Send one message ("READY=1", "STATUS=...", "STOPPING=1", several
 * separated by newlines).  0 or -errno; 0 when nobody listens. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Close the socket. */
void notify_teardown(void);

#endif
