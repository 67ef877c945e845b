/* test_pcm_reader: raw PCM and WAV streams through a pipe: partial frames are
 * held back, a RIFF header is detected and parsed (chunks skipped, stated data
 * size honoured, streaming sizes read to the end), 8/24-bit and float samples
 * converted; concatenated WAVs (cat a.wav b.wav) read one after the other,
 * each in its own format, bytes after the last counted; malformed or empty
 * streams, a data size too small, and an Ogg or FLAC stream, fail with the
 * stream's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/err.h"
#include "audio/pcm_reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const pcm_format raw_s16 = {AUDIO_S16, 16000, 1};

static void put(int fd, const void *p, size_t n) { assert_int_equal(write(fd, p, n), (ssize_t)n); }

/* A WAV header: fmt (tag, channels, rate, bits), an extra LIST chunk, data of size. */
static size_t wav_header(uint8_t *h, unsigned tag, unsigned ch, uint32_t rate, unsigned bits,
                         uint32_t data_size)
{
    size_t n = 0;
#define U32(v) do { uint32_t x_ = (v); memcpy(h + n, &x_, 4); n += 4; } while (0)
#define U16(v) do { uint16_t x_ = (uint16_t)(v); memcpy(h + n, &x_, 2); n += 2; } while (0)
    memcpy(h, "RIFF", 4), n = 4;
    U32(0xFFFFFFFFu);
    memcpy(h + n, "WAVEfmt ", 8), n += 8;
    U32(16);
    U16(tag);
    U16(ch);
    U32(rate);
    U32(rate * ch * bits / 8);
    U16(ch * bits / 8);
    U16(bits);
    memcpy(h + n, "LIST", 4), n += 4;
    U32(3); /* odd: padded to 4 */
    memcpy(h + n, "abc\0", 4), n += 4;
    memcpy(h + n, "data", 4), n += 4;
    U32(data_size);
#undef U32
#undef U16
    return n;
}

static void test_raw_partial_frames(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pcm_reader *r = pcm_reader_new(p[0], &(pcm_format){AUDIO_S16, 8000, 2}, "pipe");
    const void *d;
    size_t n;
    assert_int_equal(pcm_reader_start(r, 0), 0); /* nothing yet */
    int16_t s[6] = {1, 2, 3, 4, 5, 6};
    put(p[1], s, 5); /* one frame and one byte */
    assert_int_equal(pcm_reader_start(r, 100), 1);
    assert_false(pcm_reader_is_wav(r));
    assert_true(pcm_reader_format(r)->fs == 8000 && pcm_reader_format(r)->channels == 2);
    assert_int_equal(pcm_reader_read(r, 100, &d, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(((const int16_t *)d)[1], 2);
    put(p[1], (uint8_t *)s + 5, 7); /* completes frames 2 and 3 */
    assert_int_equal(pcm_reader_read(r, 100, &d, &n), 1);
    if (n == 0) /* the byte held back is handed out only with the rest */
        assert_int_equal(pcm_reader_read(r, 100, &d, &n), 1);
    assert_int_equal(n, 2);
    assert_int_equal(((const int16_t *)d)[0], 3);
    assert_int_equal(((const int16_t *)d)[3], 6);
    assert_int_equal(pcm_reader_read(r, 0, &d, &n), 1); /* quiet: no frames, no end */
    assert_int_equal(n, 0);
    close(p[1]);
    assert_int_equal(pcm_reader_read(r, 100, &d, &n), 0);
    pcm_reader_destroy(&r);
    assert_null(r);
    close(p[0]);
}

static void test_wav_s16_stated_size(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    uint8_t h[64];
    size_t hn = wav_header(h, 1, 1, 11025, 16, 8); /* 4 samples, then trailing junk */
    put(p[1], h, hn);
    int16_t s[6] = {100, -100, 200, -200, 7, 7};
    put(p[1], s, sizeof s);
    close(p[1]);
    pcm_reader *r = pcm_reader_new(p[0], &raw_s16, "wav");
    assert_int_equal(pcm_reader_start(r, 100), 1);
    assert_true(pcm_reader_is_wav(r));
    assert_true(pcm_reader_format(r)->fs == 11025 && pcm_reader_format(r)->format == AUDIO_S16);
    const void *d;
    size_t n, total = 0;
    int rc;
    while ((rc = pcm_reader_read(r, 100, &d, &n)) == 1)
        total += n;
    assert_int_equal(rc, 0);
    assert_int_equal(total, 4);
    pcm_reader_destroy(&r);
    close(p[0]);
}

static void test_wav_conversions(void **state)
{
    (void)state;
    struct {
        unsigned tag, bits;
        uint8_t bytes[8];
        float want[2];
    } cases[] = {
        {1, 8, {192, 64}, {0.5f, -0.5f}},
        {1, 24, {0, 0, 0x40, 0, 0, 0xC0}, {0.5f, -0.5f}},
        {1, 32, {0, 0, 0, 0x40, 0, 0, 0, 0xC0}, {0.5f, -0.5f}},
        {3, 32, {0, 0, 0, 0x3F, 0, 0, 0, 0xBF}, {0.5f, -0.5f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        uint8_t h[64];
        size_t hn = wav_header(h, cases[c].tag, 1, 8000, cases[c].bits, 0xFFFFFFFFu);
        put(p[1], h, hn);
        put(p[1], cases[c].bytes, 2 * cases[c].bits / 8);
        close(p[1]);
        pcm_reader *r = pcm_reader_new(p[0], &raw_s16, "wav");
        assert_int_equal(pcm_reader_start(r, 100), 1);
        assert_int_equal(pcm_reader_format(r)->format, AUDIO_F32);
        const void *d;
        size_t n;
        assert_int_equal(pcm_reader_read(r, 100, &d, &n), 1);
        assert_int_equal(n, 2);
        for (int i = 0; i < 2; i++)
            assert_float_equal(((const float *)d)[i], cases[c].want[i], 1e-6);
        assert_int_equal(pcm_reader_read(r, 100, &d, &n), 0);
        pcm_reader_destroy(&r);
        close(p[0]);
    }
}

/* Reads to the end: frames per recording into n[] (at most 4); returns the recordings. */
static int read_recordings(pcm_reader *r, size_t *n, pcm_format *fmt)
{
    int k = 0;
    const void *d;
    size_t got;
    int rc;
    n[0] = 0;
    fmt[0] = *pcm_reader_format(r);
    while ((rc = pcm_reader_read(r, 100, &d, &got)) >= 1) {
        if (rc == 2) {
            assert_true(k < 3);
            n[++k] = 0;
            fmt[k] = *pcm_reader_format(r);
        }
        n[k] += got;
    }
    assert_int_equal(rc, 0);
    return k + 1;
}

static void test_wav_concatenated(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    uint8_t h[64];
    /* 3 unsigned 8-bit samples (odd: a pad byte), a LIST chunk after the data ... */
    put(p[1], h, wav_header(h, 1, 1, 8000, 8, 3));
    put(p[1], "\x80\x90\xa0\0LIST\2\0\0\0ab", 14);
    /* ... then a stereo s16 recording at 16 kHz, 2 frames, and 3 bytes of nothing */
    put(p[1], h, wav_header(h, 1, 2, 16000, 16, 8));
    int16_t s[4] = {1, 2, 3, 4};
    put(p[1], s, sizeof s);
    put(p[1], "xyz", 3);
    close(p[1]);
    pcm_reader *r = pcm_reader_new(p[0], &raw_s16, "cat");
    assert_int_equal(pcm_reader_start(r, 100), 1);
    size_t n[4];
    pcm_format f[4];
    assert_int_equal(read_recordings(r, n, f), 2);
    assert_int_equal(n[0], 3);
    assert_true(f[0].fs == 8000 && f[0].channels == 1 && f[0].format == AUDIO_F32);
    assert_int_equal(n[1], 2);
    assert_true(f[1].fs == 16000 && f[1].channels == 2 && f[1].format == AUDIO_S16);
    assert_int_equal(pcm_reader_recordings(r), 2);
    assert_int_equal(pcm_reader_trailing(r), 3);
    pcm_reader_destroy(&r);
    close(p[0]);

    /* a data size too small: the samples after it are no chunk, an error */
    assert_int_equal(pipe(p), 0);
    put(p[1], h, wav_header(h, 1, 1, 8000, 16, 2));
    int16_t more[8] = {1000, -1000, 1000, -1000, 1000, -1000, 1000, -1000};
    put(p[1], more, sizeof more);
    close(p[1]);
    r = pcm_reader_new(p[0], &raw_s16, "short-size");
    assert_int_equal(pcm_reader_start(r, 100), 1);
    const void *d;
    size_t got;
    int rc;
    while ((rc = pcm_reader_read(r, 100, &d, &got)) == 1)
        ;
    assert_int_equal(rc, -1);
    if (!strstr(err_msg(), "short-size") || !strstr(err_msg(), "data size"))
        fail_msg("%s", err_msg());
    pcm_reader_destroy(&r);
    close(p[0]);
}

static void expect_error(const void *bytes, size_t len, const char *what)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    if (len)
        put(p[1], bytes, len);
    close(p[1]);
    pcm_reader *r = pcm_reader_new(p[0], &raw_s16, "my-stream");
    int rc;
    while ((rc = pcm_reader_start(r, 100)) == 0)
        ;
    assert_int_equal(rc, -1);
    if (!strstr(err_msg(), what) || !strstr(err_msg(), "my-stream"))
        fail_msg("'%s' lacks '%s' or the name", err_msg(), what);
    pcm_reader_destroy(&r);
    close(p[0]);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t h[64];
    expect_error(NULL, 0, "empty");
    expect_error("RIFF\0\0\0\0AVI LIST", 16, "not WAVE");
    expect_error("OggS\0\2\0\0\0\0\0\0\0\0", 14, "an Ogg (Vorbis, Opus) stream");
    expect_error("fLaC\0\0\0\42", 8, "a FLAC stream");
    size_t hn = wav_header(h, 1, 1, 8000, 16, 0);
    expect_error(h, hn - 10, "ends inside its header");
    hn = wav_header(h, 2, 1, 8000, 4, 0); /* ADPCM */
    expect_error(h, hn, "not supported");
    hn = wav_header(h, 1, 0, 8000, 16, 0);
    expect_error(h, hn, "channels");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_partial_frames),
        cmocka_unit_test(test_wav_s16_stated_size),
        cmocka_unit_test(test_wav_conversions),
        cmocka_unit_test(test_wav_concatenated),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
