# spikesynth: one library (common/LAYER/*.c + include/LAYER/*.h, layers in
# docs/hacking.md), one program per stage (stages/), one cmocka binary per test
# file (tests/test_*.c). Files are discovered, so a new class, layer or stage
# needs no Makefile edit; header dependencies come from the compiler (-MMD).
#
#   make            build bin/* and build/libspikesynth.a
#   make test       unit + oracle + pipeline tests, then again under ASan/UBSan
#   make bench      training throughput table, out/bench/bench.json
#   make compare    against the PyTorch BPTT peer, out/compare/compare.json (not in test)
#   make data       fetch and verify MNIST, Fashion-MNIST, FSDD into $(DATA)
#   make run        the main job end to end

CC      ?= cc
BUILD   ?= build
DATA    ?= data
PKGS    := libzmq msgpack sndfile libpng openblas cmocka samplerate zlib hdf5
OPT     ?= -O3 -march=native
CFLAGS  ?=
# -fno-math-errno lets sqrtf vectorise; it changes no result. -Wno-psabi: the vector
# kernels pass 64-byte vectors between static functions, never across an ABI.
# -Wno-missing-field-initializers: tables ({name, type, def, help} options) leave
# their optional trailing fields (.min, .max, .choices) to zero
CFLAGS  += -MMD -MP -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers $(OPT) -fno-math-errno -Wno-psabi -g -fopenmp -Iinclude \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
LDFLAGS += -fopenmp
ifeq ($(WERROR),1)
CFLAGS  += -Werror
endif

LAYERS    := core numerics audio data transport
LIB_SRC   := $(foreach l,$(LAYERS),$(wildcard common/$(l)/*.c))
LIB_OBJ   := $(LIB_SRC:common/%.c=$(BUILD)/common/%.o)
LIB       := $(BUILD)/libspikesynth.a
STAGE_SRC := $(wildcard stages/*.c)
BINS      := $(STAGE_SRC:stages/%.c=bin/%)
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# tests/support_*.c: helpers (the naive oracle, fixtures) linked into every test
SUPPORT_OBJ := $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/support_*.c))
BENCH     := $(BUILD)/tests/bench

.SECONDARY:
.PHONY: all deps deps-check run test-plain-san test test-plain test-sanitize bench compare data run clean
all: deps-check $(LIB) $(BINS)

# Missing packages are installed once, on demand (idempotent).
deps-check:
	@pkg-config --exists $(PKGS) || scripts/install-deps
deps:
	scripts/install-deps

$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests -c $< -o $@
$(LIB): $(LIB_OBJ)
	ar rcs $@ $^
# linked under a temporary name, then renamed: a stage that is running keeps
# its old file instead of crashing on a half-written one
bin/%: stages/%.c $(LIB) | bin $(BUILD)/stages
	$(CC) $(CFLAGS) -MF $(BUILD)/stages/$*.d -MT $@ $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@.tmp && mv -f $@.tmp $@
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUPPORT_OBJ) $(LIB)
	$(CC) $^ $(LDFLAGS) $(LDLIBS) -o $@
$(BUILD)/tests $(BUILD)/stages bin:
	mkdir -p $@

-include $(LIB_OBJ:.o=.d) $(BUILD)/tests/*.d $(BUILD)/stages/*.d

test: deps-check
	scripts/check-layers
	$(MAKE) test-plain
	$(MAKE) test-sanitize

test-plain: all $(TESTS)
	@scripts/run-tests $(TESTS)

# Same tests, separate build tree, ASan + UBSan; leaks from libgomp/OpenBLAS thread
# pools are not ours, so leak checking is left to the plain run under valgrind.
test-sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fopenmp -fsanitize=address,undefined" SPIKESYNTH_SANITIZE=1 test-plain-san

test-plain-san: $(LIB) $(TESTS)
	@ASAN_OPTIONS=detect_leaks=0 SPIKESYNTH_QUICK=1 scripts/run-tests $(TESTS)

bench: all $(BENCH)
	$(BENCH) --out out/bench/bench.json

$(BENCH): $(BUILD)/tests/bench.o $(BUILD)/tests/bench_audio.o $(SUPPORT_OBJ) $(LIB)
	$(CC) $^ $(LDFLAGS) $(LDLIBS) -o $@

# spikesynth against tests/peer/bptt_ae.py (installs python3-torch if missing);
# options: make compare COMPARE_ARGS="--repeats 1 --cases small"
compare: all
	DATA=$(DATA) scripts/compare-pytorch $(COMPARE_ARGS)

data:
	scripts/fetch-data --dir $(DATA)

run: all
	DATA=$(DATA) scripts/run-main

clean:
	rm -rf build build-san bin
