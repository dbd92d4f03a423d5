/*
 * persist: warm restart (-e FILE).  A graceful stop saves every live item
 * to FILE; the next start loads it back before serving.  See persist.c.
 */
#ifndef MCD_PERSIST_H
#define MCD_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "item.h"
#include "persist_format.h"

/* What a save or a load did. */
struct persist_report {
    uint64_t items;             /* saved, or restored */
    uint64_t expired;           /* load: expired since the save, left out */
    uint64_t dropped;           /* load: could not be stored (memory) */
    uint64_t bytes;             /* size of the file */
    double map_secs;            /* load: mapping the file, checking its header and trailer */
    double store_secs;          /* load: checking the blocks and storing the items */
    enum persist_verdict verdict;   /* load: why the file was refused */
    char why[192];              /* load: the difference or the error, for the log */
};

/* The identity a file must carry to be loaded: mcd's version and build. */
struct persist_identity {
    const char *build;          /* at most PERSIST_BUILD_MAX - 1 bytes */
};

/*
 * Save every live item to `path` (written as path.tmp, then renamed), with
 * `threads` threads.  `now` is cache time, `wall` unix time; skip_mapped
 * leaves out the items on pages of the file mapping (persist_map.c saves
 * those).  0, or -errno (the file is then not left behind).
 */
int persist_save(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, bool skip_mapped, struct persist_report *rep);
/*
 * Load `path` into the (empty) cache and remove it, so that a later crash
 * can never bring back this old copy.  Nothing stays stored unless the
 * whole file checks out (a bad block found after others were stored
 * empties the cache again).  0 when loaded; 1 when refused (rep->verdict,
 * rep->why); -ENOENT when there is no file; another -errno when it cannot
 * be read.
 */
int persist_load(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, struct persist_report *rep);
/*
 * Wait until what persist_load left to a thread of its own is done: the
 * unmapping of the file, which frees its pages after the load returned.
 */
void persist_release_wait(void);

/* Run fn(arg) on `threads` threads (1 to 16), the caller's among them. */
void persist_run_threads(void *(*fn)(void *), void *arg, unsigned threads);
/* Seconds of CLOCK_MONOTONIC since t0. */
double persist_seconds_since(const struct timespec *t0);

/* This process's header: what a file it can load must say. */
void persist_self_header(const struct persist_identity *id, int64_t wall,
                         struct persist_header *h);

/*
 * -e on tmpfs (persist_map.c): the cache's pages live in the file itself,
 * as memcached keeps them, so a restart neither writes nor reads the items
 * out.  persist_map_start, at start-up in place of persist_load, sets the
 * mapping up (and takes in what a graceful stop left in it); *mapped says
 * whether it did: false when the file is not on tmpfs, or the mapping could
 * not be made, and persist_load / persist_save then serve (rep->why says
 * why).  Returns as persist_load.
 */
int persist_map_start(const char *path, const struct persist_identity *id, rel_time_t now,
                      int64_t wall, unsigned threads, bool *mapped, struct persist_report *rep);
/* Save for persist_map_start's next call (a graceful stop, with the mapping
 * in use).  0 or -errno. */
int persist_map_save(const char *path, const struct persist_identity *id, rel_time_t now,
                     int64_t wall, unsigned threads, struct persist_report *rep);

#endif
