/* cochleagram: the fixed-size time-frequency image a front end (cochlea or
 * melbank) hands to the network, as in the paper: the utterance's frames
 * divided by their maximum, so values lie in [0, 1], then zero-padded or cut to
 * a fixed number of frames (the paper: 1500 frames of 39 channels).
 * Layout in and out: frames x channels, row-major (see include/cochlea.h).
 * Input values are non-negative (both front ends guarantee it). */
#ifndef SPIKESYNTH_COCHLEAGRAM_H
#define SPIKESYNTH_COCHLEAGRAM_H

#include <stdbool.h>
#include <stddef.h>

#define COCHLEAGRAM_PAPER_FRAMES 1500

/* Divides n_frames x n_channels values in place by their maximum; an all-zero
 * (silent) image stays zero. Returns the maximum it divided by (0 if none),
 * or -1 with err_msg() set on a negative or non-finite value. */
double cochleagram_normalise(float *x, size_t n_frames, int n_channels);
/* Copies the first min(n_frames, out_frames) frames of x into out, which holds
 * out_frames x n_channels floats, and zero-fills the rest. */
void cochleagram_fit(const float *x, size_t n_frames, int n_channels, float *out,
                     size_t out_frames);
/* Both: normalises by the maximum over the WHOLE utterance (frames beyond
 * out_frames included), then fits; x is left untouched. 0 or -1 (err_msg()). */
int cochleagram_make(const float *x, size_t n_frames, int n_channels, float *out,
                     size_t out_frames);

/* Per-channel normalisation (spectrogram --norm channel): each channel divided
 * by its own maximum over the utterance, so that a voice whose energy sits in
 * other channels than the training speakers' (or a room that tilts the
 * spectrum) still gives every channel's pattern its full range. A channel whose
 * maximum is under COCHLEAGRAM_CHANNEL_FLOOR of the image's is divided by that
 * floor instead: channels that only carry the cascade's leakage or noise stay
 * dim rather than being blown up to full scale. */
#define COCHLEAGRAM_CHANNEL_FLOOR 0.1
int cochleagram_make_per_channel(const float *x, size_t n_frames, int n_channels, float *out,
                                 size_t out_frames);

/* How an utterance fills the fixed frames (spectrogram --fit). PAD: from its
 * start, zero-padded or cut (the paper). STRETCH: from its first to its last
 * loud frame (some channel at least COCHLEAGRAM_LOUD of the image's maximum),
 * resampled linearly to the frame count, so that a faster or slower voice, or
 * one that starts later, fills the same frames. */
typedef enum { COCHLEAGRAM_PAD, COCHLEAGRAM_STRETCH } cochleagram_fit_mode;
#define COCHLEAGRAM_LOUD 0.1
/* STRETCH's fit: out holds out_frames x n_channels; an utterance with fewer
 * than two loud frames (or out_frames < 2) is fitted as PAD. */
void cochleagram_stretch(const float *x, size_t n_frames, int n_channels, float *out,
                         size_t out_frames);
/* Either normalisation (per_channel or by the maximum) after either fit. */
int cochleagram_make_as(const float *x, size_t n_frames, int n_channels, float *out,
                        size_t out_frames, bool per_channel, cochleagram_fit_mode fit);

#endif
