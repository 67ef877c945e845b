/* test_targets: make-targets.pipe end to end on a tiny fixture written by the
 * test (run from the repo root, after make): a directory of short FSDD-named
 * WAVs (train and test indices, two speakers), a synthetic MNIST training set
 * and a fresh 784 -> 32 ae-encoder model file.
 *  - Dataset A and B: the maps file holds one map per train recording, of the
 *    right width and Th, with the label of the recording and the image of the
 *    pairing rule, and every map is bit-identical to the hidden spikes that
 *    lif_layer computes in this process from the paired image's Poisson spikes
 *    (same seed, ids and batches);
 *  - pair-source numbers recordings as spectrogram does (same manifest);
 *  - a recording without a digit, and --th above T, are errors naming them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "audio/audio_list.h"
#include "numerics/blas.h"
#include "data/dataset.h"
#include "core/err.h"
#include "data/idx.h"
#include "numerics/lif_layer.h"
#include "data/model.h"
#include "data/pairing.h"
#include "numerics/poisson.h"
#include "process.h"
#include "data/spike_maps.h"

#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define N_IMAGES 80
#define HIDDEN 32
#define STEPS 15
#define BATCH 4 /* the fixture's 22 train recordings: 5 full batches and one of 2 */
#define SEED 7

static char dir[64];
static pid_t live = 0;

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_targets-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
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

/* ---- fixture ------------------------------------------------------------------- */

/* 0.1 s of a tone at 8 kHz, 16-bit: what is said does not matter here. */
static void write_wav(const char *path, double hz)
{
    SF_INFO info = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(path, SFM_WRITE, &info);
    if (!f)
        fail_msg("%s: %s", path, sf_strerror(NULL));
    short x[800];
    for (int i = 0; i < 800; i++)
        x[i] = (short)lrint(8000.0 * sin(2 * M_PI * hz * i / 8000.0));
    assert_int_equal(sf_write_short(f, x, 800), 800);
    sf_close(f);
}

/* DIR/fsdd: digits 0-9 of speaker "ann" index 5 and 0 (test), digits 0-9 of
 * "bob" index 12, and 3_cy_7 and 3_cy_40: 22 train recordings, 10 test. */
static void make_fsdd(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/fsdd", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    for (int d = 0; d < 10; d++) {
        snprintf(path, sizeof path, "%s/fsdd/%d_ann_5.wav", dir, d);
        write_wav(path, 200 + 50 * d);
        snprintf(path, sizeof path, "%s/fsdd/%d_ann_0.wav", dir, d);
        write_wav(path, 300 + 50 * d);
        snprintf(path, sizeof path, "%s/fsdd/%d_bob_12.wav", dir, d);
        write_wav(path, 400 + 50 * d);
    }
    snprintf(path, sizeof path, "%s/fsdd/3_cy_7.wav", dir);
    write_wav(path, 500);
    snprintf(path, sizeof path, "%s/fsdd/3_cy_40.wav", dir);
    write_wav(path, 600);
}

/* DIR/data/mnist/train-*: N_IMAGES images, label i % 10, each a few blobs of
 * ink at places drawn from i (about 20% of the pixels). */
static void make_mnist(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/data", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/data/mnist", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    uint8_t *images = calloc(N_IMAGES, PIXELS), labels[N_IMAGES];
    assert_non_null(images);
    uint32_t s = 99;
    for (int i = 0; i < N_IMAGES; i++) {
        labels[i] = (uint8_t)(i % 10);
        uint8_t *img = images + (size_t)i * PIXELS;
        for (int k = 0; k < 6; k++) {
            s = s * 1664525u + 1013904223u;
            int cx = 6 + (int)(s >> 16) % 16, cy = 6 + (int)(s >> 8 & 0xff) % 16;
            for (int y = 0; y < SIDE; y++)
                for (int x = 0; x < SIDE; x++) {
                    double d = sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
                    int v = d < 2.5 ? 255 : d < 3.5 ? (int)(255 * (3.5 - d)) : 0;
                    if (v > img[y * SIDE + x])
                        img[y * SIDE + x] = (uint8_t)v;
                }
        }
    }
    snprintf(path, sizeof path, "%s/data/mnist/train-images-idx3-ubyte", dir);
    if (idx_write(path, 3, (uint32_t[]){N_IMAGES, SIDE, SIDE}, images) < 0)
        fail_msg("%s", err_msg());
    snprintf(path, sizeof path, "%s/data/mnist/train-labels-idx1-ubyte", dir);
    if (idx_write(path, 1, (uint32_t[]){N_IMAGES}, labels) < 0)
        fail_msg("%s", err_msg());
    free(images);
}

/* DIR/ae-encoder.ssm: a fresh 784 -> 32 layer, weights U(-4/sqrt(784), ..) so
 * that the hidden neurons fire some of the time from step 0 on, not always. */
static void make_model(void)
{
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    lif_layer *l = lif_layer_new(PIXELS, HIDDEN, 1, &lp, &op, NULL);
    assert_non_null(l);
    lif_layer_init_uniform(l, SEED, 1, 4.0f / 28.0f);
    model *m = model_from_layer(l, "ae-encoder");
    assert_non_null(m);
    m->steps = STEPS;
    m->r_max = 1;
    m->seed = SEED;
    char path[256];
    snprintf(path, sizeof path, "%s/ae-encoder.ssm", dir);
    if (model_save(m, path) < 0)
        fail_msg("%s", err_msg());
    model_destroy(&m);
    lif_layer_destroy(&l);
}

static void ensure_fixture(void)
{
    static bool made;
    if (made)
        return;
    make_fsdd();
    make_mnist();
    make_model();
    made = true;
}

/* The train recordings in id order, as audio_list lists them. */
static audio_list *train_list(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/fsdd", dir);
    audio_list *l = audio_list_new();
    if (!l || audio_list_add(l, path) < 0 || audio_list_filter(l, AUDIO_LIST_TRAIN, 0) < 0)
        fail_msg("%s", err_msg());
    return l;
}

/* Runs make-targets.pipe (dataset, th) into DIR/TAG; the runner's exit status,
 * its stderr in err (static). */
static int run_targets(const char *tag, const char *dataset, int th, const char **err_text)
{
    static char v_data[300], v_fsdd[300], v_ae[300], v_targets[300], v_dataset[64], v_th[64],
        out[256], err[256];
    snprintf(v_data, sizeof v_data, "data=%s/data", dir);
    snprintf(v_fsdd, sizeof v_fsdd, "fsdd=%s/fsdd", dir);
    snprintf(v_ae, sizeof v_ae, "ae=%s/ae", dir);
    snprintf(v_targets, sizeof v_targets, "targets=%s/%s.ssmap", dir, tag);
    snprintf(v_dataset, sizeof v_dataset, "dataset=%s", dataset);
    snprintf(v_th, sizeof v_th, "th=%d", th);
    snprintf(out, sizeof out, "%s/%s", dir, tag);
    snprintf(err, sizeof err, "%s/%s.stderr", dir, tag);
    const char *vars[] = {v_data, v_fsdd, v_ae, v_targets, v_dataset, v_th, "seed=7", "batch=4", "-q", NULL};
    double took;
    live = proc_run_start("run", "pipelines/make-targets.pipe", out, err, vars);
    int rc = proc_finish(live, 60, &took);
    live = 0;
    *err_text = proc_slurp(err);
    return rc;
}

/* The maps must be what ae-encoder computes from the paired images, step by step. */
static void check_targets(const char *rule, int th)
{
    ensure_fixture();
    char tag[32], path[256];
    snprintf(tag, sizeof tag, "targets-%s-%d", rule, th);
    const char *err;
    int rc = run_targets(tag, rule, th, &err);
    if (rc != 0)
        fail_msg("make-targets.pipe dataset=%s th=%d: exit %d: %s", rule, th, rc, err);
    snprintf(path, sizeof path, "%s/%s.ssmap", dir, tag);
    spike_maps *m = spike_maps_load(path);
    if (!m)
        fail_msg("%s", err_msg());
    audio_list *list = train_list();
    snprintf(path, sizeof path, "%s/data", dir);
    dataset *train = dataset_load_images(path, "mnist", "train", 0);
    pairing_classes *classes = train ? pairing_classes_new(train) : NULL;
    if (!train || !classes)
        fail_msg("%s", err_msg());

    assert_int_equal(list->n, 22);
    assert_int_equal(m->n, list->n);
    assert_int_equal(m->width, HIDDEN);
    assert_int_equal(m->steps, th);
    assert_int_equal(m->dataset, rule[0]);
    assert_int_equal(m->seed, SEED);
    assert_non_null(strstr(m->source, "/ae-encoder.ssm"));

    /* the same computation in this process, batch by batch as the pipeline ran it */
    model *enc = model_load(m->source);
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    lif_layer *layer = lif_layer_new(PIXELS, HIDDEN, BATCH, &lp, &op, NULL);
    if (!enc || !layer || model_to_layer(enc, layer) < 0)
        fail_msg("%s", err_msg());
    poisson_params pp = {.seed = SEED, .r_max = 1};
    float pixels[BATCH * PIXELS], x[BATCH * PIXELS], got[HIDDEN];
    uint32_t ids[BATCH];
    size_t images_seen[N_IMAGES] = {0}, on = 0, total = 0, kept_on = 0;
    for (size_t start = 0; start < list->n; start += BATCH) {
        int rows = list->n - start < BATCH ? (int)(list->n - start) : BATCH;
        for (int r = 0; r < rows; r++) {
            uint32_t id = (uint32_t)(start + (size_t)r);
            int label = audio_list_label(list->paths[id]);
            int image = rule[0] == 'A' ? pairing_dataset_a(train, label)
                                          : pairing_dataset_b(classes, label, SEED, id);
            assert_true(image >= 0);
            long i = spike_maps_find(m, id);
            assert_int_equal(i, (long)id);
            assert_int_equal(m->labels[i], label);
            assert_int_equal(m->images[i], image);
            assert_int_equal(train->labels[image], label);
            images_seen[image]++;
            ids[r] = id;
            memcpy(pixels + (size_t)r * PIXELS, train->images + (size_t)image * PIXELS,
                   PIXELS * sizeof(float));
        }
        assert_int_equal(lif_layer_begin_batch(layer, rows), 0);
        for (int t = 0; t < STEPS; t++) {
            poisson_encode(&pp, pixels, ids, rows, PIXELS, t, x);
            assert_int_equal(lif_layer_forward(layer, x), 0);
            for (int j = 0; j < rows * HIDDEN; j++)
                on += layer->spikes[j] != 0;
            total += (size_t)rows * HIDDEN;
            for (int r = 0; t < th && r < rows; r++) {
                spike_maps_step(m, (size_t)ids[r], (uint32_t)t, got);
                if (memcmp(got, layer->spikes + (size_t)r * HIDDEN, sizeof got) != 0)
                    fail_msg("dataset %s th %d: map of id %u differs at step %d", rule, th,
                             ids[r], t);
                for (int j = 0; j < HIDDEN; j++)
                    kept_on += got[j] != 0;
            }
        }
    }
    /* a fair test: maps neither empty nor saturated */
    double rate = (double)on / (double)total;
    if (rate < 0.05 || rate > 0.95 || kept_on == 0)
        fail_msg("hidden firing rate %.3f, %zu spikes kept: the fixture tests little", rate, kept_on);
    /* A: one image per digit; B: the 22 recordings spread over several images */
    size_t distinct = 0;
    for (int i = 0; i < N_IMAGES; i++)
        distinct += images_seen[i] > 0;
    if (rule[0] == 'A')
        assert_int_equal(distinct, 10);
    else if (distinct < 15)
        fail_msg("Dataset B paired 22 recordings with only %zu images", distinct);

    snprintf(path, sizeof path, "%s/%s/maps.png", dir, tag);
    assert_int_equal(access(path, R_OK), 0);
    model_destroy(&enc);
    lif_layer_destroy(&layer);
    pairing_classes_destroy(&classes);
    dataset_destroy(&train);
    audio_list_destroy(&list);
    spike_maps_destroy(&m);
}

static void test_dataset_a_th15(void **state)
{
    (void)state;
    check_targets("A", 15);
}

static void test_dataset_b_th5(void **state)
{
    (void)state;
    check_targets("B", 5);
}

static void test_dataset_a_th1(void **state)
{
    (void)state;
    check_targets("A", 1);
}

/* spectrogram, given the same inputs, names the ids as pair-source does. */
static void test_ids_agree_with_spectrogram(void **state)
{
    (void)state;
    ensure_fixture();
    char input[256], manifest[300], mine[300], err[300];
    const char *e;
    if (run_targets("ids", "A", 15, &e) != 0)
        fail_msg("make-targets.pipe: %s", e);
    snprintf(input, sizeof input, "%s/fsdd", dir);
    snprintf(manifest, sizeof manifest, "--manifest=%s/spectrogram-manifest.csv", dir);
    snprintf(err, sizeof err, "%s/spectrogram.stderr", dir);
    const char *argv[] = {"bin/spectrogram", "--name=spec", "--input", input, "--split=train",
                          manifest, "--frames=20", NULL};
    live = proc_spawn(argv, err);
    int rc = proc_finish(live, 30, NULL);
    live = 0;
    if (rc != 0)
        fail_msg("spectrogram: exit %d: %s", rc, proc_slurp(err));
    snprintf(mine, sizeof mine, "%s/ids/manifest.csv", dir);
    char *a = strdup(proc_slurp(mine));
    snprintf(manifest, sizeof manifest, "%s/spectrogram-manifest.csv", dir);
    const char *b = proc_slurp(manifest);
    assert_non_null(strstr(a, "fsdd/0_ann_5.wav,0\n"));
    assert_string_equal(a, b);
    free(a);
}

/* A recording without a digit stops pair-source with its name. */
static void test_unlabelled_recording(void **state)
{
    (void)state;
    ensure_fixture();
    char bad[256], path[300], err[300], data[300], out[300];
    snprintf(bad, sizeof bad, "%s/unlabelled", dir);
    assert_int_equal(mkdir(bad, 0755), 0);
    snprintf(path, sizeof path, "%s/2_ann_9.wav", bad);
    write_wav(path, 440);
    snprintf(path, sizeof path, "%s/hello.wav", bad);
    write_wav(path, 440);
    snprintf(err, sizeof err, "%s/unlabelled.stderr", dir);
    snprintf(data, sizeof data, "--data=%s/data", dir);
    snprintf(out, sizeof out, "images=ipc://%s/unlabelled.ipc", dir);
    const char *argv[] = {"bin/pair-source", "--name=src", "--input", bad, "--split=all", data,
                          "--out", out, NULL};
    live = proc_spawn(argv, err);
    int rc = proc_finish(live, 30, NULL);
    live = 0;
    const char *msg = proc_slurp(err);
    if (rc != 1 || !strstr(msg, "hello.wav: not an FSDD name"))
        fail_msg("pair-source exit %d, expected 1 naming hello.wav: %s", rc, msg);
}

static void test_th_above_steps(void **state)
{
    (void)state;
    ensure_fixture();
    const char *err;
    int rc = run_targets("th20", "A", 20, &err);
    if (rc != 1 || !strstr(err, "--th 20: must be in 1..15"))
        fail_msg("make-targets.pipe th=20: exit %d, expected 1 naming --th: %s", rc, err);
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 0); /* the kernel and denormal mode the stages run with */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_dataset_a_th15, reap_leftover),
        cmocka_unit_test_teardown(test_dataset_b_th5, reap_leftover),
        cmocka_unit_test_teardown(test_dataset_a_th1, reap_leftover),
        cmocka_unit_test_teardown(test_ids_agree_with_spectrogram, reap_leftover),
        cmocka_unit_test_teardown(test_unlabelled_recording, reap_leftover),
        cmocka_unit_test_teardown(test_th_above_steps, reap_leftover),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
