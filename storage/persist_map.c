/*
 * persist_map: warm restart when -e names a file on tmpfs (/dev/shm, /run),
 * memcached's way: the cache's slab pages live in the file all along, so a
 * graceful stop writes a small index instead of the items, and the next
 * start maps the same file and takes the pages in where they are.
 *
 * The file, FILE.live while mcd runs, is a 4 KB head, then `npages` pages
 * of 1 MB (what -m can use, its first pages' allowance included, and two
 * spare), mapped shared and 1 MB aligned; slab.c hands its pages out
 * instead of the arena's (slab_map_setup), allocating each in the file
 * first (a write to an unallocated page of a full tmpfs would raise SIGBUS:
 * with no room, the page comes from the arena), and punches a page it gives
 * back out of the file.  tmpfs only: on a disk the kernel would write the
 * cache back while it changes, so there persist.c streams the items out at
 * the stop instead.
 *
 * A graceful stop (persist_map_save, with clients gone and storage's own
 * threads stopped) walks every page of the mapping once, on every core: an
 * item linked but no longer live (expired, flushed) is unlinked in place,
 * and the page's chunks are checksummed (the page header, which only this
 * process's bookkeeping uses, is not).  What lives outside the mapping --
 * large items, and pages taken from the arena once the file ran out --
 * goes through persist.c to FILE.large.  Then the index: after the pages,
 * per page its class, chunks carved and checksum; in the head, persist.c's
 * header (build and settings: they fix where items sit) and the map's (the
 * mapping's size, the cache time of the stop, the live items, a checksum
 * over it and the pages' entries).  Last, FILE.live is renamed FILE: until
 * then no FILE exists, so a stop that does not finish leaves nothing to
 * load.  The stop writes about 16 bytes a page, not the items.
 *
 * A start (persist_map_start; the page mover and the crawler are stopped
 * meanwhile, main.c) reserves the address range first, so that what can
 * fail fails before a file is touched.  Then it renames FILE to FILE.live,
 * so that whatever happens next (a crash included), FILE is never loaded
 * twice; a leftover FILE.live (mcd crashed) is never loaded.  A FILE in
 * persist.c's stream format (-e moved from a disk, or a start that could
 * not map) stays FILE and is loaded by persist.c into the new mapping.  If
 * the mapping still fails, a loadable FILE.live is renamed back, for the
 * stream path main.c falls back to.  It checks the index, then every
 * page's checksum, before taking anything in; a file that fails any check
 * is emptied and mcd starts with an empty cache, on the same file.  Pages
 * are then adopted by their class (slab_adopt) on several threads: an item
 * stays where it is if it was linked, is whole (its key and value fit its
 * chunk) and has not expired meanwhile; its expiry and last access move to
 * this process's clock as persist.c moves them, and it is linked
 * (cache_adopt) keeping its unique and marks.  Every other chunk becomes
 * free.  Then FILE.large is loaded (persist_load); if it is refused, what
 * was adopted is flushed again: a file is loaded whole or not at all.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cache_priv.h"
#include "expiry.h"
#include "slab.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* slab.c poisons free chunks; the save reads whole pages, free chunks too. */
#define EXPOSE(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define EXPOSE(p, n) ((void)(p), (void)(n))
#endif

#define MAP_MAGIC "mcdmap1\n"
/* The file's head, before the pages: persist.c's header, then the map's.
 * A multiple of the system page, so that the pages can be mapped. */
#define MAP_HEAD_BYTES 4096

/* The map's part of the head (native byte order: the same build reads it). */
struct map_head {
    char magic[8];
    uint32_t crc;               /* CRC32C of this head (crc 0) and the entries after the pages */
    rel_time_t saved_now;       /* cache time at the stop */
    uint64_t npages;            /* the mapping's size */
    uint64_t extent;            /* entries that follow: pages handed out */
    uint64_t items;             /* live items on them */
};

_Static_assert(PERSIST_HEADER_BYTES + sizeof(struct map_head) <= MAP_HEAD_BYTES,
               "the head holds both headers");

struct map_entry {
    uint8_t cls;                /* 0: not a class's page */
    uint8_t pad[3];
    uint32_t carved;            /* chunks carved */
    uint32_t crc;               /* CRC32C of the page after its header */
    uint32_t pad2;
};

/* The mapping in use, set by persist_map_start [main thread]. */
static struct {
    int fd;
    char *base;
    size_t npages;
    char *live;                 /* FILE.live */
} map = { .fd = -1 };

static size_t map_pages_for(size_t maxbytes)
{
    size_t slack = maxbytes / 32 < SLAB_PAGE_SIZE ? SLAB_PAGE_SIZE : maxbytes / 32;
    return (maxbytes + slack) / SLAB_PAGE_SIZE + 2;
}

static uint32_t page_crc(const struct slab_page *p)
{
    return persist_block_crc((const uint8_t *)p + SLAB_PAGE_HEADER,
                             SLAB_PAGE_SIZE - SLAB_PAGE_HEADER);
}

static char *with_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* --- save ------------------------------------------------------------------ */

struct map_save {
    struct slab_page **pages;   /* the mapping's class pages, pinned */
    unsigned *cls;
    uint32_t *carved;
    size_t n;
    _Atomic size_t next;
    struct map_entry *entries;  /* by page index */
    rel_time_t now;
    _Atomic uint64_t items;
};

static void *save_pages(void *arg)
{
    struct map_save *sv = arg;
    uint64_t items = 0;
    for (size_t k; (k = atomic_fetch_add(&sv->next, 1)) < sv->n;) {
        struct slab_page *p = sv->pages[k];
        unsigned cls = sv->cls[k];
        for (uint32_t i = 0; i < sv->carved[k]; i++) {
            struct item *it = slab_chunk_at(cls, p, i);
            uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
            if (!(fl & ITEM_LINKED))
                continue;
            enum cache_miss why;
            if (atomic_load_explicit(&it->refcount, memory_order_relaxed) != 0 &&
                cache_live(it, sv->now, &why))
                items++;
            else
                atomic_fetch_and_explicit(&it->iflags, (uint8_t)~ITEM_LINKED,
                                          memory_order_relaxed);
        }
        struct map_entry *e = &sv->entries[slab_map_index(p)];
        EXPOSE(p, SLAB_PAGE_SIZE);
        e->cls = (uint8_t)cls;
        e->carved = sv->carved[k];
        e->crc = page_crc(p);
    }
    atomic_fetch_add(&sv->items, items);
    return NULL;
}

int persist_map_save(const char *path, const struct persist_identity *id, rel_time_t now,
                     int64_t wall, unsigned threads, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (map.fd < 0)
        return -EINVAL;
    cache_quiesce();
    /* What the mapping does not hold, first: FILE.large. */
    char *large = with_suffix(path, ".large");
    if (large == NULL)
        return -ENOMEM;
    struct persist_report lrep;
    int rc = persist_save(large, id, now, wall, threads, true, &lrep);
    free(large);
    if (rc != 0) {
        unlink(map.live);       /* the next start would remove it: its memory goes now */
        return rc;
    }

    size_t extent = slab_map_extent(), total = 0;
    for (unsigned c = 1; c <= slab_nclasses(); c++)
        total += slab_class_npages(c);
    struct map_save sv = { .now = now };
    sv.pages = calloc(total ? total : 1, sizeof(*sv.pages));
    sv.cls = calloc(total ? total : 1, sizeof(*sv.cls));
    sv.carved = calloc(total ? total : 1, sizeof(*sv.carved));
    sv.entries = calloc(extent ? extent : 1, sizeof(*sv.entries));
    if (sv.pages == NULL || sv.cls == NULL || sv.carved == NULL || sv.entries == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (unsigned c = 1; c <= slab_nclasses(); c++) {
        for (uint32_t k = 0;; k++) {
            uint32_t nchunks;
            struct slab_page *p = slab_page_pin(c, k, &nchunks);
            if (p == NULL)
                break;
            if (!slab_map_holds(p) || slab_map_index(p) >= extent || sv.n == total) {
                slab_page_unpin(p);
                continue;
            }
            sv.pages[sv.n] = p;
            sv.cls[sv.n] = c;
            sv.carved[sv.n++] = nchunks;
        }
    }
    persist_run_threads(save_pages, &sv, threads);
    for (size_t k = 0; k < sv.n; k++)
        slab_page_unpin(sv.pages[k]);
    /* From here on the pages are the file's: a teardown must not free them. */
    slab_map_keep();

    uint8_t hdr[PERSIST_HEADER_BYTES];
    struct persist_header h;
    persist_self_header(id, wall, &h);
    persist_header_encode(&h, hdr);
    struct map_head mh = { .saved_now = now, .npages = map.npages, .extent = extent,
                           .items = atomic_load(&sv.items) };
    memcpy(mh.magic, MAP_MAGIC, sizeof(mh.magic));
    uint32_t crc = persist_crc32c(0, &mh, sizeof(mh));
    mh.crc = persist_crc32c(crc, sv.entries, extent * sizeof(*sv.entries));
    off_t at = (off_t)(MAP_HEAD_BYTES + map.npages * SLAB_PAGE_SIZE);
    size_t nent = extent * sizeof(*sv.entries);
    struct iovec iov[2] = { { hdr, sizeof(hdr) }, { &mh, sizeof(mh) } };
    ssize_t w = pwrite(map.fd, sv.entries, nent, at);
    if (w == (ssize_t)nent)
        w = pwritev(map.fd, iov, 2, 0) == (ssize_t)(sizeof(hdr) + sizeof(mh)) ? 0 : -1;
    if (w != 0)
        rc = w < 0 ? -errno : -EIO;
    else if (rename(map.live, path) != 0)
        rc = -errno;
    /* Whatever this process does from now on (a sanitizer build's teardown
     * frees every item) goes to a private copy, not to the saved file.  If
     * that cannot be had, the file is still saved: only a sanitizer build
     * writes to the pages after this. */
    if (rc == 0)
        (void)mmap(map.base, map.npages * SLAB_PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_FIXED, map.fd, MAP_HEAD_BYTES);
    rep->items = atomic_load(&sv.items) + lrep.items;
    struct stat st;
    rep->bytes = fstat(map.fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
out:
    if (rc != 0)
        unlink(map.live);
    free(sv.pages);
    free(sv.cls);
    free(sv.carved);
    free(sv.entries);
    return rc;
}

/* --- start ----------------------------------------------------------------- */

struct map_load {
    char *base;
    const struct map_entry *entries;
    size_t extent;
    _Atomic size_t next;
    _Atomic bool bad;
    rel_time_t now, saved_now;
    uint64_t elapsed;           /* wall-clock seconds since the stop */
    _Atomic uint64_t items, expired, dropped, max_cas;
};

static void *check_pages(void *arg)
{
    struct map_load *ld = arg;
    for (size_t i; (i = atomic_fetch_add(&ld->next, 1)) < ld->extent && !atomic_load(&ld->bad);) {
        const struct map_entry *e = &ld->entries[i];
        if (e->cls == 0)
            continue;
        char *page = ld->base + i * SLAB_PAGE_SIZE;
#ifdef MADV_POPULATE_WRITE
        /* Mapped in one call rather than a fault per 4 KB, on every thread. */
        madvise(page, SLAB_PAGE_SIZE, MADV_POPULATE_WRITE);
#endif
        if (e->cls > slab_nclasses() || e->carved > slab_perpage(e->cls) ||
            page_crc((const struct slab_page *)page) != e->crc) {
            atomic_store(&ld->bad, true);
            break;
        }
    }
    return NULL;
}

/* One thread's tally while adopting. */
struct adopt_ctx {
    const struct map_load *ld;
    uint64_t expired;
};

/* Whether a chunk of an adopted page stays an item (under the class lock:
 * no locks here).  Its times move to this process's clock. */
static bool keep_item(struct item *it, unsigned cls, void *arg)
{
    struct adopt_ctx *a = arg;
    const struct map_load *ld = a->ld;
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    uint32_t bits = item_size_bits(it);
    if (!(fl & ITEM_LINKED) || atomic_load_explicit(&it->refcount, memory_order_relaxed) == 0 ||
        (bits & ITEM_L_LARGE) || it->nkey == 0 || it->nkey > ITEM_KEY_MAX ||
        ITEM_HEADER + item_meta_bytes(it) + it->nkey + (bits & ITEM_L_VLEN) > slab_chunk_size(cls))
        return false;
    rel_time_t exp = item_exptime(it), at = item_atime(it);
    if (exp != 0) {
        uint64_t left = exp > ld->saved_now ? exp - ld->saved_now : 0;
        if (left <= ld->elapsed) {
            a->expired++;
            return false;
        }
        atomic_store_explicit(&it->exptime, ld->now + (rel_time_t)(left - ld->elapsed),
                              memory_order_relaxed);
    }
    uint64_t idle = (ld->saved_now > at ? ld->saved_now - at : 0) + ld->elapsed;
    atomic_store_explicit(&it->time, idle < ld->now ? ld->now - (rel_time_t)idle : 1,
                          memory_order_relaxed);
    /* Only the marks worth keeping: cache_adopt links it afresh. */
    atomic_store_explicit(&it->iflags, fl & (ITEM_FETCHED | ITEM_STALE | ITEM_FREQ_MASK),
                          memory_order_relaxed);
    return true;
}

static void *adopt_pages(void *arg)
{
    struct map_load *ld = arg;
    struct adopt_ctx a = { .ld = ld };
    uint64_t items = 0, dropped = 0, max_cas = 0;
    uint64_t *kept = malloc(SLAB_ADOPT_BITS_WORDS * sizeof(*kept));
    for (size_t i; kept != NULL && (i = atomic_fetch_add(&ld->next, 1)) < ld->extent;) {
        const struct map_entry *e = &ld->entries[i];
        if (e->cls == 0)
            continue;
        if (slab_adopt(e->cls, i, e->carved, keep_item, &a, kept) <= 0)
            continue;
        /* Exactly the chunks slab_adopt kept for us: nothing else runs during
         * a load, but a count read again could be anyone's. */
        struct slab_page *p = (struct slab_page *)(ld->base + i * SLAB_PAGE_SIZE);
        for (uint32_t k = 0; k < e->carved; k++) {
            if (!(kept[k / 64] & (1ull << (k % 64))))
                continue;
            struct item *it = slab_chunk_at(e->cls, p, k);
            uint64_t cas = item_cas(it);
            if (cache_adopt(it, ld->now) == CACHE_STORED) {
                items++;
                if (cas > max_cas)
                    max_cas = cas;
            } else {
                dropped++;
            }
        }
    }
    if (kept == NULL)
        atomic_store(&ld->bad, true);
    free(kept);
    atomic_fetch_add(&ld->items, items);
    atomic_fetch_add(&ld->expired, a.expired);
    atomic_fetch_add(&ld->dropped, dropped);
    uint64_t m = atomic_load(&ld->max_cas);
    while (max_cas > m && !atomic_compare_exchange_weak(&ld->max_cas, &m, max_cas))
        ;
    return NULL;
}

static int refuse(struct persist_report *rep, enum persist_verdict v, const char *why)
{
    rep->verdict = v;
    if (why != rep->why)
        snprintf(rep->why, sizeof(rep->why), "%s", why ? why : persist_verdict_str(v));
    return 1;
}

/* The head and the index after the pages, checked: 0 with *entries (to
 * free) and the head, or 1 (refused, rep says why). */
static int read_index(int fd, uint64_t size, const struct persist_identity *id, int64_t wall,
                      struct map_head *mh, struct map_entry **entries, int64_t *saved_wall,
                      struct persist_report *rep)
{
    off_t at = (off_t)(MAP_HEAD_BYTES + map.npages * SLAB_PAGE_SIZE);
    uint8_t hdr[PERSIST_HEADER_BYTES];
    if (size < 8 || pread(fd, hdr, 8, 0) != 8)
        return refuse(rep, PERSIST_TRUNCATED, NULL);
    if (size < sizeof(hdr) + sizeof(*mh) ||
        pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        pread(fd, mh, sizeof(*mh), sizeof(hdr)) != (ssize_t)sizeof(*mh))
        return refuse(rep, memcmp(hdr, "mcdwarm\n", 8) == 0 ? PERSIST_TRUNCATED
                                                             : PERSIST_BAD_MAGIC, NULL);
    struct persist_header fh, self;
    enum persist_verdict v = persist_header_decode(hdr, &fh);
    if (v != PERSIST_OK)
        return refuse(rep, v, NULL);
    persist_self_header(id, wall, &self);
    v = persist_header_match(&fh, &self, rep->why, sizeof(rep->why));
    if (v != PERSIST_OK) {
        rep->verdict = v;
        return 1;
    }
    if (memcmp(mh->magic, MAP_MAGIC, sizeof(mh->magic)) != 0 || mh->npages != map.npages ||
        mh->extent > map.npages)
        return refuse(rep, PERSIST_BAD_HEADER, NULL);
    size_t n = (size_t)mh->extent * sizeof(**entries);
    if (size != (uint64_t)at + n)
        return refuse(rep, PERSIST_TRUNCATED, NULL);
    *entries = malloc(n ? n : 1);
    if (*entries == NULL)
        return refuse(rep, PERSIST_BAD_HEADER, "out of memory for the index");
    if (pread(fd, *entries, n, at) != (ssize_t)n) {
        free(*entries);
        *entries = NULL;
        return refuse(rep, PERSIST_TRUNCATED, NULL);
    }
    struct map_head zero = *mh;
    zero.crc = 0;
    uint32_t crc = persist_crc32c(persist_crc32c(0, &zero, sizeof(zero)), *entries, n);
    if (crc != mh->crc) {
        free(*entries);
        *entries = NULL;
        return refuse(rep, PERSIST_BAD_HEADER, "the page index fails its checksum");
    }
    *saved_wall = fh.saved_wall;
    return 0;
}

static bool on_tmpfs(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL)
        return false;
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    struct statfs fs;
    bool yes = statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
    free(dir);
    return yes;
}

/* Check every page of the index, then take them in: 0, or 1 (refused:
 * nothing was taken in). */
static int adopt_all(char *base, const struct map_head *mh, const struct map_entry *entries,
                     int64_t saved_wall, rel_time_t now, int64_t wall, unsigned threads,
                     const struct timespec *t0, struct persist_report *rep)
{
    struct map_load ld = { .base = base, .entries = entries, .extent = mh->extent, .now = now,
                           .saved_now = mh->saved_now };
    ld.elapsed = wall > saved_wall ? (uint64_t)(wall - saved_wall) : 0;
    persist_run_threads(check_pages, &ld, threads);
    rep->map_secs = persist_seconds_since(t0);
    if (atomic_load(&ld.bad)) {
        slab_map_adopt_done();
        return refuse(rep, PERSIST_BAD_BLOCK, "a page fails its checksum");
    }
    atomic_store(&ld.next, 0);
    cache_reserve(mh->items);
    persist_run_threads(adopt_pages, &ld, threads);
    slab_map_adopt_done();
    if (atomic_load(&ld.bad)) {
        cache_restore_undo(now);
        return refuse(rep, PERSIST_BAD_BLOCK, "out of memory while taking the pages in");
    }
    cache_cas_floor(atomic_load(&ld.max_cas));
    rep->items = atomic_load(&ld.items);
    rep->expired = atomic_load(&ld.expired);
    rep->dropped = atomic_load(&ld.dropped);
    return 0;
}

/* Whether the file at fd is in this format (or persist.c's stream one). */
static bool is_map_file(int fd)
{
    char magic[8];
    return pread(fd, magic, sizeof(magic), PERSIST_HEADER_BYTES) == (ssize_t)sizeof(magic) &&
           memcmp(magic, MAP_MAGIC, sizeof(magic)) == 0;
}

/*
 * Open FILE.live for the mapping.  A FILE a stop left in this format is
 * renamed FILE.live first and checked (*index: 0 when it may be loaded, 1
 * refused, -ENOENT none); it is left as it is, so that it can still be
 * renamed back.  A FILE in persist.c's stream format stays FILE
 * (*stream), and FILE.live is new.  The fd, or -errno.
 */
static int open_live(const char *path, const struct persist_identity *id, int64_t wall,
                     struct map_head *mh, struct map_entry **entries, int64_t *saved_wall,
                     int *index, bool *stream, struct persist_report *rep)
{
    *index = -ENOENT;
    *stream = false;
    /* A FILE.live is what a crash left: never loaded. */
    unlink(map.live);
    int fd = -1;
    if (rename(path, map.live) == 0) {
        fd = open(map.live, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            *index = -errno;
        } else if (!is_map_file(fd) && rename(map.live, path) == 0) {
            close(fd);
            fd = -1;
            *stream = true;
        }
    } else if (errno != ENOENT) {
        snprintf(rep->why, sizeof(rep->why), "cannot rename it to %.100s (%s), so a later "
                 "restart would load it again, stale", map.live, strerror(errno));
        *index = refuse(rep, PERSIST_NOT_REMOVABLE, rep->why);
    }
    if (fd >= 0) {
        struct stat st;
        bool ok = fstat(fd, &st) == 0;
        /* What it holds: the file is sparse. */
        rep->bytes = ok ? (uint64_t)st.st_blocks * 512 : 0;
        *index = read_index(fd, ok ? (uint64_t)st.st_size : 0, id, wall, mh, entries,
                            saved_wall, rep);
        return fd;
    }
    fd = open(map.live, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return fd >= 0 ? fd : -errno;
}

int persist_map_start(const char *path, const struct persist_identity *id, rel_time_t now,
                      int64_t wall, unsigned threads, bool *mapped, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    *mapped = false;
    if (!on_tmpfs(path)) {
        snprintf(rep->why, sizeof(rep->why), "not on tmpfs");
        return -EXDEV;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    map.npages = map_pages_for(cache_opts.maxbytes);
    size_t len = map.npages * SLAB_PAGE_SIZE;
    /* The address range first: what can fail fails before any file is
     * touched, and persist.c then finds FILE as it was. */
    char *reserve = mmap(NULL, len + SLAB_PAGE_SIZE, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    map.live = with_suffix(path, ".live");
    char *large = with_suffix(path, ".large");
    if (reserve == MAP_FAILED || map.live == NULL || large == NULL) {
        int e = reserve == MAP_FAILED ? errno : ENOMEM;
        if (reserve != MAP_FAILED)
            munmap(reserve, len + SLAB_PAGE_SIZE);
        free(large);
        snprintf(rep->why, sizeof(rep->why), "cannot reserve %zu MB of addresses: %s",
                 len >> 20, strerror(e));
        return -e;
    }
    struct map_head mh;
    struct map_entry *entries = NULL;
    int64_t saved_wall = 0;
    int rc;
    bool stream;
    int fd = open_live(path, id, wall, &mh, &entries, &saved_wall, &rc, &stream, rep);
    char *base = (char *)(((uintptr_t)reserve + SLAB_PAGE_SIZE - 1) &
                          ~(uintptr_t)(SLAB_PAGE_SIZE - 1));
    int e = 0;
    if (fd < 0)
        e = -fd;
    else if (rc != 0 && ftruncate(fd, 0) != 0)     /* a refused file: its bytes go */
        e = errno;
    else if (ftruncate(fd, (off_t)(MAP_HEAD_BYTES + len)) != 0)
        e = errno;
    else if (mmap(base, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                  MAP_HEAD_BYTES) == MAP_FAILED)
        e = errno;
    else
        e = -slab_map_setup(base, map.npages, fd, MAP_HEAD_BYTES, rc == 0 ? mh.extent : 0);
    if (e != 0) {
        munmap(reserve, len + SLAB_PAGE_SIZE);
        if (fd >= 0)
            close(fd);
        /* A file that could still be loaded goes back as it was. */
        if (rc == 0)
            rename(map.live, path);
        else
            unlink(map.live);
        free(large);
        free(entries);
        snprintf(rep->why, sizeof(rep->why), "cannot map %.100s: %s", map.live, strerror(e));
        return -e;
    }
    /* The reservation's ends that the mapping does not use. */
    if (base > reserve)
        munmap(reserve, (size_t)(base - reserve));
    if (base + len < reserve + len + SLAB_PAGE_SIZE)
        munmap(base + len, (size_t)(reserve + len + SLAB_PAGE_SIZE - (base + len)));
    map.fd = fd;
    map.base = base;
    *mapped = true;
    if (stream) {
        /* A file persist.c wrote (-e moved from a disk, or a start that
         * could not map): loaded as such, into the mapping's pages. */
        free(large);
        return persist_load(path, id, now, wall, threads, rep);
    }
    if (rc == 0) {
        /* The head goes: FILE.live never looks like a save. */
        static const uint8_t zero[PERSIST_HEADER_BYTES];
        if (pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero)) {
            snprintf(rep->why, sizeof(rep->why), "cannot write %.100s: %s", map.live,
                     strerror(errno));
            rc = refuse(rep, PERSIST_NOT_REMOVABLE, rep->why);
            slab_map_adopt_done();
        } else {
            rc = adopt_all(base, &mh, entries, saved_wall, now, wall, threads, &t0, rep);
        }
    }
    free(entries);
    if (rc != 0) {
        /* Whatever FILE.large holds goes with the rest. */
        unlink(large);
        free(large);
        return rc;
    }
    /* What the mapping did not hold. */
    struct persist_report lrep;
    int lrc = persist_load(large, id, now, wall, threads, &lrep);
    free(large);
    if (lrc != 0) {
        cache_restore_undo(now);
        if (lrc > 0) {
            rep->verdict = lrep.verdict;
            snprintf(rep->why, sizeof(rep->why), "its .large: %.150s", lrep.why);
        } else {
            snprintf(rep->why, sizeof(rep->why), "its .large: %s", strerror(-lrc));
            rep->verdict = PERSIST_TRUNCATED;
        }
        rep->items = 0;
        return 1;
    }
    rep->items += lrep.items;
    rep->expired += lrep.expired;
    rep->dropped += lrep.dropped;
    rep->store_secs = persist_seconds_since(&t0) - rep->map_secs;
    return 0;
}
