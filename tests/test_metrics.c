/* test_metrics: the paper's scores against values worked out by hand, the identity
 * MSE = 2 (N - 1) / N (1 - r) for z-scored maps, constant maps, and the streaming
 * accumulator agreeing with the one-shot functions whatever the batching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define assert_near(a, b, tol)                                                                 \
    do {                                                                                       \
        double a_ = (a), b_ = (b);                                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                                         \
            fail_msg("%s = %.12g, expected %.12g (tolerance %g)", #a, a_, b_, (double)(tol));  \
    } while (0)

static void test_zscore(void **state)
{
    (void)state;
    const float x[4] = {1, 2, 3, 4};
    float z[4];
    metrics_zscore(x, 4, z);
    /* mean 2.5, sample sd sqrt(5/3) */
    const double sd = sqrt(5.0 / 3.0);
    for (int i = 0; i < 4; i++)
        assert_near(z[i], (x[i] - 2.5) / sd, 1e-6);
    assert_near(z[0], -1.161895, 1e-6);
    double s = 0, ss = 0;
    for (int i = 0; i < 4; i++)
        s += z[i], ss += (double)z[i] * z[i];
    assert_near(s, 0.0, 1e-6);
    assert_near(ss / 3.0, 1.0, 1e-6); /* unit sample variance */

    /* in place */
    float y[4] = {1, 2, 3, 4};
    metrics_zscore(y, 4, y);
    assert_memory_equal(y, z, sizeof z);

    /* a constant map, even one whose mean rounds, becomes all zeros */
    float c[784];
    for (int i = 0; i < 784; i++)
        c[i] = 0.1f;
    float zc[784];
    memset(zc, 0xff, sizeof zc);
    metrics_zscore(c, 784, zc);
    for (int i = 0; i < 784; i++)
        assert_true(zc[i] == 0.0f);
    float one = 7, z1 = 1;
    metrics_zscore(&one, 1, &z1);
    assert_true(z1 == 0.0f);
}

static void test_hand_values(void **state)
{
    (void)state;
    /* image A: output twice the input, same z-scores; image B worked by hand:
     * in (1,0,0) -> z (2,-1,-1)/sqrt(3), out (0,0,1) -> z (-1,-1,2)/sqrt(3);
     * squared differences 3, 0, 3: mean 2; r = -1/2. */
    const float in[6] = {0, 1, 2, 1, 0, 0};
    const float out[6] = {0, 2, 4, 0, 0, 1};
    assert_near(metrics_zmse(in, out, 3), 0.0, 1e-12);
    assert_near(metrics_pearson(in, out, 3), 1.0, 1e-12);
    assert_near(metrics_zmse(in + 3, out + 3, 3), 2.0, 1e-12);
    assert_near(metrics_pearson(in + 3, out + 3, 3), -0.5, 1e-12);
    assert_near(metrics_spike_mse(in, out, 2, 3), 1.0, 1e-12);
    assert_near(metrics_mse(in, out, 2, 3), 1.0, 1e-12);
    assert_near(metrics_pearson_mean(in, out, 2, 3), 0.25, 1e-12);

    /* a blank output: z = 0, so the MSE is mean(z_in^2) = (N - 1) / N and r = 0 */
    const float img[3] = {0.2f, 0.5f, 0.9f}, blank[3] = {0, 0, 0};
    assert_near(metrics_mse(img, blank, 1, 3), 2.0 / 3.0, 1e-12);
    assert_near(metrics_pearson(img, blank, 3), 0.0, 0);
    assert_near(metrics_pearson(blank, img, 3), 0.0, 0);
    assert_near(metrics_zmse(blank, blank, 3), 0.0, 0);

    /* pixel MSE: counts / steps against the image */
    const float im2[4] = {0.5f, 1.0f, 0.0f, 0.25f}, c2[4] = {5, 5, 0, 10};
    /* (0.5-0.5)^2, (0.5-1)^2, 0, (1-0.25)^2 -> (0 + 0.25 + 0 + 0.5625) / 4, per image of 2 */
    assert_near(metrics_pixel_mse(im2, c2, 2, 2, 10), (0.125 + 0.28125) / 2, 1e-12);
    assert_near(metrics_pixel_mse(im2, c2, 1, 4, 10), 0.203125, 1e-12);

    const float counts[4] = {1, 2, 3, 4};
    assert_near(metrics_firing_rate(counts, 2, 2, 5), 0.5, 1e-15);
    assert_true(isnan(metrics_mse(in, out, 0, 3)));
    assert_true(isnan(metrics_firing_rate(counts, 2, 2, 0)));
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) * (1.0 / 16777216.0));
}

static void test_identity(void **state)
{
    (void)state;
    /* for non-constant maps: MSE of z-scores = 2 (N - 1) / N (1 - r) */
    enum { N = 784 };
    static float a[N], b[N];
    unsigned s = 12345;
    for (int trial = 0; trial < 50; trial++) {
        double mix = trial / 49.0; /* from unrelated to nearly identical maps */
        for (int i = 0; i < N; i++) {
            a[i] = frand(&s);
            b[i] = (float)(mix * a[i] + (1 - mix) * frand(&s)) * 15.0f;
        }
        double mse = metrics_zmse(a, b, N), r = metrics_pearson(a, b, N);
        assert_near(mse, 2.0 * (N - 1) / N * (1.0 - r), 1e-9);
        assert_true(r >= -1.0 && r <= 1.0);
    }
    /* anti-correlated extreme: b = -a gives r = -1 and MSE = 4 (N - 1) / N */
    for (int i = 0; i < N; i++)
        b[i] = -a[i];
    assert_near(metrics_pearson(a, b, N), -1.0, 1e-12);
    assert_near(metrics_zmse(a, b, N), 4.0 * (N - 1) / N, 1e-9);
}

static void test_accumulator(void **state)
{
    (void)state;
    enum { NI = 7, NP = 50, T = 15 };
    static float img[NI * NP], in[NI * NP], out[NI * NP];
    unsigned s = 99;
    for (int i = 0; i < NI * NP; i++) {
        img[i] = frand(&s);
        in[i] = (float)(int)(img[i] * 0.3f * T + frand(&s)); /* integer counts */
        out[i] = (float)(int)(frand(&s) * 4);
    }
    for (int k = 0; k < NP; k++)
        out[3 * NP + k] = 2; /* one constant output map */

    metrics_acc acc;
    metrics_acc_init(&acc);
    metrics_result e = metrics_acc_result(&acc);
    assert_int_equal(e.n_samples, 0);
    assert_true(isnan(e.mse) && isnan(e.spike_mse) && isnan(e.in_rate));

    /* batches of 3, 1 and 3 images */
    assert_int_equal(metrics_acc_add(&acc, img, in, out, 3, NP, T), 0);
    assert_int_equal(metrics_acc_add(&acc, img + 3 * NP, in + 3 * NP, out + 3 * NP, 1, NP, T), 0);
    assert_int_equal(metrics_acc_add(&acc, img + 4 * NP, in + 4 * NP, out + 4 * NP, 3, NP, T), 0);
    metrics_result r = metrics_acc_result(&acc);
    assert_int_equal(r.n_samples, NI);
    assert_near(r.mse, metrics_mse(img, out, NI, NP), 1e-12);
    assert_near(r.spike_mse, metrics_spike_mse(in, out, NI, NP), 1e-12);
    assert_near(r.pearson_r, metrics_pearson_mean(img, out, NI, NP), 1e-12);
    assert_near(r.pixel_mse, metrics_pixel_mse(img, out, NI, NP, T), 1e-12);
    assert_near(r.in_rate, metrics_firing_rate(in, NI, NP, T), 1e-12);
    assert_near(r.out_rate, metrics_firing_rate(out, NI, NP, T), 1e-12);
    /* the constant map contributes (N - 1) / N to the MSE and 0 to r */
    assert_near(metrics_zmse(img + 3 * NP, out + 3 * NP, NP), (NP - 1.0) / NP, 1e-12);
    assert_true(r.mse > 0.5 && r.mse < 2.5);

    /* refusals leave the accumulator as it was */
    assert_int_equal(metrics_acc_add(&acc, img, in, out, 1, NP - 1, T), -1);
    assert_non_null(strstr(err_msg(), "49 pixels per image after batches of 50"));
    assert_int_equal(metrics_acc_add(&acc, img, in, out, 1, NP, 0), -1);
    assert_int_equal(metrics_acc_result(&acc).n_samples, NI);

    /* no input spikes (an ANN): Spike-MSE and input rate stay undefined */
    metrics_acc ann;
    metrics_acc_init(&ann);
    assert_int_equal(metrics_acc_add(&ann, img, NULL, img, NI, NP, 1), 0);
    r = metrics_acc_result(&ann);
    assert_near(r.mse, 0.0, 1e-12);
    assert_near(r.pearson_r, 1.0, 1e-12);
    assert_near(r.pixel_mse, 0.0, 0);
    assert_true(isnan(r.spike_mse) && isnan(r.in_rate));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zscore),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_accumulator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
