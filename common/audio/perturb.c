/* perturb: speed, gain, shift and additive noise on recordings
 * (include/audio/perturb.h). */
#include "audio/perturb.h"

#include "core/err.h"
#include "numerics/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double perturb_power(const float *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return n ? s / (double)n : 0.0;
}

int perturb_speed(audio *a, double factor, enum audio_quality quality)
{
    if (!(factor >= 0.25 && factor <= 4))
        return err_set("perturb: speed factor %g is out of range 0.25..4", factor);
    const double fs = a->fs;
    if (factor == 1.0)
        return 0;
    /* fewer samples for the same sound, then heard at the old rate: faster */
    if (audio_resample(a, fs / factor, quality) < 0)
        return err_wrap("perturb: speed %g", factor);
    a->fs = fs;
    return 0;
}

void perturb_gain(float *x, size_t n, double db)
{
    const float g = (float)pow(10.0, db / 20.0);
    for (size_t i = 0; i < n; i++)
        x[i] *= g;
}

int perturb_shift(audio *a, long shift)
{
    if (shift < 0) {
        size_t drop = (size_t)-shift;
        if (drop >= a->n)
            drop = a->n - 1;
        memmove(a->samples, a->samples + drop, (a->n - drop) * sizeof *a->samples);
        a->n -= drop;
        return 0;
    }
    if (shift == 0)
        return 0;
    float *x = realloc(a->samples, (a->n + (size_t)shift) * sizeof *x);
    if (!x)
        return err_set("perturb: out of memory for a shift of %ld samples", shift);
    memmove(x + shift, x, a->n * sizeof *x);
    memset(x, 0, (size_t)shift * sizeof *x);
    a->samples = x;
    a->n += (size_t)shift;
    return 0;
}

int perturb_add_noise(float *x, size_t n, const float *noise, size_t n_noise, size_t offset,
                      double snr_db)
{
    if (!n_noise)
        return err_set("perturb: no noise samples");
    double pn = 0;
    for (size_t i = 0; i < n; i++) {
        double v = noise[(offset + i) % n_noise];
        pn += v * v;
    }
    pn /= (double)n;
    const double ps = perturb_power(x, n);
    if (!(pn > 0) || !(ps > 0))
        return err_set("perturb: the %s is silent: no signal-to-noise ratio to set",
                       pn > 0 ? "recording" : "noise");
    const double g = sqrt(ps / (pn * pow(10.0, snr_db / 10.0)));
    for (size_t i = 0; i < n; i++)
        x[i] += (float)(g * noise[(offset + i) % n_noise]);
    return 0;
}

void perturb_white(float *out, size_t n, uint64_t seed, uint32_t stream)
{
    for (size_t i = 0; i < n; i += 4) {
        rng_block r = rng_philox(seed, (rng_block){{RNG_STREAM_NOISE, stream, (uint32_t)(i / 4),
                                                    (uint32_t)((uint64_t)i >> 34)}});
        for (int k = 0; k < 4 && i + (size_t)k < n; k += 2) { /* Box-Muller: two per pair */
            double u1 = (rng_unit(r.v[k]) + 0.5 / 16777216.0), u2 = rng_unit(r.v[k + 1]);
            double rad = sqrt(-2.0 * log(u1));
            out[i + (size_t)k] = (float)(rad * cos(2 * M_PI * u2));
            if (i + (size_t)k + 1 < n)
                out[i + (size_t)k + 1] = (float)(rad * sin(2 * M_PI * u2));
        }
    }
}

int perturb_babble(float *out, size_t n, const audio *const *talkers, size_t k)
{
    memset(out, 0, n * sizeof *out);
    size_t used = 0;
    for (size_t j = 0; j < k; j++) {
        const audio *t = talkers[j];
        double p = perturb_power(t->samples, t->n);
        if (!(p > 0))
            continue;
        const float g = (float)(1.0 / sqrt(p));
        for (size_t i = 0; i < n; i++)
            out[i] += g * t->samples[i % t->n];
        used++;
    }
    if (!used)
        return err_set("perturb: babble from %zu talker(s), none of them audible", k);
    return 0;
}
