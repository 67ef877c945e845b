/* oracle: the naive two-layer spiking network, written straight from the
 * equations of the paper (see ../shared/notes/algorithm.md), with explicit
 * per-sample traces e[b][m][j] (batch x n_out x n_in per layer). It is slow on
 * purpose and shares no code with the library: it is what the fast path is
 * checked against. */
#ifndef SPIKESYNTH_TEST_ORACLE_H
#define SPIKESYNTH_TEST_ORACLE_H

#include <stdbool.h>

typedef struct {
    int n_in, n_h, n_out, batch;
    float leak, vth;
    bool clamp, shared_trace, mask;
    bool sgd;            /* else Adam */
    float lr, beta1, beta2, eps, wd;
    bool carry_moments;
} oracle_config;

typedef struct oracle oracle;

/* w1 (n_h x n_in) and w2 (n_out x n_h) are copied as the initial weights. */
oracle *oracle_new(const oracle_config *cfg, const float *w1, const float *w2);
void oracle_destroy(oracle **self_p);
void oracle_begin_batch(oracle *self);
/* One training step: x is batch x n_in, target batch x n_out. */
void oracle_step(oracle *self, const float *x, const float *target);
const float *oracle_w1(const oracle *self);
const float *oracle_w2(const oracle *self);
/* spikes of the last step, batch x n */
const float *oracle_s1(const oracle *self);
const float *oracle_s2(const oracle *self);
/* counts over all steps so far: hidden and output spikes, masked-out errors */
long oracle_hidden_spikes(const oracle *self);
long oracle_output_spikes(const oracle *self);
long oracle_masked(const oracle *self);

#endif
