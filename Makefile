# handoff — build, test, demo, bench. Everything lands in build/.
#   make            library, examples, load client, test runner
#   make test       the suite, plain and under address+undefined sanitizers
#   make test-repeat    the suite RUNS times (20), stopping at the first failure
#   make test-stress    the same RUNS times (5) while stress-ng loads every core
#   make demo       20 upgrades of httpd under load, with a report
#   make bench      figures (see docs/benchmarks.md)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS (60) each (see fuzz/README.md)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CPPFLAGS += -Iinclude
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC  := $(wildcard src/*.c)
LIB_HEADERS  := $(wildcard include/*.h src/*.h)
TEST_HEADERS := $(wildcard tests/*.h)
TOOL_SRC := $(wildcard tool/*.c)
# What the test runner, the demo and the benchmark share.
KIT_SRC  := tests/harness.c tests/helpers.c tests/program.c
TEST_SRC := $(filter-out tests/demo.c,$(wildcard tests/*.c))
BENCH_SRC := $(filter-out bench/loadgen.c,$(wildcard bench/*.c)) $(KIT_SRC)

# $(call variant,DIR,EXTRA_CFLAGS): the same tree built into DIR.
define variant
$(1)/obj/%.o: %.c $$(LIB_HEADERS) | $(1)/obj/src $(1)/obj/tests $(1)/obj/examples $(1)/obj/bench $(1)/obj/tool
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -fPIC -c $$< -o $$@

$(1)/obj/tests/%.o: tests/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) | $(1)/obj/tests
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -Itests -c $$< -o $$@

$(1)/obj/bench/%.o: bench/%.c $$(LIB_HEADERS) $$(TEST_HEADERS) $$(wildcard bench/*.h) | $(1)/obj/bench
	$$(CC) $$(WARN) $$(CFLAGS) $(2) $$(CPPFLAGS) -Isrc -Itests -c $$< -o $$@

$(1)/obj/tool/%.o: tool/%.c $$(LIB_HEADERS) $$(wildcard tool/*.h) | $(1)/obj/tool
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

$(1)/tests/demo: $$(KIT_SRC:%.c=$(1)/obj/%.o) $(1)/obj/tests/demo.o $(1)/libhandoff.a | $(1)/tests
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/bench/run-bench: $$(BENCH_SRC:%.c=$(1)/obj/%.o) $(1)/libhandoff.a | $(1)/bench
	$$(CC) $$(CFLAGS) $(2) $$^ -o $$@

$(1)/obj/src $(1)/obj/tests $(1)/obj/examples $(1)/obj/bench $(1)/obj/tool $(1)/examples $(1)/tests $(1)/bench:
	mkdir -p $$@

$(1)/all: $(1)/libhandoff.a $(1)/handoff $(1)/examples/httpd $(1)/examples/echo $(1)/loadgen $(1)/tests/run-tests $(1)/tests/demo $(1)/bench/run-bench
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

demo: build/all
	@build/tests/demo

bench: build/all
	@build/bench/run-bench

include fuzz/fuzz.mk

clean:
	rm -rf build

.PHONY: all test test-repeat test-stress demo bench clean build/all build/asan/all
.SECONDARY:
.DEFAULT_GOAL := all
