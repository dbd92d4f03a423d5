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
  MCD_SANITIZER  set for sanitizer builds: every timeout is multiplied by 4
"""
import os
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCD_BIN = os.environ.get("MCD_BIN", os.path.join(ROOT, "mcd"))
MEMCACHED_BIN = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
SLOW = 4 if os.environ.get("MCD_SANITIZER") else 1
HOST = "127.0.0.1"
START_TIMEOUT = 5.0


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
