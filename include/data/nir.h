/* nir: a chain of spikesynth layers as one NIR graph (the Neuromorphic
 * Intermediate Representation, an HDF5 file), and back.
 *
 * A chain of models (layer i's outputs are layer i+1's inputs) is written as
 * Input -> [Affine (our W, bias 0) -> LIF] per layer -> Output, with edges,
 * in NIR's layout: a string dataset /version, a group /node holding type
 * "NIRGraph", a group nodes/ of one group per node (its type and parameter
 * datasets) and edges, an (E, 2) string dataset; /node/metadata holds dt.
 *
 * Our neuron, V[t] = (1 - leak) V[t-1] + W x[t] with a reset to 0 at the
 * threshold, is NIR's tau dv/dt = (v_leak - v) + r I by forward Euler with
 * step dt: tau = dt / leak, r = tau / dt (input weight dt r / tau = 1),
 * v_leak = 0, v_reset = 0, v_threshold = threshold (docs/formats.md says what
 * NIR cannot express). Reading inverts it: leak = dt / tau, and a per-neuron
 * input scale dt r / tau other than 1 is folded into that neuron's weights.
 *
 * Reading takes the chain Input -> (Affine|Linear -> LIF)+ -> Output, with
 * Flatten nodes anywhere (they do not reorder elements); anything else (other
 * node types, a bias, branches, per-neuron tau or threshold, v_leak or
 * v_reset not 0) is refused with an error naming the file and the node.
 * Writing is atomic: the file is built in memory, then written under a
 * temporary name and renamed. */
#ifndef SPIKESYNTH_NIR_H
#define SPIKESYNTH_NIR_H

#include "data/model.h"

/* The NIR release whose layout the files follow (written to /version). */
#define NIR_VERSION "1.0.8"
#define NIR_MAX_LAYERS 8

/* The models of a network in the order they run: audiocoder-hidden,
 * audiocoder-output, ae-encoder, ae-decoder; other kinds after them, in the
 * order given. */
void nir_order_layers(const model **layers, int n);

/* Writes n chained layers (each one's n_in the previous one's n_out) to path.
 * dt > 0 is the step in the time unit of the file's tau (1: tau in steps).
 * Layer nodes are named after their kind ("ae_encoder", then "ae_encoder_lif").
 * -1 with err_msg() on layers that do not chain, a leak not in (0, 1], or a
 * write failure; no file is left then. */
int nir_export(const model *const *layers, int n, double dt, const char *path);

/* A graph read back: its layers, in order, each a model with kind, shape,
 * leak, threshold and weights (other settings the defaults). */
typedef struct {
    int n;
    model *layers[NIR_MAX_LAYERS];
    double dt; /* the step used */
} nir_net;

/* Reads path. dt > 0: the step in the file's time unit; dt <= 0: the file's
 * /node/metadata/dt, else 1. A layer's kind comes from its node's name when
 * that names a kind ("ae_encoder", "audiocoder-hidden", ...); else the two
 * layers of an autoencoder (inputs = outputs) are ae-encoder and ae-decoder.
 * NULL with err_msg() naming the file and the node at fault. */
nir_net *nir_import(const char *path, double dt);
void nir_net_destroy(nir_net **self_p);

/* What a layer of this kind is saved as: PREFIX-SUFFIX.ssm, the suffix being
 * the kind after its first '-' ("encoder", "hidden"), or the whole kind. */
const char *nir_kind_suffix(const char *kind);

#endif
