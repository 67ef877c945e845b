/* lif_layer: a fully connected layer of leaky integrate-and-fire neurons: its
 * synapses W, its neurons (numerics/lif_neuron.h) and the learning rule that
 * changes W (numerics/trace_rule.h, numerics/bptt_rule.h), or none.
 *
 * Shapes: W is n_out x n_in (row m holds neuron m's synapses); per step the
 * layer takes an input frame of batch x n_in and produces the membrane
 * potential (before reset) and spikes, both batch x n_out.
 *
 * One time step is forward(), then, when training:
 *  - LEARN_TRACES (the paper's): input_grad() for the layer below and
 *    update(dv) with this step's dL/dV: the weights change at every step;
 *  - LEARN_BPTT: the layer records the step; after `window` steps (or the
 *    batch's last) backward() takes dL/dV (or dL/dS) of every recorded step,
 *    runs back through time, gives the layer below its gradient of every
 *    step and updates the weights once;
 *  - LEARN_NONE: inference only, no learning state at all. */
#ifndef SPIKESYNTH_LIF_LAYER_H
#define SPIKESYNTH_LIF_LAYER_H

#include "numerics/lif_neuron.h"
#include "numerics/optim.h"
#include "numerics/trace_rule.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    LEARN_TRACES = 0, /* eligibility traces, an update every step (the paper's) */
    LEARN_BPTT = 1,   /* backpropagation through time, an update per window */
    LEARN_NONE = 2,   /* inference */
} learning_rule;

typedef struct {
    learning_rule rule;
    int window; /* BPTT: steps per update (truncated BPTT); 0 = every step of the batch */
    trace_kernel kernel; /* traces only */
    bool masked_errors;  /* traces: this layer's errors are masked, mostly zero (the
                            output layer of the masked loss): TRACE_KERNEL_AUTO takes
                            the rows kernel for it, the events kernel otherwise */
} learning_params;

/* BPTT: the steps of one window for samples of `steps` steps (the last window
 * of a sample may be shorter). */
int learning_window(const learning_params *learn, int steps);

/* "traces", "bptt", "none"; NULL for an unknown value. */
const char *learning_rule_name(learning_rule rule);

typedef struct lif_layer_state lif_layer_state;
typedef struct lif_layer lif_layer;
struct lif_layer {
    int n_in, n_out, max_batch;
    int batch;           /* samples in the current batch */
    lif_params lif;
    optim_params opt;
    learning_params learn;
    float *w;            /* n_out x n_in */
    float *v;            /* batch x n_out: membrane at this step, before reset */
    float *spikes;       /* batch x n_out: 0 or 1 at this step */
    lif_layer_state *state; /* private: membranes, parts, the learning rule's state */
};

/* NULL with err_msg() set on bad shapes or no memory. learn NULL: traces. */
lif_layer *lif_layer_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                         const optim_params *opt, const learning_params *learn);
void lif_layer_destroy(lif_layer **self_p);

/* W ~ U(-scale, scale), drawn from rng_philox keyed by seed with counter
 * (RNG_STREAM_INIT, layer_id, m, j/4); scale <= 0 means 1/sqrt(n_in). */
void lif_layer_init_uniform(lif_layer *self, uint64_t seed, uint32_t layer_id, float scale);

/* Products go in this many parts of the batch (lif_layer_part_rows), so that
 * a pipeline passing parts on gives the bits of one process; 1 by default. */
void lif_layer_set_parts(lif_layer *self, int parts);
int lif_layer_parts(const lif_layer *self);

/* Starts a batch of `batch` samples: membranes and learning state to 0, and
 * the optimiser's per-batch restart. */
int lif_layer_begin_batch(lif_layer *self, int batch);

/* One step: input is batch x n_in. Fills self->v and self->spikes. */
int lif_layer_forward(lif_layer *self, const float *input);
/* The same in parts, for a pipeline that passes each part on as soon as it is
 * ready: samples b0..b1-1 (input is still the whole batch's), parts in order
 * from 0 to the batch's end, each ending on a part boundary (parts) or the
 * batch's end; the step is done with the last. Products go by parts in both
 * forms (blas_sgemm_rows), so a part computed alone has the bits of the whole
 * batch's. */
int lif_layer_forward_rows(lif_layer *self, const float *input, int b0, int b1);

/* grad_in (batch x n_in) = dv * W, with W before this step's update; NULL to skip.
 * A sparse dv (masked errors) sums W's rows, a dense one goes through sgemm.
 * Layers below use it as dL/d(their spikes). */
int lif_layer_input_grad(const lif_layer *self, const float *dv, float *grad_in);
/* The same for samples b0..b1-1 (dv and grad_in are still the whole batch's). */
int lif_layer_input_grad_rows(const lif_layer *self, const float *dv, float *grad_in, int b0, int b1);

/* dv (batch x n_out) = g .* sigma'(v - threshold): the surrogate derivative
 * of the spike (paper eq. 3-4) applied to dL/dspikes g. */
void lif_layer_surrogate(const lif_layer *self, const float *g, float *dv);
/* The same for samples b0..b1-1 (g and dv are still the whole batch's). */
void lif_layer_surrogate_rows(const lif_layer *self, const float *g, float *dv, int b0, int b1);

/* LEARN_TRACES: dL/dW = mean over the batch of dv[b,m] * trace[b,m,j], then
 * the optimiser update of every weight (dv is dL/dV of this step, batch x n_out). */
int lif_layer_update(lif_layer *self, const float *dv);

/* Parts of a batch: rows of equal size rounded up to 8 samples (the whole
 * batch for parts <= 1); part k ends (exclusive) at lif_layer_part_end. */
int lif_layer_part_rows(int batch, int parts);
int lif_layer_part_end(int batch, int parts, int k);

/* lif_layer_update in parts: the samples b0..b1-1 of this step's gradient,
 * parts in order from 0, each ending on a multiple of 8 but the last, which
 * applies the optimiser. The sum runs over the samples in the same order, so
 * the weights come out bit-identical to one lif_layer_update; a pipeline
 * updates with each part of the error as it arrives. */
int lif_layer_update_rows(lif_layer *self, const float *dv, int b0, int b1);

/* LEARN_TRACES: updates so far by each kernel of trace_rule (0 otherwise);
 * sparse: the shared trace's, those by the nonzero errors alone. */
void lif_layer_trace_kernel_steps(const lif_layer *self, long *rows, long *events, long *sparse);

/* LEARN_BPTT: steps recorded since the last backward (the window so far). */
int lif_layer_recorded_steps(const lif_layer *self);
/* LEARN_BPTT: back through the recorded steps. g holds, for every recorded
 * step s (oldest first), batch x n_out values: dL/dV[s] of this layer, or
 * dL/dS[s] when spike_grad (the surrogate at the recorded V is applied).
 * grad_in (steps x batch x n_in, may be NULL) receives dL/d(input[s]) for the
 * layer below, with W as it is. Reset is not differentiated (as snnTorch's
 * detached reset); a clamped step passes no gradient. */
int lif_layer_backward(lif_layer *self, const float *g, bool spike_grad, float *grad_in);
/* LEARN_BPTT, after backward: the optimiser updates W once with the batch
 * mean of dL/dW, and recording starts again (membranes carry on). A pipeline
 * sends grad_in on first, so the layer below works while this one updates. */
int lif_layer_backward_update(lif_layer *self);

/* The optimiser's state (Adam's moments, step and update counts): what a
 * checkpoint keeps beside W (data/checkpoint.h). NULL for LEARN_NONE. At a
 * batch boundary it is the layer's only learning state that outlives the batch. */
optim_state *lif_layer_optim(const lif_layer *self);

#endif
