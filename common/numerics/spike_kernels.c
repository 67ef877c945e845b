/* spike_kernels: event-driven products with binary spike matrices (see
 * include/numerics/spike_kernels.h). The inner loops add a block of columns
 * at a time (96 with AVX2, 192 with AVX-512) into accumulators held in vector
 * registers; every column's sum runs over the list in order, whatever the
 * block, so the bits do not depend on it. */
#include "numerics/spike_kernels.h"

#include <omp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* vectors of 8 accumulators per pass over a list: 12 of AVX2's 16 registers,
 * 24 of AVX-512's 32 (fewer passes over the list, fewer barriers) */
#ifdef __AVX512F__
#define BLOCK_VECTORS 24
#else
#define BLOCK_VECTORS 12
#endif

bool spike_rows_list(const float *x, int rows, int n, int *start, int *idx)
{
    /* counted per row, offsets, then filled per row: rows in parallel */
    int binary = 1;
#pragma omp parallel for schedule(static) reduction(& : binary) if ((size_t)rows * n > 65536)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        int k = 0, b = 1;
        for (int j = 0; j < n; j++) {
            k += xr[j] != 0.0f;
            b &= xr[j] == 0.0f || xr[j] == 1.0f;
        }
        start[r + 1] = k;
        binary &= b;
    }
    start[0] = 0;
    for (int r = 0; r < rows; r++)
        start[r + 1] += start[r];
#pragma omp parallel for schedule(static) if ((size_t)rows * n > 65536)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        int *out = idx + start[r], k = 0;
        for (int j = 0; j < n; j++)
            if (xr[j] != 0.0f) /* within the row's slots: a neighbour's thread writes the next */
                out[k++] = j;
    }
    return binary;
}

/* The first k in [lo, hi) with idx[k] >= j (a row's listing is ascending). */
static int first_at_least(const int *idx, int lo, int hi, int j)
{
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (idx[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void spike_columns_list(const int *start, const int *idx, int rows, int n, int *cstart, int *crows)
{
    memset(cstart, 0, (size_t)(n + 1) * sizeof *cstart);
    /* each thread owns a range of columns: it finds that part of every row's
     * listing by bisection, counts it, and fills its columns with a cursor
     * each, rows ascending; the result is the serial one */
#pragma omp parallel if (start[rows] > 65536)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int j0 = (int)((long)n * t / nt), j1 = (int)((long)n * (t + 1) / nt);
        for (int r = 0; r < rows; r++) {
            const int lo = first_at_least(idx, start[r], start[r + 1], j0);
            const int hi = first_at_least(idx, lo, start[r + 1], j1);
            for (int k = lo; k < hi; k++)
                cstart[idx[k] + 1]++;
        }
#pragma omp barrier
#pragma omp single
        for (int j = 0; j < n; j++)
            cstart[j + 1] += cstart[j];
        for (int r = 0; r < rows; r++) {
            const int lo = first_at_least(idx, start[r], start[r + 1], j0);
            const int hi = first_at_least(idx, lo, start[r + 1], j1);
            for (int k = lo; k < hi; k++)
                crows[cstart[idx[k]]++] = r;
        }
    }
    for (int j = n; j > 0; j--)
        cstart[j] = cstart[j - 1];
    cstart[0] = 0;
}

/* 8 floats as one value (GCC/clang vector extension): element-wise, so the
 * sums are exactly the scalar ones, in the same order. */
typedef float v8 __attribute__((vector_size(32)));

static inline v8 load8(const float *p)
{
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* out[c0..c0+8*NV) = sum over list[0..n) of those columns of rows of src;
 * NV vectors of accumulators stay in registers while the rows stream by */
#define SUM_BLOCK(NV)                                                          \
    do {                                                                       \
        v8 acc[NV] = {0};                                                      \
        for (int k = 0; k < n; k++) {                                          \
            const float *row = src + (size_t)list[k] * width + c0;             \
            _Pragma("GCC unroll 32") /* the accumulators stay in registers */  \
            for (int q = 0; q < NV; q++)                                       \
                acc[q] += load8(row + 8 * q);                                  \
        }                                                                      \
        memcpy(out + c0, acc, sizeof acc);                                     \
    } while (0)

/* out[c_lo..c_hi) = those columns of the sum over list[0..n) of rows of src
 * (width columns each); c_hi - c_lo <= 8 * BLOCK_VECTORS */
static inline void sum_rows(const int *list, int n, const float *src, int width, int c_lo, int c_hi,
                            float *out)
{
    int c0 = c_lo;
    if (c0 + 8 * BLOCK_VECTORS <= c_hi) {
        SUM_BLOCK(BLOCK_VECTORS);
        return;
    }
    for (; c0 + 8 <= c_hi; c0 += 8)
        SUM_BLOCK(1);
    for (; c0 < c_hi; c0++) {
        float acc = 0;
        for (int k = 0; k < n; k++)
            acc += src[(size_t)list[k] * width + c0];
        out[c0] = acc;
    }
}

/* The listed sums of rows for outputs o0..o1-1, a block of columns at a time
 * over all of them: the source's columns of one block stay in cache while
 * every output reads them (a wide source read whole per output would not). */
static void sum_listed(const int *start, const int *list, int o0, int o1, const float *src, int width,
                       float *out)
{
#pragma omp parallel if ((size_t)(o1 - o0) * width > 16384)
    for (int c_lo = 0; c_lo < width; c_lo += 8 * BLOCK_VECTORS) {
        const int c_hi = c_lo + 8 * BLOCK_VECTORS < width ? c_lo + 8 * BLOCK_VECTORS : width;
#pragma omp for schedule(static)
        for (int o = o0; o < o1; o++)
            sum_rows(list + start[o], start[o + 1] - start[o], src, width, c_lo, c_hi,
                     out + (size_t)o * width);
    }
}

/* out[c_lo..c_hi) = sum over k < n of val[k] * src[list[k], c_lo..c_hi) */
static inline void weighted_rows(const int *list, const float *val, int n, const float *src, int width,
                                 int c_lo, int c_hi, float *out)
{
    int c0 = c_lo;
    for (; c0 + 8 * BLOCK_VECTORS <= c_hi; c0 += 8 * BLOCK_VECTORS) {
        v8 acc[BLOCK_VECTORS] = {0};
        for (int k = 0; k < n; k++) {
            const float *row = src + (size_t)list[k] * width + c0;
            const float a = val[k];
#pragma GCC unroll 32
            for (int q = 0; q < BLOCK_VECTORS; q++)
                acc[q] += a * load8(row + 8 * q);
        }
        memcpy(out + c0, acc, sizeof acc);
    }
    for (; c0 + 8 <= c_hi; c0 += 8) {
        v8 acc = {0};
        for (int k = 0; k < n; k++)
            acc += val[k] * load8(src + (size_t)list[k] * width + c0);
        memcpy(out + c0, &acc, sizeof acc);
    }
    for (; c0 < c_hi; c0++) {
        float acc = 0;
        for (int k = 0; k < n; k++)
            acc += val[k] * src[(size_t)list[k] * width + c0];
        out[c0] = acc;
    }
}

/* Lists the nonzero d[r, m] of each row (m ascending) as CSR: counted per
 * row, offset, filled; rows in parallel. -1 when out of memory, 1 (nothing
 * listed) when there are more than max_nonzero. */
static int nonzero_rows_list(const float *d, int rows, int n, size_t max_nonzero, int **start_p, int **idx_p,
                             float **val_p)
{
    int *start = malloc((size_t)(rows + 1) * sizeof *start);
    if (!start)
        return -1;
    const bool par = (size_t)rows * n > 65536;
#pragma omp parallel for schedule(static) if (par)
    for (int r = 0; r < rows; r++) {
        const float *dr = d + (size_t)r * n;
        int k = 0;
        for (int m = 0; m < n; m++)
            k += dr[m] != 0.0f;
        start[r + 1] = k;
    }
    start[0] = 0;
    for (int r = 0; r < rows; r++)
        start[r + 1] += start[r];
    if ((size_t)start[rows] > max_nonzero) {
        free(start);
        return 1;
    }
    int *idx = malloc((size_t)start[rows] * sizeof *idx + 1);
    float *val = malloc((size_t)start[rows] * sizeof *val + 1);
    int failed = 0;
    if (!idx || !val)
        goto fail;
#pragma omp parallel if (par) reduction(| : failed)
    {
        /* listed without branches (which d are 0 is a coin toss) into a row of
         * scratch, whose tail the next row's entries may not take */
        int *list = malloc((size_t)n * sizeof *list);
        float *v = malloc((size_t)n * sizeof *v);
        failed |= !list || !v;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            if (failed)
                continue;
            const float *dr = d + (size_t)r * n;
            int k = 0;
            for (int m = 0; m < n; m++) {
                list[k] = m;
                v[k] = dr[m];
                k += dr[m] != 0.0f;
            }
            memcpy(idx + start[r], list, (size_t)k * sizeof *list);
            memcpy(val + start[r], v, (size_t)k * sizeof *v);
        }
        free(list);
        free(v);
    }
    if (failed)
        goto fail;
    *start_p = start;
    *idx_p = idx;
    *val_p = val;
    return 0;
fail:
    free(idx);
    free(val);
    free(start);
    return -1;
}

int sparse_rows_product(const float *d, int rows, int n, const float *w, int width, float *out,
                        size_t max_nonzero)
{
    int *start, *idx;
    float *val;
    const int listed = nonzero_rows_list(d, rows, n, max_nonzero, &start, &idx, &val);
    if (listed != 0)
        return listed;
    /* a block of w's columns at a time over all rows: that slab of w stays in
     * cache while every row reads from it */
#pragma omp parallel if ((size_t)rows * width > 16384)
    for (int c_lo = 0; c_lo < width; c_lo += 8 * BLOCK_VECTORS) {
        const int c_hi = c_lo + 8 * BLOCK_VECTORS < width ? c_lo + 8 * BLOCK_VECTORS : width;
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++)
            weighted_rows(idx + start[r], val + start[r], start[r + 1] - start[r], w, width, c_lo, c_hi,
                          out + (size_t)r * width);
    }
    free(start);
    free(idx);
    free(val);
    return 0;
}

void spike_gather_rows(const int *start, const int *idx, int r0, int r1, const float *w, int width,
                       float *out)
{
    sum_listed(start, idx, r0, r1, w, width, out);
}

void spike_sum_by_column(const int *cstart, const int *crows, int n, const float *d, int width, float *gt)
{
    sum_listed(cstart, crows, 0, n, d, width, gt);
}
