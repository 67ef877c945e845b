/* test_audiocoder: audio-to-image synthesis end to end on a tiny fixture (run
 * from the repo root, after make): short tone WAVs with FSDD names, a maps file
 * made with spike_maps_add/save, a random ae-decoder model and a small fake
 * MNIST (two images per digit), with H = 16, T = 10 and a 32 x 20 front end:
 *  - spectrogram --epochs 3 --shuffle sends every id once per epoch, in a new
 *    order each epoch, with the same values as the first (cached) epoch;
 *  - train-audiocoder.pipe writes both model files (kinds, shapes, samples of
 *    two epochs) and metrics.json with the training figures;
 *  - audio2image.pipe writes a PNG per test input named after it, grid.png,
 *    samples.csv and metrics.json with the scores; a lone non-FSDD WAV gets its
 *    PNG and no metrics; the same pipeline with no manifest anywhere gives the
 *    same names, scores and grid (names and labels travel with the frames);
 *    on stdin it cuts a stream into an image per utterance, and goes on
 *    across a second WAV header (cat a.wav b.wav); check refuses a stream
 *    option out of range, naming it;
 *  - with limit=N the audiocoder's progress counts N per epoch (its ETA);
 *  - train-audiocoder.pipe with checkpoint_every, the audiocoder killed by
 *    SIGKILL after a checkpoint, then resume=true: both model files byte for
 *    byte those of a run never stopped (and the whole run's loss), resumed at
 *    the first epoch's end (traces) and in the second epoch (bptt, augmented);
 *    a run of another seed or front end refuses the checkpoint, naming it;
 *  - a maps file missing a training id, and one of the wrong width, fail with
 *    an error naming the id / the widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "golden.h"
#include "tmpdir.h"

#include "audio/audio.h"
#include "core/err.h"
#include "data/idx.h"
#include "numerics/lif_layer.h"
#include "data/model.h"
#include "process.h"
#include "resume.h"
#include "data/spike_maps.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#define FS 8000
#define N_TRAIN 8 /* index 5 and 6 of digits 0-3 */
#define N_TEST 4  /* index 0 of digits 0-3 */
#define H 16
#define STEPS 10
#define TH 3

static char dir[64];
static pid_t live = 0;

static const char *at(const char *name) { return tmpdir_at(dir, name); }

/* ---- fixtures ------------------------------------------------------------------ */

/* 0.2 s: a tone whose pitch tells the digit, its amplitude the take. */
static void write_tone(const char *path, int digit, int take)
{
    float x[FS / 5];
    for (int i = 0; i < FS / 5; i++)
        x[i] = (float)((0.2 + 0.05 * take) * sin(2 * M_PI * (300.0 + 400.0 * digit) * i / FS));
    SF_INFO info = {.samplerate = FS, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_float(sf, x, FS / 5), FS / 5);
    sf_close(sf);
}

/* Two blobs per digit, at a place that depends on the digit. */
static void write_mnist(const char *data_dir)
{
    char p[300];
    snprintf(p, sizeof p, "%s/mnist", data_dir);
    mkdir(data_dir, 0755);
    mkdir(p, 0755);
    uint8_t img[20 * 784] = {0}, lab[20];
    for (int i = 0; i < 20; i++) {
        int d = i % 10, cx = 6 + 2 * d, cy = 8 + (i / 10) * 6;
        lab[i] = (uint8_t)d;
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
                if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < 16)
                    img[i * 784 + y * 28 + x] = 255;
    }
    snprintf(p, sizeof p, "%s/mnist/train-images-idx3-ubyte", data_dir);
    if (idx_write(p, 3, (uint32_t[]){20, 28, 28}, img) < 0)
        fail_msg("%s", err_msg());
    snprintf(p, sizeof p, "%s/mnist/train-labels-idx1-ubyte", data_dir);
    if (idx_write(p, 1, (uint32_t[]){20}, lab) < 0)
        fail_msg("%s", err_msg());
}

/* Maps for ids 0..n-1 except skip (-1: none), width x TH, deterministic. */
static void write_maps(const char *path, uint32_t width, uint32_t n, int skip)
{
    spike_maps *m = spike_maps_new(width, TH);
    assert_non_null(m);
    float s[196 * TH];
    for (uint32_t id = 0; id < n; id++) {
        if ((int)id == skip)
            continue;
        for (uint32_t k = 0; k < width * TH; k++)
            s[k] = (k * 7 + id * 13) % 5 == 0;
        if (spike_maps_add(m, id, (int32_t)(id / 2), -1, s) < 0)
            fail_msg("%s", err_msg());
    }
    if (spike_maps_sort(m) < 0 || spike_maps_save(m, path) < 0)
        fail_msg("%s", err_msg());
    spike_maps_destroy(&m);
}

static void write_decoder(const char *path)
{
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    lif_layer *l = lif_layer_new(196, 784, 1, &lp, &op, NULL);
    assert_non_null(l);
    lif_layer_init_uniform(l, 3, 2, 0.3f);
    model info = {.steps = 15};
    if (model_layer_save(l, "ae-decoder", &info, path) < 0)
        fail_msg("%s", err_msg());
    lif_layer_destroy(&l);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_audiocoder-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    mkdir(at("rec"), 0755);
    mkdir(at("solo"), 0755);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static int reap_leftover(void **state)
{
    (void)state;
    proc_kill(&live);
    return 0;
}

static void ensure_fixture(void)
{
    static bool made;
    if (made)
        return;
    char p[300];
    for (int d = 0; d < 4; d++) {
        for (int take = 0; take < 7; take += 1) {
            if (take > 0 && take < 5)
                continue; /* test: take 0; train: takes 5, 6 */
            snprintf(p, sizeof p, "%s/rec/%d_tester_%d.wav", dir, d, take);
            write_tone(p, d, take);
        }
    }
    write_tone(at("solo/hello.wav"), 2, 1);
    write_mnist(at("data"));
    write_maps(at("maps.ssmap"), 196, N_TRAIN, -1);
    write_maps(at("missing.ssmap"), 196, N_TRAIN, 5);
    write_maps(at("narrow.ssmap"), 100, N_TRAIN, -1);
    write_decoder(at("decoder.ssm"));
    made = true;
}

/* ---- running pipelines ----------------------------------------------------------- */

static int run_pipe(const char *pipe, const char *tag, const char *const *vars, double limit)
{
    double took;
    live = proc_run_start("run", pipe, at(tag), at("stderr.txt"), vars);
    int rc = proc_finish(live, limit, &took);
    live = 0;
    return rc;
}

/* The bytes the file would have had in model format 1 (the golden hash was
 * recorded on those): format 2 adds the lineage after the 124 bytes of the
 * format 1 header and nothing else, so the weights are compared bit for bit. */
static uint64_t hash_model_v1(uint64_t h, const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[8 << 20];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint32_t version, header_bytes;
    memcpy(&version, buf + 8, 4);
    memcpy(&header_bytes, buf + 12, 4);
    assert_int_equal(version, 2);
    const uint32_t v1 = 1, v1_header = 124;
    memcpy(buf + 8, &v1, 4);
    memcpy(buf + 12, &v1_header, 4);
    /* drop the lineage and the old checksum; the weights follow the format 1 header */
    memmove(buf + 16 + v1_header, buf + 16 + header_bytes, len - 4 - 16 - header_bytes);
    size_t n = len - 4 - (header_bytes - v1_header);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)n);
    memcpy(buf + n, &crc, 4);
    return golden_hash(h, buf, n + 4);
}

static char v_fsdd[320], v_targets[320], v_model[320], v_data[320], v_decoder[320], v_input[320];

#define FRONT "rate=8000", "decimation=80", "frames=20", "steps=10", "r_max=1", "batch=3"

static void train(const char *targets, const char *tag, int expect_rc)
{
    snprintf(v_fsdd, sizeof v_fsdd, "fsdd=%s", at("rec"));
    snprintf(v_targets, sizeof v_targets, "targets=%s", targets);
    snprintf(v_model, sizeof v_model, "model=%s", at("ac"));
    /* force: each test trains into the same model */
    const char *vars[] = {v_fsdd, v_targets, v_model, "hidden=16", "epochs=2", "init_scale=0",
                          "force=true", FRONT, NULL};
    int rc = run_pipe("pipelines/train-audiocoder.pipe", tag, vars, 60);
    if (rc != expect_rc)
        fail_msg("train-audiocoder: exit %d (expected %d): %s", rc, expect_rc,
                 proc_slurp(at("stderr.txt")));
}

static void synthesise_with(const char *pipe, const char *input, const char *tag)
{
    snprintf(v_input, sizeof v_input, "input=%s", input);
    snprintf(v_model, sizeof v_model, "model=%s", at("ac"));
    snprintf(v_data, sizeof v_data, "data=%s", at("data"));
    snprintf(v_decoder, sizeof v_decoder, "decoder=%s", at("decoder.ssm"));
    const char *vars[] = {v_input, v_model, v_data, v_decoder, FRONT, NULL};
    int rc = run_pipe(pipe, tag, vars, 60);
    if (rc != 0)
        fail_msg("%s: exit %d: %s", pipe, rc, proc_slurp(at("stderr.txt")));
}

static void synthesise(const char *input, const char *tag)
{
    synthesise_with("pipelines/audio2image.pipe", input, tag);
}

/* audio2image.pipe with every --manifest option taken out */
static void write_pipe_without_manifest(const char *path)
{
    FILE *in = fopen("pipelines/audio2image.pipe", "r"), *out = fopen(path, "w");
    assert_non_null(in);
    assert_non_null(out);
    char line[4096];
    const char *opt = " --manifest=${out}/manifest.csv";
    while (fgets(line, sizeof line, in)) {
        char *m;
        while ((m = strstr(line, opt)))
            memmove(m, m + strlen(opt), strlen(m + strlen(opt)) + 1);
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

/* ---- tests ----------------------------------------------------------------------- */

/* ids of each frame of a frame-dump JSON output, concatenated; returns the count */
static size_t dump_ids(const char *path, uint32_t *ids, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1 << 16];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "\"ids\":[");
        if (!p)
            continue;
        for (p += 7; *p && *p != ']' && n < cap;) {
            ids[n++] = (uint32_t)strtoul(p, &p, 10);
            if (*p == ',')
                p++;
        }
    }
    fclose(f);
    return n;
}

static void test_spectrogram_epochs(void **state)
{
    (void)state;
    ensure_fixture();
    char cmd[2048];
    const uint32_t E = 3;
    for (int cache = 0; cache < 2; cache++) {
        snprintf(cmd, sizeof cmd,
                 "bin/frame-dump --in in=ipc://%s/sp%d --format=json --data > %s/dump%d.txt "
                 "2>/dev/null & bin/spectrogram --input %s/rec --split train --epochs %u --shuffle "
                 "--batch 3 --rate 0 --decimation 80 --frames 20 --cache-mb %d --seed 5 "
                 "--out values=ipc://%s/sp%d 2>%s/sp%d.err; rc=$?; wait; exit $rc",
                 dir, cache, dir, cache, dir, E, cache ? 100 : 0, dir, cache, dir, cache);
        assert_int_equal(system(cmd), 0);
    }
    uint32_t ids[64];
    char p[300];
    snprintf(p, sizeof p, "%s/dump1.txt", dir);
    size_t n = dump_ids(p, ids, 64);
    assert_int_equal(n, E * N_TRAIN);
    bool same_order = true;
    for (uint32_t e = 0; e < E; e++) {
        int count[N_TRAIN] = {0};
        for (uint32_t i = 0; i < N_TRAIN; i++) {
            assert_true(ids[e * N_TRAIN + i] < N_TRAIN);
            count[ids[e * N_TRAIN + i]]++;
            if (e > 0 && ids[e * N_TRAIN + i] != ids[i])
                same_order = false;
        }
        for (uint32_t i = 0; i < N_TRAIN; i++)
            assert_int_equal(count[i], 1); /* each id once per epoch */
    }
    assert_false(same_order);
    /* recomputed epochs (no cache) send exactly what the cached ones do */
    snprintf(cmd, sizeof cmd, "cmp -s %s/dump0.txt %s/dump1.txt", dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_non_null(strstr(proc_slurp(at("sp0.err")), "recomputed every epoch"));
    assert_non_null(strstr(proc_slurp(at("sp1.err")), "kept in memory"));
}

/* --augment: every epoch a new perturbation of each file, the same for a seed
 * whatever the thread count, another for another seed */
static void test_spectrogram_augment(void **state)
{
    (void)state;
    ensure_fixture();
    char cmd[2048];
    const struct { int threads, seed; } runs[] = {{1, 5}, {2, 5}, {1, 6}};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd,
                 "bin/frame-dump --in in=ipc://%s/au%d --format=json --data > %s/aug%d.txt 2>/dev/null & "
                 "bin/spectrogram --input %s/rec --split train --epochs 2 --batch 8 --rate 8000 --decimation 80 "
                 "--frames 20 --augment speed,gain,noise,shift --threads %d --seed %d --out values=ipc://%s/au%d "
                 "2>%s/au%d.err; rc=$?; wait; exit $rc",
                 dir, k, dir, k, dir, runs[k].threads, runs[k].seed, dir, k, dir, k);
        if (system(cmd) != 0)
            fail_msg("spectrogram --augment: %s", proc_slurp(at("au0.err")));
    }
    snprintf(cmd, sizeof cmd, "cmp -s %s/aug0.txt %s/aug1.txt", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s/aug0.txt %s/aug2.txt", dir, dir);
    assert_true(system(cmd) != 0);
    assert_non_null(strstr(proc_slurp(at("au0.err")), "made anew"));
    /* the two epochs' values differ (unshuffled: the same ids in the same rows) */
    FILE *f = fopen(at("aug0.txt"), "r");
    assert_non_null(f);
    static char l0[1 << 18], l1[1 << 18];
    assert_non_null(fgets(l0, sizeof l0, f));
    assert_non_null(fgets(l1, sizeof l1, f));
    fclose(f);
    char *v0 = strstr(l0, "\"values\""), *v1 = strstr(l1, "\"values\"");
    assert_non_null(v0);
    assert_non_null(v1);
    assert_true(strcmp(v0, v1) != 0);
}

/* --augment-speed-min/-max set speed's range: 1..1 sends what no augmentation
 * sends (perturb_speed(1) is the identity), the default 0.9..1.1 does not,
 * and a minimum above the maximum is refused */
static void test_spectrogram_augment_speed_range(void **state)
{
    (void)state;
    ensure_fixture();
    char cmd[2048];
    const char *aug[] = {"", "--augment speed --augment-speed-min 1 --augment-speed-max 1", "--augment speed"};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd,
                 "bin/frame-dump --in in=ipc://%s/ar%d --format=json --data > %s/ar%d.txt 2>/dev/null & "
                 "bin/spectrogram --input %s/rec --split train --batch 8 --rate 8000 --decimation 80 "
                 "--frames 20 %s --seed 5 --out values=ipc://%s/ar%d 2>%s/ar%d.err; rc=$?; wait; exit $rc",
                 dir, k, dir, k, dir, aug[k], dir, k, dir, k);
        if (system(cmd) != 0)
            fail_msg("spectrogram %s: %s", aug[k], proc_slurp(at("ar0.err")));
    }
    snprintf(cmd, sizeof cmd, "cmp -s %s/ar0.txt %s/ar1.txt", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s/ar0.txt %s/ar2.txt", dir, dir);
    assert_true(system(cmd) != 0);
    snprintf(cmd, sizeof cmd,
             "bin/spectrogram --input %s/rec --split train --rate 8000 --frames 20 --augment speed "
             "--augment-speed-min 1.2 --augment-speed-max 1.1 --out values=ipc://%s/ar3 2>%s/ar3.err",
             dir, dir, dir);
    assert_true(system(cmd) != 0);
    if (!strstr(proc_slurp(at("ar3.err")), "above --augment-speed-max"))
        fail_msg("the error does not name the range: %s", proc_slurp(at("ar3.err")));
}

/* audio2image.pipe on stdin (stream.wav, or what feed, a shell prefix with two
 * %s for the fixture dir, sends), into OUT: one PNG per utterance, named after
 * its place in the stream (the name travels with the utterance's frame). */
static void live_stream(const char *out, const char *feed, int want)
{
    char cmd[4096], pre[1024];
    snprintf(pre, sizeof pre, feed, dir, dir);
    snprintf(cmd, sizeof cmd, "%s bin/spikesynth run pipelines/audio2image.pipe -q input=- out=%s/%s "
             "model=%s/ac data=%s/data decoder=%s/decoder.ssm rate=8000 decimation=80 frames=20 "
             "steps=10 r_max=1 batch=3 %s%s 2>%s/live.err",
             pre, dir, out, dir, dir, dir, *feed ? "" : "< ", *feed ? "" : at("stream.wav"), dir);
    if (system(cmd) != 0)
        fail_msg("audio2image input=-: %s", proc_slurp(at("live.err")));
    char path[300];
    snprintf(path, sizeof path, "%s/%s/images", dir, out);
    DIR *d = opendir(path);
    assert_non_null(d);
    int found[8] = {0}, other = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int k = -1;
        if (!strncmp(e->d_name, "utt00000", 8) && e->d_name[9] == '_')
            k = e->d_name[8] - '0';
        if (k >= 0 && k < want)
            found[k]++;
        else
            other++;
    }
    closedir(d);
    for (int k = 0; k < want; k++)
        if (found[k] != 1)
            fail_msg("%s: utterance %d has %d images", out, k, found[k]);
    assert_int_equal(other, 0);
}

static void test_train_then_synthesise(void **state)
{
    (void)state;
    ensure_fixture();
    train(at("maps.ssmap"), "train", 0);
    model *mh = model_load(at("ac-hidden.ssm")), *mo = model_load(at("ac-output.ssm"));
    if (!mh || !mo)
        fail_msg("%s", err_msg());
    assert_string_equal(mh->kind, "audiocoder-hidden");
    assert_string_equal(mo->kind, "audiocoder-output");
    assert_int_equal(mh->n_in, 32 * 20);
    assert_int_equal(mh->n_out, H);
    assert_int_equal(mo->n_in, H);
    assert_int_equal(mo->n_out, 196);
    assert_int_equal(mh->samples, 2 * N_TRAIN);
    assert_int_equal(mh->epochs, 2);
    assert_int_equal(mh->steps, STEPS);
    model_destroy(&mh);
    model_destroy(&mo);
    const char *m = proc_slurp(at("train/metrics.json"));
    const char *keys[] = {"\"loss\"", "\"masked_fraction\"", "\"samples\": 16", "\"train_seconds\"",
                          "\"samples_per_s\"", "\"epochs\": 2", "\"hidden\": 16"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strstr(m, keys[i]))
            fail_msg("train metrics.json lacks %s: %s", keys[i], m);

    synthesise(at("rec"), "a2i");
    for (int d = 0; d < 4; d++) {
        char p[300];
        snprintf(p, sizeof p, "%s/a2i/images/%d_tester_0.png", dir, d);
        if (!exists(p))
            fail_msg("no %s", p);
    }
    assert_true(exists(at("a2i/grid.png")));
    /* the trained weights and the images, bit for bit as before a refactoring */
    uint64_t h = hash_model_v1(GOLDEN_START, at("ac-hidden.ssm"));
    h = hash_model_v1(h, at("ac-output.ssm"));
    h = golden_hash_file(h, at("a2i/grid.png"));
    golden_assert("audio2image", h);
    m = proc_slurp(at("a2i/metrics.json"));
    const char *skeys[] = {"\"mse\"", "\"pearson_r\"", "\"pixel_mse\"", "\"n_samples\": 4",
                           "\"mse_digit_0\"", "\"mse_digit_3\"", "\"reference\": \"A\""};
    for (size_t i = 0; i < sizeof skeys / sizeof *skeys; i++)
        if (!strstr(m, skeys[i]))
            fail_msg("audio2image metrics.json lacks %s: %s", skeys[i], m);
    const char *csv = proc_slurp(at("a2i/samples.csv"));
    assert_non_null(strstr(csv, "id,name,label,mse,pearson_r"));
    assert_non_null(strstr(csv, "\n3,3_tester_0,3,"));

    /* the sink reads no file of the source: with no manifest anywhere, the names,
     * labels and so the scores come with the frames, and the grid is the same */
    write_pipe_without_manifest(at("bare.pipe"));
    assert_null(strstr(proc_slurp(at("bare.pipe")), "manifest"));
    synthesise_with(at("bare.pipe"), at("rec"), "bare");
    assert_false(exists(at("bare/manifest.csv")));
    for (int d = 0; d < 4; d++) {
        char p[300];
        snprintf(p, sizeof p, "%s/bare/images/%d_tester_0.png", dir, d);
        if (!exists(p))
            fail_msg("no %s", p);
    }
    assert_non_null(strstr(proc_slurp(at("bare/samples.csv")), "\n3,3_tester_0,3,"));
    assert_non_null(strstr(proc_slurp(at("bare/metrics.json")), "\"n_samples\": 4"));
    assert_true(golden_hash_file(GOLDEN_START, at("bare/grid.png")) ==
                golden_hash_file(GOLDEN_START, at("a2i/grid.png")));

    /* one file without a label: its PNG, no scores */
    synthesise(at("solo/hello.wav"), "solo");
    assert_true(exists(at("solo/images/hello.png")));
    assert_false(exists(at("solo/metrics.json")));
    /* ... but the digit it drew, in samples.csv and the sink's log */
    const char *solo = proc_slurp(at("solo/samples.csv"));
    const char *line = strstr(solo, ",hello,-1,,,,");
    assert_non_null(line);
    assert_true(line[13] >= '0' && line[13] <= '9');
    assert_non_null(strstr(proc_slurp(at("solo/logs/sink.log")), "hello: drew a "));

    /* a live stream on stdin: two tones between silences, one PNG each, named
     * after its place in the stream (the name travels with the utterance's frame) */
    enum { GAP = FS / 2, TONE = FS / 5 };
    static float x[3 * GAP + 2 * TONE];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TONE; i++)
            x[(k + 1) * GAP + k * TONE + i] = (float)(0.3 * sin(2 * M_PI * (700.0 + 800.0 * k) * i / FS));
    SF_INFO info = {.samplerate = FS, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(at("stream.wav"), SFM_WRITE, &info);
    assert_non_null(sf);
    assert_int_equal(sf_writef_float(sf, x, 3 * GAP + 2 * TONE), 3 * GAP + 2 * TONE);
    sf_close(sf);
    live_stream("live", "", 2);
    /* cat a.wav b.wav: the stream goes on across the second header */
    live_stream("live2", "cat %s/stream.wav %s/stream.wav |", 4);
    /* the stream's options are the pipeline's, range-checked before it runs */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bin/spikesynth check pipelines/audio2image.pipe input=- "
             "model=%s/ac data=%s/data decoder=%s/decoder.ssm min_silence_ms=5 2>%s/check.err",
             dir, dir, dir, dir);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 2);
    assert_non_null(strstr(proc_slurp(at("check.err")), "option --min-silence-ms: 5 is out of range"));
}

/* limit=N: the audiocoder's progress counts N recordings per epoch, not one
 * per target (the maps hold every training recording), so its ETA is right */
static void test_limit_progress(void **state)
{
    (void)state;
    ensure_fixture();
    char fsdd[320], targets[320], model_var[320];
    snprintf(fsdd, sizeof fsdd, "fsdd=%s", at("rec"));
    snprintf(targets, sizeof targets, "targets=%s", at("maps.ssmap"));
    snprintf(model_var, sizeof model_var, "model=%s", at("ac-limit"));
    const char *vars[] = {fsdd, targets, model_var, "hidden=16", "epochs=2", "limit=4", "force=true", FRONT, NULL};
    if (run_pipe("pipelines/train-audiocoder.pipe", "limit", vars, 60) != 0)
        fail_msg("train-audiocoder limit=4: %s", proc_slurp(at("stderr.txt")));
    const char *log = proc_slurp(at("limit/logs/ac.log"));
    if (!strstr(log, ", 8/8 samples (100.0%)"))
        fail_msg("the audiocoder's progress is not of 2 x 4 samples: %s", log);
}

/* The spike frames of one file through spectrogram and poisson-encoder, both
 * with the settings of the model ac and nothing else: the rows, concatenated
 * over the steps, into bits (cap); their count. */
static size_t spikes_of_model(const char *model, const char *input, const char *tag, char *bits, size_t cap)
{
    FILE *f = fopen(at("spikes.pipe"), "w");
    assert_non_null(f);
    fputs("var model = m\nvar input = i\nstage spec = spectrogram --input=${input} --settings-from=${model}\n"
          "stage poisson = poisson-encoder --settings-from=${model}\nstage dump = frame-dump --format=json --data\n"
          "spec.values -> poisson.values\npoisson.spikes -> dump.in\n", f);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bin/spikesynth run %s/spikes.pipe -q out=%s/%s model=%s/%s input=%s > %s/%s.json "
             "2> %s/%s.err", dir, dir, tag, dir, model, input, dir, tag, dir, tag);
    if (system(cmd) != 0)
        fail_msg("%s: %s", cmd, proc_slurp(at(tag)));
    snprintf(cmd, sizeof cmd, "%s/%s.json", dir, tag);
    FILE *in = fopen(cmd, "r");
    assert_non_null(in);
    static char line[1 << 20];
    size_t n = 0;
    while (fgets(line, sizeof line, in))
        for (char *p = strstr(line, "\"rows\":[\""); p && *p; p++)
            if ((*p == '0' || *p == '1') && n < cap)
                bits[n++] = *p;
    fclose(in);
    return n;
}

static size_t spikes_of(const char *input, const char *tag, char *bits, size_t cap)
{
    return spikes_of_model("ac", input, tag, bits, cap);
}

/* A 16 kHz stereo copy of an 8 kHz recording: with no option, the model's
 * front end (resampled back to its 8 kHz, channels mixed down) gives nearly
 * the spikes of the original, and audio2image runs on it; a rate given that
 * contradicts the model is an error naming both. FSDD's recording when the
 * data is there, else the fixture's tone. */
static void test_any_rate_no_option(void **state)
{
    (void)state;
    ensure_fixture();
    struct stat st;
    if (stat(at("ac-hidden.ssm"), &st) != 0)
        train(at("maps.ssmap"), "train-any", 0);
    const char *fsdd = "data/fsdd/recordings/7_jackson_0.wav";
    const char *src = stat(fsdd, &st) == 0 ? fsdd : at("rec/3_tester_0.wav");
    mkdir(at("hi"), 0755);
    audio *a = audio_read(src, NULL);
    assert_non_null(a);
    assert_true(a->fs == 8000);
    assert_int_equal(audio_resample(a, 16000, AUDIO_QUALITY_MEDIUM), 0);
    assert_int_equal(audio_write_wav(a, at("hi/7_jackson_0.wav"), 2, false), 0);
    audio_destroy(&a);
    static char b8[1 << 18], b16[1 << 18], other[1 << 18];
    size_t n8 = spikes_of(src, "s8", b8, sizeof b8), n16 = spikes_of(at("hi/7_jackson_0.wav"), "s16", b16, sizeof b16);
    size_t no = spikes_of(at("rec/1_tester_0.wav"), "so", other, sizeof other);
    assert_int_equal(n8, 10 * 32 * 20); /* the model's T = 10 steps of 32 channels x 20 frames */
    assert_int_equal(n16, n8);
    assert_int_equal(no, n8);
    size_t diff = 0, diff_other = 0, ones = 0;
    for (size_t i = 0; i < n8; i++) {
        diff += b8[i] != b16[i];
        diff_other += b8[i] != other[i];
        ones += b8[i] == '1';
    }
    print_message("16 kHz stereo vs 8 kHz (%s): %zu of %zu spikes differ, %zu fire; another recording: %zu\n",
                  src, diff, n8, ones, diff_other);
    /* the same draws decide every spike: only values that moved flip one */
    if (diff * 50 > ones || diff * 10 > diff_other)
        fail_msg("16 kHz stereo vs 8 kHz: %zu of %zu spikes differ (%zu fire; another recording: %zu)", diff,
                 n8, ones, diff_other);
    char v0[400], v1[400], v2[400], v3[400];
    snprintf(v0, sizeof v0, "input=%s", at("hi/7_jackson_0.wav"));
    snprintf(v1, sizeof v1, "model=%s", at("ac"));
    snprintf(v2, sizeof v2, "data=%s", at("data"));
    snprintf(v3, sizeof v3, "decoder=%s", at("decoder.ssm"));
    const char *given[] = {v0, v1, v2, v3, NULL, NULL};
    int rc = run_pipe("pipelines/audio2image.pipe", "hi-a2i", given, 60);
    if (rc != 0)
        fail_msg("audio2image on a 16 kHz stereo file: exit %d: %s", rc, proc_slurp(at("stderr.txt")));
    assert_true(exists(at("hi-a2i/images/7_jackson_0.png")));
    given[4] = "rate=16000";
    assert_int_equal(run_pipe("pipelines/audio2image.pipe", "hi-bad", given, 60), 1);
    const char *e = proc_slurp(at("stderr.txt"));
    if (!strstr(e, "--rate 16000") || !strstr(e, "rate=8000") || !strstr(e, "ac-hidden.ssm"))
        fail_msg("the error does not name both rates and the model: %s", e);
}

/* fit=stretch is recorded by the training and applied by the stages that
 * take the model's settings: the same recording's spikes differ from a
 * padding model's, and the spectrogram says which fit it used. */
static void test_fit_recorded(void **state)
{
    (void)state;
    ensure_fixture();
    struct stat st;
    if (stat(at("ac-hidden.ssm"), &st) != 0)
        train(at("maps.ssmap"), "train-fit-pad", 0);
    char fsdd[320], targets[320], model_var[320];
    snprintf(fsdd, sizeof fsdd, "fsdd=%s", at("rec"));
    snprintf(targets, sizeof targets, "targets=%s", at("maps.ssmap"));
    snprintf(model_var, sizeof model_var, "model=%s", at("ac-stretch"));
    const char *vars[] = {fsdd, targets, model_var, "hidden=16", "epochs=1", "limit=4", "force=true",
                          "fit=stretch", FRONT, NULL};
    if (run_pipe("pipelines/train-audiocoder.pipe", "train-stretch", vars, 60) != 0)
        fail_msg("train-audiocoder fit=stretch: %s", proc_slurp(at("stderr.txt")));
    /* 60 ms of a tone between 60 and 80 ms of silence: padded it takes 6 of
     * the 20 frames, stretched all of them */
    float x[FS / 5] = {0};
    for (int i = 6 * FS / 100; i < 12 * FS / 100; i++)
        x[i] = (float)(0.3 * sin(2 * M_PI * 700.0 * i / FS));
    audio *a = audio_from_samples(x, FS / 5, FS, "burst", NULL);
    assert_non_null(a);
    const char *rec = at("burst.wav");
    assert_int_equal(audio_write_wav(a, rec, 1, false), 0);
    audio_destroy(&a);
    static char pad[1 << 18], stretch[1 << 18];
    size_t np = spikes_of(rec, "fit-pad", pad, sizeof pad);
    size_t ns = spikes_of_model("ac-stretch", rec, "fit-stretch", stretch, sizeof stretch);
    assert_int_equal(np, ns);
    size_t diff = 0, on_pad = 0, on_stretch = 0;
    for (size_t i = 0; i < np; i++) {
        diff += pad[i] != stretch[i];
        on_pad += pad[i] == '1';
        on_stretch += stretch[i] == '1';
    }
    print_message("fit=stretch against pad, the same burst: %zu of %zu spikes differ; %zu and %zu fire\n",
                  diff, np, on_stretch, on_pad);
    /* the burst (and the cochlea's ringing after it) spread over more frames */
    assert_true(on_stretch * 10 > on_pad * 13);
    assert_true(diff * 2 > on_pad);
    const char *log = proc_slurp(at("fit-stretch/logs/spec.log"));
    if (!strstr(log, "fit stretch"))
        fail_msg("the spectrogram does not say it stretched: %s", log);
}

/* ---- checkpoints: killed and resumed ----------------------------------------------- */

/* A heavier front end and net than FRONT, so that the batches after a
 * checkpoint take long enough to kill the run in: 4 batches of 2 per epoch. */
#define RESUME_FRONT "rate=8000", "decimation=80", "frames=100", "steps=60", "r_max=1", "batch=2", "hidden=256"

/* The value of key in a metrics.json ("" when absent). */
static void metric(const char *path, const char *key, char *buf, size_t cap)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *m = proc_slurp(path), *l = strstr(m, k);
    snprintf(buf, cap, "%.*s", l ? (int)strcspn(l, ",\n") : 0, l ? l : "");
}

static pid_t start_training(const char *tag, const char *model, const char *every, const char *resume,
                            const char *extra, const char *learning, const char *augment)
{
    static char v[7][400], err[320];
    snprintf(v[0], sizeof v[0], "fsdd=%s", at("rec"));
    snprintf(v[1], sizeof v[1], "targets=%s", at("maps.ssmap"));
    snprintf(v[2], sizeof v[2], "model=%s", at(model));
    snprintf(v[3], sizeof v[3], "checkpoint_every=%s", every);
    snprintf(v[4], sizeof v[4], "resume=%s", resume);
    snprintf(v[5], sizeof v[5], "augment=%s", augment);
    snprintf(v[6], sizeof v[6], "learning=%s", learning);
    snprintf(err, sizeof err, "%s", at("resume.err"));
    const char *vars[] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], extra, "epochs=2", "force=true", RESUME_FRONT,
                          NULL};
    return proc_run_start("run", "pipelines/train-audiocoder.pipe", at(tag), err, vars);
}

static int finish_training(const char *what, int want)
{
    int rc = proc_finish(live, 120, NULL);
    live = 0;
    if (want >= 0 && rc != want)
        fail_msg("%s: exit %d, expected %d: %s", what, rc, want, proc_slurp(at("resume.err")));
    return rc;
}

/* Uninterrupted (no checkpoints) against checkpoints every `every` batches,
 * the audiocoder killed once its output layer (written second) holds `count`
 * of them (one: no second is written before the end), and resume=true, which must go on after batch `after`: the same
 * model files (weights, epochs) and metrics `same` (NULL-terminated). The
 * checkpoints are refused first to a run of another seed or front end,
 * naming the file. */
typedef struct {
    const char *name, *every, *learning, *augment;
    int count;
    const char *after;
    const char *same[5];
} resume_spec;

static void resume_case(const resume_spec *c)
{
    char ref[64], run[64], t_ref[80], t_run[80], victim[320], pa[320], pb[320], a[256], b[256];
    snprintf(ref, sizeof ref, "%s-ref", c->name);
    snprintf(run, sizeof run, "%s-run", c->name);
    snprintf(t_ref, sizeof t_ref, "%s-out-ref", c->name);
    snprintf(t_run, sizeof t_run, "%s-out-run", c->name);
    snprintf(victim, sizeof victim, "%s-output.ssm", at(run));
    live = start_training(t_ref, ref, "0", "false", "seed=1", c->learning, c->augment);
    finish_training("the uninterrupted run", 0);
    live = start_training(t_run, run, c->every, "false", "seed=1", c->learning, c->augment);
    resume_kill_after_checkpoints(live, "audiocoder", victim, c->count, at("resume.err"));
    finish_training("killing the audiocoder (did the run finish first?)", 1);
    const char *said, *other[][2] = {{"seed=2", "seed differs"}, {"norm=channel", "front end differs"}};
    for (int i = 0; i < 2; i++) {
        live = start_training(t_run, run, c->every, "true", other[i][0], c->learning, c->augment);
        finish_training(other[i][0], 1);
        said = proc_slurp(at("resume.err"));
        if (!strstr(said, other[i][1]) || !strstr(said, "-hidden.checkpoint"))
            fail_msg("resume=true %s: not refused naming the file and '%s': %s", other[i][0], other[i][1], said);
    }
    live = start_training(t_run, run, c->every, "true", "seed=1", c->learning, c->augment);
    finish_training("resume=true", 0);
    snprintf(a, sizeof a, "resuming after batch %s ", c->after);
    if (!strstr(said = proc_slurp(at("resume.err")), a))
        fail_msg("resume=true did not say '%s': %s", a, said);
    static const char *const layers[] = {"hidden", "output"};
    snprintf(pa, sizeof pa, "%s", at(ref));
    snprintf(pb, sizeof pb, "%s", at(run));
    resume_assert_same_models(pa, pb, layers, 2);
    snprintf(pa, sizeof pa, "%s/metrics.json", at(t_ref));
    snprintf(pb, sizeof pb, "%s/metrics.json", at(t_run));
    for (int i = 0; c->same[i]; i++) {
        metric(pa, c->same[i], a, sizeof a);
        metric(pb, c->same[i], b, sizeof b);
        if (!*a || strcmp(a, b))
            fail_msg("metrics.json: resumed %s, never stopped %s", b, a);
    }
}

/* traces, resumed at the first epoch's end (a checkpoint after batch 4 of
 * 4 + 4): the ids seen before are not kept, so the epoch's end must come from
 * the targets' count, its loss from the checkpoint */
static void test_resume(void **state)
{
    (void)state;
    ensure_fixture();
    resume_case(&(resume_spec){"res", "4", "traces", "", 1, "4",
                               {"loss", "loss_first_epoch", "loss_last_epoch", "epochs"}});
}

/* bptt (Adam's moments carried across batches: they must come back) and
 * augmented, resumed in the second epoch (a checkpoint after batch 5): its
 * shuffle and augmentation draws must be the second epoch's, its end by the
 * first's count */
static void test_resume_augmented(void **state)
{
    (void)state;
    ensure_fixture();
    resume_case(&(resume_spec){"aug", "5", "bptt", "speed,gain,noise,shift", 1, "5",
                               {"loss", "loss_last_epoch", "epochs", NULL}});
}

static void test_missing_target_id(void **state)
{
    (void)state;
    ensure_fixture();
    train(at("missing.ssmap"), "missing", 1);
    const char *e = proc_slurp(at("stderr.txt"));
    if (!strstr(e, "no map for sample id 5"))
        fail_msg("the error does not name id 5: %s", e);
}

static void test_targets_width_mismatch(void **state)
{
    (void)state;
    ensure_fixture();
    train(at("narrow.ssmap"), "narrow", 1);
    const char *e = proc_slurp(at("stderr.txt"));
    if (!strstr(e, "maps of 100 neurons") || !strstr(e, "196 outputs"))
        fail_msg("the error does not give both widths: %s", e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_spectrogram_epochs, reap_leftover),
        cmocka_unit_test_teardown(test_spectrogram_augment, reap_leftover),
        cmocka_unit_test_teardown(test_spectrogram_augment_speed_range, reap_leftover),
        cmocka_unit_test_teardown(test_train_then_synthesise, reap_leftover),
        cmocka_unit_test_teardown(test_any_rate_no_option, reap_leftover),
        cmocka_unit_test_teardown(test_fit_recorded, reap_leftover),
        cmocka_unit_test_teardown(test_limit_progress, reap_leftover),
        cmocka_unit_test_teardown(test_resume, reap_leftover),
        cmocka_unit_test_teardown(test_resume_augmented, reap_leftover),
        cmocka_unit_test_teardown(test_missing_target_id, reap_leftover),
        cmocka_unit_test_teardown(test_targets_width_mismatch, reap_leftover),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
