/* test_ae_pipeline: the MNIST autoencoder pipelines end to end, on a small
 * synthetic MNIST written by the test (run from the repo root, after make):
 *  - train-ae-mnist.pipe gives weights bit-identical to the same training in
 *    one process (snn_train_step on the same Poisson spikes), and they moved;
 *    and the same again with --transport=zmq (no shared-memory lanes);
 *  - eval-ae-mnist.pipe writes finite metrics for every test image and a PNG;
 *  - bin/ae-train, like the pipeline, writes models with their lineage,
 *    refuses to replace them without --force, and on Ctrl-C keeps them and
 *    saves checkpoints (exit 130);
 *  - SIGKILL of any stage of either pipeline makes the runner fail within 5 s
 *    naming it, with no process left behind;
 *  - ae-encoder run by hand rejects an out-of-order frame and a frame of another
 *    width than its HELLO (stage level: the link checks themselves are in
 *    test_link and test_frame).
 * SPIKESYNTH_QUICK (the sanitizer run) trains on fewer images. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "tmpdir.h"

#include "numerics/blas.h"
#include "data/dataset.h"
#include "core/err.h"
#include "transport/frame.h"
#include "data/idx.h"
#include "transport/link.h"
#include "data/model.h"
#include "numerics/poisson.h"
#include "mnist_fixture.h"
#include "process.h"
#include "numerics/rng.h"
#include "numerics/snn.h"
#include "numerics/train_options.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define N_TEST 60
#define N_LONG 10000 /* test images of the data set that the evaluator's kill runs on */
#define HIDDEN 32
#define BATCH 50
#define STEPS 15
#define SEED 7

static char dir[64];
static int n_train = 200;
static pid_t live = 0; /* a child still to be killed if an assertion ends the test */

static int group_setup(void **state)
{
    (void)state;
    if (getenv("SPIKESYNTH_QUICK"))
        n_train = 100;
    snprintf(dir, sizeof dir, "/tmp/test_ae_pipeline-XXXXXX");
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

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* The fixture (DIR/data: n_train + 60 images; DIR/long: 10000 test images), once. */
static void ensure_data(void)
{
    static bool made;
    if (made)
        return;
    char path[256];
    path_in(path, sizeof path, "data");
    mnist_fixture_write(path, (uint32_t)n_train, N_TEST);
    path_in(path, sizeof path, "long");
    mnist_fixture_write(path, (uint32_t)n_train, N_LONG);
    made = true;
}

/* Runs a pipeline to completion (up to limit seconds); fails with its stderr. */
static void run_ok(const char *pipe, const char *const *vars, const char *tag, double limit)
{
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/%s", dir, tag);
    snprintf(err, sizeof err, "%s/%s.stderr", dir, tag);
    double took;
    live = proc_run_start("run", pipe, out, err, vars);
    int rc = proc_finish(live, limit, &took);
    live = 0;
    if (rc != 0)
        fail_msg("%s: exit %d after %.1f s: %s", pipe, rc, took, proc_slurp(err));
}

static char var_data[300], var_model[300], var_limit[64];

/* train-ae-mnist on the fixture, once: DIR/ae-encoder.ssm, DIR/ae-decoder.ssm. */
static void ensure_trained(void)
{
    static bool trained;
    ensure_data();
    if (trained)
        return;
    snprintf(var_data, sizeof var_data, "data=%s/data", dir);
    snprintf(var_model, sizeof var_model, "model=%s/ae", dir);
    snprintf(var_limit, sizeof var_limit, "train_limit=%d", n_train);
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=7", var_model, "-q", NULL};
    run_ok("pipelines/train-ae-mnist.pipe", vars, "train", 30);
    trained = true;
}

static void test_fixture_loads(void **state)
{
    (void)state;
    ensure_data();
    char path[256];
    path_in(path, sizeof path, "data");
    dataset *tr = dataset_load_images(path, "mnist", "train", 0);
    dataset *te = dataset_load_images(path, "mnist", "test", 0);
    if (!tr || !te)
        fail_msg("%s", err_msg());
    assert_int_equal(tr->n, (size_t)n_train);
    assert_int_equal(te->n, N_TEST);
    assert_int_equal(tr->n_pixels, PIXELS);
    size_t on = 0, grey = 0, n = tr->n * PIXELS;
    for (size_t i = 0; i < n; i++) {
        on += tr->images[i] > 0;
        grey += tr->images[i] > 0 && tr->images[i] < 1;
    }
    double frac = (double)on / (double)n;
    if (frac < 0.15 || frac > 0.3)
        fail_msg("%.3f of the pixels have ink, expected about 0.2", frac);
    assert_true(grey > 0);
    assert_int_equal(tr->labels[13], 3);
    /* distinct images */
    assert_memory_not_equal(tr->images, tr->images + PIXELS, PIXELS * sizeof(float));
    dataset_destroy(&tr);
    dataset_destroy(&te);
}

/* ---- b. the pipeline trains exactly as one process does ------------------------- */

static double max_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static model *load_layer(const char *name, const char *kind, int n_in, int n_out)
{
    char path[256];
    path_in(path, sizeof path, name);
    model *m = model_load(path);
    if (!m || model_expect(m, path, kind, n_in, n_out) < 0)
        fail_msg("%s", err_msg());
    return m;
}

static void expect_same(const char *what, const float *pipeline, const float *one, const float *init,
                        size_t n)
{
    if (memcmp(pipeline, one, n * sizeof *one) != 0)
        fail_msg("%s: the pipeline's weights differ from one process's: max |diff| %g", what,
                 max_diff(pipeline, one, n));
    double moved = max_diff(pipeline, init, n);
    if (!(moved > 1e-5))
        fail_msg("%s: training did not move the weights (max change %g)", what, moved);
}

/* One process, snn_train_step on the pipeline's spikes, against the model
 * files the pipeline wrote in DIR/PREFIX-{encoder,decoder}.ssm by the
 * --learning value LEARNING (its tuned settings) and bptt's window. */
static void expect_one_process(const char *learning, int window, const char *prefix)
{
    const train_setting *setting = train_options_setting(learning);
    assert_non_null(setting);
    char path[256];
    path_in(path, sizeof path, "data");
    dataset *ds = dataset_load_images(path, "mnist", "train", (size_t)n_train);
    if (!ds)
        fail_msg("%s", err_msg());
    snn_config cfg = snn_config_default();
    cfg.n_hidden = HIDDEN;
    cfg.seed = SEED;
    cfg.init_scale = 0.1f; /* train-ae-mnist.pipe's init_scale */
    /* traces: the stages' parts (with 1: W1 differs by ~2e-8); bptt goes by
     * whole steps, and its moments carry */
    cfg.parts = setting->rule == LEARN_TRACES ? SNN_PARTS : 1;
    cfg.learn = (learning_params){.rule = setting->rule, .window = window};
    cfg.lif.trace = setting->trace;
    const train_tuned tuned = setting->tuned;
    cfg.opt.lr = tuned.lr;
    cfg.opt.beta1 = tuned.beta1;
    cfg.opt.carry_moments = tuned.carry_moments;
    /* the stages learn the run's length from the source's frames */
    cfg.opt.cosine = tuned.cosine;
    assert_int_equal(train_options_schedule(&cfg.opt, &cfg.learn, STEPS, 0, (n_train + BATCH - 1) / BATCH), 0);
    snn *net = snn_new(&cfg, BATCH);
    assert_non_null(net);
    size_t n1 = (size_t)HIDDEN * PIXELS, n2 = (size_t)PIXELS * HIDDEN;
    float *w1 = malloc(n1 * sizeof(float)), *w2 = malloc(n2 * sizeof(float));
    float *x = malloc((size_t)BATCH * PIXELS * sizeof(float));
    assert_non_null(w1);
    assert_non_null(w2);
    assert_non_null(x);
    memcpy(w1, net->hidden->w, n1 * sizeof(float));
    memcpy(w2, net->output->w, n2 * sizeof(float));
    /* as image-source (train split, epoch 0, shuffled by (seed, epoch): id = image
     * index) and poisson-encoder */
    poisson_params pp = {.seed = SEED, .r_max = 1};
    uint32_t ids[BATCH];
    uint32_t *order = malloc(ds->n * sizeof *order);
    float *pixels = malloc((size_t)BATCH * PIXELS * sizeof(float));
    assert_non_null(order);
    assert_non_null(pixels);
    for (size_t i = 0; i < ds->n; i++)
        order[i] = (uint32_t)i;
    rng_shuffle(SEED, 0, order, ds->n);
    int batches = 0;
    for (size_t start = 0; start < ds->n; start += BATCH, batches++) {
        int rows = ds->n - start < BATCH ? (int)(ds->n - start) : BATCH;
        for (int r = 0; r < rows; r++) {
            ids[r] = order[start + (size_t)r];
            memcpy(pixels + (size_t)r * PIXELS, ds->images + (size_t)ids[r] * PIXELS,
                   PIXELS * sizeof(float));
        }
        assert_int_equal(snn_begin_batch(net, rows), 0);
        for (int t = 0; t < STEPS; t++) {
            poisson_encode(&pp, pixels, ids, rows, PIXELS, t, x);
            assert_int_equal(snn_train_step(net, x, x, NULL), 0);
        }
        assert_int_equal(snn_end_batch(net), 0);
    }
    char enc_name[64], dec_name[64];
    snprintf(enc_name, sizeof enc_name, "%s-encoder.ssm", prefix);
    snprintf(dec_name, sizeof dec_name, "%s-decoder.ssm", prefix);
    model *enc = load_layer(enc_name, "ae-encoder", PIXELS, HIDDEN);
    model *dec = load_layer(dec_name, "ae-decoder", HIDDEN, PIXELS);
    assert_int_equal(enc->samples, n_train);
    assert_int_equal(enc->batches, batches);
    assert_int_equal(dec->samples, n_train);
    assert_int_equal(enc->steps, STEPS);
    assert_int_equal(enc->seed, SEED);
    expect_same(enc_name, enc->w, net->hidden->w, w1, n1);
    expect_same(dec_name, dec->w, net->output->w, w2, n2);
    model_destroy(&enc);
    model_destroy(&dec);
    free(order);
    free(pixels);
    free(w1);
    free(w2);
    free(x);
    snn_destroy(&net);
    dataset_destroy(&ds);
}

static void test_train_matches_one_process(void **state)
{
    (void)state;
    ensure_trained();
    expect_one_process("traces", 0, "ae");
    /* the run's loss of every batch, and its curve */
    char path[256];
    path_in(path, sizeof path, "train/loss.csv");
    const char *csv = proc_slurp(path);
    int lines = 0;
    for (const char *p = csv; *p; p++)
        lines += *p == '\n';
    if (strncmp(csv, "epoch,batch,samples,loss,masked_fraction\n", 41) != 0 ||
        lines != 1 + (n_train + 49) / 50)
        fail_msg("%s: expected a header and %d batches, got %d lines:\n%s", path, (n_train + 49) / 50,
                 lines, csv);
    path_in(path, sizeof path, "train/loss.png");
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < 1000)
        fail_msg("no loss curve at %s", path);
}

/* bptt across processes: the decoder sends the window's error after its last
 * step; the same weights as one process, over whole samples and over windows
 * of 2 steps (a short last window). */
static void test_train_bptt_matches_one_process(void **state)
{
    (void)state;
    ensure_trained(); /* the data */
    for (int window = 0; window <= 2; window += 2) {
        char model_var[300], window_var[32], prefix[32];
        snprintf(prefix, sizeof prefix, "bptt%d", window);
        snprintf(model_var, sizeof model_var, "model=%s/%s", dir, prefix);
        snprintf(window_var, sizeof window_var, "window=%d", window);
        const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=7", model_var,
                              "learning=bptt", window_var, "-q", NULL};
        run_ok("pipelines/train-ae-mnist.pipe", vars, prefix, 30);
        expect_one_process("bptt", window, prefix);
    }
}

/* The authors' shared trace, with its tuned Adam (moments carried) and lr
 * schedule (a cosine over the stream's length, which the source says): the
 * same weights as one process. */
static void test_train_traces_shared_matches_one_process(void **state)
{
    (void)state;
    ensure_trained(); /* the data */
    char model_var[300];
    snprintf(model_var, sizeof model_var, "model=%s/shared", dir);
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=7", model_var,
                          "learning=traces-shared", "-q", NULL};
    run_ok("pipelines/train-ae-mnist.pipe", vars, "shared", 30);
    expect_one_process("traces-shared", 0, "shared");
}

/* The transport changes nothing: over ZeroMQ only (no shared-memory lanes) the
 * same training gives the same files' weights. */
static void test_train_same_over_zmq(void **state)
{
    (void)state;
    ensure_trained();
    char model_var[300];
    snprintf(model_var, sizeof model_var, "model=%s/zmq-ae", dir);
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=7", model_var,
                          "--transport=zmq", "-q", NULL};
    run_ok("pipelines/train-ae-mnist.pipe", vars, "train-zmq", 30);
    char log[300];
    path_in(log, sizeof log, "train-zmq/logs/enc.log");
    if (!strstr(proc_slurp(log), "links up: 0 through shared memory, 3 over ZeroMQ"))
        fail_msg("enc.log does not show ZeroMQ-only links: %s", proc_slurp(log));
    path_in(log, sizeof log, "train/logs/enc.log");
    if (!strstr(proc_slurp(log), "links up: 3 through shared memory, 0 over ZeroMQ"))
        fail_msg("enc.log of the default run does not show shared-memory links: %s",
                 proc_slurp(log));
    const char *kinds[] = {"ae-encoder", "ae-decoder"};
    for (int i = 0; i < 2; i++) {
        char a[32], b[32];
        snprintf(a, sizeof a, "ae-%s.ssm", kinds[i] + 3);
        snprintf(b, sizeof b, "zmq-ae-%s.ssm", kinds[i] + 3);
        model *lane = load_layer(a, kinds[i], 0, 0), *zmq = load_layer(b, kinds[i], 0, 0);
        size_t n = (size_t)lane->n_in * lane->n_out;
        assert_int_equal((size_t)zmq->n_in * zmq->n_out, n);
        if (memcmp(lane->w, zmq->w, n * sizeof *lane->w) != 0)
            fail_msg("%s: weights over ZeroMQ only differ from those through shared memory: max "
                     "|diff| %g", kinds[i], max_diff(lane->w, zmq->w, n));
        model_destroy(&lane);
        model_destroy(&zmq);
    }
}

/* ---- c. evaluation ----------------------------------------------------------- */

/* The number after "key": in a flat JSON object; fails when missing or not finite. */
static double json_number(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p)
        fail_msg("metrics.json has no key %s: %s", key, json);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    if (end == p + strlen(pat) || !isfinite(v))
        fail_msg("metrics.json: %s is not a finite number: %s", key, json);
    return v;
}

static void test_eval(void **state)
{
    (void)state;
    ensure_trained();
    const char *vars[] = {var_data, "test_limit=60", "batch=25", "seed=7", var_model, "-q", NULL};
    run_ok("pipelines/eval-ae-mnist.pipe", vars, "eval", 30);
    char path[256];
    path_in(path, sizeof path, "eval/metrics.json");
    const char *json = proc_slurp(path);
    const char *keys[] = {"mse", "spike_mse", "pearson_r", "pixel_mse", "n_samples"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        json_number(json, keys[i]);
    assert_int_equal((int)json_number(json, "n_samples"), N_TEST);
    double r = json_number(json, "pearson_r");
    assert_true(r >= -1 && r <= 1);
    assert_true(json_number(json, "mse") >= 0);
    path_in(path, sizeof path, "eval/grid.png");
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("no %s", path);
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, sizeof sig, f);
    fclose(f);
    assert_int_equal(got, 8);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
}

/* ---- c2. nothing lost (issue 15) --------------------------------------------- */

/* A pipeline's exit status, its stderr in DIR/TAG.stderr. */
static int run_rc(const char *pipe, const char *const *vars, const char *tag, double limit)
{
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/%s", dir, tag);
    snprintf(err, sizeof err, "%s/%s.stderr", dir, tag);
    live = proc_run_start("run", pipe, out, err, vars);
    int rc = proc_finish(live, limit, NULL);
    live = 0;
    return rc;
}

static uint64_t file_hash(const char *name)
{
    char path[256];
    path_in(path, sizeof path, name);
    model *m = model_load(path);
    if (!m)
        fail_msg("%s", err_msg());
    uint64_t h = model_hash(m);
    model_destroy(&m);
    return h;
}

/* Training over an existing model is refused before it starts, naming it. */
static void test_existing_model_needs_force(void **state)
{
    (void)state;
    ensure_trained();
    const uint64_t before = file_hash("ae-encoder.ssm");
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=8", var_model, "-q", NULL};
    assert_int_equal(run_rc("pipelines/train-ae-mnist.pipe", vars, "again", 10), 2);
    char path[256];
    path_in(path, sizeof path, "again.stderr");
    const char *e = proc_slurp(path);
    if (!strstr(e, "ae-encoder.ssm exists") || !strstr(e, "force=true"))
        fail_msg("the refusal does not name the model and force=true: %s", e);
    assert_true(file_hash("ae-encoder.ssm") == before);
}

/* An encoder and a decoder of two trainings are refused, naming both. */
static void test_mismatched_decoder(void **state)
{
    (void)state;
    ensure_trained();
    char other[300], mix_e[256], mix_d[256], src[256];
    snprintf(other, sizeof other, "model=%s/other", dir);
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=9", other, "-q", NULL};
    run_ok("pipelines/train-ae-mnist.pipe", vars, "train-other", 30);
    path_in(mix_e, sizeof mix_e, "mix-encoder.ssm");
    path_in(mix_d, sizeof mix_d, "mix-decoder.ssm");
    path_in(src, sizeof src, "ae-encoder.ssm");
    assert_int_equal(link(src, mix_e), 0);
    path_in(src, sizeof src, "other-decoder.ssm");
    assert_int_equal(link(src, mix_d), 0);
    char mix[300];
    snprintf(mix, sizeof mix, "model=%s/mix", dir);
    const char *ev[] = {var_data, "test_limit=60", "batch=25", mix, "-q", NULL};
    assert_int_equal(run_rc("pipelines/eval-ae-mnist.pipe", ev, "eval-mix", 30), 1);
    char path[256];
    path_in(path, sizeof path, "eval-mix.stderr");
    const char *e = proc_slurp(path);
    if (!strstr(e, "mix-decoder.ssm was trained with the encoder") || !strstr(e, "mix-encoder.ssm"))
        fail_msg("the refusal does not name both files: %s", e);
    /* the same set, checked as one: what make run asks before reusing models */
    const char *argv[] = {"bin/model-info", "--check", "--together", mix_e, mix_d, NULL};
    path_in(path, sizeof path, "together.stderr");
    assert_int_equal(proc_finish(proc_spawn(argv, path), 10, NULL), 1);
    path_in(mix_d, sizeof mix_d, "ae-decoder.ssm");
    path_in(mix_e, sizeof mix_e, "ae-encoder.ssm");
    assert_int_equal(proc_finish(proc_spawn(argv, path), 10, NULL), 0);
}

/* Ctrl-C in a training leaves the model as it was and keeps a checkpoint. */
static void test_interrupt_keeps_model(void **state)
{
    (void)state;
    ensure_trained();
    const uint64_t before = file_hash("ae-decoder.ssm");
    char out[256], err[256];
    snprintf(out, sizeof out, "%s/interrupted", dir);
    snprintf(err, sizeof err, "%s/interrupted.stderr", dir);
    const char *vars[] = {var_data, var_limit, "batch=50", "hidden=32", "seed=7", "epochs=500", var_model,
                          "force=true", NULL};
    live = proc_run_start("run", "pipelines/train-ae-mnist.pipe", out, err, vars);
    for (double t0 = clock_now(); !strstr(proc_slurp(err), "training W2") && clock_now() - t0 < 20;)
        usleep(20000);
    usleep(300000);
    kill(live, SIGINT);
    int rc = proc_finish(live, 40, NULL);
    live = 0;
    if (rc != 130)
        fail_msg("exit %d: %s", rc, proc_slurp(err));
    assert_true(file_hash("ae-decoder.ssm") == before);
    file_hash("ae-decoder.checkpoint.ssm"); /* loads */
    if (!strstr(proc_slurp(err), "left as it was"))
        fail_msg("the stage does not say the model was kept: %s", proc_slurp(err));
}

/* bin/ae-train with args (NULL-terminated) after its data and model options. */
static pid_t ae_train_start(const char *name, const char *err, const char *const *args)
{
    char data[300], m[300], limit[32];
    snprintf(data, sizeof data, "--data=%s/data", dir);
    snprintf(m, sizeof m, "--model=%s/%s", dir, name);
    snprintf(limit, sizeof limit, "--limit=%d", n_train);
    const char *argv[16] = {"bin/ae-train", data, m, limit, "--batch=50", "--hidden=32", "--threads=1"};
    int n = 7;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return proc_spawn(argv, err);
}

/* The two layers of a training (or their checkpoints) were trained together. */
static void assert_pair(const char *name, const char *suffix)
{
    char e[256], d[256];
    snprintf(e, sizeof e, "%s/%s-encoder%s", dir, name, suffix);
    snprintf(d, sizeof d, "%s/%s-decoder%s", dir, name, suffix);
    model *me = model_load(e), *md = model_load(d);
    if (!me || !md)
        fail_msg("%s", err_msg());
    assert_true(me->lineage.pair_final != 0 && md->lineage.pair_final != 0);
    if (model_check_pair(me, e, md, d) != 0)
        fail_msg("%s", err_msg());
    model_destroy(&me);
    model_destroy(&md);
}

/* The one-process trainer keeps models as the pipeline does. */
static void test_ae_train_keeps_models(void **state)
{
    (void)state;
    ensure_data();
    char err[256];
    path_in(err, sizeof err, "ae-train.stderr");
    const char *none[] = {NULL};
    if (proc_finish(ae_train_start("one", err, none), 60, NULL) != 0)
        fail_msg("ae-train: %s", proc_slurp(err));
    assert_pair("one", ".ssm");
    const uint64_t before = file_hash("one-decoder.ssm");
    /* again: refused before any work, naming the model and --force */
    assert_int_equal(proc_finish(ae_train_start("one", err, none), 10, NULL), 2);
    if (!strstr(proc_slurp(err), "one-encoder.ssm exists") || !strstr(proc_slurp(err), "--force"))
        fail_msg("the refusal does not name the model and --force: %s", proc_slurp(err));
    /* Ctrl-C during a long training: the models stay, checkpoints beside them */
    const char *forced[] = {"--force", "--epochs=100000", NULL};
    live = ae_train_start("one", err, forced);
    for (double t0 = clock_now(); !strstr(proc_slurp(err), "training 784-32-784") && clock_now() - t0 < 20;)
        usleep(20000);
    usleep(300000);
    kill(live, SIGINT);
    int rc = proc_finish(live, 30, NULL);
    live = 0;
    if (rc != 130)
        fail_msg("exit %d: %s", rc, proc_slurp(err));
    assert_true(file_hash("one-decoder.ssm") == before);
    assert_pair("one", ".checkpoint.ssm");
    if (!strstr(proc_slurp(err), "one-decoder.ssm left as it was"))
        fail_msg("ae-train does not say the model was kept: %s", proc_slurp(err));
}

/* ---- d. a killed stage ------------------------------------------------------- */

typedef struct {
    const char *name, *program; /* instance in the pipeline file, program */
    bool eval;                  /* in eval-ae-mnist.pipe, else train-ae-mnist.pipe */
} kill_case;

/* Waits until path contains needle (up to limit seconds). */
static bool wait_for_text(const char *path, const char *needle, double limit)
{
    double t0 = clock_now();
    while (clock_now() - t0 < limit) {
        if (strstr(proc_slurp(path), needle))
            return true;
        usleep(20 * 1000);
    }
    return false;
}

/* Starts a run of minutes (50 epochs, or 10000 test images), kills stage k once
 * frames flow, and checks how the runner ends. */
static void killed_stage(const kill_case *k)
{
    ensure_trained();
    char out[256], err[256], var_out_data[300], var_tmp_model[300], enc_log[300], expect[256];
    snprintf(out, sizeof out, "%s/kill-%s", dir, k->name);
    snprintf(err, sizeof err, "%s/kill-%s.stderr", dir, k->name);
    snprintf(enc_log, sizeof enc_log, "%s/logs/enc.log", out);
    snprintf(var_out_data, sizeof var_out_data, "data=%s/%s", dir, k->eval ? "long" : "data");
    /* a training run that did finish would not overwrite the evaluator's model */
    snprintf(var_tmp_model, sizeof var_tmp_model, "model=%s/kill-%s/ae", dir, k->name);
    const char *train_vars[] = {var_out_data, var_limit, "epochs=50", "batch=50", "hidden=32",
                                "seed=7", var_tmp_model, "-q", NULL};
    const char *eval_vars[] = {var_out_data, "seed=7", var_model, "-q", NULL};
    size_t want = k->eval ? 5 : 4;
    live = proc_run_start("run", k->eval ? "pipelines/eval-ae-mnist.pipe" : "pipelines/train-ae-mnist.pipe",
                          out, err, k->eval ? eval_vars : train_vars);
    proc_info ps[8];
    size_t n = proc_wait_children(live, want, ps, 8, 5);
    if (n != want)
        fail_msg("%zu of %zu stages started: %s", n, want, proc_slurp(err));
    /* the encoder logs its layer after GO: frames are flowing then */
    if (!wait_for_text(enc_log, " W1 ", 10))
        fail_msg("the run did not start: %s", proc_slurp(err));
    usleep(150 * 1000);
    /* listed again: the first list may show a child between fork and exec */
    n = proc_children(live, ps, 8);
    pid_t victim = proc_find(ps, n, k->program);
    if (n != want || victim <= 0)
        fail_msg("%zu stages, none of them %s: %s", n, k->program, proc_slurp(err));
    assert_int_equal(kill(victim, SIGKILL), 0);
    double took;
    int rc = proc_finish(live, 8, &took);
    live = 0;
    const char *msg = proc_slurp(err);
    if (rc != 1 || took >= 5.0)
        fail_msg("runner exit %d after %.2f s (expected 1 within 5 s): %s", rc, took, msg);
    snprintf(expect, sizeof expect, "error: stage %s (%s) killed by signal 9", k->name, k->program);
    if (!strstr(msg, expect))
        fail_msg("'%s' not in stderr: %s", expect, msg);
    proc_assert_all_gone(ps, n);
}

static void test_killed_image_source(void **state)
{
    (void)state;
    killed_stage(&(kill_case){"src", "image-source", false});
}

static void test_killed_poisson_encoder(void **state)
{
    (void)state;
    killed_stage(&(kill_case){"poisson", "poisson-encoder", false});
}

static void test_killed_ae_encoder(void **state)
{
    (void)state;
    killed_stage(&(kill_case){"enc", "ae-encoder", false});
}

static void test_killed_ae_decoder(void **state)
{
    (void)state;
    killed_stage(&(kill_case){"dec", "ae-decoder", false});
}

static void test_killed_evaluator(void **state)
{
    (void)state;
    killed_stage(&(kill_case){"eval", "evaluator", true});
}

/* ---- e. ae-encoder by hand: bad frames from a hand-driven sender ---------------- */

/* The upstream end as a raw DEALER: link_send would refuse to send what we test. */
typedef struct {
    void *sock;
    msgpack_sbuffer hdr;
} raw_peer;

static void raw_send(raw_peer *p, const spike_frame *f, const char *link, const void *payload,
                     size_t len)
{
    if (frame_encode(f, "", link, &p->hdr) < 0)
        fail_msg("%s", err_msg());
    assert_true(zmq_send(p->sock, p->hdr.data, p->hdr.size, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(p->sock, payload, len, 0) >= 0);
}

/* A frame of 2 rows of `width` spikes, batch 0 step `step` of 3. */
static spike_frame *raw_data(uint32_t step, uint32_t width)
{
    spike_frame *f = frame_new(&(frame_shape){FRAME_SPIKES, 2, width, 3});
    assert_non_null(f);
    f->batch = 2;
    f->width = width;
    f->steps = 3;
    f->batch_index = 0;
    f->step = step;
    f->ids[0] = 10;
    f->ids[1] = 11;
    return f;
}

/* Starts ae-encoder on ipc endpoints of its own, sends it a good step 0 (and
 * sees its hidden frame), then the bad frame (step, width); the stage must exit
 * 1 with needle in its stderr. */
static void encoder_rejects(const char *tag, uint32_t step, uint32_t width, const char *needle)
{
    char in_ep[200], out_ep[200], in_arg[220], out_arg[220], err[256];
    snprintf(in_ep, sizeof in_ep, "ipc://%s/%s.in", dir, tag);
    snprintf(out_ep, sizeof out_ep, "ipc://%s/%s.out", dir, tag);
    snprintf(in_arg, sizeof in_arg, "spikes=%s", in_ep);
    snprintf(out_arg, sizeof out_arg, "hidden=%s", out_ep);
    snprintf(err, sizeof err, "%s/%s.stderr", dir, tag);
    const char *argv[] = {"bin/ae-encoder", "--name=enc", "--in", in_arg, "--out", out_arg,
                          "--hidden=8", "--threads=1", "--connect-timeout=10", NULL};
    live = proc_spawn(argv, err);

    void *ctx = zmq_ctx_new();
    link_config cfg;
    link_config_default(&cfg);
    cfg.connect_timeout_ms = 10000;
    cfg.timeout_ms = 5000;
    raw_peer p = {zmq_socket(ctx, ZMQ_DEALER), {0}};
    msgpack_sbuffer_init(&p.hdr);
    zmq_setsockopt(p.sock, ZMQ_LINGER, &(int){0}, sizeof(int));
    assert_int_equal(zmq_connect(p.sock, in_ep), 0);
    spike_frame *hello = frame_new(&(frame_shape){FRAME_CONTROL, 0, 0, 0});
    frame_set_control(hello, FRAME_HELLO);
    strcpy(hello->stage, "raw");
    strcpy(hello->hello.type, "hand");
    strcpy(hello->hello.port, "out");
    hello->hello.out = true;
    hello->hello.shape = (frame_shape){FRAME_SPIKES, 2, 16, 3};
    raw_send(&p, hello, "", NULL, 0);
    /* the encoder opens its out-link once its input is agreed */
    spike_link *hid = link_new(ctx, &(link_identity){"sink", "test", ""}, "in", PORT_IN, out_ep,
                               &(frame_shape){FRAME_SPIKES, 2, 8, 3}, &cfg);
    if (!hid || link_handshake(&hid, 1) < 0)
        fail_msg("%s; encoder: %s", err_msg(), proc_slurp(err));
    assert_string_equal(link_name(hid), "enc.hidden->sink.in");
    spike_frame *h = link_frame_new(hid);
    uint8_t bits[2 * 3] = {0xff, 0x0f, 0xf0, 0xff, 0x5a, 0xa5};

    spike_frame *good = raw_data(0, 16), *bad = raw_data(step, width);
    raw_send(&p, good, "raw.out->enc.spikes", bits, 2 * 2);
    if (link_recv(hid, h) != 1)
        fail_msg("%s; encoder: %s", err_msg(), proc_slurp(err));
    assert_int_equal(h->step, 0);
    assert_int_equal(h->ids[1], 11);

    raw_send(&p, bad, "raw.out->enc.spikes", bits, 2 * frame_row_bytes(width));
    int rc = proc_finish(live, 5, NULL);
    live = 0;
    const char *msg = proc_slurp(err);
    if (rc != 1 || !strstr(msg, needle))
        fail_msg("ae-encoder exit %d, expected 1 with '%s': %s", rc, needle, msg);

    frame_destroy(&h);
    link_destroy(&hid);
    frame_destroy(&hello);
    frame_destroy(&good);
    frame_destroy(&bad);
    msgpack_sbuffer_destroy(&p.hdr);
    zmq_close(p.sock);
    zmq_ctx_term(ctx);
}

static void test_encoder_out_of_order(void **state)
{
    (void)state;
    encoder_rejects("order", 2, 16,
                    "enc: error: link raw.out->enc.spikes: out of order: expected batch 0 step 1 "
                    "of 3, received batch 0 step 2 (frames missing)");
}

static void test_encoder_wrong_width(void **state)
{
    (void)state;
    encoder_rejects("width", 1, 24, "link raw.out->enc.spikes: frame header: width 24, the link "
                                    "carries width 16");
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 0); /* the kernel and denormal mode the stages run with */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_loads),
        cmocka_unit_test_teardown(test_train_matches_one_process, reap_leftover),
        cmocka_unit_test_teardown(test_train_bptt_matches_one_process, reap_leftover),
        cmocka_unit_test_teardown(test_train_traces_shared_matches_one_process, reap_leftover),
        cmocka_unit_test_teardown(test_train_same_over_zmq, reap_leftover),
        cmocka_unit_test_teardown(test_eval, reap_leftover),
        cmocka_unit_test_teardown(test_existing_model_needs_force, reap_leftover),
        cmocka_unit_test_teardown(test_mismatched_decoder, reap_leftover),
        cmocka_unit_test_teardown(test_interrupt_keeps_model, reap_leftover),
        cmocka_unit_test_teardown(test_ae_train_keeps_models, reap_leftover),
        cmocka_unit_test_teardown(test_killed_image_source, reap_leftover),
        cmocka_unit_test_teardown(test_killed_poisson_encoder, reap_leftover),
        cmocka_unit_test_teardown(test_killed_ae_encoder, reap_leftover),
        cmocka_unit_test_teardown(test_killed_ae_decoder, reap_leftover),
        cmocka_unit_test_teardown(test_killed_evaluator, reap_leftover),
        cmocka_unit_test_teardown(test_encoder_out_of_order, reap_leftover),
        cmocka_unit_test_teardown(test_encoder_wrong_width, reap_leftover),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
