/* test_cochleagram: per-utterance max normalisation to [0, 1] and the fixed
 * frame count (zero padding or cutting), frames x channels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "audio/cochleagram.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_normalise(void **state)
{
    (void)state;
    float x[6] = {0.0f, 0.5f, 2.0f, 1.0f, 0.25f, 4.0f};
    assert_float_equal(cochleagram_normalise(x, 3, 2), 4.0, 0);
    const float want[6] = {0.0f, 0.125f, 0.5f, 0.25f, 0.0625f, 1.0f};
    assert_memory_equal(x, want, sizeof want);
    float z[4] = {0};
    assert_float_equal(cochleagram_normalise(z, 2, 2), 0.0, 0);
    for (int i = 0; i < 4; i++)
        assert_true(z[i] == 0.0f);
    float bad[2] = {0.5f, -0.1f};
    assert_true(cochleagram_normalise(bad, 1, 2) < 0);
    assert_non_null(strstr(err_msg(), "index 1"));
    bad[1] = NAN;
    assert_int_equal(cochleagram_make(bad, 1, 2, z, 2), -1);
}

static void test_pad_and_cut(void **state)
{
    (void)state;
    float x[3 * 2] = {1, 2, 3, 4, 5, 8};
    float out[5 * 2];
    memset(out, 0x7f, sizeof out);
    /* pad: 3 frames into 5 */
    assert_int_equal(cochleagram_make(x, 3, 2, out, 5), 0);
    const float padded[10] = {0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 1.0f, 0, 0, 0, 0};
    assert_memory_equal(out, padded, sizeof padded);
    /* cut: 3 frames into 2, normalised by the whole utterance's maximum (8) */
    assert_int_equal(cochleagram_make(x, 3, 2, out, 2), 0);
    const float cut[4] = {0.125f, 0.25f, 0.375f, 0.5f};
    assert_memory_equal(out, cut, sizeof cut);
    /* x is untouched */
    assert_true(x[5] == 8.0f);
    /* fit alone copies without scaling */
    cochleagram_fit(x, 3, 2, out, 4);
    const float fit[8] = {1, 2, 3, 4, 5, 8, 0, 0};
    assert_memory_equal(out, fit, sizeof fit);
    /* the paper's size */
    size_t nf = COCHLEAGRAM_PAPER_FRAMES;
    float *big = malloc(nf * 39 * sizeof *big);
    float one[39];
    for (int k = 0; k < 39; k++)
        one[k] = (float)k;
    assert_int_equal(cochleagram_make(one, 1, 39, big, nf), 0);
    assert_true(big[38] == 1.0f && big[39] == 0.0f && big[nf * 39 - 1] == 0.0f);
    free(big);
}

/* each channel by its own maximum; one under the floor (a tenth of the image's) by the floor */
static void test_per_channel(void **state)
{
    (void)state;
    /* 3 frames x 3 channels: channel maxima 8, 2, 0.4 of an image maximum of 8 */
    const float x[9] = {8, 1, 0.4f, 4, 2, 0.2f, 0, 0.5f, 0};
    float out[4 * 3];
    memset(out, 0x7f, sizeof out);
    assert_int_equal(cochleagram_make_per_channel(x, 3, 3, out, 4), 0);
    const float want[12] = {1, 0.5f, 0.5f, 0.5f, 1, 0.25f, 0, 0.25f, 0, 0, 0, 0};
    for (int i = 0; i < 12; i++)
        assert_float_equal(out[i], want[i], 1e-6);
    float z[4] = {0}, o2[4];
    assert_int_equal(cochleagram_make_per_channel(z, 2, 2, o2, 2), 0);
    for (int i = 0; i < 4; i++)
        assert_true(o2[i] == 0.0f);
    const float bad[2] = {0.5f, NAN};
    assert_int_equal(cochleagram_make_per_channel(bad, 1, 2, o2, 2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_pad_and_cut),
        cmocka_unit_test(test_per_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
