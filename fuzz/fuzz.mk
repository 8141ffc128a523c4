# fuzz/fuzz.mk — libFuzzer targets, included by the Makefile.
#   make fuzz                    each target: replay fuzz/regressions/<t>/,
#                                then FUZZ_SECONDS (60) of fuzzing
#   make fuzz FUZZ_TARGETS=control FUZZ_SECONDS=600
#   make fuzz-build              only build build/fuzz/<target>
#   make fuzz-found              replay fuzz/found/ (known failures) on
#                                build/fuzz/strict/<target>: says which
#                                still fail and which are fixed
# Built with clang whatever CC is: libFuzzer comes with clang. The library
# and the supervisor's sources are compiled again with coverage and
# sanitizers into build/fuzz/obj/, never shared with the other builds.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ALL     := address cmdline notify control envfile environ http ws adopt wire selfstate
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all \
		-fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
		-Wstrict-prototypes -O1 -g $(FUZZ_SAN) \
		-Iinclude -Isrc -Isrc/base -Itool -Iexamples/httpd

FUZZ_LIB_OBJ  := $(LIB_SRC:%.c=build/fuzz/obj/%.o) $(BASE_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_TOOL_OBJ := $(filter-out build/fuzz/obj/tool/main.o,$(TOOL_SRC:%.c=build/fuzz/obj/%.o))

build/fuzz/obj/src/%.o: src/%.c $(LIB_HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/obj/tool/%.o: tool/%.c $(LIB_HEADERS) $(wildcard tool/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/obj/fuzz/%.o: fuzz/%.c fuzz/check.h $(LIB_HEADERS) $(wildcard tool/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# The same target with -DFUZZ_STRICT: also asserts the properties known to
# fail today (fuzz/README.md, "Known failures").
build/fuzz/obj/strict/%.o: fuzz/%.c fuzz/check.h $(LIB_HEADERS) $(wildcard tool/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_STRICT -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/libhandoff.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

build/fuzz/libtool.a: $(FUZZ_TOOL_OBJ)
	rm -f $@ && ar rcs $@ $^

# httpd's parser: its one file, with its own header and the limits of the
# protocols it routes to (constants only).
build/fuzz/obj/examples/httpd/http.o: examples/httpd/http.c examples/httpd/http.h \
	examples/httpd/stream.h examples/httpd/ws.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/http: build/fuzz/obj/examples/httpd/http.o
build/fuzz/strict/http: build/fuzz/obj/examples/httpd/http.o

# httpd's WebSocket frames, with the SHA-1 of the handshake.
FUZZ_WS_OBJ := build/fuzz/obj/examples/httpd/ws.o build/fuzz/obj/examples/httpd/sha1.o
$(FUZZ_WS_OBJ): build/fuzz/obj/examples/httpd/%.o: examples/httpd/%.c $(HTTPD_HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/ws: $(FUZZ_WS_OBJ)
build/fuzz/strict/ws: $(FUZZ_WS_OBJ)

# Archives: each target pulls in only the objects it calls into.
$(FUZZ_ALL:%=build/fuzz/%): build/fuzz/%: build/fuzz/obj/fuzz/%.o build/fuzz/libtool.a build/fuzz/libhandoff.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@

$(FUZZ_ALL:%=build/fuzz/strict/%): build/fuzz/strict/%: build/fuzz/obj/strict/%.o build/fuzz/libtool.a build/fuzz/libhandoff.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/%)

fuzz-found: $(FUZZ_TARGETS:%=build/fuzz/strict/%)
	@fuzz/run.sh --found $(FUZZ_TARGETS)

fuzz: fuzz-build
	@fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-build fuzz-found
