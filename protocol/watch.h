/*
 * watch: memcached's `watch` log streams — what happens to items and
 * connections, as lines in memcached's format — for the clients that asked
 * to watch.  See watch.c.
 */
#ifndef MCD_WATCH_H
#define MCD_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

/* The streams, with memcached's bit values (logger.h); deletions is
 * memcached 1.6.20's. */
enum watch_flag {
    WATCH_FETCHERS = 1u << 2,
    WATCH_MUTATIONS = 1u << 3,
    WATCH_CONNEVENTS = 1u << 5,
    WATCH_EVICTIONS = 1u << 6,
    WATCH_RAWCMDS = 1u << 9,
    WATCH_DELETIONS = 1u << 13,
};

/* The streams someone watches now: checked (one relaxed load) before any
 * work is done for a log line, so watching costs nothing when nobody does. */
extern _Atomic unsigned watch_mask;

static inline bool watch_on(unsigned flag)
{
    return (atomic_load_explicit(&watch_mask, memory_order_relaxed) & flag) != 0;
}

/* Where finished lines go (the server's watchers), set once at start-up. */
typedef void (*watch_sink_fn)(unsigned flag, const char *line, size_t len);
void watch_set_sink(watch_sink_fn fn);

/* The stream names `watch` takes; 0 for an unknown one. */
unsigned watch_flag_named(const char *name, size_t len);

/* How a lookup went, memcached's was_found. */
enum watch_found { WATCH_NOT_FOUND = 0, WATCH_FOUND, WATCH_FLUSHED, WATCH_EXPIRED };
/* Store results and commands, memcached's maps. */
enum watch_store { WATCH_NOT_STORED = 0, WATCH_STORED, WATCH_EXISTS, WATCH_STORE_NOT_FOUND,
                   WATCH_TOO_LARGE, WATCH_NO_MEMORY };
enum watch_cmd { WATCH_CMD_ADD = 1, WATCH_CMD_SET, WATCH_CMD_REPLACE, WATCH_CMD_APPEND,
                 WATCH_CMD_PREPEND, WATCH_CMD_CAS };

/* memcached's status of a store, and its command. */
static inline enum watch_store watch_store_of(enum cache_status st)
{
    switch (st) {
    case CACHE_STORED: return WATCH_STORED;
    case CACHE_EXISTS: return WATCH_EXISTS;
    case CACHE_NOT_FOUND: return WATCH_STORE_NOT_FOUND;
    case CACHE_TOO_LARGE: return WATCH_TOO_LARGE;
    case CACHE_NO_MEMORY: return WATCH_NO_MEMORY;
    default: return WATCH_NOT_STORED;
    }
}

static inline enum watch_cmd watch_cmd_of(enum cache_op op)
{
    switch (op) {
    case CACHE_ADD: return WATCH_CMD_ADD;
    case CACHE_REPLACE: return WATCH_CMD_REPLACE;
    case CACHE_APPEND: return WATCH_CMD_APPEND;
    case CACHE_PREPEND: return WATCH_CMD_PREPEND;
    case CACHE_CAS: return WATCH_CMD_CAS;
    default: return WATCH_CMD_SET;
    }
}

/* Seconds of TTL memcached's item_store line shows: 0 for none. */
static inline uint32_t watch_ttl(uint32_t exptime, uint32_t now)
{
    return exptime == 0 ? 0 : exptime - now;
}

/* type=item_get: a lookup of `key` (size: the value's length on a hit). */
void watch_item_get(const char *key, size_t nkey, enum watch_found found, unsigned cls, int cfd,
                    size_t size);
/* The item_get line memcached logs for the lookup a store or a delete
 * makes before acting (its do_item_get): the key's state now, read
 * without counting a read. */
void watch_lookup(const char *key, size_t nkey, uint32_t now, int cfd);
/* The item_store line for a store of `it` that ended in `st`: for an
 * append or prepend, the joined item's TTL and size, as memcached logs. */
void watch_stored(const struct item *it, enum cache_status st, enum cache_op op, uint32_t now,
                  int cfd);
/* type=item_store: ttl is the seconds left (0 for none). */
void watch_item_store(const char *key, size_t nkey, enum watch_store st, enum watch_cmd cmd,
                      uint32_t ttl, unsigned cls, int cfd, size_t size);
/* type=deleted: a delete (md: meta) that removed an item. */
void watch_deleted(const char *key, size_t nkey, bool meta, unsigned cls, size_t size);
/* type=eviction: ttl -1 for none, la seconds since last access. */
void watch_eviction(const char *key, size_t nkey, bool fetched, long long ttl, int la,
                    unsigned cls, size_t size);
/* type=conn_new / conn_close: rip "unix" with port 0 for a unix socket;
 * transport "local", "tcp" or "udp"; reason "error", "normal",
 * "idle_timeout" or "shutdown". */
void watch_conn(bool opened, const char *rip, unsigned rport, const char *transport,
                const char *reason, int cfd);

/* memcached's key encoding in log lines: all but [A-Za-z0-9._~-] as %XX.
 * `out` holds 3 * n + 1 bytes. */
void watch_uriencode(const char *in, size_t n, char *out);

#endif
