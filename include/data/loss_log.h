/* loss_log: the loss of every batch of a training run, written as CSV
 * (epoch,batch,samples,loss,masked_fraction) and, when the run completes, as a
 * curve beside it (x.csv -> x.png, line_plot). Both files appear only then
 * (temporary name, then rename): an interrupted run leaves neither. */
#ifndef SPIKESYNTH_LOSS_LOG_H
#define SPIKESYNTH_LOSS_LOG_H

#include "numerics/loss.h"

#include <stdint.h>

typedef struct loss_log loss_log;

/* NULL with err_msg() set when the file cannot be started. */
loss_log *loss_log_new(const char *csv_path);
/* One batch: its loss per sample and step, and its masked fraction. */
void loss_log_add(loss_log *self, int epoch, int64_t batch, int64_t samples, const loss_stats *batch_stats);
/* Commits the CSV and draws the curve titled title; destroys *self_p. */
int loss_log_finish(loss_log **self_p, const char *title);
/* Abandons the log (no file is left); safe on NULL. */
void loss_log_destroy(loss_log **self_p);

#endif
