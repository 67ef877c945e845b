/* augment: training-time augmentation of recordings (spectrogram --augment),
 * so that the audiocoder sees voices a little faster or slower, louder or
 * softer, later or earlier and in noise, not only FSDD's clean takes.
 *
 * Each utterance's perturbation is drawn from (seed, epoch, sample id) alone
 * (Philox stream RNG_STREAM_AUGMENT), so a run is the same bit for bit for a
 * seed whatever the thread count, and every epoch sees a new draw:
 *  - speed: a factor uniform in [speed_min, speed_max] (perturb_speed);
 *  - gain: uniform in +-gain_db;
 *  - shift: silence before the speech, uniform in [0, shift_ms] (FSDD's files
 *    start at the word; a live utterance comes with 50 ms before it, a file
 *    from elsewhere with more);
 *  - noise: with probability noise_p, the noise the caller gives (other
 *    training recordings, summed as babble) at an SNR uniform in
 *    [snr_min, snr_max] dB;
 *  - white: with probability noise_p, white noise at an SNR uniform in the
 *    same range (drawn apart from noise: both may come);
 *  - mask: on the front end's image, not the sound (SpecAugment's masks): a
 *    band of up to mask_channels adjacent channels and a span of up to
 *    mask_frames frames set to 0, each width and place uniform.
 * Applied in that order: speed, shift, gain, noise, white; mask on the image. */
#ifndef SPIKESYNTH_AUGMENT_H
#define SPIKESYNTH_AUGMENT_H

#include "audio/audio.h"

#include <stddef.h>
#include <stdint.h>

enum { AUGMENT_SPEED = 1u, AUGMENT_GAIN = 2u, AUGMENT_NOISE = 4u, AUGMENT_SHIFT = 8u, AUGMENT_WHITE = 16u,
       AUGMENT_MASK = 32u };

#define AUGMENT_NOISE_TALKERS 3 /* recordings summed into one utterance's noise */

typedef struct augment_params {
    unsigned what; /* AUGMENT_* bits; 0: none */
    double speed_min, speed_max;
    double gain_db;
    double shift_ms;
    double noise_p, snr_min, snr_max;
    double mask_channels, mask_frames; /* widest masks, as fractions of the image's */
} augment_params;

/* speed 0.9-1.1, gain +-6 dB, shift 0-100 ms, noise half the time at 5-30 dB,
 * masks up to a quarter of the channels and a sixth of the frames. */
augment_params augment_params_default(void);

/* "speed,noise,gain,shift" (any subset, any order), "" or "none": the bits in
 * *what. -1 with err_msg() naming an unknown word. */
int augment_parse(const char *list, unsigned *what);

/* The k-th of the noise recordings to use for (seed, epoch, id): an index in
 * [0, n). */
uint32_t augment_pick(uint64_t seed, uint32_t epoch, uint32_t id, uint32_t k, uint32_t n);

/* Perturbs a in place. noise (n_noise samples at a->fs, unit power or any) is
 * used only when the draw says so; it may be NULL without AUGMENT_NOISE.
 * 0, or -1 with err_msg(). */
int augment_apply(const augment_params *p, audio *a, uint64_t seed, uint32_t epoch, uint32_t id,
                  const float *noise, size_t n_noise);

/* AUGMENT_MASK on an image of frames x channels (value t * channels + c),
 * in place; nothing without the bit. */
void augment_mask(const augment_params *p, float *image, size_t frames, int channels, uint64_t seed,
                  uint32_t epoch, uint32_t id);

#endif
