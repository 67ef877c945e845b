/* test_spectrogram: bin/spectrogram end to end (run from the repo root, after
 * make), with bin/frame-dump as the sink, on WAVs written to a temp dir:
 * frames of the right count, shape, ids and range; the manifest and PNGs; the
 * FSDD split; bad files (NaN, empty, zero bytes, not audio) failing with their
 * name, or skipped with --skip-bad; a stream on stdin (raw PCM and WAV) cut
 * into exactly its two tone bursts, raw PCM without --pcm-rate warned of;
 * two WAVs one after the other on stdin (cat a.wav b.wav, in two formats)
 * giving an utterance each, though no silence parts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "data/manifest.h"
#include "process.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

/* dir/name, in one of tmpdir_at's rotating buffers (a test's arguments use several) */
static const char *at(const char *name) { return tmpdir_at(dir, name); }

/* ---- fixtures ------------------------------------------------------------------ */

static void write_wav(const char *path, const float *x, size_t frames, int channels, int fs,
                      int subtype)
{
    SF_INFO info = {.samplerate = fs, .channels = channels, .format = SF_FORMAT_WAV | subtype};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    if (frames)
        assert_int_equal(sf_writef_float(sf, x, (sf_count_t)frames), (sf_count_t)frames);
    sf_close(sf);
}

/* seconds of a tone (f Hz; 0: silence) at fs, amplitude 0.3, into x from *pos */
static void tone(float *x, size_t *pos, double seconds, double f, int fs, int channels)
{
    size_t n = (size_t)(seconds * fs);
    for (size_t i = 0; i < n; i++, (*pos)++)
        for (int c = 0; c < channels; c++)
            x[*pos * (size_t)channels + (size_t)c] =
                f > 0 ? (float)(0.3 * sin(2 * M_PI * f * (double)i / fs)) : 0.0f;
}

static void make_tone_file(const char *path, double seconds, double f, int channels)
{
    float x[2 * 8000];
    size_t pos = 0;
    tone(x, &pos, seconds, f, 8000, channels);
    write_wav(path, x, pos, channels, 8000, SF_FORMAT_PCM_16);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_spectrogram.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    mkdir(at("good"), 0777);
    mkdir(at("bad"), 0777);
    /* good/: three FSDD names (one stereo) and one other name; at 8 kHz and
     * decimation 10, 0.25 s is 200 frames */
    make_tone_file(at("good/3_alice_0.wav"), 0.25, 440, 1);
    make_tone_file(at("good/3_alice_7.wav"), 0.3, 660, 1);
    make_tone_file(at("good/5_bob_12.wav"), 0.2, 550, 2);
    float x[8000] = {0};
    size_t pos = 0;
    tone(x, &pos, 0.1, 300, 8000, 1);
    tone(x, &pos, 0.1, 0, 8000, 1);
    write_wav(at("good/hello.wav"), x, pos, 1, 8000, SF_FORMAT_PCM_16);
    /* bad/: two good ones among four bad ones */
    make_tone_file(at("bad/1_carl_0.wav"), 0.2, 440, 1);
    make_tone_file(at("bad/9_carl_9.wav"), 0.2, 880, 1);
    x[37] = NAN;
    write_wav(at("bad/2_nan_1.wav"), x, 200, 1, 8000, SF_FORMAT_FLOAT);
    write_wav(at("bad/4_empty_1.wav"), x, 0, 1, 8000, SF_FORMAT_PCM_16);
    FILE *f = fopen(at("bad/6_zero_1.wav"), "w");
    fclose(f);
    f = fopen(at("bad/8_text_1.wav"), "w");
    fputs("this is not a recording\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* ---- processes (tests/process.h has no stdin or stdout redirection) ------------- */

/* Starts argv with stdin from in_fd (-1: /dev/null) and stdout/stderr to files. */
static pid_t spawn(char *const argv[], int in_fd, const char *out, const char *err)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int n = open("/dev/null", O_RDWR);
        int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) : n;
        int e = err ? open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644) : n;
        dup2(in_fd >= 0 ? in_fd : n, STDIN_FILENO);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execv(argv[0], argv);
        _exit(126);
    }
    return pid;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

typedef struct {
    int source, sink; /* exit statuses (sink -1: none) */
    char *out, *err;  /* the sink's JSON lines, the source's stderr */
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

/* Runs bin/spectrogram with args (NULL-terminated); with_sink: linked to a
 * frame-dump printing JSON with data. in_fd: the source's stdin. */
static result run(bool with_sink, int in_fd, const char *args[])
{
    static int k;
    char ep[160], out_arg[200];
    snprintf(ep, sizeof ep, "ipc://%s/sock%d", dir, ++k);
    snprintf(out_arg, sizeof out_arg, "values=%s", ep);
    char *sink_argv[] = {"bin/frame-dump", "--in", ep, "--format=json", "--data",
                         "--connect-timeout=10", "--log-level=warn", NULL};
    char in_arg[200];
    snprintf(in_arg, sizeof in_arg, "in=%s", ep);
    sink_argv[2] = in_arg;
    const char *argv[40] = {"bin/spectrogram"};
    int n = 1;
    if (with_sink) {
        argv[n++] = "--out";
        argv[n++] = out_arg;
    }
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    result r = {0, -1, NULL, NULL};
    pid_t sink = with_sink ? spawn(sink_argv, -1, at("sink.out"), at("sink.err")) : 0;
    pid_t src = spawn((char *const *)argv, in_fd, NULL, at("src.err"));
    if (in_fd >= 0)
        close(in_fd);
    r.source = proc_finish(src, 20, NULL);
    if (with_sink) {
        if (r.source != 0)
            kill(sink, SIGTERM); /* it may still wait for its peer */
        r.sink = proc_finish(sink, 20, NULL);
    }
    r.out = slurp(at("sink.out"));
    r.err = slurp(at("src.err"));
    unlink(at("sink.out"));
    return r;
}

/* ---- parsing frame-dump's JSON lines ------------------------------------------- */

static long field(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    assert_non_null(p);
    return strtol(p + strlen(k), NULL, 10);
}

/* The ids of a line into ids[]; returns their count. */
static int ids_of(const char *line, long *ids)
{
    const char *p = strstr(line, "\"ids\":[");
    assert_non_null(p);
    p += 7;
    int n = 0;
    while (*p != ']') {
        char *e;
        ids[n++] = strtol(p, &e, 10);
        p = *e == ',' ? e + 1 : e;
    }
    return n;
}

/* Checks a line's value rows: all in [0, 1], each row's maximum 1 (normalised,
 * nothing cut), and zero from frame zero_from[row] on (the padding). */
static void check_values(const char *line, int width, int channels, const int *zero_from)
{
    const char *p = strstr(line, "\"values\":[");
    assert_non_null(p);
    p += 10;
    for (int row = 0; *p == '['; row++) {
        p++;
        double max = 0;
        for (int j = 0; j < width; j++) {
            char *e;
            double v = strtod(p, &e);
            assert_true(e != p);
            if (!(v >= 0 && v <= 1))
                fail_msg("row %d value %d is %g", row, j, v);
            if (zero_from && j >= zero_from[row] * channels && v != 0)
                fail_msg("row %d: padding value %d is %g", row, j, v);
            max = v > max ? v : max;
            p = e + (*e == ',');
        }
        assert_true(max == 1.0);
        assert_true(*p == ']');
        p += 1 + (p[1] == ',');
    }
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_files_to_frames(void **state)
{
    (void)state;
    /* native 8 kHz: 32 channels; 300 frames hold every file whole */
    const char *args[] = {"--input", at("good"), "--rate=0", "--frames=300", "--batch=3",
                          "--manifest", at("m.csv"), "--png", at("png"), NULL};
    result r = run(true, -1, args);
    if (r.source != 0 || r.sink != 0)
        fail_msg("exit %d/%d: %s", r.source, r.sink, r.err);
    assert_int_equal(count_lines(r.out), 2);
    char *second = strchr(r.out, '\n') + 1;
    long ids[8];
    assert_int_equal(field(r.out, "batch"), 3);
    assert_int_equal(field(r.out, "width"), 300 * 32);
    assert_int_equal(field(r.out, "steps"), 1);
    assert_int_equal(field(r.out, "batch_index"), 0);
    assert_int_equal(ids_of(r.out, ids), 3);
    assert_true(ids[0] == 0 && ids[1] == 1 && ids[2] == 2);
    assert_int_equal(field(second, "batch"), 1);
    assert_int_equal(field(second, "batch_index"), 1);
    assert_int_equal(ids_of(second, ids), 1);
    assert_int_equal(ids[0], 3);
    /* sorted: 3_alice_0 (0.25 s), 3_alice_7 (0.3 s), 5_bob_12 (0.2 s), hello (0.2 s) */
    const int len1[] = {200, 240, 160}, len2[] = {160};
    check_values(r.out, 300 * 32, 32, len1);
    check_values(second, 300 * 32, 32, len2);
    assert_non_null(strstr(r.err, "4 utterances in 2 frames"));

    manifest *m = manifest_load(at("m.csv"));
    assert_non_null(m);
    assert_int_equal(m->n, 4);
    const char *names[] = {"3_alice_0.wav", "3_alice_7.wav", "5_bob_12.wav", "hello.wav"};
    const int labels[] = {3, 3, 5, -1};
    for (uint32_t i = 0; i < 4; i++) {
        const manifest_entry *e = manifest_find(m, i);
        assert_non_null(e);
        assert_non_null(strstr(e->path, names[i]));
        assert_int_equal(e->label, labels[i]);
        char stem[64], png[128];
        manifest_stem(e->path, stem, sizeof stem);
        snprintf(png, sizeof png, "png/%s.png", stem);
        struct stat st;
        if (stat(at(png), &st) != 0 || st.st_size < 100)
            fail_msg("no PNG %s", at(png));
    }
    manifest_destroy(&m);

    /* two threads: the same frames */
    const char *args2[] = {"--input", at("good"), "--rate=0", "--frames=300", "--batch=3",
                           "--threads=2", NULL};
    result r2 = run(true, -1, args2);
    if (r2.source != 0 || r2.sink != 0)
        fail_msg("exit %d/%d: %s", r2.source, r2.sink, r2.err);
    /* the link names differ only in the socket number */
    assert_string_equal(strstr(r.out, "\"kind\""), strstr(r2.out, "\"kind\""));
    result_free(&r2);
    result_free(&r);
}

static void test_split_limit_mel(void **state)
{
    (void)state;
    /* no link: the stage only writes the manifest; the mel front end */
    const char *args[] = {"--input", at("good/3_alice_0.wav"), "--input", at("good/3_alice_7.wav"),
                          "--input", at("good/5_bob_12.wav"), "--split=train", "--limit=1",
                          "--front-end=mel", "--manifest", at("split.csv"), NULL};
    result r = run(false, -1, args);
    if (r.source != 0)
        fail_msg("exit %d: %s", r.source, r.err);
    manifest *m = manifest_load(at("split.csv"));
    assert_non_null(m);
    assert_int_equal(m->n, 1);
    assert_non_null(strstr(m->entries[0].path, "3_alice_7.wav"));
    manifest_destroy(&m);
    result_free(&r);

    /* a split needs FSDD names */
    const char *bad[] = {"--input", at("good"), "--split=test", "--manifest", at("x.csv"), NULL};
    r = run(false, -1, bad);
    assert_int_not_equal(r.source, 0);
    assert_non_null(strstr(r.err, "hello.wav"));
    result_free(&r);
    /* nothing to do */
    const char *idle[] = {"--input", at("good"), NULL};
    r = run(false, -1, idle);
    assert_int_not_equal(r.source, 0);
    assert_non_null(strstr(r.err, "nothing to do"));
    result_free(&r);
}

static void test_bad_files_fail(void **state)
{
    (void)state;
    const char *bad[] = {"bad/2_nan_1.wav", "bad/4_empty_1.wav", "bad/6_zero_1.wav",
                         "bad/8_text_1.wav"};
    for (int i = 0; i < 4; i++) {
        const char *args[] = {"--input", at(bad[i]), "--manifest", at("bad.csv"), NULL};
        result r = run(false, -1, args);
        assert_int_not_equal(r.source, 0);
        if (!strstr(r.err, bad[i]))
            fail_msg("the error does not name %s: %s", bad[i], r.err);
        result_free(&r);
    }
    /* too long */
    const char *longer[] = {"--input", at("good/hello.wav"), "--max-seconds=0.1", "--manifest",
                            at("bad.csv"), NULL};
    result r = run(false, -1, longer);
    assert_int_not_equal(r.source, 0);
    assert_non_null(strstr(r.err, "hello.wav"));
    assert_non_null(strstr(r.err, "limit"));
    result_free(&r);
    /* a directory stops at its first bad file, linked to a sink */
    const char *args[] = {"--input", at("bad"), "--rate=0", "--frames=200", NULL};
    r = run(true, -1, args);
    assert_int_not_equal(r.source, 0);
    assert_non_null(strstr(r.err, "2_nan_1.wav"));
    assert_non_null(strstr(r.err, "NaN"));
    result_free(&r);
}

static void test_skip_bad(void **state)
{
    (void)state;
    const char *args[] = {"--input", at("bad"), "--rate=0", "--frames=200", "--skip-bad", NULL};
    result r = run(true, -1, args);
    if (r.source != 0 || r.sink != 0)
        fail_msg("exit %d/%d: %s", r.source, r.sink, r.err);
    const char *bad[] = {"2_nan_1.wav", "4_empty_1.wav", "6_zero_1.wav", "8_text_1.wav"};
    for (int i = 0; i < 4; i++)
        if (!strstr(r.err, bad[i]))
            fail_msg("stderr does not name %s: %s", bad[i], r.err);
    assert_non_null(strstr(r.err, "skipped 4 bad file(s) of 6"));
    assert_int_equal(count_lines(r.out), 1);
    long ids[8];
    /* sorted: 1_carl_0, 2_nan_1, 4_empty_1, 6_zero_1, 8_text_1, 9_carl_9 */
    assert_int_equal(ids_of(r.out, ids), 2);
    assert_true(ids[0] == 0 && ids[1] == 5);
    const int len[] = {160, 160};
    check_values(r.out, 200 * 32, 32, len);
    result_free(&r);
}

/* Feeds bytes to the source's stdin through a pipe from a child process. */
static int feeder(const void *data, size_t len)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        const char *b = data;
        while (len) {
            size_t k = len < 3000 ? len : 3000; /* in pieces, as a live source would */
            ssize_t w = write(p[1], b, k);
            if (w <= 0)
                _exit(1);
            b += w;
            len -= (size_t)w;
        }
        _exit(0);
    }
    close(p[1]);
    return p[0];
}

static void check_two_utterances_at(result *r, const char *first, const char *second)
{
    if (r->source != 0 || r->sink != 0)
        fail_msg("exit %d/%d: %s", r->source, r->sink, r->err);
    if (count_lines(r->out) != 2)
        fail_msg("%d frames, expected 2: %s", count_lines(r->out), r->err);
    long ids[2];
    assert_int_equal(field(r->out, "batch"), 1);
    assert_int_equal(ids_of(r->out, ids), 1);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids_of(strchr(r->out, '\n') + 1, ids), 1);
    assert_int_equal(ids[0], 1);
    check_values(r->out, field(r->out, "width"), 1, NULL);
    if (!strstr(r->err, first) || !strstr(r->err, second))
        fail_msg("no '%s' or '%s' in %s", first, second, r->err);
}

/* 50 ms of padding around each burst of test_stream */
static void check_two_utterances(result *r)
{
    check_two_utterances_at(r, "utterance 0: 0.250-0.750 s", "utterance 1: 1.150-1.650 s");
}

static void test_stream(void **state)
{
    (void)state;
    /* raw s16 at 16 kHz: 0.3 s silence, 0.4 s tone, 0.5 s silence, 0.4 s tone, 0.3 s */
    enum { FS = 16000 };
    static float x[2 * FS];
    static int16_t s16[2 * FS];
    size_t pos = 0;
    tone(x, &pos, 0.3, 0, FS, 1);
    tone(x, &pos, 0.4, 440, FS, 1);
    tone(x, &pos, 0.5, 0, FS, 1);
    tone(x, &pos, 0.4, 660, FS, 1);
    tone(x, &pos, 0.3, 0, FS, 1);
    for (size_t i = 0; i < pos; i++)
        s16[i] = (int16_t)lrintf(x[i] * 32767);
    const char *args[] = {"--input", "-", "--pcm=s16", "--pcm-rate=16000",
                          "--manifest", at("stream.csv"), NULL};
    result r = run(true, feeder(s16, pos * sizeof *s16), args);
    check_two_utterances(&r);
    assert_null(strstr(r.err, "a rate assumed"));
    manifest *m = manifest_load(at("stream.csv"));
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_int_equal(manifest_find(m, 1)->label, -1);
    assert_non_null(strstr(manifest_find(m, 1)->path, "1150ms-1650ms"));
    manifest_destroy(&m);
    result_free(&r);

    /* no --pcm-rate: 16 kHz is assumed, and said */
    const char *assumed[] = {"--input", "-", NULL};
    r = run(true, feeder(s16, pos * sizeof *s16), assumed);
    check_two_utterances(&r);
    if (!strstr(r.err, "warning: standard input: raw PCM (no WAV header) read as s16 at 16000 Hz") ||
        !strstr(r.err, "give pcm_rate="))
        fail_msg("no warning of the assumed rate: %s", r.err);
    result_free(&r);

    /* the same as a stereo float WAV on stdin: the RIFF header is detected */
    static float st[4 * FS];
    for (size_t i = 0; i < pos; i++)
        st[2 * i] = st[2 * i + 1] = x[i];
    write_wav(at("stream.wav"), st, pos, 2, FS, SF_FORMAT_FLOAT);
    const char *wav_args[] = {"--input", "-", NULL};
    int fd = open(at("stream.wav"), O_RDONLY);
    assert_true(fd >= 0);
    r = run(true, fd, wav_args);
    check_two_utterances(&r);
    assert_non_null(strstr(r.err, "WAV, 16000 Hz, 2 channel(s)"));
    result_free(&r);
}

/* cat a.wav b.wav: a burst each, with 0.2 s of silence between them, less
 * than --min-silence-ms: the end of a recording ends its utterance */
static void test_stream_concatenated(void **state)
{
    (void)state;
    static float x[16000], st[2 * 8000];
    size_t pos = 0, spos = 0;
    tone(x, &pos, 0.1, 0, 16000, 1);
    tone(x, &pos, 0.4, 440, 16000, 1);
    tone(x, &pos, 0.1, 0, 16000, 1);
    write_wav(at("cat-a.wav"), x, pos, 1, 16000, SF_FORMAT_PCM_16);
    tone(st, &spos, 0.1, 0, 8000, 2);
    tone(st, &spos, 0.4, 660, 8000, 2);
    tone(st, &spos, 0.1, 0, 8000, 2);
    write_wav(at("cat-b.wav"), st, spos, 2, 8000, SF_FORMAT_FLOAT);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s %s > %s", at("cat-a.wav"), at("cat-b.wav"), at("cat.wav"));
    assert_int_equal(system(cmd), 0);
    const char *args[] = {"--input", "-", "--rate=16000", NULL};
    int fd = open(at("cat.wav"), O_RDONLY);
    assert_true(fd >= 0);
    result r = run(true, fd, args);
    /* the second, resampled from 8 kHz, a few ms wider */
    check_two_utterances_at(&r, "utterance 0: 0.050-0.550 s", "utterance 1: 0.6");
    assert_non_null(strstr(r.err, "standard input: recording 2 at 0.600 s: WAV, 8000 Hz, 2 channel(s), float"));
    assert_non_null(strstr(r.err, "2 utterance(s) from 2 recording(s)"));
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_to_frames),
        cmocka_unit_test(test_split_limit_mel),
        cmocka_unit_test(test_bad_files_fail),
        cmocka_unit_test(test_skip_bad),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_concatenated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
