/* Shared fixture of the cache unit tests: a cache with small defaults and
 * helpers to store and read string values. */
#ifndef MCD_TEST_CACHE_FIXTURE_H
#define MCD_TEST_CACHE_FIXTURE_H

#define STARTED 1700000000
#define NOW 1000
#define MB (1024 * 1024)

static struct cache_options base = {
    .maxbytes = 64 * MB, .item_size_max = MB, .factor = 1.25, .min_chunk = 48,
    .hashpower = 12, .use_cas = true, .evict_to_free = true, .started = STARTED,
};

static inline int setup_opts(bool use_cas, bool evict)
{
    struct cache_options o = base;
    o.use_cas = use_cas;
    o.evict_to_free = evict;
    return cache_setup(&o);
}

static inline int setup(void **state) { (void)state; return setup_opts(true, true); }

static inline int teardown(void **state)
{
    (void)state;
    cache_teardown();
    return 0;
}

/* Allocate and fill an item; the caller owns the reference. */
static inline struct item *mk(const char *key, const char *val, uint32_t flags, rel_time_t exptime)
{
    enum cache_status err = CACHE_OK;
    size_t n = strlen(val);
    struct item *it = cache_alloc(key, strlen(key), flags, exptime, n, NOW, &err);
    if (it != NULL)
        memcpy(item_value(it), val, n);
    return it;
}

/* Store with every option; returns the allocation error if the allocation failed. */
static inline enum cache_status put_full(const char *key, const char *val, enum cache_op op,
                                  uint64_t cas, uint32_t flags, rel_time_t exptime, rel_time_t now)
{
    enum cache_status err;
    size_t n = strlen(val);
    struct item *it = cache_alloc(key, strlen(key), flags, exptime, n, now, &err);
    if (it == NULL)
        return err;
    memcpy(item_value(it), val, n);
    enum cache_status st = cache_store(it, cache_hash(key, strlen(key)), op, cas, now);
    item_unref(it);
    return st;
}

static inline enum cache_status put(const char *key, const char *val, enum cache_op op, uint64_t cas)
{
    return put_full(key, val, op, cas, 0, 0, NOW);
}

static inline void fixture_take_ref(struct item *it, void *arg)
{
    item_ref(it);
    *(struct item **)arg = it;
}

/* Look a key up and keep the item: a reference the test drops with item_unref. */
static inline struct item *get_ref(const char *key, size_t nkey, rel_time_t now,
                                   enum cache_miss *why)
{
    struct item *it = NULL;
    cache_get_visit(key, nkey, cache_hash(key, nkey), now, why, fixture_take_ref, &it);
    return it;
}

/* The same, setting a new expiry time first (gat). */
static inline struct item *touch_ref(const char *key, size_t nkey, rel_time_t exptime,
                                     rel_time_t now, enum cache_miss *why)
{
    struct item *it = NULL;
    cache_touch_visit(key, nkey, cache_hash(key, nkey), exptime, now, why, fixture_take_ref, &it);
    return it;
}

/* The value of `key` at `now`, or NULL on a miss. */
static inline const char *value_at(const char *key, rel_time_t now)
{
    static char buf[2][4096];
    static int which;
    enum cache_miss why;
    struct item *it = get_ref(key, strlen(key), now, &why);
    if (it == NULL)
        return NULL;
    which ^= 1;
    snprintf(buf[which], sizeof(buf[which]), "%.*s", (int)item_vlen(it), item_value(it));
    item_unref(it);
    return buf[which];
}

static inline const char *value(const char *key) { return value_at(key, NOW); }

static inline struct item *get(const char *key, rel_time_t now, enum cache_miss *why)
{
    return get_ref(key, strlen(key), now, why);
}

#endif
