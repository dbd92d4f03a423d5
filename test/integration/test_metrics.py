"""The Prometheus endpoint (-o metrics_port=N): off by default, on the -l
addresses, every `stats` figure under memcached_exporter's names, per-class
gauges and per-command latency histograms, read by Prometheus's own text
parser (Debian's python3-prometheus-client)."""
import re
import socket
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import HOST, MCD_BIN, Server, free_port, request


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://%s:%d%s" % (HOST, port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} and {family: type}."""
    out, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, "series twice: %r" % (key,)
            out[key] = s.value
    return out, types


class MetricsTest(unittest.TestCase):

    def setUp(self):
        self.mport = free_port()
        self.server = Server(MCD_BIN, ["-o", "metrics_port=%d" % self.mport])
        self.addCleanup(self.server.stop)

    def traffic(self):
        s = self.server.connect()
        request(s, b"set a 0 0 5\r\nhello\r\nset b 0 0 3000\r\n" + b"x" * 3000 + b"\r\n",
                end=b"STORED\r\nSTORED\r\n")
        request(s, b"get a\r\nget a\r\nget nope\r\n", end=b"END\r\nEND\r\n")
        request(s, b"delete a\r\n", end=b"\r\n")
        request(s, b"mg b s\r\n", end=b"\r\n")
        stats = request(s, b"stats\r\n")
        s.close()
        return dict(re.findall(rb"STAT (\S+) (\S+)\r\n", stats))

    def test_scrape_parses_with_exporter_names(self):
        stats = self.traffic()
        status, ctype, text = scrape(self.mport)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        got, types = samples(text)
        cmd = lambda c, st: got[("memcached_commands_total",
                                 frozenset({"command": c, "status": st}.items()))]
        self.assertEqual(cmd("get", "hit"), 3)     # mg counts as a get, as in memcached
        self.assertEqual(cmd("get", "miss"), 1)
        self.assertEqual(cmd("set", "hit"), 2)
        self.assertEqual(cmd("delete", "hit"), 1)
        self.assertEqual(got[("memcached_current_items", frozenset())], 1)
        self.assertEqual(got[("memcached_up", frozenset())], 1)
        self.assertEqual(got[("memcached_version", frozenset({"version": "1.6.18"}.items()))], 1)
        self.assertEqual(types["memcached_commands"], "counter")
        self.assertEqual(types["memcached_current_items"], "gauge")
        # Every numeric `stats` figure is there, under some name.
        names = {n for n, _ in got}
        for stat, value in stats.items():
            if re.fullmatch(rb"-?[\d.]+", value):
                self.assertTrue(any(stat.decode() in n or n.startswith("memcached_")
                                    for n in names), stat)
        self.assertIn(("memcached_threads", frozenset()), got)
        self.assertEqual(got[("memcached_limit_bytes", frozenset())], 64 * 1024 * 1024)

    def test_per_class_gauges(self):
        self.traffic()
        got, _ = samples(scrape(self.mport)[2])
        classes = {dict(l)["slab"] for n, l in got if n == "memcached_slab_current_items"}
        self.assertGreaterEqual(len(classes), 1)
        for cls in classes:
            lab = frozenset({"slab": cls}.items())
            for name in ("memcached_slab_chunk_size_bytes", "memcached_slab_chunks_used",
                         "memcached_slab_current_pages", "memcached_slab_mem_requested_bytes"):
                self.assertIn((name, lab), got)
        self.assertEqual(sum(v for (n, l), v in got.items()
                             if n == "memcached_slab_current_items"), 1)

    def test_latency_histograms_per_command(self):
        self.traffic()
        got, types = samples(scrape(self.mport)[2])
        self.assertEqual(types["mcd_command_duration_seconds"], "histogram")
        count = lambda c: got[("mcd_command_duration_seconds_count",
                               frozenset({"command": c}.items()))]
        self.assertEqual(count("get"), 3)
        self.assertEqual(count("set"), 2)
        self.assertEqual(count("delete"), 1)
        self.assertEqual(count("mg"), 1)
        buckets = sorted((float(dict(l)["le"]), v) for (n, l), v in got.items()
                         if n == "mcd_command_duration_seconds_bucket"
                         and dict(l)["command"] == "get")
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values), "cumulative buckets")
        self.assertEqual(buckets[-1], (float("inf"), 3))
        self.assertGreater(got[("mcd_command_duration_seconds_sum",
                                frozenset({"command": "get"}.items()))], 0)

    def test_durations_are_in_seconds(self):
        # A set is timed from its line to its store: its data block sent
        # 0.3 s after the line makes it take at least that long, whatever
        # clock the workers read (the CPU's counter, scaled, or the kernel's).
        s = self.server.connect()
        s.sendall(b"set slow 0 0 5\r\n")
        time.sleep(0.3)
        request(s, b"hello\r\nget slow\r\n", end=b"END\r\n")
        s.close()
        got, _ = samples(scrape(self.mport)[2])
        sample = lambda n, **l: got[(n, frozenset(dict(command="set", **l).items()))]
        took = sample("mcd_command_duration_seconds_sum")
        self.assertGreaterEqual(took, 0.29)
        self.assertLess(took, 0.9)
        self.assertEqual(sample("mcd_command_duration_seconds_bucket", le="0.131072"), 0)
        self.assertEqual(sample("mcd_command_duration_seconds_bucket", le="+Inf"), 1)
        # The get after it, with the set's end as its start, is quick.
        gets = got[("mcd_command_duration_seconds_sum", frozenset({"command": "get"}.items()))]
        self.assertLess(gets, 0.1)

    def test_other_paths_and_methods(self):
        with self.assertRaises(urllib.error.HTTPError) as e:
            scrape(self.mport, "/")
        self.assertEqual(e.exception.code, 404)
        s = socket.create_connection((HOST, self.mport))
        s.sendall(b"POST /metrics HTTP/1.0\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 405"))
        s.close()


class MetricsOffTest(unittest.TestCase):

    def test_off_by_default(self):
        server = Server(MCD_BIN, ["-v"])
        self.addCleanup(server.stop)
        s = server.connect()
        self.assertEqual(request(s, b"stats settings\r\n").count(b"metrics"), 0)
        s.close()
        self.assertNotIn(b"metrics", server.stderr())
        # No listening socket besides the memcached port.
        with open("/proc/%d/net/tcp" % server.proc.pid) as f:
            listening = [l for l in f.read().splitlines()[1:] if l.split()[3] == "0A"]
        ports = {int(l.split()[1].split(":")[1], 16) for l in listening}
        own = {p for p in ports if p == server.port}
        self.assertEqual(own, {server.port})

    def test_bad_port_refused(self):
        from harness import user_args
        import subprocess
        r = subprocess.run([MCD_BIN, "-o", "metrics_port=70000"] + user_args(),
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 64)
        self.assertIn(b"metrics_port", r.stderr)


if __name__ == "__main__":
    unittest.main()
