/* manifest: which input each sample id stands for, as a small CSV that a source
 * writes before its first frame, a record of the run for people and scripts
 * (stages get names and labels from the frames, docs/protocol.md), and the one
 * rule that names samples after their inputs (manifest_names):
 *
 *   id,path,label
 *   0,data/fsdd/recordings/0_george_0.wav,0
 *   1,my recordings/hello.wav,-1
 *
 * label is a class (the FSDD digit) or -1 when unknown. Fields holding a comma,
 * a quote or a line break are quoted CSV-style ("a ""b"", c"; include/core/csv.h). Entries are kept
 * sorted by id, ids unique; manifest_find is a binary search.
 *
 * A reader:
 *   manifest *m = manifest_load("out/x/manifest.csv");   // NULL + err_msg()
 *   const manifest_entry *e = manifest_find(m, id);       // NULL: not listed
 *   char stem[256]; manifest_stem(e->path, stem, sizeof stem);  // "0_george_0"
 *   manifest_destroy(&m); */
#ifndef SPIKESYNTH_MANIFEST_H
#define SPIKESYNTH_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t id;
    char *path;
    int label; /* -1: unknown */
} manifest_entry;

typedef struct manifest {
    manifest_entry *entries; /* n entries, sorted by id */
    size_t n, cap;
} manifest;

manifest *manifest_new(void);
void manifest_destroy(manifest **self_p);

/* Appends an entry; ids must increase (so the list stays sorted). label >= -1. */
int manifest_add(manifest *self, uint32_t id, const char *path, int label);
/* Writes the CSV atomically (temporary file, then rename). */
int manifest_write(const manifest *self, const char *path);
/* Reads a CSV written by manifest_write (any row order; ids unique). NULL with
 * err_msg() naming the file and line on a malformed file. */
manifest *manifest_load(const char *path);
/* The entry of id, or NULL. */
const manifest_entry *manifest_find(const manifest *self, uint32_t id);

/* The file name of path without its directory and its extension
 * ("a/b/0_george_3.wav" -> "0_george_3"), truncated to cap - 1 bytes; for naming
 * outputs after inputs. Returns the length written. */
size_t manifest_stem(const char *path, char *buf, size_t cap);

/* The names of n inputs (sample id = index), the one naming rule of the tree:
 * the input's stem, or "STEM-ID" when another input of the list has the same
 * stem. An array of n strings for manifest_names_free, or NULL with err_msg(). */
char **manifest_names(char *const *paths, size_t n);
void manifest_names_free(char ***names_p, size_t n);

#endif
