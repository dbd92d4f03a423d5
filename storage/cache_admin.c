/*
 * cache_admin: what memcached's administrative commands ask of storage —
 * slab page moves, the expired-item crawler, and walks over the items for
 * metadump and cachedump.
 *
 * Walks copy each item's facts under its stripe lock, a batch at a time,
 * and call back with no lock held, so a slow reader of a dump never holds
 * up a writer.
 */
#include <string.h>

#include "cache_priv.h"
#include "expiry.h"
#include "lru.h"
#include "slab.h"

/* Items copied per stripe-lock hold during a walk. */
#define WALK_BATCH 32

static struct cache_settings admin;
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

unsigned cache_nclasses(void) { return slab_nclasses(); }

void cache_class_stats(unsigned cls, rel_time_t now, struct cache_class_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (cls < 1 || cls > slab_nclasses())
        return;
    struct slab_class_stats st;
    slab_class_stats(cls, &st);
    struct lru_stats ls;
    rel_time_t tail;
    lru_snapshot(cls, &ls, &tail);
    out->chunk_size = st.chunk_size;
    out->chunks_per_page = st.chunk_size >= SLAB_PAGE_SIZE ? 1 : SLAB_PAGE_SIZE / st.chunk_size;
    out->total_pages = (st.used_chunks + out->chunks_per_page - 1) / out->chunks_per_page;
    out->total_chunks = out->total_pages * out->chunks_per_page;
    out->used_chunks = st.used_chunks;
    out->free_chunks = out->total_chunks - st.used_chunks;
    out->mem_requested = ls.count * st.chunk_size;
    out->number = ls.count;
    out->age = ls.count && now > tail ? now - tail : 0;
    out->evicted = ls.evicted;
    out->evicted_nonzero = ls.evicted_nonzero;
    out->evicted_unfetched = ls.evicted_unfetched;
    out->evicted_active = ls.evicted_active;
    out->evicted_time = ls.evicted_time;
    out->outofmemory = ls.outofmemory;
    out->reclaimed = ls.reclaimed;
    out->expired_unfetched = ls.expired_unfetched;
    out->lrutail_reflocked = ls.lrutail_reflocked;
    out->moves_within_lru = ls.moves_within_lru;
    out->direct_reclaims = ls.direct_reclaims;
}

enum cache_reassign cache_slabs_reassign(int src, int dst)
{
    struct cache_settings s;
    cache_settings(&s);
    if (!s.slab_reassign)
        return CACHE_REASSIGN_DISABLED;
    if (src == dst)
        return CACHE_REASSIGN_SAME;
    int n = (int)slab_nclasses();
    if (src < -1 || src > n || dst < 0 || dst > n)
        return CACHE_REASSIGN_BADCLASS;
    return CACHE_REASSIGN_NOSPARE;
}

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

enum cache_crawl cache_crawl(const struct cache_class_set *classes)
{
    struct cache_settings s;
    cache_settings(&s);
    if (!s.lru_crawler)
        return CACHE_CRAWL_DISABLED;
    for (unsigned c = slab_nclasses() + 1; c <= CACHE_MAX_CLASSES; c++) {
        if (cache_class_set_has(classes, c))
            return CACHE_CRAWL_BADCLASS;
    }
    return CACHE_CRAWL_OK;
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

void cache_walk_start(struct cache_walk *w, const struct cache_class_set *classes)
{
    memset(w, 0, sizeof(*w));
    w->classes = *classes;
}

static void walk_copy(const struct item *it, struct cache_item_info *info)
{
    info->nkey = item_nkey(it);
    memcpy(info->key, item_key(it), info->nkey);
    info->key_binary = item_has((struct item *)it, ITEM_KEY_BINARY);
    info->exptime = it->exptime;
    info->atime = it->time;
    info->cas = item_cas(it);
    info->fetched = item_has((struct item *)it, ITEM_FETCHED);
    info->cls = item_class(it);
    info->vlen = item_vlen(it);
    info->flags = item_flags(it);
}

/*
 * Copy up to `max` live items of the walk's classes from one stripe,
 * resuming at bucket w->sub >> 16, chain position w->sub & 0xffff.  Returns
 * how many; w->sub is where the next call starts, or UINT64_MAX at the end
 * of the stripe.
 */
static size_t walk_stripe(struct cache_walk *w, struct table_stripe *s, rel_time_t now,
                          struct cache_item_info *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    uint64_t b = w->sub >> 16, skip = w->sub & 0xffff;
    for (; b <= s->mask; b++, skip = 0) {
        uint64_t k = 0;
        for (struct item *it = s->buckets[b]; it != NULL; it = it->h_next, k++) {
            if (k < skip)
                continue;
            if (n == max) {
                w->sub = (b << 16) | k;
                pthread_mutex_unlock(&s->lock);
                return n;
            }
            enum cache_miss why;
            if (cache_class_set_has(&w->classes, item_class(it)) && cache_live(it, now, &why))
                walk_copy(it, &out[n++]);
        }
    }
    w->sub = UINT64_MAX;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t cache_walk_next(struct cache_walk *w, rel_time_t now, size_t max,
                       void (*fn)(const struct cache_item_info *info, void *arg), void *arg)
{
    static __thread struct cache_item_info batch[WALK_BATCH];
    size_t shown = 0;
    while (!w->done && shown < max) {
        if (w->pos >= table_nstripes()) {
            w->done = true;
            break;
        }
        size_t want = max - shown < WALK_BATCH ? max - shown : WALK_BATCH;
        size_t n = walk_stripe(w, table_stripe_at((unsigned)w->pos), now, batch, want);
        if (w->sub == UINT64_MAX) {
            w->pos++;
            w->sub = 0;
        }
        for (size_t i = 0; i < n; i++)
            fn(&batch[i], arg);
        shown += n;
    }
    return shown;
}
