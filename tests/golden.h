/* golden: hashes of results that a refactoring must not change (weights after
 * a few batches of training, the PNG bytes of an audio2image run).
 *
 * The bits depend on the CPU's BLAS kernel and vector width and on the build
 * (the sanitizer build is -O1), so tests/golden.txt keeps one hash per
 * (machine key, name). A missing entry skips the test with a message naming the
 * key; SPIKESYNTH_GOLDEN_RECORD=1 records it instead (run once on a new kind of
 * machine, before changing code). */
#ifndef SPIKESYNTH_TEST_GOLDEN_H
#define SPIKESYNTH_TEST_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over n bytes, continuing from h (start with GOLDEN_START). */
#define GOLDEN_START 1469598103934665603ull
uint64_t golden_hash(uint64_t h, const void *bytes, size_t n);
/* The same over a whole file; 0 when it cannot be read. */
uint64_t golden_hash_file(uint64_t h, const char *path);

/* Fails (cmocka) when tests/golden.txt holds another hash for name on this
 * machine; skips when it holds none. */
void golden_assert(const char *name, uint64_t h);

#endif
