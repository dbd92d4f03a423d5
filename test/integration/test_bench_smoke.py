"""bench/mcd-bench against a real server for a few seconds: it must report a
non-zero rate, every get must hit, and no value may come back wrong.

Also checks that mcd-bench itself catches a wrong value, so a zero in the
first test means something, and runs the options `make bench` relies on
(--report-interval, stopping a run by signal), storage-bench's phases, the
no-storage responder (mcd-nostore, with --no-verify) and instr-count, the
program the callgrind workload counts.
"""
import json
import os
import signal
import subprocess
import time
import unittest

from harness import MEMCACHED_BIN, ROOT, SLOW, Server

MCDB_BIN = os.environ.get("MCDB_BIN", os.path.join(ROOT, "bench", "mcd-bench"))
STORAGE_BENCH_BIN = os.path.join(ROOT, "bench", "storage-bench")
NOSTORE_BIN = os.path.join(ROOT, "bench", "mcd-nostore")
INSTR_COUNT_BIN = os.path.join(ROOT, "bench", "instr-count")
COUNTS = ("requests", "sets", "gets", "get_keys", "hits", "misses", "sets_refused",
          "verify_errors", "protocol_errors")


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
            # Polling instead of sleeping still paces the sends at the rate.
            rc, r = run_bench(server, "-c", "4", "--rate", "2000", "--busy-poll",
                              "--test-time", "1", "--key-max", "2000", "--ratio", "0:1")
            self.check_clean(rc, r)
            self.assertGreater(r["requests"], 1000, r)
            self.assertLessEqual(r["requests"], 2100, r)

    def test_busy_poll_needs_a_rate(self):
        p = subprocess.run([MCDB_BIN, "--busy-poll", "-n", "10"], capture_output=True, timeout=30)
        self.assertNotEqual(p.returncode, 0, p)
        self.assertIn(b"give --rate too", p.stderr)

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

    def test_report_interval_lines_add_up_to_the_total(self):
        with Server() as server:
            cmd = [MCDB_BIN, "-s", "127.0.0.1", "-p", str(server.port), "--json", "-c", "4",
                   "--pipeline", "2", "--key-max", "3000", "-d", "100", "--ratio", "1:4",
                   "--key-pattern", "zipf", "--set-on-miss", "--report-interval", "0.2",
                   "--test-time", "1.1"]
            p = subprocess.run(cmd, capture_output=True, timeout=30 * SLOW)
            lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
            total, intervals = lines[-1], lines[:-1]
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertNotIn("interval", total)
            self.assertGreaterEqual(len(intervals), 5, lines)
            self.assertTrue(all(iv["interval"] and iv["dt"] > 0 for iv in intervals), lines)
            for k in COUNTS:
                self.assertEqual(sum(iv[k] for iv in intervals), total[k], k)
            # Cache-aside from empty: the first interval misses more than the last.
            self.assertGreater(total["misses"], 0, total)
            self.assertLess(intervals[0]["hit_ratio"], intervals[-2]["hit_ratio"], intervals)

    def test_sigint_ends_a_run_with_its_report(self):
        with Server() as server:
            cmd = [MCDB_BIN, "-s", "127.0.0.1", "-p", str(server.port), "--json", "-c", "2",
                   "--key-max", "1000", "--ratio", "0:1", "--set-on-miss", "--rate", "2000",
                   "--report-interval", "0.1", "--test-time", "60"]
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                first = json.loads(p.stdout.readline())
                self.assertTrue(first["interval"], first)
                time.sleep(0.3)                 # a few more intervals' worth of requests
                t0 = time.monotonic()
                p.send_signal(signal.SIGINT)
                out, err = p.communicate(timeout=10 * SLOW)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertLess(time.monotonic() - t0, 5 * SLOW)
            self.assertEqual(p.returncode, 0, err.decode())
            total = json.loads(out.decode().splitlines()[-1])
            self.assertNotIn("interval", total)
            self.assertGreater(total["requests"], first["requests"], total)
            self.assertEqual(total["verify_errors"] + total["protocol_errors"], 0, total)

    @unittest.skipUnless(os.path.exists(STORAGE_BENCH_BIN), "storage-bench not built")
    def test_storage_bench_phases_verify(self):
        p = subprocess.run([STORAGE_BENCH_BIN, "--threads", "1,2", "--keys", "2000",
                            "--ops", "20000", "--mixed-ratio", "1:10", "--json"],
                           capture_output=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        runs = [json.loads(x) for x in p.stdout.decode().splitlines()]
        self.assertEqual([r["threads"] for r in runs], [1, 2])
        for r in runs:
            self.assertEqual(r["errors"], 0, r)
            for op in ("set", "get", "mixed"):
                self.assertGreater(r["%s_ops_per_sec" % op], 0, r)

    @unittest.skipUnless(os.path.exists(NOSTORE_BIN), "mcd-nostore not built")
    def test_nostore_responder_answers_every_protocol(self):
        with Server(binary=NOSTORE_BIN) as server:
            for proto in ("text", "meta", "binary"):
                rc, r = run_bench(server, "-P", proto, "-c", "2", "--pipeline", "4",
                                  "--multiget", "3", "--key-max", "1000", "--prefill",
                                  "-n", "2000", "--no-verify")
                self.check_clean(rc, r)
                self.assertEqual(r["get_keys"], 3 * r["gets"], r)
            # Its values are not the keys' own: checked, every hit is wrong.
            rc, r = run_bench(server, "-c", "2", "--key-max", "100", "-n", "50", "--ratio", "0:1")
            self.assertEqual(rc, 1, r)
            self.assertEqual(r["verify_errors"], 50, r)

    @unittest.skipUnless(os.path.exists(INSTR_COUNT_BIN), "instr-count not built")
    def test_instr_count_phases_check(self):
        # Without valgrind it runs every phase unmeasured, checking hits and misses.
        p = subprocess.run([INSTR_COUNT_BIN, "64"], capture_output=True, timeout=60 * SLOW)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        phases = json.loads(p.stdout.decode())["phases"]
        # 3 protocols x 4 requests x 2 batch sizes, then text get hits and
        # sets with the latency histograms on (it checks they all counted).
        self.assertEqual(len(phases), 3 * 4 * 2 + 2 * 2, phases)
        self.assertEqual({ph["protocol"] for ph in phases}, {"text", "meta", "binary"})
        self.assertEqual(sorted(ph["label"] for ph in phases if "timed" in ph["kind"]),
                         ["text get_hit_timed 1", "text get_hit_timed 16",
                          "text set_timed 1", "text set_timed 16"])

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
