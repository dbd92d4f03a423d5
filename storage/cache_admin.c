/*
 * cache_admin: what memcached's administrative commands ask of storage
 * besides moving pages (mover.c) and crawling (crawler.c) — the settings
 * they change, per-class figures for `stats slabs|items`, and walks over the
 * items for metadump and cachedump.
 *
 * A walk goes page by page through the chosen classes, then along the large
 * items.  Each item is pinned, and its facts copied under its stripe lock
 * only if it is linked and live; the callback then runs with no lock held,
 * so a slow reader of a dump never holds up a writer.
 */
#include <stdlib.h>
#include <string.h>

#include "cache_priv.h"
#include "expiry.h"
#include "hash.h"

/* Items copied per page pin during a walk. */
#define WALK_BATCH 64

static struct cache_settings admin;            /* [admin_lock] */
static pthread_mutex_t admin_lock = PTHREAD_MUTEX_INITIALIZER;

void cache_admin_setup(const struct cache_options *o)
{
    pthread_mutex_lock(&admin_lock);
    admin = (struct cache_settings){
        .slab_reassign = o->slab_reassign,
        .slab_automove = o->slab_automove,
        .slab_automove_ratio = o->slab_automove_ratio,
        .lru_crawler = o->lru_crawler,
        .lru_crawler_sleep = o->lru_crawler_sleep,
        .lru_crawler_tocrawl = o->lru_crawler_tocrawl,
    };
    pthread_mutex_unlock(&admin_lock);
}

unsigned cache_nclasses(void) { return slab_large_class(); }

void cache_set_automove(unsigned level)
{
    pthread_mutex_lock(&admin_lock);
    admin.slab_automove = level;
    pthread_mutex_unlock(&admin_lock);
}

void cache_set_automove_ratio(double ratio)
{
    pthread_mutex_lock(&admin_lock);
    admin.slab_automove_ratio = ratio;
    pthread_mutex_unlock(&admin_lock);
}

int cache_crawler_enable(bool on)
{
    pthread_mutex_lock(&admin_lock);
    admin.lru_crawler = on;
    pthread_mutex_unlock(&admin_lock);
    return 0;
}

void cache_crawler_set_sleep(uint32_t us)
{
    pthread_mutex_lock(&admin_lock);
    admin.lru_crawler_sleep = us;
    pthread_mutex_unlock(&admin_lock);
}

void cache_crawler_set_tocrawl(uint32_t n)
{
    pthread_mutex_lock(&admin_lock);
    admin.lru_crawler_tocrawl = n;
    pthread_mutex_unlock(&admin_lock);
}

void cache_settings(struct cache_settings *out)
{
    pthread_mutex_lock(&admin_lock);
    *out = admin;
    pthread_mutex_unlock(&admin_lock);
}

void cache_class_stats(unsigned cls, rel_time_t now, struct cache_class_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (cls < 1 || cls > slab_large_class())
        return;
    struct slab_class_stats st;
    slab_class_stats(cls, &st);
    struct cache_class_counters k;
    evict_counters(cls, &k);
    bool large = cls == slab_large_class();
    out->chunk_size = large ? 0 : st.chunk_size;
    out->chunks_per_page = large ? 0 : st.perpage;
    out->total_pages = st.pages;
    out->total_chunks = st.pages * st.perpage;
    out->used_chunks = st.used;
    out->free_chunks = out->total_chunks > st.used ? out->total_chunks - st.used : 0;
    out->free_chunks_end = st.pages * st.perpage - st.carved;
    out->mem_requested = st.linked_bytes;
    out->number = st.linked;
    out->age = large || st.pages == 0 ? 0 : evict_class_age(cls, now);
    out->evicted = k.evicted;
    out->evicted_nonzero = k.evicted_nonzero;
    out->evicted_unfetched = k.evicted_unfetched;
    out->evicted_active = k.evicted_active;
    out->evicted_time = k.evicted_time;
    out->outofmemory = evict_oom_count(cls);
    out->reclaimed = k.reclaimed;
    out->expired_unfetched = k.expired_unfetched;
    out->lrutail_reflocked = k.lrutail_reflocked;
    out->moves_within_lru = k.moves_within_lru;
    out->moves_to_warm = k.moves_to_warm;
    out->direct_reclaims = k.direct_reclaims;
    crawler_class_stats(cls, &out->crawler_reclaimed, &out->crawler_items_checked);
}

/* --- stats sizes ------------------------------------------------------- */

static pthread_mutex_t sizes_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *sizes_hist;            /* [sizes_lock], NULL when off */
static size_t sizes_buckets;            /* [sizes_lock] */
_Atomic bool cache_sizes_on;

/* memcached's size of an item: its 48-byte header, the key and its NUL, the
 * value and its \r\n, the CAS, the flags when not 0. */
static size_t mc_size(const struct item *it)
{
    return 48 + it->nkey + 1 + item_vlen(it) + 2 + item_layout.cas_bytes +
           ((item_size_bits(it) & ITEM_L_CFLAGS) ? 4 : 0);
}

void cache_sizes_count(struct item *it, bool add)
{
    pthread_mutex_lock(&sizes_lock);
    uint8_t fl = atomic_load_explicit(&it->iflags, memory_order_relaxed);
    if (sizes_hist != NULL && (add || (fl & ITEM_SIZED))) {
        size_t bucket = (mc_size(it) + 31) / 32;
        if (bucket < sizes_buckets) {
            if (add) {
                sizes_hist[bucket]++;
                atomic_fetch_or_explicit(&it->iflags, ITEM_SIZED, memory_order_relaxed);
            } else if (sizes_hist[bucket] > 0) {
                sizes_hist[bucket]--;
            }
        }
    }
    pthread_mutex_unlock(&sizes_lock);
}

enum cache_sizes cache_sizes_enable(void)
{
    if (!cache_opts.use_cas)
        return CACHE_SIZES_NO_CAS;
    pthread_mutex_lock(&sizes_lock);
    if (sizes_hist == NULL) {
        sizes_buckets = cache_opts.item_size_max / 32 + 1;
        sizes_hist = calloc(sizes_buckets, sizeof(*sizes_hist));
    }
    bool ok = sizes_hist != NULL;
    atomic_store(&cache_sizes_on, ok);
    pthread_mutex_unlock(&sizes_lock);
    return ok ? CACHE_SIZES_ENABLED : CACHE_SIZES_DISABLED;
}

void cache_sizes_disable(void)
{
    pthread_mutex_lock(&sizes_lock);
    atomic_store(&cache_sizes_on, false);
    free(sizes_hist);
    sizes_hist = NULL;
    pthread_mutex_unlock(&sizes_lock);
}

bool cache_sizes_each(void (*fn)(size_t size, uint64_t count, void *arg), void *arg)
{
    pthread_mutex_lock(&sizes_lock);
    bool on = sizes_hist != NULL;
    for (size_t b = 0; on && fn != NULL && b < sizes_buckets; b++) {
        if (sizes_hist[b] != 0)
            fn(b * 32, sizes_hist[b], arg);
    }
    pthread_mutex_unlock(&sizes_lock);
    return on;
}

void cache_walk_start(struct cache_walk *w, const struct cache_class_set *classes)
{
    memset(w, 0, sizeof(*w));
    w->classes = *classes;
    w->cls = 1;
}

static void walk_fill(const struct item *it, struct cache_item_info *info);

/* Copy a pinned chunk's facts if it is a linked, live item: under its
 * stripe lock, which guards the unique and the times. */
static bool walk_copy(struct item *it, rel_time_t now, struct cache_item_info *info)
{
    if (!(atomic_load_explicit(&it->iflags, memory_order_acquire) & ITEM_LINKED))
        return false;
    struct table_stripe *s = table_stripe(hash_key(item_key(it), it->nkey));
    word_lock(&s->lock);
    enum cache_miss why;
    bool live = item_has(it, ITEM_LINKED) && cache_live(it, now, &why);
    if (live)
        walk_fill(it, info);
    word_unlock(&s->lock);
    return live;
}

static void walk_fill(const struct item *it, struct cache_item_info *info)
{
    info->nkey = item_nkey(it);
    memcpy(info->key, item_key(it), info->nkey);
    info->key_binary = item_key_binary(it);
    info->exptime = item_exptime(it);
    info->atime = item_atime(it);
    info->cas = item_cas(it);
    info->fetched = item_has(it, ITEM_FETCHED);
    info->cls = item_class(it);
    info->vlen = item_vlen(it);
    info->flags = item_flags(it);
}

/* Copy up to `max` items from the walk's place in a slab class. */
static size_t walk_slab(struct cache_walk *w, rel_time_t now, struct cache_item_info *out,
                        size_t max)
{
    size_t n = 0;
    uint32_t nchunks;
    struct slab_page *p = slab_page_pin(w->cls, (uint32_t)w->pos, &nchunks);
    if (p == NULL) {
        w->cls++;
        w->pos = w->sub = 0;
        return 0;
    }
    while (w->sub < nchunks && n < max) {
        struct item *it = slab_chunk_at(w->cls, p, (uint32_t)w->sub++);
        if (cache_pin(it)) {
            if (walk_copy(it, now, &out[n]))
                n++;
            item_unref(it);
        }
    }
    slab_page_unpin(p);
    if (w->sub >= nchunks) {
        w->pos++;
        w->sub = 0;
    }
    return n;
}

/* Large items, by their place in the list (few: each is over half a page). */
static size_t walk_large(struct cache_walk *w, rel_time_t now, struct cache_item_info *out,
                         size_t max)
{
    size_t n = 0;
    struct item *batch[WALK_BATCH];
    unsigned got = slab_large_pin_range(w->pos, batch, max < WALK_BATCH ? (unsigned)max
                                                                          : WALK_BATCH);
    for (unsigned i = 0; i < got; i++) {
        if (walk_copy(batch[i], now, &out[n]))
            n++;
        item_unref(batch[i]);
    }
    w->pos += got;
    if (got == 0)
        w->done = true;
    return n;
}

size_t cache_walk_next(struct cache_walk *w, rel_time_t now, size_t max,
                       void (*fn)(const struct cache_item_info *info, void *arg), void *arg)
{
    static __thread struct cache_item_info batch[WALK_BATCH];
    size_t shown = 0;
    while (!w->done && shown < max) {
        size_t want = max - shown < WALK_BATCH ? max - shown : WALK_BATCH, n;
        if (w->cls <= slab_nclasses()) {
            if (!cache_class_set_has(&w->classes, w->cls)) {
                w->cls++;
                continue;
            }
            n = walk_slab(w, now, batch, want);
        } else if (w->cls == slab_large_class() &&
                   cache_class_set_has(&w->classes, w->cls)) {
            n = walk_large(w, now, batch, want);
        } else {
            w->done = true;
            break;
        }
        for (size_t i = 0; i < n; i++)
            fn(&batch[i], arg);
        shown += n;
    }
    return shown;
}
