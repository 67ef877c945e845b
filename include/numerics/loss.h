/* loss: the masked membrane-potential loss of the output layer (paper eq. 5-9).
 *
 *   O = Vth * target            desired potential: Vth where the target spiked
 *   mask = target XOR spikes    only the neurons whose spike was wrong
 *   E = mask .* (O - V)         L = 0.5 |E|^2,  dL/dV = -E
 *
 * With the mask off every neuron is steered (the paper's Figure 4A ablation). */
#ifndef SPIKESYNTH_LOSS_H
#define SPIKESYNTH_LOSS_H

#include <stdbool.h>
#include <stdint.h>

/* Running sums over steps and batches; zero-initialise, then add. */
typedef struct {
    double loss;          /* sum of 0.5 |E|^2 over samples and steps */
    int64_t entries;      /* neuron-steps seen */
    int64_t masked_out;   /* entries whose error the mask removed */
    int64_t out_spikes;   /* output spikes */
    int64_t target_spikes;
    int64_t sample_steps; /* samples x steps */
} loss_stats;

/* v, spikes, target: batch x n. Writes dv = dL/dV (batch x n); adds to stats
 * when it is not NULL. */
void loss_membrane(const float *v, const float *spikes, const float *target, int batch, int n,
                   float vth, bool mask, float *dv, loss_stats *stats);

/* The sums added since `before` was taken (a batch's, from running sums). */
loss_stats loss_stats_since(const loss_stats *now, const loss_stats *before);

/* Mean loss per sample and step, and the fraction of entries masked out. */
double loss_stats_mean(const loss_stats *s);
double loss_stats_masked_fraction(const loss_stats *s);

#endif
