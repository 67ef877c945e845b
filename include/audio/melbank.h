/* melbank: a log-mel filterbank, the cheaper alternative to the cochlea.
 *
 * Frames come from a short-time Fourier transform (periodic Hann window of win
 * samples, zero-padded to n_fft, power spectrum) summed through n_mels
 * triangular filters equally spaced on the HTK mel scale between f_min and
 * f_max. A frame's value is its band energy in dB above floor_db (0 dB being a
 * full-scale sine), clipped at 0: silence gives exactly 0 and everything is
 * non-negative, so cochleagram_make normalises it like the cochlea's output.
 *
 * Same output layout and frame grid as the cochlea (include/cochlea.h):
 * frames x channels, row-major; channel 0 is the HIGHEST band; frame t ends at
 * input sample (t + 1) * hop - 1 (the window looks back over win samples, zeros
 * before the start), so n samples give floor(n / hop) frames, and with hop equal
 * to the cochlea's decimation both front ends yield the same frame count.
 * Chunked processing gives exactly the frames of one call. */
#ifndef SPIKESYNTH_MELBANK_H
#define SPIKESYNTH_MELBANK_H

#include <stddef.h>

typedef struct melbank_params {
    int n_mels;      /* bands: 39 (the paper's channel count) */
    int win;         /* window length in samples; 0: 25 ms */
    int hop;         /* samples between frames: 10 (the cochlea's decimation) */
    int n_fft;       /* FFT length, a power of two >= win; 0: the smallest */
    double f_min;    /* lowest band edge: 60 Hz */
    double f_max;    /* highest band edge; 0: fs / 2 */
    double floor_db; /* level mapped to 0: -80 dB re a full-scale sine */
} melbank_params;

typedef struct melbank melbank;

melbank_params melbank_params_default(void);
/* p NULL means the defaults. NULL with err_msg() set on bad parameters. */
melbank *melbank_new(double fs, const melbank_params *p);
int melbank_n_channels(const melbank *self);
/* n_channels band centre frequencies in Hz, decreasing. */
const double *melbank_centre_freqs(const melbank *self);
int melbank_hop(const melbank *self);
/* Feeds n samples; *out points at *n_frames frames (frames x channels), owned
 * by self, valid until the next call. Non-finite input is an error. */
int melbank_process(melbank *self, const float *x, size_t n, const float **out,
                    size_t *n_frames);
void melbank_reset(melbank *self);
void melbank_destroy(melbank **self_p);

#endif
