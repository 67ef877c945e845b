/* golden: see tests/golden.h. tests/golden.txt has lines "KEY NAME HASH" (hex). */
#include "golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "numerics/blas.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_FILE "tests/golden.txt"

uint64_t golden_hash(uint64_t h, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

uint64_t golden_hash_file(uint64_t h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = golden_hash(h, buf, n);
    fclose(f);
    return h;
}

/* BLAS kernel, vector width, build: what the bits depend on */
static const char *machine_key(void)
{
    static char key[64];
    __builtin_cpu_init();
    const char *build =
#if defined(__SANITIZE_ADDRESS__)
        "san";
#else
        "opt";
#endif
    snprintf(key, sizeof key, "%s-%s-%s", blas_corename(),
             __builtin_cpu_supports("avx512f") ? "avx512" : "avx2", build);
    return key;
}

void golden_assert(const char *name, uint64_t h)
{
    const char *key = machine_key();
    FILE *f = fopen(GOLDEN_FILE, "r");
    char line[256], k[64], n[64];
    uint64_t want = 0;
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %63s %" SCNx64, k, n, &want) == 3 && !strcmp(k, key) && !strcmp(n, name)) {
            found = 1;
            break;
        }
    if (f)
        fclose(f);
    if (!found && getenv("SPIKESYNTH_GOLDEN_RECORD")) {
        FILE *out = fopen(GOLDEN_FILE, "a");
        assert_non_null(out);
        fprintf(out, "%s %s %016" PRIx64 "\n", key, name, h);
        fclose(out);
        return;
    }
    if (!found) {
        /* a machine of a new kind has no baseline to hold to: said loudly and
         * skipped, so that its first run is not a failure nobody caused */
        print_message("golden: no hash for %s on %s in " GOLDEN_FILE ": record them with "
                      "SPIKESYNTH_GOLDEN_RECORD=1 make test, on the code before a change\n",
                      name, key);
        skip();
    }
    if (want != h)
        fail_msg("%s on %s: hash %016" PRIx64 ", golden %016" PRIx64 ": the change altered the bits",
                 name, key, h, want);
}
