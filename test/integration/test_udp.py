"""UDP (-U): memcached's 8-byte frame header, one datagram per request,
replies cut into 1400-byte datagrams, each response its own sequence — the
same datagrams as Debian's memcached, compared side by side."""
import socket
import struct
import subprocess
import time
import unittest

from harness import HOST, MCD_BIN, MEMCACHED_BIN, SLOW, Server, request, user_args


def free_udp_port(tcp_too=False):
    """A UDP port on 127.0.0.1 that nothing uses right now (and, if asked,
    the same TCP port too)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            if not tcp_too:
                return port
            try:
                with socket.socket() as t:
                    t.bind((HOST, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both TCP and UDP")


class UdpServer:
    """A server with -U on a free UDP port and a client socket for it."""

    def __init__(self, binary=None, extra=()):
        self.udp_port = free_udp_port()
        self.server = Server(binary=binary, args=["-U", str(self.udp_port)] + list(extra))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Room for a burst of datagrams: what overflows is lost, not late.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)

    def ask(self, payload, rid=7, seq=0, count=1, quiet=0.15):
        """Send one framed datagram; every datagram that comes back until
        `quiet` seconds pass without one, as (header tuple, payload)."""
        self.sock.sendto(struct.pack(">HHHH", rid, seq, count, 0) + payload,
                         (HOST, self.udp_port))
        out = []
        self.sock.settimeout(quiet * SLOW)
        try:
            while True:
                d = self.sock.recv(65536)
                out.append((struct.unpack(">HHHH", d[:8]), d[8:]))
        except socket.timeout:
            pass
        return out

    def close(self):
        self.sock.close()
        self.server.stop()


# Requests sent in order to both servers; each entry is one datagram.
CASES = [
    b"set a 0 0 1\r\nx\r\n",
    b"get a\r\n",
    b"set b 5 0 3000\r\n" + b"y" * 3000 + b"\r\n",
    b"get a b\r\n",                             # one response per key
    b"get zz a zz\r\n",                         # a missed key: bare header, count 0
    b"get zz\r\n",
    b"get a zz a\r\n",                         # a miss after a hit shares a datagram
    b"get zz yy a\r\n",                        # two misses, then a hit
    b"get a zz yy\r\n",
    b"mn\r\nget zz a\r\n",
    b"get a b zz\r\n",                         # multi-datagram value, then a miss
    b"get " + b" ".join(b"b" for _ in range(10)) + b"\r\n",   # 10 x 3000 bytes
    # 300 KB, past the reply's bound: sent while the rest is built.
    b"get " + b" ".join(b"b" for _ in range(100)) + b"\r\n",
    b"gat 100 a zz b\r\n",
    b"get a\r\nget a\r\n",                      # two commands, two responses
    b"set n 0 0 1 noreply\r\n1\r\nincr n 5\r\nget n\r\ndelete q noreply\r\n",
    b"set big 0 0 1384\r\n" + b"z" * 1384 + b"\r\nget big\r\n",   # exactly 1392 + 1
    b"bogus\r\n",
    b"get " + b"k" * 251 + b"\r\nget a\r\n",
    b"get a",                                   # no line end: dropped
    b"delete a\r\nget a\r\n",
    b"version\r\n",
    # Binary requests: SET a, then GETK a, GETKQ of a miss, NOOP.
    struct.pack(">BBHBBHIIQ", 0x80, 0x01, 1, 8, 0, 0, 8 + 1 + 2, 0xAA, 0)
    + struct.pack(">II", 7, 0) + b"a" + b"hi",
    struct.pack(">BBHBBHIIQ", 0x80, 0x0c, 1, 0, 0, 0, 1, 1, 0) + b"a"
    + struct.pack(">BBHBBHIIQ", 0x80, 0x0d, 2, 0, 0, 0, 2, 2, 0) + b"zz"
    + struct.pack(">BBHBBHIIQ", 0x80, 0x0a, 0, 0, 0, 0, 0, 3, 0),
]


class UdpTest(unittest.TestCase):
    def setUp(self):
        self.mcd = UdpServer()
        self.addCleanup(self.mcd.close)

    def test_same_datagrams_as_memcached(self):
        ref = UdpServer(binary=MEMCACHED_BIN)
        self.addCleanup(ref.close)
        for payload in CASES:
            want = ref.ask(payload)
            got = self.mcd.ask(payload)
            if payload.startswith(b"version"):
                self.assertEqual([h for h, _ in got], [h for h, _ in want])
                self.assertTrue(got[0][1].startswith(b"VERSION "))
                continue
            if payload[0] == 0x80:
                # cas values differ between servers: compare the rest.
                got = [(h, d[:16] + d[24:]) for h, d in got]
                want = [(h, d[:16] + d[24:]) for h, d in want]
            self.assertEqual(got, want, payload[:40])

    def test_large_value_reassembles_in_sequence(self):
        value = bytes(range(256)) * 234          # 59904 bytes: 44 datagrams
        self.assertEqual(self.mcd.ask(b"set v 0 0 %d\r\n" % len(value) + value + b"\r\n"),
                         [((7, 0, 1, 0), b"STORED\r\n")])
        got = self.mcd.ask(b"get v\r\n", rid=4242)
        headers = [h for h, _ in got]
        total = headers[0][2]
        self.assertEqual(headers, [(4242, i, total, 0) for i in range(total)])
        self.assertTrue(all(len(d) <= 1392 for _, d in got))
        body = b"".join(d for _, d in got)
        self.assertEqual(body, b"VALUE v 0 %d\r\n" % len(value) + value + b"\r\nEND\r\n")

    def test_multi_datagram_request_is_dropped(self):
        self.mcd.ask(b"set a 0 0 1\r\nx\r\n")
        self.assertEqual(self.mcd.ask(b"get a\r\n", count=2), [])
        self.assertEqual(self.mcd.ask(b"get a\r\n", seq=1), [((7, 0, 1, 0),
                                                              b"VALUE a 0 1\r\nx\r\nEND\r\n")])

    def test_request_cut_short_is_dropped_with_its_datagram(self):
        # Deliberate deviation: memcached 1.6.18 reads the next datagram,
        # frame header included, as the rest of the value and answers
        # "bad data chunk"; a datagram is the whole request here.
        self.assertEqual(self.mcd.ask(b"set c 0 0 10\r\nab"), [])
        self.assertEqual(self.mcd.ask(b"set d 0 0 1\r\nx\r\nget c d\r\n"),
                         [((7, 0, 1, 0), b"STORED\r\n"), ((7, 0, 0, 0), b""),
                          ((7, 0, 1, 0), b"VALUE d 0 1\r\nx\r\nEND\r\n")])

    def test_udp_and_tcp_share_the_cache(self):
        tcp = self.mcd.server.connect()
        self.assertEqual(request(tcp, b"set shared 0 0 3\r\nabc\r\n", b"\r\n"), b"STORED\r\n")
        self.assertEqual(self.mcd.ask(b"get shared\r\n"),
                         [((7, 0, 1, 0), b"VALUE shared 0 3\r\nabc\r\nEND\r\n")])
        self.mcd.ask(b"set fromudp 0 0 2\r\nok\r\n")
        self.assertEqual(request(tcp, b"get fromudp\r\n"), b"VALUE fromudp 0 2\r\nok\r\nEND\r\n")
        stats = request(tcp, b"stats settings\r\n")
        self.assertIn(b"STAT udpport %d\r\n" % self.mcd.udp_port, stats)
        conns = request(tcp, b"stats conns\r\n")
        self.assertIn(b":addr udp:127.0.0.1:%d\r\n" % self.mcd.udp_port, conns)
        tcp.close()

    def test_many_clients_at_once(self):
        # Eight clients with a request each in flight, 50 rounds: UDP may
        # drop what overflows a socket buffer, so the test keeps the window
        # small rather than flood a slow (sanitizer) build.
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        try:
            for j in range(50):
                for i, s in enumerate(socks):
                    k = b"k%d-%d" % (i, j)
                    s.sendto(struct.pack(">HHHH", j, 0, 1, 0)
                             + b"set %s 0 0 %d noreply\r\n%s\r\nget %s\r\n" % (k, len(k), k, k),
                             (HOST, self.mcd.udp_port))
                for i, s in enumerate(socks):
                    s.settimeout(5 * SLOW)
                    d = s.recv(65536)
                    k = b"k%d-%d" % (i, j)
                    self.assertEqual(d, struct.pack(">HHHH", j, 0, 1, 0)
                                     + b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (k, len(k), k))
        finally:
            for s in socks:
                s.close()


class UdpOptionsTest(unittest.TestCase):
    def test_off_by_default(self):
        with Server() as server:
            s = server.connect()
            self.assertIn(b"STAT udpport 0\r\n", request(s, b"stats settings\r\n"))
            s.close()

    def test_udp_port_alone_sets_the_tcp_port(self):
        # No -p: TCP listens on the -U port too, as memcached does.
        port = free_udp_port(tcp_too=True)
        p = subprocess.Popen([MCD_BIN, "-U", str(port), "-l", HOST] + user_args(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5 * SLOW
            while True:
                try:
                    s = socket.create_connection((HOST, port), timeout=1)
                    break
                except OSError:
                    self.assertIsNone(p.poll(), "mcd exited")
                    self.assertLess(time.monotonic(), deadline, "no TCP listener on the -U port")
                    time.sleep(0.02)
            self.assertIn(b"STAT tcpport %d\r\n" % port, request(s, b"stats settings\r\n"))
            s.close()
        finally:
            p.terminate()
            self.assertEqual(p.wait(10 * SLOW), 0)

if __name__ == "__main__":
    unittest.main()
