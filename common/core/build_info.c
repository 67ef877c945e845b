/* build_info: the version, commit and install directories (see
 * include/core/build_info.h). The Makefile defines the SPIKESYNTH_* macros for
 * this file alone, so a new commit or PREFIX recompiles nothing else. */
#include "core/build_info.h"

#if !defined(SPIKESYNTH_VERSION) || !defined(SPIKESYNTH_COMMIT) || \
    !defined(SPIKESYNTH_BINDIR) || !defined(SPIKESYNTH_PIPELINEDIR)
#error "build with make: it defines SPIKESYNTH_VERSION, _COMMIT, _BINDIR and _PIPELINEDIR"
#endif

const char *build_info_version(void) { return SPIKESYNTH_VERSION; }
const char *build_info_commit(void) { return SPIKESYNTH_COMMIT; }
const char *build_info_bindir(void) { return SPIKESYNTH_BINDIR; }
const char *build_info_pipelinedir(void) { return SPIKESYNTH_PIPELINEDIR; }

void build_info_print(FILE *out, const char *program)
{
    fprintf(out, "%s (spikesynth) %s", program, SPIKESYNTH_VERSION);
    if (*SPIKESYNTH_COMMIT)
        fprintf(out, " (git %s)", SPIKESYNTH_COMMIT);
    fputc('\n', out);
}
