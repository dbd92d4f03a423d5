# mcd — a memcached-compatible cache server.
#
#   make            build ./mcd
#   make run        build, install missing packages, run on 127.0.0.1:11211
#   make test       build, install missing packages, run every test
#   make install    install to $(DESTDIR)$(PREFIX): binary, man page, systemd
#                   units, /etc/default/mcd (kept if present), the mcd user
#   make uninstall  remove what make install put under $(PREFIX)
#   make bench      mcd side by side with memcached (see bench/README.md)
#
# Layering is enforced by include paths: storage/ sees only itself,
# protocol/ sees itself and storage/, server/ sees all three.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror
SAN      ?=
# jemalloc is linked in statically: the shared library pulls in libstdc++ and
# libm, most of a megabyte of resident memory mcd never uses.  Sanitizer
# builds keep the shared one, whose malloc the sanitizer's replaces.
# OpenSSL (libssl-dev) is mcd's TLS (-Z, server/tls.c), loaded with dlopen only when -Z
# asks for it: not linked, so a server without TLS does not map it.
LDLIBS    = $(if $(SAN),-ljemalloc,-Wl,-Bstatic -ljemalloc -Wl,-Bdynamic) -lpthread -lm -ldl
PY       := /usr/bin/python3

STORAGE_SRC  := $(sort $(wildcard storage/*.c))
PROTOCOL_SRC := $(sort $(wildcard protocol/*.c))
SERVER_SRC   := $(sort $(wildcard server/*.c))

STORAGE_OBJ  := $(STORAGE_SRC:%.c=$(BUILD)/%.o)
PROTOCOL_OBJ := $(PROTOCOL_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ   := $(SERVER_SRC:%.c=$(BUILD)/%.o)

UNIT_TESTS   := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(wildcard test/unit/test_*.c))

.PHONY: all run test unit integration sanitize sanitize-asan sanitize-tsan deps deps-build install install-user uninstall \
        clean bench fuzz fuzz-build fuzz-ci

all: mcd bench/mcd-bench bench/storage-bench bench/hash-bench bench/instr-count bench/mcd-nostore

# --- the server ------------------------------------------------------------

$(BUILD)/storage/%.o: storage/%.c $(wildcard storage/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Istorage -c $< -o $@

$(BUILD)/protocol/%.o: protocol/%.c $(wildcard protocol/*.h storage/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Iprotocol -Istorage -c $< -o $@

$(BUILD)/server/%.o: server/%.c $(wildcard server/*.h protocol/*.h storage/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Iserver -Iprotocol -Istorage -c $< -o $@

$(BUILD)/mcd: $(STORAGE_OBJ) $(PROTOCOL_OBJ) $(SERVER_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

mcd: deps-build $(BUILD)/mcd
	cp $(BUILD)/mcd $@.tmp && mv -f $@.tmp $@

# --- tests -----------------------------------------------------------------

# Unit tests link the module under test and what it needs; server/ objects
# other than main.o are available for tests of server-side pure parts.
TEST_LIBS := $(STORAGE_OBJ) $(PROTOCOL_OBJ) $(filter-out $(BUILD)/server/main.o,$(SERVER_OBJ))

$(BUILD)/test/%: test/unit/%.c $(wildcard test/unit/*.h) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Iserver -Iprotocol -Istorage -o $@ $< $(TEST_LIBS) -lcmocka $(LDLIBS)

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

integration: mcd bench/mcd-bench bench/mcd-nostore bench/instr-count
	MCD_BIN=$(CURDIR)/mcd test/integration/run

# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer; the
# integration suite against an ASan/UBSan server, and at the same time the
# modules where threads meet against a ThreadSanitizer one: connections
# against one another and against the page mover, the crawler, the watchers'
# and metrics threads, signals and the warm-restart save.  The protocol
# modules (one connection per case) run unsanitized and under ASan/UBSan;
# running the two sanitizers side by side keeps `make test` short (the suites
# mostly wait on sockets).
TSAN_MODULES := test_concurrency test_storage_engine test_hostile test_faults test_service \
                test_warm_restart test_metrics test_tls test_admin_diff
ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DMCD_SANITIZE
TSAN := -fsanitize=thread -DMCD_SANITIZE
sanitize: bench/mcd-bench bench/mcd-nostore bench/instr-count
	$(MAKE) BUILD=build/asan SAN="$(ASAN)" OPT=-O1 build/asan/mcd unit
	$(MAKE) BUILD=build/tsan SAN="$(TSAN)" OPT=-O1 build/tsan/mcd
	$(MAKE) -j2 --output-sync=target sanitize-asan sanitize-tsan

sanitize-asan:
	MCD_BIN=$(CURDIR)/build/asan/mcd MCD_SANITIZER=asan test/integration/run

sanitize-tsan:
	MCD_BIN=$(CURDIR)/build/tsan/mcd MCD_SANITIZER=tsan test/integration/run $(TSAN_MODULES)

test: deps mcd
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) sanitize
	$(MAKE) fuzz-ci

# --- fuzzing ---------------------------------------------------------------

# libFuzzer targets (test/fuzz/, see test/README.md), built with clang
# under ASan/UBSan: one per parser (text, meta, binary, UDP framing) and one
# for the whole request loop.  `make fuzz` runs each for FUZZ_TIME seconds,
# FUZZ_JOBS at a time (default 2), from the seed corpus in the repository; what they add to
# the corpus stays in build/fuzz/corpus, crashes in build/fuzz/crashes.
FUZZ_TARGETS := text meta binary udp session
FUZZ_BIN     := $(FUZZ_TARGETS:%=build/fuzz/fuzz/fuzz_%)
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined -DMCD_SANITIZE
FUZZ_TIME    ?= 300

$(BUILD)/fuzz/%: test/fuzz/%.c $(wildcard test/fuzz/*.h) $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -fsanitize=fuzzer -Iserver -Iprotocol -Istorage -o $@ $< \
	    $(TEST_LIBS) $(LDLIBS)

fuzz-build: deps-build
	$(call ensure_packages,$(FUZZ_PKGS))
	$(MAKE) BUILD=build/fuzz CC=clang SAN="$(FUZZ_SAN)" OPT=-O1 $(FUZZ_BIN)

fuzz: fuzz-build
	test/fuzz/run $(FUZZ_TIME) $(FUZZ_TARGETS)

# CI: each target for a minute, all at once (a minute on 2 cores, each
# target with a share of them; `make fuzz` gives each more).
fuzz-ci: fuzz-build
	FUZZ_JOBS=5 test/fuzz/run 60 $(FUZZ_TARGETS)

# --- set-up ----------------------------------------------------------------

# Packages the build and the tests need, installed when missing (perl runs
# memcached-tool, from the memcached package, and its version module;
# systemd's systemd-analyze checks the units, mandoc lints the man page,
# python3-prometheus-client parses /metrics, util-linux has setpriv).
BUILD_PKGS := gcc make libjemalloc-dev libssl-dev
TEST_PKGS  := libcmocka-dev memcached python3 python3-memcache python3-pymemcache \
              libmemcached-tools perl libmemcached-dev python3-pylibmc nutcracker \
              systemd mandoc python3-prometheus-client util-linux \
              sasl2-bin python3-cryptography
# sasl2-bin: saslpasswd2 writes the sasldb memcached's own -S reads in the
# differential SASL tests; python3-cryptography makes the TLS tests'
# certificates (an expired one too, which the openssl tool cannot).
# libFuzzer comes with Debian's clang (its runtime, libclang-rt-*-dev, is a
# dependency); llvm gives llvm-profdata and llvm-cov for the coverage report.
FUZZ_PKGS  := clang llvm

# Install the Debian packages in $(1) that are not installed yet.
define ensure_packages
	@missing=""; for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
	        || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps-build:
	$(call ensure_packages,$(BUILD_PKGS))

deps: deps-build
	$(call ensure_packages,$(TEST_PKGS))

run: mcd
	./mcd -u $${MCD_USER:-nobody} -l 127.0.0.1 -p 11211 -v

# Where make install puts things.  The units run $(PREFIX)/bin/mcd and read
# $(SYSCONFDIR)/default/mcd; systemd reads units from $(PREFIX)/lib/systemd/system
# for PREFIX /usr and /usr/local alike.
SYSCONFDIR  ?= /etc
BINDIR      := $(PREFIX)/bin
MANDIR      := $(PREFIX)/share/man/man1
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
UNITS       := mcd.service mcd@.service

install: mcd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 0755 mcd $(DESTDIR)$(BINDIR)/mcd
	install -m 0644 man/mcd.1 $(DESTDIR)$(MANDIR)/mcd.1
	for u in $(UNITS); do \
	    sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' systemd/$$u.in \
	        > $(DESTDIR)$(UNITDIR)/$$u.tmp && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -m 0644 systemd/mcd.sysusers $(DESTDIR)$(SYSUSERSDIR)/mcd.conf
	@# An operator's options survive a reinstall.
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/mcd ] || \
	    install -m 0644 systemd/mcd.default $(DESTDIR)$(SYSCONFDIR)/default/mcd
	@if [ -z "$(DESTDIR)" ]; then $(MAKE) --no-print-directory install-user; \
	    command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true; \
	 else echo "DESTDIR set: not creating the mcd user (make install-user does)"; fi

# The system user the units run as, from the sysusers file (or useradd where
# systemd-sysusers is missing).  Needs root.
SYSUSERS_FILE ?= $(SYSUSERSDIR)/mcd.conf
install-user:
	@if getent passwd mcd >/dev/null; then echo "user mcd exists"; \
	elif command -v systemd-sysusers >/dev/null; then \
	    systemd-sysusers $(SYSUSERS_FILE) && echo "created user mcd"; \
	else useradd --system --user-group --home-dir / --shell /usr/sbin/nologin \
	    --comment "mcd cache server" mcd && echo "created user mcd"; fi

# The user, $(SYSCONFDIR)/default/mcd and /var/lib/mcd (a -e file) stay: they
# are the operator's.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mcd $(DESTDIR)$(MANDIR)/mcd.1 $(DESTDIR)$(SYSUSERSDIR)/mcd.conf
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	@[ -n "$(DESTDIR)" ] || ! command -v systemctl >/dev/null || systemctl daemon-reload 2>/dev/null || true

clean:
	rm -rf build mcd bench/mcd-bench bench/storage-bench bench/hash-bench bench/instr-count \
	    bench/mcd-nostore

# --- benchmarks ------------------------------------------------------------

# mcd-bench, the load generator, is a network client: it sees only bench/.
MCDB_SRC := bench/hist.c bench/md5.c $(sort $(wildcard bench/mcdb_*.c))
MCDB_OBJ := $(MCDB_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/bench/%.o: bench/%.c $(wildcard bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Ibench -c $< -o $@

$(BUILD)/bench/mcd-bench: $(MCDB_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ -lssl -lcrypto -lpthread -lm

bench/mcd-bench: $(BUILD)/bench/mcd-bench
	cp $< $@

# storage-bench drives the storage layer directly, as the unit tests do: it
# sees only storage/ and links only its objects.
$(BUILD)/bench/storage_bench.o: bench/storage_bench.c $(wildcard storage/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Istorage -c $< -o $@

$(BUILD)/bench/storage-bench: $(BUILD)/bench/storage_bench.o $(STORAGE_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

bench/storage-bench: $(BUILD)/bench/storage-bench
	cp $< $@

# hash-bench times the table's hash alone: it sees only storage/hash.h.
$(BUILD)/bench/hash-bench: bench/hash_bench.c $(wildcard storage/*hash.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Istorage -o $@ $<

bench/hash-bench: $(BUILD)/bench/hash-bench
	cp $< $@


# instr-count runs the server's request path (a connection, the protocols,
# the cache) in one deterministic process, for callgrind: it links what the
# unit tests link.
$(BUILD)/bench/instr_count.o: bench/instr_count.c $(wildcard server/*.h protocol/*.h storage/*.h) \
    $(wildcard /usr/include/valgrind/callgrind.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Iserver -Iprotocol -Istorage -c $< -o $@

$(BUILD)/bench/instr-count: $(BUILD)/bench/instr_count.o $(TEST_LIBS)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

bench/instr-count: $(BUILD)/bench/instr-count
	cp $< $@

# mcd-nostore, the no-storage responder: mcd's server and protocol layers
# over bench/nostore.c, a stub of the storage API that stores nothing.  The
# stub is a storage implementation: it sees only storage/.
$(BUILD)/bench/nostore.o: bench/nostore.c $(wildcard storage/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Istorage -c $< -o $@

$(BUILD)/bench/mcd-nostore: $(BUILD)/bench/nostore.o $(BUILD)/storage/persist_format.o $(PROTOCOL_OBJ) $(SERVER_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

bench/mcd-nostore: $(BUILD)/bench/mcd-nostore
	cp $< $@

# make bench: everything built, memcached, gnuplot, nutcracker, openssl and
# valgrind installed if missing, then bench/run-bench (mcd and memcached in
# alternation).
BENCH_PKGS := memcached gnuplot-nox nutcracker openssl valgrind

# The packages come first: instr-count counts only if built with valgrind's
# header at hand.
bench: deps-build
	$(call ensure_packages,$(BENCH_PKGS))
	$(MAKE) mcd bench/mcd-bench bench/storage-bench bench/hash-bench bench/mcd-nostore \
	    bench/instr-count
	bench/run-bench
