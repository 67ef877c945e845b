/* image_grid: pictures for people: image grids, inputs above reconstructions, and
 * heat maps of arbitrary matrices (spike rasters, cochleagrams), as 8-bit gray PNG;
 * also the PNG writer for RGB canvases composed elsewhere (data/line_plot).
 *
 * Float images are n x h x w row-major in [0, 1]; values outside are clamped and
 * NaN shows as 0 (black). Every file is written through atomic_file: on any error
 * nothing (not even a partial file) is left at path. Row 0 is the top row. */
#ifndef SPIKESYNTH_IMAGE_GRID_H
#define SPIKESYNTH_IMAGE_GRID_H

#include <stddef.h>
#include <stdint.h>

/* Largest PNG side we write (libpng's default user limit). */
#define IMAGE_GRID_MAX_SIDE 1000000

typedef struct {
    int scale;       /* integer upscaling of every source pixel, >= 1 */
    int sep;         /* separator (and border) width in output pixels, >= 0 */
    float sep_value; /* gray of separators, borders and empty cells, in [0, 1] */
} image_grid_opts;

/* scale 2, sep 2, sep_value 0.5: readable at a glance; used when opts is NULL. */
image_grid_opts image_grid_defaults(void);

/* Writes an 8-bit grayscale PNG of w x h pixels (pix row-major). 0 or -1. */
int image_grid_write_gray(const char *path, const uint8_t *pix, size_t w, size_t h);
/* Writes an 8-bit RGB PNG of w x h pixels (pix row-major, 3 bytes R, G, B a pixel).
 * 0 or -1; the same atomic write and size limits as image_grid_write_gray. */
int image_grid_write_rgb(const char *path, const uint8_t *pix, size_t w, size_t h);

/* Lays n images of h x w in a grid of `cols` columns (ceil(n / cols) rows, filled
 * row by row), separated and bordered by opts->sep pixels. 0 or -1. */
int image_grid_write_png(const char *path, const float *images, size_t n, size_t h, size_t w,
                         size_t cols, const image_grid_opts *opts);

/* The picture image_grid_write_png writes, as PNG bytes in memory: *png (free()
 * it) of *len bytes. 0 or -1 (then nothing to free). */
int image_grid_encode_png(const float *images, size_t n, size_t h, size_t w, size_t cols,
                          const image_grid_opts *opts, unsigned char **png, size_t *len);

/* Inputs above reconstructions: for each group of `cols` images, a row of inputs
 * and right below it the row of their outputs (same column = same sample); groups
 * are set apart by a gap three times opts->sep. 0 or -1. */
int image_grid_write_pairs(const char *path, const float *inputs, const float *outputs, size_t n,
                           size_t h, size_t w, size_t cols, const image_grid_opts *opts);

/* A rows x cols float matrix as a gray heat map, min-max normalised (min black,
 * max white; a constant matrix maps to the minimum; NaN counts as the minimum), each
 * cell drawn as scale_x x scale_y pixels; invert = 1 draws max black on white
 * (spike rasters read better that way). 0 or -1. */
int image_grid_write_heatmap(const char *path, const float *m, size_t rows, size_t cols,
                             int scale_x, int scale_y, int invert);

#endif
