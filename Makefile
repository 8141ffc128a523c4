# handoff — build, test, demo, bench. Everything lands in build/.
#   make            library, examples, load client, test runner
#   make test       the suite, plain and under address+undefined sanitizers
#   make test-repeat    the suite RUNS times (20), stopping at the first failure
#   make test-stress    the same RUNS times (5) while stress-ng loads every core
#   make chaos      faults at random under load, STEPS per mode (SEED= replays)
#   make demo       20 upgrades of httpd under load, with a report
#   make bench      figures (see docs/benchmarks.md)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CPPFLAGS += -Iinclude
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(wildcard src/*.c)
LIB_HEADERS  := $(wildcard include/*.h src/*.h)
TEST_HEADERS := $(wildcard tests/*.h)
TOOL_SRC := $(wildcard tool/*.c)
TEST_SRC := $(wildcard tests/*.c) $(filter-out bench/loadgen.c,$(wildcard bench/*.c))

# $(call variant,DIR,EXTRA_CFLAGS): the same tree built into DIR.
define variant
$(1)/obj/%.o: %.c $$(LIB_HEADERS) | $(1)/obj/src $(1)/obj/tests $(1)/obj/examples $(1)/obj/bench $(1)/obj/tool
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -fPIC -c $$< -o $$@

$(1)/obj/tests/%.o: tests/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) | $(1)/obj/tests
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -Itests -c $$< -o $$@

$(1)/obj/bench/%.o: bench/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) $$(wildcard bench/*.h) | $(1)/obj/bench
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -Itests -c $$< -o $$@

$(1)/obj/tool/%.o: tool/%.c $$(LIB_HEADERS) tool/tool.h | $(1)/obj/tool
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -c $$< -o $$@

$(1)/handoff: $$(TOOL_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/libhandoff.a: $$(LIB_SRC:%.c=$(1)/obj/%.o)
	rm -f $$@ && ar rcs $$@ $$^

$(1)/examples/%: $(1)/obj/examples/%.o $(1)/libhandoff.a | $(1)/examples
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/loadgen: $(1)/obj/bench/loadgen.o
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/tests/run-tests: $$(TEST_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a | $(1)/tests
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/obj/src $(1)/obj/tests $(1)/obj/examples $(1)/obj/bench $(1)/obj/tool $(1)/examples $(1)/tests:
	mkdir -p $$@

$(1)/all: $(1)/libhandoff.a $(1)/handoff $(1)/examples/httpd $(1)/examples/echo $(1)/loadgen $(1)/tests/run-tests
endef

$(eval $(call variant,build,))
$(eval $(call variant,build/asan,$(SAN)))

all: build/all build/libhandoff.so

build/libhandoff.so: $(LIB_SRC:%.c=build/obj/%.o)
	$(CC) -shared $(CFLAGS) $^ -o $@

test: build/all build/asan/all
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
	@build/tests/run-tests --demo

bench: build/all
	@build/tests/run-tests --bench

clean:
	rm -rf build

.PHONY: all test test-repeat test-stress chaos demo bench clean build/all build/asan/all
.SECONDARY:
.DEFAULT_GOAL := all
