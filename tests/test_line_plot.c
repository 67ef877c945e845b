/* test_line_plot: plots of known curves are read back with libpng and checked
 * where the data says the line must be (the frame is found as the long pure
 * black rows and columns), and where it must not; text stands in the title
 * band; log axes straighten exponentials; NaN breaks a line; the loss CSV of
 * ae-train is plotted; bad input gives an error and leaves no file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/bitmap_font.h"
#include "data/line_plot.h"
#include "png_read.h"
#include "tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RED 0xFF0000u
#define BLUE 0x0000FFu

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir, sizeof tmpdir, "test_line_plot");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name) { return tmpdir_at(tmpdir, name); }

/* A PNG read back as 8-bit RGB; the file must really be RGB without alpha. */
typedef struct {
    int w, h;
    uint8_t *pix;
    int x0, y0, x1, y1; /* the frame */
} picture;

static int is_black(const picture *p, int x, int y)
{
    const uint8_t *q = p->pix + 3 * ((size_t)y * p->w + x);
    return q[0] == 0 && q[1] == 0 && q[2] == 0;
}

/* The frame: the first and last columns (rows) more than half pure black. */
static void find_frame(picture *p)
{
    p->x0 = p->y0 = p->x1 = p->y1 = -1;
    for (int x = 0; x < p->w; x++) {
        int n = 0;
        for (int y = 0; y < p->h; y++)
            n += is_black(p, x, y);
        if (n > p->h / 2) {
            p->x0 = p->x0 < 0 ? x : p->x0;
            p->x1 = x;
        }
    }
    for (int y = 0; y < p->h; y++) {
        int n = 0;
        for (int x = 0; x < p->w; x++)
            n += is_black(p, x, y);
        if (n > p->w / 2) {
            p->y0 = p->y0 < 0 ? y : p->y0;
            p->y1 = y;
        }
    }
    if (p->x0 < 0 || p->y0 < 0 || p->x1 - p->x0 < 100 || p->y1 - p->y0 < 100)
        fail_msg("no plot frame found: columns %d..%d, rows %d..%d", p->x0, p->x1, p->y0, p->y1);
}

static picture read_png(const char *path)
{
    uint32_t w, h;
    uint8_t *pix = png_read_pixels(path, 3, &w, &h);
    picture p = {(int)w, (int)h, pix, 0, 0, 0, 0};
    find_frame(&p);
    return p;
}

/* Pixel (x, y) is close to rgb (each channel within 60). */
static int near_color(const picture *p, int x, int y, uint32_t rgb)
{
    if (x < 0 || y < 0 || x >= p->w || y >= p->h)
        return 0;
    const uint8_t *q = p->pix + 3 * ((size_t)y * p->w + x);
    for (int k = 0; k < 3; k++)
        if (abs(q[k] - (int)((rgb >> (16 - 8 * k)) & 0xFF)) > 60)
            return 0;
    return 1;
}

/* Pixels of colour rgb within r of (x, y). */
static int count_near(const picture *p, double x, double y, int r, uint32_t rgb)
{
    int n = 0, cx = (int)lrint(x), cy = (int)lrint(y);
    for (int j = cy - r; j <= cy + r; j++)
        for (int i = cx - r; i <= cx + r; i++)
            n += near_color(p, i, j, rgb);
    return n;
}

/* Where the frame puts data point (u, v), given as fractions of the axes. */
static double frame_x(const picture *p, double u) { return p->x0 + u * (p->x1 - p->x0); }
static double frame_y(const picture *p, double v) { return p->y1 - v * (p->y1 - p->y0); }

static void assert_no_file(const char *path)
{
    if (access(path, F_OK) == 0)
        fail_msg("%s exists after a failed plot", path);
    tmpdir_assert_no_temp(tmpdir);
}

static void test_parabola(void **state)
{
    (void)state;
    double x[101], y[101];
    for (int i = 0; i <= 100; i++)
        x[i] = i * 0.1, y[i] = x[i] * x[i]; /* axes exactly 0..10 and 0..100 */
    line_series s = {"x squared", x, y, 101, RED};
    assert_int_equal(
        line_plot_png(tpath("parabola.png"), "Parabola", "x", "x^2", &s, 1, 640, 480), 0);
    picture p = read_png(tpath("parabola.png"));
    assert_int_equal(p.w, 640);
    assert_int_equal(p.h, 480);
    for (double u = 1; u <= 9; u += 2) /* on the curve: red; far below it: not */
        if (count_near(&p, frame_x(&p, u / 10), frame_y(&p, u * u / 100), 2, RED) < 3)
            fail_msg("no curve at x = %g (pixel %.0f, %.0f)", u, frame_x(&p, u / 10),
                     frame_y(&p, u * u / 100));
    assert_int_equal(count_near(&p, frame_x(&p, 0.9), frame_y(&p, 0.2), 6, RED), 0);
    assert_int_equal(count_near(&p, frame_x(&p, 0.3), frame_y(&p, 0.6), 6, RED), 0);
    /* at least 2 pixels thick: a column through a flat stretch of the curve */
    int col = (int)lrint(frame_x(&p, 0.05)), thick = 0;
    for (int yy = p.y0; yy <= p.y1; yy++)
        thick += near_color(&p, col, yy, RED);
    assert_true(thick >= 2);
    /* the title band (above the frame) holds dark text pixels, centred */
    int ink = 0;
    for (int yy = 0; yy < p.y0; yy++)
        for (int xx = p.w / 4; xx < 3 * p.w / 4; xx++)
            ink += near_color(&p, xx, yy, 0x202020u);
    assert_true(ink > 50);
    /* tick numbers left of the frame and under it */
    int left = 0, below = 0;
    for (int yy = p.y0; yy <= p.y1; yy++)
        for (int xx = 0; xx < p.x0 - 3; xx++)
            left += near_color(&p, xx, yy, 0x202020u);
    for (int yy = p.y1 + 3; yy < p.h; yy++)
        for (int xx = p.x0; xx <= p.x1; xx++)
            below += near_color(&p, xx, yy, 0x202020u);
    assert_true(left > 50 && below > 50);
    free(p.pix);
}

static void test_log_axis(void **state)
{
    (void)state;
    double x[31], y[31];
    for (int i = 0; i <= 30; i++)
        x[i] = i * 0.1, y[i] = pow(10.0, x[i]); /* 1 .. 1000: a straight line on log y */
    line_series s = {NULL, x, y, 31, BLUE};
    line_plot_opts o = {.log_y = 1};
    assert_int_equal(line_plot_png_opts(tpath("log.png"), "exp", "x", "y", &s, 1, 500, 400, &o), 0);
    picture p = read_png(tpath("log.png"));
    for (double u = 0.25; u < 1; u += 0.25)
        if (count_near(&p, frame_x(&p, u), frame_y(&p, u), 2, BLUE) < 3)
            fail_msg("the log line misses (%g, %g)", u, u);
    assert_int_equal(count_near(&p, frame_x(&p, 0.5), frame_y(&p, 0.2), 6, BLUE), 0);
    free(p.pix);
}

static void test_gaps(void **state)
{
    (void)state;
    /* y = 50 on 0..10, NaN on 4..6: no line over the gap; one series all NaN is fine
     * when another has data */
    double x[101], y[101], nan_y[3] = {NAN, NAN, NAN};
    for (int i = 0; i <= 100; i++)
        x[i] = i * 0.1, y[i] = x[i] > 4 && x[i] < 6 ? NAN : 50;
    y[0] = 0, y[100] = 100; /* pins the y axis to 0..100 */
    line_series s[2] = {{"flat", x, y, 101, RED}, {"empty", x, nan_y, 3, BLUE}};
    assert_int_equal(line_plot_png(tpath("gap.png"), NULL, NULL, NULL, s, 2, 400, 300), 0);
    picture p = read_png(tpath("gap.png"));
    assert_true(count_near(&p, frame_x(&p, 0.25), frame_y(&p, 0.5), 2, RED) >= 3);
    assert_true(count_near(&p, frame_x(&p, 0.75), frame_y(&p, 0.5), 2, RED) >= 3);
    assert_int_equal(count_near(&p, frame_x(&p, 0.5), frame_y(&p, 0.5), 5, RED), 0);
    free(p.pix);
    /* one point: a dot in the middle of axes widened around it */
    double one_x = 5, one_y = -3;
    line_series dot = {"dot", &one_x, &one_y, 1, BLUE};
    assert_int_equal(line_plot_png(tpath("dot.png"), "one point", "x", "y", &dot, 1, 400, 300), 0);
    p = read_png(tpath("dot.png"));
    assert_true(count_near(&p, frame_x(&p, 0.5), frame_y(&p, 0.5), 2, BLUE) >= 9);
    free(p.pix);
}

static void expect_error(int rc, const char *path, const char *needle)
{
    assert_int_equal(rc, -1);
    if (!strstr(err_msg(), needle))
        fail_msg("error \"%s\" does not mention \"%s\"", err_msg(), needle);
    assert_no_file(path);
}

static void test_errors(void **state)
{
    (void)state;
    double x[3] = {0, 1, 2}, y[3] = {1, 2, 3}, nan3[3] = {NAN, NAN, INFINITY};
    double neg[3] = {-1, 0, -2};
    const char *out = tpath("bad.png");
    line_series ok = {"ok", x, y, 3, RED};
    expect_error(line_plot_png(out, "t", "x", "y", &ok, 0, 640, 480), out, "nothing to plot");
    expect_error(line_plot_png(out, "t", "x", "y", NULL, 1, 640, 480), out, "nothing to plot");
    line_series none = {"none", x, y, 0, RED};
    expect_error(line_plot_png(out, "t", "x", "y", &none, 1, 640, 480), out, "0 points");
    line_series nox = {"nox", NULL, y, 3, RED};
    expect_error(line_plot_png(out, "t", "x", "y", &nox, 1, 640, 480), out, "no x");
    line_series nans = {"nans", x, nan3, 3, RED};
    expect_error(line_plot_png(out, "t", "x", "y", &nans, 1, 640, 480), out, "NaN");
    line_series negs = {"negs", x, neg, 3, RED};
    line_plot_opts log = {.log_y = 1};
    expect_error(line_plot_png_opts(out, "t", "x", "y", &negs, 1, 640, 480, &log), out, "log");
    expect_error(line_plot_png(out, "t", "x", "y", &ok, 1, 100, 480), out, "100 x 480");
    expect_error(line_plot_png(out, "t", "x", "y", &ok, 1, 640, 50), out, "640 x 50");
    expect_error(line_plot_png(out, "t", "x", "y", &ok, 1, 640, 100000), out, "width must be");
    /* an unwritable place: the error names it, nothing is left */
    const char *deep = tpath("no/such/dir/plot.png");
    assert_int_equal(line_plot_png(deep, "t", "x", "y", &ok, 1, 640, 480), -1);
    assert_non_null(strstr(err_msg(), "no/such/dir"));
}

static void test_loss_csv(void **state)
{
    (void)state;
    const char *csv = tpath("loss.csv");
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "epoch,batch,samples,loss,masked_fraction\n");
    for (int b = 1; b <= 200; b++) /* 0.5 falling to 0.02: a log axis */
        fprintf(f, "%d,%d,%d,%.6g,0.1\n", b / 100, b, 32 * b,
                0.02 + 0.48 * exp(-b / 30.0) + (b % 2 ? 0.003 : -0.003));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(line_plot_loss_csv(csv, tpath("loss.png"), NULL), 0);
    picture p = read_png(tpath("loss.png"));
    assert_int_equal(p.w, 800);
    assert_int_equal(p.h, 500);
    int dark = 0, light = 0;
    for (int y = p.y0; y <= p.y1; y++)
        for (int x = p.x0; x <= p.x1; x++)
            dark += near_color(&p, x, y, 0x1F4E9Cu), light += near_color(&p, x, y, 0xA8C8EEu);
    assert_true(dark > 300 && light > 100);
    /* the first batch: x 32 of an axis from 0, loss 0.5 at the top of a log axis */
    assert_true(count_near(&p, p.x0, p.y0, 4, 0xA8C8EEu) +
                    count_near(&p, p.x0, p.y0, 4, 0x1F4E9Cu) >
                0);
    free(p.pix);
}

static void test_loss_csv_errors(void **state)
{
    (void)state;
    char png[512]; /* tpath's buffers are reused below */
    snprintf(png, sizeof png, "%s", tpath("bad-loss.png"));
    expect_error(line_plot_loss_csv(tpath("missing.csv"), png, NULL), png, "missing.csv");
    tmpdir_write(tpath("empty.csv"), "");
    expect_error(line_plot_loss_csv(tpath("empty.csv"), png, NULL), png, "empty");
    tmpdir_write(tpath("header.csv"), "epoch,batch,loss\n0,1,0.5\n");
    expect_error(line_plot_loss_csv(tpath("header.csv"), png, NULL), png, "samples");
    tmpdir_write(tpath("norows.csv"), "epoch,batch,samples,loss,masked_fraction\n");
    expect_error(line_plot_loss_csv(tpath("norows.csv"), png, NULL), png, "no rows");
    tmpdir_write(tpath("junk.csv"),
                 "epoch,batch,samples,loss,masked_fraction\n0,1,32,0.5,0\n0,2,64,x,0\n");
    expect_error(line_plot_loss_csv(tpath("junk.csv"), png, NULL), png, "line 3");
    tmpdir_write(tpath("nan.csv"), "epoch,batch,samples,loss,masked_fraction\n0,1,32,nan,0\n");
    expect_error(line_plot_loss_csv(tpath("nan.csv"), png, NULL), png, "NaN");
}

static void test_font(void **state)
{
    (void)state;
    for (int c = 33; c < 127; c++) { /* every visible glyph has ink, within 5 columns */
        const uint8_t *g = bitmap_font_glyph(c);
        int ink = 0;
        for (int r = 0; r < BITMAP_FONT_H; r++) {
            assert_true(g[r] < (1u << BITMAP_FONT_W));
            ink |= g[r];
        }
        if (!ink)
            fail_msg("glyph '%c' is empty", c);
    }
    const uint8_t *sp = bitmap_font_glyph(' ');
    for (int r = 0; r < BITMAP_FONT_H; r++)
        assert_int_equal(sp[r], 0);
    assert_ptr_equal(bitmap_font_glyph(7), bitmap_font_glyph('?'));
    assert_ptr_equal(bitmap_font_glyph(200), bitmap_font_glyph('?'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parabola), cmocka_unit_test(test_log_axis),
        cmocka_unit_test(test_gaps),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_loss_csv), cmocka_unit_test(test_loss_csv_errors),
        cmocka_unit_test(test_font),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
