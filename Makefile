# handoff — build, test, demo, bench. Everything lands in build/.
#   make            library, examples, load client, test runner
#   make test       the suite, plain and under address+undefined sanitizers
#   make test-repeat    the suite RUNS times (20), stopping at the first failure
#   make test-stress    the same RUNS times (5) while stress-ng loads every core
#   make chaos      faults at random under load, STEPS per mode (SEED= replays)
#   make demo       20 upgrades of httpd under load, with a report
#   make bench      figures (see docs/benchmarks.md)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS (60) each (see fuzz/README.md)
#   make install    bin/handoff, the libraries, the header, handoff.pc, the
#                   man pages and bash completion under PREFIX (/usr/local);
#                   DESTDIR, BINDIR, LIBDIR, INCLUDEDIR, MANDIR, PKGCONFIGDIR
#                   as usual. make uninstall: the same files removed.
#   make install-man, install-completion (and uninstall-*): those parts alone
#   make check-man  mandoc -T lint on the man pages (the suite does it too)
#   make deb-smoke  as root on Debian: the .debs built (debian/), linted,
#                   installed, httpd reloaded under load, purged
#                   (tests/deb-smoke.sh; skips elsewhere)
#
# CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS and AR are the user's: they reach
# every compile and link line, after the project's own flags so they win.
# Warnings are errors only with WERROR=1, so a packager's newer compiler
# and its new warnings do not break a release build; `make test` (and the
# repeat and stress runs) build with WERROR=1, as CI does.

CC      ?= cc
CFLAGS  ?= -O2 -g
WERROR  ?= 0
# Recursive (=): WERROR may be set per target below.
WARN     = -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   $(if $(filter 1,$(WERROR)),-Werror)
# Ours, not CPPFLAGS: a CPPFLAGS given on the command line replaces the
# makefile's, and our header must come before any installed copy of it.
INCLUDES := -Iinclude
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(wildcard src/*.c)
BASE_SRC := $(wildcard src/base/*.c)
LIB_HEADERS  := $(wildcard include/*.h src/*.h src/base/*.h)
TEST_HEADERS := $(wildcard tests/*.h)
# httpd is a directory of its own; every other example is one file.
HTTPD_SRC := $(wildcard examples/httpd/*.c)
HTTPD_HEADERS := $(wildcard examples/httpd/*.h)
HTTPD_UNITS := examples/httpd/sha1.c examples/httpd/ws.c
TOOL_SRC := $(wildcard tool/*.c)
# What the test runner, the demo and the benchmark share.
KIT_SRC  := tests/harness.c tests/process.c tests/net.c tests/servers.c tests/binder.c \
	tests/helpers.c tests/mover.c tests/program.c
TEST_SRC := $(filter-out tests/demo.c tests/static-server.c,$(wildcard tests/*.c))
BENCH_SRC := $(filter-out bench/loadgen.c,$(wildcard bench/*.c)) $(KIT_SRC)
# Private headers: the base library's for everything in-tree, the
# library's own for the library (and, for now, the supervisor and tests).
PRIVATE  := -Isrc -Isrc/base
# The library's objects: position-independent (they also go into the .so)
# and hidden unless marked HANDOFF_EXPORT; src/libhandoff.sym says the same.
LIB_CFLAGS := -fPIC -fvisibility=hidden
SONAME   := libhandoff.so.1
# The event-loop examples, built only where libuv's or libevent's headers
# are (Debian: libuv1-dev, libevent-dev), skipped silently elsewhere; the
# tests that run them skip too.
have_header = $(shell echo '#include <$(1)>' | $(CC) -E - >/dev/null 2>&1 && echo yes)
pkg_flags = $(shell pkg-config $(1) $(2) 2>/dev/null || echo $(3))
EVLOOP := $(if $(call have_header,uv.h),uv-server) $(if $(call have_header,event2/event.h),event-server)
UV_CFLAGS := $(if $(filter uv-server,$(EVLOOP)),$(call pkg_flags,--cflags,libuv,))
UV_LIBS := $(if $(filter uv-server,$(EVLOOP)),$(call pkg_flags,--libs,libuv,-luv))
EVENT_CFLAGS := $(if $(filter event-server,$(EVLOOP)),$(call pkg_flags,--cflags,libevent,))
EVENT_LIBS := $(if $(filter event-server,$(EVLOOP)),$(call pkg_flags,--libs,libevent,-levent))

# $(call variant,DIR,EXTRA_CFLAGS): the same tree built into DIR.
define variant
$(1)/obj/src/%.o: src/%.c $$(LIB_HEADERS) | $(1)/obj/src/base
	$$(CC) $$(WARN) $$(INCLUDES) $$(PRIVATE) $$(CPPFLAGS) $$(CFLAGS) $(2) $$(LIB_CFLAGS) -c $$< -o $$@

$(1)/obj/examples/%.o: examples/%.c include/handoff.h | $(1)/obj/examples
	$$(CC) $$(WARN) $$(INCLUDES) $$(CPPFLAGS) $$(CFLAGS) $(2) -c $$< -o $$@

$(1)/obj/examples/httpd/%.o: examples/httpd/%.c include/handoff.h $$(HTTPD_HEADERS) | $(1)/obj/examples/httpd
	$$(CC) $$(WARN) $$(INCLUDES) $$(CPPFLAGS) $$(CFLAGS) $(2) -c $$< -o $$@

$(1)/obj/tests/%.o: tests/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) $$(HTTPD_HEADERS) | $(1)/obj/tests
	$$(CC) $$(WARN) $$(INCLUDES) $$(PRIVATE) -Itests $$(CPPFLAGS) $$(CFLAGS) $(2) -c $$< -o $$@

$(1)/obj/bench/%.o: bench/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) $$(wildcard bench/*.h) | $(1)/obj/bench
	$$(CC) $$(WARN) $$(INCLUDES) $$(PRIVATE) -Itests $$(CPPFLAGS) $$(CFLAGS) $(2) -c $$< -o $$@

$(1)/obj/tool/%.o: tool/%.c $$(LIB_HEADERS) $$(wildcard tool/*.h) | $(1)/obj/tool
	$$(CC) $$(WARN) $$(INCLUDES) $$(PRIVATE) $$(CPPFLAGS) $$(CFLAGS) $(2) -c $$< -o $$@

# The supervisor links the library statically, and the base library for
# the helpers it shares with it.
$(1)/handoff: $$(TOOL_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a $(1)/libhandoff-base.a
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

# Private, never installed: what the library and the supervisor share.
$(1)/libhandoff-base.a: $$(BASE_SRC:%.c=$(1)/obj/%.o)
	rm -f $$@ && $$(AR) rcs $$@ $$^

# Self-contained: the library's objects and the base objects it uses.
$(1)/libhandoff.a: $$(LIB_SRC:%.c=$(1)/obj/%.o) $$(BASE_SRC:%.c=$(1)/obj/%.o)
	rm -f $$@ && $$(AR) rcs $$@ $$^

$(1)/$$(SONAME): $$(LIB_SRC:%.c=$(1)/obj/%.o) $$(BASE_SRC:%.c=$(1)/obj/%.o) src/libhandoff.sym
	$$(CC) -shared $$(CFLAGS) $(2) $$(LDFLAGS) -Wl,-soname,$$(SONAME) \
		-Wl,--version-script=src/libhandoff.sym $$(filter %.o,$$^) $$(LDLIBS) -o $$@

$(1)/libhandoff.so: $(1)/$$(SONAME)
	ln -sf $$(SONAME) $$@

$(1)/examples/%: $(1)/obj/examples/%.o $(1)/libhandoff.a | $(1)/examples
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

$(1)/obj/examples/uv-server.o: CPPFLAGS += $$(UV_CFLAGS)
$(1)/obj/examples/event-server.o: CPPFLAGS += $$(EVENT_CFLAGS)

$(1)/examples/uv-server: $(1)/obj/examples/uv-server.o $(1)/libhandoff.a | $(1)/examples
	$$(CC) $$(CFLAGS) $(2) $$^ $$(UV_LIBS) -o $$@

$(1)/examples/event-server: $(1)/obj/examples/event-server.o $(1)/libhandoff.a | $(1)/examples
	$$(CC) $$(CFLAGS) $(2) $$^ $$(EVENT_LIBS) -o $$@

$(1)/examples/httpd: $$(HTTPD_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a | $(1)/examples
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

$(1)/loadgen: $(1)/obj/bench/loadgen.o
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

# httpd's SHA-1 and WebSocket frames are unit-tested (tests/test-stream.c).
$(1)/tests/run-tests: $$(TEST_SRC:%.c=$(1)/obj/%.o) $$(HTTPD_UNITS:%.c=$(1)/obj/%.o) \
		$(1)/libhandoff.a | $(1)/tests
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

# A server for the suite that knows nothing of handoff, linked -static and
# never sanitized (the sanitizers need the dynamic loader): adoption must
# work without any library in the server's process (tests/test-servers.c).
$(1)/tests/static-server: tests/static-server.c | $(1)/tests
	$$(CC) $$(WARN) $$(CPPFLAGS) $$(CFLAGS) $$(LDFLAGS) -static $$< $$(LDLIBS) -o $$@

$(1)/tests/demo: $$(KIT_SRC:%.c=$(1)/obj/%.o) $(1)/obj/tests/demo.o $(1)/libhandoff.a | $(1)/tests
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

$(1)/bench/run-bench: $$(BENCH_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a | $(1)/bench
	$$(CC) $$(CFLAGS) $(2) $$(LDFLAGS) $$^ $$(LDLIBS) -o $$@

$(1)/obj/src/base $(1)/obj/tests $(1)/obj/examples $(1)/obj/examples/httpd $(1)/obj/bench $(1)/obj/tool $(1)/examples $(1)/tests $(1)/bench:
	mkdir -p $$@

$(1)/all: $(1)/libhandoff.a $(1)/libhandoff.so $(1)/libhandoff-base.a $(1)/handoff \
	$(1)/examples/httpd $(1)/examples/echo $(1)/examples/drain $$(EVLOOP:%=$(1)/examples/%) $(1)/loadgen $(1)/tests/run-tests \
	$(1)/tests/static-server $(1)/tests/demo $(1)/bench/run-bench
endef

$(eval $(call variant,build,))
$(eval $(call variant,build/asan,$(SAN)))

all: build/all

# What libhandoff.so exports: handoff_* only (the suite checks it too, in
# library_exports_only_public_symbols, without nm).
check-exports: build/libhandoff.so
	@bad=$$(nm -D --defined-only $< | awk '$$3 !~ /^handoff_/ && $$2 != "A" { print $$3 }'); \
	if [ -n "$$bad" ]; then echo "libhandoff.so exports more than handoff_*:" $$bad; exit 1; fi; \
	echo "libhandoff.so exports handoff_* only"

# No cycle between the files of src/, nor of tool/ (tests/file-deps.sh
# lists who calls whom).
check-deps: build/all
	@for d in src tool; do \
		out=$$(tests/file-deps.sh $$d 2>&1) || { echo "$$out"; exit 1; }; \
	done; echo "src/ and tool/ have no file cycle (tests/file-deps.sh lists the calls)"

# The suite's builds treat warnings as errors (target-specific, so it
# reaches every prerequisite built for it); `make test WERROR=0` does not.
test test-repeat test-stress chaos: WERROR = 1

# Tests run JOBS at once (one per core by default; JOBS=1 runs them one
# after the other): each in a slot with its own share of the ports.
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test test-repeat test-stress: export HANDOFF_TEST_JOBS = $(JOBS)

test: build/all build/asan/all check-exports check-deps
	@tests/run-suites.sh build/tests/run-tests build/asan/tests/run-tests

RUNS ?= 20
test-repeat: build/all build/asan/all
	@tests/repeat.sh $(RUNS) build/tests/run-tests build/asan/tests/run-tests

test-stress: build/all build/asan/all
	@tests/repeat.sh --stress $(if $(filter command line,$(origin RUNS)),$(RUNS),5) \
		build/tests/run-tests build/asan/tests/run-tests

# make chaos [SEED=N] [STEPS=500] [MODE=library|supervisor]: the chaos test's
# long run (tests/test-chaos.c); the seed it prints replays it.
STEPS ?= 500
chaos: build/all
	@HANDOFF_CHAOS_SEED=$(SEED) HANDOFF_CHAOS_STEPS=$(STEPS) HANDOFF_CHAOS_MODE=$(MODE) \
		build/tests/run-tests chaos_long

demo: build/all
	@build/tests/demo

bench: build/all
	@build/bench/run-bench

# ------------------------------------------------------------------ install
# make install [PREFIX=/usr/local] [DESTDIR=/stage] [BINDIR=...]: from the
# plain build (build/, never the sanitized one), built first if needed.
# Nothing is stripped (packagers do that). More parts add themselves as
# prerequisites with recipes of their own, `install: install-man` and
# `uninstall: uninstall-man`, next to their files.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL      ?= install
LDCONFIG     ?= ldconfig

# The release, "0.9.0", from the header's macros: the one place it is set.
VERSION := $(shell awk '$$2 ~ /^HANDOFF_VERSION_(MAJOR|MINOR|PATCH)$$/ \
	{ v = v s $$3; s = "." } END { print v }' include/handoff.h)
# A directory under PREFIX written ${prefix}/..., so that pkg-config's
# --define-prefix and a copy of the tree elsewhere still find the files.
pc_dir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
PC_SED = -e '/^\#/d' -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	 -e 's|@LIBDIR@|$(call pc_dir,$(LIBDIR))|' \
	 -e 's|@INCLUDEDIR@|$(call pc_dir,$(INCLUDEDIR))|'

install: install-bin install-lib install-dev install-man install-completion

install-bin: build/handoff
	$(INSTALL) -d '$(DESTDIR)$(BINDIR)'
	$(INSTALL) -m 755 build/handoff '$(DESTDIR)$(BINDIR)/handoff'

# The real file under its soname; ldconfig only for a live install by root
# (a DESTDIR stage is someone else's to register).
install-lib: build/$(SONAME)
	$(INSTALL) -d '$(DESTDIR)$(LIBDIR)'
	$(INSTALL) -m 755 build/$(SONAME) '$(DESTDIR)$(LIBDIR)/$(SONAME)'
	@if [ -z '$(DESTDIR)' ] && [ "$$(id -u)" = 0 ]; then \
		echo $(LDCONFIG); $(LDCONFIG) || true; fi

# For building against it: the header, the static library, the link-time
# name libhandoff.so and handoff.pc (written straight into place: no file
# in build/ that two installs with different PREFIXes would share).
install-dev: install-lib build/libhandoff.a include/handoff.h src/handoff.pc.in
	$(INSTALL) -d '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)'
	ln -sf $(SONAME) '$(DESTDIR)$(LIBDIR)/libhandoff.so'
	$(INSTALL) -m 644 build/libhandoff.a '$(DESTDIR)$(LIBDIR)/libhandoff.a'
	$(INSTALL) -m 644 include/handoff.h '$(DESTDIR)$(INCLUDEDIR)/handoff.h'
	sed $(PC_SED) src/handoff.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/handoff.pc'
	chmod 644 '$(DESTDIR)$(PKGCONFIGDIR)/handoff.pc'

# Exactly the files above; directories stay (they may hold others' files).
uninstall: uninstall-man uninstall-completion
	rm -f '$(DESTDIR)$(BINDIR)/handoff' \
		'$(DESTDIR)$(LIBDIR)/$(SONAME)' '$(DESTDIR)$(LIBDIR)/libhandoff.so' \
		'$(DESTDIR)$(LIBDIR)/libhandoff.a' '$(DESTDIR)$(INCLUDEDIR)/handoff.h' \
		'$(DESTDIR)$(PKGCONFIGDIR)/handoff.pc'

# Installing the documentation: the man pages and bash's completion. (`install`
# depends on these; PREFIX, DESTDIR and MANDIR are set below.)
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions
MAN1 := $(wildcard man/*.1)
MAN3 := $(wildcard man/*.3)
# The function names a page documents: its .Nm lines before .Nd. Each
# gets a link to the page, so that `man handoff_free` opens handoff_new(3).
man_names = sed -n '/^\.Sh NAME/,/^\.Nd/s/^\.Nm \([a-z_0-9]*\).*/\1/p'

install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	@set -e; for page in $(MAN3); do \
		base=$${page##*/}; \
		for name in $$($(man_names) $$page); do \
			[ "$$name.3" = "$$base" ] && continue; \
			echo "ln -sf $$base $(DESTDIR)$(MANDIR)/man3/$$name.3"; \
			ln -sf "$$base" "$(DESTDIR)$(MANDIR)/man3/$$name.3"; \
		done; \
	done

uninstall-man:
	@set -e; for page in $(MAN3); do \
		for name in $$($(man_names) $$page); do \
			echo "rm -f $(DESTDIR)$(MANDIR)/man3/$$name.3"; \
			rm -f "$(DESTDIR)$(MANDIR)/man3/$$name.3"; \
		done; \
	done
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1)))

install-completion:
	install -d $(DESTDIR)$(BASH_COMPLETION_DIR)
	install -m 644 contrib/bash-completion/handoff $(DESTDIR)$(BASH_COMPLETION_DIR)/handoff

uninstall-completion:
	rm -f $(DESTDIR)$(BASH_COMPLETION_DIR)/handoff

# The pages as mandoc sees them: any warning fails (tests/test-docs.c too).
check-man:
	mandoc -T lint -W warning $(MAN1) $(MAN3)

# The Debian packages, end to end, from a copy of the tree (the working
# tree and build/ stay as they are).
deb-smoke:
	@bash tests/deb-smoke.sh

include fuzz/fuzz.mk

clean:
	rm -rf build

.PHONY: all check-exports check-deps test test-repeat test-stress chaos demo bench clean build/all build/asan/all \
	install install-bin install-lib install-dev uninstall \
	check-man install-man uninstall-man install-completion uninstall-completion deb-smoke
.SECONDARY:
.DEFAULT_GOAL := all
