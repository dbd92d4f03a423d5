"""libmemcached's conformance tester and tools against mcd, in both protocols."""
import os
import subprocess
import tempfile
import unittest

from harness import SLOW, Server


def memccapable(server, flag):
    p = subprocess.run(["memccapable", "-h", "127.0.0.1", "-p", str(server.port), flag],
                       capture_output=True, timeout=120 * SLOW)
    return p.returncode, p.stdout.decode()


class LibmemcachedTest(unittest.TestCase):
    def test_memccapable_ascii_passes(self):
        with Server() as server:
            rc, out = memccapable(server, "-a")
            self.assertEqual(rc, 0, out)
            self.assertIn("All tests passed", out)
            self.assertNotIn("[fail]", out)

    def test_memccapable_binary_passes(self):
        with Server() as server:
            rc, out = memccapable(server, "-b")
            self.assertEqual(rc, 0, out)
            self.assertIn("All tests passed", out)
            self.assertNotIn("[fail]", out)
            self.assertIn("binary getkq", out)

    def test_memccapable_binary_passes_with_B_binary(self):
        with Server(args=["-B", "binary"]) as server:
            rc, out = memccapable(server, "-b")
            self.assertEqual(rc, 0, out)
            self.assertIn("All tests passed", out)

    def test_memccp_memccat_memcstat(self):
        with Server() as server:
            srv = "--servers=127.0.0.1:%d" % server.port
            p = subprocess.run(["memcstat", srv], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0)
            self.assertIn(b"curr_items", p.stdout)
            p = subprocess.run(["memccat", srv, "nokey"], capture_output=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)

    def test_memccp_memccat_memcstat_binary(self):
        with Server() as server, tempfile.TemporaryDirectory() as tmp:
            srv = "--servers=127.0.0.1:%d" % server.port
            path = os.path.join(tmp, "greeting")
            with open(path, "wb") as f:
                f.write(b"hello\x00binary\r\nworld")
            p = subprocess.run(["memccp", srv, "--binary", path], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run(["memccat", srv, "--binary", "greeting"], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, b"hello\x00binary\r\nworld\n")  # memccat adds a newline
            p = subprocess.run(["memccat", srv, "--binary", "nokey"], capture_output=True,
                               timeout=30)
            self.assertNotEqual(p.returncode, 0)
            p = subprocess.run(["memcstat", srv, "--binary"], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"curr_items: 1", p.stdout)
            self.assertIn(b"cmd_get: 2", p.stdout)
            self.assertIn(b"get_hits: 1", p.stdout)
            p = subprocess.run(["memcstat", srv, "--binary", "--args=settings"],
                               capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(b"binding_protocol: auto-negotiate", p.stdout)
            # The text protocol sees what the binary one stored.
            s = server.connect()
            s.sendall(b"get greeting\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            self.assertEqual(data, b"VALUE greeting 0 19\r\nhello\x00binary\r\nworld\r\nEND\r\n")


if __name__ == "__main__":
    unittest.main()
