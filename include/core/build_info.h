/* build_info: what this build of spikesynth knows about itself: its version
 * (the VERSION file, the one place it is written), the git commit it was built
 * from, and the directories `make PREFIX=...` configured it to be installed in.
 * Installed programs look beside themselves first; the configured directories
 * are where they look when nothing is there (a program copied elsewhere). */
#ifndef SPIKESYNTH_BUILD_INFO_H
#define SPIKESYNTH_BUILD_INFO_H

#include <stdio.h>

/* "0.1.0" */
const char *build_info_version(void);
/* The commit ("acbe31604b08", "-dirty" appended when the tree had changes), or
 * "" when not built from a git checkout. */
const char *build_info_commit(void);
/* Where `make install` puts the programs (PREFIX/bin) and the pipelines
 * (PREFIX/share/spikesynth/pipelines). */
const char *build_info_bindir(void);
const char *build_info_pipelinedir(void);

/* The --version line of a program: "PROGRAM (spikesynth) 0.1.0 (git COMMIT)",
 * the form help2man reads for its man pages. */
void build_info_print(FILE *out, const char *program);

#endif
