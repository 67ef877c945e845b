# spikesynth: one library (common/LAYER/*.c + include/LAYER/*.h, layers in
# docs/hacking.md), one program per stage (stages/), one cmocka binary per test
# file (tests/test_*.c). Files are discovered, so a new class, layer or stage
# needs no Makefile edit; header dependencies come from the compiler (-MMD).
#
#   make            build bin/* and build/libspikesynth.a
#   make install    programs, libraries (static and shared), headers, pkg-config
#                   file, pipelines, docs and man pages under $(DESTDIR)$(PREFIX)
#   make uninstall  removes what make install put there
#   make test       unit + oracle + pipeline tests, then again under ASan/UBSan
#   make bench      training throughput table, out/bench/bench.json
#   make compare    against the PyTorch BPTT peer, out/compare/compare.json (not in test)
#   make fuzz       each parser of untrusted bytes under libFuzzer (clang), FUZZ_RUNS
#                   executions each (not in test; its corpus is replayed there)
#   make data       fetch and verify MNIST, Fashion-MNIST, FSDD into $(DATA)
#   make run        the main job end to end
#   make reproduce  every experiment of the paper, docs/reproduction.md (hours;
#                   QUICK=1: small subsets, minutes)

CC      ?= cc
BUILD   ?= build
DATA    ?= data
# the library's own dependencies (spikesynth.pc names them), then the tests'
LIB_PKGS := libzmq msgpack sndfile libpng openblas samplerate zlib hdf5 libmicrohttpd
PKGS    := $(LIB_PKGS) cmocka
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

# The version is written once, in VERSION; the commit is added when building
# from a git checkout (-dirty with uncommitted changes).
VERSION   := $(shell cat VERSION)
SOVERSION := $(firstword $(subst ., ,$(VERSION)))
ifeq ($(origin GIT_COMMIT),undefined)
GIT_COMMIT := $(shell test -e .git && git rev-parse --short=12 HEAD 2>/dev/null)$(shell \
                test -e .git && { git update-index -q --refresh >/dev/null 2>&1; \
                git diff-index --quiet HEAD -- 2>/dev/null || echo -dirty; })
endif
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
PKGDATADIR := $(DATADIR)/spikesynth
INSTALL    ?= install

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
.PHONY: all deps deps-check run test-plain-san test test-plain test-sanitize test-install test-live-view bench compare \
        data run reproduce test-reproduce clean shared man install uninstall fuzz fuzz-bins FORCE
all: deps-check $(LIB) $(BINS)

# Missing packages are installed once, on demand (idempotent).
deps-check:
	@pkg-config --exists $(PKGS) && command -v help2man chromium gnuplot >/dev/null || scripts/install-deps
deps:
	scripts/install-deps

$(BUILD)/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c $< -o $@
$(LIB): $(LIB_OBJ)
	ar rcs $@ $^

# linked under a temporary name, then renamed: a stage that is running keeps
# its old file instead of crashing on a half-written one
bin/%: stages/%.c $(LIB) | bin $(BUILD)/stages
	$(CC) $(CFLAGS) -MF $(BUILD)/stages/$*.d -MT $@ $< $(LIB) $(LDFLAGS) $(LDLIBS) -o $@.tmp && mv -f $@.tmp $@
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUPPORT_OBJ) $(LIB)
	$(CC) $^ $(LDFLAGS) $(LDLIBS) -o $@
$(BUILD)/tests $(BUILD)/stages $(BUILD)/man bin:
	mkdir -p $@

# The version, commit and install directories go into build_info.o alone. The
# stamp changes only when they do, so only then is build_info.c recompiled.
BUILD_INFO := $(VERSION) $(GIT_COMMIT) $(BINDIR) $(PKGDATADIR)/pipelines
BUILD_INFO_FLAGS := -DSPIKESYNTH_VERSION='"$(VERSION)"' -DSPIKESYNTH_COMMIT='"$(GIT_COMMIT)"' \
                    -DSPIKESYNTH_BINDIR='"$(BINDIR)"' -DSPIKESYNTH_PIPELINEDIR='"$(PKGDATADIR)/pipelines"'
$(BUILD)/build-info.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(BUILD_INFO)' | cmp -s - $@ || echo '$(BUILD_INFO)' > $@
$(BUILD)/common/core/build_info.o $(BUILD)/pic/common/core/build_info.o: $(BUILD)/build-info.stamp
$(BUILD)/common/core/build_info.o $(BUILD)/pic/common/core/build_info.o: CFLAGS += $(BUILD_INFO_FLAGS)

# The shared library: the same sources compiled again as position-independent
# code (the static library and the programs keep their objects as they were).
PIC_OBJ    := $(LIB_SRC:common/%.c=$(BUILD)/pic/common/%.o)
SONAME     := libspikesynth.so.$(SOVERSION)
SHLIB      := $(BUILD)/libspikesynth.so.$(VERSION)
SHLIB_LIBS := $(shell pkg-config --libs $(LIB_PKGS) 2>/dev/null) -lm
$(BUILD)/pic/common/%.o: common/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@
$(SHLIB): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,--as-needed $^ $(LDFLAGS) \
	      $(SHLIB_LIBS) -o $@
shared: $(SHLIB)

# spikesynth.pc: libdir and includedir relative to ${prefix} where they are
# below it, so pkg-config --define-prefix can move the tree; Libs.private (for
# the static library) are the libraries' link flags on this machine. Written
# on every make (it is cheap), replaced only when PREFIX, LIBDIR, ... change it.
PC := $(BUILD)/spikesynth.pc
$(PC): spikesynth.pc.in FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	     -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	     -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(SHLIB_LIBS) -lgomp|' $< > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@

# Man pages from each program's --help (help2man), its summary (the first line
# after the usage) as the NAME, the sections of docs/man/PROGRAM.h2m
# (docs/man/stage.h2m for the stages), and the hand-written spikesynth.pipe(5).
# The footer gives the version alone: a page does not change with each commit.
MAN1 := $(BINS:bin/%=$(BUILD)/man/%.1)
MAN5 := docs/man/spikesynth.pipe.5
$(BUILD)/man/%.1: bin/% $(wildcard docs/man/*.h2m) | $(BUILD)/man
	help2man --no-info --name="$$(bin/$* --help | sed -n '/^Usage:/d; /^ /d; s/\.$$//; p; q')" \
	         --version-string=$(VERSION) --source="spikesynth $(VERSION)" \
	         --include=$(or $(wildcard docs/man/$*.h2m),docs/man/stage.h2m) --output=$@.tmp bin/$* \
	    && mv -f $@.tmp $@
man: $(MAN1)

-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(BUILD)/tests/*.d $(BUILD)/tests/fuzz/*.d $(BUILD)/fuzz/*.d $(BUILD)/stages/*.d

# ---- install ------------------------------------------------------------------
# Headers keep their layer folders (include/spikesynth/LAYER/x.h) and
# spikesynth.pc adds -I.../include/spikesynth, so "layer/x.h" includes work
# unchanged; link_transport.h is private to the library.
HEADERS  := $(filter-out include/transport/link_transport.h,$(foreach l,$(LAYERS),$(wildcard include/$(l)/*.h)))
PIPES    := $(wildcard pipelines/*.pipe)
# README.md beside docs/, as in the source tree, so that its links hold
DOCS     := $(wildcard docs/*.md)
DOC_IMGS := $(wildcard docs/img/*.png)
INST_BIN := $(DESTDIR)$(BINDIR)
INST_LIB := $(DESTDIR)$(LIBDIR)
INST_INC := $(DESTDIR)$(INCLUDEDIR)/spikesynth
INST_DAT := $(DESTDIR)$(PKGDATADIR)

install: all $(SHLIB) $(PC) $(MAN1)
	$(INSTALL) -d $(INST_BIN) $(INST_LIB)/pkgconfig $(INST_DAT)/pipelines $(INST_DAT)/docs/img \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(addprefix $(INST_INC)/,$(LAYERS))
	$(INSTALL) -m 755 $(BINS) $(INST_BIN)
	$(INSTALL) -m 644 $(LIB) $(INST_LIB)
	$(INSTALL) -m 755 $(SHLIB) $(INST_LIB)
	ln -sf $(notdir $(SHLIB)) $(INST_LIB)/$(SONAME)
	ln -sf $(SONAME) $(INST_LIB)/libspikesynth.so
	$(INSTALL) -m 644 $(PC) $(INST_LIB)/pkgconfig
	$(foreach l,$(LAYERS),$(INSTALL) -m 644 $(filter include/$(l)/%,$(HEADERS)) $(INST_INC)/$(l) &&) true
	$(INSTALL) -m 644 $(PIPES) $(INST_DAT)/pipelines
	$(INSTALL) -m 644 README.md LICENSE $(INST_DAT)
	$(INSTALL) -m 644 $(DOCS) $(INST_DAT)/docs
	$(INSTALL) -m 644 $(DOC_IMGS) $(INST_DAT)/docs/img
	$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	@[ -n "$(DESTDIR)" ] || [ "$$(id -u)" -ne 0 ] || ldconfig

# Only the files make install puts there; the folders that only spikesynth uses.
uninstall:
	rm -f $(BINS:bin/%=$(INST_BIN)/%) $(INST_LIB)/$(notdir $(LIB)) $(INST_LIB)/$(notdir $(SHLIB)) \
	      $(INST_LIB)/$(SONAME) $(INST_LIB)/libspikesynth.so $(INST_LIB)/pkgconfig/spikesynth.pc \
	      $(MAN1:$(BUILD)/man/%=$(DESTDIR)$(MANDIR)/man1/%) $(DESTDIR)$(MANDIR)/man5/$(notdir $(MAN5))
	rm -rf $(INST_INC) $(INST_DAT)
	@[ -n "$(DESTDIR)" ] || [ "$$(id -u)" -ne 0 ] || ldconfig

test: deps-check
	scripts/check-layers
	$(MAKE) test-plain
	$(MAKE) test-reproduce
	$(MAKE) test-install
	$(MAKE) test-live-view
	$(MAKE) test-sanitize

# the live page in headless Chromium, fed at about the pace of speech
test-live-view: all
	@scripts/test-live-view bin

# every experiment of scripts/reproduce on tiny subsets (seconds), retrained
# each time, so that the reproduction cannot rot; skipped without make data
test-reproduce: all
	scripts/reproduce --tiny --force --data $(DATA) --out out/reproduce-tiny --models out/reproduce-tiny/models

# make install into a temporary DESTDIR, then the installed tree as a user
# sees it: pkg-config, the README's programs, a pipeline run by name
test-install: all $(SHLIB) $(PC) $(MAN1)
	@MAKE="$(MAKE)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" LIBDIR="$(LIBDIR)" INCLUDEDIR="$(INCLUDEDIR)" \
	 DATADIR="$(DATADIR)" MANDIR="$(MANDIR)" VERSION="$(VERSION)" scripts/test-install

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

# the full run writes docs/reproduction.md; QUICK=1 the same on small subsets
reproduce: all
	scripts/reproduce $(if $(filter 1,$(QUICK)),--quick) --data $(DATA)

# ---- fuzzing ---------------------------------------------------------------------
# tests/fuzz/fuzz_NAME.c: one target per parser of untrusted bytes (tests/fuzz/fuzz.h).
# make fuzz builds each with clang's libFuzzer, ASan and UBSan (build-fuzz/) and
# runs them one after the other, FUZZ_RUNS executions each, from the committed
# corpus tests/fuzz/corpus/NAME/ (new inputs go to out/fuzz/NAME/, crashes to
# out/fuzz/crashes/); FUZZ_ARGS adds libFuzzer options. make test replays the
# corpus through the same functions (tests/test_fuzz_corpus.c), built with $(CC).
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJ     := $(FUZZ_TARGETS:%=$(BUILD)/tests/fuzz/fuzz_%.o)
FUZZ_RUNS    ?= 1000000
$(BUILD)/tests/test_fuzz_corpus: $(BUILD)/tests/test_fuzz_corpus.o $(FUZZ_OBJ) $(SUPPORT_OBJ) $(LIB)
	$(CC) $^ $(LDFLAGS) $(LDLIBS) -o $@

fuzz:
	@scripts/install-deps fuzz
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -march=native -fsanitize=fuzzer-no-link,address,undefined \
	        -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-unknown-warning-option" \
	        LDFLAGS="-fopenmp -fsanitize=fuzzer,address,undefined" fuzz-bins
	scripts/fuzz --runs $(FUZZ_RUNS) --bin build-fuzz/fuzz --out out/fuzz $(FUZZ_TARGETS) -- $(FUZZ_ARGS)

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
$(BUILD)/fuzz/%.main.o: tests/fuzz/libfuzzer.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DFUZZ_TARGET=fuzz_$* -c $< -o $@
$(BUILD)/fuzz/%: $(BUILD)/fuzz/%.main.o $(BUILD)/tests/fuzz/fuzz_%.o $(LIB)
	$(CC) $^ $(LDFLAGS) $(LDLIBS) -o $@

clean:
	rm -rf build build-san build-fuzz bin
