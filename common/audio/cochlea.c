/* cochlea: Lyon's passive cochlear model (see include/cochlea.h, docs/frontend.md).
 *
 * Internally the bank has n_filt = n_channels + 2 taps: tap 0 is the
 * pre-emphasis, tap 1 the top-frequency front filter, taps 2.. the cascade
 * stages. Like the published model, the two front taps are forced to zero
 * after rectification but still take part in the AGC's neighbour coupling and
 * in the differencing (so channel 0, the top cascade stage, is differenced
 * against zero and is always 0 when differencing is on); only the cascade taps
 * are output. All arithmetic is double; frames are stored as float.
 * Invariant: the state after n samples is independent of how they were chunked. */
#include "audio/cochlea.h"
#include "core/err.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EAR_BREAK 1000.0       /* Eb: bandwidths stop shrinking below this (Hz) */
#define EAR_ZERO_OFFSET 1.5    /* zero pair sits this many steps above the poles */
#define EAR_SHARPNESS 5.0      /* zero Q relative to the pole bandwidth */
#define EAR_PREEMPH_CORNER 300.0
#define AGC_STAGES 4
#define AGC_STATE_LIMIT 0.9    /* gain never drops below 1 - 0.9 */
#define DENORMAL_FLUSH 1e-30   /* states this small are set to 0 at frame ends */

static const double agc_target[AGC_STAGES] = {0.0032, 0.0016, 0.0008, 0.0004};
static const double agc_tau[AGC_STAGES] = {0.64, 0.16, 0.04, 0.01};

/* y[n] = a0 x[n] + a1 x[n-1] + a2 x[n-2] - b1 y[n-1] - b2 y[n-2] */
typedef struct biquad {
    double a0, a1, a2, b1, b2;
} biquad;

struct cochlea {
    double fs;
    cochlea_params p;
    int n_ch, n_filt;
    double *cf;          /* n_ch centre frequencies */
    biquad *filt;        /* n_filt */
    double *s1, *s2;     /* cascade state, n_filt each */
    double *agc;         /* AGC_STAGES x n_filt states */
    double agc_eps[AGC_STAGES];
    double *agc_old;     /* scratch: states before this sample's update */
    double *v;           /* scratch: one sample across taps */
    biquad dec;          /* decimation low-pass */
    double *d1, *d2;     /* its state, n_ch each */
    int phase;           /* samples since the last frame */
    float *out;          /* frames handed out by the last process call */
    size_t out_cap;      /* in frames */
};

cochlea_params cochlea_params_default(void)
{
    cochlea_params p = {.ear_q = 8.0, .step = 0.5, .decimation = 10, .agc = 1,
                        .differ = 1, .tau_factor = 3.0};
    return p;
}

/* Epsilon of a one-pole smoother with time constant tau seconds at fs. */
static double eps_from_tau(double tau, double fs) { return 1.0 - exp(-1.0 / (tau * fs)); }

/* Coefficients (1, c1, c2) of the pole or zero pair at f Hz with quality q. */
static void resonance(double f, double q, double fs, double *c1, double *c2)
{
    double rho = exp(-M_PI * f / (fs * q));
    double theta = 2.0 * M_PI * f / fs * sqrt(1.0 - 1.0 / (4.0 * q * q));
    *c1 = -2.0 * rho * cos(theta);
    *c2 = rho * rho;
}

static double complex biquad_response(const biquad *b, double f, double fs)
{
    double complex z1 = cexp(-I * 2.0 * M_PI * f / fs); /* z^-1 */
    return (b->a0 + b->a1 * z1 + b->a2 * z1 * z1) / (1.0 + b->b1 * z1 + b->b2 * z1 * z1);
}

/* Scales the numerator so that |H| = gain at f Hz. */
static void biquad_set_gain(biquad *b, double gain, double f, double fs)
{
    double g = gain / cabs(biquad_response(b, f, fs));
    b->a0 *= g;
    b->a1 *= g;
    b->a2 *= g;
}

/* The highest pole frequency: Nyquist lowered so that the first stage's zero
 * pair (EAR_ZERO_OFFSET steps above its poles) still fits below Nyquist. */
static double top_freq(double fs, const cochlea_params *p)
{
    double nyq = fs / 2.0;
    double bw = sqrt(nyq * nyq + EAR_BREAK * EAR_BREAK) / p->ear_q;
    return nyq - bw * p->step * (EAR_ZERO_OFFSET - 1.0);
}

/* Pole frequency of cascade stage k (1-based). Solves dcf/dk = -step * bw(cf)
 * with bw(cf) = sqrt(cf^2 + Eb^2) / Q: asinh(cf / Eb) falls by step / Q per stage. */
static double stage_freq(double top, const cochlea_params *p, int k)
{
    return EAR_BREAK * sinh(asinh(top / EAR_BREAK) - k * p->step / p->ear_q);
}

static int params_ok(double fs, const cochlea_params *p)
{
    if (!(fs >= 100.0) || !isfinite(fs))
        return err_set("cochlea: sample rate %g Hz is out of range (>= 100 Hz)", fs);
    if (!(p->ear_q > 0.5) || !isfinite(p->ear_q))
        return err_set("cochlea: ear_q %g must be above 0.5", p->ear_q);
    if (!(p->step > 0) || !isfinite(p->step))
        return err_set("cochlea: step %g must be positive", p->step);
    if (p->decimation < 1)
        return err_set("cochlea: decimation %d must be at least 1", p->decimation);
    if (!(p->tau_factor > 0) || !isfinite(p->tau_factor))
        return err_set("cochlea: tau_factor %g must be positive", p->tau_factor);
    return 0;
}

int cochlea_count_channels(double fs, const cochlea_params *p)
{
    cochlea_params d = cochlea_params_default();
    if (!p)
        p = &d;
    if (params_ok(fs, p))
        return 0;
    /* below low_f the pole Q, cf / bw(cf), drops under 1/2: no resonance left */
    double low_f = EAR_BREAK / sqrt(4.0 * p->ear_q * p->ear_q - 1.0);
    double top = top_freq(fs, p);
    if (!(top > low_f))
        return 0;
    double n = p->ear_q * (asinh(top / EAR_BREAK) - asinh(low_f / EAR_BREAK)) / p->step;
    /* a hair of slack so that 39.0000000001 computed as 38.999... still counts */
    return n > 1e6 ? 0 : (int)floor(n + 1e-9);
}

/* Designs the n_filt filters: two front filters, then the cascade. */
static void design(cochlea *self)
{
    const cochlea_params *p = &self->p;
    double fs = self->fs, top = top_freq(fs, p);
    int n = self->n_ch;
    for (int k = 0; k < n; k++)
        self->cf[k] = stage_freq(top, p, k + 1);
    for (int k = 0; k < n; k++) {
        double cf = self->cf[k];
        double bw = sqrt(cf * cf + EAR_BREAK * EAR_BREAK) / p->ear_q;
        double zf = cf + bw * p->step * EAR_ZERO_OFFSET;
        biquad *b = &self->filt[k + 2];
        b->a0 = 1.0;
        resonance(zf, EAR_SHARPNESS * zf / bw, fs, &b->a1, &b->a2);
        resonance(cf, cf / bw, fs, &b->b1, &b->b2);
        /* DC gain cf[k-1] / cf[k]: the cascade's low-frequency gain then grows
         * like 1 / cf, the velocity-like slope of the basilar membrane */
        double dc = n > 1 ? (k > 0 ? self->cf[k - 1] / cf : self->cf[0] / self->cf[1]) : 1.0;
        biquad_set_gain(b, dc, 0.0, fs);
    }
    /* pre-emphasis: a zero at 300 Hz (one sample late), unit gain at fs/4 */
    biquad *pre = &self->filt[0];
    *pre = (biquad){0.0, 1.0, -exp(-2.0 * M_PI * EAR_PREEMPH_CORNER / fs), 0.0, 0.0};
    biquad_set_gain(pre, 1.0, fs / 4.0, fs);
    /* top filter: zeros at DC and Nyquist, poles at the top frequency with the
     * first stage's Q, unit gain at fs/4 */
    biquad *tf = &self->filt[1];
    double cf0 = self->cf[0];
    double q0 = cf0 / (sqrt(cf0 * cf0 + EAR_BREAK * EAR_BREAK) / p->ear_q);
    *tf = (biquad){1.0, 0.0, -1.0, 0.0, 0.0};
    resonance(top, q0, fs, &tf->b1, &tf->b2);
    biquad_set_gain(tf, 1.0, fs / 4.0, fs);
    /* decimation low-pass: two real poles at 1 - eps, unit DC gain, output
     * delayed two samples (numerator z^-2) */
    double e = eps_from_tau(p->tau_factor * p->decimation / fs, fs);
    self->dec = (biquad){0.0, 0.0, e * e, -2.0 * (1.0 - e), (1.0 - e) * (1.0 - e)};
    for (int s = 0; s < AGC_STAGES; s++)
        self->agc_eps[s] = eps_from_tau(agc_tau[s], fs);
}

cochlea *cochlea_new(double fs, const cochlea_params *p)
{
    cochlea_params d = cochlea_params_default();
    if (!p)
        p = &d;
    if (params_ok(fs, p))
        return NULL;
    int n = cochlea_count_channels(fs, p);
    if (n < 1) {
        err_set("cochlea: no channel fits at %g Hz with ear_q %g, step %g", fs, p->ear_q,
                p->step);
        return NULL;
    }
    cochlea *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->fs = fs;
    self->p = *p;
    self->n_ch = n;
    self->n_filt = n + 2;
    size_t nf = (size_t)self->n_filt;
    self->cf = calloc((size_t)n, sizeof *self->cf);
    self->filt = calloc(nf, sizeof *self->filt);
    self->s1 = calloc(nf, sizeof(double));
    self->s2 = calloc(nf, sizeof(double));
    self->agc = calloc(nf * AGC_STAGES, sizeof(double));
    self->agc_old = calloc(nf, sizeof(double));
    self->v = calloc(nf, sizeof(double));
    self->d1 = calloc((size_t)n, sizeof(double));
    self->d2 = calloc((size_t)n, sizeof(double));
    if (!self->cf || !self->filt || !self->s1 || !self->s2 || !self->agc ||
        !self->agc_old || !self->v || !self->d1 || !self->d2)
        goto oom;
    design(self);
    return self;
oom:
    err_set("cochlea: out of memory for %d channels", n);
    cochlea_destroy(&self);
    return NULL;
}

int cochlea_n_channels(const cochlea *self) { return self->n_ch; }
const double *cochlea_centre_freqs(const cochlea *self) { return self->cf; }
double cochlea_fs(const cochlea *self) { return self->fs; }
int cochlea_decimation(const cochlea *self) { return self->p.decimation; }

void cochlea_reset(cochlea *self)
{
    size_t nf = (size_t)self->n_filt, n = (size_t)self->n_ch;
    memset(self->s1, 0, nf * sizeof(double));
    memset(self->s2, 0, nf * sizeof(double));
    memset(self->agc, 0, nf * AGC_STAGES * sizeof(double));
    memset(self->d1, 0, n * sizeof(double));
    memset(self->d2, 0, n * sizeof(double));
    self->phase = 0;
}

void cochlea_destroy(cochlea **self_p)
{
    if (!self_p || !*self_p)
        return;
    cochlea *c = *self_p;
    free(c->cf);
    free(c->filt);
    free(c->s1);
    free(c->s2);
    free(c->agc);
    free(c->agc_old);
    free(c->v);
    free(c->d1);
    free(c->d2);
    free(c->out);
    free(c);
    *self_p = NULL;
}

/* ---- kernels: one input sample through the bank --------------------------- */

/* The cascade: each tap filters the previous tap's output; v gets every tap,
 * half-wave rectified. Transposed direct form II. */
static void cascade(const biquad *f, double *s1, double *s2, int nf, double x, double *v)
{
    double in = x;
    for (int i = 0; i < nf; i++) {
        double y = f[i].a0 * in + s1[i];
        s1[i] = f[i].a1 * in - f[i].b1 * y + s2[i];
        s2[i] = f[i].a2 * in - f[i].b2 * y;
        in = y;
        v[i] = y > 0.0 ? y : 0.0;
    }
}

/* One AGC stage across taps: v *= (1 - state); then each state relaxes towards
 * the mean of itself and its two neighbours' previous states (edges count
 * themselves twice) plus eps * output / target. */
static void agc_stage(double *v, double *st, double *old, int nf, double eps, double target)
{
    double keep = (1.0 - eps) / 3.0, gain = eps / target;
    memcpy(old, st, (size_t)nf * sizeof *old);
    for (int i = 0; i < nf; i++) {
        double out = v[i] * (1.0 - old[i]);
        double left = old[i > 0 ? i - 1 : 0], right = old[i < nf - 1 ? i + 1 : nf - 1];
        double s = out * gain + keep * (left + old[i] + right);
        st[i] = s > AGC_STATE_LIMIT ? AGC_STATE_LIMIT : s;
        v[i] = out;
    }
}

static void flush_tiny(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) < DENORMAL_FLUSH)
            x[i] = 0.0;
}

int cochlea_process(cochlea *self, const float *x, size_t n, const float **out,
                    size_t *n_frames)
{
    *out = NULL;
    *n_frames = 0;
    int nf = self->n_filt, nc = self->n_ch, dec = self->p.decimation;
    size_t frames = ((size_t)self->phase + n) / (size_t)dec;
    /* at least one frame, so that *out is never NULL on success */
    size_t cap = frames ? frames : 1;
    if (cap > self->out_cap || !self->out) {
        float *o = realloc(self->out, cap * (size_t)nc * sizeof *o);
        if (!o)
            return err_set("cochlea: out of memory for %zu frames", cap);
        self->out = o;
        self->out_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return err_set("cochlea: input sample %zu is %s", i,
                           isnan(x[i]) ? "NaN" : "infinite");
    double *v = self->v;
    const biquad dq = self->dec;
    size_t t = 0;
    for (size_t i = 0; i < n; i++) {
        cascade(self->filt, self->s1, self->s2, nf, x[i], v);
        v[0] = v[1] = 0.0; /* front taps are not channels (see the header comment) */
        if (self->p.agc)
            for (int s = 0; s < AGC_STAGES; s++)
                agc_stage(v, self->agc + (size_t)s * (size_t)nf, self->agc_old, nf,
                          self->agc_eps[s], agc_target[s]);
        if (self->p.differ)
            for (int k = nf - 1; k > 0; k--) {
                double d = v[k - 1] - v[k]; /* higher-frequency neighbour minus self */
                v[k] = d > 0.0 ? d : 0.0;
            }
        const double *ch = v + 2;
        int emit = ++self->phase == dec;
        if (dec > 1) {
            double *d1 = self->d1, *d2 = self->d2;
            for (int k = 0; k < nc; k++) {
                double y = dq.a0 * ch[k] + d1[k];
                d1[k] = dq.a1 * ch[k] - dq.b1 * y + d2[k];
                d2[k] = dq.a2 * ch[k] - dq.b2 * y;
                v[k + 2] = y;
            }
        }
        if (emit) {
            float *o = self->out + t * (size_t)nc;
            for (int k = 0; k < nc; k++)
                o[k] = (float)ch[k];
            t++;
            self->phase = 0;
            /* keep decaying tails out of denormal range (slow on x86) */
            flush_tiny(self->s1, (size_t)nf);
            flush_tiny(self->s2, (size_t)nf);
            flush_tiny(self->agc, (size_t)nf * AGC_STAGES);
            flush_tiny(self->d1, (size_t)nc);
            flush_tiny(self->d2, (size_t)nc);
        }
    }
    *out = self->out;
    *n_frames = t;
    return 0;
}
