"""mcd as a service: systemd's notify protocol spoken by mcd itself (a
stand-in for systemd binds the datagram socket), the signals as memcached
has them (SIGTERM answers every request already sent before exiting 0,
SIGPIPE does not stop it, SIGHUP reads -Y's user file again, between
RELOADING=1 and READY=1)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import HOST, MCD_BIN, SLOW, Server, free_port, read_until, request, user_args


class NotifySocket:
    """A stand-in for systemd's notification socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mcd-notify-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.messages = []

    def poll(self, timeout=0.0):
        """Messages received within timeout (each a dict of its KEY=VALUE lines)."""
        self.sock.settimeout(timeout if timeout > 0 else None)
        if timeout <= 0:
            self.sock.setblocking(False)
        got = []
        try:
            while True:
                data = self.sock.recv(4096)
                msg = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
                got.append(msg)
                self.messages.append(msg)
                self.sock.setblocking(False)
        except (BlockingIOError, socket.timeout):
            pass
        return got

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


def start(args, env_extra=None):
    port = free_port()
    env = dict(os.environ)
    env.update(env_extra or {})
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([MCD_BIN, "-U", "0", "-l", HOST, "-p", str(port)] + user_args()
                            + list(args), stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                            env=env)
    return proc, port, err


def connects(port):
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


def finish(test, proc, err):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    err.seek(0)
    log = err.read()
    err.close()
    test.assertNotIn(b"Sanitizer", log)
    return log


class NotifyTest(unittest.TestCase):

    def test_ready_only_once_the_port_accepts_and_stopping_on_sigterm(self):
        ns = NotifySocket()
        self.addCleanup(ns.close)
        proc, port, err = start(["-v"], {"NOTIFY_SOCKET": ns.path})
        ready = False
        deadline = time.monotonic() + 10 * SLOW
        while not ready and time.monotonic() < deadline:
            # Whenever READY=1 has come, the port must accept.
            ready = any(m.get("READY") == "1" for m in ns.poll(0.005))
            if ready:
                self.assertTrue(connects(port), "READY=1 before the port accepts")
            if proc.poll() is not None:
                self.fail("mcd exited: %r" % finish(self, proc, err))
        self.assertTrue(ready, "no READY=1 within 10 s")
        status = [m["STATUS"] for m in ns.messages if "STATUS" in m]
        self.assertTrue(status and "serving" in status[0], status)
        s = socket.create_connection((HOST, port))
        self.assertEqual(request(s, b"version\r\n", end=b"\r\n"), b"VERSION 1.6.18\r\n")
        s.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10 * SLOW)
        self.assertEqual(proc.returncode, 0)
        msgs = ns.poll(1.0)
        self.assertTrue(any(m.get("STOPPING") == "1" for m in msgs), msgs)
        self.assertIn(b"SIGTERM: stopping", finish(self, proc, err))

    def test_ready_comes_after_the_warm_restart_is_loaded(self):
        d = tempfile.mkdtemp(prefix="mcd-notify-warm-")
        path = os.path.join(d, "cache")
        self.addCleanup(lambda: [os.path.exists(f) and os.unlink(f) for f in (path,)]
                        and os.rmdir(d))
        server = Server(MCD_BIN, ["-e", path])
        s = server.connect()
        s.sendall(b"".join(b"set k%d 0 0 100 noreply\r\n%s\r\n" % (i, b"v" * 100)
                           for i in range(20000)) + b"mn\r\n")
        read_until(s, lambda d: d.endswith(b"MN\r\n"), timeout=30)
        s.close()
        server.stop()
        ns = NotifySocket()
        self.addCleanup(ns.close)
        proc, port, err = start(["-e", path], {"NOTIFY_SOCKET": ns.path})
        self.addCleanup(finish, self, proc, err)
        msgs = ns.poll(10 * SLOW)
        while not any(m.get("READY") == "1" for m in ns.messages):
            msgs = ns.poll(10 * SLOW)
            self.assertTrue(msgs, "no READY=1")
        s = socket.create_connection((HOST, port))
        data = request(s, b"stats\r\n")
        self.assertIn(b"STAT curr_items 20000\r\n", data)
        s.close()
        self.assertTrue(any("restored 20000 items" in m.get("STATUS", "") for m in ns.messages),
                        ns.messages)

    def test_sighup_is_a_reload_between_reloading_and_ready(self):
        ns = NotifySocket()
        self.addCleanup(ns.close)
        d = tempfile.mkdtemp(prefix="mcd-notify-hup-")
        users = os.path.join(d, "users")
        self.addCleanup(lambda: (os.unlink(users), os.rmdir(d)))
        with open(users, "w") as f:
            f.write("alice:one\n")
        proc, port, err = start(["-v", "-Y", users], {"NOTIFY_SOCKET": ns.path})
        self.addCleanup(finish, self, proc, err)
        deadline = time.monotonic() + 10 * SLOW
        while not any(m.get("READY") == "1" for m in ns.messages):
            self.assertLess(time.monotonic(), deadline, "no READY=1")
            ns.poll(0.05)
        ns.messages.clear()
        proc.send_signal(signal.SIGHUP)
        while not any(m.get("READY") == "1" for m in ns.messages):
            self.assertLess(time.monotonic(), deadline + 10 * SLOW, ns.messages)
            ns.poll(0.05)
        first = ns.messages[0]
        self.assertEqual(first.get("RELOADING"), "1", ns.messages)
        # systemd's notify-reload wants the clock of the reload's start.
        self.assertTrue(first.get("MONOTONIC_USEC", "").isdigit(), first)
        self.assertIn("reloaded on SIGHUP", ns.messages[-1].get("STATUS", ""))
        self.assertIsNone(proc.poll())

    def test_without_notify_socket_nothing_is_sent(self):
        proc, port, err = start([])
        deadline = time.monotonic() + 5 * SLOW
        while not connects(port):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10 * SLOW)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(finish(self, proc, err), b"")


class LogTest(unittest.TestCase):

    def test_lines_carry_their_priority_when_stderr_is_the_journal(self):
        err = tempfile.TemporaryFile()
        st = os.fstat(err.fileno())
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        port = free_port()
        proc = subprocess.Popen([MCD_BIN, "-U", "0", "-l", HOST, "-p", str(port), "-vv",
                                 "-e", "/nonexistent/dir/cache"] + user_args(),
                                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
        deadline = time.monotonic() + 5 * SLOW
        while not connects(port):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10 * SLOW)
        self.assertEqual(proc.returncode, 0)
        log = finish(self, proc, err).decode()
        lines = log.splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[367]>\S")
        self.assertIn("<6>mcd 0.1 (memcached 1.6.18)", log)
        self.assertIn("<7><", log)          # -vv: a connection's events
        self.assertIn("<3>warm restart: cannot save", log)

    def test_no_prefix_on_a_terminal_or_file(self):
        server = Server(MCD_BIN, ["-v"])
        self.addCleanup(server.stop)
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=10 * SLOW)
        self.assertTrue(server.stderr().startswith(b"mcd 0.1 (memcached 1.6.18)"))


class SignalTest(unittest.TestCase):

    def test_sigterm_answers_every_request_already_sent(self):
        """Two clients with requests in flight when SIGTERM comes: one whose
        100 MB of replies fill every buffer on the way, one with a
        pipeline of small requests.  Each reads every reply, then mcd exits 0."""
        server = Server(MCD_BIN, ["-m", "256", "-R", "5"])
        self.addCleanup(server.stop)
        big = server.connect(timeout=30)
        value = b"x" * 500_000
        request(big, b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), end=b"\r\n")
        gets = 200
        big.sendall(b"get big\r\n" * gets)
        small = server.connect(timeout=30)
        small.sendall(b"".join(b"set s%d 0 0 5\r\nhello\r\nget s%d\r\n" % (i, i)
                               for i in range(2000)))
        time.sleep(0.3)     # mcd is blocked writing to `big`, which reads nothing yet
        server.proc.send_signal(signal.SIGTERM)
        results = {}

        def read_all(name, sock):
            buf = bytearray()
            sock.settimeout(30 * SLOW)
            try:
                while True:     # until mcd closes the connection, all answered
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
            results[name] = bytes(buf)

        threads = [threading.Thread(target=read_all, args=("big", big)),
                   threading.Thread(target=read_all, args=("small", small))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results["big"].count(b"VALUE big 0 500000\r\n"), gets)
        self.assertEqual(results["big"].count(b"END\r\n"), gets)
        self.assertEqual(results["small"].count(b"STORED\r\n"), 2000)
        self.assertEqual(results["small"].count(b"VALUE s"), 2000)
        server.proc.wait(timeout=30 * SLOW)
        self.assertEqual(server.proc.returncode, 0)
        # And the connections are closed once answered.
        self.assertEqual(read_until(big, lambda d: False, timeout=2), b"")

    def test_sighup_and_sigpipe_do_not_stop_mcd(self):
        server = Server(MCD_BIN, [])
        self.addCleanup(server.stop)
        for sig in (signal.SIGHUP, signal.SIGPIPE):
            server.proc.send_signal(sig)
        time.sleep(0.2)
        self.assertTrue(server.alive())
        # A client that goes away with its reply unsent raises EPIPE, not SIGPIPE.
        s = server.connect()
        s.sendall(b"set k 0 0 100000\r\n" + b"v" * 100000 + b"\r\n" + b"get k\r\n" * 50)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        time.sleep(0.2)
        self.assertTrue(server.alive())
        c = server.connect()
        self.assertEqual(request(c, b"version\r\n", end=b"\r\n"), b"VERSION 1.6.18\r\n")
        c.close()

    def test_sighup_reloads_the_user_file(self):
        d = tempfile.mkdtemp(prefix="mcd-hup-")
        users = os.path.join(d, "users")
        self.addCleanup(lambda: (os.unlink(users), os.rmdir(d)))
        with open(users, "w") as f:
            f.write("alice:one\n")
        server = Server(MCD_BIN, ["-v", "-t", "2", "-Y", users])
        self.addCleanup(server.stop)

        def login(user, password):
            c = server.connect()
            block = b"%s %s" % (user, password)
            reply = request(c, b"set a 0 0 %d\r\n%s\r\n" % (len(block), block), end=b"\r\n")
            return c, reply

        kept, reply = login(b"alice", b"one")
        self.assertEqual(reply, b"STORED\r\n")
        # Clients log in over other connections while the file is swapped.
        stop = threading.Event()
        seen = []

        def hammer():
            while not stop.is_set():
                c, r = login(b"alice", b"one")
                c.close()
                seen.append(r)
        t = threading.Thread(target=hammer)
        t.start()
        try:
            with open(users + ".new", "w") as f:
                f.write("bob:two\n")
            os.rename(users + ".new", users)
            server.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10 * SLOW
            while True:
                c, reply = login(b"bob", b"two")
                c.close()
                if reply == b"STORED\r\n" or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        finally:
            stop.set()
            t.join()
        self.assertEqual(reply, b"STORED\r\n", "bob never got in after SIGHUP")
        self.assertTrue(set(seen) <= {b"STORED\r\n", b"CLIENT_ERROR authentication failure\r\n"},
                        set(seen))
        c, reply = login(b"alice", b"one")
        c.close()
        self.assertEqual(reply, b"CLIENT_ERROR authentication failure\r\n")
        # Who logged in before stays in.
        self.assertEqual(request(kept, b"set k 0 0 1\r\nv\r\n", end=b"\r\n"), b"STORED\r\n")
        # A file that does not parse leaves the users in force, and says why.
        with open(users, "w") as f:
            f.write("no colon here\n")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * SLOW
        while b"did not load" not in server.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.stderr()
        self.assertIn(b"has a malformed entry", log)
        self.assertIn(b"SIGHUP: a user file did not load: the users loaded before stay", log)
        c, reply = login(b"bob", b"two")
        c.close()
        self.assertEqual(reply, b"STORED\r\n")

    def test_sigint_and_sigusr1_exit_zero(self):
        for sig in (signal.SIGINT, signal.SIGUSR1):
            server = Server(MCD_BIN, ["-v"])
            server.proc.send_signal(sig)
            server.proc.wait(timeout=10 * SLOW)
            log = server.stderr()
            server.stop()
            self.assertEqual(server.proc.returncode, 0)
            self.assertIn(b"%s: stopping" % signal.Signals(sig).name.encode(), log)


if __name__ == "__main__":
    unittest.main()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make(*args):
    return subprocess.run(["make", "--no-print-directory", "-C", ROOT] + list(args),
                           capture_output=True, text=True, timeout=600)


class InstallTest(unittest.TestCase):
    """make install / uninstall with DESTDIR and PREFIX, and the units they
    install checked by systemd-analyze."""

    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="mcd-install-")
        self.addCleanup(subprocess.run, ["rm", "-rf", self.dest])

    def install(self):
        r = make("install", "DESTDIR=" + self.dest, "PREFIX=/usr")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def unit(self, name):
        return os.path.join(self.dest, "usr/lib/systemd/system", name)

    def analyze(self, *args):
        env = dict(os.environ, MANPATH=os.path.join(self.dest, "usr/share/man"))
        return subprocess.run(["systemd-analyze"] + list(args), capture_output=True, text=True,
                              env=env, timeout=120)

    def test_install_puts_every_file_in_destdir_and_keeps_the_options_file(self):
        self.install()
        for path in ("usr/bin/mcd", "usr/share/man/man1/mcd.1", "usr/lib/sysusers.d/mcd.conf",
                     "usr/lib/systemd/system/mcd.service",
                     "usr/lib/systemd/system/mcd@.service", "etc/default/mcd"):
            self.assertTrue(os.path.exists(os.path.join(self.dest, path)), path)
        with open(self.unit("mcd.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/mcd $MCD_OPTS\n", unit)
        self.assertIn("EnvironmentFile=-/etc/default/mcd\n", unit)
        self.assertIn("Type=notify\n", unit)
        default = os.path.join(self.dest, "etc/default/mcd")
        with open(default) as f:
            self.assertIn('MCD_OPTS="-l 127.0.0.1 ', f.read())
        with open(default, "w") as f:
            f.write('MCD_OPTS="-p 12345"\n')
        self.install()
        with open(default) as f:
            self.assertEqual(f.read(), 'MCD_OPTS="-p 12345"\n', "an operator's file is kept")
        r = make("uninstall", "DESTDIR=" + self.dest, "PREFIX=/usr")
        self.assertEqual(r.returncode, 0, r.stderr)
        left = sorted(os.path.relpath(os.path.join(d, f), self.dest)
                      for d, _, files in os.walk(self.dest) for f in files)
        self.assertEqual(left, ["etc/default/mcd"])

    def test_systemd_analyze_verify_accepts_the_units(self):
        self.install()
        # verify looks for every Exec command under --root: ExecReload's
        # /bin/kill (procps, in every Debian install) is the system's.
        os.makedirs(os.path.join(self.dest, "bin"), exist_ok=True)
        shutil.copy("/bin/kill", os.path.join(self.dest, "bin", "kill"))
        for unit in ("mcd.service", "mcd@.service", "mcd@cache2.service"):
            # An instance is checked through its template.
            path = self.unit(unit)
            args = ["verify", "--recursive-errors=no", "--root=" + self.dest]
            if "@cache2" in unit:
                args += [self.unit("mcd@.service"), path]
            else:
                args.append(path)
            r = self.analyze(*args)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""), unit)

    def test_systemd_analyze_security_exposure(self):
        self.install()
        r = self.analyze("security", "--offline=yes", "--root=" + self.dest,
                         self.unit("mcd.service"))
        m = re.search(r"Overall exposure level for mcd.service: ([\d.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        print("\n    systemd-analyze security: exposure %s" % m.group(1), end=" ")
        # memcached 1.6.18's scripts/memcached.service scores 6.2 ("MEDIUM"),
        # Debian's 4.8; ours has no capability, no device, no write access but
        # its state directory.
        self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)

    def test_install_user_creates_the_service_user(self):
        if os.geteuid() != 0:
            self.skipTest("creating a system user needs root (running as uid %d)" % os.geteuid())
        # The sysusers file from the tree: nothing else is installed on this machine.
        r = make("install-user", "SYSUSERS_FILE=" + os.path.join(ROOT, "systemd/mcd.sysusers"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        entry = subprocess.run(["getent", "passwd", "mcd"], capture_output=True, text=True)
        self.assertEqual(entry.returncode, 0)
        self.assertTrue(entry.stdout.strip().endswith(":/usr/sbin/nologin"), entry.stdout)


class DocsTest(unittest.TestCase):
    """The man page lints clean and documents every flag of `mcd --help`."""

    MAN = os.path.join(ROOT, "man", "mcd.1")

    def test_mandoc_lint_prints_nothing(self):
        r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", self.MAN],
                           capture_output=True, text=True)
        self.assertEqual((r.stdout, r.stderr), ("", ""))
        self.assertEqual(r.returncode, 0)

    def test_every_help_flag_and_o_key_is_in_the_man_page(self):
        help_text = subprocess.run([MCD_BIN, "--help"], capture_output=True, text=True).stdout
        page = subprocess.run(["mandoc", "-T", "ascii", self.MAN], capture_output=True,
                              text=True).stdout
        page = re.sub(r".\x08", "", page)       # overstrike bold and underline
        flags = re.findall(r"(?m)^(-\w)(?:, (--[\w-]+))?", help_text)
        self.assertGreater(len(flags), 35)
        for short, long in flags:
            self.assertRegex(page, r"(?m)^\s+" + re.escape(short) + r"\b", short)
            if long:
                self.assertIn(long, page, long)
        keys = re.findall(r"(?m)^   - (\w+):", help_text)
        self.assertIn("metrics_port", keys)
        for key in keys:
            self.assertIn(key, page, "-o " + key)
        for section in ("SIGNALS", "WARM RESTART", "OBSERVABILITY", "SYSTEMD", "FILES",
                        "EXIT STATUS", "EXAMPLES", "PROTOCOLS", "SEE ALSO"):
            self.assertRegex(page, r"(?m)^" + section + r"$", section)
        self.assertIn("memcached(1)", page)
