/* ae-train: the MNIST spiking autoencoder trained in one process (no
 * pipeline), by either learning rule: the paper's eligibility traces or BPTT.
 *
 *   bin/ae-train --learning=bptt --model=models/ae-mnist [--limit=N] [--epochs=N]
 *
 * Writes MODEL-encoder.ssm and MODEL-decoder.ssm (the files the training
 * pipeline writes, so eval-ae-mnist.pipe scores them), the loss of every batch
 * as CSV (--loss-csv, with its curve beside it: x.csv -> x.png) and the
 * training figures as JSON (--metrics). --checkpoint-every=N keeps a
 * checkpoint of both layers every N batches, --resume goes on from the newest
 * (data/checkpoint.h), to the same bits. Each rule has its own tuned lr and
 * Adam reading (train_options_setting); options given on the command line
 * override them.
 *
 * As the training pipeline: the paths are checked before any work (exit 2),
 * an existing model is replaced only with --force, both files record their
 * lineage (each the other's initial and final weights), and Ctrl-C stops at
 * the next batch and saves NAME.checkpoint.ssm beside each, leaving the
 * models as they were (exit 130). */
#include "core/clock.h"
#include "core/err.h"
#include "core/interrupt.h"
#include "core/json_out.h"
#include "core/log.h"
#include "core/options.h"
#include "core/preflight.h"
#include "core/progress.h"
#include "data/checkpoint.h"
#include "data/dataset.h"
#include "data/loss_log.h"
#include "data/model.h"
#include "numerics/blas.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"
#include "numerics/train_options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t model_bytes(const options *o);

static const option_spec specs[] = {
    {"data", OPT_STRING, "data", "the data directory (scripts/fetch-data)"},
    {"dataset", OPT_STRING, "mnist", "mnist or fashion-mnist", .choices = "mnist|fashion-mnist"},
    {"limit", OPT_INT, "0", "train on the first N images (0: all)", .min = "0"},
    {"epochs", OPT_INT, "1", "passes over the images", .min = "1"},
    {"batch", OPT_INT, "100", "samples per batch", .min = "1", .max = "4096"},
    {"steps", OPT_INT, "15", "time steps T per sample", .min = "1", .max = "10000"},
    {"r-max", OPT_FLOAT, "1", "Poisson rate of a white pixel per step", .min = "0", .max = "1"},
    {"hidden", OPT_INT, "196", "hidden neurons", .min = "1", .max = "65536"},
    {"shuffle", OPT_BOOL, "true", "visit the images in a random order drawn from (seed, epoch)"},
    {"mask", OPT_BOOL, "true", "the XOR mask of the loss"},
    {"model", OPT_STRING, "models/ae-mnist", "writes MODEL-encoder.ssm and MODEL-decoder.ssm (existing "
     "ones only with --force; interrupted: MODEL-*.checkpoint.ssm)", .path = OPT_PATH_WRITE | OPT_PATH_KEEP,
     .suffixes = "-encoder.ssm|-decoder.ssm", .bytes = model_bytes},
    {"metrics", OPT_STRING, "", "write the training figures here (JSON)", .path = OPT_PATH_WRITE},
    {"loss-csv", OPT_STRING, "", "write the loss of every batch here (CSV, and its plot as .png)",
     .path = OPT_PATH_WRITE},
    TRAIN_OPTION_SPECS,
    {NULL},
};

/* Each layer's file: 784 x hidden weights (W1 and W2 alike). */
static uint64_t model_bytes(const options *o) { return model_file_bytes(784, (int)options_int(o, "hidden")); }

static int read_config(const options *o, snn_config *cfg)
{
    *cfg = snn_config_default();
    if (train_options_read(o, &cfg->lif, &cfg->opt, &cfg->learn) != 0)
        return -1;
    cfg->n_hidden = (int)options_int(o, "hidden");
    /* the training pipeline's U(-0.1, 0.1) unless asked otherwise */
    cfg->init_scale = options_given(o, "init-scale") ? (float)options_float(o, "init-scale") : 0.1f;
    cfg->mask = options_bool(o, "mask");
    cfg->seed = (uint64_t)options_int(o, "seed");
    return 0;
}

/* One batch of images (by index through order): T steps of Poisson spikes,
 * the autoencoder's own input as the target. */
static int train_batch(snn *net, const dataset *ds, const uint32_t *order, int n, int steps,
                       const poisson_params *pp, float *img, float *x, uint32_t *ids, loss_stats *st)
{
    for (int b = 0; b < n; b++) {
        ids[b] = order[b];
        memcpy(img + (size_t)b * 784, ds->images + (size_t)order[b] * 784, 784 * sizeof(float));
    }
    if (snn_begin_batch(net, n) != 0)
        return -1;
    for (int t = 0; t < steps; t++) {
        poisson_encode(pp, img, ids, n, 784, (uint32_t)t, x);
        if (snn_train_step(net, x, x, st) != 0)
            return -1;
    }
    return snn_end_batch(net);
}

/* What the files record of the run: its settings and progress. */
static model run_info(const options *o, int epochs, int64_t batches, int64_t samples)
{
    return (model){.steps = (int32_t)options_int(o, "steps"), .r_max = (float)options_float(o, "r-max"),
                   .mask = options_bool(o, "mask"), .seed = (uint64_t)options_int(o, "seed"),
                   .epochs = epochs, .batches = batches, .samples = samples};
}

static void layer_path(char *buf, size_t cap, const options *o, const char *layer)
{
    snprintf(buf, cap, "%s-%s.ssm", options_str(o, "model"), layer);
}

/* The two layers, each with the other's lineage (init: the weights before
 * training, by layer): at the end as models (complete) or, interrupted, as
 * checkpoints beside them; periodic: as checkpoints only. Their files are
 * the training pipeline's, so either can resume the other's. */
static int save_models(const snn *net, const options *o, const model *run, const uint64_t init[2],
                       bool complete, bool periodic)
{
    char enc[4096], dec[4096];
    layer_path(enc, sizeof enc, o, "encoder");
    layer_path(dec, sizeof dec, o, "decoder");
    model ie = *run, id = *run;
    ie.lineage = (model_lineage){.init = init[0], .pair_init = init[1], .pair_final = model_layer_hash(net->output)};
    id.lineage = (model_lineage){.init = init[1], .pair_init = init[0], .pair_final = model_layer_hash(net->hidden)};
    if (periodic)
        return checkpoint_save(net->hidden, "ae-encoder", &ie, enc) < 0 ? -1
                                                                        : checkpoint_save(net->output, "ae-decoder", &id, dec);
    if (model_layer_keep_said(net->hidden, "ae-encoder", &ie, enc, complete, "W1") != 0 ||
        model_layer_keep_said(net->output, "ae-decoder", &id, dec, complete, "W2") != 0)
        return -1;
    if (complete) {
        checkpoint_remove(enc);
        checkpoint_remove(dec);
    }
    return 0;
}

/* --resume: both layers from the newest checkpoint both hold (or the one of
 * N batches); info gets its progress and the last batch's loss. */
static int resume_models(snn *net, const options *o, model *info)
{
    int64_t batches = 0;
    char enc[4096], dec[4096];
    layer_path(enc, sizeof enc, o, "encoder");
    layer_path(dec, sizeof dec, o, "decoder");
    const char *paths[] = {enc, dec};
    const int mode = checkpoint_resume_point(paths, 2, options_str(o, "resume"), &batches);
    if (mode <= 0)
        return mode;
    if (checkpoint_restore(net->hidden, "ae-encoder", enc, batches, info) < 0 ||
        checkpoint_restore(net->output, "ae-decoder", dec, batches, info) < 0)
        return -1;
    log_info("resuming after batch %lld (%lld samples) from the checkpoints of %s", (long long)info->batches,
             (long long)info->samples, options_str(o, "model"));
    return 0;
}

/* The paths before any work, as a stage's (exit 2). 1: --preflight, done. */
static int preflight(const options *o)
{
    if (preflight_check(o) < 0)
        return -1;
    if (options_bool(o, "preflight"))
        return 1;
    return preflight_prepare(o);
}

/* Traces: the steps each layer's gradient took by each kernel (trace_rule). */
static void metrics_kernels(json_out *j, const snn *net)
{
    const lif_layer *layers[] = {net->hidden, net->output};
    const char *names[] = {"trace_kernel_steps_hidden", "trace_kernel_steps_output"};
    for (int l = 0; l < 2; l++) {
        long rows, events, sparse;
        lif_layer_trace_kernel_steps(layers[l], &rows, &events, &sparse);
        char v[96];
        snprintf(v, sizeof v, "rows %ld, events %ld, sparse errors %ld", rows, events, sparse);
        json_out_str(j, names[l], v);
    }
}

static int write_metrics(const char *path, const snn *net, const snn_config *cfg, const loss_stats *last,
                         int64_t samples, double seconds)
{
    if (!*path)
        return 0;
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "learning", train_options_learning_name(&cfg->learn, &cfg->lif));
    json_out_int(&j, "window", cfg->learn.window);
    json_out_num(&j, "lr", cfg->opt.lr);
    json_out_int(&j, "hidden", cfg->n_hidden);
    json_out_num(&j, "loss", loss_stats_mean(last));
    json_out_num(&j, "masked_fraction", loss_stats_masked_fraction(last));
    json_out_int(&j, "samples", samples);
    json_out_num(&j, "train_seconds", seconds);
    json_out_num(&j, "samples_per_s", samples / seconds);
    if (cfg->learn.rule == LEARN_TRACES)
        metrics_kernels(&j, net);
    int rc = json_out_write(&j, path);
    json_out_free(&j);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_name("ae-train");
    int rc = 1;
    options *o = options_new("ae-train", "train the MNIST spiking autoencoder in one process", specs, NULL);
    snn *net = NULL;
    dataset *ds = NULL;
    float *img = NULL, *x = NULL;
    uint32_t *order = NULL, *ids = NULL;
    progress *pg = NULL;
    loss_log *csv = NULL;
    snn_config cfg;
    int parsed = o ? options_parse(o, argc, argv, stdout) : -1;
    if (parsed == 0)
        parsed = preflight(o);
    if (parsed != 0) {
        if (parsed < 0)
            log_error("%s", err_msg());
        options_destroy(&o);
        return parsed > 0 ? 0 : 2;
    }
    const int batch = (int)options_int(o, "batch"), steps = (int)options_int(o, "steps");
    const int epochs = (int)options_int(o, "epochs");
    if (read_config(o, &cfg) != 0 || blas_init(argv, (int)options_int(o, "threads")) != 0 ||
        !(ds = dataset_load_images(options_str(o, "data"), options_str(o, "dataset"), "train",
                                   (size_t)options_int(o, "limit"))))
        goto done;
    if (train_options_schedule(&cfg.opt, &cfg.learn, steps, 0,
                               (int64_t)epochs * (int64_t)((ds->n + (size_t)batch - 1) / (size_t)batch)) != 0)
        goto done;
    if (!(net = snn_new(&cfg, batch)))
        goto done;
    const uint64_t init[2] = {model_layer_hash(net->hidden), model_layer_hash(net->output)};
    img = malloc(sizeof(float) * batch * 784);
    x = malloc(sizeof(float) * batch * 784);
    ids = malloc(sizeof(uint32_t) * batch);
    order = malloc(sizeof(uint32_t) * ds->n);
    if (!img || !x || !ids || !order || !(pg = progress_new((uint64_t)ds->n * epochs, 0))) {
        err_set("ae-train: out of memory");
        goto done;
    }
    if (*options_str(o, "loss-csv")) {
        if (!(csv = loss_log_new(options_str(o, "loss-csv"))))
            goto done;
    }
    interrupt_catch(); /* Ctrl-C from here on: stop at the next batch, keep a checkpoint */
    log_info("training %d-%d-784 by %s (lr %g) on %zu images, %d epoch(s)", 784, cfg.n_hidden,
             train_options_learning_name(&cfg.learn, &cfg.lif), cfg.opt.lr, ds->n, epochs);
    poisson_params pp = {.seed = cfg.seed, .r_max = (float)options_float(o, "r-max")};
    model info = run_info(o, epochs, 0, 0);
    if (resume_models(net, o, &info) < 0)
        goto done;
    const int64_t every = options_int(o, "checkpoint-every");
    int64_t samples = info.samples, batches = info.batches, e0;
    size_t s0;
    loss_stats last = info.state.loss;
    checkpoint_position(batches, ds->n, (size_t)batch, &e0, &s0);
    const double t0 = clock_now();
    for (int e = (int)e0; e < epochs && !interrupt_caught(); e++) {
        for (size_t i = 0; i < ds->n; i++)
            order[i] = (uint32_t)i;
        if (options_bool(o, "shuffle"))
            rng_shuffle(cfg.seed, (uint32_t)e, order, ds->n);
        for (size_t b0 = e == e0 ? s0 : 0; b0 < ds->n && !interrupt_caught(); b0 += (size_t)batch) {
            const int n = ds->n - b0 < (size_t)batch ? (int)(ds->n - b0) : batch;
            loss_stats st = {0};
            if (train_batch(net, ds, order + b0, n, steps, &pp, img, x, ids, &st) != 0)
                goto done;
            samples += n;
            batches++;
            last = st;
            if (csv)
                loss_log_add(csv, e, batches, samples, &st);
            progress_update(pg, (uint64_t)batches, (uint64_t)samples, loss_stats_mean(&st));
            info = run_info(o, e + (b0 + (size_t)n >= ds->n), batches, samples);
            info.state.loss = last;
            if (every > 0 && batches % every == 0 && save_models(net, o, &info, init, true, true) != 0)
                goto done;
        }
    }
    const double seconds = clock_now() - t0;
    progress_finish(pg);
    log_info("trained %lld samples in %.1f s (%.0f samples/s)", (long long)samples, seconds, samples / seconds);
    char title[128];
    snprintf(title, sizeof title, "ae-train: %s, 784-%d-784, %d epoch(s)",
             train_options_learning_name(&cfg.learn, &cfg.lif), cfg.n_hidden, epochs);
    const bool complete = !interrupt_caught();
    info = run_info(o, (int)(samples / (int64_t)ds->n), batches, samples);
    info.state.loss = last;
    if (save_models(net, o, &info, init, complete, false) != 0 || (csv && loss_log_finish(&csv, title) != 0) ||
        write_metrics(options_str(o, "metrics"), net, &cfg, &last, samples, seconds) != 0)
        goto done;
    rc = complete ? 0 : 130;
done:
    if (rc != 0)
        log_error("%s", err_msg());
    loss_log_destroy(&csv);
    progress_destroy(&pg);
    snn_destroy(&net);
    dataset_destroy(&ds);
    free(img);
    free(x);
    free(ids);
    free(order);
    options_destroy(&o);
    return rc;
}
