"""Many clients at once on a multi-threaded server: counters end exact, each
client reads its own writes, a client dying mid-value harms nobody, and the
connection limit refuses the way memcached does.

Every client thread uses its own raw socket with a 5 s timeout per reply,
every loop has a fixed bound, and every join has a deadline, so a hung server
fails the test instead of hanging it.
"""
import threading
import time
import unittest

from harness import SLOW, Server, read_until, request

JOIN_TIMEOUT = 60 * SLOW


def line(sock, payload):
    """Send payload, read one CRLF-terminated reply line."""
    sock.sendall(payload)
    return read_until(sock, lambda d: d.endswith(b"\r\n"))


def run_threads(testcase, targets):
    """Run the callables in threads; fail on a hang or on any exception."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except Exception as e:
                errors.append("%s: %r" % (fn.__name__, e))
        return run

    threads = [threading.Thread(target=wrap(fn), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in threads:
        t.join(max(0, deadline - time.monotonic()))
    hung = sum(t.is_alive() for t in threads)
    testcase.assertEqual(hung, 0, "%d client threads still running after %d s" % (hung, JOIN_TIMEOUT))
    testcase.assertEqual(errors, [], "client threads failed")


class ConcurrencyTest(unittest.TestCase):
    def server(self, *args):
        server = Server(args=list(args))
        self.addCleanup(server.stop)
        return server

    def test_incr_and_cas_loops_are_exact(self):
        server = self.server("-t", "4")
        s = server.connect()
        self.addCleanup(s.close)
        self.assertEqual(line(s, b"set counter 0 0 1\r\n0\r\n"), b"STORED\r\n")
        self.assertEqual(line(s, b"set casval 0 0 1\r\n0\r\n"), b"STORED\r\n")
        retries = []

        def incr_500():
            c = server.connect()
            try:
                for i in range(500):
                    r = line(c, b"incr counter 1\r\n")
                    if not r[:-2].isdigit():
                        raise AssertionError("incr %d answered %r" % (i, r))
            finally:
                c.close()

        def cas_add_1_200_times():
            c = server.connect()
            lost = 0
            try:
                for i in range(200):
                    for attempt in range(1000):
                        r = request(c, b"gets casval\r\n")
                        parts = r.split(b"\r\n")
                        head = parts[0].split(b" ")
                        if len(head) != 5 or head[0] != b"VALUE":
                            raise AssertionError("gets answered %r" % r)
                        new = str(int(parts[1]) + 1).encode()
                        r = line(c, b"cas casval 0 0 %d %s\r\n%s\r\n" % (len(new), head[4], new))
                        if r == b"STORED\r\n":
                            break
                        if r != b"EXISTS\r\n":
                            raise AssertionError("cas answered %r" % r)
                        lost += 1
                    else:
                        raise AssertionError("cas %d lost 1000 races in a row" % i)
            finally:
                c.close()
                retries.append(lost)

        run_threads(self, [incr_500] * 8 + [cas_add_1_200_times] * 4)
        self.assertEqual(request(s, b"get counter\r\n"), b"VALUE counter 0 4\r\n4000\r\nEND\r\n",
                         "8 threads x 500 incr must make 4000")
        self.assertEqual(request(s, b"get casval\r\n"), b"VALUE casval 0 3\r\n800\r\nEND\r\n",
                         "4 threads x 200 gets/cas must make 800 (%s lost races)" % retries)

    def test_threads_read_their_own_writes(self):
        server = self.server("-t", "4")

        def worker(n):
            def set_get_300():
                c = server.connect()
                try:
                    for i in range(300):
                        key = b"t%d-%d" % (n, i)
                        value = b"%s:" % key * (1 + i % 50)
                        r = line(c, b"set %s %d 0 %d\r\n%s\r\n" % (key, n, len(value), value))
                        if r != b"STORED\r\n":
                            raise AssertionError("set %s answered %r" % (key, r))
                        want = b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, n, len(value), value)
                        got = request(c, b"get %s\r\n" % key)
                        if got != want:
                            raise AssertionError("get %s: %r, want %r" % (key, got[:100], want[:100]))
                    keys = [b"t%d-%d" % (n, i) for i in range(0, 300, 7)]
                    got = request(c, b"get " + b" ".join(keys) + b"\r\n")
                    if got.count(b"VALUE ") != len(keys):
                        raise AssertionError("multi-get found %d of %d" % (got.count(b"VALUE "), len(keys)))
                finally:
                    c.close()
            set_get_300.__name__ = "worker%d" % n
            return set_get_300

        run_threads(self, [worker(n) for n in range(8)])

    def test_client_dying_mid_value_changes_nothing(self):
        server = self.server("-t", "4")
        s = server.connect()
        self.addCleanup(s.close)
        self.assertEqual(line(s, b"set k 0 0 3\r\nold\r\n"), b"STORED\r\n")
        stop = threading.Event()

        def busy_client():
            c = server.connect()
            try:
                for i in range(2000):
                    if stop.is_set():
                        break
                    if line(c, b"set busy 0 0 1\r\n%d\r\n" % (i % 10)) != b"STORED\r\n":
                        raise AssertionError("busy client's set failed")
            finally:
                c.close()

        def dying_clients():
            try:
                for i in range(20):
                    c = server.connect()
                    c.sendall(b"set k 0 0 100\r\nabc" if i % 2 else b"set k 0 0 100\r\n")
                    c.close()
                    time.sleep(0.005)
            finally:
                stop.set()

        run_threads(self, [busy_client, busy_client, dying_clients])
        self.assertTrue(server.alive(), "server exited")
        self.assertEqual(request(s, b"get k\r\n"), b"VALUE k 0 3\r\nold\r\nEND\r\n")
        self.assertEqual(line(s, b"set k2 0 0 2\r\nok\r\n"), b"STORED\r\n")

    def test_over_conn_limit_clients_are_told_and_closed(self):
        # memcached counts file descriptor numbers (with -c 20 -t 1 it serves
        # 8 clients); mcd's -c counts client connections, so 20 are served.
        # Each further connection is accepted, told "ERROR Too many open
        # connections" unasked, and closed, as in memcached.
        server = self.server("-c", "20", "-t", "1")
        time.sleep(0.2 * SLOW)  # let the start-up probe's close be counted
        conns = []
        self.addCleanup(lambda: [c.close() for c in conns])
        for _ in range(25):
            conns.append(server.connect())
            time.sleep(0.005)
        replies = []
        for c in conns:
            # The refusal comes without a request; served ones stay silent.
            unasked = read_until(c, lambda d: d.endswith(b"\r\n"), timeout=0.2)
            if unasked:
                replies.append((unasked, read_until(c, lambda d: False, timeout=1)))
            else:
                replies.append((line(c, b"version\r\n"), None))
        served = [i for i, (r, _) in enumerate(replies) if r.startswith(b"VERSION ")]
        refused = [i for i, (r, rest) in enumerate(replies)
                   if r == b"ERROR Too many open connections\r\n" and rest == b""]
        self.assertEqual(served, list(range(20)), "replies: %r" % replies)
        self.assertEqual(refused, list(range(20, 25)), "replies: %r" % replies)
        # A freed slot serves the next client.
        conns[0].close()
        time.sleep(0.2 * SLOW)
        c = server.connect()
        conns.append(c)
        self.assertTrue(line(c, b"version\r\n").startswith(b"VERSION "))

    def test_large_pipelined_batch_is_answered_in_order(self):
        server = self.server("-t", "2", "-R", "5")
        s = server.connect()
        self.addCleanup(s.close)
        reqs = b"".join(b"set p%d 0 0 %d\r\n%d\r\n" % (i, len(str(i)), i) for i in range(1000))
        reqs += b"".join(b"get p%d\r\n" % i for i in range(1000))
        want = b"STORED\r\n" * 1000 + b"".join(
            b"VALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(str(i)), i) for i in range(1000))
        sender = threading.Thread(target=s.sendall, args=(reqs,), daemon=True)
        sender.start()
        got = read_until(s, lambda d: len(d) >= len(want), timeout=10)
        sender.join(10)
        self.assertEqual(len(got), len(want))
        self.assertEqual(got, want)


if __name__ == "__main__":
    unittest.main()
