"""Clusters of mcd on 127.0.0.1 for test_cluster.py: several servers, a
nutcracker in front of them, the README's "Scaling out" snippets, and where
each key lives.

The README is the one place the nutcracker configuration and the client
snippets are written: snippet(name) reads the block that follows
`<!-- scaling-out: name -->`, and localize() swaps the documented ports for
the free ones a test uses, so the tests run exactly what the README shows.

Every process here is stopped by stop() (call it from addCleanup): a
nutcracker runs in the foreground in its own temporary directory, which
stop() removes.
"""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from harness import HOST, ROOT, SLOW, START_TIMEOUT, Server, free_port, read_until

README = os.path.join(ROOT, "README.md")
DOC_SERVERS = (11211, 11212, 11213)     # the servers' ports in the README
DOC_PROXY, DOC_STATS = 22121, 22222     # nutcracker's listen and stats ports in the README


def snippet(name):
    """The code block that follows `<!-- scaling-out: name -->` in README.md."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"<!-- scaling-out: %s -->\n```[a-z]*\n(.*?)```" % re.escape(name), text, re.S)
    if m is None:
        raise AssertionError("README.md has no block marked <!-- scaling-out: %s -->" % name)
    return m.group(1)


def localize(text, ports, proxy=None, stats=None):
    """text with the README's ports replaced: servers by ports, in order, and
    nutcracker's by proxy and stats."""
    table = dict(zip(DOC_SERVERS, ports))
    if proxy:
        table[DOC_PROXY] = proxy
    if stats:
        table[DOC_STATS] = stats
    pattern = r"\b(%s)\b" % "|".join(str(p) for p in table)
    return re.sub(pattern, lambda m: str(table[int(m.group(1))]), text)


def run_python(name, ports):
    """Run the README's Python snippet `name` on these ports; its variables."""
    ns = {}
    exec(compile(localize(snippet(name), ports), "README.md:" + name, "exec"), ns)
    return ns


def note(msg):
    """A measured figure, printed with the test output (the README quotes them)."""
    print("  measured: " + msg, file=sys.stderr, flush=True)


def start_servers(test, n=3, args=()):
    """n fresh mcd on 127.0.0.1, stopped at the test's cleanup (all signalled first)."""
    servers = []
    for _ in range(n):
        servers.append(Server(args=args))
        test.addCleanup(servers[-1].stop)
    test.addCleanup(lambda: [s.terminate() for s in servers])
    return servers


def restart(test, servers, i):
    """Start server i again, empty, on its old port."""
    servers[i].stop()
    servers[i] = Server(port=servers[i].port)
    test.addCleanup(servers[i].stop)
    return servers[i]


def server_stats(server):
    """A server's `stats`, {name: int or str}, on a connection of its own."""
    s = server.connect()
    try:
        s.sendall(b"stats\r\n")
        data = read_until(s, lambda d: d.endswith(b"END\r\n"))
    finally:
        s.close()
    out = {}
    for line in data.decode().split("\r\n"):
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = int(parts[2]) if parts[2].isdigit() else parts[2]
    return out


def holders(servers, keys):
    """{key: index of the server that holds it}, from multigets sent to each
    server itself; a key held by two servers is an error."""
    out = {}
    for i, server in enumerate(servers):
        s = server.connect()
        try:
            for j in range(0, len(keys), 100):
                s.sendall(b"get " + " ".join(keys[j:j + 100]).encode() + b"\r\n")
                data = read_until(s, lambda d: d.endswith(b"END\r\n"))
                for line in data.split(b"\r\n"):
                    if line.startswith(b"VALUE "):
                        key = line.split(b" ")[1].decode()
                        if key in out:
                            raise AssertionError("%s is on servers %d and %d" % (key, out[key], i))
                        out[key] = i
        finally:
            s.close()
    return out


def flush(servers):
    for server in servers:
        s = server.connect()
        try:
            s.sendall(b"flush_all\r\n")
            if read_until(s, lambda d: d.endswith(b"\r\n")) != b"OK\r\n":
                raise AssertionError("flush_all failed on %s" % server.addr)
        finally:
            s.close()


class Nutcracker:
    """nutcracker as the README configures and starts it, on free ports, in a
    temporary directory (its configuration, log and pid file)."""

    def __init__(self, ports):
        if shutil.which("nutcracker") is None:
            raise unittest.SkipTest("nutcracker is not installed (Debian package nutcracker)")
        self.dir = tempfile.mkdtemp(prefix="mcd-nutcracker-")
        self.port, self.stats_port = free_port(), free_port()
        with open(os.path.join(self.dir, "nutcracker.yml"), "w") as f:
            f.write(localize(snippet("nutcracker.yml"), ports, self.port, self.stats_port))
        self.cmd = shlex.split(localize(snippet("nutcracker-command"), ports, self.port,
                                        self.stats_port))
        self.proc = subprocess.Popen(self.cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        for port in (self.port, self.stats_port):
            while True:
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        log = self.log()
                        self.stop()
                        raise RuntimeError("nutcracker did not start: %s\n%s"
                                           % (" ".join(self.cmd), log))
                    time.sleep(0.01)

    def connect(self, timeout=5.0):
        s = socket.create_connection((HOST, self.port), timeout=timeout * SLOW)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stats(self):
        """The stats port's JSON (refreshed every -i milliseconds)."""
        with socket.create_connection((HOST, self.stats_port), timeout=5) as s:
            data = read_until(s, lambda d: False, timeout=5)
        return json.loads(data)

    def server_stats(self, port):
        """The proxy's figures for the server on this port."""
        return self.stats()["mcd"]["%s:%d" % (HOST, port)]

    def log(self):
        try:
            with open(os.path.join(self.dir, "nutcracker.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
