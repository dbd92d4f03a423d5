"""The python-memcached tutorial, verbatim but for the address, against mcd."""
import threading
import unittest

import memcache

from harness import Server


class TutorialTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.mc = memcache.Client([self.server.addr], debug=0)
        self.mc.flush_all()

    def tearDown(self):
        self.mc.disconnect_all()

    def test_set_and_get(self):
        self.assertTrue(self.mc.set("some_key", "Some value"))
        self.assertEqual(self.mc.get("some_key"), "Some value")
        self.assertIsNone(self.mc.get("another_key"))

    def test_add_twice_fails_the_second_time(self):
        self.assertTrue(self.mc.add("key", "1"))
        self.assertFalse(self.mc.add("key", "2"))
        self.assertEqual(self.mc.get("key"), "1")

    def test_replace_of_missing_key_fails(self):
        self.assertFalse(self.mc.replace("missing", "x"))
        self.assertIsNone(self.mc.get("missing"))
        self.mc.set("present", "a")
        self.assertTrue(self.mc.replace("present", "b"))
        self.assertEqual(self.mc.get("present"), "b")

    def test_set_multi_and_get_multi(self):
        self.assertEqual(self.mc.set_multi({"k1": 1, "k2": "two", "k3": b"3"}), [])
        self.assertEqual(self.mc.get_multi(["k1", "k2", "k3", "nope"]),
                         {"k1": 1, "k2": "two", "k3": b"3"})
        self.assertEqual(self.mc.set_multi({"a": 1, "b": 2}, key_prefix="p_"), [])
        self.assertEqual(self.mc.get_multi(["a", "b"], key_prefix="p_"), {"a": 1, "b": 2})
        self.assertEqual(self.mc.get("p_a"), 1)

    def test_delete_and_delete_multi(self):
        self.mc.set("d", "v")
        self.assertTrue(self.mc.delete("d"))
        self.assertIsNone(self.mc.get("d"))
        self.mc.set_multi({"x": 1, "y": 2})
        self.assertTrue(self.mc.delete_multi(["x", "y"]))
        self.assertEqual(self.mc.get_multi(["x", "y"]), {})

    def test_append_and_prepend(self):
        self.mc.set("s", "middle")
        self.assertTrue(self.mc.append("s", "_end"))
        self.assertTrue(self.mc.prepend("s", "start_"))
        self.assertEqual(self.mc.get("s"), "start_middle_end")
        self.assertFalse(self.mc.append("nothere", "x"))

    def test_incr_and_decr(self):
        self.mc.set("counter", "10")
        self.assertEqual(self.mc.incr("counter"), 11)
        self.assertEqual(self.mc.incr("counter", 9), 20)
        self.assertEqual(self.mc.decr("counter"), 19)
        self.assertEqual(self.mc.decr("counter", 100), 0)
        self.assertIsNone(self.mc.incr("no_counter"))

    def test_gets_and_cas_refuse_the_lost_update(self):
        a = memcache.Client([self.server.addr], cache_cas=True)
        b = memcache.Client([self.server.addr], cache_cas=True)
        a.set("balance", 100)
        self.assertEqual(a.gets("balance"), 100)
        self.assertEqual(b.gets("balance"), 100)
        self.assertTrue(a.cas("balance", 150))
        self.assertFalse(b.cas("balance", 50))
        self.assertEqual(self.mc.get("balance"), 150)

    def test_values_of_every_type_round_trip(self):
        values = {"int": 42, "str": "text", "bytes": b"\x00\xffraw",
                  "dict": {"a": [1, 2, 3]}, "big": "x" * 1000000}
        for k, v in values.items():
            self.assertTrue(self.mc.set(k, v), k)
        for k, v in values.items():
            self.assertEqual(self.mc.get(k), v, k)

    def test_flush_all_empties_the_cache(self):
        self.mc.set("f", "1")
        self.mc.flush_all()
        self.assertIsNone(self.mc.get("f"))

    def test_get_stats_names_and_counts(self):
        self.mc.set("st", "1")
        self.mc.get("st")
        self.mc.get("st-miss")
        stats = dict(self.mc.get_stats()[0][1])
        for name in ("curr_items", "get_hits", "get_misses", "cmd_get", "cmd_set",
                     "evictions", "bytes", "limit_maxbytes", "curr_connections",
                     "total_connections", "threads"):
            self.assertIn(name, stats)
        self.assertEqual(stats["curr_items"], "1")
        self.assertEqual(stats["limit_maxbytes"], str(64 * 1024 * 1024))


class WeightedClusterTest(unittest.TestCase):
    def test_keys_spread_over_three_weighted_servers(self):
        servers = [Server() for _ in range(3)]
        try:
            mc = memcache.Client([(servers[0].addr, 1), (servers[1].addr, 2),
                                  (servers[2].addr, 1)])
            keys = ["key%d" % i for i in range(300)]
            for k in keys:
                self.assertTrue(mc.set(k, "v-" + k))
            for k in keys:
                self.assertEqual(mc.get(k), "v-" + k)
            counts = []
            for s in servers:
                one = memcache.Client([s.addr])
                counts.append(int(dict(one.get_stats()[0][1])["curr_items"]))
                one.disconnect_all()
            self.assertEqual(sum(counts), 300)
            self.assertTrue(all(c > 0 for c in counts), counts)
            self.assertGreater(counts[1], counts[0])
            mc.disconnect_all()
        finally:
            for s in servers:
                s.stop()


class ConcurrentClientsTest(unittest.TestCase):
    def test_threads_with_their_own_clients(self):
        with Server(args=["-t", "4"]) as server:
            errors = []

            def work(n):
                mc = memcache.Client([server.addr])
                for i in range(200):
                    key = "t%d-%d" % (n, i)
                    mc.set(key, key * 3)
                    if mc.get(key) != key * 3:
                        errors.append(key)
                mc.disconnect_all()

            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])


if __name__ == "__main__":
    unittest.main()
