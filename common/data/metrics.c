/* metrics: z-scored reconstruction errors, correlation and rates (see include/metrics.h).
 * Every per-image quantity is computed in double with two passes (mean, then
 * deviations), which stays exact enough for maps of integer spike counts.
 * "Constant" means all values bitwise equal, so rounding in the mean can never
 * turn a flat map into amplified noise. */
#include "data/metrics.h"

#include "core/err.h"

#include <math.h>

typedef struct {
    double mean;
    double inv_sd; /* 1 / sample sd, or 0 for a constant map (so z = 0) */
    double ss;     /* sum of squared deviations */
    int constant;
} moments;

static moments moments_of(const float *x, size_t n)
{
    moments m = {0.0, 0.0, 0.0, 1};
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        if (x[i] != x[0])
            m.constant = 0;
    }
    if (n == 0)
        return m;
    m.mean = s / (double)n;
    if (n < 2)
        m.constant = 1;
    if (m.constant)
        return m;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - m.mean;
        m.ss += d * d;
    }
    m.inv_sd = m.ss > 0.0 ? 1.0 / sqrt(m.ss / (double)(n - 1)) : 0.0;
    return m;
}

void metrics_zscore(const float *x, size_t n, float *out)
{
    moments m = moments_of(x, n);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((x[i] - m.mean) * m.inv_sd);
}

/* Mean squared difference of the z-scored maps; *r gets Pearson's r. */
static double pair_scores(const float *a, const float *b, size_t n, double *r)
{
    if (n == 0) {
        *r = NAN;
        return NAN;
    }
    moments ma = moments_of(a, n), mb = moments_of(b, n);
    double se = 0.0, cross = 0.0;
    for (size_t i = 0; i < n; i++) {
        double da = a[i] - ma.mean, db = b[i] - mb.mean;
        double d = da * ma.inv_sd - db * mb.inv_sd;
        se += d * d;
        cross += da * db;
    }
    if (ma.constant || mb.constant || ma.ss <= 0.0 || mb.ss <= 0.0) {
        *r = 0.0;
    } else {
        double v = cross / sqrt(ma.ss * mb.ss);
        *r = v > 1.0 ? 1.0 : v < -1.0 ? -1.0 : v;
    }
    return se / (double)n;
}

double metrics_zmse(const float *a, const float *b, size_t n)
{
    double r;
    return pair_scores(a, b, n, &r);
}

double metrics_pearson(const float *a, const float *b, size_t n)
{
    double r;
    pair_scores(a, b, n, &r);
    return r;
}

double metrics_spike_mse(const float *in_counts, const float *out_counts, size_t n_images,
                         size_t n_pixels)
{
    return metrics_mse(in_counts, out_counts, n_images, n_pixels);
}

/* The mean over n_images of a per-image score, summed in image order; NaN for none. */
static double image_mean(double (*score)(const float *, const float *, size_t), const float *images,
                         const float *out_counts, size_t n_images, size_t n_pixels)
{
    if (n_images == 0)
        return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n_images; i++)
        s += score(images + i * n_pixels, out_counts + i * n_pixels, n_pixels);
    return s / (double)n_images;
}

double metrics_mse(const float *images, const float *out_counts, size_t n_images,
                   size_t n_pixels)
{
    return image_mean(metrics_zmse, images, out_counts, n_images, n_pixels);
}

double metrics_pearson_mean(const float *images, const float *out_counts, size_t n_images,
                            size_t n_pixels)
{
    return image_mean(metrics_pearson, images, out_counts, n_images, n_pixels);
}

/* Mean of (count / steps - image)^2 over one image. */
static double pixel_se(const float *image, const float *counts, size_t n, double inv_steps)
{
    double s = 0.0;
    for (size_t k = 0; k < n; k++) {
        double d = counts[k] * inv_steps - image[k];
        s += d * d;
    }
    return s / (double)n;
}

double metrics_pixel_mse(const float *images, const float *out_counts, size_t n_images,
                         size_t n_pixels, int steps)
{
    if (n_images == 0 || n_pixels == 0 || steps < 1)
        return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n_images; i++)
        s += pixel_se(images + i * n_pixels, out_counts + i * n_pixels, n_pixels, 1.0 / steps);
    return s / (double)n_images;
}

static double sum_of(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

double metrics_firing_rate(const float *counts, size_t n_rows, size_t n_cols, int steps)
{
    if (n_rows == 0 || n_cols == 0 || steps < 1)
        return NAN;
    return sum_of(counts, n_rows * n_cols) / ((double)n_rows * (double)n_cols * steps);
}

void metrics_acc_init(metrics_acc *acc) { *acc = (metrics_acc){0}; }

int metrics_acc_add(metrics_acc *acc, const float *images, const float *in_counts,
                    const float *out_counts, size_t n, size_t n_pixels, int steps)
{
    if (n_pixels < 2)
        return err_set("metrics: %zu pixels per image: z-scores need at least 2", n_pixels);
    if (acc->n_pixels && acc->n_pixels != n_pixels)
        return err_set("metrics: a batch of %zu pixels per image after batches of %zu", n_pixels,
                       acc->n_pixels);
    if (steps < 1)
        return err_set("metrics: %d time steps: need at least 1", steps);
    acc->n_pixels = n_pixels;
    for (size_t i = 0; i < n; i++) {
        const float *img = images + i * n_pixels, *out = out_counts + i * n_pixels;
        double r;
        acc->sum_mse += pair_scores(img, out, n_pixels, &r);
        acc->sum_r += r;
        acc->sum_pixel_mse += pixel_se(img, out, n_pixels, 1.0 / steps);
        if (in_counts) {
            acc->sum_spike_mse += metrics_zmse(in_counts + i * n_pixels, out, n_pixels);
            acc->in_rate_num += sum_of(in_counts + i * n_pixels, n_pixels);
            acc->in_rate_den += (double)n_pixels * steps;
        }
        acc->out_rate_num += sum_of(out, n_pixels);
        acc->out_rate_den += (double)n_pixels * steps;
    }
    acc->n_samples += n;
    if (in_counts)
        acc->n_spike += n;
    return 0;
}

metrics_result metrics_acc_result(const metrics_acc *acc)
{
    metrics_result res = {NAN, NAN, NAN, NAN, NAN, NAN, acc->n_samples};
    if (acc->n_samples) {
        double n = (double)acc->n_samples;
        res.mse = acc->sum_mse / n;
        res.pearson_r = acc->sum_r / n;
        res.pixel_mse = acc->sum_pixel_mse / n;
        res.out_rate = acc->out_rate_num / acc->out_rate_den;
    }
    if (acc->n_spike) {
        res.spike_mse = acc->sum_spike_mse / (double)acc->n_spike;
        res.in_rate = acc->in_rate_num / acc->in_rate_den;
    }
    return res;
}
