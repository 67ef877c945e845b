/* lif_layer: a fully connected layer of leaky integrate-and-fire neurons with
 * its synapses, eligibility traces and optimiser (paper eq. 1-2, 9-17).
 *
 * Shapes: W is n_out x n_in (row m holds neuron m's synapses); per step the
 * layer takes an input frame of batch x n_in and produces the membrane
 * potential (before reset) and spikes, both batch x n_out.
 *
 * One time step is forward() then, when training, backward(). The trace of
 * synapse (m, j) in sample b is the input j filtered by (1 - leak) since
 * neuron m last reset. All neurons of a sample that last reset at the same step
 * share one filtered input vector, so the layer keeps one "trace row" per
 * (sample, reset step) that some neuron still uses, never the batch x n_out x
 * n_in tensor of the naive form; the values are the naive recurrence's, bit for
 * bit. The gradient of each weight is accumulated in registers and fed straight
 * to the optimiser (optim_apply): weights are updated at every step. */
#ifndef SPIKESYNTH_LIF_LAYER_H
#define SPIKESYNTH_LIF_LAYER_H

#include "optim.h"

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
    /* trace rows of n_in floats in pool[0 .. rows); row_of[b*n_out+m] is the
     * row neuron m of sample b uses; refs[r] counts its users (0 = free, and
     * then listed in free_rows); row_sample[r] is the sample it filters */
    float *pool;
    int pool_cap, rows, n_free;
    int *row_of, *refs, *row_sample, *free_rows;
    /* scratch for the gradient: per-neuron lists of (coefficient, trace row) */
    int *nz_start, *nz_cursor, *nz_row;
    float *nz_coef;
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

/* grad_in (batch x n_in) = dv * W, with W before this step's update; NULL to skip.
 * Layers below use it as dL/d(their spikes). */
void lif_layer_input_grad(const lif_layer *self, const float *dv, float *grad_in);

/* dv (batch x n_out) = g .* sigma'(v - threshold): the surrogate derivative
 * of the spike (paper eq. 3-4) applied to dL/dspikes g. */
void lif_layer_surrogate(const lif_layer *self, const float *g, float *dv);

/* dL/dW = mean over the batch of dv[b,m] * trace[b,m,j], then the optimiser
 * update of every weight (dv is dL/dV of this step, batch x n_out). */
int lif_layer_update(lif_layer *self, const float *dv);

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
