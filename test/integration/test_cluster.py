"""Several mcd as one cache: behind nutcracker (twemproxy), and addressed
directly by python-memcached, pymemcache, libmemcached (C, pylibmc, the
command-line tools) and mcd-bench --servers.

Every configuration and client snippet comes from README.md's "Scaling out"
section (cluster.snippet), ports changed. Every cluster is three mcd on
127.0.0.1; each test starts its own and stops everything it started. The
failover tests kill a server with SIGKILL (a crash, not a shutdown), start
it again empty on the same port, and print what they measured.
"""
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import memcache
from pymemcache.client.hash import HashClient  # noqa: F401 (the README snippet imports it)

from cluster import (Nutcracker, flush, holders, localize, note, restart, run_python,
                     server_stats, snippet, start_servers)
from harness import ROOT, SLOW, read_until

try:
    import pylibmc
except ImportError:
    pylibmc = None

MCDB_BIN = os.environ.get("MCDB_BIN", os.path.join(ROOT, "bench", "mcd-bench"))


def need_pylibmc():
    if pylibmc is None:
        raise unittest.SkipTest("pylibmc is not installed (Debian package python3-pylibmc)")


def wait_for(what, cond, timeout):
    """Poll cond() until it is true; the seconds it took. Fails after timeout (x SLOW)."""
    start = time.monotonic()
    deadline = start + timeout * SLOW
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.1f s" % (what, timeout * SLOW))
        time.sleep(0.01)
    return time.monotonic() - start


def request(sock, payload, end):
    sock.sendall(payload)
    return read_until(sock, lambda d: d.endswith(end))


class SteadyLoad:
    """A thread reading keys through one connection, one get per millisecond or
    so, recording (time, key, outcome): "hit", "miss", or the error reply (the
    connection is then opened again)."""

    def __init__(self, connect, keys):
        self.connect, self.keys = connect, keys
        self.log = []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        s, i = self.connect(), 0
        try:
            while not self.stop_event.is_set():
                key = self.keys[i % len(self.keys)]
                i += 1
                try:
                    s.sendall(b"get %s\r\n" % key.encode())
                    r = read_until(s, lambda d: d.endswith(b"END\r\n") or d.endswith(b"ERROR\r\n")
                                   or (d.startswith(b"SERVER_ERROR") and d.endswith(b"\r\n")), 2)
                except OSError as e:
                    r = str(e).encode()
                outcome = ("hit" if r.startswith(b"VALUE ") and r.endswith(b"END\r\n") else
                           "miss" if r == b"END\r\n" else r.decode(errors="replace").strip()
                           or "no reply")
                self.log.append((time.monotonic(), key, outcome))
                if outcome not in ("hit", "miss"):
                    s.close()
                    s = self.connect()
                time.sleep(0.001)
        finally:
            s.close()

    def outcomes(self, keys, since=0.0, until=math.inf):
        return [o for t, k, o in self.log if k in keys and since <= t < until]

    def stop(self):
        self.stop_event.set()
        self.thread.join(10)


class NutcrackerTest(unittest.TestCase):
    def setUp(self):
        self.servers = start_servers(self)
        self.proxy = Nutcracker([s.port for s in self.servers])
        self.addCleanup(self.proxy.stop)

    def test_text_protocol_through_the_proxy(self):
        c = self.proxy.connect()
        self.addCleanup(c.close)
        keys = ["m%d" % i for i in range(60)]
        sets = b"".join(b"set %s 0 0 %d\r\nv-%s\r\n" % (k.encode(), len(k) + 2, k.encode())
                        for k in keys)
        self.assertEqual(request(c, sets, b"STORED\r\n" * 60), b"STORED\r\n" * 60)
        where = holders(self.servers, keys)
        self.assertEqual(set(where.values()), {0, 1, 2}, "keys did not span the servers")
        # A multiget spanning the servers comes back in the order asked, misses skipped.
        asked = keys[::-1][:40] + ["nope1", "nope2"]
        want = b"".join(b"VALUE %s 0 %d\r\nv-%s\r\n" % (k.encode(), len(k) + 2, k.encode())
                        for k in asked if k in where) + b"END\r\n"
        self.assertEqual(request(c, b"get " + " ".join(asked).encode() + b"\r\n", b"END\r\n"), want)
        # gets and cas: the unique comes from the key's server.
        reply = request(c, b"gets m1 m2 m3\r\n", b"END\r\n")
        uniques = dict(re.findall(rb"VALUE (m\d) 0 4 (\d+)\r\n", reply))
        self.assertEqual(sorted(uniques), [b"m1", b"m2", b"m3"], reply)
        self.assertEqual(request(c, b"cas m1 0 0 1 %s\r\nA\r\n" % uniques[b"m1"], b"\r\n"),
                         b"STORED\r\n")
        self.assertEqual(request(c, b"cas m1 0 0 1 %s\r\nB\r\n" % uniques[b"m1"], b"\r\n"),
                         b"EXISTS\r\n")
        self.assertEqual(request(c, b"cas nokey 0 0 1 1\r\nC\r\n", b"\r\n"), b"NOT_FOUND\r\n")
        self.assertEqual(request(c, b"get m1\r\n", b"END\r\n"), b"VALUE m1 0 1\r\nA\r\nEND\r\n")
        # The other commands nutcracker passes, each to its key's server.
        script = [(b"set n 0 0 2\r\n10\r\n", b"STORED\r\n"), (b"incr n 5\r\n", b"15\r\n"),
                  (b"decr n 20\r\n", b"0\r\n"), (b"incr nope 1\r\n", b"NOT_FOUND\r\n"),
                  (b"add m2 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
                  (b"replace m2 0 0 1\r\nr\r\n", b"STORED\r\n"),
                  (b"append m2 0 0 1\r\n>\r\n", b"STORED\r\n"),
                  (b"prepend m2 0 0 1\r\n<\r\n", b"STORED\r\n"),
                  (b"get m2\r\n", b"VALUE m2 0 3\r\n<r>\r\nEND\r\n"),
                  (b"touch m3 100\r\n", b"TOUCHED\r\n"), (b"touch nope 1\r\n", b"NOT_FOUND\r\n"),
                  (b"delete m3\r\n", b"DELETED\r\n"), (b"delete m3\r\n", b"NOT_FOUND\r\n"),
                  (b"set q 0 0 1 noreply\r\nz\r\nget q\r\n", b"VALUE q 0 1\r\nz\r\nEND\r\n")]
        for cmd, want in script:
            self.assertEqual(request(c, cmd, want), want, cmd)
        self.assertRegex(request(c, b"version\r\n", b"\r\n"), rb"^VERSION 1\.6\.18")
        # A value far larger than the proxy's 16 KB buffers, both ways.
        big = bytes(range(256)) * 2000
        self.assertEqual(request(c, b"set big 7 0 %d\r\n%s\r\n" % (len(big), big), b"\r\n"),
                         b"STORED\r\n")
        want = b"VALUE big 7 %d\r\n%s\r\nVALUE m4 0 4\r\nv-m4\r\nEND\r\n" % (len(big), big)
        self.assertEqual(request(c, b"get big m4\r\n", b"END\r\n"), want)
        # What nutcracker does not pass: it closes the connection without a reply.
        noop = b"\x80\x0a" + b"\x00" * 22         # the binary protocol's NOOP
        for cmd in (b"stats\r\n", b"flush_all\r\n", b"gat 100 m1\r\n", b"mg m1 v\r\n", noop):
            s = self.proxy.connect()
            self.addCleanup(s.close)
            s.sendall(cmd)
            self.assertEqual(read_until(s, lambda d: False, 1), b"", cmd)

    def test_proxy_stats_agree_with_each_server(self):
        c = self.proxy.connect()
        self.addCleanup(c.close)
        keys = ["s%d" % i for i in range(300)]
        for k in keys:
            request(c, b"set %s 0 0 1\r\nv\r\n" % k.encode(), b"\r\n")
        for k in keys + ["miss%d" % i for i in range(100)]:
            request(c, b"get %s\r\n" % k.encode(), b"END\r\n")
        for k in keys[:50]:
            request(c, b"delete %s\r\n" % k.encode(), b"\r\n")
        sent = 300 + 400 + 50
        ports = [s.port for s in self.servers]
        wait_for("the proxy's stats count %d requests" % sent, lambda: sum(
            self.proxy.server_stats(p)["requests"] for p in ports) == sent, 5)
        for server in self.servers:
            proxy = self.proxy.server_stats(server.port)
            mine = server_stats(server)
            seen = mine["cmd_get"] + mine["cmd_set"] + mine["delete_hits"] + mine["delete_misses"]
            self.assertEqual(proxy["requests"], seen, (server.addr, proxy, mine))
            self.assertEqual(proxy["responses"], seen, (server.addr, proxy))
            self.assertEqual(proxy["server_ejected_at"], 0)
            self.assertEqual(proxy["server_connections"], 1)
            # The bytes the proxy forwarded are what the server read, but for `stats\r\n`.
            self.assertEqual(proxy["request_bytes"], mine["bytes_read"] - len(b"stats\r\n"))
        note("nutcracker's per-server requests %s equal mcd's cmd_get + cmd_set + deletes"
             % [self.proxy.server_stats(p)["requests"] for p in ports])

    def test_killed_server_is_ejected_and_rejoins_under_load(self):
        c = self.proxy.connect()
        self.addCleanup(c.close)
        keys = ["k%d" % i for i in range(300)]
        for k in keys:
            request(c, b"set %s 0 0 1\r\nv\r\n" % k.encode(), b"\r\n")
        where = holders(self.servers, keys)
        self.assertEqual(len(where), 300)
        victim = {k for k in keys if where[k] == 1}
        others = set(keys) - victim
        load = SteadyLoad(self.proxy.connect, keys)
        self.addCleanup(load.stop)
        time.sleep(0.3)
        t_kill = time.monotonic()
        self.servers[1].proc.kill()
        self.servers[1].proc.wait()
        eject = wait_for("the proxy routes the dead server's keys elsewhere",
                         lambda: "miss" in load.outcomes(victim, t_kill), 5)
        # server_retry_timeout later the proxy tries it again: one refused request.
        retry = wait_for("the proxy retries the dead server", lambda: (
            "SERVER_ERROR Connection refused" in load.outcomes(victim, t_kill)), 2 + 5)
        time.sleep(0.2)
        t_restart = time.monotonic()
        back = restart(self, self.servers, 1)
        rejoin = wait_for("the restarted server gets requests",
                          lambda: server_stats(back)["cmd_get"] > 0, 2 + 5)
        time.sleep(0.2)
        load.stop()
        before = load.outcomes(victim, 0, t_kill)
        dead = load.outcomes(victim, t_kill, t_restart + rejoin)
        self.assertEqual(set(load.outcomes(others)), {"hit"},
                         "keys of the live servers must keep hitting")
        self.assertEqual(set(before), {"hit"})
        # Errors: a get in flight at the kill (SERVER_ERROR Connection reset by
        # peer, if one was), and one refused get per retry.
        errors = [o for o in dead if o != "miss"]
        self.assertTrue(all(o.startswith("SERVER_ERROR ") for o in errors), errors)
        self.assertIn("SERVER_ERROR Connection refused", errors)
        self.assertLessEqual(len(errors), 3, errors)
        # Back on the ring, empty: its keys miss until set again, then hit on it.
        for k in victim:
            request(c, b"set %s 0 0 1\r\nw\r\n" % k.encode(), b"\r\n")
        self.assertEqual({k for k, i in holders(self.servers, keys).items() if i == 1}, victim)
        self.assertGreaterEqual(self.proxy.stats()["mcd"]["server_ejects"], 1)
        note("nutcracker: the killed server held %d of 300 keys; they missed %.2f s after the "
             "kill, the proxy retried it %.2f s after the kill (%d refused request(s) while it "
             "was down, %d misses), it rejoined %.2f s after its restart; the other %d keys hit "
             "throughout (%d gets)" % (
                 len(victim), eject, retry, len(errors), dead.count("miss"), rejoin,
                 len(others), len(load.outcomes(others))))


class PythonMemcacheTest(unittest.TestCase):
    """The README's client: weights 1, 2, 3 on three servers, dead_retry 2 s."""

    def setUp(self):
        self.servers = start_servers(self)
        self.ns = run_python("python-memcached", [s.port for s in self.servers])
        self.mc = self.ns["mc"]
        self.addCleanup(self.mc.disconnect_all)

    def test_keys_spread_in_proportion_to_weight(self):
        self.assertEqual(self.ns["users"], {"user:1": "alice", "user:2": "bob", "user:3": "carol"})
        n, weights = 6000, (1, 2, 3)
        keys = ["key:%d" % i for i in range(n)]
        self.assertEqual(self.mc.set_multi({k: k for k in keys}), [])
        where = holders(self.servers, keys)
        self.assertEqual(len(where), n)
        counts = [list(where.values()).count(i) for i in range(3)]
        shares = []
        for i, w in enumerate(weights):
            # Each key lands in a server's buckets with probability w / 6: a
            # binomial count, allowed 4.5 standard deviations (a false failure
            # about once in 150,000 runs if crc32 spreads keys like chance).
            p = w / sum(weights)
            sigma = math.sqrt(n * p * (1 - p))
            self.assertLessEqual(abs(counts[i] - n * p), 4.5 * sigma,
                                 "server %d (weight %d): %d keys of %d, expected %.0f +- %.0f"
                                 % (i, w, counts[i], n, n * p, 4.5 * sigma))
            shares.append("%d/6: %.3f (%d keys, %+.1f sigma)" % (
                w, counts[i] / n, counts[i], (counts[i] - n * p) / sigma))
        note("python-memcached weights 1, 2, 3 over %d keys: %s" % (n, "; ".join(shares)))
        # The multi-key calls span the servers.
        self.assertEqual(self.mc.get_multi(keys), {k: k for k in keys})
        self.assertEqual(self.mc.delete_multi(keys[:3000]), 1)
        left = holders(self.servers, keys)
        self.assertEqual(set(left), set(keys[3000:]))
        for i in range(3):
            self.assertLess(list(left.values()).count(i), counts[i], "server %d lost no key" % i)
        self.assertEqual(self.mc.get_multi(keys[:10]), {})

    def test_dead_server_is_skipped_then_retried(self):
        keys = ["key:%d" % i for i in range(600)]
        self.assertEqual(self.mc.set_multi({k: k for k in keys}), [])
        where = holders(self.servers, keys)
        victim = [k for k in keys if where[k] == 1]
        others = [k for k in keys if where[k] != 1]
        self.servers[1].proc.kill()
        self.servers[1].proc.wait()
        t_kill = time.monotonic()
        # The first request to it fails and marks it dead; its keys miss, the rest hit.
        self.assertIsNone(self.mc.get(victim[0]))
        self.assertEqual(self.mc.get_multi(others), {k: k for k in others})
        self.assertEqual(self.mc.get_multi(victim), {})
        # Its keys are hashed again onto the live servers: they can be stored.
        self.assertEqual(self.mc.set_multi({k: "moved" for k in victim}), [])
        self.assertEqual(self.mc.get_multi(victim), {k: "moved" for k in victim})
        moved = holders(self.servers[:1] + self.servers[2:], victim)
        self.assertEqual(len(moved), len(victim))
        back = restart(self, self.servers, 1)
        # After dead_retry seconds the client connects to it again, and its keys go home.
        probe = victim[0]
        wait_for("python-memcached uses the restarted server again",
                           lambda: self.mc.set(probe, "home") and
                           holders([back], [probe]) == {probe: 0}, 2 + 5)
        self.assertEqual(self.mc.get(probe), "home")
        # The copies written elsewhere while it was dead are no longer read.
        self.assertIsNone(self.mc.get(victim[1]))
        self.assertEqual(self.mc.get_multi(others), {k: k for k in others})
        note("python-memcached: the weight-2 server held %d of 600 keys; after its restart the "
             "client used it again %.2f s after the kill (dead_retry 2 s)"
             % (len(victim), time.monotonic() - t_kill))


class PymemcacheTest(unittest.TestCase):
    """The README's HashClient: ignore_exc, 2 retries 0.5 s apart, dead for 2 s."""

    def test_hash_client_fails_over_and_back(self):
        servers = start_servers(self)
        ns = run_python("pymemcache", [s.port for s in servers])
        client = ns["client"]
        self.addCleanup(client.close)
        self.assertEqual(ns["users"], {"user:1": b"alice", "user:2": b"bob"})
        keys = ["key:%d" % i for i in range(600)]
        self.assertEqual(client.set_many({k: k for k in keys}, noreply=False), [])
        where = holders(servers, keys)
        self.assertEqual(len(where), 600)
        counts = [list(where.values()).count(i) for i in range(3)]
        self.assertTrue(all(counts), counts)
        self.assertEqual(client.get_many(keys), {k: k.encode() for k in keys})
        victim = [k for k in keys if where[k] == 0]
        others = [k for k in keys if where[k] != 0]
        servers[0].proc.kill()
        servers[0].proc.wait()
        t_kill = time.monotonic()
        served = []

        def dropped():
            # Calls to the dead server return defaults; the others keep serving.
            served.append(client.get(others[len(served) % len(others)]))
            return client.set(victim[0], "moved", noreply=False) and \
                client.get(victim[0]) == b"moved"
        eject = wait_for("HashClient drops the dead server", dropped, 2 * 0.5 + 5)
        self.assertNotIn(None, served, "a live server's key missed")
        self.assertIsNone(client.get(victim[1]))    # not on the servers it moved to
        back = restart(self, servers, 0)
        probe = victim[2]
        rejoin = wait_for("HashClient uses the restarted server again",
                          lambda: client.set(probe, "home", noreply=False) and
                          holders([back], [probe]) == {probe: 0}, 2 + 5)
        self.assertEqual(client.get(probe), b"home")
        self.assertEqual(client.get_many(others), {k: k.encode() for k in others})
        note("pymemcache HashClient: keys over the servers %s; the dead server was dropped "
             "%.2f s after the kill (retry_attempts 2, retry_timeout 0.5 s) and used again "
             "%.2f s after its restart (dead_timeout 2 s); %d gets to the other servers all hit"
             % (counts, eject, rejoin, len(served)))


class LibmemcachedToolsTest(unittest.TestCase):
    """libmemcached's command-line tools on a server list, and pylibmc with
    libmemcached's defaults: the same placement."""

    def test_tools_and_pylibmc_share_keys_and_servers(self):
        need_pylibmc()
        servers = start_servers(self)
        ports = [s.port for s in servers]
        tmp = tempfile.mkdtemp(prefix="mcd-tools-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with open(os.path.join(tmp, "greeting"), "w") as f:
            f.write("hello, cluster")

        def tool(line, *more):
            args = line.split() + list(more)
            return subprocess.run(args, cwd=tmp, capture_output=True, text=True, timeout=30 * SLOW)

        lines = localize(snippet("libmemcached-tools"), ports).strip().split("\n")
        out = {line.split()[0]: tool(line) for line in lines}
        for name, p in out.items():
            self.assertEqual(p.returncode, 0, (name, p.stdout, p.stderr))
        self.assertEqual(out["memccat"].stdout, "hello, cluster\n")
        self.assertEqual(out["memcdump"].stdout, "greeting\n")
        self.assertEqual(out["memcstat"].stdout.count("Server: 127.0.0.1"), 3)
        servers_arg = lines[0].split()[1]
        # Many keys by the tools, then by pylibmc: the same server for each.
        keys = ["file%d" % i for i in range(90)]
        for k in keys:
            with open(os.path.join(tmp, k), "w") as f:
                f.write("content of " + k)
        self.assertEqual(tool("memccp " + servers_arg, *keys).returncode, 0)
        by_tools = holders(servers, keys)
        self.assertEqual(len(by_tools), len(keys))
        stat = tool("memcstat " + servers_arg).stdout
        items = [int(n) for n in re.findall(r"curr_items: (\d+)", stat)]
        self.assertEqual(items, [list(by_tools.values()).count(i) for i in range(3)])
        # memcexist asks with `add key 0 2678400 0` (an expiry in 1970): after
        # memcrm it answers "not found", having stored an expired greeting.
        self.assertNotEqual(tool(lines[2]).returncode, 0, "memcexist after memcrm")
        plain = run_python("pylibmc", ports)["plain"]
        self.assertEqual(plain.get_multi(keys), {k: ("content of " + k).encode() for k in keys})
        flush(servers)
        plain.set_multi({k: b"from pylibmc" for k in keys})
        self.assertEqual(holders(servers, keys), by_tools)
        self.assertEqual(tool("memccat " + servers_arg, keys[7]).stdout, "from pylibmc\n")
        note("libmemcached tools and pylibmc (modula): %d keys on the same servers, %s per server"
             % (len(keys), items))


class KetamaPlacementTest(unittest.TestCase):
    """One ring, four writers: the README's C program (libmemcached weighted
    ketama), pylibmc with ketama_weighted, the README's nutcracker, and
    mcd-bench --servers each put every key on the same server."""

    def test_every_ketama_writer_agrees(self):
        need_pylibmc()
        servers = start_servers(self)
        ports = [s.port for s in servers]
        n = 600
        keys = ["key:%d" % i for i in range(n)]     # mcd-bench's keys
        pylibmc_client = run_python("pylibmc", ports)["mc"]
        pylibmc_client.set_multi({k: b"v" for k in keys})
        ref = holders(servers, keys)
        self.assertEqual(len(ref), n)
        counts = [list(ref.values()).count(i) for i in range(3)]

        with self.subTest(writer="C, libmemcached"):
            flush(servers)
            printed = self.run_c_snippet(ports, keys)
            self.assertEqual(holders(servers, keys), ref)
            self.assertEqual(printed, {k: "127.0.0.1:%d" % ports[ref[k]] for k in keys})

        with self.subTest(writer="nutcracker"):
            flush(servers)
            proxy = Nutcracker(ports)
            self.addCleanup(proxy.stop)
            c = proxy.connect()
            self.addCleanup(c.close)
            sets = b"".join(b"set %s 0 0 1\r\nv\r\n" % k.encode() for k in keys)
            self.assertEqual(request(c, sets, b"STORED\r\n" * n), b"STORED\r\n" * n)
            self.assertEqual(holders(servers, keys), ref)

        with self.subTest(writer="mcd-bench --servers"):
            flush(servers)
            r = mcd_bench("--servers", ",".join("127.0.0.1:%d" % p for p in ports),
                          "--ratio", "1:0", "--key-pattern", "sequential", "--key-max", n, "-n", n)
            self.assertEqual(holders(servers, keys), ref)
            self.assertEqual([s["keys"] for s in r["servers"]], counts)
            self.assertEqual([s["points"] for s in r["servers"]], [160] * 3)
        note("weighted ketama, 3 servers of weight 1: %s of %d keys per server, the same for "
             "libmemcached (C, pylibmc), nutcracker and mcd-bench" % (counts, n))

    def test_weighted_ring_of_mcd_bench_and_pylibmc(self):
        need_pylibmc()
        servers = start_servers(self)
        weights = (1, 3, 2)
        spec = ["127.0.0.1:%d:%d" % (s.port, w) for s, w in zip(servers, weights)]
        n = 1200
        keys = ["key:%d" % i for i in range(n)]
        mc = pylibmc.Client(spec, behaviors={"ketama_weighted": True})
        mc.set_multi({k: b"v" for k in keys})
        ref = holders(servers, keys)
        flush(servers)
        r = mcd_bench("--servers", ",".join(spec), "--ratio", "1:0", "--key-pattern",
                      "sequential", "--key-max", n, "-n", n)
        self.assertEqual(holders(servers, keys), ref)
        # libmemcached's share of 480 points, rounded down to fours in single precision.
        self.assertEqual([s["points"] for s in r["servers"]], [80, 240, 160])

    def run_c_snippet(self, ports, keys):
        """Build and run the README's C program on these keys: {key: "host:port"}."""
        cc = shutil.which("cc")
        if cc is None or not os.path.exists("/usr/include/libmemcached-1.0/memcached.h"):
            self.skipTest("cc or libmemcached's headers missing (Debian package libmemcached-dev)")
        tmp = tempfile.mkdtemp(prefix="mcd-c-")
        self.addCleanup(shutil.rmtree, tmp, True)
        src, exe = os.path.join(tmp, "cluster.c"), os.path.join(tmp, "cluster")
        with open(src, "w") as f:
            f.write(localize(snippet("libmemcached.c"), ports))
        build = subprocess.run([cc, "-Wall", "-Werror", "-o", exe, src, "-lmemcached"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(build.returncode, 0, build.stderr)
        p = subprocess.run([exe] + keys, capture_output=True, text=True, timeout=30 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr)
        printed = {}
        for line in p.stdout.splitlines():
            key, where, status = line.split(" ", 2)
            self.assertEqual(status, "SUCCESS", line)
            printed[key] = where
        return printed


def mcd_bench(*args):
    """Run bench/mcd-bench with args (--json added); its report. Fails on any error."""
    if not os.path.exists(MCDB_BIN):
        raise unittest.SkipTest("bench/mcd-bench not built (make bench/mcd-bench)")
    cmd = [MCDB_BIN, "--json"] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLOW)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                    p.stderr))
    r = json.loads(lines[-1])
    if r["verify_errors"] or r["protocol_errors"]:
        raise AssertionError("%s: %s" % (" ".join(cmd), r))
    return r


class BenchClusterTest(unittest.TestCase):
    """mcd-bench on a cluster: keys spread by ketama and checked on every read,
    directly and through nutcracker."""

    def test_mixed_load_over_three_servers(self):
        servers = start_servers(self)
        spec = ",".join("127.0.0.1:%d" % s.port for s in servers)
        r = mcd_bench("--servers", spec, "-c", 4, "--pipeline", 4, "--multiget", 8,
                      "--key-max", 3000, "--prefill", "-n", 4000)
        self.assertEqual(r["misses"], 0, r)
        per = r["servers"]
        self.assertEqual(len(per), 3)
        self.assertTrue(all(s["requests"] for s in per), per)
        self.assertEqual(sum(s["keys"] for s in per), r["sets"] + r["get_keys"])
        self.assertEqual(sum(s["hits"] for s in per), r["hits"])
        # The server saw what mcd-bench says it sent it (after the 3,000 prefill sets).
        sent = [server_stats(s)["cmd_get"] + server_stats(s)["cmd_set"] for s in servers]
        self.assertEqual(sum(sent), 3000 + r["sets"] + r["get_keys"])

    def test_servers_option_is_checked(self):
        if not os.path.exists(MCDB_BIN):
            self.skipTest("bench/mcd-bench not built (make bench/mcd-bench)")
        server = start_servers(self, 1)[0]
        for args, why in ((["--servers", "10.0.0.1:11211"], "only IPv4 loopback"),
                          (["--servers", server.addr, "-p", "11211"], "one or the other"),
                          (["--servers", server.addr + ":0"], "bad server"),
                          (["--servers", "127.0.0.1"], "bad server")):
            p = subprocess.run([MCDB_BIN, "-n", "10"] + args, capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(why, p.stderr, args)
        # A server that is not there fails the run, naming it.
        gone = start_servers(self, 1)[0]
        gone.stop()
        p = subprocess.run([MCDB_BIN, "--json", "-n", "10", "--servers",
                            "%s,%s" % (server.addr, gone.addr)],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("server 1: connect: Connection refused", p.stderr)

    def test_load_through_nutcracker(self):
        servers = start_servers(self)
        proxy = Nutcracker([s.port for s in servers])
        self.addCleanup(proxy.stop)
        r = mcd_bench("-s", "127.0.0.1", "-p", proxy.port, "-c", 4, "--pipeline", 4,
                      "--multiget", 8, "--key-max", 3000, "--prefill", "-n", 4000)
        self.assertEqual(r["misses"], 0, r)
        self.assertEqual(sum(server_stats(s)["curr_items"] for s in servers), 3000)


if __name__ == "__main__":
    unittest.main()
