/*
 * persist: warm restart.  A graceful stop streams every live item to a
 * file; the next start loads it, and keeps nothing of it unless all of it
 * checks out.
 *
 * Why a file of records and not memcached's mmap'd slab memory: it works
 * on any filesystem, it is independent of where jemalloc put our pages,
 * and a file that does not check out is simply not used.  The price is a
 * copy each way, which is sequential and runs on every core.
 *
 * Saving (persist_save) runs after the workers stopped; it first stops the
 * page mover and the crawler (cache_quiesce), so from then on nothing
 * changes an item and no lock is needed to read one.  Threads take slab
 * pages in turn (then one takes the large items) and walk them in address
 * order, which the prefetcher likes far better than the hash table's
 * random order; each live item (linked, not expired, not flushed) becomes a
 * record whose 32-byte header (and value, when short) goes to a small
 * buffer and whose long value is written straight from the item with
 * pwritev: one copy, by the kernel.  A block of about PERSIST_BLOCK_TARGET
 * bytes is checksummed as it is built, reserves its place in the file with
 * one atomic add and is written with one pwritev; blocks may come in any
 * order (the trailer sums their checksums order-free).  The server saves
 * with one thread: the kernel copies a file's writes one at a time, under
 * its inode lock, and more writers only spin on it.  The file is written
 * as FILE.tmp and renamed over FILE once complete, so a crash while saving
 * leaves no file (a load removes it).  No fsync: a file torn by a power
 * loss fails its checksums and is refused, which is all a cache needs.
 *
 * Loading (persist_load) maps the file read-only and first checks what
 * says whether it is ours and whole: header (magic, version, checksum),
 * build and settings (-m, -I, -f, -n, slab_chunk_max, -C must match:
 * another layout could place items differently or not fit), trailer, and
 * the chain of block headers against the trailer's counts.  Then, the hash
 * table sized for the item count at once and new slab pages mapped in
 * whole (no fault per 4 KB), threads take blocks in turn, check each one's
 * checksum and records and store them with cache_restore while the block
 * is still in cache: one pass over the file instead of a pass to check and
 * another to store (the hash buckets of the next few records are
 * prefetched while one is stored).  cache_restore keeps each item's unique
 * and marks; TTLs are what was left at the save minus the wall-clock time
 * since, and what expired meanwhile is left out.  A block that does not check out
 * stops the threads, and what the blocks before it stored is removed again
 * (cache_restore_undo): the server then starts empty, as from a file
 * refused outright.  Otherwise the CAS counters continue above the
 * largest unique loaded.  The file is removed as soon as it is open (and
 * not used if it cannot be): a later crash must find no file rather than
 * this stale copy.  Its mapping is then its last reference, and unmapping
 * it frees its pages: a thread of its own does that while the server
 * starts serving.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache_priv.h"
#include "expiry.h"
#include "slab.h"

/* Payload bytes after which a thread closes its block: small enough that
 * what it read for the checksum is still in cache when the kernel copies it. */
#define PERSIST_BLOCK_TARGET (512u << 10)
#define PERSIST_THREADS_MAX 16

void persist_self_header(const struct persist_identity *id, int64_t wall,
                         struct persist_header *h)
{
    memset(h, 0, sizeof(*h));
    h->version = PERSIST_FORMAT_VERSION;
    snprintf(h->build, sizeof(h->build), "%s", id->build);
    h->maxbytes = cache_opts.maxbytes;
    h->item_size_max = cache_opts.item_size_max;
    h->factor = cache_opts.factor;
    h->min_chunk = (uint32_t)cache_opts.min_chunk;
    h->slab_chunk_max = (uint32_t)cache_opts.slab_chunk_max;
    h->use_cas = cache_opts.use_cas;
    h->saved_wall = wall;
}

static unsigned clamp_threads(unsigned n)
{
    return n < 1 ? 1 : n > PERSIST_THREADS_MAX ? PERSIST_THREADS_MAX : n;
}

void persist_run_threads(void *(*fn)(void *), void *arg, unsigned threads)
{
    pthread_t tids[PERSIST_THREADS_MAX];
    unsigned started = 0;
    for (; started + 1 < clamp_threads(threads); started++) {
        if (pthread_create(&tids[started], NULL, fn, arg) != 0)
            break;
    }
    fn(arg);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

double persist_seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* --- save ------------------------------------------------------------------ */

/* Values up to this size are copied next to their record's header; longer
 * ones are written straight from the item (one iovec each). */
#define PERSIST_INLINE_MAX 256
/* Records per block: the block header and one or two iovecs each fit IOV_MAX. */
#define PERSIST_BLOCK_IOV 1024

struct save {
    int fd;
    rel_time_t now;
    bool skip_mapped;               /* pages of the file mapping are saved by persist_map.c */
    struct { unsigned cls; uint32_t page; } *pages;  /* every slab page, then the large items */
    uint64_t npages;
    _Atomic uint64_t next_page;
    _Atomic bool large_taken;
    _Atomic uint64_t offset;        /* where the next block goes */
    _Atomic int error;              /* first errno */
    pthread_mutex_t lock;           /* guards totals */
    struct persist_trailer totals;
};

/* One thread's block being built: headers (and short values) in `arena`,
 * long values referenced where they are. */
struct save_block {
    uint8_t head[PERSIST_BLOCK_HEADER_BYTES];
    struct iovec iov[PERSIST_BLOCK_IOV];
    int niov;
    uint8_t *arena;
    size_t arena_used;
    uint64_t len;                   /* payload bytes */
    uint32_t items;
    struct persist_crc crc;
    uint64_t max_cas;
};

#define PERSIST_ARENA (PERSIST_BLOCK_IOV * (PERSIST_RECORD_HEADER_BYTES + ITEM_KEY_MAX + \
                                            PERSIST_INLINE_MAX))

static void save_error(struct save *sv, int e)
{
    int zero = 0;
    atomic_compare_exchange_strong(&sv->error, &zero, e);
}

/* Write the block wherever the file has room. */
static void save_flush(struct save *sv, struct save_block *b)
{
    if (b->items == 0)
        return;
    struct persist_block blk = { .len = (uint32_t)b->len, .items = b->items,
                                 .crc = persist_crc_value(&b->crc) };
    persist_block_encode(&blk, b->head);
    b->iov[0] = (struct iovec){ b->head, PERSIST_BLOCK_HEADER_BYTES };
    uint64_t total = PERSIST_BLOCK_HEADER_BYTES + b->len;
    uint64_t at = atomic_fetch_add(&sv->offset, total);
    struct iovec *iov = b->iov;
    int n = b->niov;
    while (n > 0) {
        ssize_t w = pwritev(sv->fd, iov, n, (off_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            save_error(sv, w < 0 ? errno : EIO);
            break;
        }
        at += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    pthread_mutex_lock(&sv->lock);
    sv->totals.items += b->items;
    sv->totals.blocks++;
    sv->totals.bytes += total;
    sv->totals.crc_sum += blk.crc;
    if (b->max_cas > sv->totals.max_cas)
        sv->totals.max_cas = b->max_cas;
    pthread_mutex_unlock(&sv->lock);
    b->niov = 1;
    b->arena_used = 0;
    b->len = 0;
    b->items = 0;
    persist_crc_init(&b->crc);
}

/* Add a linked, live item to the block. */
static void save_item(struct save *sv, struct save_block *b, const struct item *it)
{
    if (b->niov + 2 > PERSIST_BLOCK_IOV || b->len >= PERSIST_BLOCK_TARGET)
        save_flush(sv, b);
    rel_time_t exp = item_exptime(it), at = item_atime(it);
    struct persist_record r = {
        .key = item_key(it),
        .nkey = it->nkey,
        .fetched = item_has(it, ITEM_FETCHED),
        .stale = item_has(it, ITEM_STALE),
        .key_binary = item_key_binary(it),
        .flags = item_flags(it),
        .vlen = item_vlen(it),
        .ttl_left = exp == 0 ? 0 : exp - sv->now,
        .idle = sv->now > at ? sv->now - at : 0,
        .cas = item_cas(it),
        .value = item_cvalue(it),
    };
    bool inline_value = r.vlen <= PERSIST_INLINE_MAX;
    uint8_t *h = b->arena + b->arena_used;
    size_t hlen = inline_value ? persist_record_encode(&r, h) : persist_record_encode_head(&r, h);
    persist_crc_add(&b->crc, h, hlen);
    b->arena_used += hlen;
    /* Consecutive inline records share one iovec. */
    struct iovec *last = &b->iov[b->niov - 1];
    if (b->niov > 1 && (uint8_t *)last->iov_base + last->iov_len == h)
        last->iov_len += hlen;
    else
        b->iov[b->niov++] = (struct iovec){ h, hlen };
    if (!inline_value) {
        persist_crc_add(&b->crc, r.value, r.vlen);
        b->iov[b->niov++] = (struct iovec){ (void *)r.value, r.vlen };
    }
    b->len += hlen + (inline_value ? 0 : r.vlen);
    b->items++;
    if (r.cas > b->max_cas)
        b->max_cas = r.cas;
}

static bool save_wanted(const struct save *sv, const struct item *it)
{
    enum cache_miss why;
    return atomic_load_explicit(&it->refcount, memory_order_relaxed) != 0 &&
           (atomic_load_explicit(&it->iflags, memory_order_acquire) & ITEM_LINKED) &&
           cache_live(it, sv->now, &why);
}

static void save_page(struct save *sv, struct save_block *b, unsigned cls, uint32_t index)
{
    uint32_t nchunks;
    struct slab_page *p = slab_page_pin(cls, index, &nchunks);
    if (p == NULL)
        return;
    if (sv->skip_mapped && slab_map_holds(p))
        nchunks = 0;
    for (uint32_t i = 0; i < nchunks; i++) {
        const struct item *it = slab_chunk_at(cls, p, i);
        if (save_wanted(sv, it))
            save_item(sv, b, it);
    }
    slab_page_unpin(p);
}

static void save_large(struct save *sv, struct save_block *b)
{
    struct item *batch[64];
    for (uint64_t skip = 0;;) {
        unsigned n = slab_large_pin_range(skip, batch, 64);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++) {
            if (save_wanted(sv, batch[i]))
                save_item(sv, b, batch[i]);
        }
        /* The block points into them: written before they are let go. */
        save_flush(sv, b);
        for (unsigned i = 0; i < n; i++)
            item_unref(batch[i]);
        skip += n;
    }
}

static void *save_thread(void *arg)
{
    struct save *sv = arg;
    struct save_block *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->arena = malloc(PERSIST_ARENA)) == NULL) {
        save_error(sv, ENOMEM);
        free(b);
        return NULL;
    }
    b->niov = 1;
    persist_crc_init(&b->crc);
    for (;;) {
        uint64_t i = atomic_fetch_add(&sv->next_page, 1);
        if (atomic_load(&sv->error) != 0)
            break;
        if (i < sv->npages) {
            save_page(sv, b, sv->pages[i].cls, sv->pages[i].page);
            continue;
        }
        if (!atomic_exchange(&sv->large_taken, true))
            save_large(sv, b);
        break;
    }
    save_flush(sv, b);
    free(b->arena);
    free(b);
    return NULL;
}

/* Every slab page, as (class, index): the units threads take in turn. */
static int save_list_pages(struct save *sv)
{
    uint64_t n = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++)
        n += slab_class_npages(c);
    sv->pages = malloc(sizeof(*sv->pages) * (n ? n : 1));
    if (sv->pages == NULL)
        return -ENOMEM;
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        uint32_t np = slab_class_npages(c);
        for (uint32_t k = 0; k < np; k++) {
            sv->pages[sv->npages].cls = c;
            sv->pages[sv->npages++].page = k;
        }
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n, off_t at)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p = (const char *)p + w;
        n -= (size_t)w;
        at += w;
    }
    return 0;
}

int persist_save(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, bool skip_mapped, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    cache_quiesce();
    struct save sv = { .now = now, .offset = PERSIST_HEADER_BYTES, .skip_mapped = skip_mapped };
    if (save_list_pages(&sv) != 0)
        return -ENOMEM;
    sv.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sv.fd < 0) {
        int e = errno;
        free(sv.pages);
        return -e;
    }
    pthread_mutex_init(&sv.lock, NULL);
    persist_run_threads(save_thread, &sv, threads);
    pthread_mutex_destroy(&sv.lock);
    free(sv.pages);

    int rc = -atomic_load(&sv.error);
    uint8_t head[PERSIST_HEADER_BYTES], tail[PERSIST_TRAILER_BYTES];
    struct persist_header h;
    persist_self_header(id, wall, &h);
    persist_header_encode(&h, head);
    persist_trailer_encode(&sv.totals, tail);
    uint64_t end = atomic_load(&sv.offset);
    if (rc == 0)
        rc = write_all(sv.fd, head, sizeof(head), 0);
    if (rc == 0)
        rc = write_all(sv.fd, tail, sizeof(tail), (off_t)end);
    if (close(sv.fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    rep->items = sv.totals.items;
    rep->bytes = end + sizeof(tail);
    return 0;
}

/* --- load ------------------------------------------------------------------- */

struct load {
    const uint8_t *map;
    uint64_t *blocks;               /* offsets of the blocks' headers */
    uint64_t nblocks;
    _Atomic uint64_t next;
    _Atomic bool bad;
    rel_time_t now;
    uint64_t elapsed;               /* wall-clock seconds since the save */
    _Atomic uint64_t items, expired, dropped, max_cas;
    struct timespec started;
};

/* Store one record, and count it; `hash` is cache_hash() of its key. */
static void restore_record(struct load *ld, const struct persist_record *r, uint64_t hash,
                           uint64_t *items, uint64_t *expired, uint64_t *dropped)
{
    if (r->ttl_left != 0 && r->ttl_left <= ld->elapsed) {
        (*expired)++;
        return;
    }
    uint64_t idle = r->idle + ld->elapsed;
    struct cache_restore_item ci = {
        .key = r->key, .nkey = r->nkey, .flags = r->flags,
        .exptime = r->ttl_left == 0 ? 0 : ld->now + (rel_time_t)(r->ttl_left - ld->elapsed),
        .atime = idle < ld->now ? ld->now - (rel_time_t)idle : 1,
        .cas = r->cas, .fetched = r->fetched, .stale = r->stale, .key_binary = r->key_binary,
        .value = r->value, .vlen = (size_t)r->vlen,
    };
    if (cache_restore(&ci, hash, ld->now) == CACHE_STORED)
        (*items)++;
    else
        (*dropped)++;
}

/* Records decoded ahead of the one being stored: their keys' buckets are
 * prefetched meanwhile, where the lookup and the link of each would
 * otherwise wait on a cache miss of the hash table. */
#define RESTORE_AHEAD 4

/* Store a checked block's records. */
static void restore_block(struct load *ld, const struct persist_block *b, const uint8_t *pay)
{
    uint64_t items = 0, expired = 0, dropped = 0, max_cas = 0;
    struct { struct persist_record r; uint64_t hash; } ahead[RESTORE_AHEAD];
    unsigned first = 0, n = 0;
    for (size_t pos = 0;;) {
        for (; n < RESTORE_AHEAD && pos < b->len; n++) {
            unsigned k = (first + n) % RESTORE_AHEAD;
            pos += persist_record_decode(pay + pos, b->len - pos, &ahead[k].r);
            ahead[k].hash = cache_hash(ahead[k].r.key, ahead[k].r.nkey);
            cache_prefetch(ahead[k].hash);
        }
        if (n == 0)
            break;
        const struct persist_record *r = &ahead[first].r;
        if (r->cas > max_cas)
            max_cas = r->cas;
        restore_record(ld, r, ahead[first].hash, &items, &expired, &dropped);
        first = (first + 1) % RESTORE_AHEAD;
        n--;
    }
    atomic_fetch_add(&ld->items, items);
    atomic_fetch_add(&ld->expired, expired);
    atomic_fetch_add(&ld->dropped, dropped);
    uint64_t m = atomic_load(&ld->max_cas);
    while (max_cas > m && !atomic_compare_exchange_weak(&ld->max_cas, &m, max_cas))
        ;
}

/* Take blocks in turn: check one, then store its records while it is
 * still in cache.  After a bad block no thread takes another. */
static void *load_thread(void *arg)
{
    struct load *ld = arg;
    for (;;) {
        uint64_t i = atomic_fetch_add(&ld->next, 1);
        if (i >= ld->nblocks || atomic_load(&ld->bad))
            break;
        struct persist_block b;
        const uint8_t *p = ld->map + ld->blocks[i];
        persist_block_decode(p, &b);
        if (!persist_block_check(&b, p + PERSIST_BLOCK_HEADER_BYTES)) {
            atomic_store(&ld->bad, true);
            break;
        }
        restore_block(ld, &b, p + PERSIST_BLOCK_HEADER_BYTES);
    }
    return NULL;
}


static int refuse(struct persist_report *rep, enum persist_verdict v)
{
    rep->verdict = v;
    if (rep->why[0] == '\0')
        snprintf(rep->why, sizeof(rep->why), "%s", persist_verdict_str(v));
    return 1;
}

/* Find every block between the header and the trailer; check the counts. */
static enum persist_verdict index_blocks(struct load *ld, uint64_t size, struct persist_trailer *t)
{
    uint64_t end = size - PERSIST_TRAILER_BYTES;
    if (!persist_trailer_decode(ld->map + end, t))
        return PERSIST_TRUNCATED;
    if (t->bytes != end - PERSIST_HEADER_BYTES || t->blocks > t->bytes / PERSIST_BLOCK_HEADER_BYTES)
        return PERSIST_BAD_TRAILER;
    ld->blocks = malloc(sizeof(*ld->blocks) * (t->blocks ? t->blocks : 1));
    if (ld->blocks == NULL)
        return PERSIST_BAD_TRAILER;
    uint64_t pos = PERSIST_HEADER_BYTES, items = 0, crc_sum = 0;
    while (pos < end) {
        struct persist_block b;
        if (end - pos < PERSIST_BLOCK_HEADER_BYTES || ld->nblocks == t->blocks ||
            !persist_block_decode(ld->map + pos, &b) ||
            b.len > end - pos - PERSIST_BLOCK_HEADER_BYTES)
            return PERSIST_BAD_BLOCK;
        ld->blocks[ld->nblocks++] = pos;
        items += b.items;
        crc_sum += b.crc;
        pos += PERSIST_BLOCK_HEADER_BYTES + b.len;
    }
    if (ld->nblocks != t->blocks || items != t->items || crc_sum != t->crc_sum)
        return PERSIST_BAD_TRAILER;
    return PERSIST_OK;
}

/*
 * The file's mapping is its last reference, the file being unlinked: the
 * munmap frees all its pages, about 0.15 s per GB on tmpfs, which the first
 * client need not wait for.  A thread of its own does it, joined by
 * persist_release_wait (at exit, or before another load).
 */
static struct {
    pthread_t tid;
    bool started;
    void *map;
    size_t size;
} unmapping;

static void *unmap_thread(void *arg)
{
    (void)arg;
    munmap(unmapping.map, unmapping.size);
    return NULL;
}

static void unmap_later(void *map, size_t size)
{
    persist_release_wait();
    unmapping.map = map;
    unmapping.size = size;
    unmapping.started = pthread_create(&unmapping.tid, NULL, unmap_thread, NULL) == 0;
    if (!unmapping.started)
        munmap(map, size);
}

static int load_mapped(struct load *ld, uint64_t size, const struct persist_identity *id,
                       int64_t wall, unsigned threads, struct persist_report *rep)
{
    if (size < PERSIST_HEADER_BYTES)
        return refuse(rep, size >= 8 && memcmp(ld->map, "mcdwarm\n", 8) == 0
                               ? PERSIST_TRUNCATED : PERSIST_BAD_MAGIC);
    struct persist_header fh, self;
    enum persist_verdict v = persist_header_decode(ld->map, &fh);
    if (v != PERSIST_OK)
        return refuse(rep, v);
    persist_self_header(id, wall, &self);
    v = persist_header_match(&fh, &self, rep->why, sizeof(rep->why));
    if (v != PERSIST_OK)
        return refuse(rep, v);
    if (size < PERSIST_HEADER_BYTES + PERSIST_TRAILER_BYTES)
        return refuse(rep, PERSIST_TRUNCATED);
    struct persist_trailer t;
    v = index_blocks(ld, size, &t);
    if (v != PERSIST_OK)
        return refuse(rep, v);
    rep->map_secs = persist_seconds_since(&ld->started);
    /* The file is whole and its blocks are where the trailer says: check
     * and store them, block by block. */
    ld->elapsed = wall > fh.saved_wall ? (uint64_t)(wall - fh.saved_wall) : 0;
    cache_reserve(t.items);
    slab_prefault(true);
    persist_run_threads(load_thread, ld, threads);
    slab_prefault(false);
    if (atomic_load(&ld->bad)) {
        /* The blocks before it were stored: nothing of the file stays. */
        cache_restore_undo(ld->now);
        return refuse(rep, PERSIST_BAD_BLOCK);
    }
    cache_cas_floor(atomic_load(&ld->max_cas));
    rep->store_secs = persist_seconds_since(&ld->started) - rep->map_secs;
    rep->items = atomic_load(&ld->items);
    rep->expired = atomic_load(&ld->expired);
    rep->dropped = atomic_load(&ld->dropped);
    return 0;
}

int persist_load(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Whatever it holds, this copy is used once at most: if it cannot be
     * removed, a crash later would bring it back stale, so it is not used. */
    rep->bytes = (uint64_t)st.st_size;
    if (unlink(path) != 0) {
        snprintf(rep->why, sizeof(rep->why), "cannot remove it (%s), so a later restart "
                 "would load it again, stale", strerror(errno));
        close(fd);
        return refuse(rep, PERSIST_NOT_REMOVABLE);
    }
    if (st.st_size == 0) {
        close(fd);
        return refuse(rep, PERSIST_TRUNCATED);
    }
    /* Not MAP_POPULATE: that maps a gigabyte in on this one thread before
     * any work starts (0.1 s); the loading threads' faults map it as they
     * go, each mapping 64 KB of cached file (the kernel's fault-around). */
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return -e;
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    struct load ld = { .map = map, .now = now, .started = started };
    int rc = load_mapped(&ld, (uint64_t)st.st_size, id, wall, threads, rep);
    free(ld.blocks);
    unmap_later(map, (size_t)st.st_size);
    return rc;
}

void persist_release_wait(void)
{
    if (unmapping.started) {
        pthread_join(unmapping.tid, NULL);
        unmapping.started = false;
    }
}
