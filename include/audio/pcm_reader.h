/* pcm_reader: audio arriving on a file descriptor (standard input, a FIFO), as
 * interleaved s16 or float frames, handed out as soon as they arrive.
 *
 * The stream is a WAV stream when its first four bytes are "RIFF": the header
 * (RIFF/WAVE, "fmt ", other chunks skipped, then "data") gives the rate, the
 * channels and the format. PCM 16-bit is handed out as s16; PCM 8 (unsigned),
 * 24 and 32-bit and IEEE float 32/64 (also as WAVE_FORMAT_EXTENSIBLE) are
 * converted to float. A data size of 0 or 0xFFFFFFFF (streaming writers) means
 * "until the end"; otherwise reading stops after the stated size. Anything else
 * is raw PCM in the format the caller gives (s16 or f32, little-endian, as on
 * the hosts we run on). Partial frames are held back until complete.
 *
 * Reads wait at most timeout_ms, so a caller can keep its links alive while a
 * live source is quiet. */
#ifndef SPIKESYNTH_PCM_READER_H
#define SPIKESYNTH_PCM_READER_H

#include "audio/audio.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    enum audio_format format; /* of the frames handed out: AUDIO_S16 or AUDIO_F32 */
    double fs;
    int channels;
} pcm_format;

typedef struct pcm_reader pcm_reader;

/* Reads from fd (not closed by the reader); raw: the format of a raw stream.
 * name is used in error messages. */
pcm_reader *pcm_reader_new(int fd, const pcm_format *raw, const char *name);
void pcm_reader_destroy(pcm_reader **self_p);

/* Reads the header (WAV) or the first bytes (raw). 1: the format is known;
 * 0: not yet (nothing arrived within timeout_ms); -1: error (a malformed or
 * unsupported WAV header, an empty stream) in err_msg(). */
int pcm_reader_start(pcm_reader *self, int timeout_ms);
/* After start returned 1. */
const pcm_format *pcm_reader_format(const pcm_reader *self);
bool pcm_reader_is_wav(const pcm_reader *self);

/* Waits up to timeout_ms for data. 1: *n_frames interleaved frames at *data
 * (owned by the reader, valid until the next call; n may be 0 when nothing
 * arrived); 0: end of stream; -1: read error. */
int pcm_reader_read(pcm_reader *self, int timeout_ms, const void **data, size_t *n_frames);

#endif
