/* pairing: which MNIST training image each recording is paired with, for the
 * audiocoder's targets (paper, "Audio to image"), and the CSV that records it.
 *
 * Dataset A (one fixed image per digit): among the first PAIRING_A_CANDIDATES
 * training images of the digit in file order (all of them when there are fewer),
 * the one nearest, in Euclidean distance on the [0, 1] pixels, to their mean
 * image; ties go to the lower index. A typical, clean drawing of the digit that
 * depends only on the data set.
 *
 * Dataset B (a random image per recording): with L the digit's training images
 * in file order and x = word 0 of rng_philox(seed, {RNG_STREAM_PAIRING, id, 0,
 * 0}), recording id gets L[(x * |L|) >> 32] (multiply-shift: uniform to within
 * |L| / 2^32). A pure function of (data set, seed, id): no state, any order.
 *
 * The pairing CSV (written by pair-source, read by map-sink), sorted by id:
 *
 *   id,label,image_index,recording
 *   0,0,1234,data/fsdd/recordings/0_george_10.wav
 *
 * recording is last and quoted CSV-style when it holds a comma or a quote; a
 * recording with a line break in its name is refused. */
#ifndef SPIKESYNTH_PAIRING_H
#define SPIKESYNTH_PAIRING_H

#include "data/dataset.h"

#include <stddef.h>
#include <stdint.h>

#define PAIRING_A_CANDIDATES 1000

/* Dataset A's image of digit (0-9): an index into train, or -1 with err_msg()
 * when train has no image of that digit. */
int pairing_dataset_a(const dataset *train, int digit);
/* All ten at once (one pass over the data set); -1 with err_msg() when a digit
 * has no image. */
int pairing_dataset_a_all(const dataset *train, int out[DATASET_CLASSES]);

/* The training images of each digit, in file order: Dataset B draws from them. */
typedef struct {
    size_t n[DATASET_CLASSES];
    uint32_t *index[DATASET_CLASSES];
} pairing_classes;

/* NULL with err_msg() on no memory or when the set holds more than 2^32 images. */
pairing_classes *pairing_classes_new(const dataset *train);
void pairing_classes_destroy(pairing_classes **self_p);

/* Dataset B's image of recording id (label digit): an index into the data set
 * the classes came from, or -1 with err_msg() when the digit has no image. */
int pairing_dataset_b(const pairing_classes *c, int digit, uint64_t seed, uint32_t id);

/* ---- the pairing CSV ---- */

typedef struct {
    uint32_t id;
    int label;       /* the digit, or -1 */
    int32_t image;   /* training image index, or -1 */
    char *recording; /* the recording's path as listed */
} pairing_entry;

typedef struct {
    pairing_entry *entries; /* n, sorted by id, ids unique */
    size_t n, cap;
} pairing_table;

pairing_table *pairing_table_new(void);
void pairing_table_destroy(pairing_table **self_p);
/* Appends an entry; ids must increase. -1 with err_msg() otherwise. */
int pairing_table_add(pairing_table *self, uint32_t id, int label, int32_t image, const char *recording);
/* Writes the CSV atomically. */
int pairing_table_write(const pairing_table *self, const char *path);
/* Reads a CSV written by pairing_table_write; NULL with err_msg() naming the
 * file and line at fault. */
pairing_table *pairing_table_load(const char *path);
/* The entry of id, or NULL. */
const pairing_entry *pairing_table_find(const pairing_table *self, uint32_t id);

#endif
