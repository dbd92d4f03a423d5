/*
 * udp: memcached's UDP transport (-U): framed request datagrams in, framed
 * response datagrams out.  See udp.c.
 */
#ifndef MCD_UDP_H
#define MCD_UDP_H

#include "proto.h"
#include "stats.h"

struct udp_port;

/* A worker's endpoint on a bound UDP socket; takes over `fd`.  NULL on
 * allocation failure. */
struct udp_port *udp_port_new(int fd);
/* Close the socket and free the endpoint. */
void udp_port_free(struct udp_port *u);
/* Serve the datagrams waiting on the socket (a bounded batch). */
void udp_port_serve(struct udp_port *u, const struct proto_env *env);
/* Append the `stats conns` lines for this endpoint. */
void udp_port_stats(const struct udp_port *u, struct stats_sink *s, rel_time_t now);

#endif
