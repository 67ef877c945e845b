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
 * non-finite weight (or checkpoint moment) is an error naming the file and the fault. docs/formats.md
 * gives the byte layout; data/nir.h carries a chain of layers to NIR and back.
 *
 * Lineage (format 2): a file records what it was trained with, so that a set
 * of layers from different trainings is refused instead of drawing noise: the
 * hash of its own initial weights, of the paired layer's initial and final
 * weights (encoder <-> decoder, audiocoder hidden <-> output), for an
 * audiocoder the final hash of the autoencoder encoder whose hidden maps were
 * its targets, and the front-end settings. A layer's identity is the hash of
 * its final weights, recomputed from the file. Format 1 files are read with an
 * unknown lineage (all zero).
 *
 * Format 3 is format 2 with a training state after the weights (a checkpoint,
 * data/checkpoint.h): the optimiser's step and update counts, Adam's moments
 * and the writer's loss sums. Only checkpoints are written as format 3; a
 * model without state is written as format 2, byte for byte as before. */
#ifndef SPIKESYNTH_MODEL_H
#define SPIKESYNTH_MODEL_H

#include "numerics/lif_layer.h"
#include "numerics/loss.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MODEL_FORMAT_VERSION 3 /* the newest read; 2 is written without a state */
#define MODEL_KIND_MAX 32
#define MODEL_FRONTEND_MAX 128

/* What a layer was trained with; 0 (or "") where unknown or not applicable. */
typedef struct {
    uint64_t init;                /* this layer's weights before training */
    uint64_t pair_init, pair_final; /* the layer trained with it */
    uint64_t source;              /* audiocoder: the final hash of the targets' ae-encoder */
    char frontend[MODEL_FRONTEND_MAX]; /* audiocoder: the front-end settings of its inputs */
} model_lineage;

/* A checkpoint's training state (format 3): with the weights, everything a
 * training needs to go on bit for bit from the batch boundary it was taken at. */
typedef struct {
    bool present;                  /* the file holds one (format 3) */
    int64_t opt_step, opt_updates; /* optim_state's step (bias correction) and updates (lr schedule) */
    float *m, *v;                  /* Adam's moments, n_out x n_in each; NULL for SGD */
    loss_stats loss;               /* the writer's running loss figures (its metrics) */
} model_state;

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
    model_lineage lineage;
    model_state state;    /* format 3 (a checkpoint): the training state */
    uint32_t version;     /* the file's format version (model_load) */
    float *w;             /* n_out x n_in */
} model;

/* FNV-1a (64 bits) of n float weights' bytes: a layer's identity. */
uint64_t model_weights_hash(const float *w, size_t n);
/* The same of a layer's weights. */
uint64_t model_layer_hash(const lif_layer *layer);
/* The identity of the model's own (final) weights. */
uint64_t model_hash(const model *self);

/* A model with a copy of the layer's weights and settings; NULL on no memory. */
model *model_from_layer(const lif_layer *layer, const char *kind);
/* Writes atomically. */
int model_save(const model *self, const char *path);
/* The bytes model_save writes for a layer of n_in -> n_out (preflight's room). */
uint64_t model_file_bytes(int n_in, int n_out);
/* Reads and checks; NULL with err_msg() naming the file and fault. */
model *model_load(const char *path);
/* The same from an open stream (from its position to its end), path naming it
 * in messages: fmemopen reads a model held in memory. */
model *model_read(FILE *in, const char *path);
/* Checks kind and shape (kind NULL or n <= 0 to skip that check). */
int model_expect(const model *self, const char *path, const char *kind, int n_in, int n_out);
/* Checks that a and b were trained together (each records the other's final
 * weights): 0 when they were, 1 when either file holds no lineage (format 1:
 * unknown), -1 with err_msg() naming both files and what to retrain. */
int model_check_pair(const model *a, const char *path_a, const model *b, const char *path_b);
/* Checks that a decoder (its lineage dec) can draw from the hidden spikes of
 * what fed it: fed is the final hash of the encoder whose hidden layer it
 * stands for (an ae-encoder's own, an audiocoder's source), fed_kind that
 * feeder's kind, fed_by its description. 0, 1 when unknown, -1 with
 * err_msg() naming the decoder, the feeder and what to retrain. */
int model_check_feeds(const model_lineage *dec, const char *dec_path, uint64_t fed, const char *fed_kind,
                      const char *fed_by);
/* Checks a set of models meant to run together (model-info --together):
 * encoder and decoder, audiocoder hidden and output, an audiocoder and the
 * decoder (and encoder) whose hidden maps it learned. 0, or -1 with err_msg()
 * naming the files at fault; a file without lineage fails too. */
int model_check_set(model *const *m, const char *const *paths, int n);
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
/* lineage (may be NULL): the loaded file's, or all zero for fresh weights. */
lif_layer *model_layer_open(const model_layer_spec *spec, model_lineage *lineage);
/* A model of the layer with info's encoding settings, progress and lineage
 * (m's fields other than kind, shapes, settings and weights); NULL on no memory. */
model *model_from_training(const lif_layer *layer, const char *kind, const model *info);
/* Saves a layer with its encoding settings and progress (m's fields other than
 * kind, shapes, settings and weights, which come from the layer). */
int model_layer_save(const lif_layer *layer, const char *kind, const model *info, const char *path);
/* Where an interrupted training keeps its weights instead of path:
 * "x.ssm" -> "x.checkpoint.ssm" (else path + ".checkpoint"). */
void model_checkpoint_path(const char *path, char *buf, size_t cap);
/* A training's end: a complete one saves at path (and drops its
 * checkpoints), an interrupted one saves a checkpoint (data/checkpoint.h: it
 * can be resumed; info->state.loss goes with it) and leaves path as it was;
 * saved_to gets where the weights went. */
int model_layer_keep(const lif_layer *layer, const char *kind, const model *info, const char *path,
                     bool complete, char *saved_to, size_t cap);
/* model_layer_keep, then what a stage says of it on stderr ("saved W1 to ...",
 * or a warning of where the checkpoint went); what names the layer. */
int model_layer_keep_said(const lif_layer *layer, const char *kind, const model *info, const char *path,
                          bool complete, const char *what);
/* Two layers trained across processes tell each other their weights' hashes
 * in a note "init=HEX final=HEX" (the END of their links): ours into buf,
 * theirs (peer_note) into self with our init. */
void model_lineage_note(char *buf, size_t cap, uint64_t init, uint64_t final);
void model_lineage_take(model_lineage *self, uint64_t init, const char *peer_note);

#endif
