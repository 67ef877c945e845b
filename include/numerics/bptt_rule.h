/* bptt_rule: backpropagation through time for one layer of LIF neurons.
 *
 * The layer's forward records, for every step of the window, its input, V
 * (before reset) and spikes. backward() then runs the window in reverse:
 *
 *   dV[s] = ext[s] + (1 - leak) (1 - S[s]) dX[s+1]     (dX[window] = 0)
 *   dX[s] = dV[s], or 0 where the clamp variant clamped V[s]
 *   dW    = (1 / batch) sum_s dX[s]^T input[s]         (one optimiser update)
 *   grad_in[s] = dX[s] W                               (for the layer below)
 *
 * ext[s] is the caller's dL/dV[s], or dL/dS[s] * sigma'(V[s] - Vth). The reset
 * is not differentiated (the spike that resets V carries no gradient through
 * the reset, as snnTorch's reset detached). Memory: window x batch x (n_in +
 * 3 n_out) floats. lif_layer owns one and calls it; nothing else does. */
#ifndef SPIKESYNTH_BPTT_RULE_H
#define SPIKESYNTH_BPTT_RULE_H

#include "numerics/lif_layer.h"

#include <stdbool.h>

typedef struct bptt_rule bptt_rule;

bptt_rule *bptt_rule_new(int n_in, int n_out, int max_batch, const learning_params *learn);
void bptt_rule_destroy(bptt_rule **self_p);

/* A batch starts: recording from step 0; w (n_out x n_in) is the layer's
 * weights as they are now (kept transposed for the event-driven product). */
void bptt_rule_begin_batch(bptt_rule *self, int batch, const float *w);
/* The layer's product z = input W^T for samples b0..b1-1 of this step (the
 * whole batch's arrays), recording the input. Binary sparse inputs go by
 * events (rows of W^T added per spike), others through sgemm in parts of
 * part_rows; the choice depends on the part's data alone. */
int bptt_rule_forward(bptt_rule *self, const float *input, int b0, int b1, const float *w, float *z,
                      int part_rows);
/* After the neurons' step: keeps v and spikes of samples b0..b1-1. The step
 * counts once b1 is the batch's end. */
void bptt_rule_record(bptt_rule *self, const float *v, const float *spikes, int b0, int b1);
int bptt_rule_steps(const bptt_rule *self);
/* See the header comment; g is steps x batch x n_out, grad_in steps x batch x
 * n_in or NULL (computed with w as it is). bptt_rule_update follows. */
int bptt_rule_backward(bptt_rule *self, const float *g, bool spike_grad, float *grad_in, const float *w,
                       const lif_params *lif);
/* dL/dW of the window backward() went through, the optimiser's update of w,
 * and recording starts again. */
int bptt_rule_update(bptt_rule *self, float *w, const optim_params *opt, optim_state *optim);

#endif
