/* tmpdir: the temporary directories tests make their fixtures in: making and
 * removing one, paths inside it, writing a fixture file, and the check that a
 * failed write left no temporary file (atomic_file's NAME.tmp.XXXXXX) behind. */
#ifndef SPIKESYNTH_TEST_TMPDIR_H
#define SPIKESYNTH_TEST_TMPDIR_H

#include <stddef.h>

/* Makes a fresh directory $TMPDIR/NAME.XXXXXX (/tmp without TMPDIR) and puts
 * its path in dir (cap bytes). 0, or -1. For cmocka setups. */
int tmpdir_make(char *dir, size_t cap, const char *name);
/* Removes dir and everything below it (no shell involved). 0, or -1. */
int tmpdir_remove(const char *dir);
/* dir/name, in one of 64 rotating static buffers (a call's arguments may use several). */
const char *tmpdir_at(const char *dir, const char *name);
/* Writes text to path (created or truncated); fails the test when it cannot. */
void tmpdir_write(const char *path, const char *text);
/* Fails the test when dir holds a temporary file (a name with ".tmp."). */
void tmpdir_assert_no_temp(const char *dir);

#endif
