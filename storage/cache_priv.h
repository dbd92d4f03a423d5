/*
 * cache_priv: helpers cache.c shares with cache_meta.c, for storage's own
 * files only.  Each one expects the key's stripe lock held by the caller.
 */
#ifndef MCD_CACHE_PRIV_H
#define MCD_CACHE_PRIV_H

#include "cache.h"
#include "table.h"

/* Link a new item into a locked stripe and its LRU (new unique, time = now). */
void cache_link(struct table_stripe *s, struct item *it, rel_time_t now);
/* Link `it` in place of `old` (same key) in a locked stripe, dropping old's table reference. */
void cache_replace(struct table_stripe *s, struct item *old, struct item *it, rel_time_t now);
/* Unlink an item from a locked stripe and its LRU, dropping the table's reference. */
void cache_unlink(struct table_stripe *s, struct item *it);
/* Find a live item in a locked stripe, unlinking a dead one on the way. */
struct item *cache_find(struct table_stripe *s, uint32_t hash, const char *key, size_t nkey,
                        rel_time_t now, enum cache_miss *why);
/* cache_alloc with the hash already known. */
struct item *cache_alloc_at(const char *key, size_t nkey, uint32_t hash, uint32_t flags,
                            rel_time_t exptime, size_t nbytes, rel_time_t now,
                            enum cache_status *err);
/* Whether a linked item is still live at `now` (not expired, not flushed); stripe locked. */
bool cache_live(const struct item *it, rel_time_t now, enum cache_miss *why);
/* Take the administrative settings (cache_admin.c). */
void cache_admin_setup(const struct cache_options *o);
/* Set the fetched and active marks (no lock needed: atomic flags). */
void cache_mark_read(struct item *it);

#endif
