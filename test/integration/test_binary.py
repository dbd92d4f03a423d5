"""The binary protocol, differential: the same request packets to Debian's
memcached and to mcd, the reply packets compared field by field.

A small client built on struct.pack sends each case on a fresh connection
to both servers. A case is a list of steps: bytes (sent, then a NOOP whose
reply marks the end of the step's replies), Raw (sent as is, then a short
pause: for requests split across reads), Close (sent, then read to EOF), or
a function of the replies so far returning bytes (to send back a cas).
Before comparing, cas values are renumbered by first appearance (equal
stays equal, 0 stays 0), the VERSION body is replaced, and STAT values are
dropped (names are kept, numeric prefixes folded).

To see what memcached answers, without mcd:
    /usr/bin/python3 test_binary.py --dump [case ...]
"""
import collections
import re
import socket
import struct
import sys
import time
import unittest

from harness import MCD_BIN, MCD_ONLY_STATS, MEMCACHED_BIN, SLOW, Server, read_until

BASE = ("-t", "2", "-m", "64")

# Opcodes, as protocol_binary.h names them.
GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH = range(9)
GETQ, NOOP, VERSION, GETK, GETKQ, APPEND, PREPEND, STAT = range(0x09, 0x11)
SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ, QUITQ, FLUSHQ, APPENDQ, PREPENDQ = range(0x11, 0x1b)
TOUCH, GAT, GATQ = 0x1c, 0x1d, 0x1e
SASL_LIST, SASL_AUTH = 0x20, 0x21
GATK, GATKQ = 0x23, 0x24

HEADER = struct.Struct(">BBHBBHIIQ")
SYNC = 0x5EED5EED
NO_CREATE = 0xFFFFFFFF

Packet = collections.namedtuple(
    "Packet", "magic opcode keylen extlen datatype status bodylen opaque cas extras key value")


def req(op, key=b"", extras=b"", value=b"", opaque=None, cas=0, keylen=None, extlen=None,
        bodylen=None, magic=0x80):
    """One request packet; the lengths follow the parts unless given."""
    kl = len(key) if keylen is None else keylen
    el = len(extras) if extlen is None else extlen
    bl = len(extras) + len(key) + len(value) if bodylen is None else bodylen
    op_aque = 0x1000 + op if opaque is None else opaque
    return HEADER.pack(magic, op, kl, el, 0, 0, bl, op_aque, cas) + extras + key + value


def store(op, key, value, flags=0, exptime=0, **kw):
    return req(op, key, struct.pack(">II", flags, exptime), value, **kw)


def concat(op, key, value, **kw):
    return req(op, key, b"", value, **kw)


def arith(op, key, delta, initial=0, exptime=0, **kw):
    return req(op, key, struct.pack(">QQI", delta, initial, exptime), **kw)


def touch(op, key, exptime, **kw):
    return req(op, key, struct.pack(">I", exptime), **kw)


def stat(key=b"", **kw):
    return req(STAT, key, **kw)


def parse(data):
    """Complete packets in data, and the bytes left over."""
    out = []
    while len(data) >= 24:
        f = HEADER.unpack(data[:24])
        bodylen, keylen, extlen = f[6], f[2], f[3]
        if len(data) < 24 + bodylen:
            break
        body = data[24:24 + bodylen]
        out.append(Packet(*f, body[:extlen], body[extlen:extlen + keylen],
                          body[extlen + keylen:]))
        data = data[24 + bodylen:]
    return out, data


def last(packets, op):
    """The cas of the last reply with this opcode."""
    return [p for p in packets if p.opcode == op][-1].cas


class Raw(bytes):
    """Bytes sent without a NOOP after them (part of a request, say)."""


class Close(bytes):
    """Bytes after which the server closes the connection."""


def exchange(server, steps):
    """Run one case on a fresh connection; the reply packets and any
    unparsed bytes."""
    s = server.connect()
    packets, buf = [], b""
    try:
        for step in steps:
            if callable(step):
                step = step(packets)
            if isinstance(step, Raw):
                s.sendall(step)
                time.sleep(0.02)
                continue
            if isinstance(step, Close):
                s.sendall(step)
                buf += read_until(s, lambda d: False, timeout=2.0)
                break
            s.sendall(step + req(NOOP, opaque=SYNC))

            def synced(d):
                got, _ = parse(buf + d)
                return any(p.opcode == NOOP and p.opaque == SYNC for p in got)
            buf += read_until(s, synced)
            got, buf = parse(buf)
            packets += got
    finally:
        s.close()
    got, buf = parse(buf)
    return packets + got, buf


def normalise(packets):
    cas_ids = {0: 0}
    out = []
    for p in packets:
        p = p._replace(cas=cas_ids.setdefault(p.cas, len(cas_ids)))
        if p.opcode == VERSION and p.status == 0:
            p = p._replace(value=b"<version>", bodylen=-1)
        if p.opcode == STAT and p.status == 0:
            key = re.sub(rb"^(items:)?\d+:", lambda m: (m.group(1) or b"") + b"N:", p.key)
            p = p._replace(key=key, value=b"", bodylen=-1)
        out.append(p)
    return out


def stats_sorted(packets):
    """STAT packets compared as a set of names: orders may differ, and so
    may the classes memcached keeps pages in after a flush."""
    names = sorted(set(p.key for p in packets if p.opcode == STAT))
    return [p for p in packets if p.opcode != STAT], names


FLUSH_ALL = req(FLUSH)

# name -> steps; each case starts with a flush of its own.
CASES = {
    "noop_version": [req(NOOP), req(VERSION, opaque=7)],
    "set_get_variants": [
        store(SET, b"k", b"value", flags=0xDEADBEEF),
        req(GET, b"k"), req(GETK, b"k"), req(GETQ, b"k"), req(GETKQ, b"k"),
        req(GET, b"nope"), req(GETK, b"nope"), req(GETQ, b"nope"), req(GETKQ, b"nope")],
    "empty_value": [store(SET, b"e", b""), req(GETK, b"e")],
    "binary_value_and_text_view": [store(SET, b"b", b"\x00\r\n\xff\r\n"), req(GET, b"b")],
    "quiet_pipeline": [
        store(SETQ, b"a", b"1") + store(SETQ, b"b", b"22", flags=3) + req(GETKQ, b"a")
        + req(GETKQ, b"missing") + req(GETKQ, b"b") + req(GETQ, b"b") + req(NOOP, opaque=99)],
    "add": [store(ADD, b"a", b"1"), store(ADD, b"a", b"2"), store(ADDQ, b"a", b"3"),
            store(ADDQ, b"n", b"4"), req(GET, b"a"), req(GET, b"n")],
    "replace": [store(REPLACE, b"r", b"1"), store(REPLACEQ, b"r", b"1"),
                store(SET, b"r", b"0"), store(REPLACE, b"r", b"2", flags=9),
                store(REPLACEQ, b"r", b"3"), req(GET, b"r")],
    "cas": [store(SET, b"c", b"1", cas=12345), store(SET, b"c", b"1"),
            store(SET, b"c", b"2", cas=1),
            lambda p: store(SET, b"c", b"3", cas=last(p, SET)),
            lambda p: store(SETQ, b"c", b"4", cas=last(p, SET)),
            req(GETK, b"c"),
            lambda p: store(ADD, b"c", b"5", cas=last(p, GETK)),
            lambda p: store(REPLACE, b"c", b"6", cas=last(p, ADD)), req(GET, b"c")],
    "delete": [req(DELETE, b"d"), req(DELETEQ, b"d"), store(SET, b"d", b"1"),
               req(DELETE, b"d"), store(SET, b"d", b"1"), req(DELETEQ, b"d"), req(GET, b"d"),
               store(SET, b"d", b"1"), req(DELETE, b"d", cas=1),
               lambda p: req(DELETE, b"d", cas=last(p, SET)), req(GET, b"d")],
    "incr_decr": [
        arith(INCR, b"n", 1, 5, NO_CREATE), arith(DECR, b"n", 1, 5, NO_CREATE),
        arith(INCR, b"n", 1, 5), arith(INCR, b"n", 10), arith(DECR, b"n", 3),
        arith(DECR, b"n", 100), arith(INCRQ, b"n", 7), arith(DECRQ, b"n", 2),
        arith(INCR, b"n", 0), req(GET, b"n"),
        arith(DECRQ, b"m", 1, 42, 0), req(GETK, b"m"),
        store(SET, b"w", b"18446744073709551615"), arith(INCR, b"w", 2),
        store(SET, b"x", b"abc"), arith(INCR, b"x", 1), arith(INCRQ, b"x", 1),
        store(SET, b"y", b"10"), arith(INCR, b"y", 1, cas=1),
        lambda p: arith(INCR, b"y", 1, cas=last(p, INCR))],
    "append_prepend": [
        concat(APPEND, b"a", b"x"), concat(PREPEND, b"a", b"x"), concat(APPENDQ, b"a", b"x"),
        store(SET, b"a", b"mid", flags=7), concat(APPEND, b"a", b"-end"),
        concat(PREPEND, b"a", b"start-"), concat(APPENDQ, b"a", b"!"),
        concat(PREPENDQ, b"a", b"^"), req(GET, b"a"),
        concat(APPEND, b"a", b"z", cas=1), lambda p: concat(APPEND, b"a", b"+", cas=last(p, GET)),
        req(GET, b"a")],
    "touch_gat": [
        touch(TOUCH, b"t", 100), touch(GAT, b"t", 100), touch(GATK, b"t", 100),
        touch(GATQ, b"t", 100), touch(GATKQ, b"t", 100),
        store(SET, b"t", b"val", flags=4), touch(TOUCH, b"t", 100), touch(GAT, b"t", 0),
        touch(GATK, b"t", 200), touch(GATQ, b"t", 300), touch(GATKQ, b"t", 400),
        touch(TOUCH, b"t", 0xFFFFFFFF - 5), req(GET, b"t")],
    "expired_by_touch": [store(SET, b"t", b"v"), touch(TOUCH, b"t", 0x80000000),
                         req(GET, b"t")],
    "flush": [store(SET, b"f", b"1"), req(FLUSH), req(GET, b"f"), store(SET, b"f", b"1"),
              req(FLUSHQ), req(GET, b"f"), store(SET, b"g", b"1"),
              req(FLUSH, extras=struct.pack(">I", 1000)), req(GET, b"g")],
    "stat_groups": [store(SET, b"s", b"1"), req(GET, b"s"), stat(b"settings"), stat(b"items"), stat(b"slabs"), stat(b"sizes")],
    "stat_errors": [stat(b"conns"), stat(b"bogus"), stat(b"detail"), stat(b"detail x"),
                    stat(b"cachedump 1 1"), stat(b"reset"), stat(b"resetxyz")],
    "stat_detail": [stat(b"detail on"), store(SET, b"p:1", b"1"), req(GET, b"p:1"),
                    req(GET, b"p:2"), stat(b"detail dump"), stat(b"detail off")],
    "split_request": [Raw(store(SET, b"split", b"0123456789")[:5]),
                      Raw(store(SET, b"split", b"0123456789")[5:30]),
                      Raw(store(SET, b"split", b"0123456789")[30:35]),
                      store(SET, b"split", b"0123456789")[35:], req(GETK, b"split")],
    "pipeline_then_split_value": [Raw(store(SET, b"a", b"1") + store(SET, b"b", b"x" * 100)[:60]),
                                  store(SET, b"b", b"x" * 100)[60:], req(GET, b"b")],
    # memcached swallows bodylen bytes after the key: 3 bytes of the NOOP
    # here, so the rest is a bad magic, and it closes without a reply.
    "unknown_command_swallows_body": [
        req(0x40, b"", value=b"abcdef"), Close(req(0x41, b"key", value=b"v" * 3) + req(NOOP))],
    "bad_magic_drops_batch": [Close(req(NOOP) + store(SET, b"a", b"1") + req(NOOP, magic=0x81))],
    "sasl_without_sasl": [req(SASL_LIST), req(SASL_AUTH, b"PLAIN", value=b"\x00u\x00p")],
    "too_large": [store(SET, b"big", b"v"), store(SET, b"big", b"x" * (1024 * 1024 + 1)),
                  req(GET, b"big"), store(ADDQ, b"big2", b"x" * (1024 * 1024 + 1))],
    "quit": [store(SET, b"q", b"1"), Close(req(QUIT))],
    "quitq": [Close(req(QUITQ))],
    "bad_magic": [Close(req(NOOP, magic=0x81))],
    "key_too_long": [Close(req(GET, b"k" * 251))],
    "key_longer_than_body": [Close(req(GET, b"abc", bodylen=2))],
    "get_with_extras": [Close(req(GET, b"abc", extras=b"1234"))],
    "set_without_key": [Close(store(SET, b"", b"v"))],
    "noop_with_body": [Close(req(NOOP, value=b"x"))],
    "flush_bad_extras": [Close(req(FLUSH, extras=b"12"))],
    "incr_bad_extras": [Close(req(INCR, b"n", extras=b"1" * 8))],
    "delete_with_extras": [Close(req(DELETE, b"d", extras=b"1234"))],
    "touch_without_extras": [Close(req(TOUCH, b"t"))],
    "version_with_key": [Close(req(VERSION, b"k"))],
}

# Cases whose STAT packets come in an order we do not pin down.
UNORDERED = {"stat_groups"}


def run(server, name):
    packets, rest = exchange(server, [FLUSH_ALL] + CASES[name])
    return normalise(packets), rest


class BinaryDiffTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ref = Server(MEMCACHED_BIN, BASE)
        cls.mcd = Server(MCD_BIN, BASE)

    @classmethod
    def tearDownClass(cls):
        cls.ref.terminate()
        cls.mcd.terminate()
        cls.ref.stop()
        cls.mcd.stop()

    def test_binary_protocol_matches_memcached(self):
        for name in CASES:
            with self.subTest(case=name):
                want, wrest = run(self.ref, name)
                got, grest = run(self.mcd, name)
                if name in UNORDERED:
                    want, got = stats_sorted(want), stats_sorted(got)
                self.assertEqual(got, want)
                self.assertEqual(grest, wrest)

    def test_general_stat_names_match_memcached(self):
        def names(server):
            packets, _ = exchange(server, [store(SET, b"a", b"1"), req(GET, b"a"), stat()])
            st = [p for p in packets if p.opcode == STAT]
            self.assertEqual((st[-1].keylen, st[-1].bodylen), (0, 0), "no terminator")
            self.assertTrue(all(p.opaque == 0x1000 + STAT for p in st))
            return sorted(p.key for p in st if p.key.decode() not in MCD_ONLY_STATS)
        self.assertEqual(names(self.mcd), names(self.ref))

    def test_counters_after_binary_traffic_match_memcached(self):
        steps = [FLUSH_ALL, store(SET, b"a", b"1"), store(SETQ, b"b", b"2"), req(GET, b"a"),
                 req(GETQ, b"zz"), req(GETK, b"b"), req(DELETE, b"b"), req(DELETE, b"b"),
                 arith(INCR, b"a", 2), arith(INCR, b"c", 1, 0, NO_CREATE),
                 arith(DECR, b"a", 1), touch(TOUCH, b"a", 10), touch(GAT, b"zz", 10),
                 lambda p: store(SET, b"a", b"9", cas=last(p, GAT) or 1),
                 store(SET, b"a", b"9", cas=1), store(SET, b"nope", b"9", cas=1)]
        keys = (b"cmd_get", b"cmd_set", b"cmd_flush", b"cmd_touch", b"get_hits", b"get_misses",
                b"delete_hits", b"delete_misses", b"incr_hits", b"incr_misses", b"decr_hits",
                b"decr_misses", b"cas_hits", b"cas_misses", b"cas_badval", b"touch_hits",
                b"touch_misses", b"curr_items")

        def counters(server):
            # A server of its own: the other tests' traffic must not count.
            with Server(server.binary, BASE) as fresh:
                exchange(fresh, steps)
                packets, _ = exchange(fresh, [stat()])
            return {p.key: p.value for p in packets if p.opcode == STAT and p.key in keys}
        self.assertEqual(counters(self.mcd), counters(self.ref))


def first_reply(server, payload, timeout=1.0):
    """Everything the server sends for payload until it closes or goes quiet."""
    s = server.connect()
    try:
        s.sendall(payload)
        return read_until(s, lambda d: False, timeout=timeout)
    finally:
        s.close()


def closed_after(server, payload):
    s = server.connect()
    try:
        s.sendall(payload)
        data = read_until(s, lambda d: False, timeout=1.0)
        s.settimeout(1.0 * SLOW)
        try:
            eof = s.recv(1) == b""
        except socket.timeout:
            eof = False
        except ConnectionResetError:
            eof = True
        return data, eof
    finally:
        s.close()


class ProtocolModeTest(unittest.TestCase):
    """-B auto|ascii|binary, compared with memcached."""

    def pair(self, *args):
        ref = Server(MEMCACHED_BIN, BASE + args)
        self.addCleanup(ref.stop)
        mcd = Server(MCD_BIN, BASE + args)
        self.addCleanup(mcd.stop)
        return ref, mcd

    def test_auto_serves_both_protocols_per_connection(self):
        for server in self.pair():
            text = first_reply(server, b"set a 0 0 1\r\n1\r\nget a\r\n", timeout=0.5)
            self.assertEqual(text, b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
            packets, _ = exchange(server, [req(GET, b"a")])
            self.assertEqual(packets[0].value, b"1")
            settings, _ = exchange(server, [stat(b"settings")])
            proto = [p.value for p in settings if p.key == b"binding_protocol"]
            self.assertEqual(proto, [b"auto-negotiate"])

    def test_ascii_mode_reads_binary_as_text(self):
        ref, mcd = self.pair("-B", "ascii")
        for payload in (req(NOOP), req(GET, b"a") + req(NOOP), req(VERSION) + b"\r\n"):
            want = first_reply(ref, payload, timeout=0.5)
            self.assertEqual(first_reply(mcd, payload, timeout=0.5), want, payload)
        self.assertEqual(first_reply(mcd, b"version\r\n", timeout=0.5)[:8], b"VERSION ")

    def test_binary_mode_closes_text_clients(self):
        ref, mcd = self.pair("-B", "binary")
        for payload in (b"version\r\n" + b" " * 20, b"get a b c d e f g h i j k l\r\n"):
            self.assertEqual(closed_after(mcd, payload), closed_after(ref, payload))
            self.assertEqual(closed_after(mcd, payload), (b"", True))
        # Too short for a header: both wait rather than close.
        self.assertEqual(closed_after(mcd, b"version\r\n"), closed_after(ref, b"version\r\n"))
        packets, _ = exchange(mcd, [req(NOOP)])
        self.assertEqual(packets[0].opcode, NOOP)


def dump(names):
    server = Server(MEMCACHED_BIN, BASE)
    try:
        for name in names or CASES:
            packets, rest = run(server, name)
            print("== %s" % name)
            for p in packets:
                print("  ", p)
            if rest:
                print("   rest:", rest)
    finally:
        server.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--dump":
        dump(sys.argv[2:])
    else:
        unittest.main()
