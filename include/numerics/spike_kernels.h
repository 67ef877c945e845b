/* spike_kernels: products where one side is a binary spike matrix, computed
 * by adding rows instead of multiplying (event-driven): the cost follows the
 * number of spikes, not the matrix size.
 *
 * A spike matrix (rows x n, row-major, every entry 0 or 1) is listed as CSR:
 * row r's active columns are idx[start[r] .. start[r+1]), ascending. Every
 * sum runs over its terms in a fixed order (ascending row or column), so the
 * bits do not depend on the thread count. */
#ifndef SPIKESYNTH_SPIKE_KERNELS_H
#define SPIKESYNTH_SPIKE_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

/* The active columns of each row of x (rows x n) into start (rows + 1) and
 * idx (room for rows * n). false, and nothing usable, when some entry is
 * neither 0 nor 1. */
bool spike_rows_list(const float *x, int rows, int n, int *start, int *idx);

/* The transpose of a row listing: for each column j, the rows where it is
 * active, ascending, into cstart (n + 1) and crows (room for start[rows]). */
void spike_columns_list(const int *start, const int *idx, int rows, int n, int *cstart, int *crows);

/* out[r, :] = sum over the active columns j of row r of w[j, :]  (w is n x
 * width: W transposed), for rows r0..r1-1; out has `width` columns. */
void spike_gather_rows(const int *start, const int *idx, int r0, int r1, const float *w, int width,
                       float *out);

/* gt[j, :] = sum over the rows r listed for column j of d[r, :]  (d has
 * width columns), for every column j < n: gt = spikes^T d. */
void spike_sum_by_column(const int *cstart, const int *crows, int n, const float *d, int width, float *gt);

/* out[r, :] = sum over the nonzero d[r, m] (m ascending) of d[r, m] w[m, :]
 * for every row r < rows: d is rows x n, w is n x width. The product d w of
 * a sparse d (a gradient where most entries are 0). Returns 1, out
 * untouched, when d has more than max_nonzero nonzero entries (a dense
 * product is then the faster); -1 when out of memory. */
int sparse_rows_product(const float *d, int rows, int n, const float *w, int width, float *out,
                        size_t max_nonzero);

#endif
