/* model: the weights of one trained layer, with everything needed to use or
 * resume them, in one checked file (".ssm").
 *
 * A network is stored one layer per file, as the pipeline holds it one layer
 * per stage: the autoencoder is an "ae-encoder" file (W1, 784 -> 196) and an
 * "ae-decoder" file (W2, 196 -> 784); the audiocoder reuses the decoder file.
 *
 * Layout (little-endian): magic "SSYNMODL", u32 format version, u32 header
 * bytes, then the header fields (kind, shapes, neuron and optimiser settings,
 * encoding settings, training progress), then n_out x n_in float32 weights,
 * then the CRC-32 (zlib) of every byte before it. Files are written under a
 * temporary name and renamed. A wrong magic, version, size, checksum or a
 * non-finite weight is an error naming the file and the fault. docs/formats.md
 * gives the byte layout; data/nir.h carries a chain of layers to NIR and back. */
#ifndef SPIKESYNTH_MODEL_H
#define SPIKESYNTH_MODEL_H

#include "numerics/lif_layer.h"

#include <stdint.h>

#define MODEL_FORMAT_VERSION 1
#define MODEL_KIND_MAX 32

typedef struct {
    char kind[MODEL_KIND_MAX]; /* "ae-encoder", "ae-decoder", "audiocoder-hidden", ... */
    int32_t n_in, n_out;
    lif_params lif;
    optim_params opt;
    /* how the inputs were encoded and the loss was taken */
    int32_t steps;        /* T */
    float r_max;
    int32_t mask;         /* 1: XOR-masked loss */
    uint64_t seed;
    /* training progress */
    int32_t epochs;       /* completed epochs */
    int64_t batches, samples;
    float *w;             /* n_out x n_in */
} model;

/* A model with a copy of the layer's weights and settings; NULL on no memory. */
model *model_from_layer(const lif_layer *layer, const char *kind);
/* Writes atomically. */
int model_save(const model *self, const char *path);
/* Reads and checks; NULL with err_msg() naming the file and fault. */
model *model_load(const char *path);
/* Checks kind and shape (kind NULL or n <= 0 to skip that check). */
int model_expect(const model *self, const char *path, const char *kind, int n_in, int n_out);
/* Copies the weights into a layer of the same shape. */
int model_to_layer(const model *self, lif_layer *layer);
void model_destroy(model **self_p);

/* What a stage needs to create its layer: a fresh one (path NULL or ""), with
 * W ~ U(-init_scale, init_scale) from (seed, layer_id), or one loaded from
 * path, checked for kind and shape (n_in <= 0: take the file's). NULL with
 * err_msg() naming the file on any fault. */
typedef struct {
    const char *path, *kind;
    int n_in, n_out, max_batch;
    lif_params lif;
    optim_params opt;
    uint64_t seed;
    uint32_t layer_id;
    float init_scale;
    learning_params learn; /* zero: traces; LEARN_NONE for inference (no learning state) */
} model_layer_spec;
lif_layer *model_layer_open(const model_layer_spec *spec);
/* Saves a layer with its encoding settings and progress (m's fields other than
 * kind, shapes, settings and weights, which come from the layer). */
int model_layer_save(const lif_layer *layer, const char *kind, const model *info, const char *path);

#endif
