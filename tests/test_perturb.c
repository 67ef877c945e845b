/* test_perturb: the robustness table's and the augmentation's perturbations:
 * a speed change stretches duration and pitch by its factor, noise is added at
 * the asked SNR (measured back to 0.1 dB), gain, shift, white noise and babble
 * do what they say, and augmentation is a function of (seed, epoch, id). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audio/augment.h"
#include "audio/perturb.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FS 8000.0

static audio *tone_audio(double f, size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * f * (double)i / FS));
    audio *a = audio_from_samples(x, n, FS, "tone", NULL);
    free(x);
    assert_non_null(a);
    return a;
}

/* Upward zero crossings per second over the middle half (away from the
 * resampler's edges). */
static double crossings_hz(const audio *a)
{
    size_t from = a->n / 4, to = 3 * a->n / 4, c = 0;
    for (size_t i = from + 1; i < to; i++)
        c += a->samples[i - 1] < 0 && a->samples[i] >= 0;
    return (double)c * a->fs / (double)(to - from);
}

static void test_speed(void **state)
{
    (void)state;
    const double factors[] = {0.9, 1.1, 0.5, 2.0};
    for (size_t k = 0; k < 4; k++) {
        audio *a = tone_audio(500, 16000);
        assert_int_equal(perturb_speed(a, factors[k], AUDIO_QUALITY_MEDIUM), 0);
        assert_true(a->fs == FS);
        double want = 16000 / factors[k];
        if (fabs((double)a->n - want) > 2)
            fail_msg("speed %g: %zu samples, want %.0f", factors[k], a->n, want);
        double f = crossings_hz(a);
        if (fabs(f - 500 * factors[k]) > 5)
            fail_msg("speed %g: the tone is at %.1f Hz, want %.1f", factors[k], f, 500 * factors[k]);
        audio_destroy(&a);
    }
    audio *a = tone_audio(500, 100);
    assert_int_equal(perturb_speed(a, 1.0, AUDIO_QUALITY_MEDIUM), 0);
    assert_int_equal(a->n, 100);
    assert_int_equal(perturb_speed(a, 5.0, AUDIO_QUALITY_MEDIUM), -1);
    assert_non_null(strstr(err_msg(), "out of range"));
    audio_destroy(&a);
}

/* SNR measured back from the difference, with white noise and with babble */
static void test_snr(void **state)
{
    (void)state;
    const size_t n = 6000;
    float *noise = malloc(2 * n * sizeof *noise);
    perturb_white(noise, 2 * n, 7, 0);
    double m = 0, v = perturb_power(noise, 2 * n);
    for (size_t i = 0; i < 2 * n; i++)
        m += noise[i];
    assert_true(fabs(m / (2.0 * n)) < 0.05 && fabs(v - 1) < 0.05); /* standard normal */
    audio *t1 = tone_audio(300, 3000), *t2 = tone_audio(1100, 7000);
    const audio *talkers[] = {t1, t2};
    float *babble = malloc(n * sizeof *babble);
    assert_int_equal(perturb_babble(babble, n, talkers, 2), 0);
    assert_true(fabs(perturb_power(babble, n) - 2) < 0.05); /* two talkers of unit power */
    const double snrs[] = {20, 10, 5, 0, -3};
    for (int kind = 0; kind < 2; kind++)
        for (size_t k = 0; k < 5; k++) {
            audio *a = tone_audio(440, n);
            float *clean = malloc(n * sizeof *clean);
            memcpy(clean, a->samples, n * sizeof *clean);
            assert_int_equal(perturb_add_noise(a->samples, n, kind ? babble : noise, kind ? n : 2 * n,
                                               kind ? 0 : 123, snrs[k]), 0);
            for (size_t i = 0; i < n; i++)
                clean[i] = a->samples[i] - clean[i];
            double got = 10 * log10(0.045 / perturb_power(clean, n)); /* 0.3^2 / 2 */
            if (fabs(got - snrs[k]) > 0.1)
                fail_msg("%s at %g dB: measured %.3f dB", kind ? "babble" : "white", snrs[k], got);
            free(clean);
            audio_destroy(&a);
        }
    float silent[10] = {0};
    assert_int_equal(perturb_add_noise(silent, 10, noise, n, 0, 10), -1);
    assert_non_null(strstr(err_msg(), "silent"));
    /* the same (seed, stream) gives the same noise, another stream another */
    float a1[9], a2[9], b[9];
    perturb_white(a1, 9, 7, 3);
    perturb_white(a2, 9, 7, 3);
    perturb_white(b, 9, 7, 4);
    assert_memory_equal(a1, a2, sizeof a1);
    assert_true(memcmp(a1, b, sizeof a1) != 0);
    free(noise);
    free(babble);
    audio_destroy(&t1);
    audio_destroy(&t2);
}

static void test_gain_and_shift(void **state)
{
    (void)state;
    audio *a = tone_audio(440, 800);
    double p = perturb_power(a->samples, a->n);
    perturb_gain(a->samples, a->n, -6);
    assert_float_equal(10 * log10(perturb_power(a->samples, a->n) / p), -6, 1e-4);
    float second = a->samples[1];
    assert_int_equal(perturb_shift(a, 80), 0);
    assert_int_equal(a->n, 880);
    assert_true(a->samples[0] == 0 && a->samples[79] == 0 && a->samples[81] == second);
    assert_int_equal(perturb_shift(a, -81), 0);
    assert_int_equal(a->n, 799);
    assert_true(a->samples[0] == second);
    assert_int_equal(perturb_shift(a, -5000), 0); /* at least one sample stays */
    assert_int_equal(a->n, 1);
    audio_destroy(&a);
}

static void test_augment(void **state)
{
    (void)state;
    unsigned w;
    assert_int_equal(augment_parse("speed,noise", &w), 0);
    assert_int_equal(w, AUGMENT_SPEED | AUGMENT_NOISE);
    assert_int_equal(augment_parse("none", &w), 0);
    assert_int_equal(w, 0u);
    assert_int_equal(augment_parse("", &w), 0);
    assert_int_equal(w, 0u);
    assert_int_equal(augment_parse("speed,pitch", &w), -1);
    assert_non_null(strstr(err_msg(), "'pitch'"));
    augment_params p = augment_params_default();
    assert_int_equal(augment_parse("speed,noise,gain,shift", &p.what), 0);
    p.noise_p = 1;
    float noise[4000];
    perturb_white(noise, 4000, 1, 0);
    audio *x = tone_audio(440, 4000), *y = tone_audio(440, 4000), *z = tone_audio(440, 4000);
    assert_int_equal(augment_apply(&p, x, 5, 2, 17, noise, 4000), 0);
    assert_int_equal(augment_apply(&p, y, 5, 2, 17, noise, 4000), 0);
    assert_int_equal(augment_apply(&p, z, 5, 3, 17, noise, 4000), 0); /* another epoch */
    assert_int_equal(x->n, y->n);
    assert_memory_equal(x->samples, y->samples, x->n * sizeof *x->samples);
    assert_true(x->n != z->n || memcmp(x->samples, z->samples, x->n * sizeof *x->samples));
    /* speed 0.9-1.1 then 0-100 ms of silence: the length stays in its bounds */
    assert_true(x->n >= 4000 / 1.1 - 2 && x->n <= 4000 / 0.9 + 800 + 2);
    for (uint32_t k = 0; k < 3; k++)
        assert_true(augment_pick(5, 2, 17, k, 10) < 10);
    audio_destroy(&x);
    audio_destroy(&y);
    audio_destroy(&z);
}

/* white: a hiss at 5-30 dB SNR, the same for the same draws, none when off */
static void test_augment_white(void **state)
{
    (void)state;
    augment_params p = augment_params_default();
    assert_int_equal(augment_parse("white", &p.what), 0);
    assert_int_equal(p.what, AUGMENT_WHITE);
    p.noise_p = 1;
    audio *clean = tone_audio(440, 4000), *x = tone_audio(440, 4000), *y = tone_audio(440, 4000);
    assert_int_equal(augment_apply(&p, x, 5, 2, 17, NULL, 0), 0); /* no babble needed */
    assert_int_equal(augment_apply(&p, y, 5, 2, 17, NULL, 0), 0);
    assert_int_equal(x->n, clean->n);
    assert_memory_equal(x->samples, y->samples, x->n * sizeof *x->samples);
    double signal = 0, noise = 0;
    for (size_t i = 0; i < x->n; i++) {
        double d = (double)x->samples[i] - clean->samples[i];
        signal += (double)clean->samples[i] * clean->samples[i];
        noise += d * d;
    }
    const double snr = 10 * log10(signal / noise);
    assert_true(snr > 5 - 0.5 && snr < 30 + 0.5);
    p.noise_p = 0; /* never drawn: untouched */
    audio *z = tone_audio(440, 4000);
    assert_int_equal(augment_apply(&p, z, 5, 2, 17, NULL, 0), 0);
    assert_memory_equal(z->samples, clean->samples, z->n * sizeof *z->samples);
    audio_destroy(&clean);
    audio_destroy(&x);
    audio_destroy(&y);
    audio_destroy(&z);
}

/* mask: zeros in whole frames of one span and in one band of channels, no
 * wider than the widest; the same for the same draws; nothing when off */
static void test_augment_mask(void **state)
{
    (void)state;
    enum { T = 50, C = 32 };
    augment_params p = augment_params_default();
    assert_int_equal(augment_parse("mask", &p.what), 0);
    assert_int_equal(p.what, AUGMENT_MASK);
    float x[T * C], y[T * C];
    int widest_frames = 0, widest_band = 0;
    for (uint32_t id = 0; id < 200; id++) {
        for (int i = 0; i < T * C; i++)
            x[i] = y[i] = 1.0f + (float)i;
        augment_mask(&p, x, T, C, 5, 2, id);
        augment_mask(&p, y, T, C, 5, 2, id);
        assert_memory_equal(x, y, sizeof x);
        int frames = 0, band_lo = C, band_hi = -1, first = -1, last = -1;
        for (int t = 0; t < T; t++) {
            int zeros = 0;
            for (int c = 0; c < C; c++)
                zeros += x[t * C + c] == 0.0f;
            if (zeros == C) {
                frames++;
                first = first < 0 ? t : first;
                last = t;
                continue;
            }
            for (int c = 0; c < C; c++)
                if (x[t * C + c] == 0.0f) {
                    band_lo = c < band_lo ? c : band_lo;
                    band_hi = c > band_hi ? c : band_hi;
                } else
                    assert_true(x[t * C + c] == 1.0f + (float)(t * C + c));
        }
        if (frames)
            assert_int_equal(last - first + 1, frames); /* one span */
        const int band = band_hi < 0 ? 0 : band_hi - band_lo + 1;
        for (int t = 0; t < T; t++) /* the same band in every frame outside the span */
            if (t < first || t > last)
                for (int c = band_lo; c <= band_hi; c++)
                    assert_true(x[t * C + c] == 0.0f);
        assert_true(frames <= T / 6 && band <= C / 4);
        widest_frames = frames > widest_frames ? frames : widest_frames;
        widest_band = band > widest_band ? band : widest_band;
    }
    assert_true(widest_frames >= T / 6 - 1 && widest_band >= C / 4 - 1);
    p.what = AUGMENT_SPEED; /* no mask bit: untouched */
    for (int i = 0; i < T * C; i++)
        x[i] = y[i] = 1.0f;
    augment_mask(&p, x, T, C, 5, 2, 17);
    assert_memory_equal(x, y, sizeof x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_snr),
        cmocka_unit_test(test_gain_and_shift),
        cmocka_unit_test(test_augment),
        cmocka_unit_test(test_augment_white),
        cmocka_unit_test(test_augment_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
