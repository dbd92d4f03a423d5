"""Differential test of the meta commands (mg, ms, md, ma, mn, me): the same
bytes to Debian's memcached 1.6.18 and to mcd, replies compared byte for byte.

Cases run as in test_diff.py (harness.DiffMixin): one fresh pair of servers
per case, chunks ~20 ms apart, a final `version`. Before comparing, CAS
uniques (`c<n>` return flags, `cas=` in me) are numbered in order of first
appearance, and seconds (`t<n>`, `exp=`, `la=`, `l<n>`) are rounded to the
nearest ten, so a clock tick between two requests is no difference.
{cas:c} in a chunk is replaced by the last `c<n>` returned.

To see what memcached answers, without mcd:
    /usr/bin/python3 test_meta_diff.py --dump [case ...]
"""
import re
import sys
import unittest

from harness import MEMCACHED_BIN, DiffMixin, exchange, Server, shorten

BASE = ("-t", "2", "-m", "64")
NOCAS = BASE + ("-C",)
SMALL = BASE + ("-I", "2k", "-o", "slab_chunk_max=2048")

K250 = b"k" * 250
K251 = b"k" * 251
B64_KEY = b"Zm9vYmFy"       # "foobar"


CASES = {
    # mn and unknown m commands
    "mn": [b"mn\r\nmn extra tokens\r\n"],
    "unknown_meta": [b"mx a\r\nmq\r\nmgg a\r\nm\r\nMG a\r\n"],
    "too_few_tokens": [b"mg\r\nms\r\nmd\r\nma\r\nme\r\nms a\r\n"],
    # mg
    "mg_miss": [b"mg a\r\nmg a v\r\nmg a k O123 v\r\n"],
    "mg_hit_flags": [b"ms a 3 F42 T100\r\nabc\r\nmg a\r\nmg a v\r\nmg a s v f t\r\n"
                     b"mg a k O99 h l\r\nmg a c\r\nmg a s t v c f Oxx k h l\r\n"],
    "mg_hit_before": [b"ms a 1\r\nx\r\nmg a h\r\nmg a h\r\nme a\r\n"],
    "mg_no_bump": [b"ms a 1\r\nx\r\nmg a h u\r\nmg a h u\r\nme a\r\nmg a h\r\nme a\r\n"],
    "mg_ttl_never": [b"ms a 1\r\nx\r\nmg a t\r\n"],
    "mg_touch": [b"ms a 1 T100\r\nx\r\nmg a t T500\r\nmg a T500 t\r\nmg a t\r\nmg a T0 t\r\nmg a t\r\n"],
    "mg_touch_negative": [b"ms a 1\r\nx\r\nmg a T-1\r\nmg a v\r\n"],
    "mg_touch_counts": [b"ms a 1\r\nx\r\nmg a T100\r\nmg b T100\r\nmg a\r\nmg b\r\n"],
    "mg_quiet": [b"ms a 1\r\nx\r\nmg a q\r\nmg a v q\r\nmg b v q\r\nmg b k O1 q\r\nmn\r\n"],
    "mg_opaque": [b"ms a 1\r\nx\r\nmg a O12345678901234567890123456789012\r\n"
                  b"mg a O1234567890123456789012345678901\r\nmg b O\r\n"],
    "mg_bad_flags": [b"mg a v v\r\nmg a X\r\nmg a E1\r\nmg a \x80\r\nmg a T\r\nmg a Tx\r\n"
                     b"mg a N\r\nmg a R1x\r\nmg a Mx\r\nmg a MEE\r\n"],
    "mg_error_order": [b"mg a Tx v v\r\nmg a v v Tx\r\nmg a Tx Nx\r\nmg a Tx Jx\r\n"],
    "mg_too_many_tokens": [b"mg a " + b" ".join(b"O%d" % i for i in range(18)) + b"\r\n",
                           b"mg a " + b" ".join(b"O%d" % i for i in range(17)) + b"\r\n",
                           b"mg a 1 2 3 4 5 6 7 8 9 0 a b c d e f g\r\n"],
    "mg_key_250": [b"ms " + K250 + b" 1\r\nx\r\nmg " + K250 + b" v k\r\n"],
    "mg_key_251": [b"mg " + K251 + b" v\r\nmd " + K251 + b"\r\nma " + K251 + b"\r\n"
                   b"me " + K251 + b"\r\n"],
    "mg_vivify": [b"mg a N30 s t v c\r\nmg a N30 s t v\r\nmg a t\r\nms a 3 T0\r\nabc\r\n"
                  b"mg a v t\r\n"],
    "mg_vivify_order": [b"mg a t N30 T100\r\nmg c N30 T100 t\r\nmg b T100 N30 t\r\nmg b t\r\n"],
    "mg_vivify_quiet": [b"mg a N30 q\r\nmg a q\r\nmn\r\n"],
    "mg_recache": [b"ms a 3 T10\r\nabc\r\nmg a R30 v\r\nmg a R30 v\r\nmg a T100 R30 v t\r\n"
                   b"mg b R30\r\nms c 1\r\nx\r\nmg c R30\r\nms d 1 T100\r\nx\r\nmg d R30\r\n"],
    "mg_recache_after_touch": [b"ms a 1 T10\r\nx\r\nmg a T100 R30\r\nms b 1 T100\r\nx\r\n"
                               b"mg b T10 R30\r\nms c 1 T100\r\nx\r\nmg c R30 T10\r\n"],
    "mg_base64": [b"ms " + B64_KEY + b" 3 b\r\nbar\r\nmg foobar v k\r\nmg " + B64_KEY
                  + b" b v k O1\r\nmg Zm9v b k\r\nmg Zm9v= b\r\nmg @@@@ b\r\nmg a b\r\n"
                  b"mg AA== b k\r\nmg A=== b\r\nmg ==== b\r\nmg Zm9v!! b k\r\n"],
    "mg_base64_plain_key_stored": [b"ms foo 1\r\nx\r\nmg Zm9v b k v\r\nme foo\r\n"],
    # ms
    "ms_basic": [b"ms a 3\r\nabc\r\nmg a v\r\nms a 0\r\n\r\nmg a v s\r\n"],
    "ms_flags_returned": [b"ms a 3 c k O99 F7 T0\r\nabc\r\nmg a f v\r\nms a 1 k c k\r\nx\r\n"],
    "ms_flags_order": [b"ms a 1 O1 k c\r\nx\r\nms a 1 c O2 k\r\nx\r\nms a 1 kq c\r\nx\r\n"],
    "ms_quiet": [b"ms a 1 q\r\nx\r\nms a 1 q ME\r\ny\r\nms a 2 q\r\nabcd\r\nmg a v\r\nmn\r\n"],
    "ms_modes": [b"ms a 1 MA\r\nx\r\nms a 1 MP\r\nx\r\nms a 1 MR\r\nx\r\nms a 1 ME\r\nx\r\n"
                 b"ms a 1 ME\r\ny\r\nms a 1 MA\r\nz\r\nms a 1 MP\r\nw\r\nmg a v\r\n"
                 b"ms a 1 MR F5\r\nr\r\nmg a v f\r\nms a 1 MS\r\ns\r\nmg a v\r\n"],
    "ms_bad_mode": [b"ms a 1 MZ\r\nx\r\nms a 1 M\r\nx\r\nms a 1 MAA\r\nx\r\nmg a v\r\n"],
    "ms_modes_quiet": [b"ms a 1 MA q\r\nx\r\nms a 1 ME q\r\nx\r\nms a 1 ME q\r\ny\r\nmn\r\n"],
    "ms_bad_tokens": [b"ms a x\r\nms a -1\r\nms a 1 Z\r\nx\r\nms a 1 Fx\r\nx\r\nms a 1 F\r\nx\r\n"
                      b"ms a 1 T\r\nx\r\nms a 1 C\r\nx\r\nms a 1 Cx\r\nx\r\nms a 1 v v\r\nx\r\n"
                      b"mg a\r\n"],
    "ms_error_order": [b"ms a 1 MZ O123456789012345678901234567890123\r\nx\r\n"
                       b"ms a 1 O123456789012345678901234567890123\r\nx\r\n"
                       b"ms a 1 Tx MZ\r\nx\r\nms a 1 MZ Tx\r\nx\r\n"],
    "ms_bad_data_chunk": [b"ms a 2\r\nabcd\r\nmg a v\r\nms a 2 q\r\nabcd\r\nms a 3\r\nab\r\n\r\n"],
    "ms_missing_length": [b"ms a\r\nx\r\nms a T10\r\nx\r\n"],
    "ms_key_251": [b"ms " + K251 + b" 1\r\nx\r\nms " + K251 + b" 1 q\r\nx\r\n"],
    "ms_too_many_tokens": [b"ms a 1 " + b" ".join(b"O%d" % i for i in range(17)) + b"\r\nx\r\n"],
    "ms_ttl": [b"ms a 1 T100\r\nx\r\nmg a t\r\nms a 1 T-1\r\nx\r\nmg a v\r\nms b 1 T0\r\nx\r\n"
               b"mg b t\r\n"],
    "ms_base64": [b"ms " + B64_KEY + b" 1 b k\r\nx\r\nmg foobar k v\r\nme foobar\r\n"
                  b"ms Zm9v!! 1 b\r\nx\r\nms @@ 1 b\r\nx\r\nmg foo k v\r\n"],
    "ms_split": [b"ms a 5 ", b"T100 c", b"\r\nhel", b"lo", b"\r", b"\nmg a v\r\n"],
    "ms_value_like_command": [b"ms a 7\r\nmg a v\r\n\r\nmg a v\r\n"],
    # compare and swap
    "ms_cas": [b"ms a 1 c\r\nx\r\n", b"ms a 1 C{cas:c} c\r\ny\r\nmg a v\r\n",
               b"ms a 1 C{cas:c}\r\nz\r\nms a 1 C999999999 c\r\nw\r\nms b 1 C1 c\r\nw\r\nmg a v\r\n"],
    "ms_cas_zero": [b"ms a 1\r\nx\r\nms a 1 C0\r\ny\r\nms b 1 C0\r\ny\r\nmg a v\r\nmg b v\r\n"],
    "ms_cas_modes": [b"ms a 1 c\r\nx\r\n", b"ms a 1 MA C999999999\r\ny\r\nms a 1 MA C{cas:c} c\r\ny\r\n"
                     b"ms a 1 MP C{cas:c}\r\nz\r\nms a 1 ME C999999999\r\nq\r\nms b 1 ME C1\r\nq\r\n"
                     b"ms c 1 MR C999999999\r\nq\r\nmg a v\r\nmg b v\r\n"],
    "ms_invalidate": [b"ms a 2 c\r\nab\r\nmd a I\r\nmg a c\r\nms a 2 C1 I c\r\nzz\r\n"
                      b"mg a v c\r\nmg a\r\nms a 2 c\r\nxy\r\nmg a\r\n"],
    "ms_invalidate_newer_cas": [b"ms a 2 c\r\nab\r\n", b"ms a 2 C99999999 I\r\nzz\r\n"
                                b"mg a v\r\nms a 2 I\r\nyy\r\nmg a v\r\n"],
    "ms_invalidate_keeps_ttl": [b"ms a 1 T100\r\nx\r\nmd a I\r\nms a 1 C1 I T500\r\ny\r\n"
                                b"mg a t v\r\n"],
    # md
    "md_basic": [b"ms a 1\r\nx\r\nmd a\r\nmd a\r\nmg a\r\n"],
    "md_quiet": [b"ms a 1\r\nx\r\nmd a q\r\nmd a q\r\nmn\r\n"],
    "md_echo": [b"ms a 1\r\nx\r\nmd a O1 k\r\nmd a k O2\r\nmd a O12345678901234567890123456789012\r\n"],
    "md_cas": [b"ms a 1 c\r\nx\r\n", b"md a C999999999\r\nmd a C0\r\nmd a C{cas:c} q\r\nmd a C999999999\r\nmg a\r\n"],
    "md_bad_flags": [b"md a Z\r\nmd a q q\r\nmd a Cx\r\nmd a T\r\nmd a MZZ\r\n"],
    "md_invalidate": [b"ms a 3 T100\r\nabc\r\nmd a I T30\r\nmg a v t c\r\nmg a v t\r\n"
                      b"md a I\r\nmg a\r\nmg a\r\nmd a I q\r\nmd b I\r\nmn\r\n"],
    "md_invalidate_cas": [b"ms a 1 c\r\nx\r\n", b"md a I C999999999\r\nmd a I C{cas:c} c\r\nmg a\r\n"],
    "md_ttl_without_invalidate": [b"ms a 1 T100\r\nx\r\nmd a T30\r\nmg a\r\n"],
    "md_base64": [b"ms " + B64_KEY + b" 1 b\r\nx\r\nmd " + B64_KEY + b" b k\r\nmd "
                  + B64_KEY + b" b k\r\nmd !! b\r\n"],
    # ma
    "ma_basic": [b"ms n 1\r\n5\r\nma n\r\nma n v\r\nma n D10 v\r\nma n MD D3 v\r\n"
                 b"ma n M- v\r\nma n M+ v\r\nma n MI v\r\n", b"mg n v\r\n"],
    "ma_miss": [b"ma n\r\nma n v k O1\r\nma n q\r\nma n MD\r\n"],
    "ma_vivify": [b"ma n N0 J10 v\r\nma n v D5\r\nma m N0 v\r\nma p N100 J7 v t\r\n"
                  b"ma q t N100 T500\r\nma r N100 T500 t\r\n", b"mg q t\r\n"],
    "ma_vivify_quiet": [b"ma n N0 q\r\nma n q\r\nma m N0 J7 q v\r\nma n q v\r\nmn\r\n"],
    "ma_decr_floor": [b"ms n 2\r\n10\r\nma n MD D100 v\r\nma n MD v\r\n", b"mg n v\r\n"],
    "ma_wrap": [b"ms n 20\r\n18446744073709551615\r\nma n v\r\n", b"mg n v\r\n"],
    "ma_grows": [b"ms n 2 T100\r\n99\r\nma n T500 t v\r\n", b"mg n t v\r\n"],
    "ma_touch_in_place": [b"ms n 2 T100\r\n10\r\nma n T500 t v\r\n", b"mg n t v\r\n"],
    "ma_cas": [b"ms n 1 c\r\n1\r\n", b"ma n C999999999 v\r\nma n C{cas:c} v c\r\nma n C0 v\r\n"
               b"ma x C999999999\r\n"],
    "ma_non_numeric": [b"ms s 3\r\nabc\r\nma s\r\nms e 0\r\n\r\nma e\r\nma e q\r\n"],
    "ma_bad_flags": [b"ma n Dx\r\nma n D-1\r\nma n Jx\r\nma n MX\r\nma n M\r\nma n Z\r\n"
                     b"ma n v v\r\nma n N\r\nma n MI MD\r\n"],
    "ma_opaque": [b"ms n 1\r\n1\r\nma n O12345678901234567890123456789012\r\n", b"mg n v\r\n"],
    "ma_base64": [b"ma bnVt b N0 J3 k v\r\nma bnVt b k\r\nmg num v\r\n"],
    # me
    "me": [b"ms a 3\r\nabc\r\nme a\r\nme b\r\nme\r\nme a b\r\nme YQ== b\r\nme a x y\r\n"
           b"ms f 2 F1 T100\r\nxy\r\nme f\r\nmg f v\r\nme f\r\nme " + K251 + b"\r\n"],
    "me_sizes": [b"".join(b"ms k%d %d\r\n%s\r\nme k%d\r\n" % (n, n, b"v" * n, n)
                          for n in (10, 40, 70, 100, 200, 500, 1000, 5000))],
    # pipelines and counters
    "quiet_pipeline": [b"ms a 1 q\r\n1\r\nms b 1 q\r\n2\r\nmg a v q k\r\nmg b v q k\r\n"
                       b"mg c v q k\r\nmd a q\r\nmd c q\r\nma b q\r\nma c q\r\nmn\r\n"],
    "mixed_with_text": [b"set a 0 0 1\r\n1\r\nmg a v f\r\nms b 1 F9\r\n2\r\nget b\r\n"
                        b"incr b 5\r\nma b v\r\ndelete b\r\nmd b\r\nmn\r\n"],
    "counters": [b"ms a 1\r\nx\r\nmg a\r\nmg b\r\nmg a T10\r\nmg b T10\r\nmd a\r\nmd a\r\n"
                 b"ms n 1\r\n1\r\nma n\r\nma n MD\r\nma x\r\nma x MD\r\nms n 1 C999999999\r\n2\r\n"
                 b"ms z 1 C1\r\n2\r\nme n\r\nme y\r\n", b"stats\r\n"],
    "byte_by_byte": [bytes([c]) for c in b"ms a 3 T100 c\r\nabc\r\nmg a v t\r\nmd a q\r\nmn\r\n"],
}

FLAG_CASES = {
    NOCAS: {
        "nocas_returns": [b"ms a 1 c\r\nx\r\nmg a c\r\nms a 1 C0\r\ny\r\nms a 1 C5\r\ny\r\n"
                          b"md a C0\r\nma n N0 c\r\nme a\r\nmd a I\r\nmg a c\r\n"],
    },
    SMALL: {
        "ms_too_large": [b"ms big 1\r\nx\r\nms big 3000\r\n" + b"y" * 3000 + b"\r\nmg big v\r\n"],
        "ms_too_large_quiet": [b"ms big 3000 q\r\n" + b"y" * 3000 + b"\r\nmn\r\n"],
        "ms_append_too_large": [b"ms big 1500\r\n" + b"a" * 1500 + b"\r\nms big 1500 MA\r\n"
                                + b"b" * 1500 + b"\r\nmg big s\r\n"],
    },
}

# Stats whose values differ for reasons outside the meta protocol.
VOLATILE_STATS = (b"pid", b"uptime", b"time", b"version", b"libevent", b"pointer_size",
                  b"rusage_user", b"rusage_system", b"max_connections", b"curr_connections",
                  b"total_connections", b"connection_structures", b"bytes", b"bytes_read",
                  b"bytes_written", b"limit_maxbytes", b"threads", b"hash_bytes",
                  b"total_items", b"curr_items", b"rejected_connections", b"reserved_fds",
                  b"response_obj_oom", b"response_obj_count", b"response_obj_bytes",
                  b"read_buf_oom", b"read_buf_count", b"read_buf_bytes", b"read_buf_bytes_free",
                  b"malloc_fails", b"hash_power_level", b"time_in_listen_disabled_us",
                  b"slab_global_page_pool", b"slab_reassign_rescues", b"slab_reassign_chunk_rescues",
                  b"lru_maintainer_juggles", b"lru_crawler_starts", b"log_worker_dropped",
                  b"log_worker_written", b"log_watcher_skipped", b"log_watcher_sent",
                  b"log_watchers", b"unexpected_napi_ids", b"round_robin_fallback",
                  b"moves_to_cold", b"moves_to_warm", b"moves_within_lru",
                  b"direct_reclaims", b"lru_bumps_dropped", b"evicted_active")

# The counters the meta commands bump, compared exactly.
META_STATS = (b"cmd_get", b"cmd_set", b"cmd_touch", b"cmd_meta", b"get_hits", b"get_misses",
              b"get_expired", b"get_flushed", b"touch_hits", b"touch_misses",
              b"delete_misses", b"delete_hits", b"incr_misses", b"incr_hits", b"decr_misses",
              b"decr_hits", b"cas_misses", b"cas_hits", b"cas_badval")


def round_ten(m):
    n = int(m.group(2))
    return m.group(1) + b"%d" % (int(round(n / 10.0)) * 10)


def normalise(data, keep_cas=False):
    """Number CAS uniques by first appearance, round seconds to tens, keep
    only the meta-related counters of a stats reply."""
    if not keep_cas:
        seen = {}

        def number(m):
            return m.group(1) + b"<cas%d>" % seen.setdefault(m.group(2), len(seen) + 1)
        data = re.sub(rb"(?m)(^(?:HD|VA|NS|EX|NF)[^\r\n]* c)(\d+)", number, data)
        data = re.sub(rb"(?m)(^ME [^\r\n]* cas=)(\d+)", number, data)
    data = re.sub(rb"(?m)((?:^(?:HD|VA)[^\r\n]*? [tl])|(?: exp=-?)|(?: la=))(\d+)", round_ten,
                  data)
    data = re.sub(rb"(?m)^STAT (\S+) [^\r\n]*\r\n",
                  lambda m: m.group(0) if m.group(1) in META_STATS else b"", data)
    return re.sub(rb"(?m)^VERSION [^\r\n]*\r$", b"VERSION <v>\r", data)


class MetaDiffTest(DiffMixin, unittest.TestCase):
    maxDiff = None
    normalise = staticmethod(normalise)

    def test_meta_commands_match_memcached(self):
        self.compare(CASES, BASE)

    def test_meta_without_cas_matches_memcached(self):
        self.compare(FLAG_CASES[NOCAS], NOCAS)

    def test_meta_item_size_limit_matches_memcached(self):
        self.compare(FLAG_CASES[SMALL], SMALL)


def dump(names):
    groups = [(CASES, BASE)] + [(c, a) for a, c in FLAG_CASES.items()]
    for cases, args in groups:
        for name, chunks in cases.items():
            if names and name not in names:
                continue
            with Server(MEMCACHED_BIN, args) as ref:
                got = exchange(ref, chunks, "version", "-C" in args, normalise)
            print("== %s  [%s]\n>> %s\n<< %s\n" % (name, " ".join(args), shorten(b"".join(chunks)),
                                                  shorten(got, 2000)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--dump"]:
        dump(sys.argv[2:])
    else:
        unittest.main()
