/*
 * msg: the reply lines of the text and meta protocols.  See msg.h.  Each is
 * memcached 1.6.18's, byte for byte (proto_text.c); the binary protocol's
 * messages are a status code's, in binary.c, or for running out of memory
 * one of these without "SERVER_ERROR ", as memcached's out_of_memory() sends.
 */
#include "msg.h"

struct msg_line {
    const char *s;
    size_t n;
};

#define L(str) { str "\r\n", sizeof(str "\r\n") - 1 }

static const struct msg_line lines[MSG_COUNT] = {
    [MSG_NONE] = { "", 0 },
    [MSG_ERROR] = L("ERROR"),
    [MSG_STORED] = L("STORED"),
    [MSG_NOT_STORED] = L("NOT_STORED"),
    [MSG_EXISTS] = L("EXISTS"),
    [MSG_NOT_FOUND] = L("NOT_FOUND"),
    [MSG_DELETED] = L("DELETED"),
    [MSG_TOUCHED] = L("TOUCHED"),
    [MSG_OK] = L("OK"),
    [MSG_END] = L("END"),
    [MSG_RESET] = L("RESET"),
    [MSG_MN] = L("MN"),
    [MSG_EN] = L("EN"),
    [MSG_E_FORMAT] = L("CLIENT_ERROR bad command line format"),
    [MSG_E_LINE] = L("CLIENT_ERROR bad command line"),
    [MSG_E_DELETE_USAGE] = L("CLIENT_ERROR bad command line format.  "
                             "Usage: delete <key> [noreply]"),
    [MSG_E_DELTA] = L("CLIENT_ERROR invalid numeric delta argument"),
    [MSG_E_EXPTIME] = L("CLIENT_ERROR invalid exptime argument"),
    [MSG_E_SHUTDOWN_MODE] = L("CLIENT_ERROR invalid shutdown mode"),
    [MSG_E_DATA_CHUNK] = L("CLIENT_ERROR bad data chunk"),
    [MSG_E_NON_NUMERIC] = L("CLIENT_ERROR cannot increment or decrement non-numeric value"),
    [MSG_E_FLUSH_DISABLED] = L("CLIENT_ERROR flush_all not allowed"),
    [MSG_E_SHUTDOWN_DISABLED] = L("ERROR: shutdown not enabled"),
    [MSG_E_MEMLIMIT_SMALL] = L("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m"),
    [MSG_E_MEMLIMIT_MB] = L("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes"),
    [MSG_E_TOKEN] = L("CLIENT_ERROR bad token in command line format"),
    [MSG_E_DUP_FLAG] = L("CLIENT_ERROR duplicate flag"),
    [MSG_E_DECODE_KEY] = L("CLIENT_ERROR error decoding key"),
    [MSG_E_M_LENGTH] = L("CLIENT_ERROR incorrect length for M token"),
    [MSG_E_INITIAL] = L("CLIENT_ERROR invalid numeric initial value"),
    [MSG_E_DELTA_VALUE] = L("CLIENT_ERROR invalid numeric delta value"),
    [MSG_E_FLAG] = L("CLIENT_ERROR invalid flag"),
    [MSG_E_MS_MODE] = L("CLIENT_ERROR invalid mode for ms M token"),
    [MSG_E_MA_MODE] = L("CLIENT_ERROR invalid mode for ma M token"),
    [MSG_E_OPAQUE] = L("CLIENT_ERROR opaque token too long"),
    [MSG_E_BAD_FLAG] = L("CLIENT_ERROR invalid or duplicate flag"),
    [MSG_E_MG_FLAGS_LONG] = L("CLIENT_ERROR options flags are too long"),
    [MSG_E_FLAGS_LONG] = L("CLIENT_ERROR options flags too long"),
    [MSG_E_TOO_LARGE] = L("SERVER_ERROR object too large for cache"),
    [MSG_E_OOM_STORE] = L("SERVER_ERROR out of memory storing object"),
    [MSG_E_OOM] = L("SERVER_ERROR out of memory"),
    [MSG_E_OOM_NEW_ITEM] = L("SERVER_ERROR Out of memory allocating new item"),
    [MSG_E_OOM_GET] = L("SERVER_ERROR out of memory writing get response"),
    [MSG_E_OOM_STATS] = L("SERVER_ERROR out of memory writing stats"),
    [MSG_E_OOM_ITEM] = L("SERVER_ERROR Out of memory allocating item"),
    [MSG_E_OOM_INCR] = L("SERVER_ERROR Out of memory incrementing value"),
    [MSG_E_STATS_DETAIL] = L("CLIENT_ERROR usage: stats detail on|off|dump"),
    [MSG_E_CACHEDUMP_DISABLED] = L("CLIENT_ERROR stats cachedump not allowed"),
    [MSG_E_SLAB_ID] = L("CLIENT_ERROR Illegal slab id"),
    [MSG_E_METADUMP_DISABLED] = L("ERROR metadump not allowed"),
    [MSG_E_METADUMP_PIPELINE] = L("ERROR cannot pipeline other commands before metadump"),
    [MSG_E_CRAWLER_DISABLED] = L("CLIENT_ERROR lru crawler disabled"),
    [MSG_E_CRAWLER_SLEEP] = L("CLIENT_ERROR sleep must be one second or less"),
    [MSG_CRAWLER_BUSY] = L("BUSY currently processing crawler request"),
    [MSG_CRAWLER_BADCLASS] = L("BADCLASS invalid class id"),
    [MSG_CRAWLER_NOTSTARTED] = L("NOTSTARTED no items to crawl"),
    [MSG_CRAWLER_ERROR] = L("ERROR an unknown error happened"),
    [MSG_E_CRAWLER_START] = L("ERROR failed to start lru crawler thread"),
    [MSG_E_CRAWLER_STOP] = L("ERROR failed to stop lru crawler thread"),
    [MSG_REASSIGN_BUSY] = L("BUSY currently processing reassign request"),
    [MSG_REASSIGN_BADCLASS] = L("BADCLASS invalid src or dst class id"),
    [MSG_REASSIGN_NOSPARE] = L("NOSPARE source class has no spare pages"),
    [MSG_REASSIGN_SAME] = L("SAME src and dst class are identical"),
    [MSG_E_REASSIGN_DISABLED] = L("CLIENT_ERROR slab reassignment disabled"),
    [MSG_E_LRU_PCTS] = L("ERROR hot and warm pcts must not exceed 80"),
    [MSG_E_LRU_FACTORS] = L("ERROR hot/warm age factors must be greater than 0"),
    [MSG_E_WATCH_DISABLED] = L("CLIENT_ERROR watch commands not allowed"),
    [MSG_E_WATCH_PIPELINE] = L("ERROR cannot pipeline other commands before watch"),
};

const char *msg_line(enum msg m, size_t *len)
{
    *len = lines[m].n;
    return lines[m].s;
}

void msg_reply(struct reply *out, enum msg m)
{
    size_t n = lines[m].n;
    char *p = n > 0 ? reply_space(out, n) : NULL;
    if (p == NULL)
        return;
    reply_copy_small(p, lines[m].s, n);
    reply_commit(out, n);
}
