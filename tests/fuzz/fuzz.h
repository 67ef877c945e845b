/* fuzz: the entry points of the fuzz targets (tests/fuzz/fuzz_*.c), one per
 * parser of untrusted bytes: a frame off a link, a peer's HELLO, a pipeline
 * file, a model file. Each takes any bytes and returns 0; a fault is a crash,
 * a sanitizer report or a failed invariant (fuzz_require aborts).
 *
 * The same functions run two ways: under libFuzzer (tests/fuzz/libfuzzer.c,
 * `make fuzz`, clang), and over the committed corpus tests/fuzz/corpus/NAME/
 * in tests/test_fuzz_corpus.c, built with the normal compiler by `make test`. */
#ifndef SPIKESYNTH_TEST_FUZZ_H
#define SPIKESYNTH_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int fuzz_frame(const uint8_t *data, size_t size);
int fuzz_hello(const uint8_t *data, size_t size);
int fuzz_pipeline(const uint8_t *data, size_t size);
int fuzz_model(const uint8_t *data, size_t size);

/* An invariant of the code under test: abort (libFuzzer keeps the input, the
 * corpus test fails) when it does not hold. */
#define fuzz_require(cond)                                                                   \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#endif
