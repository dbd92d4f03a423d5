/*
 * mcdb_ketama: consistent hashing as libmemcached does it with weighted
 * ketama (pylibmc's {"ketama_weighted": True}), which is also the ring of
 * nutcracker's "distribution: ketama" with "hash: md5" when its servers have
 * no names.  mcd-bench --servers sends each key where those clients would,
 * so a run shows the balance a real cluster gets.
 *
 * The ring: server i of n, of weight w_i out of a total W, gets
 * floor(w_i / W * 40 * n) * 4 points, 160 for equal weights, computed in
 * single precision as libmemcached computes it (a double would round some
 * shares the other way).  Point j of a server is taken 4 at a time from
 * MD5("name-j") for j = 0, 1, ...: each 4-byte little-endian word of the
 * digest is one point.  "name" is "host:port", or just "host" when the port
 * is memcached's 11211.  A key's hash is the first little-endian word of
 * MD5(key); it belongs to the first point at or after it, wrapping around
 * to the first point.  Equal points are ordered by server index.
 *
 * One server: every key is its, as in libmemcached, without hashing.
 */
#include "mcdb_ketama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "md5.h"

#define POINTS_PER_SERVER 160
#define POINTS_PER_HASH 4

static uint32_t digest_word(const unsigned char d[16], unsigned i)
{
    const unsigned char *p = d + 4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int point_cmp(const void *a, const void *b)
{
    const struct ketama_point *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

/* Points of a server: libmemcached's float arithmetic, step by step. */
static unsigned server_points(unsigned weight, unsigned total, unsigned n)
{
    float pct = (float)weight / (float)total;
    float share = pct * (float)(POINTS_PER_SERVER / POINTS_PER_HASH) * (float)n + 0.0000000001F;
    return (unsigned)floorf(share) * POINTS_PER_HASH;
}

int ketama_build(struct ketama *k, struct ketama_server *servers, unsigned n)
{
    unsigned total = 0, npoints = 0;
    for (unsigned i = 0; i < n; i++)
        total += servers[i].weight;
    for (unsigned i = 0; i < n; i++) {
        servers[i].points = server_points(servers[i].weight, total, n);
        npoints += servers[i].points;
    }
    k->nservers = n;
    k->npoints = 0;
    k->points = malloc((npoints ? npoints : 1) * sizeof(*k->points));
    if (k->points == NULL)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < servers[i].points / POINTS_PER_HASH; j++) {
            char name[96];
            int len = snprintf(name, sizeof(name), "%s-%u", servers[i].name, j);
            unsigned char d[16];
            md5_digest(name, (size_t)len, d);
            for (unsigned x = 0; x < POINTS_PER_HASH; x++)
                k->points[k->npoints++] = (struct ketama_point){ digest_word(d, x), i };
        }
    }
    qsort(k->points, k->npoints, sizeof(*k->points), point_cmp);
    return 0;
}

unsigned ketama_server_of(const struct ketama *k, const char *key, size_t len)
{
    if (k->nservers <= 1 || k->npoints == 0)
        return 0;
    unsigned char d[16];
    md5_digest(key, len, d);
    uint32_t hash = digest_word(d, 0);
    unsigned lo = 0, hi = k->npoints;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (k->points[mid].value < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return k->points[lo == k->npoints ? 0 : lo].server;
}

void ketama_free(struct ketama *k)
{
    free(k->points);
    k->points = NULL;
    k->npoints = 0;
}
