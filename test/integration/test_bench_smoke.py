"""bench/mcd-bench against a real server for a few seconds: it must report a
non-zero rate, every get must hit, and no value may come back wrong.

Also checks that mcd-bench itself catches a wrong value, so a zero in the
first test means something.
"""
import json
import os
import subprocess
import unittest

from harness import MEMCACHED_BIN, ROOT, SLOW, Server

MCDB_BIN = os.environ.get("MCDB_BIN", os.path.join(ROOT, "bench", "mcd-bench"))


def run_bench(server, *args):
    """Run mcd-bench against server with args; (exit status, parsed JSON line)."""
    cmd = [MCDB_BIN, "-s", "127.0.0.1", "-p", str(server.port), "--json"] + list(args)
    p = subprocess.run(cmd, capture_output=True, timeout=60 * SLOW)
    lines = p.stdout.decode().strip().splitlines()
    if not lines:
        raise AssertionError("no output from %s:\n%s" % (" ".join(cmd), p.stderr.decode()))
    return p.returncode, json.loads(lines[-1])


class BenchSmokeTest(unittest.TestCase):
    def check_clean(self, rc, r):
        self.assertEqual(r["verify_errors"], 0, r)
        self.assertEqual(r["protocol_errors"], 0, r)
        self.assertEqual(rc, 0, r)
        self.assertGreater(r["ops_per_sec"], 0, r)
        self.assertEqual(r["misses"], 0, r)
        self.assertGreater(r["hits"], 0, r)

    def test_pipelined_mixed_load_verifies(self):
        with Server(args=["-t", "2"]) as server:
            rc, r = run_bench(server, "-t", "2", "-c", "4", "--pipeline", "8",
                              "--ratio", "1:10", "--key-max", "5000", "--prefill",
                              "--test-time", "2", "-d", "10-300")
            self.check_clean(rc, r)
            self.assertGreater(r["sets"], 0, r)

    def test_multiget_and_open_loop(self):
        with Server() as server:
            rc, r = run_bench(server, "-c", "2", "--multiget", "20", "--key-max", "2000",
                              "--prefill", "-n", "2000", "--key-pattern", "zipf:0.9")
            self.check_clean(rc, r)
            self.assertEqual(r["get_keys"], 20 * r["gets"], r)
            rc, r = run_bench(server, "-c", "4", "--rate", "2000", "--test-time", "1",
                              "--key-max", "2000", "--ratio", "0:1")
            self.check_clean(rc, r)
            self.assertGreater(r["requests"], 1000, r)

    def test_wrong_values_are_errors(self):
        with Server() as server:
            # Values stored 40 bytes long, read back expecting 41: every hit is wrong.
            rc, r = run_bench(server, "--key-max", "100", "--prefill", "-n", "0", "-d", "40")
            self.assertEqual(rc, 0, r)
            rc, r = run_bench(server, "--key-max", "100", "-n", "50", "--ratio", "0:1", "-d", "41")
            self.assertEqual(rc, 1, r)
            self.assertEqual(r["verify_errors"], 50, r)

    def test_refused_sets_are_counted_not_errors(self):
        # -M: a full cache answers SERVER_ERROR out of memory instead of evicting.
        with Server(args=["-M", "-m", "2"]) as server:
            rc, r = run_bench(server, "--key-max", "10000", "-d", "1000", "--prefill", "-n", "0")
            self.assertEqual(rc, 0, r)
            self.assertEqual(r["protocol_errors"], 0, r)
            self.assertGreater(r["sets_refused"], 0, r)

    @unittest.skipUnless(os.path.exists(MEMCACHED_BIN), "no memcached")
    def test_meta_and_binary_against_memcached(self):
        with Server(binary=MEMCACHED_BIN) as server:
            for proto in ("text", "meta", "binary"):
                rc, r = run_bench(server, "-P", proto, "-c", "2", "--pipeline", "4",
                                  "--multiget", "5", "--key-max", "1000", "--prefill",
                                  "-n", "3000", "-d", "1-200")
                self.check_clean(rc, r)


if __name__ == "__main__":
    unittest.main()
