/* evaluator: scores reconstructions and shows them.
 *
 * Per batch it takes the reference images (port `images`, one frame), the
 * output spikes over T steps (`output`) and, when linked, the input spikes
 * (`input`, for Spike-MSE); every frame must name the same samples. At the end
 * it writes metrics.json (mse, spike_mse, pearson_r, pixel_mse, firing rates,
 * n_samples: include/metrics.h) and a PNG grid of the first images above their
 * reconstructions (output spike counts, each scaled by its largest count).
 * With --classifier (an ann-train --task=classify model) it also reports the
 * share of reconstructions read as the right digit (digit_accuracy; data/judge.h),
 * the labels taken from the frames when they carry them, else from the data
 * set's labels file by sample id (--labels-data, --labels-dataset, --labels-split). */
#include "core/err.h"
#include "data/image_grid.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/metrics.h"
#include "core/progress.h"
#include "data/dataset.h"
#include "data/idx.h"
#include "data/judge.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"metrics", OPT_STRING, "metrics.json", "where to write the scores (JSON)"},
    {"grid", OPT_STRING, "grid.png", "PNG of inputs above reconstructions (\"\": none)"},
    {"grid-images", OPT_INT, "50", "images in the grid"},
    {"cols", OPT_INT, "10", "images per grid row"},
    {"height", OPT_INT, "28", "image height (width = pixels / height)"},
    {"classifier", OPT_STRING, "", "a digit classifier (ann-train --task=classify) that reads each "
     "reconstruction: digit_accuracy in the metrics (\"\": none)"},
    {"labels-data", OPT_STRING, "data", "with --classifier: the data directory of the labels"},
    {"labels-dataset", OPT_STRING, "mnist", "with --classifier: mnist or fashion-mnist",
     .choices = "mnist|fashion-mnist"},
    {"labels-split", OPT_STRING, "test", "with --classifier: train or test (sample ids index it)",
     .choices = "train|test"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"images", PORT_IN, 0, "reference images in [0, 1], one frame per batch"},
    {"output", PORT_IN, 0, "output spikes, T frames per batch"},
    {"input", PORT_IN, PORT_OPTIONAL, "input spikes, T frames per batch (for Spike-MSE)"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"evaluator", "Scores reconstructions (MSE, Spike-MSE, r) and draws them.",
                              opts, ports};

static int same_samples(const spike_frame *ref, const spike_frame *f, const char *link)
{
    if (f->batch_index != ref->batch_index || f->batch != ref->batch ||
        memcmp(f->ids, ref->ids, f->batch * sizeof *f->ids) != 0)
        return err_set("%s: frame of batch %u step %u does not carry the samples of image batch %u",
                       link, f->batch_index, f->step, ref->batch_index);
    return 0;
}

static void add_counts(const spike_frame *f, float *counts)
{
    for (uint32_t i = 0; i < f->batch; i++)
        for (uint32_t j = 0; j < f->width; j++)
            counts[(size_t)i * f->width + j] += frame_spike(f, i, j);
}

static int write_metrics(const char *path, const metrics_result *r, int steps, const judge *jd)
{
    json_out j;
    json_out_init(&j);
    json_out_num(&j, "mse", r->mse);
    json_out_num(&j, "spike_mse", r->spike_mse);
    json_out_num(&j, "pearson_r", r->pearson_r);
    json_out_num(&j, "pixel_mse", r->pixel_mse);
    json_out_num(&j, "input_rate", r->in_rate);
    json_out_num(&j, "output_rate", r->out_rate);
    json_out_int(&j, "steps", steps);
    json_out_int(&j, "n_samples", (int64_t)r->n_samples);
    judge_json(jd, &j);
    int rc = json_out_write(&j, path);
    json_out_free(&j);
    return rc;
}

typedef struct {
    const options *o;
    bool with_input;
    spike_link *l_img, *l_out, *l_in;
    spike_frame *img, *out, *in;
    size_t n_pix, cap, steps, grid_max, in_grid; /* in_grid: images in the grid so far */
    float *out_counts, *in_counts, *grid_in, *grid_out;
    metrics_acc acc;
    progress *pg;
    judge *jd;          /* --classifier, or NULL */
    idx_array *labels;  /* the labels file, when the frames carry none */
    int32_t *batch_labels;
} evaluator;

/* The classifier and the labels it is checked against. */
static int judge_setup(evaluator *e, const options *o)
{
    char path[4096];
    if (!*options_str(o, "classifier"))
        return 0;
    if (!(e->jd = judge_open(options_str(o, "classifier"), e->n_pix)) ||
        !(e->batch_labels = malloc(e->cap * sizeof *e->batch_labels)) ||
        dataset_idx_path(path, sizeof path, options_str(o, "labels-data"), options_str(o, "labels-dataset"),
                         options_str(o, "labels-split"), "labels") != 0 ||
        !(e->labels = idx_read(path)))
        return -1;
    return 0;
}

/* The batch's reconstructions read by the classifier, against their labels. */
static int judge_batch(evaluator *e)
{
    const spike_frame *f = e->img;
    for (uint32_t i = 0; i < f->batch; i++) {
        const uint32_t id = f->ids[i] >= DATASET_TEST_ID_BASE ? f->ids[i] - DATASET_TEST_ID_BASE : f->ids[i];
        const int32_t carried = f->named ? f->labels[i] : -1;
        e->batch_labels[i] = carried >= 0 ? carried : id < e->labels->count ? e->labels->data[id] : -1;
    }
    return judge_add(e->jd, e->out_counts, e->batch_labels, f->batch, NULL);
}

/* Images, outputs (and inputs) must agree on their size. */
static int eval_open(stage *st, void *arg)
{
    evaluator *e = arg;
    const options *o = e->o = stage_options(st);
    e->with_input = stage_has_port(st, "input");
    e->l_img = stage_in(st, "images", &(frame_shape){FRAME_VALUES, 0, 0, 1});
    e->l_out = stage_in(st, "output", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (e->with_input)
        e->l_in = stage_in(st, "input", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!e->l_img || !e->l_out || (e->with_input && !e->l_in) || stage_handshake(st) < 0)
        return -1;
    const frame_shape *is = link_shape(e->l_img), *os = link_shape(e->l_out);
    if (os->width != is->width || (e->with_input && (link_shape(e->l_in)->width != is->width ||
                                                     link_shape(e->l_in)->steps != os->steps)))
        return err_set("%s: %u-pixel outputs over %u steps do not match %u-pixel images (or the "
                       "input spikes)", link_name(e->l_out), os->width, os->steps, is->width);
    e->n_pix = is->width;
    e->cap = is->batch;
    e->steps = os->steps;
    e->grid_max = (size_t)options_int(o, "grid-images");
    const int height = (int)options_int(o, "height");
    if (height <= 0 || e->n_pix % (size_t)height != 0)
        return err_set("--height %d does not divide %zu pixels", height, e->n_pix);
    const size_t n_pix = e->n_pix;
    if (!(e->img = link_frame_new(e->l_img)) || !(e->out = link_frame_new(e->l_out)) ||
        (e->with_input && !(e->in = link_frame_new(e->l_in))) ||
        !(e->out_counts = malloc(e->cap * n_pix * sizeof(float))) ||
        !(e->in_counts = malloc(e->cap * n_pix * sizeof(float))) ||
        !(e->grid_in = calloc(e->grid_max + 1, n_pix * sizeof(float))) ||
        !(e->grid_out = calloc(e->grid_max + 1, n_pix * sizeof(float))) || !(e->pg = progress_new(0, 0)))
        return -1;
    metrics_acc_init(&e->acc);
    return judge_setup(e, o);
}

/* The next grid cells: the batch's images and their reconstructions. */
static void grid_add(evaluator *e)
{
    const size_t n_pix = e->n_pix;
    for (size_t i = 0; i < e->img->batch && e->in_grid < e->grid_max; i++, e->in_grid++) {
        memcpy(e->grid_in + e->in_grid * n_pix, e->img->values + i * n_pix, n_pix * sizeof(float));
        /* each reconstruction scaled by its own brightest pixel: the scores
         * (z-scored) judge shape, not brightness, and so does the eye here */
        float peak = 0;
        for (size_t j = 0; j < n_pix; j++)
            peak = fmaxf(peak, e->out_counts[i * n_pix + j]);
        for (size_t j = 0; j < n_pix; j++)
            e->grid_out[e->in_grid * n_pix + j] = peak > 0 ? e->out_counts[i * n_pix + j] / peak : 0;
    }
}

/* The next frame of link l, which must carry the samples of the image batch, counted. */
static int count_frame(evaluator *e, spike_link *l, spike_frame *f, float *counts)
{
    int rc = link_recv(l, f);
    if (rc != 1) {
        if (rc == 0)
            err_set("a spike stream ended in the middle of image batch %u", e->img->batch_index);
        return -1;
    }
    if (same_samples(e->img, f, link_name(l)) < 0)
        return -1;
    add_counts(f, counts);
    return 0;
}

/* The T output (and input) frames of one image batch, counted. */
static int count_batch(evaluator *e)
{
    memset(e->out_counts, 0, e->cap * e->n_pix * sizeof(float));
    memset(e->in_counts, 0, e->cap * e->n_pix * sizeof(float));
    for (uint32_t t = 0; t < e->steps; t++)
        if (count_frame(e, e->l_out, e->out, e->out_counts) < 0 ||
            (e->with_input && count_frame(e, e->l_in, e->in, e->in_counts) < 0))
            return -1;
    return 0;
}

static int eval_run(stage *st, void *arg)
{
    (void)st;
    evaluator *e = arg;
    int rc;
    while ((rc = link_recv(e->l_img, e->img)) == 1) {
        if (count_batch(e) < 0 ||
            metrics_acc_add(&e->acc, e->img->values, e->with_input ? e->in_counts : NULL, e->out_counts,
                            e->img->batch, e->n_pix, (int)e->steps) < 0 ||
            (e->jd && judge_batch(e) < 0))
            return -1;
        grid_add(e);
        progress_update(e->pg, e->img->batch_index + 1, e->acc.n_samples, NAN);
    }
    if (rc < 0 || link_recv(e->l_out, e->out) != 0 || (e->with_input && link_recv(e->l_in, e->in) != 0)) {
        if (rc >= 0)
            err_set("%s: more output frames than image batches", link_name(e->l_out));
        return -1;
    }
    return 0;
}

static int eval_close(stage *st, void *arg)
{
    (void)st;
    evaluator *e = arg;
    const options *o = e->o;
    const size_t height = (size_t)options_int(o, "height");
    metrics_result r = metrics_acc_result(&e->acc);
    if (write_metrics(options_str(o, "metrics"), &r, (int)e->steps, e->jd) < 0)
        return -1;
    if (*options_str(o, "grid") && e->in_grid > 0 &&
        image_grid_write_pairs(options_str(o, "grid"), e->grid_in, e->grid_out, e->in_grid, height,
                               e->n_pix / height, (size_t)options_int(o, "cols"), NULL) < 0)
        return -1;
    log_info("%zu samples: MSE %.4f, Spike-MSE %.4f, r %.4f, pixel MSE %.4f", r.n_samples, r.mse,
             r.spike_mse, r.pearson_r, r.pixel_mse);
    return 0;
}

static void eval_cleanup(void *arg)
{
    evaluator *e = arg;
    free(e->out_counts);
    free(e->in_counts);
    free(e->grid_in);
    free(e->grid_out);
    frame_destroy(&e->img);
    frame_destroy(&e->out);
    frame_destroy(&e->in);
    progress_destroy(&e->pg);
    judge_destroy(&e->jd);
    idx_destroy(&e->labels);
    free(e->batch_labels);
}

static const stage_callbacks callbacks = {.open = eval_open, .run = eval_run, .close = eval_close,
                                          .cleanup = eval_cleanup};

int main(int argc, char **argv)
{
    evaluator e = {0};
    return stage_main(&def, &callbacks, &e, argc, argv);
}
