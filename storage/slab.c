/*
 * slab: size classes carved from jemalloc arenas, and the -m budget.
 *
 * Classes grow from -n by -f as in memcached, but each class size is rounded
 * up to the jemalloc size class it will really occupy (nallocx) and classes
 * that round to the same size are merged: the chunk size we account is then
 * the memory the item really holds, and `bytes`/`-m` tell the truth.
 *
 * Each class allocates from its own arenas with MALLOCX_TCACHE_NONE, so items
 * of one class are packed together on the arenas' pages and never linger in
 * a thread cache of the wrong arena.  Items are allocated one by one rather
 * than carved by us from 1 MB pages: jemalloc already keeps per-size slabs
 * with a bitmap and no per-object header, so a second layer of pages would
 * only add a free list to maintain.  The price is jemalloc's bin lock per
 * alloc/free, which is per arena: with one arena per class every writer of
 * one item size queued on it.  So a class has up to SLAB_ARENA_SHARDS arenas
 * (one per CPU by default), each thread allocates from the one picked for it
 * when it first allocates (round-robin), and a chunk goes back to the arena
 * it came from — the caller keeps the shard (a byte in the item).  Each
 * arena costs ~90 KB, so shards are capped at the CPUs that can contend.
 *
 * The budget: one atomic counter of bytes *reserved* — chunks handed out plus
 * credit that threads hold.  A thread reserves SLAB_CREDIT at a time and
 * spends it on its allocations, and a free adds to the freeing thread's
 * credit, returned to the counter beyond 2 * SLAB_CREDIT; so the shared
 * counter is written once per ~64 KB of churn, not twice per item.  Bound:
 * chunks handed out never exceed the limit (slab_alloc_over aside), and an
 * allocation is refused only when the chunks handed out plus the credit held
 * by *other* threads leave no room — at most 2 * SLAB_CREDIT per other
 * thread that allocated or freed (for mcd, per worker).  When the batch does
 * not fit, a thread reserves exactly what it lacks, so one thread alone sees
 * the exact limit.  A thread's credit goes back when it exits.
 */
#include "slab.h"

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef MCD_SANITIZE
/* Sanitizer builds allocate items with malloc so AddressSanitizer sees
 * every use after free and overflow of item memory; jemalloc's own memory
 * is invisible to it. */
#define mallocx(size, flags) ((void)(flags), malloc(size))
#define dallocx(p, flags) ((void)(flags), free(p))
#endif

/* One arena of a class; `used` is written by allocations from it and
 * frees back to it, so threads on different shards share no line. */
struct slab_shard {
    unsigned arena;
    int flags;
    _Atomic uint64_t used;     /* chunks handed out */
} __attribute__((aligned(64)));

struct slab_class {
    size_t size;
    struct slab_shard shard[SLAB_ARENA_SHARDS];
};

/* A thread's budget credit and arena shard.  `gen` ties the credit to one
 * slab_setup, so credit from before a teardown is never spent after it. */
struct slab_thread {
    size_t credit;
    unsigned gen;
    uint8_t shard;
    bool registered;
};

static struct slab_class classes[SLAB_MAX_CLASSES + 1];
static unsigned nclasses;
static unsigned nshards = 1;
static _Atomic size_t mem_reserved;
static _Atomic size_t mem_limit;
static _Atomic unsigned generation;
static _Atomic unsigned next_shard;
static size_t item_max;
static __thread struct slab_thread self;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* At thread exit: give the credit back to the budget. */
static void slab_thread_exit(void *arg)
{
    struct slab_thread *t = arg;
    if (t->gen == atomic_load(&generation) && t->credit > 0)
        atomic_fetch_sub_explicit(&mem_reserved, t->credit, memory_order_relaxed);
    t->credit = 0;
}

static void slab_make_exit_key(void) { pthread_key_create(&exit_key, slab_thread_exit); }

/* The calling thread's state, (re)initialised on first use after each setup. */
static struct slab_thread *slab_self(void)
{
    struct slab_thread *t = &self;
    unsigned gen = atomic_load_explicit(&generation, memory_order_relaxed);
    if (__builtin_expect(t->gen == gen, 1))
        return t;
    t->gen = gen;
    t->credit = 0;
    t->shard = (uint8_t)(atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % nshards);
    if (!t->registered) {
        pthread_once(&exit_once, slab_make_exit_key);
        pthread_setspecific(exit_key, t);
        t->registered = true;
    }
    return t;
}

/* Reserve budget so the thread's credit covers `size`: a batch if it fits,
 * else exactly what is missing.  false when the budget has no room. */
static bool slab_reserve(struct slab_thread *t, size_t size)
{
    size_t need = size - t->credit;
    size_t want = need + SLAB_CREDIT;
    size_t limit = atomic_load_explicit(&mem_limit, memory_order_relaxed);
    size_t r = atomic_load_explicit(&mem_reserved, memory_order_relaxed);
    for (;;) {
        if (r > limit || limit - r < want) {
            if (want == need || r > limit || limit - r < need)
                return false;
            want = need;
        }
        if (atomic_compare_exchange_weak_explicit(&mem_reserved, &r, r + want,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    t->credit += want;
    return true;
}

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
    atomic_store(&mem_reserved, 0);
    atomic_fetch_add(&generation, 1);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nshards = opt->arena_shards != 0 ? opt->arena_shards : cpus > 0 ? (unsigned)cpus : 1;
    if (nshards > SLAB_ARENA_SHARDS)
        nshards = SLAB_ARENA_SHARDS;
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
        for (unsigned k = 0; k < nshards; k++) {
            struct slab_shard *sh = &classes[i].shard[k];
            if (slab_make_arena(&sh->arena) != 0)
                return -ENOMEM;
            sh->flags = MALLOCX_ARENA(sh->arena) | MALLOCX_TCACHE_NONE;
            atomic_store(&sh->used, 0);
        }
    }
    return 0;
}

void slab_teardown(void)
{
    for (unsigned i = 1; i <= nclasses; i++) {
        for (unsigned k = 0; k < nshards; k++) {
            char name[64];
            snprintf(name, sizeof(name), "arena.%u.destroy", classes[i].shard[k].arena);
            mallctl(name, NULL, NULL, NULL, 0);
        }
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

void *slab_alloc_over(unsigned cls, uint8_t *shard)
{
    struct slab_thread *t = slab_self();
    struct slab_class *c = &classes[cls];
    struct slab_shard *sh = &c->shard[t->shard];
    void *p = mallocx(c->size, sh->flags);
    if (p == NULL)
        return NULL;
    if (t->credit >= c->size)
        t->credit -= c->size;
    else
        atomic_fetch_add_explicit(&mem_reserved, c->size, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->used, 1, memory_order_relaxed);
    *shard = t->shard;
    return p;
}

void *slab_alloc(unsigned cls, uint8_t *shard)
{
    struct slab_thread *t = slab_self();
    struct slab_class *c = &classes[cls];
    if (t->credit < c->size && !slab_reserve(t, c->size))
        return NULL;
    struct slab_shard *sh = &c->shard[t->shard];
    void *p = mallocx(c->size, sh->flags);
    if (p == NULL)
        return NULL;        /* the reserve stays with the thread */
    t->credit -= c->size;
    atomic_fetch_add_explicit(&sh->used, 1, memory_order_relaxed);
    *shard = t->shard;
    return p;
}

void slab_free(void *p, unsigned cls, uint8_t shard)
{
    struct slab_class *c = &classes[cls];
    struct slab_shard *sh = &c->shard[shard];
    dallocx(p, sh->flags);
    atomic_fetch_sub_explicit(&sh->used, 1, memory_order_relaxed);
    struct slab_thread *t = slab_self();
    t->credit += c->size;
    if (t->credit > 2 * SLAB_CREDIT) {
        atomic_fetch_sub_explicit(&mem_reserved, t->credit - SLAB_CREDIT, memory_order_relaxed);
        t->credit = SLAB_CREDIT;
    }
}

unsigned slab_arena_shards(void) { return nshards; }

unsigned slab_arena_of(unsigned cls, uint8_t shard) { return classes[cls].shard[shard].arena; }

size_t slab_thread_credit(void) { return slab_self()->credit; }

/* Chunks handed out, summed over the classes' shards: exact, unlike the
 * reservation counter, which includes threads' unspent credit. */
size_t slab_mem_used(void)
{
    size_t bytes = 0;
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class_stats st;
        slab_class_stats(i, &st);
        bytes += st.used_chunks * st.chunk_size;
    }
    return bytes;
}

size_t slab_mem_limit(void) { return atomic_load(&mem_limit); }

void slab_set_limit(size_t maxbytes) { atomic_store(&mem_limit, maxbytes); }

void slab_class_stats(unsigned cls, struct slab_class_stats *out)
{
    out->chunk_size = classes[cls].size;
    out->used_chunks = 0;
    for (unsigned k = 0; k < nshards; k++)
        out->used_chunks += atomic_load_explicit(&classes[cls].shard[k].used, memory_order_relaxed);
}
