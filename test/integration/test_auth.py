"""Authentication, against Debian's memcached 1.6.18 started the same way:
-Y (a user file; text and meta refused until a `set` carries "user
password"; binary refused) and -S (binary SASL PLAIN).  The same bytes go to
both servers, one request per round trip, and the replies must be equal byte
for byte.  Then real clients: pylibmc and libmemcached's tools log in over
SASL; the counters, the start-up refusals and the logs are checked on mcd.

memcached's SASL is Cyrus SASL: the test writes it a sasldb (saslpasswd2,
from sasl2-bin) and a memcached.conf limiting it to PLAIN; mcd reads the
same users from a user file (MEMCACHED_SASL_PWDB).

One difference is not compared: memcached answers only the last of several
unauthenticated requests sent in one write (each reply overwrites the one
before it in its response object); mcd answers each of them.
"""
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import (HOST, MCD_BIN, MEMCACHED_BIN, SLOW, DiffMixin, Server, read_until,
                     request, user_args)

USERS = "alice:secret\nbob:hunter2\r\n"
BASE = ["-t", "2"]

TMP = tempfile.mkdtemp(prefix="mcd-auth-")
USER_FILE = os.path.join(TMP, "users")
with open(USER_FILE, "w") as f:
    f.write(USERS)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def bin_req(op, key=b"", value=b"", extras=b"", opaque=0):
    body = len(extras) + len(key) + len(value)
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, body, opaque,
                       0) + extras + key + value


NOOP, VERSION, GET, SET, LIST, AUTH, STEP = 0x0a, 0x0b, 0x00, 0x01, 0x20, 0x21, 0x22

# -Y cases that end unauthenticated (read for half a second after the last
# step) and that end authenticated (a `version` at the end must answer).
Y_REFUSED = {
    "get": [b"get k\r\n"],
    "gets": [b"gets k\r\n"],
    "mg": [b"mg k v\r\n"],
    "mn": [b"mn\r\n"],
    "ms_and_its_data": [b"ms k 1\r\n", b"v\r\n"],
    "md": [b"md k\r\n"],
    "ma": [b"ma k\r\n"],
    "me": [b"me k\r\n"],
    "stats": [b"stats\r\n"],
    "version": [b"version\r\n"],
    "quit": [b"quit\r\n", b"get k\r\n"],
    "flush_all": [b"flush_all\r\n"],
    "delete": [b"delete k\r\n"],
    "incr": [b"incr k 1\r\n"],
    "add_is_not_auth": [b"add k 0 0 12\r\n", b"alice secret\r\n"],
    "set_missing_length": [b"set k 0 0\r\n"],
    "set_negative_length": [b"set k 0 0 -1\r\n"],
    "wrong_password": [b"set k 0 0 9\r\nalice bad\r\n"],
    "wrong_user": [b"set k 0 0 14\r\nmallory secret\r\n"],
    "other_users_password": [b"set k 0 0 13\r\nalice hunter2\r\n"],
    "user_only": [b"set k 0 0 5\r\nalice\r\n"],
    "empty_block": [b"set k 0 0 0\r\n\r\n"],
    "bad_termination": [b"set k 0 0 5\r\nalicexy"],
    "line_then_data_apart": [b"set k 0 0 9\r\n", b"alice bad\r\n"],
    "then_refused_again": [b"set k 0 0 9\r\nalice bad\r\n", b"get k\r\n"],
    "binary_noop": [bin_req(NOOP)],
    "binary_get": [bin_req(GET, b"k")],
    "http": [b"GET / HTTP/1.1\r\n"],
}
Y_ACCEPTED = {
    "right_password": [b"set k 0 0 12\r\nalice secret\r\n", b"set k 0 0 1\r\nv\r\n",
                       b"get k\r\n", b"mg k v\r\n", b"mn\r\n"],
    "crlf_user": [b"set k 0 0 11\r\nbob hunter2\r\n", b"get k\r\n"],
    "wrong_then_right": [b"set k 0 0 9\r\nalice bad\r\n", b"set x 1 2 12\r\nalice secret\r\n",
                         b"get x\r\n"],
    "extra_tokens_ignored": [b"set k 0 0 18\r\nalice secret extra\r\n", b"get k\r\n"],
    "noreply_still_answered": [b"set k 0 0 12 noreply\r\nalice secret\r\n"],
    "line_and_data_apart": [b"set k 0 0 12\r\n", b"alice secret\r\n", b"mn\r\n"],
    "binary_after_auth_is_text": [b"set k 0 0 12\r\nalice secret\r\n", bin_req(NOOP)],
}

PLAIN = b"PLAIN"
S_CASES = {
    "list_mechs": [bin_req(LIST, opaque=7)],
    "version_before_auth": [bin_req(VERSION)],
    "noop_before_auth_closes": [bin_req(NOOP), bin_req(VERSION)],
    "get_before_auth_closes": [bin_req(GET, b"k")],
    "plain_right": [bin_req(AUTH, PLAIN, b"\0alice\0secret"), bin_req(GET, b"k"), bin_req(NOOP)],
    "plain_authzid_same": [bin_req(AUTH, PLAIN, b"bob\0bob\0hunter2"), bin_req(NOOP)],
    "plain_wrong": [bin_req(AUTH, PLAIN, b"\0alice\0nope"), bin_req(VERSION)],
    "plain_unknown_user": [bin_req(AUTH, PLAIN, b"\0mallory\0secret")],
    "plain_no_nul": [bin_req(AUTH, PLAIN, b"alice secret")],
    "plain_one_nul": [bin_req(AUTH, PLAIN, b"alice\0secret")],
    "wrong_then_right": [bin_req(AUTH, PLAIN, b"\0alice\0x"), bin_req(AUTH, PLAIN, b"\0alice\0secret"),
                         bin_req(NOOP)],
    "step_without_auth": [bin_req(STEP, PLAIN, b"\0alice\0secret")],
    "auth_then_step": [bin_req(AUTH, PLAIN), bin_req(STEP, PLAIN, b"\0alice\0secret"),
                       bin_req(NOOP)],
    "unknown_mechanism": [bin_req(AUTH, b"X-UNKNOWN", b"whatever")],
    "long_mechanism": [bin_req(AUTH, b"M" * 33, b"data"), bin_req(VERSION)],
    "list_after_auth_logs_out": [bin_req(AUTH, PLAIN, b"\0alice\0secret"), bin_req(LIST),
                                 bin_req(NOOP)],
    "text_on_sasl_server": [b"get k\r\n"],
}


def sasl_conf():
    """A Cyrus SASL configuration for memcached: PLAIN over a sasldb of USERS."""
    d = os.path.join(TMP, "sasl")
    if not os.path.isdir(d):
        os.makedirs(d)
        db = os.path.join(d, "sasldb2")
        for line in USERS.split("\n"):
            if line.strip():
                user, pw = line.strip().split(":", 1)
                subprocess.run(["saslpasswd2", "-p", "-a", "memcached", "-c", "-f", db, user],
                               input=pw.encode(), check=True)
        with open(os.path.join(d, "memcached.conf"), "w") as f:
            f.write("mech_list: plain\nsasldb_path: %s\n" % db)
    return d


class SaslEnv:
    """Environment for servers started with -S: memcached's Cyrus config,
    mcd's user file."""

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in ("SASL_CONF_PATH", "MEMCACHED_SASL_PWDB")}
        os.environ["SASL_CONF_PATH"] = sasl_conf()
        os.environ["MEMCACHED_SASL_PWDB"] = USER_FILE

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class AsciiAuthDiffTest(DiffMixin, unittest.TestCase):
    ARGS = BASE + ["-Y", USER_FILE]

    def test_refused_until_authenticated(self):
        self.compare(Y_REFUSED, self.ARGS, mode="quiet")

    def test_authenticated(self):
        self.compare(Y_ACCEPTED, self.ARGS)

    def test_no_newline_in_2048_bytes_closes(self):
        self.compare({"junk": [b"\x80" * 3000]}, self.ARGS, mode="close")


class SaslDiffTest(DiffMixin, unittest.TestCase):
    ARGS = BASE + ["-S"]

    def pair(self, args):
        with SaslEnv():
            return super().pair(args)

    def test_sasl_exchanges(self):
        self.compare(S_CASES, self.ARGS, mode="quiet")


def stats(sock):
    data = request(sock, b"stats\r\n")
    return dict(l.split(b" ")[1:3] for l in data.split(b"\r\n") if l.startswith(b"STAT "))


def login(sock, user=b"alice", pw=b"secret"):
    data = b"%s %s" % (user, pw)
    return request(sock, b"set a 0 0 %d\r\n%s\r\n" % (len(data), data), b"\r\n")


class AsciiAuthServerTest(unittest.TestCase):
    def test_counters_and_settings(self):
        with Server(args=BASE + ["-Y", USER_FILE]) as server:
            s = server.connect()
            self.assertEqual(login(s, pw=b"bad"), b"CLIENT_ERROR authentication failure\r\n")
            self.assertEqual(login(s, pw=b"worse"), b"CLIENT_ERROR authentication failure\r\n")
            self.assertEqual(login(s), b"STORED\r\n")
            st = stats(s)
            self.assertEqual((st[b"auth_cmds"], st[b"auth_errors"]), (b"3", b"2"))
            settings = request(s, b"stats settings\r\n")
            self.assertIn(b"STAT auth_enabled_ascii %s\r\n" % USER_FILE.encode(), settings)
            self.assertIn(b"STAT binding_protocol ascii\r\n", settings)

    def test_passwords_are_never_logged(self):
        with Server(args=BASE + ["-Y", USER_FILE, "-vvv"]) as server:
            s = server.connect()
            login(s, pw=b"wrong-one-xyzzy")
            login(s)
            request(s, b"set k 0 0 1\r\nv\r\nget k\r\n")
            s.close()
            time.sleep(0.2)
            log = server.stderr()
        for secret in (b"secret", b"xyzzy", b"hunter2"):
            self.assertNotIn(secret, log)

    def start_fails(self, args, env=None):
        cmd = [MCD_BIN, "-U", "0", "-l", HOST, "-p", "0"] + user_args() + args
        p = subprocess.run(cmd, capture_output=True, timeout=10 * SLOW, env=env)
        return p.returncode, p.stderr.decode(errors="replace")

    def test_malformed_file_stops_start_up(self):
        bad = os.path.join(TMP, "bad")
        with open(bad, "w") as f:
            f.write("alice:secret\nbob\n")
        rc, err = self.start_fails(["-Y", bad])
        self.assertNotEqual(rc, 0)
        self.assertIn("Authfile [%s] has a malformed entry. Should be 'user:password' "
                      "(line 2 has no ':')" % bad, err)
        self.assertNotIn("secret", err)
        rc, err = self.start_fails(["-Y", os.path.join(TMP, "missing")])
        self.assertNotEqual(rc, 0)
        self.assertIn("Could not open authfile", err)

    def test_flag_conflicts_as_memcached(self):
        for args, msg in (
                (["-Y", USER_FILE, "-B", "binary"], "ERROR: You cannot allow the BINARY protocol "
                                                    "while using ascii authentication tokens."),
                (["-S", "-B", "ascii"], "ERROR: You cannot allow the ASCII protocol while using "
                                        "SASL."),
                (["-S", "-U", "11311"], "ERROR: Cannot enable UDP while using binary SASL "
                                        "authentication."),
        ):
            with self.subTest(args=args):
                cmd = [MCD_BIN, "-l", HOST, "-p", "0"] + user_args() + args
                p = subprocess.run(cmd, capture_output=True, timeout=10 * SLOW)
                ref = subprocess.run([MEMCACHED_BIN, "-l", HOST, "-p", "0"] + user_args() + args,
                                     capture_output=True, timeout=10 * SLOW)
                self.assertEqual(p.returncode, ref.returncode)
                self.assertIn(msg, p.stderr.decode())
                self.assertIn(msg, ref.stderr.decode())
        env = dict(os.environ)
        env.pop("MEMCACHED_SASL_PWDB", None)
        rc, err = self.start_fails(["-S"], env=env)
        self.assertNotEqual(rc, 0)
        self.assertIn("MEMCACHED_SASL_PWDB", err)


class SaslClientTest(unittest.TestCase):
    """Real clients over SASL: pylibmc and libmemcached's tools."""

    @classmethod
    def setUpClass(cls):
        with SaslEnv():
            cls.server = Server(args=BASE + ["-S"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_pylibmc_logs_in(self):
        import pylibmc
        mc = pylibmc.Client([self.server.addr], binary=True, username="alice", password="secret")
        mc.set("greeting", "hello")
        self.assertEqual(mc.get("greeting"), "hello")
        bad = pylibmc.Client([self.server.addr], binary=True, username="alice", password="nope")
        with self.assertRaises(pylibmc.Error):
            bad.set("greeting", "bye")
        self.assertEqual(mc.get("greeting"), "hello")

    def test_libmemcached_tools_log_in(self):
        path = os.path.join(TMP, "toolfile")
        with open(path, "w") as f:
            f.write("from memccp")
        auth = ["--binary", "--username=bob", "--password=hunter2",
                "--servers=%s" % self.server.addr]
        run = lambda *a: subprocess.run(list(a), capture_output=True, timeout=30 * SLOW, cwd=TMP)
        self.assertEqual(run("memccp", *auth, "toolfile").returncode, 0)
        got = run("memccat", *auth, "toolfile")
        self.assertEqual((got.returncode, got.stdout), (0, b"from memccp\n"))
        bad = run("memccat", "--binary", "--username=bob", "--password=wrong",
                  "--servers=%s" % self.server.addr, "toolfile")
        self.assertNotIn(b"from memccp", bad.stdout)
        st = run("memcstat", *auth)
        self.assertEqual(st.returncode, 0)
        self.assertIn(b"auth_cmds", st.stdout)

    def test_unauthenticated_binary_is_refused_and_closed(self):
        s = self.server.connect()
        s.sendall(bin_req(GET, b"greeting"))
        data = read_until(s, lambda d: False, timeout=1)
        self.assertEqual(data[6:8], b"\x00\x20")
        self.assertTrue(data.endswith(b"Auth failure."))
        s.close()


if __name__ == "__main__":
    unittest.main()
