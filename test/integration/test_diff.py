"""Differential test: the same bytes to Debian's memcached and to mcd, replies
compared byte for byte (CAS uniques and version strings normalised)."""
import re
import time
import unittest

from harness import MEMCACHED_BIN, Server, read_until

K250 = b"k" * 250
K251 = b"k" * 251

# name -> list of chunks sent on one fresh connection, ~20 ms apart.
CASES = {
    "set_get": [b"set a 5 0 3\r\nabc\r\nget a\r\ngets a\r\n"],
    "flags_extremes": [b"set a 4294967295 0 1\r\nx\r\nget a\r\nset b 4294967296 0 1\r\ny\r\nget b\r\n"
                       b"set c -1 0 1\r\nz\r\nset d abc 0 1\r\nz\r\n"],
    "exptimes": [b"set a 0 -1 1\r\nx\r\nget a\r\nset b 0 100 1\r\ny\r\nget b\r\n"
                 b"set c 0 1000000000 1\r\nz\r\nget c\r\nset d 0 4000000000 1\r\nw\r\nget d\r\n"],
    "bad_lengths": [b"set a 0 0 -1\r\nset a 0 0 abc\r\nset a 0 0\r\nset a 0 0 1 2 3\r\n"],
    "data_too_long": [b"set a 0 0 3\r\nabcde\r\nget a\r\n"],
    "data_too_short": [b"set a 0 0 5\r\nabc\r\nget a\r\n"],
    "noreply": [b"set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\n2\r\n"
                b"append a 0 0 1 noreply\r\n3\r\ndelete a noreply\r\nget a\r\n"],
    "add_replace": [b"add a 0 0 1\r\n1\r\nadd a 0 0 1\r\n2\r\nreplace b 0 0 1\r\n3\r\n"
                    b"replace a 0 0 1\r\n4\r\nget a b\r\n"],
    "append_prepend": [b"append x 0 0 1\r\n1\r\nset x 7 0 2\r\nmm\r\nappend x 0 0 1\r\nE\r\n"
                       b"prepend x 0 0 1\r\nS\r\nget x\r\n"],
    "cas": [b"cas a 0 0 1 1\r\nx\r\nset a 0 0 1\r\n1\r\ncas a 0 0 1 999999\r\ny\r\n"
            b"cas a 0 0 1 abc\r\ny\r\ncas a 0 0 1\r\ny\r\n"],
    "keys": [b"set " + K250 + b" 0 0 1\r\nx\r\nget " + K250 + b"\r\n",
             b"set " + K251 + b" 0 0 1\r\nx\r\n", b"get " + K251 + b"\r\n",
             b"set " + K251 + b" 0 0 1 noreply\r\nx\r\n"],
    "get_many": [b"set a 0 0 1\r\n1\r\nset c 0 0 1\r\n3\r\nget a b c d a\r\n"
                 b"get " + b" ".join(b"key%d" % i for i in range(40)) + b"\r\nget\r\n"],
    "gat_touch": [b"set a 0 0 1\r\n1\r\ngat 100 a b\r\ngats 0 a\r\ngat abc a\r\n"
                  b"touch a 10\r\ntouch b 10\r\ntouch a abc\r\ngat 10\r\n"],
    "delete_forms": [b"set a 0 0 1\r\n1\r\ndelete a 0\r\ndelete a\r\ndelete a 5\r\n"
                     b"delete a 0 noreply\r\ndelete a x y z\r\n"],
    # A reply still being written holds its item, so in-place arithmetic
    # waits for it: each get is its own chunk, as a client awaiting replies.
    "incr_decr": [b"incr n 1\r\nset n 0 0 2\r\n99\r\nincr n 1\r\nget n\r\n", b"decr n 1\r\nget n\r\n",
                  b"decr n 1000\r\nincr n 18446744073709551615\r\nincr n 2\r\nget n\r\n",
                  b"incr n abc\r\nincr n -1\r\nset s 0 0 3\r\nabc\r\nincr s 1\r\n"
                  b"set e 0 0 0\r\n\r\nincr e 1\r\nset big 0 0 20\r\n18446744073709551615\r\n",
                  b"incr big 1\r\nget big\r\n"],
    "flush": [b"set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\nflush_all 0\r\nflush_all noreply\r\n"
              b"flush_all abc\r\nflush_all 10 noreply\r\nflush_all 0\r\nset b 0 0 1\r\n2\r\nget b\r\n"],
    "verbosity": [b"verbosity\r\nverbosity 1\r\nverbosity 1 noreply\r\nverbosity abc\r\nverbosity 0\r\n"],
    "unknown": [b"foo\r\n\r\n   \r\nGET a\r\nx\r\nmn\r\n"],
    "long_get_line": [b"get " + b" ".join(b"%0200d" % i for i in range(100)) + b"\r\n"],
    "shutdown_disabled": [b"shutdown\r\n"],
    "memlimit": [b"cache_memlimit\r\ncache_memlimit 4\r\ncache_memlimit abc\r\n"
                 b"cache_memlimit 100\r\ncache_memlimit 64 noreply\r\n"],
    "stats_errors": [b"stats foo\r\nstats reset\r\nstats detail\r\nstats detail x\r\n"
                     b"stats sizes\r\nstats cachedump 1\r\n"],
    "stats_detail": [b"stats detail on\r\nset user:1 0 0 1\r\n1\r\nget user:1 user:2 nodelim\r\n"
                     b"delete user:1\r\nstats detail dump\r\nstats detail off\r\n"],
    "cachedump": [b"stats cachedump 99 1\r\nstats cachedump 0 1\r\n"],
    "pipelined": [b"set a 0 0 1\r\n1\r\nget a\r\nset b 0 0 1\r\n2\r\nget a b\r\ndelete a\r\nget a\r\n"],
    "fragmented": [bytes([b]) for b in b"set frag 3 0 5\r\nhello\r\nget frag\r\n"],
    "lf_only": [b"set a 0 0 1\nx\r\nget a\n"],
    "too_large": [b"set big 0 0 3000\r\n" + b"x" * 3000 + b"\r\nget big\r\n"],
}

# Cases that need a particular server configuration.
FLAG_CASES = {
    ("-m", "16"): {
        "too_large_swallowed": [b"set big 0 0 1\r\nx\r\nset big 0 0 1048577\r\n" +
                                b"y" * 1048577 + b"\r\nget big\r\n"
                                b"add big2 0 0 2000000 noreply\r\n" + b"z" * 2000000 +
                                b"\r\nget big2\r\n"],
    },
    ("-C",): {
        "cas_disabled": [b"set a 0 0 1\r\n1\r\ngets a\r\ncas a 0 0 1 0\r\n2\r\n"
                         b"cas a 0 0 1 5\r\n3\r\nget a\r\n"],
    },
}

CLOSE_CASES = {
    "quit": [b"set a 0 0 1\r\n1\r\nquit\r\nget a\r\n"],
    "long_line_closes": [b"set " + b"x" * 3000],
    "http_closes": [b"GET / HTTP/1.1\r\n"],
}


def normalise(data):
    data = re.sub(rb"(VALUE \S+ \d+ \d+) \d+\r\n", rb"\1 <cas>\r\n", data)
    return re.sub(rb"VERSION [^\r]*\r\n", b"VERSION <v>\r\n", data)


def exchange(server, chunks, closes):
    s = server.connect()
    for chunk in chunks:
        s.sendall(chunk)
        time.sleep(0.02 if len(chunks) < 10 else 0.002)
    if closes:
        data = read_until(s, lambda d: False, timeout=1.0)
    else:
        s.sendall(b"version\r\n")
        data = read_until(s, lambda d: re.search(rb"VERSION [^\r]*\r\n$", d) is not None)
    s.close()
    return normalise(data)


class DiffTest(unittest.TestCase):
    def test_expiry_over_time_matches_memcached(self):
        with Server(MEMCACHED_BIN) as ref, Server() as mcd:
            got = []
            for server in (ref, mcd):
                s = server.connect()
                # Expiry has one-second granularity: 1 s is surely gone after
                # 2.2 s, 10 s surely not.
                s.sendall(b"set e1 0 1 1\r\n1\r\nset e3 0 10 1\r\n3\r\nset t 0 1 1\r\nt\r\n"
                          b"touch t 10\r\n")
                read_until(s, lambda d: d.count(b"\r\n") == 4)
                time.sleep(2.2)
                s.sendall(b"get e1 e3 t\r\n")
                got.append(read_until(s, lambda d: d.endswith(b"END\r\n")))
                s.close()
            self.assertEqual(got[1], got[0])
            self.assertEqual(got[0], b"VALUE e3 0 1\r\n3\r\nVALUE t 0 1\r\nt\r\nEND\r\n")

    def compare(self, cases, args=(), closes=False):
        with Server(MEMCACHED_BIN, args) as ref, Server(None, args) as mcd:
            for name, chunks in cases.items():
                with self.subTest(case=name, args=args):
                    want = exchange(ref, chunks, closes)
                    got = exchange(mcd, chunks, closes)
                    self.assertEqual(got, want, "\ncase %s\nmemcached: %r\nmcd:       %r"
                                     % (name, want, got))

    def test_text_protocol_matches_memcached(self):
        self.compare(CASES, ("-t", "2"))

    def test_configured_cases_match_memcached(self):
        for args, cases in FLAG_CASES.items():
            self.compare(cases, args)

    def test_connection_closing_cases_match_memcached(self):
        self.compare(CLOSE_CASES, closes=True)

    def test_stats_names_match_memcached(self):
        with Server(MEMCACHED_BIN) as ref, Server() as mcd:
            for sub in (b"", b" settings", b" items", b" slabs", b" conns"):
                with self.subTest(stats=sub):
                    names = []
                    for server in (ref, mcd):
                        s = server.connect()
                        s.sendall(b"set a 0 0 1\r\n1\r\nget a\r\n")
                        read_until(s, lambda d: d.endswith(b"END\r\n"))
                        s.sendall(b"stats" + sub + b"\r\n")
                        data = read_until(s, lambda d: d.endswith(b"END\r\n"))
                        s.close()
                        names.append({re.sub(rb"^\d+:|^items:\d+:|^\d+:", b"", l.split()[1])
                                      for l in data.split(b"\r\n") if l.startswith(b"STAT ")})
                    missing = names[0] - names[1]
                    self.assertTrue(names[1], "mcd printed no stats%s" % sub.decode())
                    if sub in (b"", b" items", b" slabs"):
                        self.assertEqual(sorted(missing), [], "stats%s lacks %r" % (sub.decode(), sorted(missing)))


if __name__ == "__main__":
    unittest.main()
