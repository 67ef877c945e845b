/* tmpdir: the temporary directories tests make their fixtures in. */
#ifndef SPIKESYNTH_TEST_TMPDIR_H
#define SPIKESYNTH_TEST_TMPDIR_H

/* Removes dir and everything below it (no shell involved). 0, or -1. */
int tmpdir_remove(const char *dir);

#endif
