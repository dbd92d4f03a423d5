/*
 * slab: size classes carved from 1 MB pages that come from a jemalloc
 * arena, per-thread magazines of free chunks, the pool of free pages and
 * the -m budget.  See slab.c for the design.
 */
#ifndef MCD_SLAB_H
#define MCD_SLAB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "item.h"

#define SLAB_PAGE_SIZE ITEM_PAGE_SIZE
/* Bytes at the start of a page taken by its header. */
#define SLAB_PAGE_HEADER 64
/*
 * Most slab classes; the class of large items comes after them, so every
 * class id is at most 63, as in memcached (tools and `slabs reassign`
 * expect ids in that range).  When the factor cannot reach chunk_max in
 * this many steps, the last class becomes the largest chunk and bigger
 * items take the large path.
 */
#define SLAB_MAX_CLASSES 62
/* Free chunks a thread keeps per class. */
#define SLAB_MAG_SIZE 32

enum slab_page_state {
    SLAB_PAGE_ACTIVE = 0,
    SLAB_PAGE_DRAINING,         /* being emptied for another class: freed chunks are dropped */
};

/*
 * The header at the start of every page.  A page belongs to one class (or
 * to the pool, class 0) until the mover empties it.
 */
struct slab_page {
    uint8_t cls;                /* first byte, read by item_class(); changed only while
                                   the page is empty and out of every list */
    _Atomic uint8_t state;      /* enum slab_page_state */
    uint16_t pad;
    uint32_t nchunks;           /* chunks carved so far [class lock] */
    uint32_t index;             /* position in its class's page array [class lock] */
    _Atomic uint32_t pins;      /* walkers scanning it; taken under the class lock */
    uint64_t epoch;             /* moves so far, for stats and tests */
};
_Static_assert(sizeof(struct slab_page) <= SLAB_PAGE_HEADER, "page header too big");

struct slab_options {
    size_t maxbytes;            /* memory budget (-m) */
    double factor;              /* growth factor between classes (-f) */
    size_t min_chunk;           /* smallest space for key + value + flags (-n) */
    size_t chunk_max;           /* largest chunk; larger items are allocated whole */
    size_t item_size_max;       /* largest item (-I), in our layout's bytes */
    size_t header;              /* bytes every item has before its flags and key */
};

/* A snapshot of one class. */
struct slab_class_stats {
    size_t chunk_size;
    uint32_t perpage;
    uint64_t pages;
    uint64_t carved;            /* chunks carved from its pages */
    uint64_t free_listed;       /* carved chunks on the class's free list */
    uint64_t used;              /* chunks allocated to items */
    uint64_t linked;            /* items of the class in the table */
    uint64_t linked_bytes;      /* their item_total() */
    uint64_t large_bytes;       /* large class: bytes allocated */
};

/* Create the classes and the arena.  0 or -errno. */
int slab_setup(const struct slab_options *opt);
/* Free every page and the arena; every chunk must have been freed. */
void slab_teardown(void);
/* Number of slab classes; their ids are 1..slab_nclasses(). */
unsigned slab_nclasses(void);
/* The class id of large items: slab_nclasses() + 1. */
unsigned slab_large_class(void);
/* Chunk size of a slab class. */
size_t slab_chunk_size(unsigned cls);
/* Chunks per page of a slab class. */
uint32_t slab_perpage(unsigned cls);
/* The class for an item of `size` bytes: a slab class, the large class, or
 * 0 when beyond the largest item. */
unsigned slab_class_for(size_t size);

/*
 * A free chunk of slab class `cls`, from the calling thread's magazine,
 * refilled from the class's free list, its pages, the pool or a new page
 * within the budget.  NULL when none of those has one: the caller evicts.
 */
void *slab_alloc(unsigned cls);
/* The same, but only from chunks the class already has: no new page. */
void *slab_alloc_nogrow(unsigned cls);
/* Give a chunk back (its refcount is 0); its page says its class. */
void slab_free(void *chunk);
/* Put reserved chunks (refcount 1, not items) back on their class's list. */
void slab_free_to_class(unsigned cls, void **chunks, unsigned n);

/* A large item of `size` bytes (its struct item_large comes on top) with a
 * value of `vlen`, reserved (refcount 1); NULL when over the budget. */
struct item *slab_alloc_large(size_t size, size_t vlen);
/* Free a large item whose refcount reached 0. */
void slab_free_large(struct item *it);
/* Eviction over large items: pin up to `max` of them from the hand on,
 * moving the hand past them.  Returns how many (each to be unref'd). */
unsigned slab_large_scan(struct item **out, unsigned max);
/* Walks over large items: pin up to `max` of them after the first `skip`
 * of the list.  Returns how many. */
unsigned slab_large_pin_range(uint64_t skip, struct item **out, unsigned max);

/* Count an item of class `cls` linked (+1) or unlinked (-1), of `bytes`,
 * on the calling thread's counters. */
void slab_count_link(unsigned cls, int delta, size_t bytes);
/* Count a change of `delta` bytes in the linked items of class `cls`. */
void slab_count_bytes(unsigned cls, int64_t delta);

/* The page holding a slab chunk. */
static inline struct slab_page *slab_page_of(const void *chunk)
{
    return (struct slab_page *)((uintptr_t)chunk & ~(uintptr_t)(SLAB_PAGE_SIZE - 1));
}

/* The address of chunk `i` of a page of class `cls`. */
void *slab_chunk_at(unsigned cls, struct slab_page *page, uint32_t i);

/*
 * Walking a class's pages (eviction, the crawler, dumps, the mover): pin
 * the page at `index` so it cannot change class while being read; NULL
 * past the end.  *nchunks gets the chunks carved in it.
 */
struct slab_page *slab_page_pin(unsigned cls, uint32_t index, uint32_t *nchunks);
void slab_page_unpin(struct slab_page *page);
/* Pages a class holds. */
uint32_t slab_class_npages(unsigned cls);

/* --- the mover's primitives (mover.c) --- */

/* Pages in the pool, free for any class. */
uint64_t slab_pool_pages(void);
/* Move a pool page to class `cls`; false if the pool is empty. */
bool slab_pool_give(unsigned cls);
/*
 * Start emptying page `index` of class `cls`: it is marked draining, its
 * free chunks are taken out of the class's list and every thread's
 * magazine, and it is no longer carved.  Returns the page, pinned, or NULL.
 */
struct slab_page *slab_drain_begin(unsigned cls, uint32_t index);
/* Whether every chunk of a draining page is free. */
bool slab_drain_empty(unsigned cls, struct slab_page *page);
/* A draining, empty page leaves its class (unpinned) for class `dst`
 * (0: the pool).  false if other walkers still pin it: retry later. */
bool slab_drain_finish(unsigned cls, struct slab_page *page, unsigned dst);
/* Give a draining page back to its class (the move was abandoned). */
void slab_drain_abandon(unsigned cls, struct slab_page *page);

/* --- the budget --- */

/* Bytes counted against the limit: pages, large items, and what
 * slab_charge added. */
size_t slab_mem_used(void);
/* Count memory storage keeps beside the items (the hash table, eviction's
 * queues) against the limit; negative when it is freed. */
void slab_charge(int64_t bytes);
/* Zero the count (cache_setup, before anything is charged). */
void slab_budget_reset(void);
size_t slab_mem_limit(void);
/* Change the limit; pool pages beyond it are freed at once. */
void slab_set_limit(size_t maxbytes);
/* Give up to `n` pool pages back to the system (room for large items). */
unsigned slab_pool_release(unsigned n);
/* Whether one more page fits the budget. */
bool slab_page_available(void);

/* --- pages from a file (warm restart on tmpfs, persist_map.c) --- */

/*
 * From now on take pages from `npages` pages of a shared file mapping at
 * `base` (1 MB aligned), `fd` the file (page 0 at `offset`); the first
 * `in_file` of them hold
 * what an earlier process left: slab_adopt takes them in, then
 * slab_map_adopt_done frees the rest.  Call before any page is taken.
 * 0 or -errno.
 */
int slab_map_setup(void *base, size_t npages, int fd, off_t offset, size_t in_file);
/* Whether a page is one of the mapping's; its index there. */
bool slab_map_holds(const void *page);
size_t slab_map_index(const void *page);
/* Pages of the mapping handed out so far: the part a save covers. */
size_t slab_map_extent(void);
/* Words of the bitmap slab_adopt fills: a bit per chunk a page can hold. */
#define SLAB_ADOPT_BITS_WORDS ((SLAB_PAGE_SIZE / 8 + 63) / 64)
/*
 * Page `index` of the mapping, as an earlier process left it, joins class
 * `cls`: of its first `carved` chunks, those keep() accepts stay (refcount
 * 1, the caller's reference, counted used; bit i of kept_bits set for
 * chunk i); every other chunk is free.  keep() runs under the class lock:
 * it may not take locks.  Returns the chunks kept, or -1 (a page taken
 * twice, a bad class, no memory).
 */
int slab_adopt(unsigned cls, size_t index, uint32_t carved,
               bool (*keep)(struct item *, unsigned, void *), void *arg, uint64_t *kept_bits);
/* Loading is over: the file's pages nobody adopted are freed. */
void slab_map_adopt_done(void);
/* The pages now belong to the saved file: from here on a page released
 * (a teardown) leaves its bytes in the file. */
void slab_map_keep(void);

/* While on, a new page is mapped in whole when taken (a bulk load fills it). */
void slab_prefault(bool on);
/* A snapshot of class `cls` (summed over threads; a moment's figures). */
void slab_class_stats(unsigned cls, struct slab_class_stats *out);

#endif
