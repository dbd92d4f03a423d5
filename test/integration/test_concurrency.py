"""Many client threads on a multi-threaded server: the final values are exact."""
import socket
import threading
import time
import unittest

from harness import SLOW, Server, read_until, request


def line(sock, payload):
    sock.sendall(payload)
    return read_until(sock, lambda d: d.endswith(b"\r\n"))


class ConcurrencyTest(unittest.TestCase):
    def test_incr_and_cas_loops_are_exact(self):
        with Server(args=["-t", "4"]) as server:
            s = server.connect()
            self.assertEqual(line(s, b"set counter 0 0 1\r\n0\r\n"), b"STORED\r\n")
            self.assertEqual(line(s, b"set casval 0 0 1\r\n0\r\n"), b"STORED\r\n")
            errors = []

            def incr_worker():
                c = server.connect()
                for _ in range(500):
                    r = line(c, b"incr counter 1\r\n")
                    if not r[:-2].isdigit():
                        errors.append(r)
                c.close()

            def cas_worker():
                c = server.connect()
                for _ in range(200):
                    while True:
                        r = request(c, b"gets casval\r\n")
                        head, value = r.split(b"\r\n")[:2]
                        cas = head.split()[4]
                        new = str(int(value) + 1).encode()
                        r = line(c, b"cas casval 0 0 %d %s\r\n%s\r\n" % (len(new), cas, new))
                        if r == b"STORED\r\n":
                            break
                        if r != b"EXISTS\r\n":
                            errors.append(r)
                            return
                c.close()

            threads = [threading.Thread(target=incr_worker) for _ in range(8)]
            threads += [threading.Thread(target=cas_worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60 * SLOW)
            self.assertEqual(errors, [])
            self.assertEqual(request(s, b"get counter\r\n"),
                             b"VALUE counter 0 4\r\n4000\r\nEND\r\n")
            self.assertEqual(request(s, b"get casval\r\n"),
                             b"VALUE casval 0 3\r\n800\r\nEND\r\n")
            s.close()

    def test_disconnect_mid_value_changes_nothing(self):
        with Server(args=["-t", "2"]) as server:
            s = server.connect()
            self.assertEqual(line(s, b"set k 0 0 3\r\nold\r\n"), b"STORED\r\n")
            for _ in range(20):
                c = server.connect()
                c.sendall(b"set k 0 0 100\r\nabc")
                c.close()
            time.sleep(0.1)
            self.assertEqual(request(s, b"get k\r\n"), b"VALUE k 0 3\r\nold\r\nEND\r\n")
            s.close()

    def test_over_conn_limit_clients_are_told_and_closed(self):
        with Server(args=["-c", "10", "-t", "2"]) as server:
            time.sleep(0.2 * SLOW)  # let the start-up probe's close be counted
            conns = [server.connect() for _ in range(20)]
            rejected = 0
            served = 0
            for c in conns:
                c.sendall(b"version\r\n")
                r = read_until(c, lambda d: d.endswith(b"\r\n"), timeout=2)
                if r == b"ERROR Too many open connections\r\n":
                    rejected += 1
                    self.assertEqual(c.recv(10), b"")
                elif r.startswith(b"VERSION "):
                    served += 1
                else:
                    self.fail("unexpected reply %r" % r)
            self.assertEqual(served, 10)
            self.assertEqual(rejected, 10)
            for c in conns:
                c.close()
            # The server keeps serving once clients leave.
            time.sleep(0.1)
            s = server.connect()
            self.assertTrue(line(s, b"version\r\n").startswith(b"VERSION "))
            s.close()

    def test_large_pipelined_batch_is_answered_in_order(self):
        with Server(args=["-t", "2", "-R", "5"]) as server:
            s = server.connect()
            reqs = b"".join(b"set p%d 0 0 %d\r\n%d\r\n" % (i, len(str(i)), i) for i in range(500))
            reqs += b"".join(b"get p%d\r\n" % i for i in range(500))
            s.sendall(reqs)
            want = b"STORED\r\n" * 500 + b"".join(
                b"VALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(str(i)), i) for i in range(500))
            got = read_until(s, lambda d: len(d) >= len(want))
            self.assertEqual(got, want)
            s.close()


if __name__ == "__main__":
    unittest.main()
