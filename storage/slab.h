/*
 * slab: size classes and the memory budget.  See slab.c for the design.
 */
#ifndef MCD_SLAB_H
#define MCD_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_MAX_CLASSES 64
#define SLAB_PAGE_SIZE (1024 * 1024)
/* Most jemalloc arenas per class; a thread allocates from one of them. */
#define SLAB_ARENA_SHARDS 4
/* Budget a thread reserves at a time; it holds at most twice this unused. */
#define SLAB_CREDIT (64 * 1024)

struct slab_options {
    size_t maxbytes;       /* memory budget for items (-m) */
    double factor;         /* growth factor between classes (-f) */
    size_t min_chunk;      /* smallest item payload (-n), header excluded */
    size_t item_size_max;  /* largest item (-I) */
    size_t header_size;    /* bytes of item header added to -n */
    unsigned arena_shards; /* arenas per class, 1..SLAB_ARENA_SHARDS; 0 = one per CPU up to that */
};

/* A snapshot of one class, for `stats slabs`. */
struct slab_class_stats {
    size_t chunk_size;
    uint64_t used_chunks;
};

/* Create the classes and their jemalloc arenas.  0 or -errno. */
int slab_setup(const struct slab_options *opt);
/* Destroy the arenas; every chunk must have been freed. */
void slab_teardown(void);
/* Class that fits `size` bytes, or 0 if it is larger than the largest. */
unsigned slab_class_for(size_t size);
/* Number of classes; valid ids are 1..slab_nclasses(). */
unsigned slab_nclasses(void);
/* Chunk size of a class. */
size_t slab_chunk_size(unsigned cls);
/* Allocate a chunk of class `cls` within the budget; NULL when full.  *shard
 * says which of the class's arenas it came from, for slab_free. */
void *slab_alloc(unsigned cls, uint8_t *shard);
/* Allocate ignoring the budget (the caller is replacing an item in place). */
void *slab_alloc_over(unsigned cls, uint8_t *shard);
/* Return a chunk of class `cls` to the arena `shard` it came from. */
void slab_free(void *p, unsigned cls, uint8_t shard);
/* Arenas per class. */
unsigned slab_arena_shards(void);
/* The jemalloc arena index of a class's shard (for tests and stats). */
unsigned slab_arena_of(unsigned cls, uint8_t shard);
/* Budget the calling thread holds in reserve, not yet handed out. */
size_t slab_thread_credit(void);
/* Bytes of chunks handed out, and the budget. */
size_t slab_mem_used(void);
size_t slab_mem_limit(void);
/* Change the budget (cache_memlimit); takes effect on the next allocations. */
void slab_set_limit(size_t maxbytes);
/* Per-class snapshot. */
void slab_class_stats(unsigned cls, struct slab_class_stats *out);
/* Largest item size accepted. */
size_t slab_item_size_max(void);

#endif
