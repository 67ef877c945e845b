/* test_cochlea: Lyon's passive cochlear model — channel layout, tone
 * selectivity, silence, bounds, and chunked == one-shot streaming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audio/cochlea.h"
#include "core/err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float *tone(double f, double fs, size_t n, double amp)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2.0 * M_PI * f * (double)i / fs));
    return x;
}

/* Deterministic white noise in [-amp, amp]. */
static float *noise(size_t n, double amp, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)(amp * ((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0));
    }
    return x;
}

/* Index of the channel with the largest mean over the second half of a 1 s tone. */
static int loudest_channel(double fs, double f, int differ, int *nearest)
{
    cochlea_params p = cochlea_params_default();
    p.differ = differ;
    cochlea *c = cochlea_new(fs, &p);
    assert_non_null(c);
    int nc = cochlea_n_channels(c);
    const double *cf = cochlea_centre_freqs(c);
    size_t n = (size_t)fs;
    float *x = tone(f, fs, n, 0.1);
    const float *o;
    size_t nfr;
    assert_int_equal(cochlea_process(c, x, n, &o, &nfr), 0);
    double *m = calloc((size_t)nc, sizeof *m);
    for (size_t t = nfr / 2; t < nfr; t++)
        for (int k = 0; k < nc; k++)
            m[k] += o[t * (size_t)nc + (size_t)k];
    int best = 0;
    *nearest = 0;
    for (int k = 0; k < nc; k++) {
        if (m[k] > m[best])
            best = k;
        if (fabs(cf[k] - f) < fabs(cf[*nearest] - f))
            *nearest = k;
    }
    /* selectivity: the peak stands well above channels 4 away; without
     * differencing less so, as stages above the tone pass it (compressed by
     * the AGC) */
    double ratio = differ ? 10.0 : 2.0;
    for (int k = 0; k < nc; k++)
        if (abs(k - best) >= 4)
            assert_true(m[best] > ratio * m[k]);
    free(m);
    free(x);
    cochlea_destroy(&c);
    assert_null(c);
    return best;
}

static void test_channel_count(void **state)
{
    (void)state;
    cochlea_params p = cochlea_params_default();
    assert_true(p.ear_q == 8.0 && p.step == 0.5 && p.decimation == 10);
    assert_int_equal(cochlea_count_channels(12500, &p), 39); /* the paper's TI-46 */
    assert_int_equal(cochlea_count_channels(8000, &p), 32);  /* FSDD native */
    assert_int_equal(cochlea_count_channels(8000, NULL), 32);
    p.step = 0.25; /* the toolbox's default step, ear_q / 32: twice as many */
    assert_int_equal(cochlea_count_channels(12500, &p), 78);
    cochlea *c = cochlea_new(12500, NULL);
    assert_non_null(c);
    assert_int_equal(cochlea_n_channels(c), 39);
    assert_int_equal(cochlea_decimation(c), 10);
    cochlea_destroy(&c);
    c = cochlea_new(8000, NULL);
    assert_int_equal(cochlea_n_channels(c), 32);
    cochlea_destroy(&c);
}

static void test_centre_freqs(void **state)
{
    (void)state;
    const double fss[] = {8000, 12500, 16000};
    for (size_t j = 0; j < 3; j++) {
        double fs = fss[j];
        cochlea *c = cochlea_new(fs, NULL);
        assert_non_null(c);
        int nc = cochlea_n_channels(c);
        const double *cf = cochlea_centre_freqs(c);
        assert_true(cf[0] < fs / 2);
        assert_true(cf[0] > 0.85 * fs / 2);
        assert_true(cf[nc - 1] > 1000.0 / sqrt(4 * 64.0 - 1)); /* pole Q stays above 1/2 */
        assert_true(cf[nc - 1] < 130.0);
        for (int k = 0; k + 1 < nc; k++) {
            assert_true(cf[k + 1] < cf[k]); /* decreasing */
            /* spacing ~ step * bandwidth (exact for the continuous solution) */
            double bw = sqrt(cf[k] * cf[k] + 1e6) / 8.0;
            double gap = cf[k] - cf[k + 1];
            assert_true(gap > 0.45 * bw && gap < 0.5 * bw * 1.02);
        }
        cochlea_destroy(&c);
    }
    /* regression: the 12.5 kHz top and bottom channels */
    cochlea *c = cochlea_new(12500, NULL);
    assert_float_equal(cochlea_centre_freqs(c)[0], 5680.4, 0.5);
    assert_float_equal(cochlea_centre_freqs(c)[38], 62.9, 0.5);
    cochlea_destroy(&c);
}

static void test_tone_peaks_at_its_channel(void **state)
{
    (void)state;
    const double freqs[] = {300, 700, 1000, 1500, 2500, 3300};
    const double fss[] = {8000, 12500};
    for (size_t j = 0; j < 2; j++)
        for (size_t i = 0; i < 6; i++) {
            int nearest, best;
            /* without differencing, the channel whose centre is nearest the tone */
            best = loudest_channel(fss[j], freqs[i], 0, &nearest);
            assert_true(abs(best - nearest) <= 1);
            /* differencing keeps the steep low-frequency flank of the peak: the
             * maximum moves at most two channels down (higher index) */
            best = loudest_channel(fss[j], freqs[i], 1, &nearest);
            assert_true(best - nearest >= 0 && best - nearest <= 2);
        }
}

static void test_silence_gives_zeros(void **state)
{
    (void)state;
    cochlea *c = cochlea_new(8000, NULL);
    size_t n = 4005;
    float *x = calloc(n, sizeof *x);
    const float *o;
    size_t nfr;
    assert_int_equal(cochlea_process(c, x, n, &o, &nfr), 0);
    assert_int_equal(nfr, 400);
    for (size_t i = 0; i < nfr * 32; i++)
        assert_true(o[i] == 0.0f);
    free(x);
    cochlea_destroy(&c);
}

static void check_bounded(cochlea *c, const float *x, size_t n, double bound)
{
    const float *o;
    size_t nfr;
    assert_int_equal(cochlea_process(c, x, n, &o, &nfr), 0);
    size_t nv = nfr * (size_t)cochlea_n_channels(c);
    double mx = 0;
    for (size_t i = 0; i < nv; i++) {
        assert_true(isfinite(o[i]));
        assert_true(o[i] >= 0.0f);
        if (o[i] > mx)
            mx = o[i];
    }
    assert_true(mx > 0);
    assert_true(mx < bound);
}

static void test_output_bounded_and_finite(void **state)
{
    (void)state;
    size_t n = 12500;
    float *w = noise(n, 1.0, 7), *t = tone(1000, 12500, n, 1.0);
    cochlea *c = cochlea_new(12500, NULL);
    /* the AGC holds full-scale input near its targets (~1e-3) */
    check_bounded(c, w, n, 0.01);
    cochlea_reset(c);
    check_bounded(c, t, n, 0.01);
    cochlea_destroy(&c);
    cochlea_params p = cochlea_params_default();
    p.agc = 0;
    c = cochlea_new(12500, &p);
    check_bounded(c, w, n, 100.0);
    cochlea_destroy(&c);
    free(w);
    free(t);
}

static void test_chunked_equals_one_shot(void **state)
{
    (void)state;
    const double fss[] = {8000, 12500};
    for (size_t j = 0; j < 2; j++) {
        size_t n = 9999;
        float *x = noise(n, 0.3, 42);
        for (size_t i = 0; i < n; i++)
            x[i] += (float)(0.2 * sin(0.3 * (double)i));
        cochlea *a = cochlea_new(fss[j], NULL), *b = cochlea_new(fss[j], NULL);
        int nc = cochlea_n_channels(a);
        const float *o;
        size_t nfa, nfb = 0;
        assert_int_equal(cochlea_process(a, x, n, &o, &nfa), 0);
        assert_int_equal(nfa, n / 10);
        float *one = malloc(nfa * (size_t)nc * sizeof *one);
        memcpy(one, o, nfa * (size_t)nc * sizeof *one);
        const size_t sizes[] = {0, 1, 7, 10, 333, 1, 2048, 9};
        float *many = malloc(nfa * (size_t)nc * sizeof *many);
        for (size_t pos = 0, s = 0; pos < n; s++) {
            size_t len = sizes[s % 8];
            if (len > n - pos)
                len = n - pos;
            size_t got;
            assert_int_equal(cochlea_process(b, x + pos, len, &o, &got), 0);
            assert_true(nfb + got <= nfa);
            memcpy(many + nfb * (size_t)nc, o, got * (size_t)nc * sizeof *many);
            nfb += got;
            pos += len;
        }
        assert_int_equal(nfb, nfa);
        assert_memory_equal(one, many, nfa * (size_t)nc * sizeof *one);
        /* reset returns to the initial state */
        cochlea_reset(a);
        assert_int_equal(cochlea_process(a, x, n, &o, &nfa), 0);
        assert_memory_equal(one, o, nfa * (size_t)nc * sizeof *one);
        free(one);
        free(many);
        free(x);
        cochlea_destroy(&a);
        cochlea_destroy(&b);
    }
}

static void test_decimation_and_options(void **state)
{
    (void)state;
    size_t n = 1234;
    float *x = tone(500, 8000, n, 0.5);
    cochlea_params p = cochlea_params_default();
    const int decs[] = {1, 4, 10, 64};
    for (int i = 0; i < 4; i++) {
        p.decimation = decs[i];
        cochlea *c = cochlea_new(8000, &p);
        const float *o;
        size_t nfr;
        assert_int_equal(cochlea_process(c, x, n, &o, &nfr), 0);
        assert_int_equal(nfr, n / (size_t)decs[i]);
        cochlea_destroy(&c);
    }
    /* differencing on: channel 0 is differenced against the (zeroed) front
     * filter tap, so it is always 0, as in the published model */
    cochlea *c = cochlea_new(8000, NULL);
    const float *o;
    size_t nfr;
    assert_int_equal(cochlea_process(c, x, n, &o, &nfr), 0);
    for (size_t t = 0; t < nfr; t++)
        assert_true(o[t * 32] == 0.0f);
    cochlea_destroy(&c);
    free(x);
}

static void test_errors(void **state)
{
    (void)state;
    cochlea_params p = cochlea_params_default();
    p.ear_q = 0.4;
    assert_null(cochlea_new(8000, &p));
    assert_non_null(strstr(err_msg(), "ear_q"));
    p = cochlea_params_default();
    p.decimation = 0;
    assert_null(cochlea_new(8000, &p));
    assert_non_null(strstr(err_msg(), "decimation"));
    assert_null(cochlea_new(NAN, NULL));
    assert_null(cochlea_new(50, NULL));
    cochlea *c = cochlea_new(8000, NULL);
    float x[20] = {0};
    x[13] = NAN;
    const float *o;
    size_t nfr;
    assert_int_equal(cochlea_process(c, x, 20, &o, &nfr), -1);
    assert_non_null(strstr(err_msg(), "sample 13 is NaN"));
    cochlea_destroy(&c);
    cochlea_destroy(&c); /* safe on NULL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_count),
        cmocka_unit_test(test_centre_freqs),
        cmocka_unit_test(test_tone_peaks_at_its_channel),
        cmocka_unit_test(test_silence_gives_zeros),
        cmocka_unit_test(test_output_bounded_and_finite),
        cmocka_unit_test(test_chunked_equals_one_shot),
        cmocka_unit_test(test_decimation_and_options),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
