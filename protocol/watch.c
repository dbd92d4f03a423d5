/*
 * watch: the log lines of memcached's `watch`, formatted as its logger.c
 * formats them — "ts=<sec>.<usec> gid=<n> type=... key=..." — so tools
 * that parse them work unchanged.
 *
 * Design: nothing is formatted unless watch_mask says someone watches that
 * stream (the callers check watch_on() first, one relaxed load).  A line is
 * formatted on the thread where the event happens, numbered from one
 * global counter (memcached's gid: a shared atomic add, paid only while
 * watching), and handed to the sink the server installed, which queues it
 * for each watcher; protocol/ itself knows no sockets.
 */
#include "watch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

_Atomic unsigned watch_mask;
static _Atomic uint64_t gid;
static watch_sink_fn sink;

void watch_set_sink(watch_sink_fn fn) { sink = fn; }

unsigned watch_flag_named(const char *name, size_t len)
{
    static const struct { const char *name; unsigned flag; } names[] = {
        {"rawcmds", WATCH_RAWCMDS}, {"evictions", WATCH_EVICTIONS},
        {"fetchers", WATCH_FETCHERS}, {"mutations", WATCH_MUTATIONS},
        {"sysevents", 1u << 1}, {"connevents", WATCH_CONNEVENTS},
        {"proxyreqs", 1u << 10}, {"proxyevents", 1u << 11}, {"proxyuser", 1u << 12},
        {"deletions", WATCH_DELETIONS},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0)
            return names[i].flag;
    }
    return 0;
}

void watch_uriencode(const char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    *out = '\0';
}

/* Key encoded, within memcached's limit (250 bytes make at most 750). */
#define KEYBUF (3 * 250 + 1)

static void emit(unsigned flag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(unsigned flag, const char *fmt, ...)
{
    if (sink == NULL)
        return;
    char line[1200];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    /* memcached prints the microseconds without padding: ts=1700000000.5123 */
    int n = snprintf(line, sizeof(line), "ts=%lld.%d gid=%llu ", (long long)tv.tv_sec,
                     (int)tv.tv_usec,
                     (unsigned long long)atomic_fetch_add_explicit(&gid, 1, memory_order_relaxed) + 1);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    sink(flag, line, len);
}

void watch_item_get(const char *key, size_t nkey, enum watch_found found, unsigned cls, int cfd,
                    size_t size)
{
    static const char *const map[] = { "not_found", "found", "flushed", "expired" };
    char k[KEYBUF];
    watch_uriencode(key, nkey, k);
    emit(WATCH_FETCHERS, "type=item_get key=%s status=%s clsid=%u cfd=%d size=%zu", k,
         map[found], cls, cfd, size);
}

void watch_lookup(const char *key, size_t nkey, uint32_t now, int cfd)
{
    struct cache_fetch f;
    bool found = cache_peek(key, nkey, now, &f);
    watch_item_get(key, nkey, found ? WATCH_FOUND : f.why == CACHE_MISS_EXPIRED ? WATCH_EXPIRED
                   : f.why == CACHE_MISS_FLUSHED ? WATCH_FLUSHED : WATCH_NOT_FOUND,
                   found ? f.cls : 0, cfd, found ? f.vlen : 0);
}

void watch_stored(const struct item *it, enum cache_status st, enum cache_op op, uint32_t now,
                  int cfd)
{
    uint32_t ttl = watch_ttl(item_exptime(it), now);
    unsigned cls = item_class(it);
    size_t size = item_vlen(it);
    struct cache_fetch f;
    if (st == CACHE_STORED && (op == CACHE_APPEND || op == CACHE_PREPEND) &&
        cache_peek(item_key(it), it->nkey, now, &f)) {
        ttl = watch_ttl(f.exptime_before, now);
        cls = f.cls;
        size = f.vlen;
    }
    watch_item_store(item_key(it), it->nkey, watch_store_of(st), watch_cmd_of(op), ttl, cls, cfd,
                     size);
}

void watch_item_store(const char *key, size_t nkey, enum watch_store st, enum watch_cmd cmd,
                      uint32_t ttl, unsigned cls, int cfd, size_t size)
{
    static const char *const status[] = { "not_stored", "stored", "exists", "not_found",
                                          "too_large", "no_memory" };
    static const char *const cmds[] = { "null", "add", "set", "replace", "append", "prepend",
                                        "cas" };
    char k[KEYBUF];
    watch_uriencode(key, nkey, k);
    emit(WATCH_MUTATIONS, "type=item_store key=%s status=%s cmd=%s ttl=%u clsid=%u cfd=%d size=%zu",
         k, status[st], cmds[cmd], ttl, cls, cfd, size);
}

void watch_deleted(const char *key, size_t nkey, bool meta, unsigned cls, size_t size)
{
    char k[KEYBUF];
    watch_uriencode(key, nkey, k);
    emit(WATCH_DELETIONS, "type=deleted key=%s cmd=%s clsid=%u size=%zu", k,
         meta ? "md" : "delete", cls, size);
}

void watch_eviction(const char *key, size_t nkey, bool fetched, long long ttl, int la,
                    unsigned cls, size_t size)
{
    char k[KEYBUF];
    watch_uriencode(key, nkey, k);
    emit(WATCH_EVICTIONS, "type=eviction key=%s fetch=%s ttl=%lld la=%d clsid=%u size=%zu", k,
         fetched ? "yes" : "no", ttl, la, cls, size);
}

void watch_conn(bool opened, const char *rip, unsigned rport, const char *transport,
                const char *reason, int cfd)
{
    if (opened)
        emit(WATCH_CONNEVENTS, "type=conn_new rip=%s rport=%u transport=%s cfd=%d", rip, rport,
             transport, cfd);
    else
        emit(WATCH_CONNEVENTS, "type=conn_close rip=%s rport=%u transport=%s reason=%s cfd=%d",
             rip, rport, transport, reason, cfd);
}
