"""TLS (-Z): real handshakes with Python's ssl module and pymemcache's
tls_context, certificate verification on and off, expired certificates
refused both ways, notls: listeners plain, refresh_certs, the TLS stats and
settings, and a client stalled mid-handshake costing one connection while
the worker's other connections are served.  Replies over TLS are compared
with Debian's memcached 1.6.18 started with the same flags and files."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from pymemcache.client.base import Client

import tlscerts
from harness import HOST, MCD_BIN, MEMCACHED_BIN, SLOW, Server, free_port, read_until, user_args

TMP = tempfile.mkdtemp(prefix="mcd-tls-")
CERTS = tlscerts.make(os.path.join(TMP, "certs"))


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def path(name):
    return os.path.join(CERTS, name)


def tls_args(cert="server", extra=""):
    return ["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s%s" % (path(cert + ".crt"),
                                                            path(cert + ".key"), extra)]


def client_ctx(verify=True, ca="ca", cert=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(path(ca + ".crt"))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(path(cert + ".crt"), path(cert + ".key"))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tls_connect(server, ctx=None, port=None, timeout=5):
    raw = socket.create_connection((HOST, port or server.port), timeout=timeout * SLOW)
    return (ctx or client_ctx()).wrap_socket(raw, server_hostname="127.0.0.1")


def tls_request(sock, payload, end=b"END\r\n"):
    sock.sendall(payload)
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def stats(sock, what=b""):
    data = tls_request(sock, b"stats%s\r\n" % what)
    return dict(l.split(b" ", 2)[1:3] for l in data.split(b"\r\n") if l.startswith(b"STAT "))


class TlsServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.notls_port = free_port()
        cls.server = Server(args=["-t", "1"] + tls_args() + [
            "-l", "notls:%s:%d" % (HOST, cls.notls_port)])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_pymemcache_with_an_ssl_context(self):
        c = Client((HOST, self.server.port), tls_context=client_ctx(), timeout=5 * SLOW)
        big = os.urandom(600 * 1024)
        c.set("small", b"v")
        c.set("big", big)
        self.assertEqual(c.get("small"), b"v")
        self.assertEqual(c.get("big"), big)
        self.assertEqual(c.get_many(["small", "big", "none"]), {"small": b"v", "big": big})
        c.close()

    def test_pipelined_requests_over_tls(self):
        s = tls_connect(self.server)
        n = 500
        req = b"".join(b"set k%d 0 0 4\r\nv%03d\r\n" % (i, i % 1000) for i in range(n))
        self.assertEqual(tls_request(s, req, b"STORED\r\n" * n), b"STORED\r\n" * n)
        got = tls_request(s, b"get " + b" ".join(b"k%d" % i for i in range(n)) + b"\r\n")
        self.assertEqual(got.count(b"VALUE "), n)
        s.close()

    def test_watch_over_tls(self):
        """A watcher on a TLS connection gets its lines encrypted, as memcached
        writes them through the connection's transport."""
        w = tls_connect(self.server)
        self.assertEqual(tls_request(w, b"watch mutations\r\n", b"OK\r\n"), b"OK\r\n")
        s = tls_connect(self.server)
        for i in range(50):
            self.assertEqual(tls_request(s, b"set watched%d 0 0 1\r\nx\r\n" % i,
                                         b"STORED\r\n"), b"STORED\r\n")
        lines = b""
        while b"key=watched49 " not in lines:
            chunk = w.recv(65536)
            self.assertTrue(chunk, "the watcher was closed: %r" % lines[-200:])
            lines += chunk
        got = [l for l in lines.split(b"\n") if b"type=item_store" in l]
        self.assertEqual([l.split(b" key=")[1].split(b" ")[0] for l in got],
                         [b"watched%d" % i for i in range(50)])
        s.close()
        w.close()

    def test_verification_off_still_encrypts(self):
        c = Client((HOST, self.server.port), tls_context=client_ctx(verify=False))
        c.set("k", b"x")
        self.assertEqual(c.get("k"), b"x")
        c.close()

    def test_unknown_ca_is_refused_by_the_client(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            tls_connect(self.server, client_ctx(ca="other-ca"))

    def test_notls_listener_is_plain(self):
        c = Client((HOST, self.notls_port))
        c.set("plain", b"p")
        self.assertEqual(c.get("plain"), b"p")
        c.close()
        # And plaintext on the TLS port is no request: the connection closes.
        s = socket.create_connection((HOST, self.server.port), timeout=5 * SLOW)
        s.sendall(b"version\r\n")
        self.assertNotIn(b"VERSION", read_until(s, lambda d: False, timeout=2))
        s.close()

    def test_failed_handshakes_are_counted(self):
        s = tls_connect(self.server)
        before = int(stats(s)[b"ssl_handshake_errors"])
        bad = socket.create_connection((HOST, self.server.port), timeout=5 * SLOW)
        bad.sendall(b"\x16\x03\x01\x00\x05hello")      # a record header, then garbage
        read_until(bad, lambda d: False, timeout=1)
        bad.close()
        deadline = time.monotonic() + 5 * SLOW
        while int(stats(s)[b"ssl_handshake_errors"]) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(int(stats(s)[b"ssl_handshake_errors"]), before + 1)
        self.assertIn(b"time_since_server_cert_refresh", stats(s))
        s.close()

    def test_a_stalled_handshake_costs_one_connection(self):
        # One worker (-t 1): a client that sends half a ClientHello and stops
        # must not hold up the others, and holds one connection only.
        s = tls_connect(self.server)
        base = int(stats(s)[b"curr_connections"])
        stalled = []
        for _ in range(20):
            r = socket.create_connection((HOST, self.server.port), timeout=5 * SLOW)
            r.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            stalled.append(r)
        for i in range(3):
            c = tls_connect(self.server)
            self.assertEqual(tls_request(c, b"set s%d 0 0 1\r\nx\r\n" % i, b"\r\n"), b"STORED\r\n")
            c.close()
        deadline = time.monotonic() + 5 * SLOW
        while int(stats(s)[b"curr_connections"]) != base + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(int(stats(s)[b"curr_connections"]), base + 20)
        for r in stalled:
            r.close()
        s.close()

    def test_settings_show_tls(self):
        s = tls_connect(self.server)
        st = stats(s, b" settings")
        self.assertEqual(st[b"ssl_enabled"], b"yes")
        self.assertEqual(st[b"ssl_chain_cert"], path("server.crt").encode())
        self.assertEqual(st[b"ssl_min_version"], b"tlsv1.2")
        s.close()


class TlsVerifyTest(unittest.TestCase):
    def test_client_certificates_required(self):
        args = tls_args(extra=",ssl_verify_mode=2,ssl_ca_cert=%s" % path("ca.crt"))
        with Server(args=args) as server:
            c = tls_connect(server, client_ctx(cert="client"))
            self.assertEqual(tls_request(c, b"version\r\n", b"\r\n")[:8], b"VERSION ")
            c.close()
            for cert in (None, "client-expired", "client-other"):
                with self.subTest(cert=cert):
                    # TLS 1.3 sends the alert after the client's handshake ends:
                    # the first read fails then.
                    try:
                        c = tls_connect(server, client_ctx(cert=cert))
                        c.sendall(b"version\r\n")
                        self.assertEqual(c.recv(100), b"")
                    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                        pass

    def test_expired_server_certificate_is_refused(self):
        with Server(args=tls_args("expired")) as server:
            with self.assertRaises(ssl.SSLCertVerificationError) as e:
                tls_connect(server)
            self.assertIn("expired", str(e.exception))
            # Without verification the handshake itself succeeds.
            c = tls_connect(server, client_ctx(verify=False))
            self.assertEqual(tls_request(c, b"version\r\n", b"\r\n")[:8], b"VERSION ")
            c.close()

    def test_min_version(self):
        with Server(args=tls_args(extra=",ssl_min_version=3")) as server:
            with self.assertRaises(ssl.SSLError):
                tls_connect(server, client_ctx(max_version=ssl.TLSVersion.TLSv1_2))
            c = tls_connect(server)
            self.assertEqual(c.version(), "TLSv1.3")
            c.close()

    def test_refresh_certs(self):
        work = os.path.join(TMP, "refresh")
        os.makedirs(work, exist_ok=True)
        for n in ("crt", "key"):
            shutil.copy(path("server." + n), os.path.join(work, "live." + n))
        args = ["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (os.path.join(work, "live.crt"),
                                                             os.path.join(work, "live.key"))]
        with Server(args=args) as server:
            old = tls_connect(server)
            serial = lambda s: int(s.getpeercert()["serialNumber"], 16)
            self.assertEqual(serial(old), 1001)
            for n in ("crt", "key"):
                shutil.copy(path("server2." + n), os.path.join(work, "live." + n))
            self.assertEqual(tls_request(old, b"refresh_certs\r\n", b"\r\n"), b"OK\r\n")
            new = tls_connect(server)
            self.assertEqual(serial(new), 1002)
            # A broken file changes nothing, and says why as memcached does.
            with open(os.path.join(work, "live.crt"), "w") as f:
                f.write("not a certificate\n")
            reply = tls_request(new, b"refresh_certs\r\n", b"\r\n")
            self.assertTrue(reply.startswith(b"Error loading the certificate chain: %s : "
                                             % os.path.join(work, "live.crt").encode()), reply)
            self.assertEqual(serial(tls_connect(server)), 1002)
            # The connection opened before the first refresh still works.
            self.assertEqual(tls_request(old, b"version\r\n", b"\r\n")[:8], b"VERSION ")

    def test_session_cache_as_memcached(self):
        # TLS 1.2 without tickets: the server caches the session by its id,
        # counts it in ssl_new_sessions, and resumes it.
        got = []
        for binary in (MEMCACHED_BIN, MCD_BIN):
            with Server(binary, args=tls_args(extra=",ssl_session_cache")) as server:
                ctx = client_ctx(max_version=ssl.TLSVersion.TLSv1_2)
                ctx.options |= ssl.OP_NO_TICKET
                c = tls_connect(server, ctx)
                first = int(stats(c)[b"ssl_new_sessions"])
                sess = c.session
                c.unwrap().close()      # close_notify, or the session is not resumable
                raw = socket.create_connection((HOST, server.port), timeout=5 * SLOW)
                again = ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=sess)
                got.append((first, again.session_reused, int(stats(again)[b"ssl_new_sessions"])))
                again.close()
        self.assertEqual(got[1], got[0])
        self.assertEqual(got[1], (1, True, 1))


class TlsFlagsTest(unittest.TestCase):
    def run_both(self, args):
        out = []
        for binary in (MEMCACHED_BIN, MCD_BIN):
            p = subprocess.run([binary, "-U", "0", "-l", HOST, "-p", str(free_port())]
                               + user_args() + args, capture_output=True, timeout=10 * SLOW)
            out.append((p.returncode, p.stderr.decode(errors="replace")))
        return out

    def test_start_up_errors_as_memcached(self):
        missing = os.path.join(TMP, "missing.crt")
        for args, msg in (
                (["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (missing, path("server.key"))],
                 "Error loading the certificate chain: %s : " % missing),
                (["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (path("server.crt"),
                                                               path("client.key"))],
                 "Error loading the key: %s" % path("client.key")),
                (["-l", "notls:127.0.0.1"], "'notls' option is valid only when SSL is enabled"),
                (["-o", "ssl_verify_mode=9"], "Invalid ssl_verify_mode. Use help to see valid "
                                              "options."),
                (["-o", "ssl_min_version=7"], "Invalid ssl_min_version. Use help to see valid "
                                              "options."),
        ):
            with self.subTest(args=args):
                (mrc, merr), (rc, err) = self.run_both(args)
                self.assertNotEqual(rc, 0)
                self.assertNotEqual(mrc, 0)
                self.assertIn(msg, merr)
                self.assertIn(msg, err)

    def test_replies_and_settings_match_memcached(self):
        args = ["-t", "2"] + tls_args(extra=",ssl_ca_cert=%s,ssl_verify_mode=1,ssl_wbuf_size=8,"
                                            "ssl_session_cache" % path("ca.crt"))
        ref = Server(MEMCACHED_BIN, args)
        self.addCleanup(ref.stop)
        mcd = Server(MCD_BIN, args)
        self.addCleanup(mcd.stop)
        steps = [b"set a 0 0 5\r\nhello\r\n", b"get a b\r\n", b"mg a v t\r\n",
                 b"incr a 1\r\n", b"refresh_certs\r\n", b"refresh_certs noreply\r\nmn\r\n",
                 b"bogus\r\n"]
        got = []
        for server in (ref, mcd):
            s = tls_connect(server, client_ctx(cert="client"))
            replies = []
            for step in steps:
                s.sendall(step)
                replies.append(read_tls(s))
            st = stats(s, b" settings")
            got.append((replies, {k: v for k, v in st.items() if k.startswith(b"ssl_")}))
            s.close()
        self.assertEqual(got[1], got[0])


def read_tls(s, quiet=0.2):
    s.settimeout(quiet * SLOW)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ssl.SSLWantReadError):
        pass
    s.settimeout(5 * SLOW)
    return data


if __name__ == "__main__":
    unittest.main()


class TlsLoadingTest(unittest.TestCase):
    """OpenSSL is loaded only for -Z: a server without TLS does not map
    libssl or libcrypto (1.7 MB of resident memory at idle)."""

    def mapped(self, server):
        with open("/proc/%d/maps" % server.proc.pid) as f:
            return {os.path.basename(l.split()[-1]).split(".so")[0]
                    for l in f if ".so" in l}

    def test_openssl_only_with_z(self):
        with Server(args=["-t", "1"]) as plain:
            libs = self.mapped(plain)
            self.assertNotIn("libssl", libs)
            self.assertNotIn("libcrypto", libs)
        with Server(args=["-t", "1"] + tls_args()) as secure:
            libs = self.mapped(secure)
            self.assertIn("libssl", libs)
            self.assertIn("libcrypto", libs)
