/* dataset: the image data sets (MNIST, Fashion-MNIST) as the trainers see them.
 *
 * Reads DIR/NAME/{train,t10k}-{images-idx3,labels-idx1}-ubyte (raw or .gz, as
 * scripts/fetch-data lays them out) and returns images as floats in [0, 1]
 * (pixel / 255), n x n_pixels row-major, with their labels. Images and labels
 * must agree in count and the labels must be classes 0-9; err_msg() names the
 * file at fault otherwise. */
#ifndef SPIKESYNTH_DATASET_H
#define SPIKESYNTH_DATASET_H

#include <stddef.h>
#include <stdint.h>

#define DATASET_CLASSES 10
/* image-source numbers the test split's samples from here (train from 0), so
 * that their Poisson spikes differ from those of the training images of the
 * same index; a sink recovers the index as id - DATASET_TEST_ID_BASE. */
#define DATASET_TEST_ID_BASE (1u << 30)

typedef struct {
    size_t n;        /* images loaded */
    size_t rows;     /* 28 */
    size_t cols;     /* 28 */
    size_t n_pixels; /* rows * cols */
    float *images;   /* n x n_pixels, in [0, 1] */
    uint8_t *labels; /* n, each < DATASET_CLASSES */
} dataset;

/* name: "mnist" or "fashion-mnist" ("fashion" is taken as fashion-mnist);
 * split: "train" or "test"; limit: at most that many images, 0 = all.
 * NULL with err_msg() set on failure. */
dataset *dataset_load_images(const char *dir, const char *name, const char *split, size_t limit);
/* Frees and sets *self_p = NULL; safe on NULL. */
void dataset_destroy(dataset **self_p);

/* The path of one IDX file of a data set, raw name or ".gz" whichever exists
 * (raw preferred): kind is "images" or "labels". Writes into buf (size len);
 * 0, or -1 with err_msg() set when neither exists or the arguments are wrong. */
int dataset_idx_path(char *buf, size_t len, const char *dir, const char *name, const char *split,
                     const char *kind);

#endif
