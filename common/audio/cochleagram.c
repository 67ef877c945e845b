/* cochleagram: normalisation and fixed frame count (see include/cochleagram.h). */
#include "audio/cochleagram.h"
#include "core/err.h"

#include <math.h>
#include <string.h>

/* Largest value, or -1 (err set) on a negative or non-finite one. */
static double image_max(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] >= 0.0f) || !isfinite(x[i]))
            return err_set("cochleagram: value %g at index %zu is not a finite non-negative number",
                           (double)x[i], i);
        if (x[i] > m)
            m = x[i];
    }
    return m;
}

double cochleagram_normalise(float *x, size_t n_frames, int n_channels)
{
    size_t n = n_frames * (size_t)n_channels;
    double m = image_max(x, n);
    if (m <= 0.0)
        return m;
    float inv = (float)(1.0 / m);
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        x[i] = v > 1.0f ? 1.0f : v; /* 1/m rounding must not push the peak above 1 */
    }
    return m;
}

void cochleagram_fit(const float *x, size_t n_frames, int n_channels, float *out,
                     size_t out_frames)
{
    size_t keep = n_frames < out_frames ? n_frames : out_frames;
    size_t row = (size_t)n_channels;
    if (keep)
        memcpy(out, x, keep * row * sizeof *out);
    memset(out + keep * row, 0, (out_frames - keep) * row * sizeof *out);
}

/* Frames [*first, *last] of x from its first to its last one with some
 * channel at COCHLEAGRAM_LOUD of m or more; false when fewer than two. */
static bool loud_span(const float *x, size_t n_frames, size_t ch, double m, size_t *first, size_t *last)
{
    bool any = false;
    for (size_t t = 0; t < n_frames; t++)
        for (size_t c = 0; c < ch; c++)
            if (x[t * ch + c] >= COCHLEAGRAM_LOUD * m) {
                if (!any)
                    *first = t;
                *last = t;
                any = true;
                break;
            }
    return any && *last > *first;
}

/* STRETCH's fit given the image's maximum m. */
static void stretch_by(const float *x, size_t n_frames, int n_channels, float *out, size_t out_frames,
                       double m)
{
    const size_t ch = (size_t)n_channels;
    size_t a = 0, b = 0;
    if (out_frames < 2 || m <= 0.0 || !loud_span(x, n_frames, ch, m, &a, &b)) {
        cochleagram_fit(x, n_frames, n_channels, out, out_frames);
        return;
    }
    for (size_t t = 0; t < out_frames; t++) {
        const double pos = (double)a + (double)t * (double)(b - a) / (double)(out_frames - 1);
        const size_t i = (size_t)pos < b ? (size_t)pos : b - 1;
        const double f = pos - (double)i;
        for (size_t c = 0; c < ch; c++)
            out[t * ch + c] = (float)((1.0 - f) * x[i * ch + c] + f * x[(i + 1) * ch + c]);
    }
}

void cochleagram_stretch(const float *x, size_t n_frames, int n_channels, float *out,
                         size_t out_frames)
{
    float m = 0.0f;
    for (size_t i = 0; i < n_frames * (size_t)n_channels; i++)
        m = x[i] > m ? x[i] : m;
    stretch_by(x, n_frames, n_channels, out, out_frames, m);
}

/* The fit, given the image's maximum m (already found by the caller). */
static void fit_as(const float *x, size_t n_frames, int n_channels, float *out, size_t out_frames,
                   cochleagram_fit_mode fit, double m)
{
    if (fit == COCHLEAGRAM_STRETCH)
        stretch_by(x, n_frames, n_channels, out, out_frames, m);
    else
        cochleagram_fit(x, n_frames, n_channels, out, out_frames);
}

int cochleagram_make(const float *x, size_t n_frames, int n_channels, float *out,
                     size_t out_frames)
{
    return cochleagram_make_as(x, n_frames, n_channels, out, out_frames, false, COCHLEAGRAM_PAD);
}

int cochleagram_make_per_channel(const float *x, size_t n_frames, int n_channels, float *out,
                                 size_t out_frames)
{
    return cochleagram_make_as(x, n_frames, n_channels, out, out_frames, true, COCHLEAGRAM_PAD);
}

/* By the maximum of the whole utterance. */
static int normalise_max(const float *x, size_t n_frames, int n_channels, float *out, size_t out_frames,
                         cochleagram_fit_mode fit)
{
    double m = image_max(x, n_frames * (size_t)n_channels);
    if (m < 0.0)
        return -1;
    fit_as(x, n_frames, n_channels, out, out_frames, fit, m);
    if (m > 0.0) {
        float inv = (float)(1.0 / m);
        size_t n = out_frames * (size_t)n_channels;
        for (size_t i = 0; i < n; i++) {
            float v = out[i] * inv;
            out[i] = v > 1.0f ? 1.0f : v;
        }
    }
    return 0;
}

/* Each channel by its own maximum over the utterance (see the header). */
static int normalise_channels(const float *x, size_t n_frames, int n_channels, float *out,
                              size_t out_frames, cochleagram_fit_mode fit)
{
    const size_t ch = (size_t)n_channels;
    double m = image_max(x, n_frames * ch);
    if (m < 0.0)
        return -1;
    fit_as(x, n_frames, n_channels, out, out_frames, fit, m);
    if (m <= 0.0)
        return 0;
    float inv[1024];
    if (ch > sizeof inv / sizeof *inv)
        return err_set("cochleagram: %d channels, more than %zu", n_channels, sizeof inv / sizeof *inv);
    for (size_t c = 0; c < ch; c++) {
        float cm = 0.0f;
        for (size_t t = 0; t < n_frames; t++)
            if (x[t * ch + c] > cm)
                cm = x[t * ch + c];
        double d = cm > COCHLEAGRAM_CHANNEL_FLOOR * m ? cm : COCHLEAGRAM_CHANNEL_FLOOR * m;
        inv[c] = (float)(1.0 / d);
    }
    for (size_t t = 0; t < out_frames; t++)
        for (size_t c = 0; c < ch; c++) {
            float v = out[t * ch + c] * inv[c];
            out[t * ch + c] = v > 1.0f ? 1.0f : v;
        }
    return 0;
}

int cochleagram_make_as(const float *x, size_t n_frames, int n_channels, float *out,
                        size_t out_frames, bool per_channel, cochleagram_fit_mode fit)
{
    return (per_channel ? normalise_channels : normalise_max)(x, n_frames, n_channels, out, out_frames, fit);
}
