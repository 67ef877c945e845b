/* audio: sound in, as mono float samples at a known rate.
 *
 * Two ways in, both ending in the same checks and the same conversion:
 *  - whole recordings (any container libsndfile opens, from a path or from an
 *    encoded file held in memory): audio_read, audio_read_memory;
 *  - raw PCM pushed chunk by chunk (float or s16, interleaved): audio_stream.
 * Channels are mixed down by averaging. Integer formats are scaled to [-1, 1)
 * (libsndfile's normalisation), floats pass through unchanged.
 * Refused, with an error naming the source: unreadable or unknown formats, no
 * samples, NaN or infinite samples, recordings longer than max_seconds.
 *
 * Resampling uses libsamplerate. Default quality is SRC_SINC_MEDIUM_QUALITY:
 * about 121 dB SNR and 90% bandwidth, far below what the cochlear model resolves,
 * at roughly a third of the cost of SRC_SINC_BEST_QUALITY (which can be asked for).
 * Pushing a signal through audio_stream in chunks gives the same samples as
 * resampling it in one go. */
#ifndef SPIKESYNTH_AUDIO_H
#define SPIKESYNTH_AUDIO_H

#include <stdbool.h>
#include <stddef.h>

enum audio_quality {
    AUDIO_QUALITY_MEDIUM = 0, /* SRC_SINC_MEDIUM_QUALITY (default) */
    AUDIO_QUALITY_BEST = 1,   /* SRC_SINC_BEST_QUALITY */
    AUDIO_QUALITY_FAST = 2,   /* SRC_SINC_FASTEST */
};

#define AUDIO_DEFAULT_MAX_SECONDS 60.0

typedef struct audio_opts {
    double target_fs;   /* resample to this rate; 0 keeps the file's rate */
    double max_seconds; /* longest accepted recording; 0 means the default (60 s) */
    enum audio_quality quality;
    bool allow_truncated; /* read a file shorter than its header says (else an error) */
} audio_opts;

/* A recording: n mono samples at fs Hz. The fields are the interface. */
typedef struct audio {
    float *samples;
    size_t n;
    double fs;
} audio;

/* Reads a whole file; opts may be NULL (native rate, 60 s limit). NULL on error. */
audio *audio_read(const char *path, const audio_opts *opts);
/* Same, from an encoded file (WAV, FLAC, ...) of len bytes in memory; name is
 * used in error messages only. */
audio *audio_read_memory(const void *data, size_t len, const char *name,
                         const audio_opts *opts);
/* Takes a copy of n mono samples at fs (checked like a file); name for errors. */
audio *audio_from_samples(const float *x, size_t n, double fs, const char *name,
                          const audio_opts *opts);
/* Resamples in place to fs (no-op when already there). */
int audio_resample(audio *self, double fs, enum audio_quality quality);
void audio_destroy(audio **self_p);
/* Writes the recording as a WAV of `channels` identical channels (1..64),
 * 16-bit PCM (clipped to [-1, 1)) or, with float32, 32-bit float; under a
 * temporary name, then renamed. 0, or -1 with err_msg() naming the file. */
int audio_write_wav(const audio *self, const char *path, int channels, bool float32);

/* ---- streaming: raw PCM chunks in, mono float chunks out ---------------- */

enum audio_format { AUDIO_F32 = 0, AUDIO_S16 = 1 };

typedef struct audio_stream audio_stream;

/* in_fs and channels describe the pushed PCM; out_fs 0 (or equal to in_fs)
 * means no resampling. name is used in error messages. */
audio_stream *audio_stream_new(double in_fs, int channels, enum audio_format format,
                               double out_fs, enum audio_quality quality,
                               const char *name);
/* Converts n_frames interleaved frames (s16: int16_t, f32: float). On success
 * *out points at *n_out mono samples owned by the stream, valid until the next
 * call; a resampler may hold samples back, so *n_out can be 0. Pass last = 1
 * with the final chunk (which may be empty) to flush them. NaN/inf input is an
 * error naming the stream and the sample's position. */
int audio_stream_push(audio_stream *self, const void *data, size_t n_frames, int last,
                      const float **out, size_t *n_out);
/* Output rate (in_fs when not resampling). */
double audio_stream_fs(const audio_stream *self);
/* Forgets all history, as if new. */
int audio_stream_reset(audio_stream *self);
void audio_stream_destroy(audio_stream **self_p);

#endif
