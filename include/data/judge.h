/* judge: a digit (or Fashion-MNIST class) classifier, a dense network trained
 * by bin/ann-train --task=classify, reading synthesized or reconstructed
 * images: the share "read as the right digit", reported beside the MSE.
 *
 * Each map (spike counts over T steps, or an ANN's outputs) is scaled by its
 * own largest value into [0, 1] before it is classified, as the PNG grids show
 * it: the SNN's outputs fire at a fraction of the input's rate, and the judge
 * was trained on [0, 1] pixels. A blank map reads as whatever the classifier
 * makes of all zeros. */
#ifndef SPIKESYNTH_JUDGE_H
#define SPIKESYNTH_JUDGE_H

#include "core/json_out.h"

#include <stddef.h>
#include <stdint.h>

typedef struct judge judge;

/* The classifier PREFIX (ann_file); NULL with err_msg() when it cannot be
 * loaded or does not take n_pixels inputs. */
judge *judge_open(const char *prefix, size_t n_pixels);
void judge_destroy(judge **self_p);
/* Reads n maps (n x n_pixels); labels[i] < 0 are not counted. classes, when
 * not NULL, receives each map's class. 0, or -1 with err_msg(). */
int judge_add(judge *self, const float *maps, const int32_t *labels, size_t n, int *classes);
/* Maps counted and the share read as their label (NAN when none). */
size_t judge_count(const judge *self);
double judge_accuracy(const judge *self);
/* Adds digit_accuracy and n_judged to j; nothing when self is NULL. */
void judge_json(const judge *self, json_out *j);

#endif
