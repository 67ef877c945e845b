/* rng: counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * A value is a pure function of (key, counter): no state to carry, so spikes
 * and initial weights do not depend on thread count, batch size or the order in
 * which samples are visited. Callers choose the counter layout; the usual one
 * is (stream, sample id, step, index). */
#ifndef SPIKESYNTH_RNG_H
#define SPIKESYNTH_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint32_t v[4]; } rng_block;

/* The Philox4x32-10 bijection of counter c under the 64-bit key. */
rng_block rng_philox(uint64_t key, rng_block c);

/* Uniform float in [0, 1) from a 32-bit word (24 significant bits, exact). */
static inline float rng_unit(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Fills out[0..n) with uniform [0,1) floats for counter (a, b, c, i/4). */
void rng_fill_uniform(uint64_t key, uint32_t a, uint32_t b, uint32_t c, float *out, int n);

/* Puts order[0..n) in a random order that depends on (seed, pass) only
 * (Fisher-Yates with counter (RNG_STREAM_SHUFFLE, pass, i, 0)). */
void rng_shuffle(uint64_t seed, uint32_t pass, uint32_t *order, size_t n);

/* Named streams keep the uses of one seed apart. */
enum rng_stream {
    RNG_STREAM_POISSON = 1,
    RNG_STREAM_INIT = 2,
    RNG_STREAM_SHUFFLE = 3,
    RNG_STREAM_PAIRING = 4,
    RNG_STREAM_NOISE = 5,   /* audio/perturb.h: white noise */
    RNG_STREAM_AUGMENT = 6, /* audio/augment.h: each utterance's perturbation */
};

#endif
