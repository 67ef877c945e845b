/* line_plot: line charts as RGB PNG, drawn by the library itself (no plotting
 * tool): a framed plot area with light grid lines, ticks at round steps (1, 2 or
 * 5 times a power of ten; decades and their 2s and 5s on a log axis) with their
 * numbers, a title, axis labels, a legend of the named series and the series as
 * anti-aliased lines about 2 pixels wide. Text uses data/bitmap_font.
 *
 * Axes span the finite data, widened to the nearest ticks. A point whose x or y
 * is not finite (or whose y is <= 0 on a log axis) is skipped and breaks its
 * line; a point alone between gaps shows as a dot. Files are written through
 * atomic_file: on any error (bad arguments included) nothing is left at path.
 * Pixel (0, 0) is the top left corner. */
#ifndef SPIKESYNTH_LINE_PLOT_H
#define SPIKESYNTH_LINE_PLOT_H

#include <stdint.h>

/* Sides the picture may have, in pixels. */
#define LINE_PLOT_MIN_WIDTH 160
#define LINE_PLOT_MIN_HEIGHT 120
#define LINE_PLOT_MAX_SIDE 8192

typedef struct {
    const char *name;    /* legend entry; NULL or "" leaves the series out of it */
    const double *x, *y; /* n points, drawn in this order */
    int n;               /* >= 1 */
    uint32_t rgb;        /* 0xRRGGBB */
} line_series;

typedef struct {
    int log_y; /* 1: logarithmic y axis (only y > 0 is drawn) */
} line_plot_opts;

/* Draws the series into a width x height RGB PNG at path. title, x_label and
 * y_label may be NULL (left out). 0, or -1 with err_msg() set and no file. */
int line_plot_png(const char *path, const char *title, const char *x_label, const char *y_label,
                  const line_series *series, int n_series, int width, int height);

/* The same with options; opts NULL means linear axes. */
int line_plot_png_opts(const char *path, const char *title, const char *x_label,
                       const char *y_label, const line_series *series, int n_series, int width,
                       int height, const line_plot_opts *opts);

/* Plots a training loss CSV (header naming at least `samples` and `loss`, as
 * ae-train --loss-csv writes: epoch,batch,samples,loss,masked_fraction) as loss
 * against samples seen, 800 x 500: every batch in a light line and, from 20
 * batches on, a centred running mean over about n/25 batches in a dark one. y is
 * logarithmic when every loss is > 0 and they span at least a factor 10. title
 * NULL means "training loss". 0, or -1 with err_msg() set and no file. */
int line_plot_loss_csv(const char *csv_path, const char *png_path, const char *title);

#endif
