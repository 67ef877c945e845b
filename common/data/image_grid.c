/* image_grid: gray PNG pictures of images and matrices (see include/image_grid.h).
 * Layouts are composed on an 8-bit canvas in memory, then written in one go by
 * image_grid_write_gray through atomic_file, so errors never leave partial files.
 * The same writer serves RGB canvases (image_grid_write_rgb, used by line_plot). */
#include "data/image_grid.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

image_grid_opts image_grid_defaults(void)
{
    return (image_grid_opts){.scale = 2, .sep = 2, .sep_value = 0.5f};
}

static uint8_t to_byte(float v)
{
    if (!(v > 0.0f)) /* also NaN */
        return 0;
    if (v >= 1.0f)
        return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

/* libpng reports errors by longjmp; the message is kept for err_set. */
typedef struct {
    char msg[256];
} png_err_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_err_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg; /* the library never prints */
}

/* One encoder for both colour types: channels 1 (gray) or 3 (RGB), 8 bits
 * each, into out; what names the picture in errors. */
static int encode_png(FILE *out, const char *what, const uint8_t *pix, size_t w, size_t h, int channels)
{
    if (w == 0 || h == 0 || w > IMAGE_GRID_MAX_SIDE || h > IMAGE_GRID_MAX_SIDE)
        return err_set("%s: cannot write a %zu x %zu PNG: each side must be 1 to %d pixels", what,
                       w, h, IMAGE_GRID_MAX_SIDE);
    png_err_ctx ctx = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return err_set("%s: out of memory for the PNG writer", what);
    }
    /* png and info are not modified after setjmp, so they survive the longjmp */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return err_set("%s: PNG write failed: %s", what, ctx.msg);
    }
    png_init_io(png, out);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (size_t y = 0; y < h; y++)
        png_write_row(png, pix + y * w * (size_t)channels);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

static int write_png(const char *path, const uint8_t *pix, size_t w, size_t h, int channels)
{
    atomic_file *af = atomic_file_new(path);
    if (!af)
        return -1;
    if (encode_png(atomic_file_stream(af), path, pix, w, h, channels) < 0) {
        atomic_file_destroy(&af);
        return -1;
    }
    return atomic_file_commit(&af);
}

int image_grid_write_gray(const char *path, const uint8_t *pix, size_t w, size_t h)
{
    return write_png(path, pix, w, h, 1);
}

int image_grid_write_rgb(const char *path, const uint8_t *pix, size_t w, size_t h)
{
    return write_png(path, pix, w, h, 3);
}

typedef struct {
    uint8_t *pix;
    size_t w, h;
} canvas;

/* Sides are checked in double first, so the size_t products cannot overflow. */
static int canvas_init(canvas *c, const char *path, double w, double h, uint8_t bg)
{
    c->pix = NULL;
    c->w = c->h = 0;
    if (w < 1 || h < 1 || w > IMAGE_GRID_MAX_SIDE || h > IMAGE_GRID_MAX_SIDE)
        return err_set("%s: picture would be %.0f x %.0f pixels: each side must be 1 to %d", path,
                       w, h, IMAGE_GRID_MAX_SIDE);
    c->w = (size_t)w;
    c->h = (size_t)h;
    c->pix = malloc(c->w * c->h);
    if (!c->pix)
        return err_set("%s: out of memory for a %zu x %zu picture", path, c->w, c->h);
    memset(c->pix, bg, c->w * c->h);
    return 0;
}

/* Draws one h x w float image at (x0, y0), each pixel as a scale x scale block. */
static void blit(canvas *c, size_t x0, size_t y0, const float *img, size_t h, size_t w, int scale)
{
    size_t s = (size_t)scale;
    for (size_t y = 0; y < h; y++) {
        uint8_t *row = c->pix + (y0 + y * s) * c->w + x0;
        for (size_t x = 0; x < w; x++)
            memset(row + x * s, to_byte(img[y * w + x]), s);
        for (size_t k = 1; k < s; k++)
            memcpy(row + k * c->w, row, w * s);
    }
}

static int check_args(const char *path, size_t n, size_t h, size_t w, size_t cols,
                      const image_grid_opts *o)
{
    if (n == 0 || h == 0 || w == 0 || cols == 0)
        return err_set("%s: nothing to draw: %zu images of %zu x %zu in %zu columns", path, n, h,
                       w, cols);
    if (o->scale < 1 || o->sep < 0)
        return err_set("%s: bad layout: scale %d (>= 1) and separator %d (>= 0)", path, o->scale,
                       o->sep);
    return 0;
}

/* The grid of image_grid_write_png drawn into c; what names it in errors. */
static int draw_grid(canvas *c, const char *what, const float *images, size_t n, size_t h, size_t w,
                     size_t cols, const image_grid_opts *opts)
{
    image_grid_opts o = opts ? *opts : image_grid_defaults();
    if (check_args(what, n, h, w, cols, &o) != 0)
        return -1;
    if (cols > n)
        cols = n;
    size_t rows = (n + cols - 1) / cols;
    double cw = (double)w * o.scale, ch = (double)h * o.scale, sep = o.sep;
    if (canvas_init(c, what, cols * cw + (cols + 1) * sep, rows * ch + (rows + 1) * sep,
                    to_byte(o.sep_value)) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t r = i / cols, k = i % cols;
        size_t x0 = (size_t)o.sep + k * ((size_t)cw + (size_t)o.sep);
        size_t y0 = (size_t)o.sep + r * ((size_t)ch + (size_t)o.sep);
        blit(c, x0, y0, images + i * h * w, h, w, o.scale);
    }
    return 0;
}

int image_grid_write_png(const char *path, const float *images, size_t n, size_t h, size_t w,
                         size_t cols, const image_grid_opts *opts)
{
    canvas c = {0};
    int rc = draw_grid(&c, path, images, n, h, w, cols, opts);
    if (rc == 0)
        rc = image_grid_write_gray(path, c.pix, c.w, c.h);
    free(c.pix);
    return rc;
}

int image_grid_encode_png(const float *images, size_t n, size_t h, size_t w, size_t cols,
                          const image_grid_opts *opts, unsigned char **png, size_t *len)
{
    canvas c = {0};
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = NULL;
    int rc = draw_grid(&c, "PNG in memory", images, n, h, w, cols, opts);
    if (rc == 0 && !(mem = open_memstream(&buf, &size)))
        rc = err_set("PNG in memory: %s", strerror(errno));
    if (rc == 0)
        rc = encode_png(mem, "PNG in memory", c.pix, c.w, c.h, 1);
    if (mem && fclose(mem) != 0 && rc == 0)
        rc = err_set("PNG in memory: %s", strerror(errno));
    free(c.pix);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    *png = (unsigned char *)buf;
    *len = size;
    return 0;
}

int image_grid_write_pairs(const char *path, const float *inputs, const float *outputs, size_t n,
                           size_t h, size_t w, size_t cols, const image_grid_opts *opts)
{
    image_grid_opts o = opts ? *opts : image_grid_defaults();
    if (check_args(path, n, h, w, cols, &o) != 0)
        return -1;
    if (cols > n)
        cols = n;
    size_t groups = (n + cols - 1) / cols;
    double cw = (double)w * o.scale, ch = (double)h * o.scale, sep = o.sep;
    /* border, then per group: inputs, sep, outputs; groups apart by 3 sep */
    double height = 2 * sep + groups * (2 * ch + sep) + (groups - 1) * 3 * sep;
    canvas c = {0};
    if (canvas_init(&c, path, cols * cw + (cols + 1) * sep, height, to_byte(o.sep_value)) != 0)
        return -1;
    size_t s = (size_t)o.sep, group_h = 2 * (size_t)ch + s + 3 * s;
    for (size_t i = 0; i < n; i++) {
        size_t g = i / cols, k = i % cols;
        size_t x0 = s + k * ((size_t)cw + s), y0 = s + g * group_h;
        blit(&c, x0, y0, inputs + i * h * w, h, w, o.scale);
        blit(&c, x0, y0 + (size_t)ch + s, outputs + i * h * w, h, w, o.scale);
    }
    int rc = image_grid_write_gray(path, c.pix, c.w, c.h);
    free(c.pix);
    return rc;
}

int image_grid_write_heatmap(const char *path, const float *m, size_t rows, size_t cols,
                             int scale_x, int scale_y, int invert)
{
    if (rows == 0 || cols == 0)
        return err_set("%s: nothing to draw: a %zu x %zu matrix", path, rows, cols);
    if (scale_x < 1 || scale_y < 1)
        return err_set("%s: bad scale %d x %d: both must be >= 1", path, scale_x, scale_y);
    canvas c = {0};
    if (canvas_init(&c, path, (double)cols * scale_x, (double)rows * scale_y, 0) != 0)
        return -1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < rows * cols; i++) {
        if (isfinite(m[i])) {
            lo = m[i] < lo ? m[i] : lo;
            hi = m[i] > hi ? m[i] : hi;
        }
    }
    double range = hi > lo ? hi - lo : 0.0;
    size_t sx = (size_t)scale_x, sy = (size_t)scale_y;
    for (size_t r = 0; r < rows; r++) {
        uint8_t *row = c.pix + r * sy * c.w;
        for (size_t k = 0; k < cols; k++) {
            float v = m[r * cols + k];
            double t = 0.0;
            if (v == INFINITY)
                t = range > 0 ? 1.0 : 0.0;
            else if (isfinite(v) && range > 0)
                t = (v - lo) / range;
            uint8_t b = to_byte((float)t);
            memset(row + k * sx, invert ? 255 - b : b, sx);
        }
        for (size_t j = 1; j < sy; j++)
            memcpy(row + j * c.w, row, c.w);
    }
    int rc = image_grid_write_gray(path, c.pix, c.w, c.h);
    free(c.pix);
    return rc;
}
