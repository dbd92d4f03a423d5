"""Inputs a hostile client sends: each must leave the server up, serving
everyone else, with what it stored intact."""
import socket
import time
import unittest

from harness import SLOW, Server, read_until, request

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


if __name__ == "__main__":
    unittest.main()
