/* ann_file: a dense network (numerics/ann) stored as the project's model files,
 * one .ssm per layer, as the SNN's layers are.
 *
 * Layer l (from 1) of network PREFIX is PREFIX-layerL.ssm: kind "ann-ACT" (ACT
 * the activation: ann-sigmoid, ann-relu, ann-linear, ann-softmax), n_in the
 * layer's inputs + 1, n_out its outputs, and row m of W holds neuron m's
 * weights followed by its bias (a constant input of 1: the format has no bias
 * field). The optimiser settings and the training progress go in the header's
 * usual fields; the neuron fields are zero. A network's layers are the files
 * PREFIX-layer1.ssm, PREFIX-layer2.ssm, ... up to the first that does not exist;
 * docs/formats.md has the layout. */
#ifndef SPIKESYNTH_ANN_FILE_H
#define SPIKESYNTH_ANN_FILE_H

#include "data/model.h"
#include "numerics/ann.h"

/* Writes every layer of net (atomically, one file each); info gives the
 * progress fields (epochs, batches, samples, seed; may be NULL). */
int ann_file_save(const ann *net, const char *prefix, const model *info);
/* Loads network PREFIX for batches of at most max_batch, loss as given (used
 * only to train it further). NULL with err_msg() naming the file at fault. */
ann *ann_file_load(const char *prefix, int max_batch, ann_loss loss);
/* The path of layer l (from 1) of PREFIX into buf. */
int ann_file_path(char *buf, size_t len, const char *prefix, int layer);

#endif
