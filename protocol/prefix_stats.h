/*
 * prefix_stats: memcached's per-key-prefix counters (`stats detail`, -D).
 */
#ifndef MCD_PREFIX_STATS_H
#define MCD_PREFIX_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "reply.h"

enum prefix_op { PREFIX_GET, PREFIX_SET, PREFIX_DELETE };

/* Set the delimiter and whether counting starts enabled (-D turns it on). */
void prefix_stats_setup(char delimiter, bool enabled);
/* Forget every prefix. */
void prefix_stats_teardown(void);
/* `stats detail on|off`. */
void prefix_stats_enable(bool on);
/* Cheap check callers make before recording. */
bool prefix_stats_enabled(void);
/* Count one operation on a key; keys without the delimiter are not counted. */
void prefix_stats_record(const char *key, size_t nkey, enum prefix_op op, bool hit);
/* `stats detail dump`: one PREFIX line per prefix, then END. */
void prefix_stats_dump(struct reply *r);

#endif
