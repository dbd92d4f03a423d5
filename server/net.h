/*
 * net: binding the sockets that -l, -p and -U describe.  See net.c.
 */
#ifndef MCD_NET_H
#define MCD_NET_H

#include <stdbool.h>

/* One bound socket and memcached's name for it ("tcp:127.0.0.1:11211"). */
struct net_socket {
    int fd;
    char name[128];
};

/*
 * Bind every address of host (NULL = any) and port, TCP listening with
 * `backlog` or UDP; at most `max` sockets.  Returns how many, or -errno
 * with the reason logged (nothing stays open then).
 */
int net_bind(const char *host, int port, bool udp, int backlog, struct net_socket *out, int max);

#endif
