/* test_image_grid: PNGs written by image_grid are read back with libpng and
 * checked pixel by pixel (layout, scaling, separators, clamping, normalisation),
 * and failures leave no file behind. Fixtures live in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/image_grid.h"
#include "png_read.h"
#include "tmpdir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir, sizeof tmpdir, "test_image_grid");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name) { return tmpdir_at(tmpdir, name); }

/* A PNG read back as 8-bit gray; the file must really be 8-bit grayscale. */
typedef struct {
    uint32_t w, h;
    uint8_t *pix;
} picture;

static picture read_png(const char *path)
{
    picture p;
    p.pix = png_read_pixels(path, 1, &p.w, &p.h);
    return p;
}

static int px(const picture *p, uint32_t x, uint32_t y)
{
    if (x >= p->w || y >= p->h)
        fail_msg("pixel (%u, %u) outside the %u x %u picture", x, y, p->w, p->h);
    return p->pix[y * p->w + x];
}

/* The block of scale x scale pixels at (x0, y0) all equal v. */
static void assert_block(const picture *p, uint32_t x0, uint32_t y0, uint32_t s, int v)
{
    for (uint32_t y = y0; y < y0 + s; y++)
        for (uint32_t x = x0; x < x0 + s; x++)
            if (px(p, x, y) != v)
                fail_msg("pixel (%u, %u) is %d, expected %d", x, y, px(p, x, y), v);
}

static void assert_no_leftovers(void) { tmpdir_assert_no_temp(tmpdir); }

static void test_gray_round_trip(void **state)
{
    (void)state;
    uint8_t pix[5 * 3];
    for (int i = 0; i < 15; i++)
        pix[i] = (uint8_t)(i * 17);
    assert_int_equal(image_grid_write_gray(tpath("gray.png"), pix, 5, 3), 0);
    picture p = read_png(tpath("gray.png"));
    assert_int_equal(p.w, 5);
    assert_int_equal(p.h, 3);
    assert_memory_equal(p.pix, pix, sizeof pix);
    free(p.pix);
    assert_no_leftovers();
}

static void test_grid(void **state)
{
    (void)state;
    /* three 2 x 2 images in 2 columns: the fourth cell stays separator gray */
    const float img[3 * 4] = {0, 0, 0, 0, /* all black */
                              1, 0.2f, -0.5f, 1.7f, /* clamped: 255 51 0 255 */
                              NAN, 0.5f, 1, 0};
    image_grid_opts o = {.scale = 2, .sep = 1, .sep_value = 0.5f};
    assert_int_equal(image_grid_write_png(tpath("grid.png"), img, 3, 2, 2, 2, &o), 0);
    picture p = read_png(tpath("grid.png"));
    assert_int_equal(p.w, 2 * 4 + 3);
    assert_int_equal(p.h, 2 * 4 + 3);
    const int g = 128;
    for (uint32_t i = 0; i < p.w; i++) {
        assert_int_equal(px(&p, i, 0), g);  /* top border */
        assert_int_equal(px(&p, i, 5), g);  /* between rows */
        assert_int_equal(px(&p, 0, i), g);  /* left border */
        assert_int_equal(px(&p, 5, i), g);  /* between columns */
        assert_int_equal(px(&p, 10, i), g); /* right border */
    }
    assert_block(&p, 1, 1, 4, 0);
    assert_block(&p, 6, 1, 2, 255);
    assert_block(&p, 8, 1, 2, 51);
    assert_block(&p, 6, 3, 2, 0);
    assert_block(&p, 8, 3, 2, 255);
    assert_block(&p, 1, 6, 2, 0); /* NaN */
    assert_block(&p, 3, 6, 2, 128);
    assert_block(&p, 1, 8, 2, 255);
    assert_block(&p, 3, 8, 2, 0);
    assert_block(&p, 6, 6, 4, g); /* empty cell */
    free(p.pix);

    /* more columns than images: the grid shrinks to the images; defaults when NULL */
    assert_int_equal(image_grid_write_png(tpath("wide.png"), img, 2, 2, 2, 10, NULL), 0);
    p = read_png(tpath("wide.png"));
    image_grid_opts d = image_grid_defaults();
    assert_int_equal(d.scale, 2);
    assert_int_equal(d.sep, 2);
    assert_int_equal(p.w, 2 * 4 + 3 * 2);
    assert_int_equal(p.h, 4 + 2 * 2);
    assert_block(&p, 2, 2, 4, 0);
    assert_block(&p, 8, 2, 2, 255);
    free(p.pix);

    /* no separator, one column */
    o = (image_grid_opts){.scale = 1, .sep = 0, .sep_value = 0};
    assert_int_equal(image_grid_write_png(tpath("col.png"), img, 3, 2, 2, 1, &o), 0);
    p = read_png(tpath("col.png"));
    assert_int_equal(p.w, 2);
    assert_int_equal(p.h, 6);
    assert_int_equal(px(&p, 1, 2), 51);
    assert_int_equal(px(&p, 1, 4), 128);
    free(p.pix);
}

static void test_pairs(void **state)
{
    (void)state;
    /* 1 x 1 images make the layout easy to follow: 3 pairs in 2 columns */
    const float in[3] = {1.0f, 0.2f, 0.4f}, out[3] = {0.0f, 0.6f, 0.8f};
    image_grid_opts o = {.scale = 1, .sep = 1, .sep_value = 0.0f};
    assert_int_equal(image_grid_write_pairs(tpath("pairs.png"), in, out, 3, 1, 1, 2, &o), 0);
    picture p = read_png(tpath("pairs.png"));
    assert_int_equal(p.w, 5);
    assert_int_equal(p.h, 2 + 2 * (2 + 1) + 3);
    /* group 0: inputs on y = 1, outputs on y = 3 */
    assert_int_equal(px(&p, 1, 1), 255);
    assert_int_equal(px(&p, 3, 1), 51);
    assert_int_equal(px(&p, 1, 3), 0);
    assert_int_equal(px(&p, 3, 3), 153);
    /* group 1 after a gap of 3: inputs on y = 7, outputs on y = 9 */
    assert_int_equal(px(&p, 1, 7), 102);
    assert_int_equal(px(&p, 1, 9), 204);
    assert_int_equal(px(&p, 3, 7), 0); /* empty cell */
    for (uint32_t y = 4; y < 7; y++)
        for (uint32_t x = 0; x < 5; x++)
            assert_int_equal(px(&p, x, y), 0);
    free(p.pix);

    /* scaled: each pixel a 3 x 3 block, and the outputs right under the inputs */
    o = (image_grid_opts){.scale = 3, .sep = 2, .sep_value = 1.0f};
    assert_int_equal(image_grid_write_pairs(tpath("pairs3.png"), in, out, 3, 1, 1, 3, &o), 0);
    p = read_png(tpath("pairs3.png"));
    assert_int_equal(p.w, 3 * 3 + 4 * 2);
    assert_int_equal(p.h, 2 * 2 + 2 * 3 + 2);
    assert_block(&p, 2, 2, 3, 255);
    assert_block(&p, 2, 7, 3, 0);
    assert_block(&p, 7, 2, 3, 51);
    assert_block(&p, 7, 7, 3, 153);
    assert_block(&p, 12, 7, 3, 204);
    free(p.pix);
}

static void test_heatmap(void **state)
{
    (void)state;
    const float m[2 * 3] = {-1, 0, 3, NAN, 1, INFINITY};
    assert_int_equal(image_grid_write_heatmap(tpath("heat.png"), m, 2, 3, 2, 1, 0), 0);
    picture p = read_png(tpath("heat.png"));
    assert_int_equal(p.w, 6);
    assert_int_equal(p.h, 2);
    const int want[6] = {0, 64, 255, 0, 128, 255}; /* (v + 1) / 4 */
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++) {
            assert_int_equal(px(&p, 2 * k, r), want[r * 3 + k]);
            assert_int_equal(px(&p, 2 * k + 1, r), want[r * 3 + k]);
        }
    free(p.pix);

    assert_int_equal(image_grid_write_heatmap(tpath("heat-inv.png"), m, 2, 3, 1, 3, 1), 0);
    p = read_png(tpath("heat-inv.png"));
    assert_int_equal(p.w, 3);
    assert_int_equal(p.h, 6);
    for (int y = 0; y < 6; y++)
        for (int k = 0; k < 3; k++)
            assert_int_equal(px(&p, k, y), 255 - want[(y / 3) * 3 + k]);
    free(p.pix);

    const float flat[4] = {2, 2, 2, 2};
    assert_int_equal(image_grid_write_heatmap(tpath("flat.png"), flat, 2, 2, 1, 1, 0), 0);
    p = read_png(tpath("flat.png"));
    for (int i = 0; i < 4; i++)
        assert_int_equal(p.pix[i], 0);
    free(p.pix);
}

static void test_errors(void **state)
{
    (void)state;
    const float img[4] = {0};
    const char *bad = tpath("no/such/dir/x.png");
    assert_int_equal(image_grid_write_png(bad, img, 1, 2, 2, 1, NULL), -1);
    assert_non_null(strstr(err_msg(), "no/such/dir/x.png"));

    const char *p = tpath("refused.png");
    assert_int_equal(image_grid_write_png(p, img, 0, 2, 2, 1, NULL), -1);
    assert_non_null(strstr(err_msg(), "nothing to draw"));
    image_grid_opts o = {.scale = 0, .sep = 1};
    assert_int_equal(image_grid_write_png(p, img, 1, 2, 2, 1, &o), -1);
    assert_non_null(strstr(err_msg(), "scale 0"));
    assert_int_equal(image_grid_write_pairs(p, img, img, 1, 2, 2, 0, NULL), -1);
    assert_int_equal(image_grid_write_heatmap(p, img, 2, 2, 0, 1, 0), -1);
    /* too wide for a PNG: refused before any memory or file is touched */
    assert_int_equal(image_grid_write_heatmap(p, img, 1, 4, IMAGE_GRID_MAX_SIDE, 1, 0), -1);
    assert_non_null(strstr(err_msg(), "refused.png"));
    uint8_t px8[1] = {0};
    assert_int_equal(image_grid_write_gray(p, px8, 0, 1), -1);
    assert_int_equal(access(p, F_OK), -1);

    /* a failure over an existing file keeps the old file whole */
    assert_int_equal(image_grid_write_gray(p, px8, 1, 1), 0);
    assert_int_equal(image_grid_write_png(p, img, 1, 2, 2, 1, &o), -1);
    picture q = read_png(p);
    assert_int_equal(q.w, 1);
    free(q.pix);
    assert_no_leftovers();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray_round_trip), cmocka_unit_test(test_grid),
        cmocka_unit_test(test_pairs),           cmocka_unit_test(test_heatmap),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
