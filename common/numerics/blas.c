/* blas: sgemm wrapper, kernel check and thread pool set-up (see include/blas.h).
 * The only process-wide state is OpenBLAS's and OpenMP's own. */
#include "numerics/blas.h"

#include "core/err.h"
#include "core/log.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xmmintrin.h>
#include <pmmintrin.h>

char *openblas_get_corename(void);

const char *blas_corename(void) { return openblas_get_corename(); }

const char *blas_expected_corename(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2"))
        return "Haswell";
    return NULL;
}

void blas_flush_denormals(void)
{
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}

int blas_threads(void) { return omp_get_max_threads(); }

int blas_set_threads(int threads)
{
    const int was = omp_get_max_threads();
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
    /* a thread the pool starts now must flush denormals as the others do */
#pragma omp parallel
    blas_flush_denormals();
    return was;
}

/* Kernels that waste a CPU able to run the expected one. Debian's 0.3.21
 * picks "Prescott" on some virtual CPUs; machines may also pin an older
 * kernel through OPENBLAS_CORETYPE (here: Haswell on AVX-512 hardware, about
 * 1.6x slower sgemm). The fast path is checked against a BLAS-free oracle by
 * make test, under whatever kernel this selects. */
static bool kernel_is_weaker(const char *core, const char *want)
{
    static const char *old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                "Sandybridge", "Atom", "Barcelona", "Bulldozer", "Piledriver"};
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (strcmp(core, old[i]) == 0)
            return true;
    return strcmp(want, "SkylakeX") == 0 && (strcmp(core, "Haswell") == 0 || strcmp(core, "Zen") == 0);
}

int blas_select_kernel(char **argv)
{
    const char *core = blas_corename();
    const char *want = blas_expected_corename();
    const char *policy = getenv("SPIKESYNTH_CORETYPE"); /* "keep", a kernel name, or unset */
    if (policy && strcmp(policy, "keep") == 0)
        return 0;
    if (policy && *policy)
        want = policy;
    if (!want || !core || strcmp(core, want) == 0 || (!policy && !kernel_is_weaker(core, want)))
        return 0;
    /* OpenBLAS reads OPENBLAS_CORETYPE when it loads, so the fix is a re-exec */
    if (argv && !getenv("SPIKESYNTH_REEXEC")) {
        setenv("OPENBLAS_CORETYPE", want, 1);
        setenv("SPIKESYNTH_REEXEC", core, 1); /* never loop; remembers what ran before */
        execv("/proc/self/exe", argv);
        return err_set("re-exec with OPENBLAS_CORETYPE=%s failed", want);
    }
    if (!argv)
        log_warn("OpenBLAS runs its %s kernel where %s would be faster", core, want);
    return 0;
}

int blas_init(char **argv, int threads)
{
    if (blas_select_kernel(argv) != 0)
        return -1;
    /* blas_sgemm splits the work itself, in blocks fixed by the shapes, so a
     * product comes out the same for any number of threads (OpenBLAS's own
     * split does not: 1 and 2 threads differ in the last bits). OpenBLAS's
     * setter also sets OpenMP's count: ours goes after it. */
    const int pool = threads > 0 ? threads : omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(pool);
#pragma omp parallel
    blas_flush_denormals();
    return 0;
}

/* Columns of C per block: 2 * ceil(n / 256) blocks of equal width (even, for
 * two cores), a function of n alone. */
static int column_blocks(int n) { return 2 * ((n + 255) / 256); }

void blas_sgemm(bool trans_a, bool trans_b, int m, int n, int k,
                float alpha, const float *a, int lda, const float *b, int ldb,
                float beta, float *c, int ldc)
{
    blas_sgemm_rows(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, m);
}

void blas_sgemm_rows(bool trans_a, bool trans_b, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc, int row_block)
{
    if (m == 0 || n == 0)
        return;
    if (row_block <= 0 || row_block > m)
        row_block = m;
    const int blocks = column_blocks(n), row_blocks = (m + row_block - 1) / row_block;
    const bool parallel = (double)m * n * k > 1e6;
    /* OpenBLAS's OpenMP build threads a call made outside a parallel region
     * over omp_get_max_threads(), whatever openblas_set_num_threads said, and
     * its split changes the last bits: a serial product runs with one thread */
    const int pool = omp_get_max_threads();
    if (!parallel)
        omp_set_num_threads(1);
    /* OpenBLAS runs one thread per call (blas_init); the blocks share the pool */
#pragma omp parallel for schedule(dynamic) if (parallel)
    for (int t = 0; t < blocks * row_blocks; t++) {
        const int i = t % blocks, r0 = t / blocks * row_block;
        const int rows = m - r0 < row_block ? m - r0 : row_block;
        const int j0 = (int)((long)n * i / blocks), j1 = (int)((long)n * (i + 1) / blocks);
        if (j1 == j0)
            continue;
        /* column j0 of op(B): row j0 of B when transposed, else column j0; row r0
         * of op(A): column r0 of A when transposed, else row r0 */
        const float *bj = trans_b ? b + (size_t)j0 * ldb : b + j0;
        const float *ar = trans_a ? a + r0 : a + (size_t)r0 * lda;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, rows, j1 - j0, k, alpha, ar, lda, bj, ldb,
                    beta, c + (size_t)r0 * ldc + j0, ldc);
    }
    if (!parallel)
        omp_set_num_threads(pool);
}
