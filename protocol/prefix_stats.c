/*
 * prefix_stats: counters per key prefix (the part before the -D delimiter,
 * ':' by default), as memcached keeps them for `stats detail dump`.
 *
 * This is a debugging aid that is off unless asked for, so it takes the
 * simple road: one mutex over a small chained hash of prefixes.  When it is
 * off the hot path pays one relaxed atomic load.
 */
#include "prefix_stats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "msg.h"

#define PREFIX_BUCKETS 256

struct prefix {
    struct prefix *next;
    uint64_t gets, hits, sets, deletes;
    size_t len;
    char name[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct prefix *buckets[PREFIX_BUCKETS];
static char delim = ':';
static _Atomic bool enabled;

void prefix_stats_setup(char delimiter, bool on)
{
    delim = delimiter;
    atomic_store(&enabled, on);
}

void prefix_stats_teardown(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < PREFIX_BUCKETS; i++) {
        while (buckets[i] != NULL) {
            struct prefix *p = buckets[i];
            buckets[i] = p->next;
            free(p);
        }
    }
    pthread_mutex_unlock(&lock);
}

void prefix_stats_enable(bool on) { atomic_store(&enabled, on); }

bool prefix_stats_enabled(void) { return atomic_load_explicit(&enabled, memory_order_relaxed); }

/* The prefix record for a key, created on first use (lock held). */
static struct prefix *prefix_find(const char *key, size_t len)
{
    uint32_t b = hash_key(key, len) % PREFIX_BUCKETS;
    for (struct prefix *p = buckets[b]; p != NULL; p = p->next) {
        if (p->len == len && memcmp(p->name, key, len) == 0)
            return p;
    }
    struct prefix *p = calloc(1, sizeof(*p) + len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p->name, key, len);
    p->len = len;
    p->next = buckets[b];
    buckets[b] = p;
    return p;
}

void prefix_stats_record(const char *key, size_t nkey, enum prefix_op op, bool hit)
{
    const char *d = memchr(key, delim, nkey);
    if (d == NULL)
        return;
    pthread_mutex_lock(&lock);
    struct prefix *p = prefix_find(key, (size_t)(d - key));
    if (p != NULL) {
        if (op == PREFIX_GET) {
            p->gets++;
            p->hits += hit;
        } else if (op == PREFIX_SET) {
            p->sets++;
        } else {
            p->deletes++;
        }
    }
    pthread_mutex_unlock(&lock);
}

void prefix_stats_dump(struct reply *r)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < PREFIX_BUCKETS; i++) {
        for (struct prefix *p = buckets[i]; p != NULL; p = p->next)
            reply_printf(r, "PREFIX %s get %llu hit %llu set %llu del %llu\r\n", p->name,
                         (unsigned long long)p->gets, (unsigned long long)p->hits,
                         (unsigned long long)p->sets, (unsigned long long)p->deletes);
    }
    pthread_mutex_unlock(&lock);
    msg_reply(r, MSG_END);
}
