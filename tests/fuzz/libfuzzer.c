/* libfuzzer: the libFuzzer entry point for one target, chosen at compile time
 * (-DFUZZ_TARGET=fuzz_frame); `make fuzz` builds one binary per target. */
#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "define FUZZ_TARGET, e.g. -DFUZZ_TARGET=fuzz_frame"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return FUZZ_TARGET(data, size); }
