/*
 * slab: size classes carved from jemalloc arenas, and the -m budget.
 *
 * Classes grow from -n by -f as in memcached, but each class size is rounded
 * up to the jemalloc size class it will really occupy (nallocx) and classes
 * that round to the same size are merged: the chunk size we account is then
 * the memory the item really holds, and `bytes`/`-m` tell the truth.
 *
 * Each class allocates from its own arena with MALLOCX_TCACHE_NONE, so items
 * of one class are packed together on the arena's pages and never linger in
 * a thread cache of the wrong arena.  Items are allocated one by one rather
 * than carved by us from 1 MB pages: jemalloc already keeps per-size slabs
 * with a bitmap and no per-object header, so a second layer of pages would
 * only add a free list to maintain.  The price is jemalloc's bin lock per
 * alloc/free, which is per arena and therefore per class.
 *
 * The budget is one atomic byte counter checked on each allocation; when it
 * says no, the caller (cache.c) evicts and retries.
 */
#include "slab.h"

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef MCD_SANITIZE
/* Sanitizer builds allocate items with malloc so AddressSanitizer sees
 * every use after free and overflow of item memory; jemalloc's own memory
 * is invisible to it. */
#define mallocx(size, flags) ((void)(flags), malloc(size))
#define dallocx(p, flags) ((void)(flags), free(p))
#endif

struct slab_class {
    size_t size;
    unsigned arena;
    int flags;
    _Atomic uint64_t used;     /* chunks handed out */
    char pad[64];
};

static struct slab_class classes[SLAB_MAX_CLASSES + 1];
static unsigned nclasses;
static _Atomic size_t mem_used;
static _Atomic size_t mem_limit;
static size_t item_max;

static int slab_make_arena(unsigned *arena)
{
    size_t sz = sizeof(*arena);
    if (mallctl("arenas.create", arena, &sz, NULL, 0) != 0)
        return -ENOMEM;
    /* Give freed pages back promptly: item arenas churn at a steady size. */
    char name[64];
    ssize_t decay = 1000;
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", *arena);
    mallctl(name, NULL, NULL, &decay, sizeof(decay));
    return 0;
}

int slab_setup(const struct slab_options *opt)
{
    size_t size = opt->header_size + opt->min_chunk;
    nclasses = 0;
    item_max = opt->item_size_max;
    atomic_store(&mem_limit, opt->maxbytes);
    atomic_store(&mem_used, 0);
    while (nclasses < SLAB_MAX_CLASSES) {
        size_t real = nallocx(size < item_max ? size : item_max, 0);
        if (nclasses == 0 || real > classes[nclasses].size) {
            nclasses++;
            classes[nclasses].size = real;
        }
        if (size >= item_max)
            break;
        size_t next = (size_t)((double)size * opt->factor);
        size = next > size ? (next + 7) & ~(size_t)7 : size + 8;
        if (nclasses == SLAB_MAX_CLASSES - 1)
            size = item_max;
    }
    /* The last class must hold the largest item exactly as -I allows. */
    if (classes[nclasses].size < item_max)
        classes[++nclasses].size = nallocx(item_max, 0);
    for (unsigned i = 1; i <= nclasses; i++) {
        if (slab_make_arena(&classes[i].arena) != 0)
            return -ENOMEM;
        classes[i].flags = MALLOCX_ARENA(classes[i].arena) | MALLOCX_TCACHE_NONE;
        atomic_store(&classes[i].used, 0);
    }
    return 0;
}

void slab_teardown(void)
{
    for (unsigned i = 1; i <= nclasses; i++) {
        char name[64];
        snprintf(name, sizeof(name), "arena.%u.destroy", classes[i].arena);
        mallctl(name, NULL, NULL, NULL, 0);
    }
    nclasses = 0;
}

unsigned slab_class_for(size_t size)
{
    if (size > item_max)
        return 0;
    /* Binary search: classes are sorted by size. */
    unsigned lo = 1, hi = nclasses;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (classes[mid].size >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return classes[lo].size >= size ? lo : 0;
}

unsigned slab_nclasses(void) { return nclasses; }

size_t slab_chunk_size(unsigned cls) { return classes[cls].size; }

size_t slab_item_size_max(void) { return item_max; }

void *slab_alloc_over(unsigned cls)
{
    struct slab_class *c = &classes[cls];
    void *p = mallocx(c->size, c->flags);
    if (p == NULL)
        return NULL;
    atomic_fetch_add_explicit(&mem_used, c->size, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->used, 1, memory_order_relaxed);
    return p;
}

void *slab_alloc(unsigned cls)
{
    struct slab_class *c = &classes[cls];
    size_t limit = atomic_load_explicit(&mem_limit, memory_order_relaxed);
    size_t used = atomic_fetch_add_explicit(&mem_used, c->size, memory_order_relaxed);
    if (used + c->size > limit) {
        atomic_fetch_sub_explicit(&mem_used, c->size, memory_order_relaxed);
        return NULL;
    }
    void *p = mallocx(c->size, c->flags);
    if (p == NULL) {
        atomic_fetch_sub_explicit(&mem_used, c->size, memory_order_relaxed);
        return NULL;
    }
    atomic_fetch_add_explicit(&c->used, 1, memory_order_relaxed);
    return p;
}

void slab_free(void *p, unsigned cls)
{
    struct slab_class *c = &classes[cls];
    dallocx(p, c->flags);
    atomic_fetch_sub_explicit(&mem_used, c->size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&c->used, 1, memory_order_relaxed);
}

size_t slab_mem_used(void) { return atomic_load(&mem_used); }

size_t slab_mem_limit(void) { return atomic_load(&mem_limit); }

void slab_set_limit(size_t maxbytes) { atomic_store(&mem_limit, maxbytes); }

void slab_class_stats(unsigned cls, struct slab_class_stats *out)
{
    out->chunk_size = classes[cls].size;
    out->used_chunks = atomic_load_explicit(&classes[cls].used, memory_order_relaxed);
}
