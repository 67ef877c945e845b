/* atomic_file: write a file so that readers see the old file or the whole new
 * one, never a part. Data goes to "<path>.tmp.<pid>"; commit flushes, fsyncs and
 * renames it over <path>; abort (or any failure) removes it. */
#ifndef SPIKESYNTH_ATOMIC_FILE_H
#define SPIKESYNTH_ATOMIC_FILE_H

#include <stdio.h>

typedef struct atomic_file atomic_file;

/* Opens the temporary file; NULL with err_msg() set on failure. */
atomic_file *atomic_file_new(const char *path);
/* The stream to write to. */
FILE *atomic_file_stream(atomic_file *self);
/* Flushes, fsyncs and renames into place; destroys self either way. */
int atomic_file_commit(atomic_file **self_p);
/* Removes the temporary file and destroys self; safe on NULL. */
void atomic_file_destroy(atomic_file **self_p);

/* Convenience: writes len bytes as one file, atomically. */
int atomic_file_write(const char *path, const void *data, size_t len);

#endif
