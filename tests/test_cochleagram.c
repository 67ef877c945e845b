/* test_cochleagram: per-utterance max normalisation to [0, 1] and the fixed
 * frame count (zero padding or cutting, or stretching), frames x channels. */
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

/* stretch: the loud span (some channel at a tenth of the maximum), resampled
 * linearly to the frame count; where it starts does not matter */
static void test_stretch(void **state)
{
    (void)state;
    /* 7 frames x 2 channels, maximum 3: frames 2..4 loud (frame 5's 0.05 is not) */
    const float x[14] = {0, 0, 0, 0, 1, 0, 3, 1, 2, 2, 0.05f, 0, 0, 0};
    float out[5 * 2];
    cochleagram_stretch(x, 7, 2, out, 5);
    const float want[10] = {1, 0, 2, 0.5f, 3, 1, 2.5f, 1.5f, 2, 2};
    assert_memory_equal(out, want, sizeof want);
    /* three more frames of silence first: the same image */
    float later[20] = {0};
    memcpy(later + 6, x, sizeof x);
    float out2[5 * 2];
    cochleagram_stretch(later, 10, 2, out2, 5);
    assert_memory_equal(out2, want, sizeof want);
    /* normalised by the maximum after the fit */
    assert_int_equal(cochleagram_make_as(x, 7, 2, out, 5, false, COCHLEAGRAM_STRETCH), 0);
    for (int i = 0; i < 10; i++)
        assert_float_equal(out[i], want[i] / 3.0f, 1e-6);
    /* one loud frame: padded as the paper's fit */
    const float one[6] = {0, 0, 4, 1, 0, 0};
    float pad[4 * 2], fit[4 * 2];
    cochleagram_stretch(one, 3, 2, pad, 4);
    cochleagram_fit(one, 3, 2, fit, 4);
    assert_memory_equal(pad, fit, sizeof fit);
    /* the padding make_as is make's */
    float a[5 * 2], b[5 * 2];
    assert_int_equal(cochleagram_make_as(x, 7, 2, a, 5, false, COCHLEAGRAM_PAD), 0);
    assert_int_equal(cochleagram_make(x, 7, 2, b, 5), 0);
    assert_memory_equal(a, b, sizeof b);
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
        cmocka_unit_test(test_stretch),
        cmocka_unit_test(test_per_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
