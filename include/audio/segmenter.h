/* segmenter: cuts a stream of mono samples into utterances by silence detection,
 * handing each one over as soon as it has ended.
 *
 * The stream is judged in windows of window_ms (10 ms). A window is loud when
 * its level (RMS in dB re full scale: a full-scale square wave is 0 dBFS, a
 * full-scale sine -3 dBFS; digital silence counts as -100) exceeds BOTH
 *  - the running noise floor plus threshold_db, where the floor is the 10th
 *    percentile of the window levels of the last floor_seconds. Speech
 *    has quiet windows in it, so the floor does not climb onto it as long as a
 *    tenth of the span is pause; a low percentile rather than the minimum, so a
 *    few odd windows (a dropout of digital silence) do not drag it down; and
 *  - min_level_dbfs, an absolute level (threshold_db = 0 turns the floor off,
 *    leaving only this one).
 * The stream's first second (or less, when it ends sooner) is the warm-up: its
 * windows are judged together once it is over, against the floor of all of
 * them, so that speech at the very start is compared with the pause after it,
 * not with itself. An utterance that ends within the warm-up is handed over at
 * its end (1 s), later than the usual min_silence_ms.
 * An utterance starts at a loud window (pad_ms earlier, not before the end of
 * the previous utterance) and ends pad_ms after its last loud window once
 * min_silence_ms of quiet windows followed it. Utterances shorter than
 * min_utterance_ms from the first to the last loud window (clicks) are dropped; one reaching max_utterance_ms is cut
 * there and the stream goes on as a new utterance. A partial last window is not
 * judged; segmenter_flush ends the stream and hands over an utterance in
 * progress. Times count samples pushed, from 0.
 *
 * The segmenter keeps only the current utterance and pad_ms before it, so a
 * stream may run forever. */
#ifndef SPIKESYNTH_SEGMENTER_H
#define SPIKESYNTH_SEGMENTER_H

#include <stddef.h>
#include <stdint.h>

typedef struct segmenter_params {
    double window_ms;        /* 10 */
    double threshold_db;     /* 10: above the running noise floor */
    double min_level_dbfs;   /* -60: and above this absolute level */
    double floor_seconds;    /* 5: span of the noise-floor percentile */
    double min_silence_ms;   /* 300: quiet time that ends an utterance */
    double min_utterance_ms; /* 100: utterances loud for less are dropped */
    double max_utterance_ms; /* 2000: longer ones are cut */
    double pad_ms;           /* 50: kept before the first and after the last loud window */
} segmenter_params;

typedef struct segmenter segmenter;

/* Called with each utterance: n samples (valid during the call), its start and
 * end in seconds from the start of the stream. Return -1 (after err_set) to
 * make the push fail. */
typedef int segmenter_fn(void *arg, const float *x, size_t n, double start_s, double end_s);

segmenter_params segmenter_params_default(void);
/* NULL with err_msg() on a bad rate or parameters (p NULL: the defaults). */
segmenter *segmenter_new(double fs, const segmenter_params *p);
void segmenter_destroy(segmenter **self_p);

/* Feeds n samples; calls fn for every utterance that ends within them. */
int segmenter_push(segmenter *self, const float *x, size_t n, segmenter_fn *fn, void *arg);
/* End of stream: hands over the utterance in progress (if long enough), then
 * starts afresh (times restart at 0). */
int segmenter_flush(segmenter *self, segmenter_fn *fn, void *arg);

/* The current noise floor in dBFS (NAN before the first window), and samples
 * pushed so far (for logs). */
double segmenter_floor_dbfs(segmenter *self);
uint64_t segmenter_position(const segmenter *self);

#endif
