"""Start real servers (mcd or memcached) on free loopback ports for tests."""
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MCD_BIN = os.environ.get("MCD_BIN", os.path.join(ROOT, "mcd"))
MEMCACHED_BIN = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
# Sanitizer builds are slower: give them more time.
SLOW = 4 if os.environ.get("MCD_SANITIZER") else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1:port, stopped on exit."""

    def __init__(self, binary=None, args=(), port=None):
        self.binary = binary or MCD_BIN
        self.port = port or free_port()
        cmd = [self.binary, "-U", "0", "-l", "127.0.0.1", "-p", str(self.port)]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd + list(args), stderr=subprocess.PIPE)
        deadline = time.time() + 5 * SLOW
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    err = self.proc.stderr.read().decode(errors="replace")
                    self.stop()
                    raise RuntimeError("server %s did not start: %s" % (cmd, err))
                time.sleep(0.02)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5 * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = b""
        if self.proc.stderr:
            err = self.proc.stderr.read()
            self.proc.stderr.close()
            self.proc.stderr = None
        # A sanitizer build reports on stderr: any report fails the test.
        if b"Sanitizer" in err or b"runtime error:" in err:
            raise AssertionError("%s reported:\n%s" % (self.binary, err.decode(errors="replace")))
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def read_until(sock, done, timeout=5.0):
    """Read until done(data) is true, EOF, or timeout; returns the bytes."""
    sock.settimeout(timeout * SLOW)
    data = b""
    try:
        while not done(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    return data


def request(sock, payload, end=b"END\r\n"):
    sock.sendall(payload)
    return read_until(sock, lambda d: d.endswith(end))
