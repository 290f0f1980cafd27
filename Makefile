# kinema - one Makefile for the library, the binary, tests and benchmarks.
#
#   make            build build/libkinema.a and build/kinema
#   make run        install deps, build, fetch models, run the main job
#   make test       build and run every unit and end-to-end test
#   make check      unit tests under clang AddressSanitizer + UBSan
#   make valgrind   unit tests under valgrind memcheck
#   make bench      run the benchmarks under bench/
#   make fuzz       libFuzzer harnesses (tests/fuzz), FUZZ_SECONDS each
#
# Sources are discovered: every src/<layer>/*.c except src/cli goes into the
# library, src/cli/*.c makes the binary, tests/unit/test_*.c and
# bench/*/*.c each make one program. Adding a file needs no Makefile edit.

CC      ?= cc
ARCH    ?= -march=native
OPT     ?= -O2
BUILD   ?= build
PKGS    := libavformat libavcodec libswscale libavutil libturbojpeg libpng \
           jansson zlib lapacke openblas sqlite3
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS_ALL := -Iinclude -Isrc -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS_ALL   := -std=c11 $(WARN) $(OPT) $(ARCH) -g -pthread -MMD -MP $(CFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -lcivetweb -lm -pthread
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# Quiet build lines ("CC src/x.c"); `make V=1` shows the full commands.
V ?= 0
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @echo "  $(1)	$(2)"
endif

LIB_SRC   := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN  := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)

.PHONY: all run test check valgrind bench deps models testdata clean unit-tests benches fuzz fuzz-bins
.DELETE_ON_ERROR:

all: $(BUILD)/libkinema.a $(BUILD)/kinema

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libkinema.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/kinema: $(CLI_OBJ) $(BUILD)/libkinema.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/libkinema.a $(LIBS) $(LDFLAGS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libkinema.a
	@mkdir -p $(dir $@)
	$(call say,TEST,$@)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libkinema.a $(LIBS) $(TESTLIBS) $(LDFLAGS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libkinema.a
	@mkdir -p $(dir $@)
	$(call say,BENCH,$@)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libkinema.a $(LIBS) $(LDFLAGS)

unit-tests: $(TEST_BIN)
benches: $(BENCH_BIN)

# ---- set-up steps (each idempotent) ----
deps:
	./scripts/install-deps.sh
models:
	./scripts/fetch-models.sh
testdata:
	./scripts/fetch-testdata.sh

# ---- the two commands of the README ----
run: deps
	$(MAKE) all
	./scripts/fetch-models.sh
	./scripts/run-main.sh

test: deps testdata
	$(MAKE) all unit-tests
	./scripts/run-tests.sh $(BUILD)

# ---- sanitizers: the unit tests built with clang ASan + UBSan ----
check: deps testdata
	$(MAKE) BUILD=build/asan CC=clang OPT=-O1 \
	    CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	    LDFLAGS="-fsanitize=address,undefined" all unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	    ./scripts/run-tests.sh build/asan --unit-only

# ---- valgrind: the unit tests under memcheck. Valgrind 3.19 cannot run
# AVX-512 code, so this build targets x86-64-v3 (AVX2). ----
valgrind: deps testdata
	$(MAKE) BUILD=build/valgrind ARCH=-march=x86-64-v3 OPT=-O1 all unit-tests
	KM_TEST_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	    ./scripts/run-tests.sh build/valgrind --unit-only

bench: deps testdata
	$(MAKE) all benches
	./scripts/run-bench.sh $(BUILD)

# ---- fuzzing: the library built with clang -fsanitize=fuzzer-no-link,
# ASan and UBSan into build/fuzz/, each tests/fuzz/fuzz_*.c linked with
# libFuzzer and run FUZZ_SECONDS. Corpora (seeded by the harnesses) stay in
# build/fuzz/corpus/<name>, crash inputs go to build/fuzz/artifacts/, logs
# to build/fuzz/<name>.log. Fails if any harness finds a crash, hang,
# leak or oversized allocation. FUZZ_SECONDS=0 only replays the corpora. ----
FUZZ_SECONDS ?= 30
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:%.c=$(BUILD)/%)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(BUILD)/libkinema.a
	@mkdir -p $(dir $@)
	$(call say,FUZZ,$@)
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(BUILD)/libkinema.a $(LIBS) $(LDFLAGS)

fuzz-bins: $(FUZZ_BIN)

fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 \
	    CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    LDFLAGS="-fsanitize=fuzzer $(FUZZ_SAN)" build/fuzz/libkinema.a fuzz-bins
	@mkdir -p build/fuzz/artifacts; fail=0; \
	for src in $(FUZZ_SRC); do \
	    n=$$(basename $$src .c); c=build/fuzz/corpus/$$n; mkdir -p $$c; \
	    echo "  FUZZ	$$n ($(FUZZ_SECONDS) s)"; \
	    lim=-max_total_time=$(FUZZ_SECONDS); [ "$(FUZZ_SECONDS)" -gt 0 ] || lim=-runs=0; \
	    if ! KM_FUZZ_SEED_DIR=$$c ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 \
	        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	        build/fuzz/tests/fuzz/$$n $$lim -max_len=65536 \
	        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=build/fuzz/artifacts/$$n- $$c > build/fuzz/$$n.log 2>&1; then \
	        echo "  FAIL	$$n (see build/fuzz/$$n.log)"; tail -n 40 build/fuzz/$$n.log; fail=1; \
	    fi; \
	done; exit $$fail

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
