/* spike_kernels: event-driven products with binary spike matrices (see
 * include/numerics/spike_kernels.h). The inner loops add BLOCK columns at a
 * time into a local block of accumulators that the compiler keeps in vector
 * registers. */
#include "numerics/spike_kernels.h"

#include <stddef.h>
#include <string.h>

#define BLOCK 64

bool spike_rows_list(const float *x, int rows, int n, int *start, int *idx)
{
    int k = 0;
    bool binary = true;
    start[0] = 0;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        for (int j = 0; j < n; j++) {
            idx[k] = j;
            k += xr[j] != 0.0f;
            binary &= xr[j] == 0.0f || xr[j] == 1.0f;
        }
        start[r + 1] = k;
    }
    return binary;
}

void spike_columns_list(const int *start, const int *idx, int rows, int n, int *cstart, int *crows)
{
    memset(cstart, 0, (size_t)(n + 1) * sizeof *cstart);
    for (int k = 0; k < start[rows]; k++)
        cstart[idx[k] + 1]++;
    for (int j = 0; j < n; j++)
        cstart[j + 1] += cstart[j];
    /* rows in ascending order: fill with a cursor per column */
    for (int r = 0; r < rows; r++)
        for (int k = start[r]; k < start[r + 1]; k++)
            crows[cstart[idx[k]]++] = r;
    for (int j = n; j > 0; j--)
        cstart[j] = cstart[j - 1];
    cstart[0] = 0;
}

/* out[0..width) = sum over list[0..n) of rows of src (width columns each) */
static inline void sum_rows(const int *list, int n, const float *src, int width, float *out)
{
    int c0 = 0;
    for (; c0 + BLOCK <= width; c0 += BLOCK) {
        float acc[BLOCK] = {0};
        for (int k = 0; k < n; k++) {
            const float *row = src + (size_t)list[k] * width + c0;
            for (int c = 0; c < BLOCK; c++)
                acc[c] += row[c];
        }
        memcpy(out + c0, acc, sizeof acc);
    }
    if (c0 < width) {
        float acc[BLOCK] = {0};
        const int rest = width - c0;
        for (int k = 0; k < n; k++) {
            const float *row = src + (size_t)list[k] * width + c0;
            for (int c = 0; c < rest; c++)
                acc[c] += row[c];
        }
        memcpy(out + c0, acc, (size_t)rest * sizeof(float));
    }
}

void spike_gather_rows(const int *start, const int *idx, int r0, int r1, const float *w, int width,
                       float *out)
{
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * width > 16384)
    for (int r = r0; r < r1; r++)
        sum_rows(idx + start[r], start[r + 1] - start[r], w, width, out + (size_t)r * width);
}

void spike_sum_by_column(const int *cstart, const int *crows, int n, const float *d, int width, float *gt)
{
#pragma omp parallel for schedule(dynamic, 8) if ((size_t)n * width > 16384)
    for (int j = 0; j < n; j++)
        sum_rows(crows + cstart[j], cstart[j + 1] - cstart[j], d, width, gt + (size_t)j * width);
}
