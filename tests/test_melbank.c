/* test_melbank: the log-mel alternative front end — band layout, tone
 * selectivity and level, silence, frame grid, chunked == one-shot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/err.h"
#include "audio/melbank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float *tone(double f, double fs, size_t n, double amp)
{
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2.0 * M_PI * f * (double)i / fs + 0.3));
    return x;
}

/* Mean of each band over frames 10.. of a tone; returns the loudest band. */
static int loudest_band(melbank *m, double fs, double f, double amp, double *level)
{
    int nc = melbank_n_channels(m);
    size_t n = 4000;
    float *x = tone(f, fs, n, amp);
    const float *o;
    size_t nfr;
    melbank_reset(m);
    assert_int_equal(melbank_process(m, x, n, &o, &nfr), 0);
    assert_true(nfr > 20);
    double *s = calloc((size_t)nc, sizeof *s);
    for (size_t t = 10; t < nfr; t++)
        for (int k = 0; k < nc; k++)
            s[k] += o[t * (size_t)nc + (size_t)k] / (double)(nfr - 10);
    int best = 0;
    for (int k = 0; k < nc; k++)
        if (s[k] > s[best])
            best = k;
    *level = s[best];
    free(s);
    free(x);
    return best;
}

static void test_layout(void **state)
{
    (void)state;
    melbank_params p = melbank_params_default();
    assert_int_equal(p.n_mels, 39);
    assert_int_equal(p.hop, 10);
    const double fss[] = {8000, 12500};
    for (int j = 0; j < 2; j++) {
        melbank *m = melbank_new(fss[j], NULL);
        assert_non_null(m);
        assert_int_equal(melbank_n_channels(m), 39);
        assert_int_equal(melbank_hop(m), 10);
        const double *cf = melbank_centre_freqs(m);
        assert_true(cf[0] < fss[j] / 2 && cf[38] > 60.0);
        for (int k = 0; k + 1 < 39; k++)
            assert_true(cf[k + 1] < cf[k]); /* highest band first, like the cochlea */
        melbank_destroy(&m);
        assert_null(m);
    }
}

static void test_tone_selects_nearest_band_at_its_level(void **state)
{
    (void)state;
    melbank_params p = melbank_params_default();
    p.n_mels = 24;
    melbank *m = melbank_new(8000, &p);
    const double *cf = melbank_centre_freqs(m);
    const double freqs[] = {400, 800, 1200, 2000, 3000, 3600};
    for (int i = 0; i < 6; i++) {
        double level;
        int best = loudest_band(m, 8000, freqs[i], 0.5, &level);
        int nearest = 0;
        for (int k = 0; k < 24; k++)
            if (fabs(cf[k] - freqs[i]) < fabs(cf[nearest] - freqs[i]))
                nearest = k;
        assert_true(abs(best - nearest) <= 1);
    }
    /* at a band centre, a sine of amplitude A reads its power, 20 log10(A) dB
     * (re a full-scale sine's A^2 = 1), above the -80 dB floor; a little less
     * where the triangle's slopes cut into the window's main lobe */
    for (int k = 4; k < 24; k += 6) {
        double level;
        assert_int_equal(loudest_band(m, 8000, cf[k], 1.0, &level), k);
        assert_true(level > 78.0 && level < 80.05);
        assert_int_equal(loudest_band(m, 8000, cf[k], 0.01, &level), k);
        assert_true(level > 38.0 && level < 40.05);
    }
    melbank_destroy(&m);
}

static void test_silence_and_frame_grid(void **state)
{
    (void)state;
    melbank *m = melbank_new(8000, NULL);
    size_t n = 1237;
    float *x = calloc(n, sizeof *x);
    const float *o;
    size_t nfr;
    assert_int_equal(melbank_process(m, x, n, &o, &nfr), 0);
    assert_int_equal(nfr, 123); /* floor(n / hop), the cochlea's grid */
    for (size_t i = 0; i < nfr * 39; i++)
        assert_true(o[i] == 0.0f);
    /* causal: a click at sample 500 first shows in the frame ending at 509 */
    x[500] = 1.0f;
    melbank_reset(m);
    assert_int_equal(melbank_process(m, x, n, &o, &nfr), 0);
    for (size_t t = 0; t < nfr; t++) {
        double s = 0;
        for (int k = 0; k < 39; k++)
            s += o[t * 39 + (size_t)k];
        if (t < 50)
            assert_true(s == 0.0);
        else if (t == 50)
            assert_true(s > 0.0);
    }
    free(x);
    melbank_destroy(&m);
}

static void test_chunked_equals_one_shot(void **state)
{
    (void)state;
    size_t n = 7777;
    float *x = tone(700, 12500, n, 0.4);
    for (size_t i = 0; i < n; i++)
        x[i] += (float)(0.1 * sin(0.01 * (double)i * (double)i));
    melbank *a = melbank_new(12500, NULL), *b = melbank_new(12500, NULL);
    const float *o;
    size_t nfa, nfb = 0;
    assert_int_equal(melbank_process(a, x, n, &o, &nfa), 0);
    assert_int_equal(nfa, n / 10);
    float *one = malloc(nfa * 39 * sizeof *one), *many = malloc(nfa * 39 * sizeof *many);
    memcpy(one, o, nfa * 39 * sizeof *one);
    const size_t sizes[] = {3, 0, 1000, 1, 17, 400};
    for (size_t pos = 0, k = 0; pos < n; k++) {
        size_t len = sizes[k % 6], got;
        if (len > n - pos)
            len = n - pos;
        assert_int_equal(melbank_process(b, x + pos, len, &o, &got), 0);
        memcpy(many + nfb * 39, o, got * 39 * sizeof *many);
        nfb += got;
        pos += len;
    }
    assert_int_equal(nfb, nfa);
    assert_memory_equal(one, many, nfa * 39 * sizeof *one);
    free(one);
    free(many);
    free(x);
    melbank_destroy(&a);
    melbank_destroy(&b);
}

static void test_errors(void **state)
{
    (void)state;
    melbank_params p = melbank_params_default();
    p.n_fft = 100; /* not a power of two */
    assert_null(melbank_new(8000, &p));
    assert_non_null(strstr(err_msg(), "n_fft"));
    p = melbank_params_default();
    p.f_max = 5000; /* above Nyquist */
    assert_null(melbank_new(8000, &p));
    p = melbank_params_default();
    p.hop = 0;
    assert_null(melbank_new(8000, &p));
    melbank *m = melbank_new(8000, NULL);
    float x[30] = {0};
    x[29] = INFINITY;
    const float *o;
    size_t nfr;
    assert_int_equal(melbank_process(m, x, 30, &o, &nfr), -1);
    assert_non_null(strstr(err_msg(), "sample 29 is infinite"));
    melbank_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_tone_selects_nearest_band_at_its_level),
        cmocka_unit_test(test_silence_and_frame_grid),
        cmocka_unit_test(test_chunked_equals_one_shot),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
