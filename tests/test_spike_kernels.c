/* test_spike_kernels: the event-driven products against naive loops written
 * from their definitions, bit for bit (every column sums its list in order),
 * at sizes where the kernels split their work between threads and with
 * widths that leave partial column blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "numerics/spike_kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 1500, N = 784 }; /* a bptt window of 15 steps x 100 samples, MNIST's inputs */

static float uniform(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*state >> 40) & 0xffffff) / 16777216.0f;
}

/* x: ROWS x N spikes with probability p */
static float *spikes(uint64_t seed, float p)
{
    float *x = malloc((size_t)ROWS * N * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < (size_t)ROWS * N; i++)
        x[i] = uniform(&seed) < p ? 1.0f : 0.0f;
    return x;
}

static float *values(uint64_t seed, size_t n)
{
    float *w = malloc(n * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = uniform(&seed) - 0.5f;
    return w;
}

static void test_rows_and_columns_lists(void **state)
{
    (void)state;
    float *x = spikes(1, 0.13f);
    int *start = malloc((ROWS + 1) * sizeof *start), *idx = malloc((size_t)ROWS * N * sizeof *idx);
    int *cstart = malloc((N + 1) * sizeof *cstart), *crows = malloc((size_t)ROWS * N * sizeof *crows);
    assert_true(spike_rows_list(x, ROWS, N, start, idx));
    int k = 0;
    for (int r = 0; r < ROWS; r++) {
        assert_int_equal(start[r], k);
        for (int j = 0; j < N; j++)
            if (x[(size_t)r * N + j] != 0)
                assert_int_equal(idx[k++], j);
    }
    assert_int_equal(start[ROWS], k);
    assert_true(k > 65536); /* the columns' listing runs on every thread */
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        memset(crows, 0xff, (size_t)ROWS * N * sizeof *crows);
        spike_columns_list(start, idx, ROWS, N, cstart, crows);
        int c = 0;
        for (int j = 0; j < N; j++) {
            assert_int_equal(cstart[j], c);
            for (int r = 0; r < ROWS; r++)
                if (x[(size_t)r * N + j] != 0)
                    assert_int_equal(crows[c++], r);
        }
        assert_int_equal(cstart[N], c);
    }
    x[5] = 0.5f;
    assert_false(spike_rows_list(x, ROWS, N, start, idx));
    free(x);
    free(start);
    free(idx);
    free(cstart);
    free(crows);
}

/* spike_gather_rows: out[r] = sum over row r's spikes j of w[j, :], for a
 * width of one partial block (196) and of several (784) */
static void test_gather_rows(void **state)
{
    (void)state;
    float *x = spikes(2, 0.13f);
    int *start = malloc((ROWS + 1) * sizeof *start), *idx = malloc((size_t)ROWS * N * sizeof *idx);
    assert_true(spike_rows_list(x, ROWS, N, start, idx));
    static const int widths[] = {196, 784, 13};
    for (size_t i = 0; i < sizeof widths / sizeof *widths; i++) {
        const int width = widths[i];
        float *w = values(3, (size_t)N * width), *out = malloc((size_t)ROWS * width * sizeof *out);
        spike_gather_rows(start, idx, 0, ROWS, w, width, out);
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < width; c++) {
                float acc = 0;
                for (int j = 0; j < N; j++)
                    if (x[(size_t)r * N + j] != 0)
                        acc += w[(size_t)j * width + c];
                if (acc != out[(size_t)r * width + c])
                    fail_msg("width %d: out[%d, %d] = %.9g, the naive sum %.9g", width, r, c,
                             out[(size_t)r * width + c], acc);
            }
        free(w);
        free(out);
    }
    free(x);
    free(start);
    free(idx);
}

/* sparse_rows_product: out = d w by d's nonzero entries; 1 when d is too dense */
static void test_sparse_rows_product(void **state)
{
    (void)state;
    const int n = 196, width = 784, rows = 300;
    float *d = values(4, (size_t)rows * n), *w = values(5, (size_t)n * width);
    uint64_t seed = 6;
    size_t nonzero = 0;
    for (size_t i = 0; i < (size_t)rows * n; i++) {
        if (uniform(&seed) < 0.9f)
            d[i] = 0;
        nonzero += d[i] != 0;
    }
    float *out = malloc((size_t)rows * width * sizeof *out);
    assert_int_equal(sparse_rows_product(d, rows, n, w, width, out, nonzero - 1), 1);
    assert_int_equal(sparse_rows_product(d, rows, n, w, width, out, nonzero), 0);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < width; c++) {
            float acc = 0;
            for (int m = 0; m < n; m++)
                if (d[(size_t)r * n + m] != 0)
                    acc += d[(size_t)r * n + m] * w[(size_t)m * width + c];
            if (acc != out[(size_t)r * width + c])
                fail_msg("out[%d, %d] = %.9g, the naive sum %.9g", r, c, out[(size_t)r * width + c], acc);
        }
    free(d);
    free(w);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_columns_lists),
        cmocka_unit_test(test_gather_rows),
        cmocka_unit_test(test_sparse_rows_product),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
