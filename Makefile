# mcd — a memcached-compatible cache server.
#
#   make            build ./mcd
#   make run        build, install missing packages, run on 127.0.0.1:11211
#   make test       build, install missing packages, run every test
#   make install    install to $(DESTDIR)$(PREFIX)
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
LDLIBS    = $(if $(SAN),-ljemalloc,-Wl,-Bstatic -ljemalloc -Wl,-Bdynamic) -lpthread -lm -ldl
PY       := /usr/bin/python3

STORAGE_SRC  := $(sort $(wildcard storage/*.c))
PROTOCOL_SRC := $(sort $(wildcard protocol/*.c))
SERVER_SRC   := $(sort $(wildcard server/*.c))

STORAGE_OBJ  := $(STORAGE_SRC:%.c=$(BUILD)/%.o)
PROTOCOL_OBJ := $(PROTOCOL_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ   := $(SERVER_SRC:%.c=$(BUILD)/%.o)

UNIT_TESTS   := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(wildcard test/unit/test_*.c))

.PHONY: all run test unit integration sanitize deps deps-build install clean bench

all: mcd bench/mcd-bench bench/storage-bench bench/instr-count bench/mcd-nostore

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

# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the integration suite against an ASan/UBSan server and (see TSAN_SKIP) a TSan one.
# ThreadSanitizer gets the modules where threads and connections meet; the
# differential modules (one connection per case, protocol logic only) run
# under ASan/UBSan and unsanitized, which keeps `make test` short.
TSAN_SKIP    := test_diff test_meta_diff test_binary test_admin_diff
TSAN_MODULES := $(filter-out $(TSAN_SKIP),$(basename $(notdir $(wildcard test/integration/test_*.py))))
ASAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DMCD_SANITIZE
TSAN := -fsanitize=thread -DMCD_SANITIZE
sanitize: bench/mcd-bench bench/mcd-nostore bench/instr-count
	$(MAKE) BUILD=build/asan SAN="$(ASAN)" OPT=-O1 build/asan/mcd unit
	$(MAKE) BUILD=build/tsan SAN="$(TSAN)" OPT=-O1 build/tsan/mcd
	MCD_BIN=$(CURDIR)/build/asan/mcd MCD_SANITIZER=asan test/integration/run
	MCD_BIN=$(CURDIR)/build/tsan/mcd MCD_SANITIZER=tsan test/integration/run $(TSAN_MODULES)

test: deps mcd
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) sanitize

# --- set-up ----------------------------------------------------------------

# Packages the build and the tests need, installed when missing (perl runs
# memcached-tool, from the memcached package, and its version module).
BUILD_PKGS := gcc make libjemalloc-dev
TEST_PKGS  := libcmocka-dev memcached python3 python3-memcache python3-pymemcache \
              libmemcached-tools perl

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

install: mcd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 mcd $(DESTDIR)$(PREFIX)/bin/mcd
	install -m 0644 man/mcd.1 $(DESTDIR)$(PREFIX)/share/man/man1/mcd.1

clean:
	rm -rf build mcd bench/mcd-bench bench/storage-bench bench/instr-count bench/mcd-nostore

# --- benchmarks ------------------------------------------------------------

# mcd-bench, the load generator, is a network client: it sees only bench/.
MCDB_SRC := bench/hist.c $(sort $(wildcard bench/mcdb_*.c))
MCDB_OBJ := $(MCDB_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/bench/%.o: bench/%.c $(wildcard bench/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(SAN) -Ibench -c $< -o $@

$(BUILD)/bench/mcd-bench: $(MCDB_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ -lpthread -lm

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

# instr-count runs the server's request path (a connection, the protocols,
# the cache) in one deterministic process, for callgrind: it links what the
# unit tests link.
$(BUILD)/bench/instr_count.o: bench/instr_count.c $(wildcard server/*.h protocol/*.h storage/*.h)
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

$(BUILD)/bench/mcd-nostore: $(BUILD)/bench/nostore.o $(PROTOCOL_OBJ) $(SERVER_OBJ)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LDLIBS)

bench/mcd-nostore: $(BUILD)/bench/mcd-nostore
	cp $< $@

# make bench: everything built, memcached and gnuplot installed if missing,
# then bench/run-bench (mcd and memcached in alternation; about 15 minutes).
BENCH_PKGS := memcached gnuplot-nox valgrind

bench: deps-build mcd bench/mcd-bench bench/storage-bench bench/mcd-nostore bench/instr-count
	$(call ensure_packages,$(BENCH_PKGS))
	bench/run-bench
