"""The processes behind `make bench`: servers, and mcd-bench runs.

A Server is mcd or memcached pinned to SERVER_CPU on 127.0.0.1 only; a run
of mcd-bench is pinned to LOAD_CPU.  A ServerList is several servers that
mcd-bench addresses itself (--servers), a Nutcracker a proxy in front of
them, pinned to SERVER_CPU too: whatever the number of servers, the
server side has one core and the load the other.  Load is either run to completion
(McdBench.mcdb) or started in the background with --report-interval
(McdBench.mcdb_start -> LiveRun), whose interval lines a workload reads while
it runs, and which it ends with SIGINT (mcd-bench then stops sending,
reads what is in flight and reports).  Every process is stopped by a with
block, so an exception leaves none behind.

Every mcd-bench run checks the values it reads; a run with a wrong value or
a protocol error is recorded in McdBench.errors and marked "failed".
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
MCDB = os.path.join(HERE, "mcd-bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU, LOAD_CPU = "0", "1"
MB = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_listening(proc, port, what, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start" % what)
            time.sleep(0.01)


class Server:
    """One server process pinned to SERVER_CPU, listening on 127.0.0.1 only."""

    def __init__(self, name, binary, threads, memory, extra=(), pin=True, port=None,
                 timeout=5):
        self.name = name
        self.tls = "-Z" in extra
        self.port = port or free_port()
        cmd = (["taskset", "-c", SERVER_CPU] if pin else []) + [
            binary, "-U", "0", "-l", HOST, "-p", str(self.port), "-t", str(threads),
            "-m", str(memory), "-c", "4096"] + list(extra)
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.proc, self.port, "%s (%s)" % (name, " ".join(cmd)), timeout)
        except RuntimeError:
            self.stop()
            raise

    def target(self):
        """mcd-bench's options to load this server."""
        return ["-s", HOST, "-p", str(self.port)] + (["--tls"] if self.tls else [])

    def cpu_seconds(self):
        """utime + stime of every thread of the server, from /proc/PID/stat."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stats(self):
        with socket.create_connection((HOST, self.port), timeout=10) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        out = {}
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                out[parts[1]] = parts[2]
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ServerList:
    """Servers that mcd-bench spreads keys over itself (--servers, ketama)."""

    def __init__(self, servers):
        self.servers = servers
        self.name = "%d x %s" % (len(servers), servers[0].name)

    def target(self):
        return ["--servers", ",".join("%s:%d" % (HOST, s.port) for s in self.servers)]


class Nutcracker:
    """nutcracker in front of servers, pinned to SERVER_CPU: the README's ring (hash md5,
    ketama, servers without names, so keys land where mcd-bench --servers puts them),
    one connection to each server, no ejection."""

    def __init__(self, servers):
        self.name = "nutcracker, %d x %s" % (len(servers), servers[0].name)
        self.dir = tempfile.mkdtemp(prefix="mcd-bench-nutcracker-")
        self.port, stats = free_port(), free_port()
        with open(os.path.join(self.dir, "nutcracker.yml"), "w") as f:
            f.write("bench:\n  listen: %s:%d\n  hash: md5\n  distribution: ketama\n"
                    "  timeout: 2000\n  preconnect: true\n  servers:\n" % (HOST, self.port))
            f.write("".join("   - %s:%d:1\n" % (HOST, s.port) for s in servers))
        cmd = ["taskset", "-c", SERVER_CPU, "nutcracker", "-c", "nutcracker.yml", "-a", HOST,
               "-s", str(stats), "-o", "nutcracker.log", "-p", "nutcracker.pid"]
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.proc, self.port, "nutcracker (%s)" % " ".join(cmd))
        except RuntimeError:
            self.stop()
            raise

    def target(self):
        return ["-s", HOST, "-p", str(self.port)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class McdBench:
    """Runs of mcd-bench against servers, with the errors they found."""

    def __init__(self):
        self.errors = []

    @staticmethod
    def command(server, opts):
        """server: anything with a target() (a Server, a ServerList, a Nutcracker)."""
        return ["taskset", "-c", LOAD_CPU, MCDB] + server.target() + ["--json"] + [
            str(o) for o in opts]

    def check(self, server, cmd, returncode, r, stderr):
        """Record a run that failed or found a wrong value; mark its result."""
        if r is None:
            r = {"protocol_errors": 1, "verify_errors": 0, "error": stderr[:200]}
        if returncode != 0 or r["verify_errors"] or r["protocol_errors"]:
            self.errors.append("%s: %s: verify %s, protocol %s: %s" % (
                server.name, " ".join(cmd[3:]), r.get("verify_errors"),
                r.get("protocol_errors"), r.get("error")))
            r["failed"] = True
        return r

    def mcdb(self, server, *opts, timeout=120):
        """Run mcd-bench to its end; its JSON result."""
        cmd = self.command(server, opts)
        p = subprocess.run(cmd, capture_output=True, timeout=timeout)
        try:
            r = json.loads(p.stdout.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            r = None
        return self.check(server, cmd, p.returncode, r, p.stderr.decode())

    def mcdb_all(self, jobs, timeout=300):
        """Run several mcd-bench at once, [(server, opts), ...]; their results in order."""
        out = [None] * len(jobs)

        def one(i, server, opts):
            out[i] = self.mcdb(server, *opts, timeout=timeout)

        threads = [threading.Thread(target=one, args=(i, s, o)) for i, (s, o) in enumerate(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return out

    def mcdb_start(self, server, *opts, interval=1.0):
        """Start mcd-bench in the background, reporting every `interval` seconds."""
        return LiveRun(self, server, list(opts) + ["--report-interval", interval])


class LiveRun:
    """A background mcd-bench: its interval lines as they arrive, then its total."""

    def __init__(self, owner, server, opts):
        self.owner = owner
        self.server = server
        self.cmd = McdBench.command(server, opts)
        self.intervals = []         # dicts, appended by the reader thread
        self.total = None
        self.stderr = ""
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                r = json.loads(line.decode())
            except ValueError:
                continue
            with self.lock:
                if r.get("interval"):
                    self.intervals.append(r)
                else:
                    self.total = r
        self.stderr = self.proc.stderr.read().decode()

    def seen(self):
        """The interval lines so far."""
        with self.lock:
            return list(self.intervals)

    def running(self):
        return self.proc.poll() is None

    def wait_for_intervals(self, n, timeout):
        """Wait until n interval lines came (the run phase started); False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.seen()) >= n:
                return True
            if not self.running():
                return len(self.seen()) >= n
            time.sleep(0.05)
        return False

    def stop(self):
        """Ask mcd-bench to end its run (it still reports)."""
        if self.running():
            self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout=30):
        """Wait for the end (stopping it first if asked); its checked total."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        return self.owner.check(self.server, self.cmd, self.proc.returncode, self.total,
                                self.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.running():
            self.proc.kill()
            self.proc.wait()
