"""python-memcached (Debian's python3-memcache) against the server: its
tutorial verbatim but for the address, every call it documents, and its
weighted multi-server client.

The values asserted are what the client returns against memcached 1.6.18,
quirks included: delete() answers 1 for a missing key too, a value over the
client's 1 MB limit is refused client-side with 0, one over the server's
limit with False.
"""
import pickle
import re
import time
import unittest

import memcache

from harness import Server, read_until


class TutorialTest(unittest.TestCase):
    """One server for the class; every test flushes it first."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.mc = memcache.Client([self.server.addr], debug=0)
        self.addCleanup(self.mc.disconnect_all)
        self.mc.flush_all()

    def test_tutorial_verbatim(self):
        mc = memcache.Client([self.server.addr], debug=0)
        self.addCleanup(mc.disconnect_all)

        mc.set("some_key", "Some value")
        value = mc.get("some_key")
        self.assertEqual(value, "Some value")

        mc.set("another_key", 3)
        mc.delete("another_key")
        self.assertIsNone(mc.get("another_key"))

        mc.set("key", "1")  # note that the key used for incr/decr must be a string.
        self.assertEqual(mc.incr("key"), 2)
        self.assertEqual(mc.decr("key"), 1)
        self.assertEqual(mc.get("key"), "1")

    def test_set_and_get(self):
        self.assertTrue(self.mc.set("some_key", "Some value"))
        self.assertEqual(self.mc.get("some_key"), "Some value")
        self.assertIsNone(self.mc.get("another_key"))
        self.assertTrue(self.mc.set("some_key", "Other value"))
        self.assertEqual(self.mc.get("some_key"), "Other value")

    def test_add_twice_fails_the_second_time(self):
        self.assertTrue(self.mc.add("key", "1"))
        self.assertFalse(self.mc.add("key", "2"))
        self.assertEqual(self.mc.get("key"), "1")

    def test_replace_of_missing_key_fails(self):
        self.assertFalse(self.mc.replace("missing", "x"))
        self.assertIsNone(self.mc.get("missing"))
        self.assertTrue(self.mc.set("present", "a"))
        self.assertTrue(self.mc.replace("present", "b"))
        self.assertEqual(self.mc.get("present"), "b")

    def test_set_multi_and_get_multi(self):
        self.assertEqual(self.mc.set_multi({"k1": 1, "k2": "two", "k3": b"3"}), [])
        self.assertEqual(self.mc.get_multi(["k1", "k2", "k3", "nope"]),
                         {"k1": 1, "k2": "two", "k3": b"3"})
        self.assertEqual(self.mc.get_multi([]), {})

    def test_set_multi_and_get_multi_with_key_prefix(self):
        self.assertEqual(self.mc.set_multi({"a": 1, "b": 2}, key_prefix="p_"), [])
        self.assertEqual(self.mc.get_multi(["a", "b", "c"], key_prefix="p_"), {"a": 1, "b": 2})
        self.assertEqual(self.mc.get("p_a"), 1)
        self.assertIsNone(self.mc.get("a"))

    def test_delete(self):
        self.assertTrue(self.mc.set("d", "v"))
        self.assertEqual(self.mc.delete("d"), 1)
        self.assertIsNone(self.mc.get("d"))
        # python-memcached answers 1 for NOT_FOUND as well.
        self.assertEqual(self.mc.delete("d"), 1)

    def test_delete_multi(self):
        self.assertEqual(self.mc.set_multi({"x": 1, "y": 2, "z": 3}), [])
        self.assertEqual(self.mc.delete_multi(["x", "y", "missing"]), 1)
        self.assertEqual(self.mc.get_multi(["x", "y", "z"]), {"z": 3})
        self.assertEqual(self.mc.set_multi({"a": 1}, key_prefix="q_"), [])
        self.assertEqual(self.mc.delete_multi(["a"], key_prefix="q_"), 1)
        self.assertIsNone(self.mc.get("q_a"))

    def test_append_and_prepend(self):
        self.assertTrue(self.mc.set("s", "middle"))
        self.assertTrue(self.mc.append("s", "_end"))
        self.assertTrue(self.mc.prepend("s", "start_"))
        self.assertEqual(self.mc.get("s"), "start_middle_end")
        self.assertFalse(self.mc.append("nothere", "x"))
        self.assertFalse(self.mc.prepend("nothere", "x"))
        self.assertIsNone(self.mc.get("nothere"))

    def test_incr_and_decr_without_delta(self):
        self.assertTrue(self.mc.set("counter", "10"))
        self.assertEqual(self.mc.incr("counter"), 11)
        self.assertEqual(self.mc.decr("counter"), 10)
        self.assertEqual(self.mc.get("counter"), "10")

    def test_incr_and_decr_with_delta(self):
        self.assertTrue(self.mc.set("counter", "10"))
        self.assertEqual(self.mc.incr("counter", 90), 100)
        self.assertEqual(self.mc.get("counter"), "100")
        self.assertEqual(self.mc.decr("counter", 1), 99)
        # memcached decrements in place and pads with a space.
        self.assertEqual(self.mc.get("counter"), "99 ")

    def test_incr_of_missing_key_is_none(self):
        self.assertIsNone(self.mc.incr("no_counter"))
        self.assertIsNone(self.mc.decr("no_counter", 5))
        self.assertIsNone(self.mc.get("no_counter"))

    def test_decr_stops_at_zero(self):
        self.assertTrue(self.mc.set("counter", "3"))
        self.assertEqual(self.mc.decr("counter", 100), 0)
        self.assertEqual(self.mc.decr("counter"), 0)
        self.assertEqual(self.mc.incr("counter"), 1)

    def test_gets_and_cas_refuse_the_lost_update(self):
        a = memcache.Client([self.server.addr], cache_cas=True)
        self.addCleanup(a.disconnect_all)
        b = memcache.Client([self.server.addr], cache_cas=True)
        self.addCleanup(b.disconnect_all)
        self.assertTrue(a.set("balance", 100))
        self.assertEqual(a.gets("balance"), 100)
        self.assertEqual(b.gets("balance"), 100)
        self.assertTrue(a.cas("balance", 150), "first cas after gets must store")
        self.assertFalse(b.cas("balance", 50), "second cas with the stale unique must be refused")
        self.assertEqual(self.mc.get("balance"), 150)
        # B reads again and now wins.
        self.assertEqual(b.gets("balance"), 150)
        self.assertTrue(b.cas("balance", 75))
        self.assertEqual(self.mc.get("balance"), 75)

    def test_cas_after_delete_is_refused(self):
        a = memcache.Client([self.server.addr], cache_cas=True)
        self.addCleanup(a.disconnect_all)
        self.assertTrue(a.set("gone", 1))
        self.assertEqual(a.gets("gone"), 1)
        self.assertEqual(self.mc.delete("gone"), 1)
        self.assertFalse(a.cas("gone", 2))
        self.assertIsNone(self.mc.get("gone"))

    def test_values_of_every_type_round_trip(self):
        values = {"int": 42, "negative": -7, "float": 1.5, "str": "text", "unicode": "h\u00e9llo \u2603",
                  "bytes": b"\x00\xff\r\nraw", "empty": "", "dict": {"a": [1, 2, 3], "b": None},
                  "list": [1, "two", 3.0], "pickled": pickle.dumps({"x": 1, "y": [2]})}
        for k, v in values.items():
            self.assertTrue(self.mc.set(k, v), "set %s" % k)
        for k, v in values.items():
            self.assertEqual(self.mc.get(k), v, k)
        self.assertEqual(pickle.loads(self.mc.get("pickled")), {"x": 1, "y": [2]})
        self.assertEqual(self.mc.get_multi(list(values)), values)

    def test_long_values_near_1_mb(self):
        for n in (100000, 1000000, 1048576 - 200):
            v = "v" * n
            self.assertTrue(self.mc.set("long", v), "set of %d bytes" % n)
            self.assertEqual(self.mc.get("long"), v, "get of %d bytes" % n)
        # Over the server's limit (item header + key + value > 1 MB): refused.
        self.assertFalse(self.mc.set("toolong", b"x" * 1048570))
        self.assertIsNone(self.mc.get("toolong"))
        # Over the client's own limit: never sent.
        self.assertEqual(self.mc.set("toolong", b"x" * 1048577), 0)

    def test_flush_all_empties_the_cache(self):
        self.assertEqual(self.mc.set_multi({"f1": 1, "f2": 2}), [])
        self.mc.flush_all()
        self.assertEqual(self.mc.get_multi(["f1", "f2"]), {})
        self.assertTrue(self.mc.set("f3", 3))
        self.assertEqual(self.mc.get("f3"), 3)

    def test_disconnect_all_then_reconnects(self):
        self.assertTrue(self.mc.set("dc", "v"))
        self.mc.disconnect_all()
        self.assertEqual(self.mc.get("dc"), "v")
        self.mc.disconnect_all()
        self.assertTrue(self.mc.set("dc", "w"))
        self.assertEqual(self.mc.get("dc"), "w")


class StatsTest(unittest.TestCase):
    """A fresh server: memcached's curr_items does not drop on flush_all."""

    def test_get_stats_names_and_counts(self):
        server = Server(args=["-m", "32"])
        self.addCleanup(server.stop)
        mc = memcache.Client([server.addr], debug=0)
        self.addCleanup(mc.disconnect_all)
        self.assertTrue(mc.set("st", "1"))
        self.assertTrue(mc.set("st2", "2"))
        self.assertEqual(mc.get("st"), "1")
        self.assertIsNone(mc.get("st-miss"))
        all_stats = mc.get_stats()
        self.assertEqual(len(all_stats), 1)
        name, stats = all_stats[0]
        self.assertEqual(name, "%s (1)" % server.addr)
        for key in ("pid", "uptime", "time", "version", "curr_items", "total_items", "bytes",
                    "get_hits", "get_misses", "cmd_get", "cmd_set", "evictions", "limit_maxbytes",
                    "curr_connections", "total_connections", "threads"):
            self.assertIn(key, stats)
        self.assertEqual(stats["curr_items"], "2")
        self.assertEqual(stats["total_items"], "2")
        self.assertEqual(stats["get_hits"], "1")
        self.assertEqual(stats["get_misses"], "1")
        self.assertEqual(stats["cmd_get"], "2")
        self.assertEqual(stats["cmd_set"], "2")
        self.assertEqual(stats["limit_maxbytes"], str(32 * 1024 * 1024))
        self.assertEqual(stats["threads"], "4")
        settings = dict(mc.get_stats("settings")[0][1])
        self.assertEqual(settings["maxbytes"], str(32 * 1024 * 1024))
        self.assertEqual(settings["maxconns"], "1024")

    def test_disconnect_all_closes_the_connection(self):
        server = Server()
        self.addCleanup(server.stop)
        watcher = server.connect()  # one connection for every stats read
        self.addCleanup(watcher.close)

        def curr_connections():
            watcher.sendall(b"stats\r\n")
            data = read_until(watcher, lambda d: d.endswith(b"END\r\n"))
            return int(re.search(rb"STAT curr_connections (\d+)\r\n", data).group(1))

        def settle(want):
            """Poll until curr_connections is want (closes are counted late)."""
            deadline = time.monotonic() + 3
            got = curr_connections()
            while got != want and time.monotonic() < deadline:
                time.sleep(0.02)
                got = curr_connections()
            return got

        mc = memcache.Client([server.addr], debug=0)
        self.addCleanup(mc.disconnect_all)
        time.sleep(0.1)  # the start-up probe's close
        idle = curr_connections()
        self.assertTrue(mc.set("k", "v"))
        self.assertEqual(settle(idle + 1), idle + 1, "the client's connection is not counted")
        mc.disconnect_all()
        self.assertEqual(settle(idle), idle, "disconnect_all left the connection open")
        self.assertEqual(mc.get("k"), "v")


class WeightedClusterTest(unittest.TestCase):
    def test_300_keys_over_three_weighted_servers(self):
        servers = []
        for _ in range(3):
            servers.append(Server())
            self.addCleanup(servers[-1].stop)
        # Cleanups run last-in first-out: signal all three, then wait for each.
        self.addCleanup(lambda: [s.terminate() for s in servers])
        p1, p2, p3 = (s.port for s in servers)
        mc = memcache.Client([('127.0.0.1:%d' % p1, 1), ('127.0.0.1:%d' % p2, 2),
                              ('127.0.0.1:%d' % p3, 1)])
        self.addCleanup(mc.disconnect_all)
        keys = ["key%d" % i for i in range(300)]
        for k in keys:
            self.assertTrue(mc.set(k, "v-" + k), k)
        for k in keys:
            self.assertEqual(mc.get(k), "v-" + k)
        self.assertEqual(mc.get_multi(keys), {k: "v-" + k for k in keys})
        # Where the keys are: a raw multi-get on each server.
        held = []
        for s in servers:
            c = s.connect()
            try:
                c.sendall(b"get " + " ".join(keys).encode() + b"\r\n")
                data = read_until(c, lambda d: d.endswith(b"END\r\n"))
            finally:
                c.close()
            held.append({l.split(b" ")[1].decode() for l in data.split(b"\r\n")
                         if l.startswith(b"VALUE ")})
        counts = [len(h) for h in held]
        self.assertTrue(all(counts), "a server holds no key: %s" % counts)
        self.assertEqual(sum(counts), 300, "keys held twice or lost: %s" % counts)
        self.assertEqual(set().union(*held), set(keys))
        # The weight-2 server has two buckets of four.
        self.assertGreater(counts[1], min(counts[0], counts[2]), counts)


if __name__ == "__main__":
    unittest.main()
