/* lif_layer: a fully connected layer of leaky integrate-and-fire neurons with
 * its synapses, eligibility traces and optimiser (paper eq. 1-2, 9-17).
 *
 * Shapes: W is n_out x n_in (row m holds neuron m's synapses); per step the
 * layer takes an input frame of batch x n_in and produces the membrane
 * potential (before reset) and spikes, both batch x n_out.
 *
 * One time step is forward(), then, when training, input_grad() for the layer
 * below and update(). The trace of synapse (m, j) in sample b is input j
 * filtered by (1 - leak) since neuron m last reset. All neurons of a sample
 * that last reset at the same step share that vector, so the layer keeps one
 * "trace row" per (sample, reset step) still in use, never the batch x n_out
 * x n_in tensor of the naive form, and touches a row only where the gradient
 * needs it (see the fields below). The gradient of each weight is summed over
 * samples in order and fed straight to the optimiser (optim_apply): weights
 * are updated at every step. */
#ifndef SPIKESYNTH_LIF_LAYER_H
#define SPIKESYNTH_LIF_LAYER_H

#include "numerics/optim.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    TRACE_PER_NEURON = 0, /* paper: per synapse, zeroed when its neuron spikes */
    TRACE_SHARED = 1,     /* authors' code: per input, scaled by the fraction not spiking */
} trace_mode;

typedef struct {
    float leak;      /* a in V[t] = (1 - a) V[t-1] + Z[t] */
    float threshold; /* Vth; V resets to 0 after a spike */
    bool clamp;      /* authors' code: V = min(V, Vth) */
    trace_mode trace;
} lif_params;

/* The paper's: leak 0.1, threshold 1, no clamp, per-neuron traces. */
lif_params lif_params_default(void);

typedef struct lif_layer lif_layer;
struct lif_layer {
    int n_in, n_out, max_batch;
    int batch;           /* samples in the current batch */
    lif_params lif;
    optim_params opt;
    float *w;            /* n_out x n_in */
    float *v;            /* batch x n_out: membrane at this step, before reset */
    float *spikes;       /* batch x n_out: 0 or 1 at this step */
    /* private below: membrane after reset, traces, optimiser */
    float *membrane;     /* batch x n_out: V[t] after reset, carried to t+1 */
    float *z;            /* batch x n_out: W x input of this step */
    int step;            /* steps taken in this batch */
    optim_state *optim;
    /* Traces. hist[b] (double, n_chunks*16 per sample) is sample b's input
     * filtered by (1 - leak) since the batch began, H_b[t]. A trace row r
     * belongs to sample row_sample[r] and the neurons that last reset at step
     * row_start[r]; it stores the snapshot H_b[row_start - 1], so the trace of
     * its neurons is e[t] = H_b[t] - (1 - leak)^(t - row_start + 1) snapshot,
     * evaluated in double (exact to float rounding) only where the gradient
     * needs it: no per-step pass over the rows. Snapshots are chunk-major
     * (column j of row r at pool[((j/16)*pool_cap + r)*16 + j%16]).
     * Sample b owns rows b*rps .. b*rps+rps-1 (used[b] of them so far; freed
     * ones listed in free_rows[b*rps ..], n_free[b] of them); rps doubles when
     * a sample needs more. row_of[b*n_out+m] is the row neuron m of sample b
     * uses; refs[r] counts its users.
     * The authors' shared trace is H_b itself (decay scaled by the fraction
     * of neurons that did not spike), with one row per sample. */
    double *hist, *pool;
    uint8_t *chunk_live; /* per 16-input chunk: some input there was nonzero this batch */
    double *decay_pow;   /* decay_pow[d] = (1 - leak)^d, d < decay_pow_len */
    int decay_pow_len;
    int n_chunks, rps, pool_cap;
    int *n_free, *used;
    int *n_spikes;       /* per sample: neurons that spiked at the last step */
    int *row_of, *refs, *row_start, *free_rows;
    /* Gradient scratch: the rows with nonzero dv, in sample order
     * (grad_rows[0..n_grad_rows)), and for each its neurons and dv values
     * (member_m/member_dv[member_start[i] .. member_start[i+1])) */
    int n_grad_rows;
    int *grad_rows, *member_start, *member_m, *row_cursor;
    float *member_dv;
    int n_mblocks;       /* blocks of neurons per gradient pass */
    int *member_split;   /* per grad row: where each neuron block's members start */
    int *row_scratch;    /* per sample (rps each): its gradient rows, in order of appearance */
    int *member_slot;    /* batch x n_out: for dense errors, the trace of each (b, m) */
    bool dense_grad;     /* this step's dv is mostly nonzero: the dense kernel */
    int *sample_rows, *sample_members; /* batch + 1: where each sample's rows/members start */
    float *trace_buf;    /* per thread: pool_cap x 16 traces of one chunk */
    float *acc;          /* per thread: one block of neurons x 16 accumulators */
    int part_b0, part_b1; /* the samples of the update in progress (lif_layer_update_rows) */
    int fwd_next;        /* the first sample of the next forward part (0: a new step) */
    int parts;           /* products go in this many parts of the batch (lif_layer_part_rows);
                            set it (snn does) where a pipeline must match one process */
    float *grad_acc;     /* n_out x n_chunks*16: the gradient summed over the parts so far */
};

/* NULL with err_msg() set on bad shapes or no memory. */
lif_layer *lif_layer_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                         const optim_params *opt);
void lif_layer_destroy(lif_layer **self_p);

/* W ~ U(-scale, scale), drawn from rng_philox keyed by seed with counter
 * (RNG_STREAM_INIT, layer_id, m, j/4); scale <= 0 means 1/sqrt(n_in). */
void lif_layer_init_uniform(lif_layer *self, uint64_t seed, uint32_t layer_id, float scale);

/* Starts a batch of `batch` samples: membranes and traces to 0, and the
 * optimiser's per-batch restart. */
int lif_layer_begin_batch(lif_layer *self, int batch);

/* One step: input is batch x n_in. Fills self->v and self->spikes. */
int lif_layer_forward(lif_layer *self, const float *input);
/* The same in parts, for a pipeline that passes each part on as soon as it is
 * ready: samples b0..b1-1 (input is still the whole batch's), parts in order
 * from 0 to the batch's end, each ending on a part boundary (self->parts) or
 * the batch's end; the step is done with the last. Products go by parts in
 * both forms (blas_sgemm_rows), so a part computed alone has the bits of the
 * whole batch's. */
int lif_layer_forward_rows(lif_layer *self, const float *input, int b0, int b1);

/* grad_in (batch x n_in) = dv * W, with W before this step's update; NULL to skip.
 * A sparse dv (masked errors) sums W's rows, a dense one goes through sgemm.
 * Layers below use it as dL/d(their spikes). */
void lif_layer_input_grad(const lif_layer *self, const float *dv, float *grad_in);
/* The same for samples b0..b1-1 (dv and grad_in are still the whole batch's). */
void lif_layer_input_grad_rows(const lif_layer *self, const float *dv, float *grad_in, int b0, int b1);

/* dv (batch x n_out) = g .* sigma'(v - threshold): the surrogate derivative
 * of the spike (paper eq. 3-4) applied to dL/dspikes g. */
void lif_layer_surrogate(const lif_layer *self, const float *g, float *dv);
/* The same for samples b0..b1-1 (g and dv are still the whole batch's). */
void lif_layer_surrogate_rows(const lif_layer *self, const float *g, float *dv, int b0, int b1);

/* dL/dW = mean over the batch of dv[b,m] * trace[b,m,j], then the optimiser
 * update of every weight (dv is dL/dV of this step, batch x n_out). */
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

/* The surrogate sigma'(x) = sigma(x) (1 - sigma(x)); 0 where it would be
 * denormal (|x| > 40), which keeps the hot loops off slow denormal paths. */
static inline float lif_surrogate_grad(float x)
{
    float ax = x < 0 ? -x : x;
    if (ax > 40.0f)
        return 0.0f;
    float e = expf(-ax);
    float d = 1.0f + e;
    return e / (d * d);
}

#endif
