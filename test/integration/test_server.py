"""The process as users start it: memcached's command lines, daemon and
pidfile, unix sockets, listen forms, shutdown, signals, bad flags."""
import os
import pwd
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import MCD_BIN, MEMCACHED_BIN, SLOW, Server, free_port, read_until

ROOT_ARGS = ["-u", "root"] if os.geteuid() == 0 else []


def wait_port(port, family=socket.AF_INET, host="127.0.0.1", timeout=5):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        try:
            s = socket.create_connection((host, port), timeout=1)
            return s
        except OSError:
            time.sleep(0.02)
    raise AssertionError("nothing listening on %s:%d" % (host, port))


def version(sock):
    sock.sendall(b"version\r\n")
    return read_until(sock, lambda d: d.endswith(b"\r\n"))


class ServerProcessTest(unittest.TestCase):
    def test_memcached_example_command_line_daemonizes_with_pidfile(self):
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            pidfile = os.path.join(d, "mcd.pid")
            rc = subprocess.call([MCD_BIN, "-d", "-m", "10", "-u", "root" if os.geteuid() == 0
                                  else os.environ.get("USER", "nobody"), "-l", "127.0.0.1",
                                  "-p", str(port), "-c", "256", "-P", pidfile])
            self.assertEqual(rc, 0)
            s = wait_port(port)
            self.assertTrue(version(s).startswith(b"VERSION "))
            s.close()
            deadline = time.time() + 5
            while not os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.02)
            pid = int(open(pidfile).read())
            os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 5 * SLOW
            while os.path.exists(pidfile) and time.time() < deadline:
                time.sleep(0.02)
            self.assertFalse(os.path.exists(pidfile), "pidfile not removed on exit")

    def test_threads_long_form_and_listen_with_port(self):
        port = free_port()
        p = subprocess.Popen([MCD_BIN, "--threads", "8", "-l", "127.0.0.1:%d" % port] + ROOT_ARGS)
        try:
            s = wait_port(port)
            s.sendall(b"stats settings\r\n")
            data = read_until(s, lambda d: d.endswith(b"END\r\n"))
            self.assertIn(b"STAT num_threads 8\r\n", data)
            s.sendall(b"stats\r\n")
            data = read_until(s, lambda d: d.endswith(b"END\r\n"))
            self.assertIn(b"STAT threads 8\r\n", data)
            s.close()
        finally:
            p.terminate()
            self.assertEqual(p.wait(10), 0)

    def test_ipv6_loopback_and_comma_list(self):
        port = free_port()
        p = subprocess.Popen([MCD_BIN, "-p", str(port), "-l", "127.0.0.1,[::1]"] + ROOT_ARGS)
        try:
            s = wait_port(port)
            self.assertTrue(version(s).startswith(b"VERSION "))
            s.close()
            try:
                s6 = wait_port(port, host="::1", timeout=2)
            except AssertionError:
                self.skipTest("no IPv6 loopback here")
            self.assertTrue(version(s6).startswith(b"VERSION "))
            s6.close()
        finally:
            p.terminate()
            p.wait(10)

    def test_unix_socket_serves_and_is_removed(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "mcd.sock")
            p = subprocess.Popen([MCD_BIN, "-s", path, "-a", "700"] + ROOT_ARGS)
            try:
                deadline = time.time() + 5 * SLOW
                while not os.path.exists(path) and time.time() < deadline:
                    time.sleep(0.02)
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o700)
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.sendall(b"set u 0 0 2\r\nhi\r\nget u\r\n")
                data = read_until(s, lambda d: d.endswith(b"END\r\n"))
                self.assertEqual(data, b"STORED\r\nVALUE u 0 2\r\nhi\r\nEND\r\n")
                # The meta protocol on the same connection.
                s.sendall(b"ms m 2 T0\r\nok\r\nmg m v s\r\nmn\r\n")
                data = read_until(s, lambda d: d.endswith(b"MN\r\n"))
                self.assertEqual(data, b"HD\r\nVA 2 s2\r\nok\r\nMN\r\n")
                s.close()
                # A binary client on a new connection: GETK of the text-stored key.
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.sendall(struct.pack(">BBHBBHIIQ", 0x80, 0x0c, 1, 0, 0, 0, 1, 9, 0) + b"u")
                data = read_until(s, lambda d: len(d) >= 24 + 4 + 1 + 2)
                self.assertEqual(data[:2], b"\x81\x0c")
                self.assertEqual(data[6:8], b"\x00\x00")           # status: no error
                self.assertEqual(data[12:16], struct.pack(">I", 9))  # opaque echoed
                self.assertEqual(data[24:], struct.pack(">I", 0) + b"u" + b"hi")
                s.close()
            finally:
                p.terminate()
                self.assertEqual(p.wait(10), 0)
            self.assertFalse(os.path.exists(path))

    @unittest.skipUnless(os.geteuid() == 0, "needs root to switch to -u nobody")
    def test_unix_socket_is_made_after_dropping_root(self):
        # As memcached: -u takes effect before the socket is bound, so a
        # directory only root may write is refused with bind()'s error...
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "mcd.sock")
            want = subprocess.run([MEMCACHED_BIN, "-u", "nobody", "-s", path],
                                  capture_output=True, timeout=10 * SLOW)
            got = subprocess.run([MCD_BIN, "-u", "nobody", "-s", path],
                                 capture_output=True, timeout=10 * SLOW)
            self.assertEqual(got.returncode, want.returncode)
            self.assertEqual(got.stderr.splitlines()[0], b"bind(): Permission denied")
            self.assertEqual(want.stderr.splitlines()[0], b"bind(): Permission denied")
            self.assertFalse(os.path.exists(path))
            # ... and in one it may, the socket is the user's, removed at exit.
            os.chmod(d, 0o1777)
            p = subprocess.Popen([MCD_BIN, "-u", "nobody", "-s", path])
            try:
                deadline = time.time() + 5 * SLOW
                while not os.path.exists(path) and time.time() < deadline:
                    time.sleep(0.02)
                self.assertEqual(os.stat(path).st_uid, pwd.getpwnam("nobody").pw_uid)
            finally:
                p.terminate()
                self.assertEqual(p.wait(10), 0)
            self.assertFalse(os.path.exists(path))

    def test_shutdown_command_needs_A(self):
        with Server(args=["-A"]) as server:
            s = server.connect()
            s.sendall(b"shutdown\r\n")
            self.assertEqual(read_until(s, lambda d: False, timeout=2), b"")
            self.assertEqual(server.proc.wait(10 * SLOW), 0)

    def test_bad_flags_exit_64_with_usage_error(self):
        for args, msg in ((["-z"], b"Illegal argument"),
                          (["-o", "nosuchkey"], b"Illegal suboption \"nosuchkey\""),
                          (["-f", "0.5"], b"Factor must be greater than 1"),
                          (["-t", "0"], b"Number of threads must be greater than 0"),
                          (["-I", "2048m"], b"Cannot set item size limit"),
                          (["-o", "hashpower=5"], b"too low"),
                          (["-S", "-B", "ascii"], b"cannot allow the ASCII protocol"),
                          (["-l", "notls:127.0.0.1"], b"'notls' option is valid only")):
            with self.subTest(args=args):
                p = subprocess.run([MCD_BIN] + args + ROOT_ARGS, capture_output=True, timeout=10)
                self.assertEqual(p.returncode, 64)
                self.assertIn(msg, p.stderr)

    def test_root_without_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        p = subprocess.run([MCD_BIN, "-p", str(free_port())], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 64)
        self.assertIn(b"can't run as root without the -u switch", p.stderr)

    def test_known_memcached_extended_options_start(self):
        with Server(args=["-o", "slab_reassign,slab_automove=1,modern,lru_crawler,hashpower=20"]) as s:
            c = s.connect()
            c.sendall(b"stats\r\n")
            data = read_until(c, lambda d: d.endswith(b"END\r\n"))
            self.assertIn(b"STAT hash_power_level 20\r\n", data)
            c.close()

    def test_idle_timeout_closes_idle_connections(self):
        with Server(args=["-o", "idle_timeout=1"]) as server:
            s = server.connect()
            self.assertTrue(version(s).startswith(b"VERSION "))
            self.assertEqual(read_until(s, lambda d: False, timeout=4), b"")
            s.close()

    def test_stats_cachedump_lists_keys_with_size_and_expiry(self):
        with Server() as server:
            s = server.connect()
            s.sendall(b"set dumpme 0 0 3\r\nabc\r\nstats cachedump 1 0\r\n")
            data = read_until(s, lambda d: d.endswith(b"END\r\n"))
            self.assertEqual(data, b"STORED\r\nITEM dumpme [3 b; 0 s]\r\nEND\r\n")
            s.close()

    def test_disable_dumping_refuses_cachedump(self):
        with Server(args=["-X", "-W", "-L"]) as server:
            s = server.connect()
            s.sendall(b"stats cachedump 1 1\r\n")
            self.assertEqual(read_until(s, lambda d: d.endswith(b"\r\n")),
                             b"CLIENT_ERROR stats cachedump not allowed\r\n")
            s.close()

    def test_help_and_version(self):
        p = subprocess.run([MCD_BIN, "-h"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        for flag in (b"--port", b"--threads", b"--memory-limit", b"--extended"):
            self.assertIn(flag, p.stdout)
        # mcd's own version, and the memcached release whose protocol it speaks.
        p = subprocess.run([MCD_BIN, "-V"], capture_output=True, timeout=10)
        self.assertRegex(p.stdout, rb"^mcd \d+\.\d+\S* \(memcached 1\.6\.18\)\n$")

    def test_memory_limit_evicts_instead_of_failing(self):
        with Server(args=["-m", "2"]) as server:
            s = server.connect()
            val = b"v" * 1000
            s.sendall(b"".join(b"set key%d 0 0 1000 noreply\r\n%s\r\n" % (i, val)
                               for i in range(10000)) + b"stats\r\n")
            data = read_until(s, lambda d: d.endswith(b"END\r\n"), timeout=20)
            stats = dict(l.split(b" ")[1:3] for l in data.split(b"\r\n") if l.startswith(b"STAT "))
            self.assertGreater(int(stats[b"evictions"]), 0)
            self.assertLessEqual(int(stats[b"bytes"]), 2 * 1024 * 1024)
            s.sendall(b"get key9999\r\n")
            self.assertEqual(read_until(s, lambda d: d.endswith(b"END\r\n")),
                             b"VALUE key9999 0 1000\r\n" + val + b"\r\nEND\r\n")
            s.close()

    def test_disable_evictions_answers_out_of_memory(self):
        with Server(args=["-m", "2", "-M"]) as server:
            s = server.connect()
            val = b"v" * 1000
            s.sendall(b"".join(b"set key%d 0 0 1000\r\n%s\r\n" % (i, val) for i in range(5000)))
            data = read_until(s, lambda d: d.count(b"\r\n") >= 5000, timeout=20)
            self.assertIn(b"SERVER_ERROR out of memory storing object\r\n", data)
            self.assertTrue(data.startswith(b"STORED\r\n"))
            s.close()


if __name__ == "__main__":
    unittest.main()
