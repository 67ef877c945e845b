/* test_pairing: Dataset A's rule (nearest to the mean of the digit's first 1000
 * images: of the right class, deterministic, blind to later images), Dataset
 * B's draws (of the right class, a function of (seed, id), spread over the
 * digit's images), and the pairing CSV round trip and its errors. With the real
 * MNIST in data/mnist, prints Dataset A's ten images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "data/dataset.h"
#include "core/err.h"
#include "data/pairing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIX 16

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/spikesynth-test-pairing-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* n images of PIX pixels; label i % 10, pixels pseudo-random in [0, 1]. */
static dataset *synthetic(size_t n)
{
    dataset *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->n = n;
    d->rows = 4;
    d->cols = 4;
    d->n_pixels = PIX;
    d->images = malloc(n * PIX * sizeof(float));
    d->labels = malloc(n);
    assert_non_null(d->images);
    assert_non_null(d->labels);
    uint32_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        d->labels[i] = (uint8_t)(i % 10);
        for (int p = 0; p < PIX; p++) {
            s = s * 1664525u + 1013904223u;
            d->images[i * PIX + p] = (float)(s >> 8) / 16777216.0f;
        }
    }
    return d;
}

/* The rule written out plainly, for comparison. */
static int naive_a(const dataset *d, int digit)
{
    double mean[PIX] = {0};
    size_t k = 0;
    for (size_t i = 0; i < d->n && k < PAIRING_A_CANDIDATES; i++)
        if (d->labels[i] == digit) {
            for (int p = 0; p < PIX; p++)
                mean[p] += d->images[i * PIX + p];
            k++;
        }
    for (int p = 0; p < PIX; p++)
        mean[p] /= (double)k;
    int best = -1;
    double best_d = 1e300;
    size_t seen = 0;
    for (size_t i = 0; i < d->n && seen < k; i++)
        if (d->labels[i] == digit) {
            seen++;
            double dist = 0;
            for (int p = 0; p < PIX; p++)
                dist += (d->images[i * PIX + p] - mean[p]) * (d->images[i * PIX + p] - mean[p]);
            if (dist < best_d) {
                best_d = dist;
                best = (int)i;
            }
        }
    return best;
}

static void test_a_rule(void **state)
{
    (void)state;
    dataset *d = synthetic(500);
    int all[DATASET_CLASSES], again[DATASET_CLASSES];
    assert_int_equal(pairing_dataset_a_all(d, all), 0);
    assert_int_equal(pairing_dataset_a_all(d, again), 0);
    assert_memory_equal(all, again, sizeof all);
    for (int c = 0; c < DATASET_CLASSES; c++) {
        assert_true(all[c] >= 0 && (size_t)all[c] < d->n);
        assert_int_equal(d->labels[all[c]], c);
        assert_int_equal(all[c], naive_a(d, c));
        assert_int_equal(pairing_dataset_a(d, c), all[c]);
    }
    assert_int_equal(pairing_dataset_a(d, 10), -1);
    assert_int_equal(pairing_dataset_a(d, -1), -1);
    dataset_destroy(&d);
}

/* An image placed right at the mean wins among the candidates, and is ignored
 * after the first 1000 of its digit. */
static void test_a_first_thousand(void **state)
{
    (void)state;
    size_t n = 10 * (PAIRING_A_CANDIDATES + 1);
    dataset *d = synthetic(n);
    double mean[PIX] = {0};
    for (size_t k = 0; k < PAIRING_A_CANDIDATES; k++)
        for (int p = 0; p < PIX; p++)
            mean[p] += d->images[(k * 10 + 7) * PIX + p];
    /* image 10 * 1000 + 7: the digit 7's 1001st, set to the mean of the first 1000 */
    size_t late = (size_t)PAIRING_A_CANDIDATES * 10 + 7;
    assert_int_equal(d->labels[late], 7);
    for (int p = 0; p < PIX; p++)
        d->images[late * PIX + p] = (float)(mean[p] / PAIRING_A_CANDIDATES);
    int a = pairing_dataset_a(d, 7);
    assert_true(a >= 0 && (size_t)a != late);
    assert_int_equal(a, naive_a(d, 7));
    /* the same image among the first 1000 (replacing the 500th 7) is chosen */
    size_t early = 499 * 10 + 7;
    memcpy(d->images + early * PIX, d->images + late * PIX, PIX * sizeof(float));
    assert_int_equal(pairing_dataset_a(d, 7), naive_a(d, 7));
    assert_int_equal(pairing_dataset_a(d, 7), (int)early);
    dataset_destroy(&d);
}

static void test_a_missing_digit(void **state)
{
    (void)state;
    dataset *d = synthetic(7); /* digits 0-6 only */
    int all[DATASET_CLASSES];
    assert_int_equal(pairing_dataset_a_all(d, all), -1);
    assert_non_null(strstr(err_msg(), "no image of digit 7"));
    dataset_destroy(&d);
}

static void test_b(void **state)
{
    (void)state;
    dataset *d = synthetic(1000); /* 100 images per digit */
    pairing_classes *c = pairing_classes_new(d);
    assert_non_null(c);
    for (int k = 0; k < DATASET_CLASSES; k++)
        assert_int_equal(c->n[k], 100);
    int hits[1000] = {0};
    size_t distinct = 0, moved = 0;
    for (uint32_t id = 0; id < 2000; id++) {
        int digit = (int)(id * 7 % 10);
        int img = pairing_dataset_b(c, digit, 1, id);
        assert_true(img >= 0 && img < 1000);
        assert_int_equal(d->labels[img], digit);
        assert_int_equal(pairing_dataset_b(c, digit, 1, id), img);
        moved += pairing_dataset_b(c, digit, 2, id) != img;
        if (digit == 3)
            distinct += hits[img]++ == 0;
    }
    /* 200 draws over 100 images: about 87 distinct expected */
    if (distinct < 70)
        fail_msg("digit 3: only %zu of 100 images drawn in 200 draws", distinct);
    if (moved < 1900)
        fail_msg("another seed changed only %zu of 2000 pairings", moved);
    assert_int_equal(pairing_dataset_b(c, 11, 1, 0), -1);
    pairing_classes_destroy(&c);
    assert_null(c);
    dataset_destroy(&d);
}

static void test_table(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/pairing.csv", dir);
    pairing_table *t = pairing_table_new();
    assert_int_equal(pairing_table_add(t, 0, 0, 1234, "data/fsdd/recordings/0_george_10.wav"), 0);
    assert_int_equal(pairing_table_add(t, 3, 9, 59999, "odd, \"name\".wav"), 0);
    assert_int_equal(pairing_table_add(t, 4, -1, -1, "x.wav"), 0);
    assert_int_equal(pairing_table_add(t, 4, 1, 1, "y.wav"), -1);
    assert_int_equal(pairing_table_add(t, 5, 1, 1, "a\nb.wav"), -1);
    assert_int_equal(pairing_table_write(t, path), 0);
    pairing_table *r = pairing_table_load(path);
    if (!r)
        fail_msg("%s", err_msg());
    assert_int_equal(r->n, 3);
    const pairing_entry *e = pairing_table_find(r, 3);
    assert_non_null(e);
    assert_int_equal(e->label, 9);
    assert_int_equal(e->image, 59999);
    assert_string_equal(e->recording, "odd, \"name\".wav");
    assert_int_equal(pairing_table_find(r, 4)->image, -1);
    assert_null(pairing_table_find(r, 1));
    pairing_table_destroy(&r);
    pairing_table_destroy(&t);

    FILE *f = fopen(path, "w");
    fputs("id,label,image_index,recording\n0,1,2,a.wav\n0,1,3,b.wav\n", f);
    fclose(f);
    assert_null(pairing_table_load(path));
    assert_non_null(strstr(err_msg(), "line 3"));
    assert_non_null(strstr(err_msg(), path));
    f = fopen(path, "w");
    fputs("id,label,image_index,recording\n0,x,2,a.wav\n", f);
    fclose(f);
    assert_null(pairing_table_load(path));
    assert_non_null(strstr(err_msg(), "line 2"));
    f = fopen(path, "w");
    fputs("id,path,label\n", f);
    fclose(f);
    assert_null(pairing_table_load(path));
    assert_non_null(strstr(err_msg(), "header"));
}

/* The real MNIST, when present: prints Dataset A's ten images. */
static void test_a_on_mnist(void **state)
{
    (void)state;
    if (access("data/mnist/train-labels-idx1-ubyte", R_OK) != 0 &&
        access("data/mnist/train-labels-idx1-ubyte.gz", R_OK) != 0)
        skip();
    dataset *d = dataset_load_images("data", "mnist", "train", 0);
    if (!d)
        fail_msg("%s", err_msg());
    int all[DATASET_CLASSES];
    assert_int_equal(pairing_dataset_a_all(d, all), 0);
    printf("Dataset A on MNIST:");
    for (int c = 0; c < DATASET_CLASSES; c++) {
        assert_int_equal(d->labels[all[c]], c);
        printf(" %d:%d", c, all[c]);
    }
    printf("\n");
    dataset_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_rule),
        cmocka_unit_test(test_a_first_thousand),
        cmocka_unit_test(test_a_missing_digit),
        cmocka_unit_test(test_b),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_a_on_mnist),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
