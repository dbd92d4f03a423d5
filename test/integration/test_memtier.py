"""memtier_benchmark against mcd, in memcache_text and memcache_binary modes:
every request answered, no connection or protocol error, hits counted; and
under memory pressure sets are answered by evicting, never by an error
(memtier pairs replies with requests and loses its place on anything else).

memtier_benchmark is not packaged in Debian: this test runs when it is on
PATH or named by MEMTIER_BIN (bench/README.md says how to build it by hand)
and is skipped otherwise."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import HOST, SLOW, Server, read_until

MEMTIER = os.environ.get("MEMTIER_BIN") or shutil.which("memtier_benchmark")


@unittest.skipUnless(MEMTIER, "memtier_benchmark not installed (see bench/README.md)")
class MemtierTest(unittest.TestCase):
    def memtier(self, server, protocol, *args):
        """Run memtier; returns (its Totals, its stderr)."""
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            p = subprocess.run([MEMTIER, "-s", HOST, "-p", str(server.port), "-P", protocol,
                                "-t", "2", "-c", "4", "--hide-histogram",
                                "--json-out-file=" + out] + list(args),
                               capture_output=True, timeout=120 * SLOW)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
            with open(out) as f:
                return json.load(f)["ALL STATS"]["Totals"], p.stderr.decode(errors="replace")

    def check(self, totals, err, requests):
        self.assertEqual(totals["Count"], requests)
        self.assertEqual(totals["Connection Errors"], 0)
        self.assertNotIn("error", err.lower())

    def test_text_and_binary_serve_every_request(self):
        with Server() as server:
            for protocol in ("memcache_text", "memcache_binary"):
                with self.subTest(protocol=protocol):
                    totals, err = self.memtier(server, protocol, "-n", "2000", "--ratio=1:4",
                                               "--key-maximum=500", "-d", "64", "--pipeline=4")
                    self.check(totals, err, 2 * 4 * 2000)
                    self.assertGreater(totals["Hits/sec"], 0)

    def test_sets_evict_under_memory_pressure(self):
        with Server(args=["-m", "8"]) as server:
            for protocol in ("memcache_text", "memcache_binary"):
                with self.subTest(protocol=protocol):
                    totals, err = self.memtier(server, protocol, "-n", "300", "--ratio=1:1",
                                               "--key-maximum=100000", "--key-pattern=P:P",
                                               "--data-size-range=1000-200000")
                    self.check(totals, err, 2 * 4 * 300)
            s = server.connect()
            s.sendall(b"stats\r\n")

            stats = read_until(s, lambda d: d.endswith(b"END\r\n"))
            s.close()
            self.assertNotIn(b"STAT evictions 0\r\n", stats)
            self.assertIn(b"STAT store_no_memory 0\r\n", stats)


if __name__ == "__main__":
    unittest.main()
