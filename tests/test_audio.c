/* test_audio: reading recordings through libsndfile (files we write to a
 * temporary directory), mixing to mono, rejecting bad audio with the file's
 * name, resampling, and streaming raw PCM chunk by chunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "audio/audio.h"
#include "core/err.h"

#include <math.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_audio.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static const char *path_of(const char *name)
{
    static char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Writes frames x channels interleaved floats as a WAV of the given subtype. */
static void write_wav(const char *path, const float *x, size_t frames, int channels,
                      int fs, int subtype)
{
    SF_INFO info = {.samplerate = fs, .channels = channels,
                    .format = SF_FORMAT_WAV | subtype};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    if (frames)
        assert_int_equal(sf_writef_float(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    sf_close(sf);
}

static float *tone(double f, double fs, size_t n, double amp)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amp * sin(2.0 * M_PI * f * (double)i / fs));
    return x;
}

/* Frequency from upward zero crossings over x[from .. to), each crossing
 * placed by linear interpolation between the samples around it. */
static double tone_freq(const float *x, size_t from, size_t to, double fs)
{
    double first = 0, last = 0;
    size_t count = 0;
    for (size_t i = from + 1; i < to; i++)
        if (x[i - 1] < 0 && x[i] >= 0) {
            double t = (double)(i - 1) + x[i - 1] / (x[i - 1] - x[i]);
            if (!count)
                first = t;
            last = t;
            count++;
        }
    assert_true(count > 2);
    return (double)(count - 1) * fs / (last - first);
}

static void test_wav_roundtrip(void **state)
{
    (void)state;
    size_t n = 8000;
    float *x = tone(440, 8000, n, 0.5);
    const char *p = path_of("tone.wav");
    write_wav(p, x, n, 1, 8000, SF_FORMAT_PCM_16);
    audio *a = audio_read(p, NULL);
    assert_non_null(a);
    assert_int_equal(a->n, n);
    assert_true(a->fs == 8000.0);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(a->samples[i], x[i], 1.0 / 32768 + 1e-7);
    assert_float_equal(tone_freq(a->samples, 0, n, a->fs), 440.0, 0.1);
    audio_destroy(&a);
    assert_null(a);
    audio_destroy(&a); /* safe on NULL */
    free(x);
}

/* A WAV cut short mid-data (a copy that stopped) is an error naming how much
 * of the header's length is there, unless allow_truncated (issue 15). */
static void test_truncated_wav(void **state)
{
    (void)state;
    size_t n = 8000;
    float *x = tone(440, 8000, n, 0.5);
    const char *p = path_of("cut.wav");
    write_wav(p, x, n, 1, 8000, SF_FORMAT_PCM_16);
    assert_int_equal(truncate(p, 44 + 6000), 0); /* 3,000 of the 8,000 frames */
    audio *a = audio_read(p, NULL);
    assert_null(a);
    assert_non_null(strstr(err_msg(), "cut.wav: truncated: the header says 16000 bytes of samples, the file "
                                      "holds 6000 (37.5%"));
    audio_opts o = {.allow_truncated = true};
    assert_non_null(a = audio_read(p, &o));
    assert_int_equal(a->n, 3000);
    audio_destroy(&a);
    free(x);
}

static void test_stereo_mixes_to_mono(void **state)
{
    (void)state;
    size_t n = 1000;
    float *x = malloc(2 * n * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        x[2 * i] = 0.5f * (float)sin(0.1 * (double)i);
        x[2 * i + 1] = -0.25f;
    }
    const char *p = path_of("stereo.wav");
    write_wav(p, x, n, 2, 16000, SF_FORMAT_FLOAT);
    audio *a = audio_read(p, NULL);
    assert_non_null(a);
    assert_int_equal(a->n, n);
    assert_true(a->fs == 16000.0);
    for (size_t i = 0; i < n; i++)
        assert_float_equal(a->samples[i], (x[2 * i] + x[2 * i + 1]) / 2, 1e-6);
    audio_destroy(&a);
    free(x);
}

static void expect_error(const char *p, const audio_opts *o, const char *words)
{
    err_clear();
    audio *a = audio_read(p, o);
    assert_null(a);
    assert_non_null(strstr(err_msg(), p)); /* names the file */
    if (words)
        assert_non_null(strstr(err_msg(), words));
}

static void test_bad_files_are_errors_naming_the_file(void **state)
{
    (void)state;
    /* NaN in a float WAV */
    float x[100] = {0};
    x[37] = NAN;
    write_wav(path_of("nan.wav"), x, 100, 1, 8000, SF_FORMAT_FLOAT);
    expect_error(path_of("nan.wav"), NULL, "sample 37 is NaN");
    x[37] = INFINITY;
    write_wav(path_of("inf.wav"), x, 100, 1, 8000, SF_FORMAT_FLOAT);
    expect_error(path_of("inf.wav"), NULL, "infinite");
    /* a valid header with no frames */
    write_wav(path_of("empty.wav"), x, 0, 1, 8000, SF_FORMAT_PCM_16);
    expect_error(path_of("empty.wav"), NULL, "no samples");
    /* a zero-length file */
    FILE *f = fopen(path_of("zero.wav"), "wb");
    fclose(f);
    expect_error(path_of("zero.wav"), NULL, NULL);
    /* garbage */
    f = fopen(path_of("garbage.wav"), "wb");
    for (int i = 0; i < 4000; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    expect_error(path_of("garbage.wav"), NULL, "cannot open");
    /* missing */
    expect_error(path_of("missing.wav"), NULL, "cannot open");
    /* too long for the limit */
    float *t = tone(100, 8000, 8000, 0.1);
    write_wav(path_of("long.wav"), t, 8000, 1, 8000, SF_FORMAT_PCM_16);
    audio_opts o = {.max_seconds = 0.5};
    expect_error(path_of("long.wav"), &o, "limit");
    o.max_seconds = 2.0;
    audio *a = audio_read(path_of("long.wav"), &o);
    assert_non_null(a);
    audio_destroy(&a);
    free(t);
}

static void test_resample_keeps_tone_frequency(void **state)
{
    (void)state;
    size_t n = 8000;
    float *x = tone(440, 8000, n, 0.5);
    write_wav(path_of("r.wav"), x, n, 1, 8000, SF_FORMAT_PCM_16);
    const enum audio_quality qs[] = {AUDIO_QUALITY_MEDIUM, AUDIO_QUALITY_BEST};
    for (int q = 0; q < 2; q++) {
        audio_opts o = {.target_fs = 12500, .quality = qs[q]};
        audio *a = audio_read(path_of("r.wav"), &o);
        assert_non_null(a);
        assert_true(a->fs == 12500.0);
        assert_true(labs((long)a->n - 12500) <= 2);
        /* away from the edges: frequency and amplitude preserved */
        assert_float_equal(tone_freq(a->samples, 1000, 11500, a->fs), 440.0, 0.2);
        double ss = 0;
        for (size_t i = 1000; i < 11500; i++)
            ss += a->samples[i] * a->samples[i];
        assert_float_equal(sqrt(ss / 10500), 0.5 / sqrt(2.0), 0.005);
        /* and back down */
        assert_int_equal(audio_resample(a, 8000, qs[q]), 0);
        assert_true(a->fs == 8000.0);
        assert_true(labs((long)a->n - 8000) <= 2);
        assert_float_equal(tone_freq(a->samples, 500, 7500, a->fs), 440.0, 0.2);
        audio_destroy(&a);
    }
    free(x);
}

static void test_read_from_memory(void **state)
{
    (void)state;
    size_t n = 3000;
    float *x = tone(300, 8000, n, 0.3);
    const char *p = path_of("mem.wav");
    write_wav(p, x, n, 1, 8000, SF_FORMAT_PCM_16);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    unsigned char buf[16384];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    audio *a = audio_read(p, NULL), *b = audio_read_memory(buf, len, "upload-1", NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->samples, b->samples, a->n * sizeof(float));
    audio_destroy(&a);
    audio_destroy(&b);
    /* garbage in memory names the buffer */
    memset(buf, 0x5a, 512);
    assert_null(audio_read_memory(buf, 512, "upload-2", NULL));
    assert_non_null(strstr(err_msg(), "upload-2"));
    /* from samples: checked like a file */
    x[5] = NAN;
    assert_null(audio_from_samples(x, n, 8000, "buf-3", NULL));
    assert_non_null(strstr(err_msg(), "buf-3"));
    x[5] = 0;
    audio_opts o = {.target_fs = 16000};
    a = audio_from_samples(x, n, 8000, "buf-4", &o);
    assert_non_null(a);
    assert_true(labs((long)a->n - 6000) <= 2);
    audio_destroy(&a);
    free(x);
}

static void test_stream_s16_chunks(void **state)
{
    (void)state;
    /* stereo s16: L = tone, R = its negative half -> mono = tone / 4 */
    size_t n = 8000;
    int16_t *pcm = malloc(2 * n * sizeof *pcm);
    for (size_t i = 0; i < n; i++) {
        int16_t v = (int16_t)lrint(16000.0 * sin(2.0 * M_PI * 500.0 * (double)i / 8000));
        pcm[2 * i] = v;
        pcm[2 * i + 1] = (int16_t)(-v / 2);
    }
    /* without resampling: plain conversion */
    audio_stream *s = audio_stream_new(8000, 2, AUDIO_S16, 0, AUDIO_QUALITY_MEDIUM, "mic");
    assert_non_null(s);
    assert_true(audio_stream_fs(s) == 8000.0);
    const float *out;
    size_t got;
    assert_int_equal(audio_stream_push(s, pcm, 100, 0, &out, &got), 0);
    assert_int_equal(got, 100);
    for (size_t i = 0; i < 100; i++)
        assert_float_equal(out[i], (pcm[2 * i] + pcm[2 * i + 1]) / 65536.0, 1e-7);
    audio_stream_destroy(&s);
    assert_null(s);

    /* with resampling: chunks give the samples of one push */
    audio_stream *one = audio_stream_new(8000, 2, AUDIO_S16, 12500, AUDIO_QUALITY_MEDIUM, "stream-A");
    audio_stream *many = audio_stream_new(8000, 2, AUDIO_S16, 12500, AUDIO_QUALITY_MEDIUM, "stream-B");
    assert_non_null(one);
    assert_non_null(many);
    assert_int_equal(audio_stream_push(one, pcm, n, 1, &out, &got), 0);
    float *ref = malloc(got * sizeof *ref);
    memcpy(ref, out, got * sizeof *ref);
    size_t n_ref = got;
    assert_true(labs((long)n_ref - 12500) <= 2);
    assert_float_equal(tone_freq(ref, 1000, 11500, 12500), 500.0, 0.2);
    float *cat = malloc((n_ref + 16) * sizeof *cat);
    size_t n_cat = 0;
    const size_t sizes[] = {1, 160, 0, 999, 37, 2048};
    for (size_t pos = 0, k = 0; pos < n; k++) {
        size_t len = sizes[k % 6];
        if (len > n - pos)
            len = n - pos;
        assert_int_equal(audio_stream_push(many, pcm + 2 * pos, len, 0, &out, &got), 0);
        assert_true(n_cat + got <= n_ref);
        memcpy(cat + n_cat, out, got * sizeof *cat);
        n_cat += got;
        pos += len;
    }
    assert_int_equal(audio_stream_push(many, NULL, 0, 1, &out, &got), 0);
    memcpy(cat + n_cat, out, got * sizeof *cat);
    n_cat += got;
    assert_int_equal(n_cat, n_ref);
    for (size_t i = 0; i < n_ref; i++)
        assert_float_equal(cat[i], ref[i], 1e-6);
    /* after the last chunk: error until reset */
    assert_int_equal(audio_stream_push(many, pcm, 10, 0, &out, &got), -1);
    assert_non_null(strstr(err_msg(), "stream-B: push after the last chunk"));
    assert_int_equal(audio_stream_reset(many), 0);
    assert_int_equal(audio_stream_push(many, pcm, n, 1, &out, &got), 0);
    assert_int_equal(got, n_ref);
    free(cat);
    free(ref);
    free(pcm);
    audio_stream_destroy(&one);
    audio_stream_destroy(&many);
}

static void test_stream_f32_nan_and_bad_args(void **state)
{
    (void)state;
    audio_stream *s = audio_stream_new(8000, 1, AUDIO_F32, 0, AUDIO_QUALITY_MEDIUM, "net-7");
    float x[50] = {0};
    const float *out;
    size_t got;
    assert_int_equal(audio_stream_push(s, x, 50, 0, &out, &got), 0);
    x[3] = NAN;
    assert_int_equal(audio_stream_push(s, x, 50, 0, &out, &got), -1);
    /* names the stream and the absolute position */
    assert_non_null(strstr(err_msg(), "net-7"));
    assert_non_null(strstr(err_msg(), "frame 53 is NaN"));
    audio_stream_destroy(&s);
    assert_null(audio_stream_new(0, 1, AUDIO_F32, 0, AUDIO_QUALITY_MEDIUM, "x"));
    assert_null(audio_stream_new(8000, 0, AUDIO_F32, 0, AUDIO_QUALITY_MEDIUM, "x"));
    assert_null(audio_stream_new(8000, 1, AUDIO_F32, -5, AUDIO_QUALITY_MEDIUM, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wav_roundtrip),
        cmocka_unit_test(test_stereo_mixes_to_mono),
        cmocka_unit_test(test_truncated_wav),
        cmocka_unit_test(test_bad_files_are_errors_naming_the_file),
        cmocka_unit_test(test_resample_keeps_tone_frequency),
        cmocka_unit_test(test_read_from_memory),
        cmocka_unit_test(test_stream_s16_chunks),
        cmocka_unit_test(test_stream_f32_nan_and_bad_args),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
