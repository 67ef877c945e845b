/* blas: the one door to BLAS, and the process's single pool of threads.
 *
 * All matrix products go through blas_sgemm (row-major). OpenBLAS is the
 * OpenMP build, kept at one thread per call: blas_sgemm spreads its blocks
 * over our one OpenMP pool (two pools on two cores were 2-4x slower). blas_init() must run first thing in
 * main: it fixes the thread count, flushes denormals to zero in every thread,
 * and, where OpenBLAS runs a kernel older than the CPU supports (Debian's
 * 0.3.21 takes some virtual CPUs for "Prescott": about 4x slower sgemm; an
 * inherited OPENBLAS_CORETYPE=Haswell on AVX-512: 1.6x), re-executes the
 * program with the right OPENBLAS_CORETYPE. SPIKESYNTH_CORETYPE=keep turns
 * that off; SPIKESYNTH_CORETYPE=NAME asks for kernel NAME. */
#ifndef SPIKESYNTH_BLAS_H
#define SPIKESYNTH_BLAS_H

#include <stdbool.h>

/* Call first in main with its argv (needed for the re-exec; may be NULL in
 * tests, which then only warn). threads <= 0 keeps the default (all cores or
 * OMP_NUM_THREADS). Returns 0, or -1 with err_msg() set. */
int blas_init(char **argv, int threads);

/* Only the kernel check and re-exec of blas_init, without starting threads
 * (for a parent process that forks workers). */
int blas_select_kernel(char **argv);

/* The OpenBLAS kernel that runs ("Haswell", "SkylakeX", ...). */
const char *blas_corename(void);
/* The kernel this CPU should get, or NULL when any will do. */
const char *blas_expected_corename(void);
int blas_threads(void);
/* Resizes the pool to threads (<= 0: every core) and flushes denormals in
 * each of its threads; returns the size it had. Results do not depend on it. */
int blas_set_threads(int threads);


/* C = alpha * op(A) * op(B) + beta * C, row-major, shapes explicit:
 * op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides.
 * Bit for bit the same result for any thread count: the columns of C go in
 * blocks fixed by n, one single-threaded OpenBLAS call each, over the pool. */
void blas_sgemm(bool trans_a, bool trans_b, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb,
                float beta, float *c, int ldc);

/* The same with the rows of C also in blocks, of row_block rows from its
 * first: each (row block, column block) is one call, so a product over a
 * block's rows alone gives the same bits as the whole product (OpenBLAS
 * picks its kernels by size, so plain row subsets may differ). */
void blas_sgemm_rows(bool trans_a, bool trans_b, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc, int row_block);

/* Flushes denormals to zero in the calling thread (blas_init does all threads). */
void blas_flush_denormals(void);

#endif
