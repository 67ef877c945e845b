/* poisson: rate coding of intensities in [0, 1] into spike frames.
 *
 * Input neuron j of sample s spikes at step t with probability p_j * r_max
 * (paper, section 2.1). The draw is rng_philox keyed by the seed with counter
 * (RNG_STREAM_POISSON, s, t, j/4): the same seed gives the same spikes on any
 * machine, thread count, batch size or order. */
#ifndef SPIKESYNTH_POISSON_H
#define SPIKESYNTH_POISSON_H

#include <stdint.h>

typedef struct {
    uint64_t seed;
    float r_max; /* spike probability of an intensity of 1 per step */
} poisson_params;

/* spikes[b*n + j] = 1 or 0 for step t, for `batch` samples of n intensities. */
void poisson_encode(const poisson_params *p, const float *intensity, const uint32_t *sample_ids,
                    int batch, int n, int step, float *spikes);

#endif
