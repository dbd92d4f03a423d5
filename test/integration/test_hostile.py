"""Inputs a hostile client sends: each must leave the server up, serving
everyone else, with what it stored intact."""
import os
import re
import resource
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HOST, MCD_BIN, SLOW, Server, free_port, read_until, request, user_args

VALUE = b"x" * 1000


def set_value(sock, key=b"k", value=VALUE):
    sock.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
    assert read_until(sock, lambda d: d.endswith(b"\r\n")) == b"STORED\r\n"


def read_exactly(sock, n, timeout=60):
    """n bytes, or fewer if the server stops sending for `timeout` seconds."""
    buf = bytearray()
    sock.settimeout(timeout * SLOW)
    try:
        while len(buf) < n:
            chunk = sock.recv(min(1 << 20, n - len(buf)))
            if not chunk:
                break
            buf += chunk
    except socket.timeout:
        pass
    return bytes(buf)


def get_reply(key, value, n):
    return (b"VALUE %s 0 %d\r\n%s\r\n" % (key, len(value), value)) * n + b"END\r\n"


class ReferenceCountTest(unittest.TestCase):
    """Every hit on a value too large to copy holds a reference to its item
    until the reply is sent; no number of them may wrap the item's count."""

    def setUp(self):
        self.server = Server(args=["-t", "2"])
        self.addCleanup(self.server.stop)

    def check_still_serving(self):
        s = self.server.connect()
        # Items of the same size take the memory a wrongly freed item left.
        for i in range(50):
            set_value(s, b"same-size-%d" % i, b"%04d" % i * 250)
        self.assertEqual(request(s, b"get k\r\n"), get_reply(b"k", VALUE, 1))
        set_value(s, b"other", b"fine")
        self.assertEqual(request(s, b"get other\r\n"), get_reply(b"other", b"fine", 1))
        self.assertEqual(request(s, b"flush_all\r\n", b"\r\n"), b"OK\r\n")
        self.assertEqual(request(s, b"get k other\r\n"), b"END\r\n")
        s.close()
        self.assertTrue(self.server.alive())

    def test_one_get_of_65536_copies_of_a_key_serves_them_all(self):
        s = self.server.connect(timeout=30)
        set_value(s)
        n = 65536
        want = get_reply(b"k", VALUE, n)
        s.sendall(b"get" + b" k" * n + b"\r\n")
        got = read_exactly(s, len(want))
        self.assertEqual(got, want)
        s.close()
        self.check_still_serving()

    def test_three_slow_readers_together_pass_the_counts_range(self):
        setter = self.server.connect()
        set_value(setter)
        n = 25000
        readers = []
        for _ in range(3):
            r = self.server.connect(timeout=30)
            r.sendall(b"get" + b" k" * n + b"\r\n")
            readers.append(r)
        time.sleep(0.5 * SLOW)          # every reply built, none read
        want = get_reply(b"k", VALUE, n)
        for r in readers:
            got = read_exactly(r, len(want))
            self.assertEqual(got, want)
            r.close()
        setter.close()
        self.check_still_serving()


def rss_mb(pid):
    """The process's resident memory (VmRSS), in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS for %d" % pid)


class LongReplyTest(unittest.TestCase):
    """One request can ask for a reply hundreds of times its size: a line of
    `get a a a ...` (2 MB of it names a million keys).  The reply is built
    as it is sent, in memcached's order and bytes, so a client that does
    not read holds a bounded amount of our memory."""

    KEYS = 200000
    VALUE = b"v" * 500
    # Two clients' 200,000-key gets ask for 2 x 103 MB; the server may keep
    # a read buffer, a bounded reply and its allocator's slack for each.
    RSS_GROWTH_MB = 40

    def setUp(self):
        self.server = Server(args=["-t", "2"])
        self.addCleanup(self.server.stop)
        s = self.server.connect()
        set_value(s, b"a", self.VALUE)
        s.close()

    def want(self, n):
        return b"VALUE a 0 500\r\n%s\r\n" % self.VALUE * n + b"END\r\n"

    def test_clients_that_never_read_do_not_grow_memory(self):
        before = rss_mb(self.server.proc.pid)
        readers = []
        for _ in range(2):
            r = self.server.connect(timeout=60)
            r.sendall(b"get" + b" a" * self.KEYS + b"\r\n")
            readers.append(r)
        time.sleep(1.5 * SLOW)
        grown = rss_mb(self.server.proc.pid) - before
        self.assertLess(grown, self.RSS_GROWTH_MB, "RSS grew by %.0f MB" % grown)
        # Others are served meanwhile, and each reply arrives whole.
        s = self.server.connect()
        set_value(s, b"b", b"1")
        s.close()
        want = self.want(self.KEYS)
        for r in readers:
            self.assertEqual(read_exactly(r, len(want)), want)
            r.close()

    def test_reply_is_whole_under_an_address_space_limit(self):
        # The reproduction: under `ulimit -v` the reply could not grow and
        # hits went missing before a normal END.  Sanitizers reserve far
        # more address space than any limit leaves.
        if os.environ.get("MCD_SANITIZER"):
            self.skipTest("sanitizer builds cannot run under an address space limit")
        with open("/proc/%d/status" % self.server.proc.pid) as f:
            vm = next(int(l.split()[1]) for l in f if l.startswith("VmSize:")) * 1024
        limit = vm + 64 * 1024 * 1024
        resource.prlimit(self.server.proc.pid, resource.RLIMIT_AS, (limit, limit))
        r = self.server.connect(timeout=60)
        r.sendall(b"get" + b" a" * self.KEYS + b"\r\n")
        want = self.want(self.KEYS)
        got = read_exactly(r, len(want))
        self.assertEqual(got.count(b"VALUE"), self.KEYS)
        self.assertEqual(got, want)
        r.close()


def read_ends(sock, n, timeout=60):
    """Read until n replies ending in END\r\n are in (counted as they come)."""
    chunks, ends, tail = [], 0, b""
    sock.settimeout(timeout * SLOW)
    while ends < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
        ends += (tail + chunk).count(b"END\r\n") - tail.count(b"END\r\n")
        tail = chunk[-4:]
    return b"".join(chunks)


class IdleConnectionMemoryTest(unittest.TestCase):
    """Connections read into their worker's buffer and keep one of their
    own only while a request is half in; a reply buffer a long reply grew
    is given back once written.  Hundreds of clients that each sent a
    request in two parts and read a 12 KB reply, then went quiet, must not
    each keep the 16 KB read buffer and the reply's buffer (23 KB a
    connection before; memcached keeps 17 KB)."""

    CONNS = 400

    def test_idle_connections_keep_no_big_buffers(self):
        if os.environ.get("MCD_SANITIZER"):
            self.skipTest("sanitizers' shadow memory makes RSS meaningless")
        server = Server(args=["-t", "2"])
        self.addCleanup(server.stop)
        s = server.connect()
        keys = [b"key%03d" % i for i in range(100)]
        for k in keys:
            set_value(s, k, b"v" * 100)
        want = b"".join(b"VALUE %s 0 100\r\n%s\r\n" % (k, b"v" * 100) for k in keys) + b"END\r\n"
        before = rss_mb(server.proc.pid)
        socks = []
        for _ in range(self.CONNS):
            c = server.connect(timeout=30)
            self.addCleanup(c.close)
            c.sendall(b"get " + b" ".join(keys))    # half a request: held
            socks.append(c)
        # Each half request sits in a buffer of its connection's own, beside
        # the two workers' (memcached's read_buf_count counts the same).
        deadline = time.monotonic() + 5 * SLOW
        while int(stats(s)[b"read_buf_count"]) != 2 + self.CONNS and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(int(stats(s)[b"read_buf_count"]), 2 + self.CONNS)
        for c in socks:
            c.sendall(b"\r\n")
        for c in socks:
            self.assertEqual(read_exactly(c, len(want)), want)
        time.sleep(0.3)
        self.assertEqual(stats(s)[b"read_buf_count"], b"2")
        per_conn_kb = (rss_mb(server.proc.pid) - before) * 1024 / self.CONNS
        self.assertLess(per_conn_kb, 8, "%.1f KB per idle connection" % per_conn_kb)
        # And they still serve.
        for c in socks[:10]:
            self.assertEqual(request(c, b"get key000\r\n"),
                             b"VALUE key000 0 100\r\n%s\r\nEND\r\n" % (b"v" * 100))


class DumpTest(unittest.TestCase):
    """`stats cachedump` and `lru_crawler metadump` over a class of 300,000
    items: memcached caps cachedump at 2 MB; neither may hold up writers
    while it lists (the old cachedump held every LRU lock of the class for
    its whole, uncapped reply: a set waited 762 ms behind a million items)."""

    ITEMS = 300000
    LINE = len(b"ITEM key0000000 [10 b; 0 s]\r\n")

    @classmethod
    def setUpClass(cls):
        cls.server = Server(args=["-t", "2", "-m", "256"])
        s = cls.server.connect(timeout=60)
        for start in range(0, cls.ITEMS, 50000):
            s.sendall(b"".join(b"set key%07d 0 0 10 noreply\r\nvvvvvvvvvv\r\n" % i
                               for i in range(start, start + 50000)))
        items = request(s, b"stats items\r\n", timeout=60)
        s.close()
        cls.cls = int(re.search(rb"STAT items:(\d+):number %d\r" % cls.ITEMS, items).group(1))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_cachedump_stops_at_memcacheds_2_mb(self):
        s = self.server.connect(timeout=60)
        data = request(s, b"stats cachedump %d 0\r\n" % self.cls, timeout=60)
        s.close()
        self.assertTrue(data.endswith(b"END\r\n"))
        # memcached adds a line while it and "END\r\0" fit in 2 MB.
        self.assertEqual(data.count(b"\r\n") - 1, (2 * 1024 * 1024 - 6) // self.LINE)
        self.assertEqual(len(data), (2 * 1024 * 1024 - 6) // self.LINE * self.LINE + 5)

    def test_dumps_do_not_hold_up_writers(self):
        dumper = self.server.connect(timeout=60)
        writer = self.server.connect()
        for cmd in (b"stats cachedump %d 0\r\n" % self.cls, b"lru_crawler metadump all\r\n"):
            worst = 0.0
            dumper.sendall(cmd * 3)
            deadline = time.monotonic() + 0.5 * SLOW
            while time.monotonic() < deadline:
                t = time.monotonic()
                self.assertEqual(request(writer, b"set w 0 0 1\r\n1\r\n", b"\r\n"),
                                 b"STORED\r\n")
                worst = max(worst, time.monotonic() - t)
            self.assertLess(worst, 0.1 * SLOW, "a set waited %.0f ms behind %r"
                            % (worst * 1000, cmd.strip()))
            # Every dump arrives whole: three caps, three full metadumps.
            got = read_ends(dumper, 3)
            self.assertEqual(got.count(b"END\r\n"), 3)
            if cmd.startswith(b"lru"):
                lines = got.split(b"\n")
                self.assertEqual(sum(1 for l in lines if l.startswith(b"key=key")),
                                 3 * self.ITEMS)
        dumper.close()
        writer.close()


def cpu_seconds(pid):
    """User + system CPU time the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def stats(sock):
    data = request(sock, b"stats\r\n")
    return dict(line.split(b" ")[1:3] for line in data.split(b"\r\n") if line.startswith(b"STAT "))


def nofile_limit(soft, hard):
    """A preexec_fn: the child starts with this open-files limit (ulimit -n)."""
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class DescriptorLimitTest(unittest.TestCase):
    """-c connections must fit beside the descriptors mcd itself holds
    (32 workers with -U hold ~100); when accept() still runs out, the
    acceptor pauses instead of spinning, and resumes once one closes."""

    ARGS = ["-t", "32", "-c", "150"]

    def start(self, soft, hard, args):
        """mcd under `ulimit -n` soft/hard, its output in a file; (proc, log)."""
        port = free_port()
        log = tempfile.TemporaryFile()
        self.addCleanup(log.close)
        cmd = [MCD_BIN, "-l", HOST, "-p", str(port), "-U", str(port), "-v"] + user_args() + args
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                preexec_fn=nofile_limit(soft, hard))
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        deadline = time.monotonic() + 5 * SLOW
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        proc.port = port
        return proc, log

    def output(self, log):
        log.seek(0)
        return log.read().decode(errors="replace")

    def connect(self, port, n):
        socks = []
        for _ in range(n):
            s = socket.create_connection((HOST, port), timeout=5 * SLOW)
            self.addCleanup(s.close)
            socks.append(s)
        return socks

    def quiet(self, port):
        """A connection, once the server counts no other (start()'s probe
        is counted until its worker has seen it close)."""
        s = self.connect(port, 1)[0]
        deadline = time.monotonic() + 5 * SLOW
        while stats(s)[b"curr_connections"] != b"1" and time.monotonic() < deadline:
            time.sleep(0.02)
        return s

    def test_soft_limit_is_raised_for_every_connection_and_the_next_is_refused(self):
        proc, log = self.start(200, 4096, self.ARGS)
        socks = [self.quiet(proc.port)] + self.connect(proc.port, 149)
        for s in socks[-10:]:
            self.assertEqual(request(s, b"version\r\n", b"\r\n")[:8], b"VERSION ")
        extra = self.connect(proc.port, 1)[0]
        self.assertEqual(read_until(extra, lambda d: d.endswith(b"\r\n")),
                         b"ERROR Too many open connections\r\n")
        before = cpu_seconds(proc.pid)
        time.sleep(1)
        self.assertLess(cpu_seconds(proc.pid) - before, 0.2, "an idle mcd burns CPU")
        self.assertNotIn("accept()", self.output(log))

    def test_refuses_to_start_when_the_hard_limit_is_too_low(self):
        # 130 connections beside ~100 descriptors do not fit under 200.
        proc, log = self.start(200, 200, ["-t", "32", "-c", "130"])
        try:
            status = proc.wait(5 * SLOW)
        except subprocess.TimeoutExpired:
            self.fail("mcd started with too few descriptors")
        self.assertNotEqual(status, 0)
        self.assertIn("not enough file descriptors", self.output(log))

    def test_out_of_descriptors_pauses_accepting_until_one_closes(self):
        proc, log = self.start(4096, 4096, ["-t", "2", "-c", "1024"])
        admin = self.quiet(proc.port)       # start()'s probe closed: `held` is exact
        request(admin, b"version\r\n", b"\r\n")
        held = open_fds(proc.pid)
        # Room for five more: the sixth accept() fails with EMFILE.
        resource.prlimit(proc.pid, resource.RLIMIT_NOFILE, (held + 5, 4096))
        first = self.connect(proc.port, 5)
        for s in first:
            self.assertEqual(request(s, b"version\r\n", b"\r\n")[:8], b"VERSION ")
        # The sixth waits in the backlog; once paused, the backlog is cut
        # (as memcached does) and a seventh waits in connect().
        waiting = self.connect(proc.port, 1)
        time.sleep(0.3 * SLOW)
        late = []
        t = threading.Thread(target=lambda: late.append(
            socket.create_connection((HOST, proc.port), timeout=10 * SLOW)))
        t.start()
        before = cpu_seconds(proc.pid)
        time.sleep(1)
        self.assertLess(cpu_seconds(proc.pid) - before, 0.2, "the acceptor spins on EMFILE")
        st = stats(admin)
        self.assertEqual((st[b"accepting_conns"], st[b"listen_disabled_num"]), (b"0", b"1"))
        for s in first[:3]:
            s.close()
        t.join()
        self.addCleanup(late[0].close)
        for s in waiting + late:
            self.assertEqual(request(s, b"version\r\n", b"\r\n")[:8], b"VERSION ")
        st = stats(admin)
        self.assertEqual(st[b"accepting_conns"], b"1")
        self.assertGreater(int(st[b"time_in_listen_disabled_us"]), 500000)
        out = self.output(log)
        self.assertEqual(out.count("Too many open connections"), 1, out[-2000:])


if __name__ == "__main__":
    unittest.main()
