"""pymemcache (Debian's python3-pymemcache): the base Client's every storage,
retrieval and admin call, and its HashClient over two servers.

pymemcache sends storage commands with noreply by default, which answers True
whatever happened; the tests pass noreply=False wherever the answer matters.
"""
import unittest

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from harness import Server, read_until


class PymemcacheTest(unittest.TestCase):
    """One server for the class; every test flushes it first."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.c = Client(("127.0.0.1", self.server.port), connect_timeout=5, timeout=5)
        self.addCleanup(self.c.close)
        self.assertTrue(self.c.flush_all(noreply=False))

    def test_set_and_get(self):
        c = self.c
        self.assertTrue(c.set("k", b"v", noreply=False))
        self.assertEqual(c.get("k"), b"v")
        self.assertTrue(c.set("k", "text"))  # noreply
        self.assertEqual(c.get("k"), b"text")
        self.assertIsNone(c.get("missing"))
        self.assertEqual(c.get("missing", default=b"d"), b"d")
        self.assertTrue(c.set("e", b"", noreply=False))
        self.assertEqual(c.get("e"), b"")
        self.assertTrue(c.set("bin", b"\x00\r\n\xff", noreply=False))
        self.assertEqual(c.get("bin"), b"\x00\r\n\xff")

    def test_add(self):
        c = self.c
        self.assertTrue(c.add("k", b"1", noreply=False))
        self.assertFalse(c.add("k", b"2", noreply=False))
        self.assertEqual(c.get("k"), b"1")

    def test_replace(self):
        c = self.c
        self.assertFalse(c.replace("k", b"1", noreply=False))
        self.assertIsNone(c.get("k"))
        c.set("k", b"1", noreply=False)
        self.assertTrue(c.replace("k", b"2", noreply=False))
        self.assertEqual(c.get("k"), b"2")

    def test_append_and_prepend(self):
        c = self.c
        self.assertFalse(c.append("k", b"x", noreply=False))
        self.assertFalse(c.prepend("k", b"x", noreply=False))
        c.set("k", b"v", noreply=False)
        self.assertTrue(c.append("k", b"++", noreply=False))
        self.assertTrue(c.prepend("k", b"--", noreply=False))
        self.assertEqual(c.get("k"), b"--v++")

    def test_gets_and_cas(self):
        c = self.c
        self.assertEqual(c.gets("c"), (None, None))
        c.set("c", b"1", noreply=False)
        value, cas = c.gets("c")
        self.assertEqual(value, b"1")
        self.assertTrue(cas.isdigit(), cas)
        self.assertTrue(c.cas("c", b"2", cas, noreply=False))
        self.assertFalse(c.cas("c", b"3", cas, noreply=False), "a stale unique must be refused")
        self.assertIsNone(c.cas("missing", b"3", cas, noreply=False))
        self.assertEqual(c.get("c"), b"2")
        value, cas2 = c.gets("c")
        self.assertNotEqual(cas2, cas)

    def test_gets_many(self):
        c = self.c
        c.set_many({"a": b"1", "b": b"2"}, noreply=False)
        got = c.gets_many(["a", "b", "z"])
        self.assertEqual(sorted(got), ["a", "b"])
        self.assertEqual(got["a"][0], b"1")
        self.assertNotEqual(got["a"][1], got["b"][1])

    def test_incr_and_decr(self):
        c = self.c
        self.assertIsNone(c.incr("n", 1, noreply=False))
        self.assertIsNone(c.decr("n", 1, noreply=False))
        c.set("n", b"5", noreply=False)
        self.assertEqual(c.incr("n", 10), 15)
        self.assertEqual(c.decr("n", 1), 14)
        self.assertEqual(c.decr("n", 20), 0)
        self.assertEqual(c.incr("n", 18446744073709551615), 18446744073709551615)
        self.assertEqual(c.incr("n", 2), 1)

    def test_delete(self):
        c = self.c
        c.set("d", b"v", noreply=False)
        self.assertTrue(c.delete("d", noreply=False))
        self.assertFalse(c.delete("d", noreply=False))
        self.assertIsNone(c.get("d"))

    def test_set_many_get_many_delete_many(self):
        c = self.c
        self.assertEqual(c.set_many({"a": b"1", "b": b"2", "c": b"3"}, noreply=False), [])
        self.assertEqual(c.get_many(["a", "b", "c", "d"]), {"a": b"1", "b": b"2", "c": b"3"})
        self.assertEqual(c.get_many([]), {})
        self.assertTrue(c.delete_many(["a", "b", "x"], noreply=False))
        self.assertEqual(c.get_many(["a", "b", "c"]), {"c": b"3"})

    def test_touch(self):
        c = self.c
        self.assertFalse(c.touch("t", 100, noreply=False))
        c.set("t", b"v", noreply=False)
        self.assertTrue(c.touch("t", 100, noreply=False))
        self.assertEqual(c.get("t"), b"v")
        self.assertTrue(c.touch("t", -1, noreply=False))
        self.assertIsNone(c.get("t"), "touch with a negative exptime expires the item")

    def test_expire_in_the_past(self):
        c = self.c
        self.assertTrue(c.set("x", b"v", expire=-1, noreply=False))
        self.assertIsNone(c.get("x"))

    def test_flush_all(self):
        c = self.c
        c.set_many({"a": b"1", "b": b"2"}, noreply=False)
        self.assertTrue(c.flush_all(noreply=False))
        self.assertEqual(c.get_many(["a", "b"]), {})

    def test_version(self):
        v = self.c.version()
        self.assertRegex(v, rb"^1\.6\.\d+")

    def test_stats(self):
        c = self.c
        stats = c.stats()
        for name in (b"pid", b"uptime", b"curr_items", b"total_items", b"get_hits", b"get_misses",
                     b"cmd_get", b"cmd_set", b"bytes", b"curr_connections", b"limit_maxbytes",
                     b"threads", b"evictions"):
            self.assertIn(name, stats)
        self.assertIsInstance(stats[b"curr_items"], int)
        self.assertEqual(stats[b"limit_maxbytes"], 64 * 1024 * 1024)
        hits = stats[b"get_hits"]
        c.set("s", b"x", noreply=False)
        c.get("s")
        self.assertEqual(c.stats()[b"get_hits"], hits + 1)
        settings = c.stats("settings")
        self.assertEqual(settings[b"maxconns"], 1024)
        self.assertEqual(settings[b"item_size_max"], 1024 * 1024)
        self.assertEqual(settings[b"cas_enabled"], b"yes")

    def test_cache_memlimit(self):
        self.assertTrue(self.c.cache_memlimit(100))
        self.assertEqual(self.c.stats()[b"limit_maxbytes"], 100 * 1024 * 1024)
        self.assertTrue(self.c.cache_memlimit(64))

    def test_server_error_on_too_large_value(self):
        from pymemcache.exceptions import MemcacheServerError
        with self.assertRaises(MemcacheServerError):
            self.c.set("big", b"x" * (1024 * 1024 + 1), noreply=False)
        # The connection stays usable.
        self.assertTrue(self.c.set("small", b"x", noreply=False))
        self.assertEqual(self.c.get("small"), b"x")


class HashClientTest(unittest.TestCase):
    def test_hash_client_over_two_servers(self):
        servers = [Server(), Server()]
        for s in servers:
            self.addCleanup(s.stop)
        self.addCleanup(lambda: [s.terminate() for s in servers])
        hc = HashClient([("127.0.0.1", s.port) for s in servers], connect_timeout=5, timeout=5)
        self.addCleanup(hc.close)
        keys = ["h%d" % i for i in range(200)]
        for i, k in enumerate(keys):
            self.assertTrue(hc.set(k, str(i).encode(), noreply=False), k)
        for i, k in enumerate(keys):
            self.assertEqual(hc.get(k), str(i).encode())
        self.assertEqual(hc.get_many(keys), {k: str(i).encode() for i, k in enumerate(keys)})
        self.assertEqual(hc.incr("h1", 5), 6)
        self.assertTrue(hc.delete("h2", noreply=False))
        self.assertIsNone(hc.get("h2"))
        counts = []
        for s in servers:
            c = s.connect()
            try:
                c.sendall(b"get " + " ".join(keys).encode() + b"\r\n")
                data = read_until(c, lambda d: d.endswith(b"END\r\n"))
            finally:
                c.close()
            counts.append(data.count(b"VALUE "))
        self.assertTrue(all(counts), "a server holds no key: %s" % counts)
        self.assertEqual(sum(counts), 199, counts)


if __name__ == "__main__":
    unittest.main()
