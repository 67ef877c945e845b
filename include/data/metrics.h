/* metrics: the reconstruction scores of the paper (section 3) as pure functions.
 *
 * Arrays are n_images x n_pixels, row-major floats; spike-count maps hold the
 * number of spikes of each pixel's neuron over the T = steps time steps.
 *   Spike-MSE  mean over images and pixels of (z(input counts) - z(output counts))^2
 *   MSE        mean over images and pixels of (z(input image)  - z(output counts))^2
 *   r          Pearson correlation of input image and output counts, per image,
 *              averaged over images (the pair the MSE compares)
 *   pixel MSE  mean of (output counts / steps - input image)^2: the plain MSE on
 *              [0, 1] pixels (what PyTorch tutorials quote). Note an output that
 *              copies a Poisson input spiking at p * r_max scores r_max * p, not p,
 *              so with r_max < 1 this is biased; the z-scored metrics are not.
 * z() is the z-score of one image's map: zero mean, unit variance with the sample
 * standard deviation (N - 1), as MATLAB's zscore; a constant map becomes all zeros.
 * For two non-constant maps MSE = 2 (N - 1) / N (1 - r): a blank (constant) output
 * scores (N - 1) / N, about 1, a perfect one 0.
 * Sums are in double, in a fixed order: results do not depend on batching beyond
 * rounding. For an ANN's outputs in [0, 1], pass them as "counts" with steps = 1. */
#ifndef SPIKESYNTH_METRICS_H
#define SPIKESYNTH_METRICS_H

#include <stddef.h>

/* out[i] = (x[i] - mean) / sample_sd; all zeros when x is constant or n < 2.
 * out may be x. */
void metrics_zscore(const float *x, size_t n, float *out);

/* One map pair of n values: mean of (z(a) - z(b))^2, and Pearson r (0 when
 * either map is constant). */
double metrics_zmse(const float *a, const float *b, size_t n);
double metrics_pearson(const float *a, const float *b, size_t n);

/* Averages over n_images images of n_pixels each (NAN when n_images is 0). */
double metrics_spike_mse(const float *in_counts, const float *out_counts, size_t n_images,
                         size_t n_pixels);
double metrics_mse(const float *images, const float *out_counts, size_t n_images,
                   size_t n_pixels);
double metrics_pearson_mean(const float *images, const float *out_counts, size_t n_images,
                            size_t n_pixels);
double metrics_pixel_mse(const float *images, const float *out_counts, size_t n_images,
                         size_t n_pixels, int steps);
/* Spikes per neuron per step: sum(counts) / (n_rows * n_cols * steps). */
double metrics_firing_rate(const float *counts, size_t n_rows, size_t n_cols, int steps);

/* Streaming accumulator over batches; zero-initialise it with metrics_acc_init. */
typedef struct {
    size_t n_pixels;     /* fixed by the first batch */
    size_t n_samples;    /* images seen */
    size_t n_spike;      /* images seen with input counts (for Spike-MSE, in_rate) */
    double sum_mse, sum_spike_mse, sum_r, sum_pixel_mse; /* sums of per-image values */
    double in_rate_num, out_rate_num;  /* spikes */
    double in_rate_den, out_rate_den;  /* neuron-steps */
} metrics_acc;

typedef struct {
    double mse, spike_mse, pearson_r, pixel_mse;
    double in_rate, out_rate; /* input / output spikes per pixel per step */
    size_t n_samples;
} metrics_result;

void metrics_acc_init(metrics_acc *acc);
/* Adds a batch of n images: images in [0, 1], in_counts (NULL when there are no
 * input spikes, e.g. an ANN) and out_counts over `steps` steps. -1 with err_msg()
 * when n_pixels differs from earlier batches or is < 2, or steps < 1. */
int metrics_acc_add(metrics_acc *acc, const float *images, const float *in_counts,
                    const float *out_counts, size_t n, size_t n_pixels, int steps);
/* Means over all images added; NAN for a value nothing contributed to. */
metrics_result metrics_acc_result(const metrics_acc *acc);

#endif
