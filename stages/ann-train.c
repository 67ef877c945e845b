/* ann-train: the paper's ANN baselines and the digit judge, trained in one
 * process on the data the SNNs see, scored by the same metrics.
 *
 *   bin/ann-train --task=ae --optimizer=sgd --lr=0.1 --model=models/ae-ann-sgd
 *   bin/ann-train --task=classify --model=models/digit-classifier
 *   bin/ann-train --task=ac --ae=models/ae-ann-adam --th=2 --model=models/ac-ann-th2
 *
 * ae: AE-ANN 784-H-784 on MNIST or Fashion-MNIST, tested on the test split
 * (z-scored MSE of the outputs against the images, as the SNN's). classify:
 * an MLP 784-H-10 (ReLU, softmax, cross-entropy), test accuracy. ac: AC-ANN
 * inputs-H-196 from FSDD cochleagrams (the audiocoder's front end and size) to
 * an AE-ANN's hidden vector of the digit's Dataset A image, quantised to 2^Th
 * levels (--th 0: full precision), decoded by that AE-ANN's output layer and
 * scored against the Dataset A image. Models: ann_file (one .ssm per layer);
 * --classifier adds "read as the right digit" (data/judge.h) to metrics.json. */
#include "audio/audio.h"
#include "audio/audio_list.h"
#include "audio/cochlea.h"
#include "audio/cochleagram.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "core/options.h"
#include "core/progress.h"
#include "data/ann_file.h"
#include "data/dataset.h"
#include "data/image_grid.h"
#include "data/judge.h"
#include "data/loss_log.h"
#include "data/metrics.h"
#include "data/pairing.h"
#include "numerics/ann.h"
#include "numerics/blas.h"
#include "numerics/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const option_spec specs[] = {
    {"task", OPT_STRING, "ae", "ae (AE-ANN 784-H-784), classify (784-H-10 judge) or ac (AC-ANN on FSDD)",
     .choices = "ae|classify|ac"},
    {"data", OPT_STRING, "data", "the data directory (scripts/fetch-data)"},
    {"dataset", OPT_STRING, "mnist", "ae, classify: mnist or fashion-mnist", .choices = "mnist|fashion-mnist"},
    {"limit", OPT_INT, "0", "train on the first N images or recordings (0: all)", .min = "0"},
    {"test-limit", OPT_INT, "0", "test on the first N (0: all)", .min = "0"},
    {"epochs", OPT_INT, "1", "passes over the training data", .min = "1"},
    {"batch", OPT_INT, "100", "samples per batch", .min = "1", .max = "4096"},
    {"hidden", OPT_INT, "196", "hidden units", .min = "1", .max = "65536"},
    {"activation", OPT_STRING, "sigmoid", "of the hidden (and, ae and ac, the output) layer",
     .choices = "sigmoid|relu"},
    {"loss", OPT_STRING, "mse-mean", "ae, ac: mse-mean (over outputs and samples) or mse-sum (summed over "
     "outputs, mean over samples)", .choices = "mse-mean|mse-sum"},
    {"optimizer", OPT_STRING, "adam", "adam or sgd", .choices = "adam|sgd"},
    {"lr", OPT_FLOAT, "0.1", "learning rate (the paper's MNIST AE-ANN: 0.1)", .min = "0"},
    {"weight-decay", OPT_FLOAT, "1e-4", "added to the gradient of W as wd * W", .min = "0"},
    {"beta1", OPT_FLOAT, "0.9", "Adam", .min = "0", .max = "0.999999"},
    {"beta2", OPT_FLOAT, "0.999", "Adam", .min = "0", .max = "0.999999"},
    {"eps", OPT_FLOAT, "1e-8", "Adam", .min = "0"},
    {"init-scale", OPT_FLOAT, "0", "initial weights U(-s, s); 0: 1/sqrt(inputs)", .min = "0"},
    {"model", OPT_STRING, "models/ae-ann", "writes MODEL-layer1.ssm, MODEL-layer2.ssm"},
    {"metrics", OPT_STRING, "", "write the figures here (JSON)"},
    {"loss-csv", OPT_STRING, "", "write the loss of every batch here (CSV, and its plot as .png)"},
    {"grid", OPT_STRING, "", "ae, ac: PNG of test images above their reconstructions"},
    {"classifier", OPT_STRING, "", "ae, ac: a classifier (--task=classify's model) that reads each output"},
    {"ae", OPT_STRING, "models/ae-ann-adam", "ac: the AE-ANN whose hidden vectors are the targets"},
    {"th", OPT_INT, "0", "ac: quantise the targets to 2^th levels (0: full precision)", .min = "0", .max = "16"},
    {"fsdd", OPT_STRING, "", "ac: the recordings (default DATA/fsdd/recordings)"},
    {"frames", OPT_INT, "100", "ac: cochleagram frames (the audiocoder's default)", .min = "1"},
    {"decimation", OPT_INT, "80", "ac: cochlea decimation", .min = "1"},
    {"threads", OPT_INT, "0", "compute threads (0: all cores)"},
    {NULL},
};

/* A data set as the trainer sees it: inputs, targets, labels. */
typedef struct {
    size_t n, n_in, n_out;
    float *x, *t;      /* n x n_in, n x n_out */
    int32_t *label;    /* n */
    float *ref;        /* ac: the reference image of each sample (n x 784) */
} samples;

static void samples_free(samples *s)
{
    free(s->x);
    free(s->t);
    free(s->label);
    free(s->ref);
    *s = (samples){0};
}

static int samples_alloc(samples *s, size_t n, size_t n_in, size_t n_out, bool ref)
{
    *s = (samples){.n = n, .n_in = n_in, .n_out = n_out};
    if (!(s->x = calloc(n * n_in, sizeof *s->x)) || !(s->t = calloc(n * n_out, sizeof *s->t)) ||
        !(s->label = calloc(n, sizeof *s->label)) || (ref && !(s->ref = calloc(n * 784, sizeof *s->ref))))
        return err_set("ann-train: out of memory for %zu samples", n);
    return 0;
}

/* ae: images as their own targets; classify: one-hot labels. */
static int load_images(const options *o, const char *split, size_t limit, bool classify, samples *s)
{
    dataset *ds = dataset_load_images(options_str(o, "data"), options_str(o, "dataset"), split, limit);
    if (!ds)
        return -1;
    int rc = samples_alloc(s, ds->n, ds->n_pixels, classify ? DATASET_CLASSES : ds->n_pixels, false);
    if (rc == 0) {
        memcpy(s->x, ds->images, ds->n * ds->n_pixels * sizeof(float));
        for (size_t i = 0; i < ds->n; i++) {
            s->label[i] = ds->labels[i];
            if (classify)
                s->t[i * DATASET_CLASSES + ds->labels[i]] = 1;
        }
        if (!classify)
            memcpy(s->t, ds->images, ds->n * ds->n_pixels * sizeof(float));
    }
    dataset_destroy(&ds);
    return rc;
}

/* One recording's cochleagram (the spectrogram stage's front end with its
 * defaults at the file's own rate) into row: frames x channels. */
static int cochleagram_of(const char *path, int decimation, size_t frames, float *row, int *channels)
{
    audio *a = audio_read(path, NULL);
    cochlea_params p = cochlea_params_default();
    p.decimation = decimation;
    cochlea *c = a ? cochlea_new(a->fs, &p) : NULL;
    const float *fr;
    size_t n_frames;
    int rc = -1;
    if (c && cochlea_process(c, a->samples, a->n, &fr, &n_frames) == 0 &&
        (*channels = cochlea_n_channels(c), 1) &&
        cochleagram_make(fr, n_frames, *channels, row, frames) == 0)
        rc = 0;
    if (rc != 0)
        err_wrap("audio %s", path);
    cochlea_destroy(&c);
    audio_destroy(&a);
    return rc;
}

/* The FSDD recordings of one split, listed and filtered. */
static audio_list *fsdd_list(const options *o, const char *split, size_t limit)
{
    char dir[4096];
    audio_list_split sp;
    audio_list *l = audio_list_new();
    if (*options_str(o, "fsdd"))
        snprintf(dir, sizeof dir, "%s", options_str(o, "fsdd"));
    else
        snprintf(dir, sizeof dir, "%s/fsdd/recordings", options_str(o, "data"));
    if (!l || audio_list_add(l, dir) != 0 || audio_list_split_parse(split, &sp) != 0 ||
        audio_list_filter(l, sp, limit) != 0)
        audio_list_destroy(&l);
    return l;
}

/* ac: the AE-ANN's hidden vector of each digit's Dataset A image (hid, 10 x
 * H) quantised to 2^th levels of [0, top] (top 1 for a sigmoid, the largest
 * value for a ReLU), and the images themselves (img, 10 x 784). */
static int digit_targets(const options *o, ann *ae, float *hid, float *img)
{
    const int H = ae->cfg.sizes[1], th = (int)options_int(o, "th");
    int idx[DATASET_CLASSES];
    dataset *train = dataset_load_images(options_str(o, "data"), "mnist", "train", 0);
    if (!train || pairing_dataset_a_all(train, idx) != 0) {
        dataset_destroy(&train);
        return -1;
    }
    for (int d = 0; d < DATASET_CLASSES; d++)
        memcpy(img + (size_t)d * 784, train->images + (size_t)idx[d] * 784, 784 * sizeof(float));
    dataset_destroy(&train);
    ann_forward(ae, img, DATASET_CLASSES);
    memcpy(hid, ae->a[1], (size_t)DATASET_CLASSES * H * sizeof(float));
    if (th == 0)
        return 0;
    float top = 0;
    for (int i = 0; i < DATASET_CLASSES * H; i++)
        top = fmaxf(top, hid[i]);
    if (ae->cfg.act[0] == ANN_SIGMOID)
        top = 1;
    const float levels = (float)((1 << th) - 1);
    for (int i = 0; i < DATASET_CLASSES * H && top > 0; i++)
        hid[i] = roundf(hid[i] / top * levels) / levels * top;
    return 0;
}

/* ac: the cochleagrams of one FSDD split, each with its digit's target and
 * reference image. */
static int load_audio(const options *o, const char *split, size_t limit, const float *hid, int H,
                      const float *img, samples *s)
{
    audio_list *l = fsdd_list(o, split, limit);
    const size_t frames = (size_t)options_int(o, "frames");
    const int dec = (int)options_int(o, "decimation");
    float *row = NULL;
    int ch = 0, rc = -1;
    if (!l)
        return -1;
    if (!(row = malloc(frames * 256 * sizeof *row))) /* channels are far fewer than 256 */
        goto done;
    for (size_t i = 0; i < l->n; i++) {
        int c;
        if (cochleagram_of(l->paths[i], dec, frames, row, &c) != 0)
            goto done;
        if (i == 0 && samples_alloc(s, l->n, frames * (size_t)c, (size_t)H, true) != 0)
            goto done;
        ch = i == 0 ? c : ch;
        const int d = audio_list_label(l->paths[i]);
        if (c != ch || d < 0) {
            err_set("%s: %d channels (the first file had %d) or not an FSDD name", l->paths[i], c, ch);
            goto done;
        }
        memcpy(s->x + i * s->n_in, row, s->n_in * sizeof(float));
        memcpy(s->t + i * (size_t)H, hid + (size_t)d * H, (size_t)H * sizeof(float));
        memcpy(s->ref + i * 784, img + (size_t)d * 784, 784 * sizeof(float));
        s->label[i] = d;
    }
    log_info("%s: %zu recordings, %zu inputs (%d channels x %zu frames)", split, l->n, s->n_in, ch, frames);
    rc = 0;
done:
    free(row);
    audio_list_destroy(&l);
    return rc;
}

/* The network a task trains. */
static int make_config(const options *o, size_t n_in, size_t n_out, ann_config *c)
{
    const bool classify = !strcmp(options_str(o, "task"), "classify");
    ann_activation act;
    *c = (ann_config){.n_layers = 2, .sizes = {(int)n_in, (int)options_int(o, "hidden"), (int)n_out},
                      .opt = optim_params_default(), .init_scale = (float)options_float(o, "init-scale"),
                      .seed = (uint64_t)options_int(o, "seed")};
    if (ann_activation_parse(options_str(o, "activation"), &act) != 0 ||
        ann_loss_parse(options_str(o, "loss"), &c->loss) != 0)
        return -1;
    c->act[0] = act;
    c->act[1] = classify ? ANN_SOFTMAX : act;
    c->loss = classify ? ANN_LOSS_XENT : c->loss;
    c->opt.kind = !strcmp(options_str(o, "optimizer"), "sgd") ? OPTIM_SGD : OPTIM_ADAM;
    c->opt.lr = (float)options_float(o, "lr");
    c->opt.weight_decay = (float)options_float(o, "weight-decay");
    c->opt.beta1 = (float)options_float(o, "beta1");
    c->opt.beta2 = (float)options_float(o, "beta2");
    c->opt.eps = (float)options_float(o, "eps");
    c->opt.carry_moments = true; /* an ANN's Adam: moments over batches (the paper's contrast) */
    return 0;
}

typedef struct {
    int64_t samples, batches;
    double last_loss, seconds;
} train_result;

/* Epochs of shuffled batches; the loss of each batch into log (may be NULL). */
static int train(ann *net, const samples *s, const options *o, loss_log *log, train_result *r)
{
    const int batch = (int)options_int(o, "batch"), epochs = (int)options_int(o, "epochs");
    const uint64_t seed = (uint64_t)options_int(o, "seed");
    uint32_t *order = malloc(s->n * sizeof *order);
    float *xb = malloc((size_t)batch * s->n_in * sizeof *xb), *tb = malloc((size_t)batch * s->n_out * sizeof *tb);
    progress *pg = progress_new((uint64_t)s->n * (uint64_t)epochs, 0);
    int rc = -1;
    const double t0 = clock_now();
    if (!order || !xb || !tb || !pg) {
        err_set("ann-train: out of memory");
        goto done;
    }
    for (int e = 0; e < epochs; e++) {
        for (size_t i = 0; i < s->n; i++)
            order[i] = (uint32_t)i;
        rng_shuffle(seed, (uint32_t)e, order, s->n);
        for (size_t b0 = 0; b0 < s->n; b0 += (size_t)batch) {
            const int n = s->n - b0 < (size_t)batch ? (int)(s->n - b0) : batch;
            for (int b = 0; b < n; b++) {
                memcpy(xb + (size_t)b * s->n_in, s->x + order[b0 + b] * s->n_in, s->n_in * sizeof *xb);
                memcpy(tb + (size_t)b * s->n_out, s->t + order[b0 + b] * s->n_out, s->n_out * sizeof *tb);
            }
            r->last_loss = ann_train_batch(net, xb, tb, n);
            r->samples += n;
            r->batches++;
            if (log)
                loss_log_add(log, e, r->batches, r->samples,
                             &(loss_stats){.loss = r->last_loss * n, .sample_steps = n});
            progress_update(pg, (uint64_t)r->batches, (uint64_t)r->samples, r->last_loss);
        }
    }
    progress_finish(pg);
    r->seconds = clock_now() - t0;
    rc = 0;
done:
    progress_destroy(&pg);
    free(order);
    free(xb);
    free(tb);
    return rc;
}

typedef struct {
    metrics_result m;
    double accuracy;     /* classify: test accuracy */
    double judged;       /* ae, ac: read as the right digit by --classifier (NAN: none) */
    size_t n_judged;
} test_result;

/* The test split through net (ac: then through the AE-ANN's decoder): the
 * outputs against the images (ae) or the digit's reference (ac), or the
 * accuracy (classify); the first 50 pairs into the grid. */
static int test(ann *net, ann *dec, const samples *s, const options *o, judge *jd, test_result *r)
{
    enum { GRID = 50 };
    const bool classify = !strcmp(options_str(o, "task"), "classify");
    const int batch = net->max_batch;
    const size_t np = 784;
    float *gin = calloc(GRID * np, sizeof *gin), *gout = calloc(GRID * np, sizeof *gout);
    size_t right = 0, in_grid = 0;
    metrics_acc acc;
    metrics_acc_init(&acc);
    if (!gin || !gout) {
        free(gin);
        free(gout);
        return err_set("ann-train: out of memory");
    }
    for (size_t b0 = 0; b0 < s->n; b0 += (size_t)batch) {
        const int n = s->n - b0 < (size_t)batch ? (int)(s->n - b0) : batch;
        const float *y = ann_forward(net, s->x + b0 * s->n_in, n);
        if (classify) {
            for (int b = 0; b < n; b++)
                right += ann_argmax(y + (size_t)b * s->n_out, (int)s->n_out) == s->label[b0 + b];
            continue;
        }
        if (dec)
            y = ann_forward_from(dec, 1, y, n);
        const float *ref = dec ? s->ref + b0 * np : s->x + b0 * np;
        if (metrics_acc_add(&acc, ref, NULL, y, (size_t)n, np, 1) != 0 ||
            (jd && judge_add(jd, y, s->label + b0, (size_t)n, NULL) != 0))
            break;
        for (int b = 0; b < n && in_grid < GRID; b++, in_grid++) {
            memcpy(gin + in_grid * np, ref + (size_t)b * np, np * sizeof *gin);
            memcpy(gout + in_grid * np, y + (size_t)b * np, np * sizeof *gout);
        }
    }
    r->m = metrics_acc_result(&acc);
    r->accuracy = classify ? (double)right / (double)s->n : NAN;
    r->judged = jd ? judge_accuracy(jd) : NAN;
    r->n_judged = jd ? judge_count(jd) : 0;
    int rc = 0;
    if (*options_str(o, "grid") && in_grid)
        rc = image_grid_write_pairs(options_str(o, "grid"), gin, gout, in_grid, 28, 28, 10, NULL);
    free(gin);
    free(gout);
    return rc;
}

static int write_metrics(const options *o, const ann *net, const train_result *tr, const test_result *te,
                         size_t n_test)
{
    if (!*options_str(o, "metrics"))
        return 0;
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "task", options_str(o, "task"));
    json_out_str(&j, "dataset", !strcmp(options_str(o, "task"), "ac") ? "fsdd-A" : options_str(o, "dataset"));
    json_out_int(&j, "inputs", net->cfg.sizes[0]);
    json_out_int(&j, "hidden", net->cfg.sizes[1]);
    json_out_str(&j, "activation", ann_activation_name(net->cfg.act[0]));
    json_out_str(&j, "loss_kind", ann_loss_name(net->cfg.loss));
    json_out_str(&j, "optimizer", net->cfg.opt.kind == OPTIM_SGD ? "sgd" : "adam");
    json_out_num(&j, "lr", net->cfg.opt.lr);
    json_out_int(&j, "th", options_int(o, "th"));
    json_out_num(&j, "loss", tr->last_loss);
    json_out_int(&j, "samples", tr->samples);
    json_out_num(&j, "train_seconds", tr->seconds);
    json_out_num(&j, "samples_per_s", tr->samples / tr->seconds);
    json_out_num(&j, "mse", te->m.mse);
    json_out_num(&j, "pearson_r", te->m.pearson_r);
    json_out_num(&j, "pixel_mse", te->m.pixel_mse);
    json_out_num(&j, "accuracy", te->accuracy);
    json_out_num(&j, "digit_accuracy", te->judged);
    json_out_int(&j, "n_judged", (int64_t)te->n_judged);
    json_out_int(&j, "n_samples", (int64_t)n_test);
    int rc = json_out_write(&j, options_str(o, "metrics"));
    json_out_free(&j);
    return rc;
}

/* Training and test samples of the task (ac: and the decoder that reads them). */
static int load_task(const options *o, samples *tr, samples *te, ann **dec)
{
    const char *task = options_str(o, "task");
    const size_t limit = (size_t)options_int(o, "limit"), test_limit = (size_t)options_int(o, "test-limit");
    if (strcmp(task, "ac") != 0) {
        const bool classify = !strcmp(task, "classify");
        return load_images(o, "train", limit, classify, tr) != 0 ||
               load_images(o, "test", test_limit, classify, te) != 0 ? -1 : 0;
    }
    float img[DATASET_CLASSES * 784], *hid = NULL;
    const int db = (int)options_int(o, "batch");
    if (!(*dec = ann_file_load(options_str(o, "ae"), db > DATASET_CLASSES ? db : DATASET_CLASSES, ANN_LOSS_MSE_MEAN)))
        return -1;
    const int H = (*dec)->cfg.sizes[1];
    int rc = -1;
    if ((*dec)->cfg.n_layers != 2 || (*dec)->cfg.sizes[0] != 784 || (*dec)->cfg.sizes[2] != 784)
        err_set("%s: not an AE-ANN 784-H-784", options_str(o, "ae"));
    else if (!(hid = malloc((size_t)DATASET_CLASSES * H * sizeof *hid)))
        err_set("ann-train: out of memory");
    else if (digit_targets(o, *dec, hid, img) == 0 && load_audio(o, "train", limit, hid, H, img, tr) == 0 &&
             load_audio(o, "test", test_limit, hid, H, img, te) == 0)
        rc = 0;
    free(hid);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_name("ann-train");
    int rc = 1;
    options *o = options_new("ann-train", "train the ANN baselines and the digit classifier", specs, NULL);
    samples tr = {0}, te = {0};
    ann *net = NULL, *dec = NULL;
    judge *jd = NULL;
    loss_log *csv = NULL;
    ann_config cfg;
    train_result trr = {0};
    test_result ter = {0};
    int parsed = o ? options_parse(o, argc, argv, stdout) : -1;
    if (parsed != 0) {
        if (parsed < 0)
            log_error("%s", err_msg());
        options_destroy(&o);
        return parsed > 0 ? 0 : 2;
    }
    if (blas_init(argv, (int)options_int(o, "threads")) != 0 || load_task(o, &tr, &te, &dec) != 0 ||
        make_config(o, tr.n_in, tr.n_out, &cfg) != 0 || !(net = ann_new(&cfg, (int)options_int(o, "batch"))) ||
        (*options_str(o, "classifier") && !(jd = judge_open(options_str(o, "classifier"), 784))) ||
        (*options_str(o, "loss-csv") && !(csv = loss_log_new(options_str(o, "loss-csv")))))
        goto done;
    log_info("%s: %d-%d-%d %s, %s loss, %s lr %g, %zu samples, %d epoch(s)", options_str(o, "task"), cfg.sizes[0],
             cfg.sizes[1], cfg.sizes[2], ann_activation_name(cfg.act[0]), ann_loss_name(cfg.loss),
             options_str(o, "optimizer"), cfg.opt.lr, tr.n, (int)options_int(o, "epochs"));
    if (train(net, &tr, o, csv, &trr) != 0)
        goto done;
    model info = {.seed = cfg.seed, .epochs = (int32_t)options_int(o, "epochs"), .batches = trr.batches,
                  .samples = trr.samples};
    char title[128];
    snprintf(title, sizeof title, "ann-train: %s %d-%d-%d, %s", options_str(o, "task"), cfg.sizes[0],
             cfg.sizes[1], cfg.sizes[2], options_str(o, "optimizer"));
    if (ann_file_save(net, options_str(o, "model"), &info) != 0 || (csv && loss_log_finish(&csv, title) != 0) ||
        test(net, dec, &te, o, jd, &ter) != 0 || write_metrics(o, net, &trr, &ter, te.n) != 0)
        goto done;
    log_info("%zu test samples: MSE %.4f, r %.4f, accuracy %.4f, read as the right digit %.4f", te.n, ter.m.mse,
             ter.m.pearson_r, ter.accuracy, ter.judged);
    rc = 0;
done:
    if (rc != 0)
        log_error("%s", err_msg());
    loss_log_destroy(&csv);
    judge_destroy(&jd);
    ann_destroy(&net);
    ann_destroy(&dec);
    samples_free(&tr);
    samples_free(&te);
    options_destroy(&o);
    return rc;
}
