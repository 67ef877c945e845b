/* segmenter: silence-based utterance segmentation (see include/segmenter.h).
 * Invariants: buf holds samples [buf_start, buf_start + buf_len) of the stream;
 * every window up to `judged` (a multiple of W) has been measured, and up to
 * `decided` (<= judged) run through the utterance state machine; they differ
 * only in the warm-up, the stream's first WARMUP_MS, whose windows wait until
 * the floor has seen all of them; while in an utterance, buf_start <= utt_start. */
#include "audio/segmenter.h"

#include "core/err.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SILENCE_DB -100.0
#define FLOOR_PERCENTILE 10.0
#define WARMUP_MS 1000.0
#ifndef WARMUP_PERCENTILE
#define WARMUP_PERCENTILE 10.0
#endif

struct segmenter {
    double fs;
    segmenter_params p;
    size_t W, pad, min_silence, min_len, max_len; /* in samples */
    float *buf;
    size_t buf_len, buf_cap;
    uint64_t buf_start, judged, decided;
    size_t n_warm; /* windows of the warm-up (0: none) */
    bool in_utt;
    uint64_t utt_start, loud_start, last_loud_end, prev_end;
    double *ring; /* levels of the last n_filled (<= n_ring) windows */
    double *sorted; /* scratch for the percentile */
    size_t n_ring, n_filled, ring_pos;
};

segmenter_params segmenter_params_default(void)
{
    return (segmenter_params){.window_ms = 10,
                              .threshold_db = 10,
                              .min_level_dbfs = -60,
                              .floor_seconds = 5,
                              .min_silence_ms = 300,
                              .min_utterance_ms = 100,
                              .max_utterance_ms = 2000,
                              .pad_ms = 50};
}

static size_t ms_to_samples(double ms, double fs) { return (size_t)llround(ms * fs / 1000.0); }

segmenter *segmenter_new(double fs, const segmenter_params *p)
{
    segmenter_params d = p ? *p : segmenter_params_default();
    if (!(fs >= 100 && fs <= 1e7)) {
        err_set("segmenter: sample rate %g Hz is out of range", fs);
        return NULL;
    }
    if (!(d.window_ms > 0) || !(d.floor_seconds > 0) || !(d.threshold_db >= 0) ||
        !(d.min_silence_ms >= d.window_ms) || !(d.min_utterance_ms >= 0) ||
        !(d.max_utterance_ms > d.min_utterance_ms) || !(d.pad_ms >= 0) ||
        !isfinite(d.min_level_dbfs) || d.max_utterance_ms > 3600e3) {
        err_set("segmenter: bad parameters (window %g ms, threshold %g dB, min silence %g ms, "
                "utterance %g..%g ms, pad %g ms): windows, floor span and silence must be "
                "positive, silence at least a window, min < max",
                d.window_ms, d.threshold_db, d.min_silence_ms, d.min_utterance_ms,
                d.max_utterance_ms, d.pad_ms);
        return NULL;
    }
    segmenter *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("segmenter: out of memory");
        return NULL;
    }
    self->fs = fs;
    self->p = d;
    self->W = ms_to_samples(d.window_ms, fs);
    if (self->W < 1)
        self->W = 1;
    self->min_silence = ms_to_samples(d.min_silence_ms, fs);
    self->pad = ms_to_samples(d.pad_ms, fs);
    if (self->pad > self->min_silence)
        self->pad = self->min_silence; /* the tail must be known when the utterance ends */
    self->min_len = ms_to_samples(d.min_utterance_ms, fs);
    self->max_len = ms_to_samples(d.max_utterance_ms, fs);
    self->n_ring = (size_t)ceil(d.floor_seconds * 1000.0 / d.window_ms);
    self->n_warm = (size_t)ceil(WARMUP_MS / d.window_ms);
    if (self->n_warm > self->n_ring)
        self->n_warm = self->n_ring;
    if (d.threshold_db <= 0)
        self->n_warm = 0; /* no floor, nothing to wait for */
    if (!(self->ring = malloc(self->n_ring * sizeof *self->ring)) ||
        !(self->sorted = malloc(self->n_ring * sizeof *self->sorted))) {
        err_set("segmenter: out of memory");
        segmenter_destroy(&self);
        return NULL;
    }
    return self;
}

void segmenter_destroy(segmenter **self_p)
{
    segmenter *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->buf);
    free(self->ring);
    free(self->sorted);
    free(self);
    *self_p = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The pct-th percentile of the levels seen in the span: robust to a few odd
 * windows (a dropout of digital silence) that a plain minimum is not. */
static double level_percentile(segmenter *self, double pct)
{
    if (self->n_filled == 0)
        return NAN;
    memcpy(self->sorted, self->ring, self->n_filled * sizeof *self->sorted);
    qsort(self->sorted, self->n_filled, sizeof *self->sorted, cmp_double);
    return self->sorted[(size_t)((double)(self->n_filled - 1) * pct / 100.0)];
}

static double noise_floor(segmenter *self) { return level_percentile(self, FLOOR_PERCENTILE); }

double segmenter_floor_dbfs(segmenter *self) { return noise_floor(self); }

uint64_t segmenter_position(const segmenter *self) { return self->buf_start + self->buf_len; }

/* Hands samples [a, b) over when its loud part (from loud_start to
 * last_loud_end, or all of it after a forced cut) is long enough. */
static int emit(segmenter *self, uint64_t a, uint64_t b, bool forced, segmenter_fn *fn, void *arg)
{
    self->prev_end = b;
    uint64_t from = forced || self->loud_start < a ? a : self->loud_start;
    uint64_t to = forced || self->last_loud_end > b ? b : self->last_loud_end;
    if (b <= a || to <= from || to - from < self->min_len)
        return 0;
    return fn(arg, self->buf + (a - self->buf_start), (size_t)(b - a), (double)a / self->fs,
              (double)b / self->fs);
}

/* The level of the window [end - W, end) in dBFS. */
static double window_level(const segmenter *self, uint64_t end)
{
    const float *x = self->buf + (end - self->W - self->buf_start);
    double ss = 0;
    for (size_t i = 0; i < self->W; i++)
        ss += (double)x[i] * x[i];
    double ms = ss / (double)self->W;
    double level = ms > 0 ? 10.0 * log10(ms) : SILENCE_DB;
    return level < SILENCE_DB ? SILENCE_DB : level;
}

static void remember(segmenter *self, double level)
{
    self->ring[self->ring_pos] = level;
    self->ring_pos = (self->ring_pos + 1) % self->n_ring;
    if (self->n_filled < self->n_ring)
        self->n_filled++;
}

static double threshold(const segmenter *self, double floor)
{
    double thr = self->p.min_level_dbfs;
    if (self->p.threshold_db > 0 && !isnan(floor) && floor + self->p.threshold_db > thr)
        thr = floor + self->p.threshold_db;
    return thr;
}

static int decide(segmenter *self, uint64_t end, bool loud, segmenter_fn *fn, void *arg);

/* The warm-up's windows, judged at last against the floor of all of them: a
 * stream that starts with speech has nothing earlier to compare it with. */
static int end_warmup(segmenter *self, segmenter_fn *fn, void *arg)
{
    const double thr = threshold(self, level_percentile(self, WARMUP_PERCENTILE));
    for (uint64_t end = self->decided + self->W; end <= self->judged; end += self->W) {
        if (decide(self, end, self->ring[(end / self->W - 1) % self->n_ring] > thr, fn, arg) < 0)
            return -1;
    }
    return 0;
}

/* Measures the window [end - W, end) and, after the warm-up, decides on it. */
static int judge(segmenter *self, uint64_t end, segmenter_fn *fn, void *arg)
{
    double level = window_level(self, end);
    if (self->decided < end - self->W || self->n_filled < self->n_warm) {
        remember(self, level);
        return self->n_filled == self->n_warm ? end_warmup(self, fn, arg) : 0;
    }
    bool loud = level > threshold(self, noise_floor(self));
    remember(self, level);
    return decide(self, end, loud, fn, arg);
}

/* The utterance state machine, one window at a time. */
static int decide(segmenter *self, uint64_t end, bool loud, segmenter_fn *fn, void *arg)
{
    self->decided = end;
    if (!self->in_utt) {
        if (!loud)
            return 0;
        uint64_t s = end - self->W;
        s = s > self->pad ? s - self->pad : 0;
        if (s < self->prev_end)
            s = self->prev_end;
        if (s < self->buf_start)
            s = self->buf_start;
        self->in_utt = true;
        self->utt_start = s;
        self->loud_start = end - self->W;
        self->last_loud_end = end;
        return 0;
    }
    if (loud)
        self->last_loud_end = end;
    if (end - self->last_loud_end >= self->min_silence) {
        self->in_utt = false;
        uint64_t e = self->last_loud_end + self->pad;
        return emit(self, self->utt_start, e < end ? e : end, false, fn, arg);
    }
    if (end - self->utt_start >= self->max_len) { /* forced cut; the stream goes on */
        int rc = emit(self, self->utt_start, end, true, fn, arg);
        self->utt_start = self->loud_start = end;
        if (self->last_loud_end < end && !loud)
            self->in_utt = false; /* the cut fell in a pause: wait for the next loud window */
        return rc;
    }
    return 0;
}

/* Drops samples no longer needed (amortised: only when the dead part is large). */
static void trim(segmenter *self)
{
    uint64_t keep;
    if (self->in_utt)
        keep = self->utt_start;
    else
        keep = self->decided > self->pad ? self->decided - self->pad : 0;
    if (keep < self->prev_end && !self->in_utt)
        keep = self->prev_end < self->decided ? self->prev_end : self->decided;
    if (keep <= self->buf_start)
        return;
    size_t dead = (size_t)(keep - self->buf_start);
    if (dead < 4096 && dead < self->buf_len / 2)
        return;
    memmove(self->buf, self->buf + dead, (self->buf_len - dead) * sizeof *self->buf);
    self->buf_len -= dead;
    self->buf_start = keep;
}

int segmenter_push(segmenter *self, const float *x, size_t n, segmenter_fn *fn, void *arg)
{
    while (n > 0) {
        /* bounded chunks, so the buffer stays near one utterance long */
        size_t k = n < 8192 ? n : 8192;
        if (self->buf_len + k > self->buf_cap) {
            size_t cap = self->buf_cap ? self->buf_cap : 16384;
            while (cap < self->buf_len + k)
                cap *= 2;
            float *b = realloc(self->buf, cap * sizeof *b);
            if (!b)
                return err_set("segmenter: out of memory for %zu samples", cap);
            self->buf = b;
            self->buf_cap = cap;
        }
        memcpy(self->buf + self->buf_len, x, k * sizeof *x);
        self->buf_len += k;
        x += k;
        n -= k;
        uint64_t end = self->buf_start + self->buf_len;
        while (self->judged + self->W <= end) {
            self->judged += self->W;
            if (judge(self, self->judged, fn, arg) < 0)
                return -1;
        }
        trim(self);
    }
    return 0;
}

int segmenter_flush(segmenter *self, segmenter_fn *fn, void *arg)
{
    int rc = self->decided < self->judged ? end_warmup(self, fn, arg) : 0;
    if (rc == 0 && self->in_utt) {
        uint64_t end = self->buf_start + self->buf_len, e = self->last_loud_end + self->pad;
        rc = emit(self, self->utt_start, e < end ? e : end, false, fn, arg);
    }
    self->in_utt = false;
    self->buf_len = 0;
    self->buf_start = self->judged = self->decided = self->utt_start = self->loud_start = 0;
    self->last_loud_end = self->prev_end = 0;
    self->n_filled = self->ring_pos = 0;
    return rc;
}
