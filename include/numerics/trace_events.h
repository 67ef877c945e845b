/* trace_events: the traces' gradient from the input events themselves, for
 * layers whose inputs are sparse spikes (trace_rule's other kernel).
 *
 * The trace of neuron m of sample b at step t is the input filtered since
 * the neuron last reset, at step start(b, m):
 *     e[b,m,:] = sum over s = start .. t of (1 - leak)^(t - s) x_b(s),
 * so the gradient dL/dW[m,j] = sum_b dv[b,m] e[b,m,j] is a sum over the
 * nonzero inputs x_b(s)[j], each adding x_b(s)[j] A_s[b,:] with the step
 * coefficients
 *     A_s[b,m] = dv[b,m] (1 - leak)^(t - s)  where start(b,m) <= s, else 0.
 * A row of A over a block of neurons stays in vector registers while it is
 * added to every input it touched, so the work follows the input spikes
 * (about 13% of MNIST's pixels) and not n_in, with no double-precision
 * trace histories and no per-neuron indirection. Inputs that are 1 where
 * nonzero (spikes) are added without the multiply.
 *
 * Invariant: every weight's sum runs over blocks of 8 samples in order, then
 * steps in order, then the block's samples in order: the same on any thread
 * count and for any split of the batch into parts on multiples of 8. */
#ifndef SPIKESYNTH_TRACE_EVENTS_H
#define SPIKESYNTH_TRACE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_EVENTS_BLOCK 8 /* samples per block: one bit each of an input's mask */

typedef struct trace_events trace_events;

/* NULL with err_msg() set on no memory. */
trace_events *trace_events_new(int n_in, int n_out, int max_batch);
void trace_events_destroy(trace_events **self_p);

void trace_events_begin_batch(trace_events *self, int batch);

/* Records step `step`'s input of samples b0..b1-1 (input: batch x n_in, parts
 * of a step in order from b0 = 0); *nonzero gets the count of its nonzero
 * inputs. */
int trace_events_record(trace_events *self, const float *input, int step, int b0, int b1, long *nonzero);

/* Adds the gradient of the neurons [m0, m0 + nm) over the samples of [b0, b1)
 * at step t into g (n_in rows of stride g_stride floats, neuron m at column
 * m - m0). dv and start are batch x n_out; decay[d] = (1 - leak)^d for
 * d <= t. m0 and g_stride are multiples of trace_events_width(), nm at most
 * trace_events_max_neurons(). Reentrant: threads use their own g and a. */
void trace_events_add(const trace_events *self, const float *dv, const int *start,
                      const float *decay, int t, int b0, int b1, int m0, int nm, float *g,
                      int g_stride, float *a);

/* Sample b's inputs of steps 0..t as recorded, into x ((t + 1) x n_in). */
void trace_events_inputs(const trace_events *self, int b, int t, float *x);

int trace_events_width(void);       /* floats per vector on this build */
int trace_events_max_neurons(void); /* neurons per trace_events_add */
/* floats of the scratch `a` of one trace_events_add at step t */
size_t trace_events_scratch(int t);

#endif
