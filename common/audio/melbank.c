/* melbank: log-mel filterbank front end (see include/melbank.h).
 * The STFT uses an in-house radix-2 FFT of n_fft/2 complex points on the
 * even/odd-packed real frame (no FFT library is among the project's packages).
 * Invariant: ring holds the last win input samples (zeros before the start). */
#include "audio/melbank.h"
#include "core/err.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct band {
    int first, count; /* bins first .. first + count - 1 */
    float *w;         /* their weights */
} band;

struct melbank {
    double fs;
    melbank_params p;
    int n_bins;             /* n_fft / 2 + 1 */
    double *cf;             /* n_mels centre frequencies, decreasing */
    band *bands;            /* in output order (highest first) */
    float *window;          /* win, scaled so a sine's power sums to A^2 */
    float *ring;            /* last win samples */
    int ring_pos;           /* where the next sample goes */
    int phase;              /* samples since the last frame */
    /* FFT of m = n_fft / 2 complex points */
    int m, *bitrev;
    double complex *tw;     /* m / 2 twiddles of the half-size FFT */
    double complex *tw_real;/* m + 1 twiddles of the real-input split */
    double complex *z;      /* m */
    double *power;          /* n_bins */
    float *frame;           /* n_fft: windowed, zero-padded frame */
    float *out;
    size_t out_cap;         /* in frames */
};

melbank_params melbank_params_default(void)
{
    melbank_params p = {.n_mels = 39, .win = 0, .hop = 10, .n_fft = 0, .f_min = 60.0,
                        .f_max = 0.0, .floor_db = -80.0};
    return p;
}

static double hz_to_mel(double f) { return 2595.0 * log10(1.0 + f / 700.0); }
static double mel_to_hz(double m) { return 700.0 * (pow(10.0, m / 2595.0) - 1.0); }

/* ---- FFT ------------------------------------------------------------------ */

static void fft(double complex *z, int m, const int *bitrev, const double complex *tw)
{
    for (int i = 0; i < m; i++)
        if (bitrev[i] > i) {
            double complex t = z[i];
            z[i] = z[bitrev[i]];
            z[bitrev[i]] = t;
        }
    for (int len = 2; len <= m; len <<= 1) {
        int half = len / 2, stride = m / len;
        for (int s = 0; s < m; s += len)
            for (int j = 0; j < half; j++) {
                double complex t = z[s + j + half] * tw[j * stride];
                z[s + j + half] = z[s + j] - t;
                z[s + j] += t;
            }
    }
}

/* Power spectrum (n_fft / 2 + 1 bins) of the real frame x of n_fft samples. */
static void real_power(melbank *self, const float *x)
{
    int m = self->m;
    double complex *z = self->z;
    for (int i = 0; i < m; i++)
        z[i] = x[2 * i] + I * x[2 * i + 1];
    fft(z, m, self->bitrev, self->tw);
    for (int k = 0; k <= m; k++) {
        double complex a = z[k % m], b = conj(z[(m - k) % m]);
        double complex even = 0.5 * (a + b), odd = -0.5 * I * (a - b);
        double complex X = even + self->tw_real[k] * odd;
        self->power[k] = creal(X) * creal(X) + cimag(X) * cimag(X);
    }
}

/* ---- construction ---------------------------------------------------------- */

static int design_bands(melbank *self)
{
    const melbank_params *p = &self->p;
    int nm = p->n_mels, nb = self->n_bins;
    double lo = hz_to_mel(p->f_min), hi = hz_to_mel(p->f_max);
    double bin_hz = self->fs / p->n_fft;
    for (int j = 0; j < nm; j++) {
        /* band j (ascending) spans mel points j .. j + 2 */
        double l = mel_to_hz(lo + (hi - lo) * j / (nm + 1));
        double c = mel_to_hz(lo + (hi - lo) * (j + 1) / (nm + 1));
        double r = mel_to_hz(lo + (hi - lo) * (j + 2) / (nm + 1));
        band *b = &self->bands[nm - 1 - j]; /* output order: highest first */
        self->cf[nm - 1 - j] = c;
        int first = -1, last = -1;
        for (int k = 0; k < nb; k++) {
            double f = k * bin_hz;
            if (f > l && f < r) {
                if (first < 0)
                    first = k;
                last = k;
            }
        }
        if (first < 0) {
            /* narrower than a bin: take the bin nearest the centre */
            first = last = (int)lround(c / bin_hz);
            if (last >= nb)
                first = last = nb - 1;
        }
        b->first = first;
        b->count = last - first + 1;
        b->w = malloc((size_t)b->count * sizeof *b->w);
        if (!b->w)
            return err_set("melbank: out of memory");
        for (int k = first; k <= last; k++) {
            double f = k * bin_hz;
            double w = f <= c ? (f - l) / (c - l) : (r - f) / (r - c);
            b->w[k - first] = (float)(b->count == 1 && !(w > 0) ? 1.0 : (w > 0 ? w : 0));
        }
    }
    return 0;
}

melbank *melbank_new(double fs, const melbank_params *pin)
{
    melbank_params p = pin ? *pin : melbank_params_default();
    melbank *self = NULL;
    if (!(fs >= 100.0) || !isfinite(fs)) {
        err_set("melbank: sample rate %g Hz is out of range (>= 100 Hz)", fs);
        return NULL;
    }
    if (p.win == 0)
        p.win = (int)lround(0.025 * fs);
    if (p.f_max == 0)
        p.f_max = fs / 2.0;
    if (p.n_fft == 0)
        for (p.n_fft = 8; p.n_fft < p.win; p.n_fft *= 2)
            ;
    if (p.n_mels < 1 || p.n_mels > 1000 || p.win < 2 || p.hop < 1 || p.n_fft < 8 ||
        (p.n_fft & (p.n_fft - 1)) || p.n_fft < p.win || p.n_fft > (1 << 20)) {
        err_set("melbank: bad sizes: n_mels %d, win %d, hop %d, n_fft %d (a power of two >= win, >= 8)",
                p.n_mels, p.win, p.hop, p.n_fft);
        return NULL;
    }
    if (!(p.f_min >= 0) || !(p.f_max > p.f_min) || p.f_max > fs / 2.0 + 1e-9 ||
        !isfinite(p.floor_db)) {
        err_set("melbank: bad band range %g..%g Hz at %g Hz or floor %g dB", p.f_min, p.f_max,
                fs, p.floor_db);
        return NULL;
    }
    self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->fs = fs;
    self->p = p;
    self->n_bins = p.n_fft / 2 + 1;
    self->m = p.n_fft / 2;
    int m = self->m;
    self->cf = calloc((size_t)p.n_mels, sizeof *self->cf);
    self->bands = calloc((size_t)p.n_mels, sizeof *self->bands);
    self->window = calloc((size_t)p.win, sizeof *self->window);
    self->ring = calloc((size_t)p.win, sizeof *self->ring);
    self->bitrev = calloc((size_t)m, sizeof *self->bitrev);
    self->tw = calloc((size_t)(m / 2 + 1), sizeof *self->tw);
    self->tw_real = calloc((size_t)m + 1, sizeof *self->tw_real);
    self->z = calloc((size_t)m, sizeof *self->z);
    self->power = calloc((size_t)self->n_bins, sizeof *self->power);
    self->frame = calloc((size_t)p.n_fft, sizeof *self->frame);
    if (!self->frame || !self->cf || !self->bands || !self->window || !self->ring || !self->bitrev ||
        !self->tw || !self->tw_real || !self->z || !self->power)
        goto oom;
    /* periodic Hann, scaled so that the one-sided power spectrum of a sine of
     * amplitude A sums to A^2 over its bins (Parseval: the two-sided sum of
     * |X|^2 is n_fft * sum((w x)^2) = n_fft * A^2 * sum(w^2) / 2); a band wide
     * enough to hold the window's main lobe then reads a sine's power exactly */
    double sum2 = 0;
    for (int i = 0; i < p.win; i++) {
        double h = 0.5 - 0.5 * cos(2.0 * M_PI * i / p.win);
        sum2 += h * h;
    }
    double scale = 2.0 / sqrt((double)p.n_fft * sum2);
    for (int i = 0; i < p.win; i++)
        self->window[i] = (float)((0.5 - 0.5 * cos(2.0 * M_PI * i / p.win)) * scale);
    int bits = 0;
    while ((1 << bits) < m)
        bits++;
    for (int i = 0; i < m; i++) {
        int r = 0;
        for (int b = 0; b < bits; b++)
            r |= ((i >> b) & 1) << (bits - 1 - b);
        self->bitrev[i] = r;
    }
    for (int j = 0; j <= m / 2; j++)
        self->tw[j] = cexp(-2.0 * M_PI * I * j / m);
    for (int k = 0; k <= m; k++)
        self->tw_real[k] = cexp(-2.0 * M_PI * I * k / p.n_fft);
    if (design_bands(self))
        goto err;
    return self;
oom:
    err_set("melbank: out of memory");
err:
    melbank_destroy(&self);
    return NULL;
}

int melbank_n_channels(const melbank *self) { return self->p.n_mels; }
const double *melbank_centre_freqs(const melbank *self) { return self->cf; }
int melbank_hop(const melbank *self) { return self->p.hop; }

void melbank_reset(melbank *self)
{
    memset(self->ring, 0, (size_t)self->p.win * sizeof *self->ring);
    self->ring_pos = 0;
    self->phase = 0;
}

void melbank_destroy(melbank **self_p)
{
    if (!self_p || !*self_p)
        return;
    melbank *s = *self_p;
    if (s->bands)
        for (int j = 0; j < s->p.n_mels; j++)
            free(s->bands[j].w);
    free(s->bands);
    free(s->cf);
    free(s->window);
    free(s->ring);
    free(s->bitrev);
    free(s->tw);
    free(s->tw_real);
    free(s->z);
    free(s->power);
    free(s->frame);
    free(s->out);
    free(s);
    *self_p = NULL;
}

/* ---- processing -------------------------------------------------------------- */

/* One frame from the ring (oldest sample first) into o[n_mels]. */
static void frame(melbank *self, float *o)
{
    const melbank_params *p = &self->p;
    int win = p->win, n_fft = p->n_fft;
    float *buf = self->frame;
    for (int i = 0; i < win; i++)
        buf[i] = self->ring[(self->ring_pos + i) % win] * self->window[i];
    for (int i = win; i < n_fft; i++)
        buf[i] = 0.0f;
    real_power(self, buf);
    for (int j = 0; j < p->n_mels; j++) {
        const band *b = &self->bands[j];
        double e = 0;
        for (int k = 0; k < b->count; k++)
            e += b->w[k] * self->power[b->first + k];
        double db = e > 0 ? 10.0 * log10(e) - p->floor_db : 0.0;
        o[j] = db > 0 ? (float)db : 0.0f;
    }
}

int melbank_process(melbank *self, const float *x, size_t n, const float **out,
                    size_t *n_frames)
{
    *out = NULL;
    *n_frames = 0;
    int nm = self->p.n_mels, hop = self->p.hop, win = self->p.win;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return err_set("melbank: input sample %zu is %s", i,
                           isnan(x[i]) ? "NaN" : "infinite");
    size_t frames = ((size_t)self->phase + n) / (size_t)hop;
    /* at least one frame, so that *out is never NULL on success */
    size_t cap = frames ? frames : 1;
    if (cap > self->out_cap || !self->out) {
        float *o = realloc(self->out, cap * (size_t)nm * sizeof *o);
        if (!o)
            return err_set("melbank: out of memory for %zu frames", cap);
        self->out = o;
        self->out_cap = cap;
    }
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        self->ring[self->ring_pos] = x[i];
        if (++self->ring_pos == win)
            self->ring_pos = 0;
        if (++self->phase == hop) {
            self->phase = 0;
            frame(self, self->out + t * (size_t)nm);
            t++;
        }
    }
    *out = self->out;
    *n_frames = t;
    return 0;
}
