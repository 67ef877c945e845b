/* checkpoint: a training layer kept at a batch boundary with everything needed
 * to go on bit for bit: a format-3 model file (data/model.h) holding the
 * weights, the optimiser's state (Adam's moments, step and update counts: the
 * lr schedule's position), the progress (epochs, batches, samples: the data
 * position) and the writer's loss sums. The random draws need no state of
 * their own: the shuffle is drawn from (seed, epoch), the Poisson spikes from
 * (seed, sample id, step), so the data position is their position too. At a
 * batch boundary the learning rules hold nothing else (traces and BPTT's
 * recorded steps start again with every batch).
 *
 * A model NAME.ssm has two checkpoints beside it: NAME.checkpoint.ssm (the
 * newest) and NAME.checkpoint.prev.ssm (the one before), each written under a
 * temporary name and renamed, the newest moved to .prev first. Stages of a
 * pipeline write theirs independently at the same batch counts, so when one
 * is killed between two writes the others' .prev still matches its newest:
 * resuming takes the newest batch count every layer holds (checkpoint_common).
 * A completed training removes both. */
#ifndef SPIKESYNTH_CHECKPOINT_H
#define SPIKESYNTH_CHECKPOINT_H

#include "data/model.h"

#include <stddef.h>
#include <stdint.h>

#define CHECKPOINT_KEEP 2 /* checkpoints per layer: the newest and the one before (<= PREFLIGHT_RESUME_MAX) */

/* path's checkpoint k (0 the newest, 1 the one before):
 * "x.ssm" -> "x.checkpoint.ssm", "x.checkpoint.prev.ssm". */
void checkpoint_path(const char *path, int k, char *buf, size_t cap);

/* Saves the layer with info's settings, progress, lineage and state.loss as
 * path's newest checkpoint, the one before becoming .prev. */
int checkpoint_save(const lif_layer *layer, const char *kind, const model *info, const char *path);

/* The batch counts of path's readable checkpoints (newest first) into
 * batches[CHECKPOINT_KEEP]; how many. Unreadable ones are skipped. */
int checkpoint_points(const char *path, int64_t *batches);

/* The newest batch count held by a checkpoint of every one of the n paths'
 * layers; -1 with err_msg() naming them when one has none or no count is
 * common to all (an inconsistent set). */
int checkpoint_common(const char *const *paths, int n, int64_t *batches);

/* Restores a training layer from path's checkpoint of `batches` batches:
 * weights and optimiser state into layer, the file's progress, lineage and
 * state.loss into info (its other fields as they were). The checkpoint must
 * hold kind and the layer's shape, seed and optimiser settings: else -1 with
 * err_msg() naming the file and the field that differs. */
int checkpoint_restore(lif_layer *layer, const char *kind, const char *path, int64_t batches, model *info);

/* Removes path's checkpoints (a completed training supersedes them). */
void checkpoint_remove(const char *path);

/* --resume: "false" (0), "true" (1: the newest consistent checkpoint) or a
 * batch count N > 0 (2, *batches = N: the runner's choice). -1 with err_msg()
 * on anything else. */
int checkpoint_resume_option(const char *value, int64_t *batches);

/* ---- what a training stage does with them (ae-encoder, ae-decoder, audiocoder, ae-train) ---- */

/* --resume=VALUE of a training whose n layers are saved at saves[i]: 0 when
 * not resuming; 1 with *batches the count to go on from (N, the runner's
 * choice, or for true the newest that every layer's checkpoints hold). -1
 * with err_msg() when there is no --save, no checkpoint or none in common. */
int checkpoint_resume_point(const char *const *saves, int n, const char *resume, int64_t *batches);
/* --resume=VALUE of a stage that saves its layer at save: 0 when not
 * resuming; 1 with the layer and info restored from the checkpoint of N
 * batches (the runner's choice) or, for true, the newest one save has. -1
 * with err_msg() when there is none of that count or it is another training's. */
int checkpoint_resume(lif_layer *layer, const char *kind, const char *save, const char *resume, model *info);
/* Under --preflight: with --resume=true the batch counts every one of the n
 * layers' checkpoints (at saves[i]) holds, said to the runner
 * (preflight_say_resume); -1 when there are none. */
int checkpoint_preflight(const char *const *saves, int n, const char *resume);
/* --resume=VALUE of a source: "false" (0, *batches = 0) or N > 0 (0, *batches =
 * N: start after the run's batch N). true is refused (-1 with err_msg()): the
 * count is the training stages', which a pipeline's resume=true finds. */
int checkpoint_source_option(const char *value, int64_t *batches);
/* After a batch: a checkpoint at save when every > 0 divides info->batches. */
int checkpoint_every(const lif_layer *layer, const char *kind, const model *info, const char *save, int64_t every);

/* Where batch number `batches` (counted from 0 over all epochs) of a pass over
 * n samples in batches of `batch` lies: its epoch and first sample. */
void checkpoint_position(int64_t batches, size_t n, size_t batch, int64_t *epoch, size_t *start);

#endif
