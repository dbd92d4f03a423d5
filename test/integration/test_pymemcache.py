"""The same basics with pymemcache, including its HashClient over two servers."""
import unittest

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from harness import Server


class PymemcacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.c = Client(("127.0.0.1", self.server.port))
        self.c.flush_all()

    def tearDown(self):
        self.c.close()

    def test_storage_commands(self):
        c = self.c
        self.assertTrue(c.set("k", b"v"))
        self.assertEqual(c.get("k"), b"v")
        self.assertFalse(c.add("k", b"w", noreply=False))
        self.assertTrue(c.add("k2", b"w", noreply=False))
        self.assertTrue(c.replace("k2", b"z", noreply=False))
        self.assertFalse(c.replace("nope", b"z", noreply=False))
        self.assertTrue(c.append("k", b"++", noreply=False))
        self.assertTrue(c.prepend("k", b"--", noreply=False))
        self.assertEqual(c.get("k"), b"--v++")

    def test_gets_and_cas(self):
        c = self.c
        c.set("c", b"1")
        value, cas = c.gets("c")
        self.assertEqual(value, b"1")
        self.assertTrue(c.cas("c", b"2", cas))
        self.assertFalse(c.cas("c", b"3", cas))
        self.assertIsNone(c.cas("missing", b"3", cas))
        self.assertEqual(c.get("c"), b"2")

    def test_incr_decr_delete_touch(self):
        c = self.c
        c.set("n", b"5")
        self.assertEqual(c.incr("n", 10), 15)
        self.assertEqual(c.decr("n", 20), 0)
        self.assertIsNone(c.incr("absent", 1))
        self.assertTrue(c.touch("n", 100, noreply=False))
        self.assertFalse(c.touch("absent", 100, noreply=False))
        self.assertTrue(c.delete("n", noreply=False))
        self.assertFalse(c.delete("n", noreply=False))

    def test_many(self):
        c = self.c
        self.assertEqual(c.set_many({"a": b"1", "b": b"2", "c": b"3"}, noreply=False), [])
        self.assertEqual(c.get_many(["a", "b", "c", "d"]), {"a": b"1", "b": b"2", "c": b"3"})
        self.assertTrue(c.delete_many(["a", "b"], noreply=False))
        self.assertEqual(c.get_many(["a", "b", "c"]), {"c": b"3"})

    def test_stats_and_version(self):
        c = self.c
        c.set("s", b"x")
        stats = c.stats()
        self.assertEqual(stats[b"curr_items"], 1)
        self.assertIn(b"get_hits", stats)
        self.assertTrue(c.version().startswith(b"1.6"))
        settings = c.stats("settings")
        self.assertEqual(settings[b"maxconns"], 1024)

    def test_hash_client_over_two_servers(self):
        with Server() as other:
            hc = HashClient([("127.0.0.1", self.server.port), ("127.0.0.1", other.port)])
            for i in range(100):
                hc.set("h%d" % i, str(i).encode())
            for i in range(100):
                self.assertEqual(hc.get("h%d" % i), str(i).encode())
            a = Client(("127.0.0.1", other.port))
            held = a.stats()[b"curr_items"]
            a.close()
            self.assertGreater(held, 0)
            self.assertLess(held, 100)
            hc.close()


if __name__ == "__main__":
    unittest.main()
