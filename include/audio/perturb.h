/* perturb: the ways a recording differs from FSDD's clean 8 kHz files, made on
 * purpose: for the robustness table (bin/audio-perturb, scripts/robustness) and
 * for training-time augmentation (include/audio/augment.h).
 *
 *  - speed: played `factor` times faster (tempo and pitch together, like a tape
 *    or sox's `speed`): resampled by libsamplerate to fs / factor and labelled
 *    fs again, so n samples become about n / factor;
 *  - gain in dB;
 *  - shift: silence put before the speech (a later onset), or its first
 *    samples dropped (an earlier one);
 *  - additive noise at a signal-to-noise ratio: the noise is scaled so that
 *    10 log10(P_signal / P_noise) = snr_db, both powers the mean square over the
 *    recording's length (the noise is looped when shorter);
 *  - white noise (Gaussian, from the Philox stream RNG_STREAM_NOISE) and babble
 *    (several talkers summed, each at the same power).
 * Resampling to another rate is audio_resample (include/audio/audio.h). */
#ifndef SPIKESYNTH_PERTURB_H
#define SPIKESYNTH_PERTURB_H

#include "audio/audio.h"

#include <stddef.h>
#include <stdint.h>

/* Mean square of n samples (0 for none). */
double perturb_power(const float *x, size_t n);

/* Plays a factor times faster (0.25..4). 0, or -1 with err_msg(). */
int perturb_speed(audio *a, double factor, enum audio_quality quality);

/* Multiplies every sample by 10^(db / 20). */
void perturb_gain(float *x, size_t n, double db);

/* shift > 0: that many samples of silence first; < 0: the first -shift samples
 * dropped (at least one sample is kept). 0, or -1 with err_msg() (no memory). */
int perturb_shift(audio *a, long shift);

/* Adds noise[(offset + i) mod n_noise] * g to x[i], g chosen for snr_db.
 * -1 with err_msg() when the noise is silent or x is (no ratio to keep). */
int perturb_add_noise(float *x, size_t n, const float *noise, size_t n_noise, size_t offset,
                      double snr_db);

/* n Gaussian samples of unit variance, a function of (seed, stream) alone. */
void perturb_white(float *out, size_t n, uint64_t seed, uint32_t stream);

/* Babble: the k talkers' samples (looped when shorter than n) summed into
 * out[0..n), each scaled to unit power first. -1 with err_msg() when k is 0
 * or every talker is silent. */
int perturb_babble(float *out, size_t n, const audio *const *talkers, size_t k);

#endif
