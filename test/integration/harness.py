"""Start real servers (mcd or memcached) on free loopback ports, and talk to
them over raw sockets.

Every server is a subprocess.Popen child on 127.0.0.1, waited for by polling
connect(), and killed by stop() — call it from addCleanup, a finally or a with
block, so a failing test still leaves no process behind. Its stderr goes to a
temporary file rather than a pipe, so a chatty server (-vv) can never block
on a full pipe; stop() reads it back and fails the test on a sanitizer report.

Environment:
  MCD_BIN        server under test (default: <project root>/mcd)
  MEMCACHED_BIN  reference server (default: /usr/bin/memcached)
  MCD_SANITIZER  asan or tsan for sanitizer builds: timeouts are multiplied by
                 SLOW (3 under ASan, 4 under TSan)
"""
import difflib
import os
import re
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCD_BIN = os.environ.get("MCD_BIN", os.path.join(ROOT, "mcd"))
MEMCACHED_BIN = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
# How much longer waits are against a sanitized server: ASan runs it about
# twice as slow, TSan five to fifteen times.
SLOW = {"asan": 3, "tsan": 4}.get(os.environ.get("MCD_SANITIZER", ""), 1)
HOST = "127.0.0.1"
START_TIMEOUT = 5.0


# Statistics mcd adds to memcached's, on purpose: its own version.
MCD_ONLY_STATS = {"mcd_version"}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def user_args():
    """memcached refuses to run as root without -u; mcd accepts -u too."""
    return ["-u", "root"] if os.geteuid() == 0 else []


class Server:
    """A server process listening on 127.0.0.1:port (TCP only), stopped on
    exit from a with block or by stop()."""

    def __init__(self, binary=None, args=(), port=None):
        self.binary = binary or MCD_BIN
        self.args = list(args)
        self.proc = None
        self._err = tempfile.TemporaryFile()
        # Another process may take a free port before the server binds it:
        # pick again, unless the caller asked for this port.
        for attempt in range(3):
            self.port = port or free_port()
            self.cmd = ([self.binary, "-U", "0", "-l", HOST, "-p", str(self.port)]
                        + user_args() + self.args)
            try:
                self._start()
                return
            except RuntimeError as e:
                if port or attempt == 2 or b"Address already in use" not in self.stderr():
                    self._err.close()
                    raise e
                self._err.seek(0)
                self._err.truncate()

    def _start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err)
        deadline = time.monotonic() + START_TIMEOUT * SLOW
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self._kill()
                    raise RuntimeError("server did not start: %s\nexit status %s, output:\n%s"
                                       % (" ".join(self.cmd), self.proc.returncode,
                                          self.stderr().decode(errors="replace")))
                time.sleep(0.01)

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def stderr(self):
        """Everything the server wrote so far, stdout and stderr."""
        self._err.flush()
        self._err.seek(0)
        return self._err.read()

    def connect(self, timeout=5.0):
        """A new raw TCP connection to the server, Nagle off."""
        s = socket.create_connection((HOST, self.port), timeout=timeout * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Send SIGTERM without waiting (stop() waits): memcached takes up to a
        second to exit, so a test stopping many servers signals them all first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL after 5 s); returns its exit
        status. Raises AssertionError if a sanitizer reported anything."""
        if self.proc is None or self._err.closed:
            return self.proc and self.proc.returncode
        self._kill()
        err = self.stderr()
        self._err.close()
        if b"Sanitizer" in err or b"runtime error:" in err:
            raise AssertionError("%s reported:\n%s" % (self.binary, err.decode(errors="replace")))
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return "Server(%s)" % " ".join(self.cmd)


def read_until(sock, done, timeout=5.0):
    """Read until done(data) is true, EOF, or timeout; returns the bytes read
    (the caller checks them: a timeout is not an error here)."""
    deadline = time.monotonic() + timeout * SLOW
    data = b""
    while not done(data):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def request(sock, payload, end=b"END\r\n", timeout=5.0):
    """Send payload, read until the reply ends with end."""
    sock.sendall(payload)
    return read_until(sock, lambda d: d.endswith(end), timeout)


# Differential testing: the same bytes to memcached and to mcd (test_diff.py,
# test_meta_diff.py).

def ends_with_version(data):
    return re.search(rb"(^|\n)VERSION [^\r\n]*\r\n\Z", data) is not None


def last_cas(data, key):
    """The unique of the last `VALUE key flags bytes unique` line in data,
    or with key "c" the last meta `c<unique>` return flag."""
    if key == b"c":
        found = re.findall(rb"(?m)^(?:HD|VA|NS|EX|NF)[^\r\n]* c(\d+)", data)
    else:
        found = re.findall(rb"(?m)^VALUE " + re.escape(key) + rb" \d+ \d+ (\d+)\r$", data)
    if not found:
        raise AssertionError("no unique for %r before {cas:%s}: %r" % (key, key.decode(), data))
    return found[-1]


def exchange(server, chunks, mode="version", keep_cas=False, normalise=None):
    """Send chunks on a fresh connection; return the replies, passed through
    normalise(data, keep_cas) when given.
    mode: "version" ends with version\r\n and reads up to its reply,
    "close" reads until EOF, "quiet" reads for half a second.
    {cas:key} in a chunk becomes the unique last seen for key (see last_cas)."""
    s = server.connect()
    data = b""
    try:
        pause = 0.02 if len(chunks) < 10 else 0.003
        for chunk in chunks:
            if b"{cas:" in chunk:
                chunk = re.sub(rb"\{cas:(\S+?)\}", lambda m: last_cas(data, m.group(1)), chunk)
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            data += read_until(s, lambda d: False, timeout=pause)
        if mode == "close":
            data += read_until(s, lambda d: False, timeout=2.0)
        elif mode == "quiet":
            data += read_until(s, lambda d: False, timeout=0.5)
        else:
            s.sendall(b"version\r\n")
            data += read_until(s, ends_with_version)
            # A VERSION inside the case could end the read early: read on
            # until the server is quiet.
            while True:
                more = read_until(s, lambda d: False, timeout=0.03)
                if not more:
                    break
                data += more
    finally:
        s.close()
    return normalise(data, keep_cas) if normalise else data


def readable_diff(want, got):
    a = [repr(l) for l in want.splitlines(True)]
    b = [repr(l) for l in got.splitlines(True)]
    return "\n".join(difflib.unified_diff(a, b, "memcached", "mcd", lineterm="", n=2))


def shorten(data, limit=600):
    r = repr(data)
    return r if len(r) <= limit else r[:limit // 2] + " ... " + r[-limit // 2:]


class DiffMixin:
    """For a unittest.TestCase: run cases on fresh memcached/mcd pairs and
    compare the replies. The class sets `normalise(data, keep_cas)`."""
    normalise = None

    def pair(self, args):
        """Fresh memcached and mcd with args. They are stopped at cleanup:
        memcached takes up to a second to exit on SIGTERM, so the waits of
        all cases overlap instead of adding up."""
        ref = Server(MEMCACHED_BIN, args)
        self.addCleanup(ref.stop)
        mcd = Server(MCD_BIN, args)
        self.addCleanup(mcd.stop)
        return ref, mcd

    def run_pair(self, args, chunks, mode, stop=True):
        """The case on a fresh pair, both at once; the replies and whether
        each server still runs afterwards."""
        ref, mcd = self.pair(args)
        keep_cas = "-C" in args  # without CAS the unique is 0 on both
        results = {}

        def one(name, server):
            try:
                results[name] = exchange(server, chunks, mode, keep_cas, type(self).normalise)
            except Exception as e:  # reported below, in the test's thread
                results[name] = e

        threads = [threading.Thread(target=one, args=(n, s))
                   for n, s in (("memcached", ref), ("mcd", mcd))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30 * SLOW)
        alive = (ref.alive(), mcd.alive())
        if stop:
            ref.terminate()
            mcd.terminate()
        self.servers = (ref, mcd)
        for name in ("memcached", "mcd"):
            if name not in results:
                raise AssertionError("%s: no reply within %d s" % (name, 30 * SLOW))
            if isinstance(results[name], Exception):
                raise AssertionError("%s: %r" % (name, results[name]))
        return results["memcached"], results["mcd"], alive

    def compare(self, cases, args, mode="version"):
        for name, chunks in cases.items():
            with self.subTest(case=name, flags=" ".join(args)):
                want, got, alive = self.run_pair(args, chunks, mode)
                if got != want:
                    self.fail("case %s (flags %s) differs\nsent:      %s\nmemcached: %s\nmcd:       %s\n%s"
                              % (name, " ".join(args), shorten(b"".join(chunks)), shorten(want),
                                 shorten(got), readable_diff(want, got)))
                self.assertEqual(alive[1], alive[0], "case %s: memcached %s, mcd %s" % (
                    name, *("running" if a else "exited" for a in alive)))
