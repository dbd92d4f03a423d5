"""Differential test of memcached's administrative commands and of what
issue 9 made drop-in: the same bytes to Debian's memcached 1.6.18 and to
mcd, the replies compared byte for byte (see test_diff.py for the method).

Covered: lru_crawler (crawl, metadump, sleep, tocrawl, enable, disable),
lru (tune, mode, temp_ttl), slabs (reassign, automove), watch, stats
cachedump ids, stats sizes / sizes_enable / sizes_disable, bget, flush_all
with an absolute time already past, the meta t flag after a huge negative
T, the version string; and memcached-tool and Perl's version->parse
against mcd."""
import re
import subprocess
import time
import unittest

from harness import (MCD_BIN, MEMCACHED_BIN, SLOW, DiffMixin, Server, exchange, read_until,
                     request)

BASE = ("-t", "2", "-m", "64")
K251 = b"k" * 251


def normalise(data, keep_cas=False):
    """metadump lines carry a CAS unique and a last-access time the servers
    number differently: those become <cas> and <la>.  A dump lists items
    in the order of the server's walk (memcached's LRU, mcd's hash table):
    each run of them is sorted."""
    data = re.sub(rb"(?m)^(key=\S+ exp=\S+) la=\d+ cas=\d+ ", rb"\1 la=<la> cas=<cas> ", data)
    data = re.sub(rb"(?:key=[^\n]*\n)+",
                  lambda m: b"".join(sorted(m.group(0).splitlines(True))), data)
    if not keep_cas:
        data = re.sub(rb"(?m)^(VALUE \S+ \d+ \d+) \d+\r$", rb"\1 <cas>\r", data)
    return data


def sets(*items):
    """`set` requests for (key, value) pairs."""
    return b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in items)


ITEMS = sets((b"a", b"1"), (b"b", b"hello"), (b"k/x", b"v" * 100), (b"dd", b"y" * 3000))

CASES = {
    "version": [b"version\r\n"],
    "bget": [sets((b"a", b"1"), (b"b", b"22")), b"bget a b c\r\nbget\r\n",
             b"bget " + K251 + b"\r\n"],
    "cachedump_ids": [b"stats cachedump 0 0\r\nstats cachedump 1 0\r\nstats cachedump 63 0\r\n"
                      b"stats cachedump 64 0\r\nstats cachedump 255 0\r\n"
                      b"stats cachedump 4294967296 0\r\nstats cachedump -1 0\r\n"
                      b"stats cachedump x 0\r\nstats cachedump 1\r\n"],
    "cachedump_one_item": [sets((b"a", b"1")), b"stats cachedump 1 0\r\nstats cachedump 1 1\r\n"],
    # memcexist's probe: an item stored already expired is listed by neither.
    "cachedump_skips_items_stored_expired": [b"add f2.txt 0 2678400 0\r\n\r\n" + sets((b"a", b"1")),
                                             b"stats cachedump 1 0\r\n"],
    # memcached's do_add_delta: an empty value is non-numeric before any
    # unique is compared; a value that is not a number, after.
    "ma_non_numeric": [sets((b"t", b"text"), (b"e", b"")), b"gets t\r\n",
                       b"ma e C999999999\r\nma t C{cas:t}\r\nma t v\r\nma t q\r\nmn\r\n"],
    "metadump": [ITEMS, b"get a b\r\n", b"lru_crawler metadump all\r\n", b"version\r\n",
                 b"lru_crawler metadump hash\r\n"],
    "metadump_classes": [ITEMS, b"lru_crawler metadump 1\r\n", b"lru_crawler metadump 0\r\n",
                         b"lru_crawler metadump 64\r\n", b"lru_crawler metadump 1,x\r\n",
                         b"lru_crawler metadump 62,63\r\n", b"lru_crawler metadump\r\n"],
    "metadump_after_other_commands": [sets((b"a", b"1")) + b"lru_crawler metadump all\r\n"],
    "metadump_empty": [b"lru_crawler metadump all\r\n"],
    # One crawl per read: memcached's crawler is BUSY until the last one ends.
    "lru_crawler": [b"lru_crawler crawl all\r\n", b"lru_crawler crawl 1,2\r\n",
                    b"lru_crawler crawl 0\r\nlru_crawler crawl 64\r\n",
                    b"lru_crawler crawl hash\r\n", b"lru_crawler crawl x\r\n"
                    b"lru_crawler sleep 100\r\nlru_crawler sleep 2000000\r\n"
                    b"lru_crawler sleep x\r\nlru_crawler tocrawl 5\r\nlru_crawler tocrawl x\r\n"
                    b"lru_crawler\r\nlru_crawler foo\r\nlru_crawler crawl\r\n"],
    # After a disable memcached 1.6.18 keeps saying its crawler is on:
    # mcd follows the real state (DeliberateDeviationTest).
    "lru_crawler_switch": [b"lru_crawler enable\r\nlru_crawler disable\r\nlru_crawler disable\r\n"],
    "lru": [b"lru tune 10 20 0.1 2\r\nlru tune 50 50 1 1\r\nlru tune 10 10 0 1\r\n"
            b"lru tune 10 10 x 1\r\nlru tune 10 10\r\nlru mode flat\r\nlru mode segmented\r\n"
            b"lru mode foo\r\nlru mode\r\nlru temp_ttl 5\r\nlru temp_ttl -1\r\n"
            b"lru temp_ttl x\r\nlru\r\nlru foo\r\nlru mode flat noreply\r\n"],
    "slabs": [b"slabs automove 0\r\nslabs automove 1\r\nslabs automove 2\r\nslabs automove 3\r\n"
              b"slabs automove invalid\r\nslabs automove ratio 0.5\r\nslabs automove ratio x\r\n"
              b"slabs automove ratio\r\nslabs automove 1 noreply\r\nslabs automove\r\n"
              b"slabs reassign 1 1\r\nslabs reassign x 2\r\nslabs reassign 99 2\r\n"
              b"slabs reassign 1\r\nslabs\r\nslabs foo\r\n"],
    "sizes": [b"stats sizes\r\nstats sizes_enable\r\n", ITEMS,
              b"stats sizes\r\nstats sizes_disable\r\nstats sizes\r\n"],
    "flush_all_absolute_past": [sets((b"a", b"1")), b"flush_all 2592001\r\nget a\r\n",
                                b"flush_all 2592001 noreply\r\nget a\r\n"],
    "meta_ttl_after_huge_negative_T": [
        sets((b"k", b"1"), (b"n", b"5")),
        b"mg k T-2147483648 t v\r\nma n T-2147483648 t v\r\nma n t\r\nmg k t\r\n"],
}

NOCAS = BASE + ("-C",)
FLAG_CASES = {
    NOCAS: {
        "flush_all_absolute_past": CASES["flush_all_absolute_past"],
        "sizes_without_cas": [b"stats sizes_enable\r\nstats sizes\r\n"],
    },
    BASE + ("-X",): {
        "dumps_refused": [ITEMS, b"lru_crawler metadump all\r\nstats cachedump 1 0\r\n"],
    },
    BASE + ("-o", "no_lru_crawler"): {
        "crawler_off": [b"lru_crawler crawl all\r\nlru_crawler metadump all\r\n"
                        b"lru_crawler disable\r\nlru_crawler enable\r\n"],
        "crawler_off_settings": [b"lru_crawler sleep 10\r\nlru_crawler tocrawl 7\r\n"],
    },
    BASE + ("-o", "no_slab_reassign"): {
        "reassign_off": [b"slabs reassign 1 2\r\nslabs reassign x 2\r\n"],
    },
    BASE + ("-W",): {
        "watch_refused": [b"watch\r\n"],
    },
}

# After `watch` memcached sends nothing more: read for a while instead.
QUIET_CASES = {
    "watch": [b"watch\r\n", b"version\r\nget a\r\n"],
    "watch_bad_flag": [b"watch foo\r\n", b"watch fetchers mutations\r\n", b"version\r\n"],
    "watch_after_other_commands": [b"version\r\nwatch\r\nversion\r\n"],
}


def wait_for_a_fresh_second():
    """Both servers count cache time from their own start, by whole
    seconds of the monotonic clock: started in the same second, they agree
    on every relative time they print."""
    frac = time.monotonic() % 1
    if frac > 0.5:
        time.sleep(1.02 - frac)


class AdminDiffTest(DiffMixin, unittest.TestCase):
    maxDiff = None
    normalise = staticmethod(normalise)

    def test_admin_commands_match_memcached(self):
        for name, chunks in CASES.items():
            wait_for_a_fresh_second()
            self.compare({name: chunks}, BASE)

    def test_admin_commands_under_flags_match_memcached(self):
        for args, cases in FLAG_CASES.items():
            self.compare(cases, args)

    def test_watch_matches_memcached(self):
        self.compare(QUIET_CASES, BASE, mode="quiet")


class StorageOrderTest(DiffMixin, unittest.TestCase):
    normalise = staticmethod(normalise)

    # memcached compares the unique before it parses the value (for a value
    # not empty): do_add_delta's order, which storage/cache_arith.c follows.
    def test_ma_compares_the_unique_before_parsing_as_memcached(self):
        self.compare({"ma_non_numeric_wrong_cas": [sets((b"t", b"text")),
                                                   b"ma t C999999999\r\n"]}, BASE)


class IdleKicksTest(unittest.TestCase):
    """Under -o idle_timeout memcached prints idle_kicks, and counts them."""

    def test_idle_kicks_counted_as_memcached(self):
        args = BASE + ("-o", "idle_timeout=1")
        servers = [Server(MEMCACHED_BIN, args), Server(MCD_BIN, args)]
        for server in servers:
            self.addCleanup(server.stop)
        idle = [server.connect() for server in servers]
        time.sleep(3.5)
        kicked = []
        for sock in idle:
            kicked.append(read_until(sock, lambda d: False, timeout=0.5) == b"")
            sock.close()
        self.assertEqual(kicked, [True, True])
        counts = []
        for server in servers:
            s = server.connect()
            stats = request(s, b"stats\r\n")
            s.close()
            counts.append(re.search(rb"STAT idle_kicks (\d+)\r\n", stats))
        self.assertIsNotNone(counts[0], "memcached prints no idle_kicks")
        self.assertIsNotNone(counts[1], "mcd prints no idle_kicks")
        self.assertEqual(counts[1].group(1), counts[0].group(1))
        self.assertEqual(counts[1].group(1), b"1")


class VersionTest(unittest.TestCase):
    """Clients parse `version` (Perl's version->parse in Cache::Memcached::
    Fast, feature gates in others): it must be a plain memcached version."""

    def test_perl_version_parse_accepts_the_version(self):
        with Server(MCD_BIN, BASE) as server:
            s = server.connect()
            line = request(s, b"version\r\n", b"\r\n")
            stats = request(s, b"stats\r\n")
            s.close()
        self.assertEqual(line, b"VERSION 1.6.18\r\n")
        self.assertIn(b"STAT version 1.6.18\r\n", stats)
        self.assertRegex(stats, rb"STAT mcd_version \d+\.\d+\S*\r\n")
        version = line.split()[1].decode()
        p = subprocess.run(["perl", "-Mversion", "-e",
                            "print version->parse($ARGV[0])->normal, qq(\\n)", version],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b"v1.6.18\n")


class DeliberateDeviationTest(unittest.TestCase):
    """Where memcached 1.6.18's administrative commands misreport, mcd
    reports what is."""

    def test_crawler_disabled_says_so_and_enables_again(self):
        # memcached: crawl after disable is "ERROR an unknown error
        # happened" and enable fails for good, its setting never cleared.
        with Server(MCD_BIN, BASE) as server:
            s = server.connect()
            data = request(s, b"lru_crawler disable\r\nlru_crawler crawl all\r\n"
                              b"stats settings\r\nlru_crawler enable\r\nlru_crawler crawl all\r\n",
                           b"OK\r\nOK\r\n")
            s.close()
        self.assertTrue(data.startswith(b"OK\r\nCLIENT_ERROR lru crawler disabled\r\n"), data)
        self.assertIn(b"STAT lru_crawler no\r\n", data)


TOOL = "/usr/share/memcached/scripts/memcached-tool"


class MemcachedToolTest(unittest.TestCase):
    """memcached-tool (Debian's memcached package) against mcd: each mode
    finishes and shows what was stored."""

    def setUp(self):
        self.server = Server(MCD_BIN, BASE)
        self.addCleanup(self.server.stop)
        s = self.server.connect()
        s.sendall(sets((b"a", b"1"), (b"k/x", b"vvv")) + b"set e 5 3600 2\r\nhi\r\n")
        read_until(s, lambda d: d.count(b"STORED") == 3)
        s.close()

    def tool(self, mode):
        p = subprocess.run(["perl", TOOL, self.server.addr, mode], capture_output=True,
                           timeout=30 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        # memcached-tool chomps "\n" only: the server's "\r" stays.
        return p.stdout.decode().replace("\r", "")

    def test_display(self):
        self.assertRegex(self.tool("display"), r"(?m)^\s+1\s+\S+\s+\d+s\s+1\s+\d+\s")

    def test_stats(self):
        out = self.tool("stats")
        self.assertRegex(out, r"(?m)^\s+curr_items\s+3$")
        self.assertRegex(out, r"(?m)^\s+version\s+1\.6\.18$")

    def test_settings(self):
        self.assertRegex(self.tool("settings"), r"(?m)^\s+lru_crawler\s+yes$")

    def test_dump(self):
        out = self.tool("dump")
        self.assertIn("add a 0 0 1\n1\n", out)
        self.assertIn("add k/x 0 0 3\nvvv\n", out)
        self.assertRegex(out, r"add e 5 \d+ 2\nhi\n")

    def test_keys(self):
        lines = sorted(self.tool("keys").splitlines())
        self.assertEqual(len(lines), 3)
        self.assertRegex(lines[0], r"^key=a exp=-1 la=\d+ cas=\d+ fetch=no cls=\d+ size=\d+$")
        self.assertTrue(lines[2].startswith("key=k%2Fx exp=-1 "))


# What a watcher sees, with what differs by nature between two processes
# made equal: time, log entry number, descriptor, client port, and the
# slab class (each server has its own ladder).
WATCH_VARIES = [(rb"ts=\d+\.\d+ gid=\d+ ", b"ts=<ts> gid=<gid> "), (rb"cfd=\d+", b"cfd=<fd>"),
                (rb"rport=\d+", b"rport=<port>"), (rb"clsid=\d+", b"clsid=<cls>")]

WATCH_TRAFFIC = (b"set foo 5 100 3\r\nbar\r\nadd foo 0 0 1\r\nx\r\nreplace nope 0 0 1\r\ny\r\n"
                 b"append foo 0 0 2\r\nzz\r\nget foo nope\r\ngets k%20y\r\n"
                 b"set big 0 0 3000\r\n" + b"v" * 3000 + b"\r\ndelete foo\r\ndelete foo\r\n"
                 b"mg foo v\r\nmg big s v\r\nms zz 2 T60\r\nhi\r\nmd zz\r\n"
                 b"set last 0 0 1\r\n.\r\ndelete last\r\nmn\r\n")


def watched(binary, streams, traffic=WATCH_TRAFFIC, args=BASE):
    """The lines a `watch <streams>` client receives while another client
    sends `traffic` and disconnects."""
    server = Server(binary, args)
    try:
        w = server.connect()
        w.sendall(b"watch " + streams + b"\r\n")
        first = read_until(w, lambda d: b"\r\n" in d, timeout=2)
        # The reply, then log lines (the harness's probe of the port may
        # close just after the watch began).
        first, _, early = first.partition(b"\r\n")
        first += b"\r\n"
        c = server.connect()
        port = c.getsockname()[1]
        request(c, traffic, end=b"MN\r\n")
        c.close()
        closed = re.compile(rb"type=conn_close rip=\S+ rport=%d " % port)
        # The last line to wait for: the traffic's close, or its last set.
        done = (closed if b"connevents" in streams
                else re.compile(rb"type=deleted key=last ") if b"deletions" in streams
                else re.compile(rb"type=item_get key=last status=found ")
                if b"fetchers" in streams or not streams
                else re.compile(rb"type=item_store key=last "))
        lines = early + read_until(w, lambda d: done.search(early + d) is not None,
                                   timeout=2 * SLOW)
        w.close()
    finally:
        server.stop()
    # Only the traffic's connection: the harness's probe of the port may
    # close after the watcher came.
    lines = b"".join(l for l in lines.splitlines(True)
                     if b"type=conn_" not in l or b" rport=%d " % port in l)
    for pattern, repl in WATCH_VARIES:
        lines = re.sub(pattern, repl, lines)
    return first, lines


class WatchTest(unittest.TestCase):
    """`watch` streams, against memcached 1.6.18 for the streams it has."""

    def test_watch_lines_match_memcached(self):
        for streams in (b"fetchers mutations connevents", b"mutations", b""):
            with self.subTest(streams=streams):
                want = watched(MEMCACHED_BIN, streams if streams else b"")
                got = watched(MCD_BIN, streams if streams else b"")
                self.assertEqual(got[0], b"OK\r\n")
                self.assertEqual(got, want, "\nmemcached:\n%s\nmcd:\n%s" % (
                    want[1].decode(), got[1].decode()))

    def test_deletions_as_memcached_1_6_20(self):
        """memcached 1.6.18 refuses `watch deletions`; 1.6.20's format."""
        first, lines = watched(MCD_BIN, b"deletions")
        self.assertEqual(first, b"OK\r\n")
        self.assertEqual(lines, b"ts=<ts> gid=<gid> type=deleted key=foo cmd=delete clsid=<cls> "
                                b"size=5\n"
                                b"ts=<ts> gid=<gid> type=deleted key=zz cmd=md clsid=<cls> size=2\n"
                                b"ts=<ts> gid=<gid> type=deleted key=last cmd=delete clsid=<cls> "
                                b"size=1\n")

    def test_evictions_in_memcacheds_format(self):
        server = Server(MCD_BIN, ("-m", "4", "-o", "slab_automove=0"))
        self.addCleanup(server.stop)
        w = server.connect()
        self.assertEqual(request(w, b"watch evictions\r\n", end=b"\r\n"), b"OK\r\n")
        c = server.connect()
        value = b"e" * 1000
        request(c, b"".join(b"set e%d 0 0 1000 noreply\r\n%s\r\n" % (i, value)
                            for i in range(8000)) + b"mn\r\n", end=b"MN\r\n", timeout=30)
        c.close()
        lines = read_until(w, lambda d: d.count(b"\n") >= 10, timeout=5).splitlines()
        self.assertGreaterEqual(len(lines), 10)
        for line in lines[:10]:
            self.assertRegex(line, rb"^ts=\d+\.\d+ gid=\d+ type=eviction key=e\d+ fetch=no "
                                   rb"ttl=-1 la=\d+ clsid=\d+ size=1000$")

    def test_no_watcher_no_lines_and_w_refuses(self):
        server = Server(MCD_BIN, BASE + ("-W",))
        self.addCleanup(server.stop)
        w = server.connect()
        self.assertEqual(request(w, b"watch\r\n", end=b"\r\n"),
                         b"CLIENT_ERROR watch commands not allowed\r\n")

    def test_a_watcher_that_leaves_is_forgotten(self):
        server = Server(MCD_BIN, BASE)
        self.addCleanup(server.stop)
        for _ in range(25):     # more than the 20 watchers memcached allows at once
            w = server.connect()
            self.assertEqual(request(w, b"watch\r\n", end=b"\r\n"), b"OK\r\n")
            w.close()
            time.sleep(0.12)    # the watchers' thread notices within 100 ms
        w = server.connect()
        self.assertEqual(request(w, b"watch fetchers\r\n", end=b"\r\n"), b"OK\r\n")
        c = server.connect()
        request(c, b"get x\r\n")
        self.assertIn(b"type=item_get key=x status=not_found",
                      read_until(w, lambda d: d.endswith(b"\n"), timeout=2))


if __name__ == "__main__":
    unittest.main()
