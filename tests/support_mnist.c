/* support_mnist: a synthetic MNIST for the end-to-end tests (see
 * tests/mnist_fixture.h): a fixed stroke template per class, jittered per
 * image, about 20% of the pixels inked, as MNIST's are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/idx.h"
#include "mnist_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float uniform(uint32_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(lcg(s) & 0xffff) / 65535.0f;
}

/* A pen stroke from (x0, y0) to (x1, y1): full ink within r of the segment,
 * fading to 0 one pixel further out, as MNIST's anti-aliased edges. */
static void stroke(uint8_t *img, float x0, float y0, float x1, float y1, float r)
{
    float dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            float t = len2 > 0 ? ((x - x0) * dx + (y - y0) * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            float ex = x - (x0 + t * dx), ey = y - (y0 + t * dy), d = sqrtf(ex * ex + ey * ey);
            float ink = d <= r ? 1.0f : d < r + 1 ? r + 1 - d : 0.0f;
            uint8_t v = (uint8_t)lrintf(255.0f * ink);
            if (v > img[y * SIDE + x])
                img[y * SIDE + x] = v;
        }
}

/* Image i of a split: its class's three strokes (a fixed template per class),
 * jittered, plus strokes until about 20% of the pixels have ink. */
static void draw_digit(uint8_t *img, uint32_t i, uint32_t split_seed, uint8_t *label)
{
    memset(img, 0, PIXELS);
    *label = (uint8_t)(i % 10);
    uint32_t s = split_seed * 7919u + i * 104729u + 1, c = *label * 2654435761u + 17;
    for (int k = 0; k < 3; k++) {
        float x0 = uniform(&c, 6, 21), y0 = uniform(&c, 5, 22), x1 = uniform(&c, 6, 21),
              y1 = uniform(&c, 5, 22);
        stroke(img, x0 + uniform(&s, -2, 2), y0 + uniform(&s, -2, 2), x1 + uniform(&s, -2, 2),
               y1 + uniform(&s, -2, 2), uniform(&s, 0.8f, 1.4f));
    }
    for (int k = 0; k < 8; k++) {
        size_t on = 0;
        for (size_t p = 0; p < PIXELS; p++)
            on += img[p] > 0;
        if (on >= PIXELS / 5)
            break;
        stroke(img, uniform(&s, 5, 22), uniform(&s, 5, 22), uniform(&s, 5, 22), uniform(&s, 5, 22),
               uniform(&s, 0.8f, 1.4f));
    }
}

static void write_split(const char *data_dir, const char *prefix, uint32_t n, uint32_t period,
                        uint32_t split_seed)
{
    uint8_t *images = malloc((size_t)n * PIXELS), *labels = malloc(n);
    assert_non_null(images);
    assert_non_null(labels);
    for (uint32_t i = 0; i < n; i++)
        draw_digit(images + (size_t)i * PIXELS, i % period, split_seed, &labels[i]);
    char path[512];
    snprintf(path, sizeof path, "%s/mnist/%s-images-idx3-ubyte", data_dir, prefix);
    if (idx_write(path, 3, (uint32_t[]){n, SIDE, SIDE}, images) < 0)
        fail_msg("%s", err_msg());
    snprintf(path, sizeof path, "%s/mnist/%s-labels-idx1-ubyte", data_dir, prefix);
    if (idx_write(path, 1, (uint32_t[]){n}, labels) < 0)
        fail_msg("%s", err_msg());
    free(images);
    free(labels);
}

void mnist_fixture_write(const char *data_dir, uint32_t n_train, uint32_t n_test)
{
    char path[512];
    mkdir(data_dir, 0755);
    snprintf(path, sizeof path, "%s/mnist", data_dir);
    assert_int_equal(mkdir(path, 0755), 0);
    write_split(data_dir, "train", n_train, n_train, 1);
    /* the long set repeats 200 drawings: only its length matters */
    write_split(data_dir, "t10k", n_test, n_test < 200 ? n_test : 200, 2);
}

