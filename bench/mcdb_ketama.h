/*
 * mcdb_ketama: which server of a --servers list a key belongs to, placed on
 * a ketama ring as libmemcached's weighted ketama places it.
 */
#ifndef MCDB_KETAMA_H
#define MCDB_KETAMA_H

#include <stddef.h>
#include <stdint.h>

#define KETAMA_MAX_SERVERS 64

/* A server of the ring: how it is named on the ring, its weight, its share of points. */
struct ketama_server {
    char name[64];              /* "host:port", or "host" when the port is 11211 */
    unsigned weight;
    unsigned points;            /* set by ketama_build */
};

struct ketama_point {
    uint32_t value;
    unsigned server;
};

struct ketama {
    struct ketama_point *points;
    unsigned npoints;
    unsigned nservers;
};

/*
 * Build the ring of n servers (n >= 1); fills in each server's points.
 * 0, or -1 if out of memory.
 */
int ketama_build(struct ketama *k, struct ketama_server *servers, unsigned n);
/* The index of the server that holds key[0..len). */
unsigned ketama_server_of(const struct ketama *k, const char *key, size_t len);
void ketama_free(struct ketama *k);

#endif
