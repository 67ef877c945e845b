/* audio: reading recordings (libsndfile), mixing to mono, validating and
 * resampling (libsamplerate). See include/audio.h.
 * Invariant: every audio handed out has n > 0 finite samples and fs > 0. */
#include "audio/audio.h"
#include "core/err.h"

#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_FRAMES 4096

static int src_converter(enum audio_quality q)
{
    switch (q) {
    case AUDIO_QUALITY_BEST: return SRC_SINC_BEST_QUALITY;
    case AUDIO_QUALITY_FAST: return SRC_SINC_FASTEST;
    case AUDIO_QUALITY_MEDIUM:
    default: return SRC_SINC_MEDIUM_QUALITY;
    }
}

static double opts_max_seconds(const audio_opts *o)
{
    return (o && o->max_seconds > 0) ? o->max_seconds : AUDIO_DEFAULT_MAX_SECONDS;
}

/* Grows *buf (of *cap floats) to hold at least need floats. */
static int grow(float **buf, size_t *cap, size_t need, const char *name)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    float *p = realloc(*buf, c * sizeof *p);
    if (!p)
        return err_set("audio %s: out of memory for %zu samples", name, c);
    *buf = p;
    *cap = c;
    return 0;
}

/* First non-finite sample, or n when all are finite. */
static size_t first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}

/* ---- resampling core, shared by whole recordings and streams ------------ */

/* Feeds n samples to src (ratio out/in); appends what comes out to *out. With
 * last set, drains the converter. */
static int src_feed(SRC_STATE *src, double ratio, const float *in, size_t n, int last,
                    float **out, size_t *n_out, size_t *cap, const char *name)
{
    SRC_DATA d;
    memset(&d, 0, sizeof d);
    d.src_ratio = ratio;
    d.end_of_input = last;
    size_t used = 0;
    for (;;) {
        size_t want = *n_out + (size_t)((double)(n - used) * ratio) + 256;
        if (grow(out, cap, want, name))
            return -1;
        d.data_in = in + used;
        d.input_frames = (long)(n - used);
        d.data_out = *out + *n_out;
        d.output_frames = (long)(*cap - *n_out);
        int e = src_process(src, &d);
        if (e)
            return err_set("audio %s: resampling failed: %s", name, src_strerror(e));
        used += (size_t)d.input_frames_used;
        *n_out += (size_t)d.output_frames_gen;
        if (used >= n && (!last || d.output_frames_gen == 0))
            return 0;
    }
}

/* Replaces x (n samples at fs_in) by its resampled version at fs_out. */
static int resample_buffer(float **x, size_t *n, double fs_in, double fs_out,
                           enum audio_quality q, const char *name)
{
    int e = 0;
    SRC_STATE *src = src_new(src_converter(q), 1, &e);
    if (!src)
        return err_set("audio %s: cannot start resampler: %s", name, src_strerror(e));
    float *out = NULL;
    size_t n_out = 0, cap = 0;
    int rc = src_feed(src, fs_out / fs_in, *x, *n, 1, &out, &n_out, &cap, name);
    src_delete(src);
    if (rc == 0 && n_out == 0)
        rc = err_set("audio %s: resampling %zu samples to %g Hz left none", name, *n,
                     fs_out);
    if (rc) {
        free(out);
        return -1;
    }
    free(*x);
    *x = out;
    *n = n_out;
    return 0;
}

static int check_rate(double fs, const char *what, const char *name)
{
    if (!(fs >= 1.0) || !isfinite(fs) || fs > 1e7)
        return err_set("audio %s: %s %g Hz is not a usable sample rate", name, what, fs);
    return 0;
}

/* ---- whole recordings ---------------------------------------------------- */

static audio *finish(float *x, size_t n, double fs, const char *name,
                     const audio_opts *opts)
{
    audio *self = NULL;
    if (n == 0) {
        err_set("audio %s: has no samples", name);
        goto err;
    }
    size_t bad = first_nonfinite(x, n);
    if (bad < n) {
        err_set("audio %s: sample %zu is %s", name, bad,
                isnan(x[bad]) ? "NaN" : "infinite");
        goto err;
    }
    double max_s = opts_max_seconds(opts);
    if ((double)n / fs > max_s) {
        err_set("audio %s: %.1f s long, more than the %.1f s limit", name,
                (double)n / fs, max_s);
        goto err;
    }
    if (opts && opts->target_fs > 0 && opts->target_fs != fs) {
        if (check_rate(opts->target_fs, "target rate", name) ||
            resample_buffer(&x, &n, fs, opts->target_fs, opts->quality, name))
            goto err;
        fs = opts->target_fs;
    }
    self = calloc(1, sizeof *self);
    if (!self) {
        err_set("audio %s: out of memory", name);
        goto err;
    }
    self->samples = x;
    self->n = n;
    self->fs = fs;
    return self;
err:
    free(x);
    return NULL;
}

/* Reads all frames of an open SNDFILE, mixing down; closes it. */
static audio *read_sndfile(SNDFILE *sf, const SF_INFO *info, const char *name,
                           const audio_opts *opts)
{
    float *x = NULL, *block = NULL;
    size_t n = 0, cap = 0;
    int ch = info->channels;
    double fs = info->samplerate;
    double max_s = opts_max_seconds(opts);
    if (ch < 1) {
        err_set("audio %s: %d channels", name, ch);
        goto err;
    }
    if (check_rate(fs, "sample rate", name))
        goto err;
    /* frames is SF_COUNT_MAX when unknown (pipes); the loop then enforces the limit */
    if (info->frames == 0) {
        err_set("audio %s: has no samples", name);
        goto err;
    }
    if (info->frames != SF_COUNT_MAX && (double)info->frames / fs > max_s) {
        err_set("audio %s: %.1f s long, more than the %.1f s limit", name,
                (double)info->frames / fs, max_s);
        goto err;
    }
    block = malloc((size_t)BLOCK_FRAMES * (size_t)ch * sizeof *block);
    if (!block) {
        err_set("audio %s: out of memory", name);
        goto err;
    }
    for (;;) {
        sf_count_t got = sf_readf_float(sf, block, BLOCK_FRAMES);
        if (got <= 0)
            break;
        if ((double)(n + (size_t)got) / fs > max_s) {
            err_set("audio %s: longer than the %.1f s limit", name, max_s);
            goto err;
        }
        if (grow(&x, &cap, n + (size_t)got, name))
            goto err;
        for (sf_count_t i = 0; i < got; i++) {
            const float *f = block + (size_t)i * (size_t)ch;
            float s = 0;
            for (int c = 0; c < ch; c++)
                s += f[c];
            /* NaN/inf survive the sum, so finish() still sees them */
            x[n + (size_t)i] = ch == 1 ? s : s / (float)ch;
        }
        n += (size_t)got;
    }
    if (sf_error(sf)) {
        err_set("audio %s: read failed after %zu frames: %s", name, n, sf_strerror(sf));
        goto err;
    }
    free(block);
    sf_close(sf);
    return finish(x, n, fs, name, opts);
err:
    free(block);
    free(x);
    sf_close(sf);
    return NULL;
}

/* A file cut short (a copy or download that stopped) reads as a shorter
 * recording without a word from libsndfile, which only notes it in its log:
 * "data : 16000 (should be 6000)". A header that does not know its length
 * (0, or 0xffffffff as streaming writers leave it) is no truncation. */
static int check_whole(SNDFILE *sf, const SF_INFO *info, const char *name)
{
    char log[8192] = "";
    sf_command(sf, SFC_GET_LOG_INFO, log, sizeof log);
    for (const char *p = log; (p = strstr(p, "data : ")) || (p = strstr(log, "SSND : ")); p++) {
        unsigned long long said, found;
        if (sscanf(p + 7, "%llu (should be %llu)", &said, &found) == 2 && said > found && said &&
            said < 0xffffff00ull) {
            const double fraction = (double)found / (double)said;
            return err_set("audio %s: truncated: the header says %llu bytes of samples, the file holds "
                           "%llu (%.1f%%, %.2f s of %.2f s); --allow-truncated reads what is there",
                           name, said, found, 100 * fraction,
                           (double)info->frames / info->samplerate,
                           (double)info->frames / info->samplerate / (fraction > 0 ? fraction : 1));
        }
        if (!strncmp(p, "SSND", 4))
            break;
    }
    return 0;
}

audio *audio_read(const char *path, const audio_opts *opts)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        err_set("audio %s: cannot open: %s", path, sf_strerror(NULL));
        return NULL;
    }
    if (!(opts && opts->allow_truncated) && check_whole(sf, &info, path) < 0) {
        sf_close(sf);
        return NULL;
    }
    return read_sndfile(sf, &info, path, opts);
}

/* libsndfile virtual I/O over a read-only memory block */
typedef struct membuf {
    const unsigned char *data;
    sf_count_t len, pos;
} membuf;

static sf_count_t mem_len(void *u) { return ((membuf *)u)->len; }
static sf_count_t mem_tell(void *u) { return ((membuf *)u)->pos; }
static sf_count_t mem_seek(sf_count_t off, int whence, void *u)
{
    membuf *m = u;
    sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->len + off;
    if (p < 0 || p > m->len)
        return -1;
    m->pos = p;
    return p;
}
static sf_count_t mem_read(void *ptr, sf_count_t count, void *u)
{
    membuf *m = u;
    sf_count_t k = m->len - m->pos;
    if (count < k)
        k = count;
    if (k > 0) {
        memcpy(ptr, m->data + m->pos, (size_t)k);
        m->pos += k;
    }
    return k > 0 ? k : 0;
}
static sf_count_t mem_write(const void *ptr, sf_count_t count, void *u)
{
    (void)ptr; (void)count; (void)u;
    return 0;
}

audio *audio_read_memory(const void *data, size_t len, const char *name,
                         const audio_opts *opts)
{
    if (!name)
        name = "(memory)";
    if (!data || len == 0) {
        err_set("audio %s: has no bytes", name);
        return NULL;
    }
    SF_VIRTUAL_IO io = {mem_len, mem_seek, mem_read, mem_write, mem_tell};
    membuf m = {data, (sf_count_t)len, 0};
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &m);
    if (!sf) {
        err_set("audio %s: cannot decode: %s", name, sf_strerror(NULL));
        return NULL;
    }
    return read_sndfile(sf, &info, name, opts);
}

audio *audio_from_samples(const float *x, size_t n, double fs, const char *name,
                          const audio_opts *opts)
{
    if (!name)
        name = "(samples)";
    if (check_rate(fs, "sample rate", name))
        return NULL;
    if (n == 0 || !x) {
        err_set("audio %s: has no samples", name);
        return NULL;
    }
    float *c = malloc(n * sizeof *c);
    if (!c) {
        err_set("audio %s: out of memory for %zu samples", name, n);
        return NULL;
    }
    memcpy(c, x, n * sizeof *c);
    return finish(c, n, fs, name, opts);
}

int audio_resample(audio *self, double fs, enum audio_quality quality)
{
    if (check_rate(fs, "target rate", "(buffer)"))
        return -1;
    if (fs == self->fs)
        return 0;
    if (resample_buffer(&self->samples, &self->n, self->fs, fs, quality, "(buffer)"))
        return -1;
    self->fs = fs;
    return 0;
}

int audio_write_wav(const audio *self, const char *path, int channels, bool float32)
{
    if (channels < 1 || channels > 64)
        return err_set("audio %s: %d channels is out of range 1..64", path, channels);
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set("audio %s: path too long", path);
    SF_INFO info = {.samplerate = (int)lround(self->fs), .channels = channels,
                    .format = SF_FORMAT_WAV | (float32 ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16)};
    SNDFILE *sf = sf_open(tmp, SFM_WRITE, &info);
    if (!sf)
        return err_set("audio %s: cannot write: %s", path, sf_strerror(NULL));
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    float block[BLOCK_FRAMES * 2];
    const size_t per = sizeof block / sizeof *block / (size_t)channels;
    int rc = 0;
    for (size_t i = 0; i < self->n && rc == 0; i += per) {
        size_t k = self->n - i < per ? self->n - i : per;
        for (size_t j = 0; j < k; j++)
            for (int c = 0; c < channels; c++)
                block[j * (size_t)channels + (size_t)c] = self->samples[i + j];
        if (sf_writef_float(sf, block, (sf_count_t)k) != (sf_count_t)k)
            rc = err_set("audio %s: write failed: %s", path, sf_strerror(sf));
    }
    if (sf_close(sf) != 0 && rc == 0)
        rc = err_set("audio %s: closing failed", path);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set("audio %s: cannot rename %s to it", path, tmp);
    if (rc)
        remove(tmp);
    return rc;
}

void audio_destroy(audio **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->samples);
    free(*self_p);
    *self_p = NULL;
}

/* ---- streaming ----------------------------------------------------------- */

struct audio_stream {
    char *name;
    double in_fs, out_fs;
    int channels;
    enum audio_format format;
    enum audio_quality quality;
    SRC_STATE *src; /* NULL when not resampling */
    int ended;      /* a push with last = 1 happened */
    size_t seen;    /* frames pushed so far, for error positions */
    float *mono;    /* mixed-down chunk */
    size_t mono_cap;
    float *out;     /* resampled chunk */
    size_t out_cap;
};

audio_stream *audio_stream_new(double in_fs, int channels, enum audio_format format,
                               double out_fs, enum audio_quality quality,
                               const char *name)
{
    if (!name)
        name = "(stream)";
    audio_stream *self = NULL;
    if (check_rate(in_fs, "input rate", name) ||
        (out_fs != 0 && check_rate(out_fs, "output rate", name)))
        return NULL;
    if (channels < 1 || channels > 64) {
        err_set("audio %s: %d channels is out of range 1..64", name, channels);
        return NULL;
    }
    if (format != AUDIO_F32 && format != AUDIO_S16) {
        err_set("audio %s: unknown sample format %d", name, (int)format);
        return NULL;
    }
    self = calloc(1, sizeof *self);
    if (!self || !(self->name = strdup(name))) {
        err_set("audio %s: out of memory", name);
        goto err;
    }
    self->in_fs = in_fs;
    self->out_fs = out_fs > 0 ? out_fs : in_fs;
    self->channels = channels;
    self->format = format;
    self->quality = quality;
    if (self->out_fs != in_fs) {
        int e = 0;
        self->src = src_new(src_converter(quality), 1, &e);
        if (!self->src) {
            err_set("audio %s: cannot start resampler: %s", name, src_strerror(e));
            goto err;
        }
    }
    return self;
err:
    audio_stream_destroy(&self);
    return NULL;
}

int audio_stream_push(audio_stream *self, const void *data, size_t n_frames, int last,
                      const float **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (self->ended)
        return err_set("audio %s: push after the last chunk (reset first)", self->name);
    if (n_frames && !data)
        return err_set("audio %s: NULL chunk of %zu frames", self->name, n_frames);
    if (grow(&self->mono, &self->mono_cap, n_frames ? n_frames : 1, self->name))
        return -1;
    int ch = self->channels;
    if (self->format == AUDIO_S16) {
        const int16_t *s = data;
        for (size_t i = 0; i < n_frames; i++) {
            int32_t acc = 0;
            for (int c = 0; c < ch; c++)
                acc += s[i * (size_t)ch + (size_t)c];
            self->mono[i] = (float)acc / (32768.0f * (float)ch);
        }
    } else {
        const float *f = data;
        for (size_t i = 0; i < n_frames; i++) {
            float acc = 0;
            for (int c = 0; c < ch; c++)
                acc += f[i * (size_t)ch + (size_t)c];
            self->mono[i] = ch == 1 ? acc : acc / (float)ch;
        }
        size_t bad = first_nonfinite(self->mono, n_frames);
        if (bad < n_frames)
            return err_set("audio %s: frame %zu is %s", self->name, self->seen + bad,
                           isnan(self->mono[bad]) ? "NaN" : "infinite");
    }
    self->seen += n_frames;
    self->ended = last;
    if (!self->src) {
        *out = self->mono;
        *n_out = n_frames;
        return 0;
    }
    size_t got = 0;
    if (src_feed(self->src, self->out_fs / self->in_fs, self->mono, n_frames, last,
                 &self->out, &got, &self->out_cap, self->name))
        return -1;
    *out = self->out;
    *n_out = got;
    return 0;
}

double audio_stream_fs(const audio_stream *self) { return self->out_fs; }

int audio_stream_reset(audio_stream *self)
{
    self->ended = 0;
    self->seen = 0;
    if (self->src) {
        int e = src_reset(self->src);
        if (e)
            return err_set("audio %s: resampler reset failed: %s", self->name,
                           src_strerror(e));
    }
    return 0;
}

void audio_stream_destroy(audio_stream **self_p)
{
    if (!self_p || !*self_p)
        return;
    audio_stream *s = *self_p;
    if (s->src)
        src_delete(s->src);
    free(s->mono);
    free(s->out);
    free(s->name);
    free(s);
    *self_p = NULL;
}
