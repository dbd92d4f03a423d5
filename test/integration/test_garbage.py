"""Hostile input: seeded random mutations of valid text, meta and binary
requests (and UDP datagrams), sent to mcd on fresh connections. Whatever
comes in, the server must stay up, keep what it stored intact, and serve
the next client; under the sanitizer runs this also checks that no input
makes it touch memory it should not. Bounded: a fixed number of inputs and
a time limit, one seed, so a failure replays."""
import random
import socket
import struct
import time
import unittest

from harness import HOST, SLOW, Server, read_until, request

SEED = 20261130
INPUTS = 1500
TIME_LIMIT = 20.0 * SLOW


def bin_req(op, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    return (struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0,
                        len(extras) + len(key) + len(value), opaque, cas) + extras + key + value)


SEEDS = [
    b"set a 0 0 5\r\nhello\r\n", b"add b 1 100 2 noreply\r\nhi\r\n",
    b"cas a 0 0 1 12\r\nx\r\n", b"append a 0 0 2\r\n!!\r\n", b"prepend a 0 0 1\r\n<\r\n",
    b"get a b c\r\n", b"gets a\r\n", b"gat 10 a b\r\n", b"touch a 10\r\n",
    b"incr n 5\r\n", b"decr n 18446744073709551615\r\n", b"delete a\r\n",
    b"stats\r\n", b"stats slabs\r\n", b"stats items\r\n", b"stats settings\r\n",
    b"stats detail dump\r\n", b"stats cachedump 1 10\r\n", b"version\r\n", b"verbosity 1\r\n",
    b"mg a v c f s t k O123 q\r\n", b"ms m 3 T10 F5 I C99 MA\r\nabc\r\n",
    b"ms " + b"YWJj" + b" 2 b\r\nzz\r\n", b"md a q I T30\r\n", b"ma n N0 J13 D7 MD\r\n",
    b"mg n N30 R10 v t\r\n", b"me a\r\n", b"mn\r\n",
    bin_req(0x01, b"k", struct.pack(">II", 3, 0), b"val"), bin_req(0x00, b"k"),
    bin_req(0x0d, b"k") + bin_req(0x0a), bin_req(0x05, b"n", struct.pack(">QQI", 1, 5, 0)),
    bin_req(0x10, b"settings"), bin_req(0x1d, b"k", struct.pack(">I", 10)),
    bin_req(0x0e, b"k", b"", b"more"), bin_req(0x04, b"k", cas=7), bin_req(0x0b),
]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:                       # flip a bit
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1:                              # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and data:                     # cut
            del data[pos:pos + rng.randint(1, 16)]
        elif op == 3:                              # splice another seed in
            data[pos:pos] = rng.choice(SEEDS)
        elif op == 4:                              # a number that is too big or negative
            data[pos:pos] = rng.choice([b" -1", b" 4294967296", b" 99999999999999999999",
                                        b" 1048577", b"\x00", b"\r\n", b" "])
        elif op == 5 and len(data) >= 8:           # a big length field (binary body)
            data[8:12] = struct.pack(">I", rng.choice([0, 1, 0xffffffff, 1 << 20, 25]))
    return bytes(data)


class GarbageTest(unittest.TestCase):
    def test_mutated_requests_do_not_hurt_the_server(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((HOST, 0))
        udp_port = udp.getsockname()[1]
        udp.close()
        # -F: a mutated flush_all must not clear the sentinel.
        with Server(args=["-F", "-U", str(udp_port), "-I", "2m", "-m", "64"]) as server:
            sentinel = b"sentinel-key-that-no-mutation-makes"
            s = server.connect()
            self.assertEqual(request(s, b"set " + sentinel + b" 7 0 9\r\nuntouched\r\n", b"\r\n"),
                             b"STORED\r\n")
            s.close()
            rng = random.Random(SEED)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            deadline = time.monotonic() + TIME_LIMIT
            sent = 0
            while sent < INPUTS and time.monotonic() < deadline:
                data = mutate(rng, rng.choice(SEEDS))
                if rng.random() < 0.15:
                    u.sendto(struct.pack(">HHHH", sent & 0xffff, 0, 1, 0) + data, (HOST, udp_port))
                else:
                    c = server.connect(timeout=2)
                    try:
                        c.sendall(data)
                        c.shutdown(socket.SHUT_WR)
                        read_until(c, lambda d: False, timeout=0.02)
                    except OSError:
                        pass                       # the server may close on bad input
                    finally:
                        c.close()
                sent += 1
            u.close()
            self.assertTrue(server.alive(), "mcd died after %d inputs" % sent)
            s = server.connect()
            self.assertEqual(request(s, b"get " + sentinel + b"\r\n"),
                             b"VALUE " + sentinel + b" 7 9\r\nuntouched\r\nEND\r\n")
            self.assertTrue(request(s, b"version\r\n", b"\r\n").startswith(b"VERSION "))
            s.close()
            self.assertGreater(sent, 100)


if __name__ == "__main__":
    unittest.main()
