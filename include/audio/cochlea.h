/* cochlea: Lyon's passive cochlear model (Lyon 1982; Slaney, Apple TR #13, 1988),
 * the "spectrogram" of Roy, Panda & Roy (2019). Written from the published
 * equations; see docs/frontend.md for the model and its parameters.
 *
 * Per input sample: pre-emphasis and a top-frequency front filter, then a cascade
 * of second-order stages (a zero pair above a resonant pole pair, centre
 * frequencies falling from near Nyquist by step * sqrt(cf^2 + Eb^2) / Q each),
 * every stage tapped and half-wave rectified; four cascaded, neighbour-coupled
 * AGC stages; rectified differences of adjacent channels; a 2-pole low-pass and
 * decimation. Channel count: 39 at 12.5 kHz, 32 at 8 kHz (Q 8, step 0.5).
 *
 * Output layout: frames x channels, row-major (one frame is n_channels
 * contiguous floats), so a stream can hand out frame after frame. Channel 0 is
 * the HIGHEST frequency (cascade order); centre frequencies decrease with the
 * channel index. Frame t is the low-passed model output at input sample
 * (t + 1) * decimation - 1, so n samples give floor(n / decimation) frames in
 * total, however they are split into chunks: processing chunk by chunk gives
 * exactly (bit for bit) the frames of one call on the whole signal.
 * Input is expected in [-1, 1] (full scale); the AGC targets assume that. */
#ifndef SPIKESYNTH_COCHLEA_H
#define SPIKESYNTH_COCHLEA_H

#include <stddef.h>

typedef struct cochlea_params {
    double ear_q;      /* quality of each stage: 8 */
    double step;       /* channel spacing in bandwidths: 0.5 (paper's code; the
                          toolbox default would be ear_q / 32 = 0.25) */
    int decimation;    /* output one frame per this many samples: 10 */
    int agc;           /* 1: four AGC stages on */
    int differ;        /* 1: channel differencing on */
    double tau_factor; /* decimation low-pass time constant, in units of
                          decimation / fs: 3 */
} cochlea_params;

typedef struct cochlea cochlea;

/* The defaults listed above. */
cochlea_params cochlea_params_default(void);
/* Designs the filters for sample rate fs; p NULL means the defaults. NULL with
 * err_msg() set when the parameters leave no channel or are out of range. */
cochlea *cochlea_new(double fs, const cochlea_params *p);
int cochlea_n_channels(const cochlea *self);
/* n_channels centre (pole) frequencies in Hz, decreasing. */
const double *cochlea_centre_freqs(const cochlea *self);
double cochlea_fs(const cochlea *self);
int cochlea_decimation(const cochlea *self);
/* Feeds n samples; *out points at *n_frames frames (frames x channels), owned
 * by self and valid until the next call. Filter, AGC and decimation state carry
 * over between calls. Non-finite input is an error. */
int cochlea_process(cochlea *self, const float *x, size_t n, const float **out,
                    size_t *n_frames);
/* Back to silence, as if new. */
void cochlea_reset(cochlea *self);
void cochlea_destroy(cochlea **self_p);

/* Channel count that cochlea_new would give, without building it (0 when none). */
int cochlea_count_channels(double fs, const cochlea_params *p);

#endif
