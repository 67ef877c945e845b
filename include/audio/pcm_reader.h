/* pcm_reader: audio arriving on a file descriptor (standard input, a FIFO), as
 * interleaved s16 or float frames, handed out as soon as they arrive.
 *
 * The stream is a WAV stream when its first four bytes are "RIFF": the header
 * (RIFF/WAVE, "fmt ", other chunks skipped, then "data") gives the rate, the
 * channels and the format. PCM 16-bit is handed out as s16; PCM 8 (unsigned),
 * 24 and 32-bit and IEEE float 32/64 (also as WAVE_FORMAT_EXTENSIBLE) are
 * converted to float. A data size of 0 or 0xFFFFFFFF (streaming writers) means
 * "until the end"; otherwise the stated size is read, and what follows is
 * chunks again: a further "RIFF" header is the next recording (cat a.wav
 * b.wav), read in its own format; bytes after the last data that are no
 * chunk header (fewer than 8 at the end) are counted, not read, and a chunk
 * id that is no text is an error (a data size too small). A stream that
 * starts as another container libsndfile reads from files (Ogg, FLAC, AIFF,
 * AU, CAF, Wave64, RF64) is an error naming it, not noise. Anything else
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
#include <stdint.h>

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
 * arrived); 2: a further WAV header was read: the frames from the next call
 * on are a new recording, in pcm_reader_format() (which may differ); 0: end
 * of stream; -1: read error, or a malformed further header. */
int pcm_reader_read(pcm_reader *self, int timeout_ms, const void **data, size_t *n_frames);
/* WAV headers read so far (0: raw PCM), and bytes after the last recording's
 * data that belonged to none (ignored; worth a warning). */
unsigned pcm_reader_recordings(const pcm_reader *self);
uint64_t pcm_reader_trailing(const pcm_reader *self);

#endif
