"""Warm restart (-e FILE): a graceful stop saves the cache, the next start
with the same settings loads it back before serving -- keys, values, flags,
CAS uniques and what is left of each TTL -- and a file that does not check
out (truncated, corrupted, other -m, other build, left by a crash) is
refused, logged, and mcd starts empty and serving.

Twice: with the file on a disk (the items streamed out at the stop and in
at the start, persist.c), and on tmpfs (/dev/shm: the cache's pages live in
the file, as memcached keeps them, persist_map.c)."""
import os
import pwd
import random
import resource
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import HOST, MCD_BIN, SLOW, Server, free_port, read_until, request

MEM = ("-m", "256")


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), as storage/persist_format.c computes it."""
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


crc32c.table = None


def make_items(n, seed=10, large_every=1000, short_ttl=True):
    """n items of mixed sizes (1 B up to 500 KB), flags and TTLs: every
    tenth expires within a second, three in ten live 3000 s, the rest never
    expire."""
    rnd = random.Random(seed)
    items = []
    for i in range(n):
        if i % large_every == large_every - 1:
            size = rnd.randint(10_000, 500_000)
        else:
            size = min(int(rnd.expovariate(1 / 300)) + 1, 5000)
        value = rnd.randbytes(min(size, 64)) * (size // 64 + 1)
        ttl = 1 if i % 10 == 0 and short_ttl else 3000 if i % 10 in (1, 2, 3) else 0
        items.append((b"k%06d" % i, rnd.getrandbits(32), ttl, value[:size]))
    return items


def fill(server, items):
    s = server.connect(timeout=30)
    batch = []
    for i, (key, flags, ttl, value) in enumerate(items):
        batch.append(b"set %s %d %d %d noreply\r\n%s\r\n" % (key, flags, ttl, len(value), value))
        if len(batch) == 500 or i == len(items) - 1:
            batch.append(b"mn\r\n")
            reply = request(s, b"".join(batch), end=b"MN\r\n", timeout=60)
            assert reply.endswith(b"MN\r\n"), reply[-200:]
            batch = []
    s.close()


VALUE_RE = re.compile(rb"VALUE (\S+) (\d+) (\d+) (\d+)\r\n")


def gets_all(server, keys):
    """{key: (flags, cas, value)} for the keys found."""
    s = server.connect(timeout=30)
    found = {}
    for i in range(0, len(keys), 100):
        data = request(s, b"gets " + b" ".join(keys[i:i + 100]) + b"\r\n", timeout=60)
        pos = 0
        while True:
            m = VALUE_RE.match(data, pos)
            if m is None:
                assert data[pos:] == b"END\r\n", data[pos:pos + 100]
                break
            n = int(m.group(3))
            start = m.end()
            found[m.group(1)] = (int(m.group(2)), int(m.group(4)), data[start:start + n])
            pos = start + n + 2
    s.close()
    return found


def ttls(server, keys):
    """{key: remaining TTL} by meta get's t flag (-1: never expires)."""
    s = server.connect(timeout=30)
    out = {}
    for i in range(0, len(keys), 200):
        chunk = keys[i:i + 200]
        data = request(s, b"".join(b"mg %s t k\r\n" % k for k in chunk) + b"mn\r\n",
                       end=b"MN\r\n", timeout=60)
        for m in re.finditer(rb"HD t(-?\d+) k(\S+)\r\n", data):
            out[m.group(2)] = int(m.group(1))
    s.close()
    return out


def stat(server, name):
    s = server.connect()
    data = request(s, b"stats\r\n")
    s.close()
    m = re.search(rb"STAT " + name.encode() + rb" (\d+)\r\n", data)
    return int(m.group(1))


def works(test, server):
    """A set and a get on a fresh connection."""
    s = server.connect()
    test.assertEqual(request(s, b"set fresh 0 0 2\r\nok\r\n", end=b"\r\n"), b"STORED\r\n")
    test.assertEqual(request(s, b"get fresh\r\n"), b"VALUE fresh 0 2\r\nok\r\nEND\r\n")
    s.close()


class WarmRestartTest(unittest.TestCase):
    """-e on a disk (the test directory's filesystem is not tmpfs)."""
    TMP = None
    FLIP_WHY = b"block checksum"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mcd-warm-", dir=self.TMP)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "cache")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, *extra, args=MEM):
        server = Server(MCD_BIN, args + ("-v", "-e", self.path) + extra)
        self.addCleanup(server.stop)
        return server

    def stop(self, server, sig=signal.SIGTERM):
        server.proc.send_signal(sig)
        server.proc.wait(timeout=60 * SLOW)
        log = server.stderr()
        server.stop()
        self.assertEqual(server.proc.returncode, 0 if sig != signal.SIGKILL else -9, log)
        return log

    def test_items_come_back_with_flags_cas_and_ttl(self):
        items = make_items(100_000)
        server = self.start()
        set_at = time.monotonic()       # the first TTL starts counting here
        fill(server, items)
        keys = [k for k, _, _, _ in items]
        before = gets_all(server, keys)
        self.assertGreater(len(before), 85_000)
        log = self.stop(server)
        self.assertIn(b"warm restart: saved", log)
        self.assertTrue(os.path.exists(self.path))
        time.sleep(1.5)     # the one-second TTLs run out

        server = self.start()
        self.assertFalse(os.path.exists(self.path), "a loaded file is removed")
        after = gets_all(server, keys)
        elapsed = time.monotonic() - set_at
        expected = {k: v for k, v in before.items() if int(k[1:]) % 10 != 0}
        self.assertEqual(len(after), len(expected))
        for key, want in expected.items():
            self.assertEqual(after.get(key), want, key)
        for key, _, ttl, _ in items:
            if ttl == 1:
                self.assertNotIn(key, after)
        left = ttls(server, [k for k, _, ttl, _ in items if ttl != 1 and k in after])
        for key, _, ttl, _ in items:
            if key not in after:
                continue
            if ttl == 0:
                self.assertEqual(left[key], -1, key)
            else:
                self.assertLessEqual(left[key], 3000, key)
                self.assertGreaterEqual(left[key], 3000 - elapsed - 2, key)
        # New uniques continue above every restored one.
        s = server.connect()
        request(s, b"set newkey 0 0 1\r\nx\r\n", end=b"\r\n")
        cas = int(request(s, b"gets newkey\r\n").split()[4])
        self.assertGreater(cas, max(c for _, c, _ in after.values()))
        s.close()
        self.assertIn(b"warm restart: restored %d items" % len(after), self.stop(server))

    def save_small(self, n=2000, args=MEM):
        server = self.start(args=args)
        fill(server, make_items(n, large_every=500, short_ttl=False))
        self.stop(server)
        with open(self.path, "rb") as f:
            return f.read()

    def refused(self, data, why, args=MEM):
        with open(self.path, "wb") as f:
            f.write(data)
        server = self.start(args=args)
        works(self, server)
        self.assertEqual(stat(server, "curr_items"), 1)
        log = self.stop(server)
        self.assertRegex(log, rb"warm restart: refusing [^\n]*" + why)
        self.assertIn(b"starting with an empty cache", log)

    def nothing_loaded(self, data, key):
        """Start on `data` as the file: nothing of it is stored, not even for a
        while (`key` misses), and the server serves; the server."""
        with open(self.path, "wb") as f:
            f.write(data)
        server = self.start()
        self.assertEqual(stat(server, "curr_items"), 0)
        self.assertEqual(stat(server, "total_items"), 0)
        s = server.connect()
        self.assertEqual(request(s, b"get " + key + b"\r\n"), b"END\r\n")
        s.close()
        works(self, server)
        return server

    def test_truncated_file_refused(self):
        data = self.save_small()
        self.refused(data[:len(data) // 2], b"truncated")
        self.refused(data[:100], b"")

    def flip_at(self, data):
        """A byte of the saved file that an item's bytes fill."""
        return len(data) // 2

    def test_bit_flip_refused(self):
        data = bytearray(self.save_small())
        data[self.flip_at(data)] ^= 0x10
        self.refused(bytes(data), self.FLIP_WHY)

    def test_bad_last_block_leaves_nothing_loaded(self):
        """Blocks are checked and stored one by one, on every core: a bad
        block found last, after the others were stored, empties the cache
        again."""
        data = bytearray(self.save_small())
        trailer = len(data) - 56
        self.assertGreaterEqual(struct.unpack_from("<Q", data, trailer + 16)[0], 3)
        nkey = data[128 + 16]           # the first record of the first block
        first_key = bytes(data[128 + 16 + 32:128 + 16 + 32 + nkey])
        data[trailer - 1] ^= 0x10       # the last byte of the last block
        server = self.nothing_loaded(data, first_key)
        log = self.stop(server)
        self.assertRegex(log, rb"warm restart: refusing [^\n]*block checksum")
        self.assertIn(b"starting with an empty cache", log)

    def test_other_memory_limit_refused(self):
        data = self.save_small()
        self.refused(data, b"-m 268435456 bytes, this is 134217728", args=("-m", "128"))

    def test_other_item_size_refused(self):
        data = self.save_small()
        self.refused(data, b"-I", args=MEM + ("-I", "2m"))

    def test_other_build_refused(self):
        data = bytearray(self.save_small())
        data[16:64] = b"mcd 0.0 build 00000000".ljust(48, b"\0")
        data[124:128] = struct.pack("<I", crc32c(bytes(data[:124])))
        self.refused(bytes(data), b"build \"mcd 0.0 build 00000000\"")

    def test_crash_never_brings_back_an_old_copy(self):
        self.save_small(200)
        server = self.start()
        self.assertEqual(stat(server, "curr_items"), 200)
        s = server.connect()
        request(s, b"set k000001 0 0 3\r\nnew\r\n", end=b"\r\n")
        s.close()
        self.stop(server, signal.SIGKILL)      # a crash: nothing saved
        server = self.start()
        self.assertEqual(stat(server, "curr_items"), 0)
        self.assertIn(b"no %s" % self.path.encode(), self.stop(server))

    def test_sigusr1_saves_like_memcached_graceful_stop(self):
        server = self.start()
        fill(server, make_items(100, large_every=1000, short_ttl=False))
        self.stop(server, signal.SIGUSR1)
        server = self.start()
        self.assertEqual(stat(server, "curr_items"), 100)

    def test_as_nobody_after_dropping_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to nobody with -u (running as uid %d)"
                          % os.geteuid())
        nobody = pwd.getpwnam("nobody")
        os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        server = self.start("-u", "nobody")
        fill(server, make_items(300, large_every=100, short_ttl=False))
        self.stop(server)
        self.assertEqual(os.stat(self.path).st_uid, nobody.pw_uid)
        server = self.start("-u", "nobody")
        self.assertEqual(stat(server, "curr_items"), 300)

    def test_as_a_non_root_user(self):
        if os.geteuid() != 0:
            # The whole suite already runs unprivileged: the other tests are this one.
            self.skipTest("already not root (uid %d): covered by the other tests"
                          % os.geteuid())
        nobody = pwd.getpwnam("nobody")
        os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        for n in (1, 2):
            port = free_port()
            cmd = ["setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                   "--clear-groups", MCD_BIN, "-l", HOST, "-p", str(port), "-U", "0",
                   "-e", self.path] + list(MEM)
            with tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
                try:
                    s = connect_when_up(proc, port)
                    if n == 1:
                        s.sendall(b"set a 7 0 3\r\nabc\r\n")
                        self.assertEqual(read_until(s, lambda d: d.endswith(b"\r\n")),
                                         b"STORED\r\n")
                    else:
                        self.assertEqual(request(s, b"get a\r\n"),
                                         b"VALUE a 7 3\r\nabc\r\nEND\r\n")
                    s.close()
                finally:
                    proc.terminate()
                    proc.wait(timeout=30 * SLOW)
                err.seek(0)
                log = err.read()
            self.assertEqual(proc.returncode, 0, log)
            self.assertNotIn(b"Sanitizer", log)


@unittest.skipUnless(os.path.isdir("/dev/shm"), "no /dev/shm")
class WarmRestartTmpfsTest(WarmRestartTest):
    """-e on tmpfs: the same tests, and what is particular to a file the
    cache's pages live in."""
    TMP = "/dev/shm"
    FLIP_WHY = b"a page fails its checksum"

    def flip_at(self, data):
        # The head is 4096 bytes, a page's header 64: this is in the first
        # page's first chunks, which the 2000 items fill.
        return 4096 + 64 + 100

    def test_bad_last_block_leaves_nothing_loaded(self):
        """Every page is checked before any is taken in: a bad last page
        leaves nothing loaded."""
        data = bytearray(self.save_small())
        extent = struct.unpack_from("<Q", data, 128 + 24)[0]     # struct map_head
        self.assertGreaterEqual(extent, 3)
        data[4096 + (extent - 1) * 1024 * 1024 + 64 + 20] ^= 0x10
        server = self.nothing_loaded(data, b"k000000")
        log = self.stop(server)
        self.assertRegex(log, rb"warm restart: refusing [^\n]*a page fails its checksum")

    def test_the_pages_live_in_the_file_while_serving(self):
        self.save_small(500)
        server = self.start()
        self.assertEqual(stat(server, "curr_items"), 500)
        live = self.path + ".live"
        self.assertTrue(os.path.exists(live))
        self.assertFalse(os.path.exists(self.path))
        # The items are in the file's pages: its blocks are allocated.
        self.assertGreater(os.stat(live).st_blocks * 512, 500 * 300)
        log = self.stop(server)
        self.assertIn(b"the cache's pages live in", log)
        self.assertFalse(os.path.exists(live))
        self.assertTrue(os.path.exists(self.path))

    def run_mcd(self, args, limit_as=None):
        """mcd with -e self.path under an address-space limit: (proc, port, log file)."""
        port = free_port()
        err = tempfile.TemporaryFile()
        self.addCleanup(err.close)

        def limit():
            if limit_as:
                resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
        cmd = [MCD_BIN, "-l", HOST, "-p", str(port), "-U", "0", "-v", "-e", self.path] + args
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                preexec_fn=limit)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc, port, err

    def stop_proc(self, proc, err):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60 * SLOW)
        err.seek(0)
        log = err.read()
        self.assertEqual(proc.returncode, 0, log)
        return log

    @unittest.skipIf(os.environ.get("MCD_SANITIZER"), "a sanitizer's shadow memory needs "
                     "more address space than the limit leaves")
    def test_a_start_that_cannot_map_keeps_the_file_for_the_stream_path(self):
        args = ["-m", "4096"]
        limit = 3 << 30                 # the 4 GB mapping cannot be reserved
        for phase in ("fill", "stream load", "mapped load"):
            proc, port, err = self.run_mcd(args, limit if phase != "mapped load" else None)
            s = connect_when_up(proc, port)
            if phase == "fill":
                s.sendall(b"".join(b"set k%d 0 0 100 noreply\r\n%s\r\n" % (i, b"v" * 100)
                                   for i in range(1000)) + b"mn\r\n")
                read_until(s, lambda d: d.endswith(b"MN\r\n"), timeout=30)
            s.close()
            class Port:     # what stat() needs of a server
                def connect(_, timeout=5.0):
                    return socket.create_connection((HOST, port), timeout=timeout * SLOW)
            self.assertEqual(stat(Port(), "curr_items"), 1000, phase)
            log = self.stop_proc(proc, err)
            if phase != "mapped load":
                self.assertIn(b"cannot reserve", log)
            else:
                self.assertIn(b"the cache's pages live in", log)
            self.assertTrue(os.path.exists(self.path), phase)

    @unittest.skipUnless(shutil.which("unshare") and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True).returncode == 0,
        "no mount namespace for a small tmpfs")
    def test_a_full_tmpfs_takes_pages_from_memory_instead(self):
        # An 8 MB tmpfs under -m 64: a sparse FILE.live page written when the
        # tmpfs is full would raise SIGBUS; mcd takes those pages from
        # memory instead and serves on.  The stop would stream their items
        # to the same full tmpfs: it cannot, and says so.
        port = free_port()
        script = ('mount -t tmpfs -o size=8m tmpfs "$1" && exec "$2" -l 127.0.0.1 -p "$3" '
                  '-U 0 -m 64 -u root -v -e "$1/cache"')
        err = tempfile.TemporaryFile()
        self.addCleanup(err.close)
        proc = subprocess.Popen(["unshare", "-rm", "sh", "-c", script, "sh", self.dir, MCD_BIN,
                                 str(port)], stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        s = connect_when_up(proc, port)
        value = b"x" * 1000
        for base in range(0, 30000, 1000):
            s.sendall(b"".join(b"set k%d 0 0 1000 noreply\r\n%s\r\n" % (i, value)
                               for i in range(base, base + 1000)) + b"mn\r\n")
            read_until(s, lambda d: d.endswith(b"MN\r\n"), timeout=30 * SLOW)
        data = request(s, b"get k0\r\nget k29999\r\n", end=b"END\r\nEND\r\n")
        self.assertEqual(data.count(b"VALUE"), 2, data[:200])
        s.close()
        self.assertIsNone(proc.poll(), "mcd died")
        log = self.stop_proc(proc, err)
        self.assertIn(b"the cache's pages live in", log)
        self.assertIn(b"cannot save the cache to %s: No space left on device"
                      % self.path.encode(), log)

        data = self.save_small(2000)       # large_every=500: 4 large items in FILE.large
        large = self.path + ".large"
        with open(large, "r+b") as f:
            f.seek(200)
            b = f.read(1)
            f.seek(200)
            f.write(bytes([b[0] ^ 0x01]))
        # Refused whole: the 1996 items the pages held are gone too.
        self.refused(data, b"its \\.large: ")


def connect_when_up(proc, port):
    deadline = time.monotonic() + 5 * SLOW
    while True:
        try:
            return socket.create_connection((HOST, port), timeout=5 * SLOW)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mcd did not start (exit status %s)" % proc.poll())
            time.sleep(0.01)


if __name__ == "__main__":
    unittest.main()
