/* trace_rule: the paper's learning rule for one layer of LIF neurons:
 * eligibility traces (eq. 9-17) and an optimiser update at every step.
 *
 * The trace of synapse (m, j) in sample b is input j filtered by (1 - leak)
 * since neuron m last reset. All neurons of a sample that last reset at the
 * same step share that vector, so the rule keeps one "trace row" per (sample,
 * reset step) still in use, never the batch x n_out x n_in tensor of the naive
 * form, and touches a row only where the gradient needs it (the rows
 * kernel); or it sums the gradient over the input spikes themselves
 * (trace_events.h, the events kernel). Either way each weight's gradient is
 * summed in a fixed order, and the optimiser then runs over W row by row.
 * lif_layer owns one and calls it; nothing else does. */
#ifndef SPIKESYNTH_TRACE_RULE_H
#define SPIKESYNTH_TRACE_RULE_H

#include "numerics/lif_neuron.h"
#include "numerics/optim.h"

/* How the traces' gradient is computed; all give the gradient to float
 * rounding, each kernel its own bits (tests force each one). */
typedef enum {
    TRACE_KERNEL_AUTO = 0,   /* events while the steps' inputs are few, then rows */
    TRACE_KERNEL_ROWS = 1,   /* trace rows (trace_rule.c), any input */
    TRACE_KERNEL_EVENTS = 2, /* the input events (trace_events.c), where inputs are 0/1 */
} trace_kernel;

typedef struct trace_rule trace_rule;

/* NULL with err_msg() set on no memory. */
trace_rule *trace_rule_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                           trace_kernel kernel);
void trace_rule_destroy(trace_rule **self_p);

/* A batch of `batch` samples starts: every trace is 0. */
void trace_rule_begin_batch(trace_rule *self, int batch);

/* Before the layer's forward of samples b0..b1-1 (parts in order): input is
 * this step's (batch x n_in), prev_spikes and n_spikes the layer's spikes and
 * their count per sample at the last step. */
int trace_rule_forward(trace_rule *self, const float *input, const float *prev_spikes,
                       const int *n_spikes, int b0, int b1);

/* dL/dW = mean over the batch of dv[b,m] * trace[b,m,j] for samples b0..b1-1
 * (parts in order from 0, each ending on a multiple of 8 but the last), then,
 * with the last part, the optimiser update of w (n_out x n_in). */
int trace_rule_update_rows(trace_rule *self, const float *dv, int b0, int b1, float *w,
                           const optim_params *opt, optim_state *optim);

/* Updates so far by each kernel (a test's and a benchmark's view). */
void trace_rule_kernel_steps(const trace_rule *self, long *rows, long *events, long *sparse);

#endif
