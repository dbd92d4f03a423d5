/*
 * slab: size classes carved from 1 MB pages, per-thread magazines, the pool
 * of free pages, and the -m budget.
 *
 * Pages are memcached's: 1 MB, taken from one jemalloc arena (aligned to
 * their size, MALLOCX_TCACHE_NONE) and counted against -m as whole pages.
 * -m also counts what storage keeps beside the items — the hash table and
 * eviction's queues (slab_charge) — so that resident memory stays within
 * -m plus a fixed baseline: memcached counts only the pages.  We carve them ourselves into
 * chunks of a class's size, so the size steps are ours: 8 bytes apart for
 * small items, then -f apart (1.08 by default, about 4% lost to rounding on
 * average against memcached's 11% at 1.25).  A page's first 64 bytes are
 * its header; its class is the header's first byte, so an item needs no
 * class field.  Items larger than the largest chunk are allocated whole
 * from the same arena and counted by their size.
 *
 * A set must not take a shared lock in the common case, so each thread
 * keeps a magazine of up to SLAB_MAG_SIZE free chunks per class: alloc pops
 * from it, free pushes to it, both under the thread's own spinlock (nobody
 * else takes it but the mover, rarely).  An empty magazine is refilled with
 * half a magazine from the class (its free list, then carving its current
 * page, then a page from the pool or a new one within the budget) under the
 * class lock; a full one gives half back.
 *
 * Chunk states, by refcount (the byte every walker may read):
 *   0   free and owned by its class: on the class's free list, or dropped
 *       from a draining page;
 *   1+  allocated to an item, or held in a thread's magazine (1; such a
 *       chunk is not ITEM_LINKED, which is how walkers tell).
 * Walkers (eviction, crawler, dumps, the mover) pin a chunk by raising a
 * non-zero count, so they never revive a free chunk; whoever moves a chunk
 * between a magazine and the class list does it with a 1 <-> 0 CAS and
 * waits out such a pin.
 *
 * Moving a page to another class (the mover) marks it draining, takes its
 * free chunks off the class list and out of every magazine, and from then
 * on a chunk of it that is freed is dropped rather than cached.  Once every
 * chunk reads 0 after each thread's lock has been taken once (a free that
 * was under way has then finished), the page is empty and changes class.
 *
 * Lock order: a table stripe lock, then a thread's magazine lock, then a
 * class lock, then the pool lock.  The mover takes magazine locks with no
 * other lock held.
 */
#include "slab.h"

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct item_layout_info item_layout = { .cas_bytes = 8 };

struct slab_class {
    pthread_mutex_t lock;
    size_t size;                /* chunk size [constant after setup] */
    uint32_t perpage;           /* [constant after setup] */
    struct slab_page **pages;   /* [lock] */
    uint32_t npages, cap;       /* [lock] */
    void *free_head;            /* free chunks, linked through their first 8 bytes [lock] */
    uint64_t nfree;             /* [lock] */
    struct slab_page *carve;    /* page being carved, or NULL [lock] */
    uint64_t carved;            /* chunks carved over all its pages [lock] */
} __attribute__((aligned(64)));

struct slab_mag {
    uint32_t n;
    void *chunk[SLAB_MAG_SIZE];
};

/* One thread's counters for a class: written by that thread alone. */
struct slab_count {
    _Atomic int64_t used, linked, linked_bytes;
};

/*
 * A thread's magazine lock is taken by its owner on every allocation and
 * free and by the mover a few times per page moved: almost never contended,
 * so a spinlock (one exchange, one store) rather than a mutex; a waiter
 * yields after a while in case the holder was preempted.
 */
struct spinlock {
    _Atomic bool held;
};

static inline void spin_lock(struct spinlock *l)
{
    for (unsigned spins = 0;
         atomic_exchange_explicit(&l->held, true, memory_order_acquire); spins++) {
        while (atomic_load_explicit(&l->held, memory_order_relaxed)) {
            if (++spins > 200)
                sched_yield();
        }
    }
}

static inline void spin_unlock(struct spinlock *l)
{
    atomic_store_explicit(&l->held, false, memory_order_release);
}

struct slab_tcache {
    struct spinlock lock;                       /* the owner, per op; the mover when purging */
    struct slab_mag *mag[SLAB_MAX_CLASSES + 1]; /* [lock], allocated on first use */
    struct slab_count count[SLAB_MAX_CLASSES + 2]; /* [owner writes, anyone reads] */
    struct slab_tcache *prev, *next;            /* [registry_lock] */
    bool registered;
};

static struct slab_class classes[SLAB_MAX_CLASSES + 1];
static unsigned nclasses;
/* The class of every size up to SLAB_QUICK_MAX, by size / 8 rounded up:
 * the set path looks a class up without a search. */
#define SLAB_QUICK_MAX 16384
static uint8_t quick_class[SLAB_QUICK_MAX / 8 + 1];
static size_t chunk_max, item_max;
static unsigned arena;
static int page_flags;

/* Large items: a list for eviction, newest at the head, and the eviction
 * hand's place in it, sweeping from the tail towards the head; guarded by
 * large_lock. */
static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static struct item_large *large_head, *large_tail, *large_hand;
static _Atomic uint64_t large_bytes;

/* The pool of free pages and the budget. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab_page **pool;         /* [pool_lock] */
static size_t npool, pool_cap;          /* [pool_lock] */
static _Atomic size_t mem_used;         /* pages allocated * page size + large bytes */
static _Atomic size_t mem_limit;

/* Every thread's cache, for the mover and for stats; and the counts of
 * threads that exited. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab_tcache *registry;
static struct slab_count retired[SLAB_MAX_CLASSES + 2];
static __thread struct slab_tcache *self;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* --- pages from a file (warm restart on tmpfs: persist_map.c) -------------- */

/*
 * With slab_map_setup, pages come from a shared mapping of a file instead
 * of the arena, so that the cache is in the file when mcd stops: the next
 * mcd maps the same file and takes its pages as they are (slab_adopt).  A
 * page handed back (page_release) has its file range punched out, which
 * frees its memory as dallocx would, and is reused first.  Should the file
 * run out (cache_memlimit raised past it), pages come from the arena again.
 */
static struct {
    char *base;                 /* page 0, or NULL [set before any page is taken] */
    size_t npages;              /* [constant once set] */
    int fd;                     /* [constant once set] */
    off_t offset;               /* where page 0 is in the file [constant once set] */
    size_t next;                /* pages handed out from the top so far [pool_lock] */
    uint32_t *free;             /* pages handed back, to reuse [pool_lock] */
    size_t nfree;               /* [pool_lock] */
    uint8_t *adopted;           /* while loading: which of the first `next` were taken */
    _Atomic bool keep;          /* saved: pages released stay as they are in the file */
} fmap = { .fd = -1 };

void slab_map_keep(void) { atomic_store(&fmap.keep, true); }

bool slab_map_holds(const void *page)
{
    return fmap.base != NULL && (const char *)page >= fmap.base &&
           (const char *)page < fmap.base + fmap.npages * SLAB_PAGE_SIZE;
}

size_t slab_map_index(const void *page)
{
    return (size_t)((const char *)page - fmap.base) / SLAB_PAGE_SIZE;
}

size_t slab_map_extent(void)
{
    pthread_mutex_lock(&pool_lock);
    size_t n = fmap.next;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

int slab_map_setup(void *base, size_t npages, int fd, off_t offset, size_t in_file)
{
    if (((uintptr_t)base & (SLAB_PAGE_SIZE - 1)) != 0 || in_file > npages ||
        (uintptr_t)base + npages * SLAB_PAGE_SIZE > (1ULL << 48))
        return -EINVAL;
    fmap.free = malloc(sizeof(*fmap.free) * (npages ? npages : 1));
    fmap.adopted = in_file ? calloc(in_file, 1) : NULL;
    if (fmap.free == NULL || (in_file && fmap.adopted == NULL)) {
        free(fmap.free);
        free(fmap.adopted);
        fmap.free = NULL;
        fmap.adopted = NULL;
        return -ENOMEM;
    }
    fmap.base = base;
    fmap.npages = npages;
    fmap.fd = fd;
    fmap.offset = offset;
    fmap.next = in_file;
    fmap.nfree = 0;
    return 0;
}

/* The memory of page i goes back to the system; the page is free to reuse. */
static void map_give_back(size_t i)
{
    if (fallocate(fmap.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  fmap.offset + (off_t)(i * SLAB_PAGE_SIZE), SLAB_PAGE_SIZE) != 0)
        madvise(fmap.base + i * SLAB_PAGE_SIZE, SLAB_PAGE_SIZE, MADV_REMOVE);
    fmap.free[fmap.nfree++] = (uint32_t)i;
}

void slab_map_adopt_done(void)
{
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; fmap.adopted != NULL && i < fmap.next; i++)
        if (!fmap.adopted[i])
            map_give_back(i);
    free(fmap.adopted);
    fmap.adopted = NULL;
    pthread_mutex_unlock(&pool_lock);
}

/*
 * A page of the file, its memory allocated first: a sparse file's page is
 * only memory once written, and a write that finds the tmpfs full raises
 * SIGBUS.  When fallocate finds no room, NULL: the page comes from the
 * arena instead (and its items are streamed at the stop).
 */
static void *map_page(void)
{
    size_t i = SIZE_MAX;
    bool fresh = false;
    pthread_mutex_lock(&pool_lock);
    if (fmap.nfree > 0) {
        i = fmap.free[--fmap.nfree];
    } else if (fmap.next < fmap.npages) {
        i = fmap.next++;
        fresh = true;
    }
    if (i != SIZE_MAX && fallocate(fmap.fd, 0, fmap.offset + (off_t)(i * SLAB_PAGE_SIZE),
                                   SLAB_PAGE_SIZE) != 0) {
        if (fresh)
            fmap.next--;
        else
            fmap.free[fmap.nfree++] = (uint32_t)i;
        i = SIZE_MAX;
    }
    pthread_mutex_unlock(&pool_lock);
    return i == SIZE_MAX ? NULL : fmap.base + i * SLAB_PAGE_SIZE;
}

/* --- pages ---------------------------------------------------------------- */

/* Whether new pages are mapped in whole when taken (slab_prefault). */
static _Atomic bool prefault;

void slab_prefault(bool on) { atomic_store_explicit(&prefault, on, memory_order_relaxed); }

static void *page_memory(void)
{
    if (fmap.base != NULL) {
        void *p = map_page();
        if (p != NULL)
            return p;
    }
#ifdef MCD_SANITIZE
    return aligned_alloc(SLAB_PAGE_SIZE, SLAB_PAGE_SIZE);
#else
    return mallocx(SLAB_PAGE_SIZE, page_flags | MALLOCX_ALIGN(SLAB_PAGE_SIZE));
#endif
}

static void page_release(struct slab_page *p)
{
    UNPOISON(p, SLAB_PAGE_SIZE);
    if (slab_map_holds(p)) {
        pthread_mutex_lock(&pool_lock);
        if (!atomic_load(&fmap.keep))
            map_give_back(slab_map_index(p));
        pthread_mutex_unlock(&pool_lock);
        atomic_fetch_sub_explicit(&mem_used, SLAB_PAGE_SIZE, memory_order_relaxed);
        return;
    }
#ifdef MCD_SANITIZE
    free(p);
#else
    dallocx(p, page_flags | MALLOCX_ALIGN(SLAB_PAGE_SIZE));
#endif
    atomic_fetch_sub_explicit(&mem_used, SLAB_PAGE_SIZE, memory_order_relaxed);
}

/* Reserve `n` bytes of the budget, going at most `slack` bytes past it;
 * false if they do not fit. */
static bool budget_take_past(size_t n, size_t slack)
{
    size_t used = atomic_load_explicit(&mem_used, memory_order_relaxed);
    do {
        size_t limit = atomic_load_explicit(&mem_limit, memory_order_relaxed) + slack;
        if (used > limit || limit - used < n)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&mem_used, &used, used + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

static bool budget_take(size_t n) { return budget_take_past(n, 0); }

/* How far past -m first pages may go in all: a thirty-second of -m, and
 * at least a page. */
static size_t first_page_slack(void)
{
    size_t slack = atomic_load_explicit(&mem_limit, memory_order_relaxed) / 32;
    return slack < SLAB_PAGE_SIZE ? SLAB_PAGE_SIZE : slack;
}

/*
 * A page for class `cls`: from the pool, or new within the budget.  A
 * class's `first` page may go past the budget, by first_page_slack() in
 * all, as memcached grants a class its first page past -m
 * (do_slabs_newslab): otherwise, once memory is full, the first sets of a
 * new size would be refused until the mover brought a page.  The mover
 * takes the overshoot back (mover_tick: over the limit) once a class has
 * pages to spare.
 */
static struct slab_page *page_get(unsigned cls, bool first, bool *mapped)
{
    struct slab_page *p = NULL;
    *mapped = false;
    pthread_mutex_lock(&pool_lock);
    if (npool > 0)
        p = pool[--npool];
    pthread_mutex_unlock(&pool_lock);
    if (p == NULL) {
        if (!budget_take_past(SLAB_PAGE_SIZE, first ? first_page_slack() : 0))
            return NULL;
        p = page_memory();
        /* The table keeps 45 bits of an item's address (table.c). */
        if (p == NULL || (uintptr_t)p >= (1ULL << 48)) {
            if (p != NULL)
                page_release(p);
            else
                atomic_fetch_sub_explicit(&mem_used, SLAB_PAGE_SIZE, memory_order_relaxed);
            return NULL;
        }
        *mapped = true;
        memset(p, 0, SLAB_PAGE_HEADER);
        POISON((char *)p + SLAB_PAGE_HEADER, SLAB_PAGE_SIZE - SLAB_PAGE_HEADER);
    }
    p->cls = (uint8_t)cls;
    atomic_store_explicit(&p->state, SLAB_PAGE_ACTIVE, memory_order_relaxed);
    p->nchunks = 0;
    p->epoch++;
    return p;
}

/*
 * A bulk load fills every page it takes: one call maps a new page in whole
 * instead of a fault per 4 KB.  It takes a while (the kernel zeroes 1 MB),
 * so it is done without the class lock: another thread may carve the page
 * meanwhile, and its writes fault pages in as they would anyway.
 */
static void page_populate(struct slab_page *p)
{
#ifdef MADV_POPULATE_WRITE
    if (p != NULL && atomic_load_explicit(&prefault, memory_order_relaxed))
        madvise(p, SLAB_PAGE_SIZE, MADV_POPULATE_WRITE);
#else
    (void)p;
#endif
}

static void pool_put(struct slab_page *p)
{
    p->cls = 0;
    pthread_mutex_lock(&pool_lock);
    if (npool == pool_cap) {
        size_t ncap = pool_cap ? pool_cap * 2 : 64;
        struct slab_page **np = realloc(pool, ncap * sizeof(*np));
        if (np == NULL) {
            pthread_mutex_unlock(&pool_lock);
            page_release(p);
            return;
        }
        pool = np;
        pool_cap = ncap;
    }
    pool[npool++] = p;
    pthread_mutex_unlock(&pool_lock);
}

/* Add a page to a class (its lock held); false if the array cannot grow. */
static bool class_add_page(struct slab_class *c, struct slab_page *p)
{
    if (c->npages == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 16;
        struct slab_page **np = realloc(c->pages, ncap * sizeof(*np));
        if (np == NULL)
            return false;
        c->pages = np;
        c->cap = ncap;
    }
    p->index = c->npages;
    c->pages[c->npages++] = p;
    return true;
}

void *slab_chunk_at(unsigned cls, struct slab_page *page, uint32_t i)
{
    return (char *)page + SLAB_PAGE_HEADER + (size_t)i * classes[cls].size;
}

/* --- classes -------------------------------------------------------------- */

static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

int slab_setup(const struct slab_options *opt)
{
    memset(classes, 0, sizeof(classes));
    item_max = opt->item_size_max;
    chunk_max = (SLAB_PAGE_SIZE - SLAB_PAGE_HEADER) / 2 & ~(size_t)7;
    if (opt->chunk_max != 0 && opt->chunk_max < chunk_max)
        chunk_max = round8(opt->chunk_max);
    size_t size = round8(opt->header + opt->min_chunk);
    nclasses = 0;
    while (nclasses < SLAB_MAX_CLASSES && size < chunk_max) {
        classes[++nclasses].size = size;
        size_t next = round8((size_t)((double)size * opt->factor));
        size = next > size + 8 ? next : size + 8;
    }
    if (nclasses == SLAB_MAX_CLASSES)
        chunk_max = classes[nclasses].size;    /* the ladder ran out of ids */
    else
        classes[++nclasses].size = chunk_max;
    for (unsigned i = 1; i <= nclasses; i++) {
        pthread_mutex_init(&classes[i].lock, NULL);
        classes[i].perpage = (uint32_t)((SLAB_PAGE_SIZE - SLAB_PAGE_HEADER) / classes[i].size);
    }
    item_layout.large_class = nclasses + 1;
    quick_class[0] = 1;
    for (size_t k = 1, c = 1; k <= SLAB_QUICK_MAX / 8; k++) {
        size_t size = k * 8;
        while (c <= nclasses && classes[c].size < size)
            c++;
        quick_class[k] = (uint8_t)(size > item_max ? 0 : c <= nclasses ? c : nclasses + 1);
    }
    atomic_store(&mem_limit, opt->maxbytes);
    atomic_store(&large_bytes, 0);
    large_head = large_tail = large_hand = NULL;
    memset(retired, 0, sizeof(retired));
    size_t sz = sizeof(arena);
    if (mallctl("arenas.create", &arena, &sz, NULL, 0) != 0)
        return -ENOMEM;
    page_flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
    /* Large items churn: give their freed memory back within a second. */
    char name[64];
    ssize_t decay = 1000;
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", arena);
    mallctl(name, NULL, NULL, &decay, sizeof(decay));
    return 0;
}

/* Forget every chunk a thread cache holds (at teardown). */
static void tcache_clear(struct slab_tcache *t)
{
    spin_lock(&t->lock);
    for (unsigned c = 0; c <= SLAB_MAX_CLASSES; c++) {
        free(t->mag[c]);
        t->mag[c] = NULL;
    }
    memset(t->count, 0, sizeof(t->count));
    spin_unlock(&t->lock);
}

void slab_teardown(void)
{
    pthread_mutex_lock(&registry_lock);
    for (struct slab_tcache *t = registry; t != NULL; t = t->next)
        tcache_clear(t);
    pthread_mutex_unlock(&registry_lock);
    for (unsigned i = 1; i <= nclasses; i++) {
        struct slab_class *c = &classes[i];
        for (uint32_t k = 0; k < c->npages; k++)
            page_release(c->pages[k]);
        free(c->pages);
        pthread_mutex_destroy(&c->lock);
    }
    memset(classes, 0, sizeof(classes));
    for (size_t k = 0; k < npool; k++)
        page_release(pool[k]);
    free(pool);
    pool = NULL;
    npool = pool_cap = 0;
    /* The mapping itself is persist_map.c's to unmap. */
    free(fmap.free);
    free(fmap.adopted);
    memset(&fmap, 0, sizeof(fmap));
    fmap.fd = -1;
    nclasses = 0;
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.destroy", arena);
    mallctl(name, NULL, NULL, NULL, 0);
}

unsigned slab_nclasses(void) { return nclasses; }

unsigned slab_large_class(void) { return nclasses + 1; }

size_t slab_chunk_size(unsigned cls) { return classes[cls].size; }

uint32_t slab_perpage(unsigned cls) { return classes[cls].perpage; }

unsigned slab_class_for(size_t size)
{
    if (size <= SLAB_QUICK_MAX)
        return quick_class[(size + 7) / 8];
    if (size > item_max)
        return 0;
    if (size > chunk_max)
        return nclasses + 1;
    unsigned lo = 1, hi = nclasses;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (classes[mid].size >= size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* --- thread caches ---------------------------------------------------------- */

/* At thread exit: hand the magazines back and keep the counts. */
static void tcache_exit(void *arg)
{
    struct slab_tcache *t = arg;
    for (unsigned c = 1; c <= SLAB_MAX_CLASSES; c++) {
        struct slab_mag *m = t->mag[c];
        if (m != NULL && m->n > 0 && c <= nclasses) {
            spin_lock(&t->lock);
            slab_free_to_class(c, m->chunk, m->n);
            m->n = 0;
            spin_unlock(&t->lock);
        }
        free(m);
    }
    pthread_mutex_lock(&registry_lock);
    for (unsigned c = 0; c <= SLAB_MAX_CLASSES + 1; c++) {
        atomic_fetch_add(&retired[c].used, atomic_load(&t->count[c].used));
        atomic_fetch_add(&retired[c].linked, atomic_load(&t->count[c].linked));
        atomic_fetch_add(&retired[c].linked_bytes, atomic_load(&t->count[c].linked_bytes));
    }
    if (t->prev)
        t->prev->next = t->next;
    else
        registry = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&registry_lock);
    free(t);
    self = NULL;
}

static void make_exit_key(void) { pthread_key_create(&exit_key, tcache_exit); }

static struct slab_tcache *tcache_self(void)
{
    struct slab_tcache *t = self;
    if (__builtin_expect(t != NULL, 1))
        return t;
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        fprintf(stderr, "mcd: out of memory for a thread's slab cache\n");
        abort();
    }
    pthread_once(&exit_once, make_exit_key);
    pthread_setspecific(exit_key, t);
    pthread_mutex_lock(&registry_lock);
    t->next = registry;
    if (registry)
        registry->prev = t;
    registry = t;
    pthread_mutex_unlock(&registry_lock);
    self = t;
    return t;
}

static inline void count_add(_Atomic int64_t *c, int64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

void slab_count_bytes(unsigned cls, int64_t delta)
{
    count_add(&tcache_self()->count[cls].linked_bytes, delta);
}

void slab_count_link(unsigned cls, int delta, size_t bytes)
{
    struct slab_tcache *t = tcache_self();
    count_add(&t->count[cls].linked, delta);
    count_add(&t->count[cls].linked_bytes, delta * (int64_t)bytes);
}

static inline bool page_draining(const void *chunk)
{
    return atomic_load_explicit(&slab_page_of(chunk)->state, memory_order_relaxed) !=
           SLAB_PAGE_ACTIVE;
}

/* Turn a reserved chunk (refcount 1, in our hands) into a free one (0),
 * waiting out a walker's pin. */
static void chunk_release(void *chunk)
{
    struct item *it = chunk;
    uint8_t one = 1;
    while (!atomic_compare_exchange_weak_explicit(&it->refcount, &one, 0, memory_order_release,
                                                  memory_order_relaxed))
        one = 1;
}

/* Pop a chunk of class `cls` from a locked magazine, dropping those of draining pages. */
static void *mag_pop(struct slab_tcache *t, unsigned cls)
{
    struct slab_mag *m = t->mag[cls];
    while (m != NULL && m->n > 0) {
        void *p = m->chunk[--m->n];
        if (!page_draining(p))
            return p;
        chunk_release(p);
    }
    return NULL;
}

/*
 * Take up to `want` free chunks of a class: its free list, then carving,
 * then a new page.  Each comes out reserved (refcount 1).  A page newly
 * mapped for it is left in *mapped, for page_populate.
 */
static unsigned class_take(unsigned cls, void **out, unsigned want, bool grow,
                           struct slab_page **mapped)
{
    struct slab_class *c = &classes[cls];
    unsigned n = 0;
    pthread_mutex_lock(&c->lock);
    while (n < want && c->free_head != NULL) {
        struct item *it = c->free_head;
        memcpy(&c->free_head, it, sizeof(void *));
        c->nfree--;
        atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
        out[n++] = it;
    }
    while (n < want) {
        if (c->carve == NULL || c->carve->nchunks == c->perpage) {
            /* A new page only for an empty hand: a batch is no reason. */
            bool fresh = false;
            struct slab_page *p = grow && n == 0 ? page_get(cls, c->npages == 0, &fresh) : NULL;
            if (p == NULL)
                break;
            if (!class_add_page(c, p)) {
                pool_put(p);
                break;
            }
            c->carve = p;
            if (fresh)
                *mapped = p;
        }
        struct slab_page *p = c->carve;
        while (n < want && p->nchunks < c->perpage) {
            struct item *it = slab_chunk_at(cls, p, p->nchunks);
            UNPOISON(it, ITEM_HEADER);
            atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
            atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
            p->nchunks++;
            c->carved++;
            out[n++] = it;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void *alloc_from(unsigned cls, bool grow)
{
    struct slab_tcache *t = tcache_self();
    spin_lock(&t->lock);
    void *p = mag_pop(t, cls);
    spin_unlock(&t->lock);
    if (p == NULL) {
        void *batch[SLAB_MAG_SIZE / 2];
        struct slab_page *mapped = NULL;
        unsigned n = class_take(cls, batch, SLAB_MAG_SIZE / 2, grow, &mapped);
        if (n == 0)
            return NULL;
        /* The chunk this returns keeps the page from being moved meanwhile. */
        page_populate(mapped);
        p = batch[--n];
        if (n > 0) {
            spin_lock(&t->lock);
            struct slab_mag *m = t->mag[cls];
            if (m == NULL)
                m = t->mag[cls] = calloc(1, sizeof(*m));
            for (unsigned i = 0; i < n; i++) {
                if (m != NULL && m->n < SLAB_MAG_SIZE)
                    m->chunk[m->n++] = batch[i];
                else
                    slab_free_to_class(cls, &batch[i], 1);
            }
            spin_unlock(&t->lock);
        }
    }
    count_add(&t->count[cls].used, 1);
    UNPOISON(p, classes[cls].size);
    return p;
}

void *slab_alloc(unsigned cls) { return alloc_from(cls, true); }

void *slab_alloc_nogrow(unsigned cls) { return alloc_from(cls, false); }

/* Give reserved chunks (refcount 1) back to their class's list. */
void slab_free_to_class(unsigned cls, void **chunks, unsigned n)
{
    struct slab_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < n; i++) {
        struct item *it = chunks[i];
        chunk_release(it);
        if (page_draining(it))
            continue;
        memcpy(it, &c->free_head, sizeof(void *));
        c->free_head = it;
        c->nfree++;
    }
    pthread_mutex_unlock(&c->lock);
}

/*
 * The chunk's last reference is gone (item_unref holds the calling thread's
 * magazine lock, so the mover can tell when a free has finished).
 */
static void free_locked(struct slab_tcache *t, void *chunk)
{
    struct slab_page *page = slab_page_of(chunk);
    unsigned cls = page->cls;
    count_add(&t->count[cls].used, -1);
    POISON((char *)chunk + ITEM_HEADER, classes[cls].size - ITEM_HEADER);
    if (page_draining(chunk))
        return;                 /* dropped: the page is leaving its class */
    struct item *it = chunk;
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    struct slab_mag *m = t->mag[cls];
    if (m == NULL && (m = t->mag[cls] = calloc(1, sizeof(*m))) == NULL) {
        slab_free_to_class(cls, &chunk, 1);
        return;
    }
    if (m->n == SLAB_MAG_SIZE) {
        slab_free_to_class(cls, m->chunk, SLAB_MAG_SIZE / 2);
        memmove(m->chunk, m->chunk + SLAB_MAG_SIZE / 2, (SLAB_MAG_SIZE / 2) * sizeof(void *));
        m->n -= SLAB_MAG_SIZE / 2;
    }
    m->chunk[m->n++] = chunk;
}

void slab_free(void *chunk)
{
    struct slab_tcache *t = tcache_self();
    spin_lock(&t->lock);
    free_locked(t, chunk);
    spin_unlock(&t->lock);
}

int slab_adopt(unsigned cls, size_t index, uint32_t carved,
               bool (*keep)(struct item *, unsigned, void *), void *arg, uint64_t *kept_bits)
{
    if (cls < 1 || cls > nclasses || fmap.adopted == NULL || index >= fmap.next ||
        fmap.adopted[index])
        return -1;
    struct slab_class *c = &classes[cls];
    struct slab_page *p = (struct slab_page *)(fmap.base + index * SLAB_PAGE_SIZE);
    if (carved > c->perpage)
        carved = c->perpage;
    memset(kept_bits, 0, SLAB_ADOPT_BITS_WORDS * sizeof(*kept_bits));
    int kept = 0;
    pthread_mutex_lock(&c->lock);
    if (!class_add_page(c, p)) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    fmap.adopted[index] = 1;
    p->cls = (uint8_t)cls;
    atomic_store_explicit(&p->state, SLAB_PAGE_ACTIVE, memory_order_relaxed);
    atomic_store_explicit(&p->pins, 0, memory_order_relaxed);
    p->nchunks = c->perpage;
    p->epoch = 0;
    c->carved += c->perpage;
    for (uint32_t i = 0; i < c->perpage; i++) {
        struct item *it = slab_chunk_at(cls, p, i);
        if (i < carved && keep(it, cls, arg)) {
            atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
            kept_bits[i / 64] |= 1ull << (i % 64);
            kept++;
            continue;
        }
        atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
        atomic_store_explicit(&it->refcount, 0, memory_order_relaxed);
        memcpy(it, &c->free_head, sizeof(void *));
        c->free_head = it;
        c->nfree++;
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(&mem_used, SLAB_PAGE_SIZE, memory_order_relaxed);
    count_add(&tcache_self()->count[cls].used, kept);
    return kept;
}

/*
 * item_unref: the common case (others still hold the item) is one CAS and
 * no lock.  When this may be the last reference, the decrement happens
 * under the thread's magazine lock, so that a free in progress is never
 * invisible to the mover (see the top of this file).
 */
void item_unref(struct item *it)
{
    uint8_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
    while (r > 1) {
        if (atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint8_t)(r - 1),
                                                  memory_order_acq_rel, memory_order_relaxed))
            return;
    }
    /* The item's layout may be read only once the count says it is ours:
     * a walker's pin can end here while the chunk is being filled. */
    struct slab_tcache *t = tcache_self();
    spin_lock(&t->lock);
    if (atomic_fetch_sub_explicit(&it->refcount, 1, memory_order_acq_rel) == 1) {
        if (item_is_large(it)) {
            spin_unlock(&t->lock);
            slab_free_large(it);
            return;
        }
        free_locked(t, it);
    }
    spin_unlock(&t->lock);
}

/* --- large items ------------------------------------------------------------ */

struct item *slab_alloc_large(size_t size, size_t vlen)
{
    size_t total = sizeof(struct item_large) + size;
    size_t real = nallocx(total, page_flags);
    if (real == 0 || !budget_take(real))
        return NULL;
#ifdef MCD_SANITIZE
    struct item_large *h = malloc(total);
#else
    struct item_large *h = mallocx(total, page_flags);
#endif
    if (h == NULL || (uintptr_t)h >= (1ULL << 48)) {
        if (h != NULL)
#ifdef MCD_SANITIZE
            free(h);
#else
            dallocx(h, page_flags);
#endif
        atomic_fetch_sub_explicit(&mem_used, real, memory_order_relaxed);
        return NULL;
    }
    h->alloc = real;
    h->vlen = (uint32_t)vlen;
    struct item *it = (struct item *)(h + 1);
    atomic_store_explicit(&it->iflags, 0, memory_order_relaxed);
    atomic_store_explicit(&it->refcount, 1, memory_order_relaxed);
    pthread_mutex_lock(&large_lock);
    h->prev = NULL;
    h->next = large_head;
    if (large_head)
        large_head->prev = h;
    else
        large_tail = h;
    large_head = h;
    pthread_mutex_unlock(&large_lock);
    atomic_fetch_add_explicit(&large_bytes, real, memory_order_relaxed);
    count_add(&tcache_self()->count[nclasses + 1].used, 1);
    return it;
}

void slab_free_large(struct item *it)
{
    struct item_large *h = item_large_of(it);
    pthread_mutex_lock(&large_lock);
    if (large_hand == h)
        large_hand = h->prev;
    if (h->prev)
        h->prev->next = h->next;
    else
        large_head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        large_tail = h->prev;
    pthread_mutex_unlock(&large_lock);
    size_t real = h->alloc;
#ifdef MCD_SANITIZE
    free(h);
#else
    dallocx(h, page_flags);
#endif
    atomic_fetch_sub_explicit(&large_bytes, real, memory_order_relaxed);
    atomic_fetch_sub_explicit(&mem_used, real, memory_order_relaxed);
    count_add(&tcache_self()->count[nclasses + 1].used, -1);
}

unsigned slab_large_scan(struct item **out, unsigned max)
{
    unsigned n = 0, seen = 0;
    pthread_mutex_lock(&large_lock);
    while (n < max && large_head != NULL && seen < 4 * max) {
        if (large_hand == NULL)
            large_hand = large_tail;
        struct item *it = (struct item *)(large_hand + 1);
        large_hand = large_hand->prev;
        seen++;
        uint8_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
        while (r != 0 && !atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint8_t)(r + 1),
                                                                memory_order_acquire,
                                                                memory_order_relaxed))
            ;
        if (r != 0)
            out[n++] = it;
    }
    pthread_mutex_unlock(&large_lock);
    return n;
}

/* --- walking a class's pages ------------------------------------------------ */

struct slab_page *slab_page_pin(unsigned cls, uint32_t index, uint32_t *nchunks)
{
    struct slab_class *c = &classes[cls];
    struct slab_page *p = NULL;
    pthread_mutex_lock(&c->lock);
    if (index < c->npages) {
        p = c->pages[index];
        atomic_fetch_add_explicit(&p->pins, 1, memory_order_relaxed);
        *nchunks = p->nchunks;
    }
    pthread_mutex_unlock(&c->lock);
    return p;
}

void slab_page_unpin(struct slab_page *page)
{
    atomic_fetch_sub_explicit(&page->pins, 1, memory_order_release);
}

uint32_t slab_class_npages(unsigned cls)
{
    struct slab_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    uint32_t n = c->npages;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* --- the mover's primitives --------------------------------------------------- */

uint64_t slab_pool_pages(void)
{
    pthread_mutex_lock(&pool_lock);
    uint64_t n = npool;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

/* An empty page joins class `cls` (back to the pool if the class cannot
 * list it); whether it joined. */
static bool page_give(struct slab_page *p, unsigned cls)
{
    struct slab_class *c = &classes[cls];
    p->cls = (uint8_t)cls;
    p->nchunks = 0;
    p->epoch++;
    atomic_store_explicit(&p->state, SLAB_PAGE_ACTIVE, memory_order_relaxed);
    pthread_mutex_lock(&c->lock);
    bool ok = class_add_page(c, p);
    /* Carve the new page next: the old carve page is full or nearly. */
    if (ok && (c->carve == NULL || c->carve->nchunks == c->perpage))
        c->carve = p;
    pthread_mutex_unlock(&c->lock);
    if (!ok)
        pool_put(p);
    return ok;
}

bool slab_pool_give(unsigned cls)
{
    struct slab_page *p = NULL;
    pthread_mutex_lock(&pool_lock);
    if (npool > 0)
        p = pool[--npool];
    pthread_mutex_unlock(&pool_lock);
    if (p == NULL)
        return false;
    return page_give(p, cls);
}

/* Take a draining page's chunks out of one thread's magazine. */
static void tcache_purge(struct slab_tcache *t, unsigned cls, struct slab_page *page)
{
    spin_lock(&t->lock);
    struct slab_mag *m = t->mag[cls];
    if (m != NULL) {
        uint32_t keep = 0;
        for (uint32_t i = 0; i < m->n; i++) {
            if (slab_page_of(m->chunk[i]) == page)
                chunk_release(m->chunk[i]);
            else
                m->chunk[keep++] = m->chunk[i];
        }
        m->n = keep;
    }
    spin_unlock(&t->lock);
}

/* Take a draining page's chunks off its class's free list (class locked). */
static void class_purge(struct slab_class *c, struct slab_page *page)
{
    void **pp = &c->free_head;
    while (*pp != NULL) {
        void *chunk = *pp;
        if (slab_page_of(chunk) == page) {
            memcpy(pp, chunk, sizeof(void *));
            c->nfree--;
        } else {
            pp = (void **)chunk;
        }
    }
}

/* Purge the page from every thread's magazine and from its class. */
static void drain_purge(unsigned cls, struct slab_page *page)
{
    pthread_mutex_lock(&registry_lock);
    for (struct slab_tcache *t = registry; t != NULL; t = t->next)
        tcache_purge(t, cls, page);
    pthread_mutex_unlock(&registry_lock);
    struct slab_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    class_purge(c, page);
    pthread_mutex_unlock(&c->lock);
}

struct slab_page *slab_drain_begin(unsigned cls, uint32_t index)
{
    struct slab_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    if (index >= c->npages) {
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    struct slab_page *p = c->pages[index];
    atomic_store_explicit(&p->state, SLAB_PAGE_DRAINING, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->pins, 1, memory_order_relaxed);
    if (c->carve == p)
        c->carve = NULL;
    pthread_mutex_unlock(&c->lock);
    drain_purge(cls, p);
    return p;
}

static void tcache_handshake(void);

/* Whether every carved chunk of the page reads free. */
static bool page_all_free(unsigned cls, struct slab_page *page)
{
    for (uint32_t i = 0; i < page->nchunks; i++) {
        struct item *it = slab_chunk_at(cls, page, i);
        if (atomic_load_explicit(&it->refcount, memory_order_acquire) != 0)
            return false;
    }
    return true;
}

bool slab_drain_empty(unsigned cls, struct slab_page *page)
{
    /* Chunks pushed to a magazine by a refill that raced the purge. */
    drain_purge(cls, page);
    if (!page_all_free(cls, page))
        return false;
    /* A free that had already dropped the count to 0 may still be under
     * way in its thread (it holds that thread's lock): wait for each. */
    tcache_handshake();
    return page_all_free(cls, page);
}

bool slab_drain_finish(unsigned cls, struct slab_page *page, unsigned dst)
{
    struct slab_class *c = &classes[cls];
    pthread_mutex_lock(&c->lock);
    /* Our own pin is the one slab_drain_begin took. */
    if (atomic_load_explicit(&page->pins, memory_order_acquire) != 1) {
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    uint32_t i = page->index;
    c->pages[i] = c->pages[--c->npages];
    c->pages[i]->index = i;
    c->carved -= page->nchunks;
    pthread_mutex_unlock(&c->lock);
    atomic_store_explicit(&page->pins, 0, memory_order_relaxed);
    POISON((char *)page + SLAB_PAGE_HEADER, SLAB_PAGE_SIZE - SLAB_PAGE_HEADER);
    page->nchunks = 0;
    if (dst == 0)
        pool_put(page);
    else
        page_give(page, dst);
    return true;
}

/* Take and release every thread's magazine lock once: a free that was
 * under way when this started has finished when it returns. */
static void tcache_handshake(void)
{
    pthread_mutex_lock(&registry_lock);
    for (struct slab_tcache *t = registry; t != NULL; t = t->next) {
        spin_lock(&t->lock);
        spin_unlock(&t->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

void slab_drain_abandon(unsigned cls, struct slab_page *page)
{
    struct slab_class *c = &classes[cls];
    atomic_store_explicit(&page->state, SLAB_PAGE_ACTIVE, memory_order_seq_cst);
    /* From here frees cache the page's chunks again; those dropped before
     * (count 0 once the frees under way have finished) go back on the list. */
    tcache_handshake();
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < page->nchunks; i++) {
        struct item *it = slab_chunk_at(cls, page, i);
        if (atomic_load_explicit(&it->refcount, memory_order_acquire) == 0) {
            memcpy(it, &c->free_head, sizeof(void *));
            c->free_head = it;
            c->nfree++;
        }
    }
    pthread_mutex_unlock(&c->lock);
    slab_page_unpin(page);
}

/* --- the budget ---------------------------------------------------------------- */

size_t slab_mem_used(void) { return atomic_load_explicit(&mem_used, memory_order_relaxed); }

void slab_budget_reset(void) { atomic_store(&mem_used, 0); }

void slab_charge(int64_t bytes)
{
    atomic_fetch_add_explicit(&mem_used, (size_t)bytes, memory_order_relaxed);
}

size_t slab_mem_limit(void) { return atomic_load_explicit(&mem_limit, memory_order_relaxed); }

void slab_set_limit(size_t maxbytes)
{
    atomic_store(&mem_limit, maxbytes);
    for (;;) {
        struct slab_page *p = NULL;
        pthread_mutex_lock(&pool_lock);
        if (npool > 0 && slab_mem_used() > maxbytes)
            p = pool[--npool];
        pthread_mutex_unlock(&pool_lock);
        if (p == NULL)
            break;
        page_release(p);
    }
}

unsigned slab_pool_release(unsigned n)
{
    unsigned done = 0;
    while (done < n) {
        struct slab_page *p = NULL;
        pthread_mutex_lock(&pool_lock);
        if (npool > 0)
            p = pool[--npool];
        pthread_mutex_unlock(&pool_lock);
        if (p == NULL)
            break;
        page_release(p);
        done++;
    }
    return done;
}

bool slab_page_available(void)
{
    if (slab_pool_pages() > 0)
        return true;
    size_t used = slab_mem_used(), limit = slab_mem_limit();
    return used <= limit && limit - used >= SLAB_PAGE_SIZE;
}

/* --- stats ---------------------------------------------------------------------- */

void slab_class_stats(unsigned cls, struct slab_class_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (cls >= 1 && cls <= nclasses) {
        struct slab_class *c = &classes[cls];
        out->chunk_size = c->size;
        out->perpage = c->perpage;
        pthread_mutex_lock(&c->lock);
        out->pages = c->npages;
        out->carved = c->carved;
        out->free_listed = c->nfree;
        pthread_mutex_unlock(&c->lock);
    } else if (cls == nclasses + 1) {
        out->large_bytes = atomic_load_explicit(&large_bytes, memory_order_relaxed);
    }
    int64_t used = 0, linked = 0, bytes = 0;
    pthread_mutex_lock(&registry_lock);
    for (struct slab_tcache *t = registry; t != NULL; t = t->next) {
        used += atomic_load_explicit(&t->count[cls].used, memory_order_relaxed);
        linked += atomic_load_explicit(&t->count[cls].linked, memory_order_relaxed);
        bytes += atomic_load_explicit(&t->count[cls].linked_bytes, memory_order_relaxed);
    }
    used += atomic_load(&retired[cls].used);
    linked += atomic_load(&retired[cls].linked);
    bytes += atomic_load(&retired[cls].linked_bytes);
    pthread_mutex_unlock(&registry_lock);
    out->used = used > 0 ? (uint64_t)used : 0;
    out->linked = linked > 0 ? (uint64_t)linked : 0;
    out->linked_bytes = bytes > 0 ? (uint64_t)bytes : 0;
}

unsigned slab_large_pin_range(uint64_t skip, struct item **out, unsigned max)
{
    unsigned n = 0;
    pthread_mutex_lock(&large_lock);
    struct item_large *h = large_head;
    for (uint64_t k = 0; h != NULL && k < skip; k++)
        h = h->next;
    for (; h != NULL && n < max; h = h->next) {
        struct item *it = (struct item *)(h + 1);
        uint8_t r = atomic_load_explicit(&it->refcount, memory_order_relaxed);
        while (r != 0 && !atomic_compare_exchange_weak_explicit(&it->refcount, &r, (uint8_t)(r + 1),
                                                                memory_order_acquire,
                                                                memory_order_relaxed))
            ;
        if (r != 0)
            out[n++] = it;
    }
    pthread_mutex_unlock(&large_lock);
    return n;
}
