/*
 * net: every address getaddrinfo gives for a host and port, bound the way
 * memcached binds them: SO_REUSEADDR, IPv6 sockets v6-only so the IPv4
 * wildcard can bind beside them, and an address family the host lacks
 * skipped rather than fatal.  TCP sockets listen; UDP ones get a large send
 * buffer, since a big reply leaves as a burst of datagrams.
 */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define NET_UDP_SNDBUF (4 * 1024 * 1024)

static int net_open(const struct addrinfo *a, bool udp, int backlog)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (udp) {
        int sndbuf = NET_UDP_SNDBUF;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    }
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || (!udp && listen(fd, backlog) != 0)) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int net_bind(const char *host, int port, bool udp, int backlog, struct net_socket *out, int max)
{
    const char *proto = udp ? "UDP" : "TCP";
    struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
                              .ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM };
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo *ai;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        log_msg(LOG_ERROR, "getaddrinfo(%s): %s", host ? host : "*", gai_strerror(rc));
        return -EINVAL;
    }
    int n = 0, err = 0;
    bool failed = false;
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
        int fd = net_open(a, udp, backlog);
        if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT) {
            err = -fd;
            continue;
        }
        if (fd < 0 || n == max) {
            err = fd < 0 ? -fd : EMFILE;
            if (fd >= 0)
                close(fd);
            failed = true;
            break;
        }
        char addr[NI_MAXHOST] = "";
        getnameinfo(a->ai_addr, a->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
        out[n].fd = fd;
        snprintf(out[n].name, sizeof(out[n].name),
                 a->ai_family == AF_INET6 ? "%s6:[%s]:%d" : "%s:%s:%d", udp ? "udp" : "tcp",
                 addr, port);
        n++;
    }
    freeaddrinfo(ai);
    if (failed || n == 0) {
        log_msg(LOG_ERROR, "failed to listen on %s port %d: %s", proto, port,
                strerror(err ? err : EADDRNOTAVAIL));
        while (n > 0)
            close(out[--n].fd);
        return -(err ? err : EADDRNOTAVAIL);
    }
    return n;
}
