/*
 * expiry: memcached's exptime arithmetic as pure functions, so the rules
 * (0 = never, up to 30 days relative, beyond that an absolute unix time,
 * negative = already expired) are tested apart from any clock.
 */
#ifndef MCD_EXPIRY_H
#define MCD_EXPIRY_H

#include <stdbool.h>
#include <stdint.h>

#include "item.h"

/* Largest exptime still taken as relative: 30 days. */
#define EXPIRY_MAX_DELTA (60 * 60 * 24 * 30)

/*
 * Convert a client's exptime to cache time.  `now` is the current cache
 * time and `started` the unix time at which cache time 0 was.  Returns 0
 * for "never"; an absolute time already in the past maps to 1, which is
 * always expired since cache time starts above it.
 */
static inline rel_time_t expiry_from_client(int64_t exptime, rel_time_t now, int64_t started)
{
    if (exptime == 0)
        return 0;
    if (exptime < 0)
        return 1;
    if (exptime > EXPIRY_MAX_DELTA) {
        if (exptime <= started)
            return 1;
        int64_t rel = exptime - started;
        return rel > UINT32_MAX ? UINT32_MAX : (rel_time_t)rel;
    }
    int64_t rel = exptime + now;
    return rel > UINT32_MAX ? UINT32_MAX : (rel_time_t)rel;
}

/* True if an item with this expiry time is dead at `now`. */
static inline bool expiry_passed(rel_time_t exptime, rel_time_t now)
{
    return exptime != 0 && exptime <= now;
}

/* Seconds left for `ttl` style reporting: -1 for never. */
static inline int64_t expiry_remaining(rel_time_t exptime, rel_time_t now)
{
    if (exptime == 0)
        return -1;
    return exptime > now ? (int64_t)(exptime - now) : 0;
}

#endif
