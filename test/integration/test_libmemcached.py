"""libmemcached's conformance tester and tools against mcd (ascii)."""
import subprocess
import unittest

from harness import SLOW, Server


class LibmemcachedTest(unittest.TestCase):
    def test_memccapable_ascii_passes(self):
        with Server() as server:
            p = subprocess.run(["memccapable", "-h", "127.0.0.1", "-p", str(server.port), "-a"],
                               capture_output=True, timeout=120 * SLOW)
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out)
            self.assertIn("All tests passed", out)
            self.assertNotIn("[fail]", out)

    def test_memccp_memccat_memcstat(self):
        with Server() as server:
            srv = "--servers=127.0.0.1:%d" % server.port
            p = subprocess.run(["memcstat", srv], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0)
            self.assertIn(b"curr_items", p.stdout)
            p = subprocess.run(["memccat", srv, "nokey"], capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
