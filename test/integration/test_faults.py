"""The fault table of test/README.md, one test per row: a bad input or a
fault, the reply expected (memcached's, where the row is differential), and
then the check that everything the server acknowledged before is still
there and that it serves the next client.

Witnesses: each test stores WITNESSES items first (every one answered
STORED) and reads them all back at the end.
"""
import os
import random
import resource
import socket
import struct
import threading
import time
import unittest

from harness import HOST, SLOW, DiffMixin, Server, exchange, read_until, request

WITNESSES = {b"witness:%d" % i: b"acknowledged-%d-" % i * 8 for i in range(64)}
STORE_WITNESSES = b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(v), v)
                           for k, v in WITNESSES.items())


def store_witnesses(server):
    s = server.connect()
    assert request(s, STORE_WITNESSES, b"STORED\r\n" * len(WITNESSES)) == \
        b"STORED\r\n" * len(WITNESSES)
    s.close()


def assert_witnesses(test, server):
    """Every witness is there, and the server serves a new client."""
    test.assertTrue(server.alive(), "the server died")
    s = server.connect()
    got = request(s, b"get " + b" ".join(WITNESSES) + b"\r\n")
    want = b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(v), v) for k, v in WITNESSES.items())
    test.assertEqual(got, want + b"END\r\n")
    s.close()


def bin_req(op, key=b"", extras=b"", value=b"", bodylen=None):
    body = len(extras) + len(key) + len(value) if bodylen is None else bodylen
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, 0,
                       0) + extras + key + value


def stats(sock):
    data = request(sock, b"stats\r\n")
    return dict(l.split(b" ")[1:3] for l in data.split(b"\r\n") if l.startswith(b"STAT "))


def kill(sock):
    """Close with a reset, as a killed process's socket is dropped."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


RNG = random.Random(20261130)
GARBAGE = bytes(RNG.randrange(256) for _ in range(4000))

# Differential rows: the same bytes to memcached and mcd, one connection each.
TEXT_ROWS = {
    "over_long_line": ([b"set k 0 0 1 " + b"x" * 3000], "close"),
    "over_long_get_line": ([b"get " + b"k " * 1100000], "close"),
    "data_longer_than_announced": ([b"set k 0 0 5\r\nhelloworld\r\n", b"get k\r\n"], "version"),
    "data_shorter_than_announced": ([b"set k 0 0 10\r\nhello\r\n", b"get k\r\n"], "version"),
    "negative_numbers": ([b"set k 0 0 -1\r\n", b"set k -1 0 1\r\nv\r\n", b"set k 0 -1 1\r\nv\r\n",
                          b"incr k -1\r\n", b"decr k -5\r\n", b"touch k -1\r\n",
                          b"gat -1 k\r\n", b"verbosity -1\r\n", b"get k\r\n"], "version"),
    "huge_numbers": ([b"set k 0 0 4294967296\r\n", b"set k 4294967296 0 1\r\nv\r\n",
                      b"set n 0 0 20\r\n18446744073709551615\r\n", b"incr n 1\r\n",
                      b"incr n 18446744073709551616\r\n", b"cas k 0 0 1 18446744073709551616\r\n",
                      b"set k 0 99999999999 1\r\nv\r\n", b"get n k\r\n"], "version"),
    "binary_garbage_on_a_text_connection": ([b"get k\r\n", GARBAGE], "close"),
    "meta_garbage": ([b"mg k v\r\n", b"ms k 2 " + GARBAGE[:300] + b"\r\nhi\r\n"], "close"),
}
BINARY_ROWS = {
    "text_on_a_binary_connection": ([bin_req(0x0a), b"get k\r\n"], "close"),
    "half_header_then_the_rest": ([bin_req(0x0a)[:12], bin_req(0x0a)[12:], bin_req(0x0b)],
                                  "quiet"),
    "body_shorter_than_bodylen": ([bin_req(0x01, b"k", struct.pack(">II", 0, 0), b"v",
                                           bodylen=100)], "quiet"),
    "body_over_the_item_limit": ([bin_req(0x01, b"k", struct.pack(">II", 0, 0), b"v",
                                          bodylen=2 << 20)], "quiet"),
    "key_longer_than_250": ([bin_req(0x00, b"k" * 300)], "close"),
}


class MalformedInputTest(DiffMixin, unittest.TestCase):
    def rows(self, rows, args):
        for name, (chunks, mode) in rows.items():
            with self.subTest(row=name):
                ref, mcd = self.pair(args)
                for server in (ref, mcd):
                    store_witnesses(server)
                want = exchange(ref, chunks, mode)
                got = exchange(mcd, chunks, mode)
                self.assertEqual(got, want, "row %s: memcached %r, mcd %r" % (name, want[:300],
                                                                              got[:300]))
                assert_witnesses(self, mcd)
                ref.terminate()

    def test_text_rows(self):
        self.rows(TEXT_ROWS, ["-t", "2"])

    def test_binary_rows(self):
        # Witnesses go in over text: -B auto, the first byte decides per connection.
        self.rows(BINARY_ROWS, ["-t", "2"])


class ConnectionFaultTest(unittest.TestCase):
    def setUp(self):
        self.server = Server(args=["-t", "2", "-m", "64"])
        self.addCleanup(self.server.stop)
        store_witnesses(self.server)

    def test_clients_killed_mid_value(self):
        for i in range(100):
            s = self.server.connect()
            s.sendall(b"set half%d 0 0 100000\r\n" % i + b"x" * (i * 500))
            kill(s)
        s = self.server.connect()
        self.assertEqual(request(s, b"get " + b" ".join(b"half%d" % i for i in range(100))
                                 + b"\r\n"), b"END\r\n")
        s.close()
        assert_witnesses(self, self.server)

    def test_clients_killed_mid_reply(self):
        s = self.server.connect()
        base = stats(s)[b"curr_connections"]
        big = b"b" * (512 * 1024)
        self.assertEqual(request(s, b"set big 0 0 %d\r\n%s\r\n" % (len(big), big), b"\r\n"),
                         b"STORED\r\n")
        for _ in range(20):
            r = self.server.connect()
            r.sendall(b"get" + b" big" * 100 + b"\r\n")      # 50 MB of reply
            r.recv(10000)
            kill(r)
        # Every killed client is closed: back to at most the count before (a
        # connection an earlier test left may close meanwhile).
        deadline = time.monotonic() + 10 * SLOW
        while int(stats(s)[b"curr_connections"]) > int(base) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(int(stats(s)[b"curr_connections"]), int(base))
        self.assertEqual(request(s, b"get big\r\n"),
                         b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (len(big), big))
        s.close()
        assert_witnesses(self, self.server)

    def test_clients_killed_mid_pipeline(self):
        for round_ in range(20):
            s = self.server.connect()
            n = 2000
            pipeline = b"".join(b"set p%d:%d 0 0 6\r\nv%05d\r\n" % (round_, i, i) for i in range(n))
            cut = len(pipeline) * (round_ + 1) // 22
            s.sendall(pipeline[:cut])
            # Read some acknowledgements, then die.
            acked = read_until(s, lambda d: d.count(b"STORED\r\n") >= 10).count(b"STORED\r\n")
            kill(s)
            c = self.server.connect()
            keys = [b"p%d:%d" % (round_, i) for i in range(acked)]
            got = request(c, b"get " + b" ".join(keys) + b"\r\n")
            self.assertEqual(got.count(b"VALUE "), acked, "round %d" % round_)
            c.close()
        assert_witnesses(self, self.server)

    def test_clients_that_never_read_flood_gets(self):
        s = self.server.connect()
        value = b"f" * (100 * 1024)
        request(s, b"set flood 0 0 %d\r\n%s\r\n" % (len(value), value), b"\r\n")
        floods = []
        for _ in range(10):
            f = self.server.connect()
            f.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            f.setblocking(False)
            try:
                for _ in range(200):
                    f.send(b"get flood\r\n" * 50)       # 1 GB asked for, never read
            except BlockingIOError:
                pass                                # the server stopped reading: good
            floods.append(f)
        # Others are served meanwhile, and the server holds a bounded amount.
        self.assertEqual(request(s, b"get flood\r\n"),
                         b"VALUE flood 0 %d\r\n%s\r\nEND\r\n" % (len(value), value))
        for f in floods:
            kill(f)
        s.close()
        assert_witnesses(self, self.server)


class MemoryFullTest(unittest.TestCase):
    def fill(self, server, n):
        s = server.connect()
        value = b"m" * 4000
        replies = []
        for start in range(0, n, 100):
            batch = b"".join(b"set fill%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)
                             for i in range(start, min(n, start + 100)))
            want = min(100, n - start)
            s.sendall(batch)
            data = read_until(s, lambda d: d.count(b"\r\n") >= want, timeout=30)
            replies.append(data.split(b"\r\n")[:-1])
        s.close()
        return [r for batch in replies for r in batch]

    def test_memory_full_with_M_refuses_and_keeps_everything(self):
        with Server(args=["-t", "2", "-m", "8", "-M"]) as server:
            store_witnesses(server)
            replies = self.fill(server, 4000)       # 16 MB into 8
            stored = [i for i, r in enumerate(replies) if r == b"STORED"]
            refused = [r for r in replies if r != b"STORED"]
            self.assertTrue(refused)
            self.assertEqual(set(refused), {b"SERVER_ERROR out of memory storing object"})
            s = server.connect()
            got = request(s, b"get " + b" ".join(b"fill%d" % i for i in stored) + b"\r\n",
                          timeout=30)
            self.assertEqual(got.count(b"VALUE "), len(stored))
            s.close()
            assert_witnesses(self, server)

    def test_memory_full_without_M_evicts_and_stores(self):
        with Server(args=["-t", "2", "-m", "8"]) as server:
            store_witnesses(server)     # small items: a class the fill does not evict from
            replies = self.fill(server, 4000)
            self.assertEqual(set(replies), {b"STORED"})
            s = server.connect()
            self.assertGreater(int(stats(s)[b"evictions"]), 0)
            got = request(s, b"get " + b" ".join(b"fill%d" % i for i in range(3900, 4000))
                          + b"\r\n")
            self.assertEqual(got.count(b"VALUE "), 100)     # the newest are there
            s.close()
            assert_witnesses(self, server)


class ConnectStormTest(unittest.TestCase):
    CONNECTS = 10000

    def test_ten_thousand_connects_against_c_1024(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 4096
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        with Server(args=["-t", "2", "-c", "1024"]) as server:
            store_witnesses(server)
            admin = server.connect()
            held, rejected, served = [], 0, 0
            for i in range(self.CONNECTS):
                try:
                    c = socket.create_connection((HOST, server.port), timeout=5 * SLOW)
                except OSError:
                    continue
                if len(held) < 1100:
                    held.append(c)
                else:
                    c.close()
                if i % 1000 == 999:     # the admin client is served throughout
                    self.assertEqual(request(admin, b"version\r\n", b"\r\n")[:8], b"VERSION ")
                    served += 1
            # Of those held, -c 1024 minus the admin's were accepted; the
            # rest were told so and closed.
            for c in held:
                c.setblocking(False)
            time.sleep(0.5 * SLOW)
            for c in held:
                try:
                    data = c.recv(100)
                except BlockingIOError:
                    continue
                if data == b"ERROR Too many open connections\r\n" or data == b"":
                    rejected += 1
            accepted = len(held) - rejected
            self.assertEqual(accepted, 1023, "%d accepted, %d rejected" % (accepted, rejected))
            st = stats(admin)
            self.assertEqual(st[b"curr_connections"], b"1024")
            self.assertGreaterEqual(int(st[b"rejected_connections"]), self.CONNECTS - 1023)
            for c in held:
                c.close()
            deadline = time.monotonic() + 10 * SLOW
            while stats(admin)[b"curr_connections"] != b"1" and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(stats(admin)[b"curr_connections"], b"1")
            admin.close()
            assert_witnesses(self, server)


class SlowlorisTest(unittest.TestCase):
    def test_one_byte_a_second_holds_no_worker(self):
        # One worker: 100 clients dribbling requests a byte at a time cannot
        # keep it from serving a normal client completely, in between.
        with Server(args=["-t", "1"]) as server:
            store_witnesses(server)
            line = b"set slow 0 0 1\r\nx\r\n"
            slow = [server.connect() for _ in range(100)]
            stop = threading.Event()
            sent = [0]

            def dribble():
                for pos in range(3):            # three bytes, one a second
                    for s in slow:
                        s.sendall(line[pos:pos + 1])
                    sent[0] = pos + 1
                    if stop.wait(1.0):
                        return

            t = threading.Thread(target=dribble)
            t.start()
            fast = server.connect()
            for i in range(200):
                self.assertEqual(request(fast, b"set f%d 0 0 1\r\nz\r\nget f%d\r\n" % (i, i)),
                                 b"STORED\r\nVALUE f%d 0 1\r\nz\r\nEND\r\n" % i)
            # All of that while no slow request was whole yet.
            self.assertLess(sent[0], len(line))
            stop.set()
            t.join()
            fast.close()
            for s in slow:
                s.close()
            assert_witnesses(self, server)

    def test_idle_timeout_closes_a_client_that_never_finishes_a_request(self):
        with Server(args=["-t", "1", "-o", "idle_timeout=2"]) as server:
            s = server.connect()
            closed = False
            deadline = time.monotonic() + 15 * SLOW
            s.settimeout(0.5)
            while time.monotonic() < deadline:
                try:
                    s.sendall(b"g")             # a byte a half-second, never a newline
                    if s.recv(100) == b"":
                        closed = True
                        break
                except socket.timeout:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    closed = True
                    break
            self.assertTrue(closed, "a slowloris client outlived idle_timeout")
            a = server.connect()
            self.assertGreaterEqual(int(stats(a)[b"idle_kicks"]), 1)
            a.close()


if __name__ == "__main__":
    unittest.main()
