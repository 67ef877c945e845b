/* test_segmenter: tone bursts separated by silence (or by noise louder than the
 * absolute threshold) come out as one utterance each, at the right times, the
 * same however the stream is chunked; clicks are dropped, long sounds cut, the
 * last utterance flushed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/err.h"
#include "numerics/rng.h"
#include "audio/segmenter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FS 16000.0

typedef struct {
    int n;
    double start[16], end[16];
    size_t len[16];
    int fail_at;
} got;

static int collect(void *arg, const float *x, size_t n, double a, double b)
{
    got *g = arg;
    if (g->n == g->fail_at)
        return err_set("stop here");
    assert_true(g->n < 16);
    assert_non_null(x);
    g->start[g->n] = a;
    g->end[g->n] = b;
    g->len[g->n] = n;
    g->n++;
    return 0;
}

/* A signal from a pattern: pairs (kind, seconds), kind 't' tone or 's' silence;
 * noise_dbfs adds Gaussian noise of that RMS level everywhere (NAN: none). */
static float *make(const char *kinds, const double *secs, double noise_dbfs, size_t *n)
{
    size_t total = 0, k = strlen(kinds);
    for (size_t i = 0; i < k; i++)
        total += (size_t)(secs[i] * FS);
    float *x = calloc(total, sizeof *x);
    size_t pos = 0;
    uint32_t ctr = 0;
    for (size_t i = 0; i < k; i++) {
        size_t m = (size_t)(secs[i] * FS);
        for (size_t j = 0; j < m; j++, pos++)
            if (kinds[i] == 't')
                x[pos] = (float)(0.3 * sin(2 * M_PI * (300 + 150 * (double)i) * (double)j / FS));
    }
    if (!isnan(noise_dbfs)) {
        double sd = pow(10, noise_dbfs / 20);
        for (size_t j = 0; j < total; j += 2) {
            rng_block r = rng_philox(7, (rng_block){{ctr++, 0, 0, 0}});
            double u1 = (r.v[0] + 1.0) / 4294967297.0, u2 = r.v[1] / 4294967296.0;
            double rad = sqrt(-2 * log(u1));
            x[j] += (float)(sd * rad * cos(2 * M_PI * u2));
            if (j + 1 < total)
                x[j + 1] += (float)(sd * rad * sin(2 * M_PI * u2));
        }
    }
    *n = total;
    return x;
}

static got run(const float *x, size_t n, size_t chunk, const segmenter_params *p)
{
    got g = {.fail_at = -1};
    segmenter *s = segmenter_new(FS, p);
    assert_non_null(s);
    for (size_t i = 0, k; i < n; i += k) {
        k = n - i < chunk ? n - i : chunk;
        assert_int_equal(segmenter_push(s, x + i, k, collect, &g), 0);
        chunk = chunk * 7 % 3001 + 1; /* vary the chunk sizes */
    }
    assert_int_equal(segmenter_flush(s, collect, &g), 0);
    segmenter_destroy(&s);
    assert_null(s);
    return g;
}

static void test_two_bursts(void **state)
{
    (void)state;
    const double secs[] = {0.3, 0.4, 0.5, 0.4, 0.3};
    size_t n;
    float *x = make("ststs", secs, NAN, &n);
    got a = run(x, n, n, NULL), b = run(x, n, 17, NULL);
    assert_int_equal(a.n, 2);
    /* 50 ms of padding around the loud part */
    assert_true(fabs(a.start[0] - 0.25) < 0.011 && fabs(a.end[0] - 0.75) < 0.011);
    assert_true(fabs(a.start[1] - 1.15) < 0.011 && fabs(a.end[1] - 1.65) < 0.011);
    assert_int_equal(b.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(a.start[i] == b.start[i] && a.end[i] == b.end[i]);
        assert_int_equal(a.len[i], (size_t)llround((a.end[i] - a.start[i]) * FS));
    }
    free(x);
}

static void test_noise_floor(void **state)
{
    (void)state;
    /* noise at -40 dBFS is above the -60 dBFS absolute level: only the floor
     * tells it from speech */
    const double secs[] = {0.5, 0.4, 0.5, 0.4, 0.5};
    size_t n;
    float *x = make("ststs", secs, -40, &n);
    got g = run(x, n, 160, NULL);
    assert_int_equal(g.n, 2);
    assert_true(fabs(g.start[0] - 0.45) < 0.03 && fabs(g.end[1] - 1.85) < 0.03);
    /* with a pure absolute threshold above the noise, the same */
    segmenter_params p = segmenter_params_default();
    p.threshold_db = 0;
    p.min_level_dbfs = -30;
    g = run(x, n, 160, &p);
    assert_int_equal(g.n, 2);
    /* and below it, the noise is one long sound, cut at the maximum length */
    p.min_level_dbfs = -50;
    g = run(x, n, 160, &p);
    assert_true(g.n >= 1);
    assert_true(g.end[0] - g.start[0] > 1.9);
    free(x);
}

static void test_click_long_and_flush(void **state)
{
    (void)state;
    /* a 30 ms click, a 3 s tone (cut at 2 s), a tone running into the end */
    const double secs[] = {0.3, 0.03, 0.6, 3.0, 0.5, 0.3};
    size_t n;
    float *x = make("ststst", secs, NAN, &n);
    got g = run(x, n, 1000, NULL);
    assert_int_equal(g.n, 3);
    assert_true(fabs(g.start[0] - 0.88) < 0.011);
    assert_true(fabs(g.end[0] - g.start[0] - 2.0) < 0.011);
    assert_true(fabs(g.end[1] - 3.98) < 0.011);
    assert_true(fabs(g.start[2] - 4.38) < 0.011 && fabs(g.end[2] - 4.73) < 0.011);
    free(x);
}

/* Sound from the first sample: the warm-up judges it against the pause after it
 * (a floor of what came before would be the sound itself); also when the
 * stream ends within the warm-up, and through noise. */
static void test_sound_at_start(void **state)
{
    (void)state;
    const double secs[] = {0.4, 0.5, 0.4, 0.5};
    size_t n;
    float *x = make("tsts", secs, NAN, &n);
    got g = run(x, n, 160, NULL);
    assert_int_equal(g.n, 2);
    assert_true(g.start[0] == 0.0 && fabs(g.end[0] - 0.45) < 0.011);
    assert_true(fabs(g.start[1] - 0.85) < 0.011 && fabs(g.end[1] - 1.35) < 0.011);
    got h = run(x, (size_t)(0.6 * FS), 160, NULL); /* ends in the warm-up */
    assert_int_equal(h.n, 1);
    assert_true(h.start[0] == 0.0 && fabs(h.end[0] - 0.45) < 0.011);
    free(x);
    x = make("tsts", secs, -40, &n);
    g = run(x, n, 160, NULL);
    assert_int_equal(g.n, 2);
    assert_true(g.start[0] == 0.0 && fabs(g.end[1] - 1.35) < 0.03);
    free(x);
}

static void test_errors(void **state)
{
    (void)state;
    assert_null(segmenter_new(0, NULL));
    segmenter_params p = segmenter_params_default();
    p.min_silence_ms = 5; /* shorter than a window */
    assert_null(segmenter_new(FS, &p));
    assert_non_null(strstr(err_msg(), "segmenter"));
    /* a callback's failure fails the push */
    const double secs[] = {0.3, 0.4, 0.5};
    size_t n;
    float *x = make("sts", secs, NAN, &n);
    segmenter *s = segmenter_new(FS, NULL);
    got g = {.fail_at = 0};
    assert_int_equal(segmenter_push(s, x, n, collect, &g), -1);
    assert_string_equal(err_msg(), "stop here");
    segmenter_destroy(&s);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_bursts),
        cmocka_unit_test(test_noise_floor),
        cmocka_unit_test(test_click_long_and_flush),
        cmocka_unit_test(test_sound_at_start),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
