/* audio_list: the ordered list of recordings a source reads, gathered from
 * command-line inputs, and the FSDD naming convention.
 *
 * An input is one of
 *  - a file: taken as it is (libsndfile decides later whether it is audio);
 *  - a directory: every file directly in it (not recursive) whose extension is
 *    that of a format libsndfile reads (wav, flac, ogg, aiff, au, ..., any
 *    case), sorted by name (byte order, strcmp);
 *  - "@LIST": a text file with one path (file or directory) per line; blank lines
 *    and lines starting with '#' are skipped; paths are used as written (relative
 *    ones to the current directory), in the file's order.
 * Inputs are appended in the order given. A file named in a list is not checked
 * here (a missing one fails when read, and --skip-bad can skip it); an input
 * given directly must exist.
 *
 * FSDD names are "{digit}_{speaker}_{index}.wav" (e.g. 7_jackson_32.wav); the
 * data set's split puts index 0-4 in test and the rest in train. */
#ifndef SPIKESYNTH_AUDIO_LIST_H
#define SPIKESYNTH_AUDIO_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { AUDIO_LIST_ALL = 0, AUDIO_LIST_TRAIN, AUDIO_LIST_TEST } audio_list_split;

#define AUDIO_LIST_TEST_INDEX_MAX 4 /* FSDD: index 0-4 are the test split */

typedef struct audio_list {
    char **paths; /* n paths, in order; the index is the sample id */
    size_t n, cap;
} audio_list;

audio_list *audio_list_new(void);
void audio_list_destroy(audio_list **self_p);

/* Appends the files of one input (file, directory or @LIST). -1 with err_msg()
 * naming the input when it does not exist, a directory has no *.wav, or a list
 * cannot be read. */
int audio_list_add(audio_list *self, const char *input);
/* Appends one path as it is. */
int audio_list_push(audio_list *self, const char *path);

/* "train", "test" or "all"; -1 with err_msg() otherwise. */
int audio_list_split_parse(const char *name, audio_list_split *split);
/* Keeps the paths of split (all: every path; train/test need FSDD names, and a
 * path without one is an error naming it), then the first limit (0: all). */
int audio_list_filter(audio_list *self, audio_list_split split, size_t limit);

/* Parses an FSDD name from path's file name: true, with the digit and the
 * index, for "{digit}_{speaker}_{index}.wav" (digit and index decimal, speaker
 * non-empty, .wav in any case); false otherwise. digit/index may be NULL. */
bool audio_list_fsdd_name(const char *path, int *digit, int *index);
/* The FSDD speaker of path into buf (cap bytes): its length, or 0 (buf "")
 * when the name is not FSDD-style or the speaker does not fit. */
size_t audio_list_speaker(const char *path, char *buf, size_t cap);
/* The FSDD digit of path, or -1 when its name is not FSDD-style. */
int audio_list_label(const char *path);

#endif
