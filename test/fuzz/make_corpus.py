#!/usr/bin/python3
"""Write the fuzzers' seed corpus (test/fuzz/corpus/TARGET/NAME) from the
requests memcached's doc/protocol.txt describes: one file per example, each
command in the syntax the document gives, with its data block.  Run it again
after changing the examples; the files are committed so `make fuzz` needs no
Python."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# protocol.txt, "Commands": storage, retrieval, deletion, incr/decr, touch,
# gat, slabs/lru/crawler/watch administration, statistics, other commands.
TEXT = {
    "set": b"set foo 0 0 3\r\nbar\r\n",
    "set_noreply": b"set foo 5 100 3 noreply\r\nbar\r\nget foo\r\n",
    "add": b"add foo 0 0 3\r\nbar\r\nadd foo 0 0 3\r\nbaz\r\n",
    "replace": b"replace foo 0 0 3\r\nbar\r\nset foo 0 0 1\r\na\r\nreplace foo 0 0 2\r\nbb\r\n",
    "append_prepend": b"set k 0 0 1\r\nb\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\na\r\nget k\r\n",
    "cas": b"set k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 1\r\nb\r\ncas k 0 0 1 999\r\nc\r\n",
    "get_multi": b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a b c\r\ngets a b c\r\n",
    "delete": b"set k 0 0 1\r\na\r\ndelete k\r\ndelete k\r\ndelete k noreply\r\ndelete k 0\r\n",
    "incr_decr": b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nincr x 1\r\n",
    "touch": b"set k 0 0 1\r\na\r\ntouch k 10\r\ntouch nope 10\r\n",
    "gat": b"set k 0 0 1\r\na\r\ngat 100 k\r\ngats 0 k nope\r\n",
    "stats": b"stats\r\nstats settings\r\nstats items\r\nstats slabs\r\nstats sizes\r\nstats conns\r\n",
    "stats_detail": b"stats detail on\r\nset a:b 0 0 1\r\n1\r\nget a:b\r\nstats detail dump\r\nstats detail off\r\n",
    "stats_cachedump": b"set k 0 0 1\r\na\r\nstats cachedump 1 0\r\nstats reset\r\n",
    "flush_all": b"set k 0 0 1\r\na\r\nflush_all\r\nflush_all 10\r\nflush_all noreply\r\nget k\r\n",
    "version_verbosity": b"version\r\nverbosity 1\r\nverbosity 0 noreply\r\n",
    "cache_memlimit": b"cache_memlimit 100\r\ncache_memlimit 1\r\n",
    "slabs": b"slabs reassign 1 2\r\nslabs automove 0\r\nslabs automove 1\r\n",
    "lru": b"lru tune 10 25 0.1 2\r\nlru mode flat\r\nlru temp_ttl 0\r\n",
    "lru_crawler": b"lru_crawler crawl all\r\nlru_crawler metadump all\r\nlru_crawler sleep 100\r\n"
                   b"lru_crawler tocrawl 0\r\nlru_crawler enable\r\nlru_crawler disable\r\n",
    "watch": b"watch fetchers mutations\r\n",
    "errors": b"bogus\r\nset k 0 0 -1\r\nset k abc 0 1\r\nget " + b"k" * 251 + b"\r\n"
              b"incr k abc\r\nset k 0 0 1\r\nabc\r\n",
    "long_line": b"get " + b"x " * 1200 + b"\r\n",
    "quit": b"set k 0 0 1\r\na\r\nquit\r\nget k\r\n",
    "shutdown": b"shutdown\r\nshutdown graceful\r\n",
    "http": b"GET / HTTP/1.1\r\n",
    "auth_ok": b"set x 0 0 12\r\nalice secret\r\nget x\r\n",
    "auth_bad": b"get x\r\nset x 0 0 9\r\nalice bad\r\nset x 0 0 5\r\nalice\r\n",
}

# protocol.txt, "Meta Commands": mg, ms, md, ma, mn, me and their flags.
META = {
    "mg": b"ms foo 2\r\nhi\r\nmg foo v\r\nmg foo s v t f k c O123 q\r\nmg nope v\r\nmn\r\n",
    "mg_flags": b"ms foo 2 T100 F5\r\nhi\r\nmg foo h l t v N30 R10 T20 E55\r\nmg foo\r\n",
    "ms_modes": b"ms k 1 MS\r\na\r\nms k 1 ME\r\nb\r\nms k 1 MA\r\nc\r\nms k 1 MP\r\nd\r\nms k 1 MR\r\ne\r\n",
    "ms_cas": b"ms k 1 c\r\na\r\nms k 1 C1 I\r\nb\r\nms k 1 q\r\nc\r\nmn\r\n",
    "md": b"ms k 1\r\na\r\nmd k q\r\nmd k\r\nmd k I T30\r\nmg k v\r\n",
    "ma": b"ma n N0 J13 v\r\nma n D5 v\r\nma n MD D100 v\r\nma n q\r\nmn\r\n",
    "base64": b"ms Zm9v 2 b\r\nhi\r\nmg Zm9v b v k\r\nmd Zm9v b\r\n",
    "me": b"ms k 1\r\na\r\nme k\r\n",
    "errors": b"mg\r\nms k\r\nms k abc\r\nmg k zz\r\nma k MX\r\nmx k\r\n",
}


def binary(op, key=b"", ext=b"", val=b"", opaque=0, cas=0):
    body = len(ext) + len(key) + len(val)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(ext), 0, 0, body, opaque,
                       cas) + ext + key + val


SET_EXT = struct.pack(">II", 0, 0)
ARITH_EXT = struct.pack(">QQI", 1, 0, 0)
BINARY = {
    "get_set": binary(0x01, b"foo", SET_EXT, b"bar") + binary(0x00, b"foo")
               + binary(0x0c, b"foo") + binary(0x0a),
    "quiet": binary(0x11, b"a", SET_EXT, b"1") + binary(0x09, b"a") + binary(0x0d, b"b")
             + binary(0x0a),
    "add_replace": binary(0x02, b"k", SET_EXT, b"v") + binary(0x03, b"k", SET_EXT, b"w"),
    "append": binary(0x01, b"k", SET_EXT, b"b") + binary(0x0e, b"k", b"", b"c")
              + binary(0x0f, b"k", b"", b"a"),
    "delete": binary(0x01, b"k", SET_EXT, b"v") + binary(0x04, b"k") + binary(0x14, b"k"),
    "incr": binary(0x05, b"n", ARITH_EXT) + binary(0x06, b"n", ARITH_EXT)
            + binary(0x15, b"n", ARITH_EXT),
    "touch_gat": binary(0x01, b"k", SET_EXT, b"v") + binary(0x1c, b"k", b"\0\0\0\x0a")
                 + binary(0x1d, b"k", b"\0\0\0\x0a") + binary(0x23, b"k", b"\0\0\0\x0a"),
    "flush_version_stat": binary(0x08, b"", b"\0\0\0\0") + binary(0x0b) + binary(0x10)
                          + binary(0x10, b"settings") + binary(0x07),
    "sasl": binary(0x20) + binary(0x21, b"PLAIN", b"", b"\0alice\0secret") + binary(0x0b),
    "sasl_step": binary(0x21, b"PLAIN") + binary(0x22, b"PLAIN", b"", b"\0bob\0hunter2"),
    "bad": binary(0x01, b"", SET_EXT, b"") + binary(0x55, b"k", b"", b"zz") + b"\x80" * 30,
}


def udp(payload, rid=1):
    return struct.pack(">HHHH", rid, 0, 1, 0) + payload


def write(target, cases, prefix=b""):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in cases.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(prefix + data)


write("text", TEXT)
write("meta", META)
# The binary target reads its first byte as a setting (top bit: -S).
write("binary", BINARY, b"\x00")
write("binary", {"sasl_on_" + k: v for k, v in BINARY.items()}, b"\x80")
write("udp", {k: udp(v) for k, v in list(TEXT.items())[:12]})
write("udp", {"meta_" + k: udp(v) for k, v in META.items()})
write("udp", {"bin_" + k: udp(v) for k, v in BINARY.items()})
# The session target's first four bytes: mode, settings, split seed.
write("session", {"text_" + k: v for k, v in TEXT.items()}, b"\x00\x13\x12\x34")
write("session", {"meta_" + k: v for k, v in META.items()}, b"\x61\x00\x56\x78")
write("session", {"bin_" + k: v for k, v in BINARY.items()}, b"\x00\x05\x9a\xbc")
write("session", {"auth_" + k: v for k, v in TEXT.items() if k.startswith("auth")}, b"\x05\x04\x01\x02")
write("session", {"sasl_" + k: v for k, v in BINARY.items()}, b"\x0a\x02\x03\x04")
