/*
 * persist: warm restart.  A graceful stop streams every live item to a
 * file; the next start checks the whole file and only then loads it.
 *
 * Why a file of records and not memcached's mmap'd slab memory: it works
 * on any filesystem, it is independent of where jemalloc put our pages,
 * and a file that does not check out is simply not used.  The price is a
 * copy each way, which is sequential and runs on every core.
 *
 * Saving (persist_save) runs after the workers stopped, so nothing but the
 * page mover and the crawler can change an item meanwhile.  Threads take
 * table stripes in turn; under a stripe's lock a thread copies each live
 * item (not expired, not flushed) into its block buffer — the lock guards
 * the unique and the times — then, lock released, closes a block of about
 * PERSIST_BLOCK_TARGET bytes, reserves its place in the file with one
 * atomic add and writes it with pwrite: one syscall per block, blocks in
 * any order (the trailer sums their checksums order-free).  The file is
 * written as FILE.tmp and renamed over FILE once complete, so a crash while
 * saving leaves the previous state (none: a load removes the file).  No
 * fsync: a file torn by a power loss fails its checksums and is refused,
 * which is all a cache needs.
 *
 * Loading (persist_load) maps the file read-only and checks everything
 * before storing anything: header (magic, version, checksum), build and
 * settings (-m, -I, -f, -n, slab_chunk_max, -C must match: another layout
 * could place items differently or not fit), trailer, then every block's
 * checksum and records, on several threads.  Then the threads store the
 * records with cache_restore, which keeps each item's unique and marks;
 * TTLs are what was left at the save minus the wall-clock time since, and
 * what expired meanwhile is left out.  The CAS counters continue above the
 * largest unique loaded.  The file is removed as soon as it is mapped: a
 * later crash must find no file rather than this stale copy.
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
#include <unistd.h>

#include "cache_priv.h"
#include "expiry.h"

/* Payload bytes after which a thread closes its block. */
#define PERSIST_BLOCK_TARGET (4u << 20)
#define PERSIST_THREADS_MAX 16

static void self_header(const struct persist_identity *id, int64_t wall, struct persist_header *h)
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

/* --- save ------------------------------------------------------------------ */

struct save {
    int fd;
    rel_time_t now;
    _Atomic unsigned next_stripe;
    _Atomic uint64_t offset;        /* where the next block goes */
    _Atomic int error;              /* first errno */
    pthread_mutex_t lock;           /* guards totals */
    struct persist_trailer totals;
};

struct save_buf {
    uint8_t *p;
    size_t len, cap;                /* len counts the block header's room */
    uint32_t items;
};

static bool buf_room(struct save_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : PERSIST_BLOCK_TARGET + (1u << 20);
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Append a live item (its stripe locked). */
static bool save_item(struct save *sv, struct save_buf *b, struct item *it, uint64_t *max_cas)
{
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
    size_t n = persist_record_size(r.nkey, r.vlen);
    if (!buf_room(b, n))
        return false;
    persist_record_encode(&r, b->p + b->len);
    b->len += n;
    b->items++;
    if (r.cas > *max_cas)
        *max_cas = r.cas;
    return true;
}

/* Write the buffer as one block, wherever the file has room. */
static void save_flush(struct save *sv, struct save_buf *b, uint64_t max_cas)
{
    if (b->items == 0)
        return;
    struct persist_block blk = {
        .len = (uint32_t)(b->len - PERSIST_BLOCK_HEADER_BYTES),
        .items = b->items,
        .crc = persist_crc32c(0, b->p + PERSIST_BLOCK_HEADER_BYTES,
                              b->len - PERSIST_BLOCK_HEADER_BYTES),
    };
    persist_block_encode(&blk, b->p);
    uint64_t at = atomic_fetch_add(&sv->offset, b->len);
    for (size_t done = 0; done < b->len;) {
        ssize_t w = pwrite(sv->fd, b->p + done, b->len - done, (off_t)(at + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO, zero = 0;
            atomic_compare_exchange_strong(&sv->error, &zero, e);
            break;
        }
        done += (size_t)w;
    }
    pthread_mutex_lock(&sv->lock);
    sv->totals.items += b->items;
    sv->totals.blocks++;
    sv->totals.bytes += b->len;
    sv->totals.crc_sum += blk.crc;
    if (max_cas > sv->totals.max_cas)
        sv->totals.max_cas = max_cas;
    pthread_mutex_unlock(&sv->lock);
    b->len = PERSIST_BLOCK_HEADER_BYTES;
    b->items = 0;
}

static void *save_thread(void *arg)
{
    struct save *sv = arg;
    struct save_buf b = { 0 };
    uint64_t max_cas = 0;
    if (!buf_room(&b, PERSIST_BLOCK_HEADER_BYTES)) {
        int zero = 0;
        atomic_compare_exchange_strong(&sv->error, &zero, ENOMEM);
        return NULL;
    }
    b.len = PERSIST_BLOCK_HEADER_BYTES;
    for (;;) {
        unsigned i = atomic_fetch_add(&sv->next_stripe, 1);
        if (i >= table_nstripes() || atomic_load(&sv->error) != 0)
            break;
        struct table_stripe *s = table_stripe_at(i);
        bool ok = true;
        pthread_mutex_lock(&s->lock);
        for (uint32_t k = 0; ok && k < s->nbuckets * TABLE_BUCKET_SLOTS; k++) {
            struct item *it = table_slot(s, k);
            enum cache_miss why;
            if (it != NULL && cache_live(it, sv->now, &why))
                ok = save_item(sv, &b, it, &max_cas);
        }
        pthread_mutex_unlock(&s->lock);
        if (!ok) {
            int zero = 0;
            atomic_compare_exchange_strong(&sv->error, &zero, ENOMEM);
            break;
        }
        if (b.len >= PERSIST_BLOCK_TARGET)
            save_flush(sv, &b, max_cas);
    }
    save_flush(sv, &b, max_cas);
    free(b.p);
    return NULL;
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
                 int64_t wall, unsigned threads, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    struct save sv = { .now = now, .offset = PERSIST_HEADER_BYTES };
    sv.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sv.fd < 0)
        return -errno;
    pthread_mutex_init(&sv.lock, NULL);
    pthread_t tids[PERSIST_THREADS_MAX];
    unsigned n = clamp_threads(threads), started = 0;
    for (; started < n; started++) {
        if (pthread_create(&tids[started], NULL, save_thread, &sv) != 0)
            break;
    }
    if (started == 0)
        save_thread(&sv);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&sv.lock);

    int rc = -atomic_load(&sv.error);
    uint8_t head[PERSIST_HEADER_BYTES], tail[PERSIST_TRAILER_BYTES];
    struct persist_header h;
    self_header(id, wall, &h);
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
};

static void *check_thread(void *arg)
{
    struct load *ld = arg;
    for (;;) {
        uint64_t i = atomic_fetch_add(&ld->next, 1);
        if (i >= ld->nblocks || atomic_load(&ld->bad))
            break;
        struct persist_block b;
        const uint8_t *p = ld->map + ld->blocks[i];
        persist_block_decode(p, &b);
        if (!persist_block_check(&b, p + PERSIST_BLOCK_HEADER_BYTES))
            atomic_store(&ld->bad, true);
    }
    return NULL;
}

static void restore_block(struct load *ld, const uint8_t *p)
{
    struct persist_block b;
    persist_block_decode(p, &b);
    const uint8_t *pay = p + PERSIST_BLOCK_HEADER_BYTES;
    uint64_t items = 0, expired = 0, dropped = 0, max_cas = 0;
    for (size_t pos = 0; pos < b.len;) {
        struct persist_record r;
        pos += persist_record_decode(pay + pos, b.len - pos, &r);
        if (r.cas > max_cas)
            max_cas = r.cas;
        if (r.ttl_left != 0 && r.ttl_left <= ld->elapsed) {
            expired++;
            continue;
        }
        uint64_t idle = r.idle + ld->elapsed;
        struct cache_restore_item ci = {
            .key = r.key, .nkey = r.nkey, .flags = r.flags,
            .exptime = r.ttl_left == 0 ? 0 : ld->now + (rel_time_t)(r.ttl_left - ld->elapsed),
            .atime = idle < ld->now ? ld->now - (rel_time_t)idle : 1,
            .cas = r.cas, .fetched = r.fetched, .stale = r.stale, .key_binary = r.key_binary,
            .value = r.value, .vlen = (size_t)r.vlen,
        };
        if (cache_restore(&ci, ld->now) == CACHE_STORED)
            items++;
        else
            dropped++;
    }
    atomic_fetch_add(&ld->items, items);
    atomic_fetch_add(&ld->expired, expired);
    atomic_fetch_add(&ld->dropped, dropped);
    uint64_t m = atomic_load(&ld->max_cas);
    while (max_cas > m && !atomic_compare_exchange_weak(&ld->max_cas, &m, max_cas))
        ;
}

static void *restore_thread(void *arg)
{
    struct load *ld = arg;
    for (;;) {
        uint64_t i = atomic_fetch_add(&ld->next, 1);
        if (i >= ld->nblocks)
            break;
        restore_block(ld, ld->map + ld->blocks[i]);
    }
    return NULL;
}

/* Run fn on `threads` threads (the caller's among them) over ld's blocks. */
static void run_threads(struct load *ld, void *(*fn)(void *), unsigned threads)
{
    pthread_t tids[PERSIST_THREADS_MAX];
    unsigned started = 0;
    atomic_store(&ld->next, 0);
    for (; started + 1 < clamp_threads(threads); started++) {
        if (pthread_create(&tids[started], NULL, fn, ld) != 0)
            break;
    }
    fn(ld);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
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
    self_header(id, wall, &self);
    v = persist_header_match(&fh, &self, rep->why, sizeof(rep->why));
    if (v != PERSIST_OK)
        return refuse(rep, v);
    if (size < PERSIST_HEADER_BYTES + PERSIST_TRAILER_BYTES)
        return refuse(rep, PERSIST_TRUNCATED);
    struct persist_trailer t;
    v = index_blocks(ld, size, &t);
    if (v != PERSIST_OK)
        return refuse(rep, v);
    run_threads(ld, check_thread, threads);
    if (atomic_load(&ld->bad))
        return refuse(rep, PERSIST_BAD_BLOCK);
    /* Everything checks out: store. */
    ld->elapsed = wall > fh.saved_wall ? (uint64_t)(wall - fh.saved_wall) : 0;
    run_threads(ld, restore_thread, threads);
    cache_cas_floor(atomic_load(&ld->max_cas));
    rep->items = atomic_load(&ld->items);
    rep->expired = atomic_load(&ld->expired);
    rep->dropped = atomic_load(&ld->dropped);
    return 0;
}

int persist_load(const char *path, const struct persist_identity *id, rel_time_t now,
                 int64_t wall, unsigned threads, struct persist_report *rep)
{
    memset(rep, 0, sizeof(*rep));
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
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return -e;
    madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
    struct load ld = { .map = map, .now = now };
    int rc = load_mapped(&ld, (uint64_t)st.st_size, id, wall, threads, rep);
    free(ld.blocks);
    munmap(map, (size_t)st.st_size);
    return rc;
}
