/* image-sink: the end of audio-to-image synthesis. Takes the output spikes of
 * ae-decoder (batch x 784 over T steps), turns each sample into an image
 * (spike counts / T, 28 x 28) and writes
 *  - one PNG per input into --dir, named after the input (the sample name its
 *    frames carry, e.g. the recording's file stem; "id-N" when they carry
 *    none), upscaled;
 *  - --grid: a picture like the paper's Figure 9B, one row per digit and
 *    --per-class utterances in each (spread over the digit's inputs, so
 *    several speakers show), where labels are known (the frames carry them:
 *    the sink reads no file of the source); otherwise the first
 *    inputs, 10 to a row; each scaled by its brightest pixel (--grid-brighten);
 *  - where labels are known, --metrics (JSON): the paper's test MSE (z-scored,
 *    include/metrics.h) against --reference A (the digit's Dataset A image,
 *    pairing_dataset_a on the MNIST training set) or B (the lowest MSE over
 *    all training images of the digit), Pearson r and pixel MSE against that
 *    image, per-digit MSE, and how often the image is nearest (z-scored MSE)
 *    to the Dataset A image of the spoken digit among the ten;
 *  - --csv: one line per input (id, name, label, mse, r, ...); an unlabelled
 *    input gets the digit it drew (nearest_digit), said on stderr too;
 *  - --classifier: the share of labelled images a digit classifier reads as
 *    their digit (digit_accuracy in --metrics; data/judge.h).
 * Samples must arrive whole (T frames each, as every stage sends them). */
#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/csv.h"
#include "data/dataset.h"
#include "core/dir.h"
#include "core/err.h"
#include "data/image_grid.h"
#include "data/live_view.h"
#include "data/judge.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/metrics.h"
#include "data/pairing.h"
#include "core/progress.h"
#include "transport/stage.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const option_spec opts[] = {
    {"dir", OPT_STRING, "", "write one PNG per input here, named after the input (\"\": none)"},
    {"manifest", OPT_STRING, "", "ignored (names and labels come with the frames); accepted for old command lines"},
    {"grid", OPT_STRING, "", "PNG grid: one row per digit, --per-class images each (\"\": none)"},
    {"per-class", OPT_INT, "5", "grid: images per digit", .min = "1", .max = "100"},
    {"grid-brighten", OPT_BOOL, "true", "grid: scale each image by its brightest pixel (outputs fire at a few % per step)"},
    {"metrics", OPT_STRING, "", "scores against the reference images, where labels are known (JSON)"},
    {"csv", OPT_STRING, "", "one line per input: id,name,label,mse,pearson_r,pixel_mse,nearest_digit"},
    {"reference", OPT_STRING, "A", "A: the digit's Dataset A image; B: the best of the digit's training images",
     .choices = "A|B|a|b"},
    {"data", OPT_STRING, "data", "data directory holding MNIST (the reference images)"},
    {"height", OPT_INT, "28", "image height (width = pixels / height)", .min = "1"},
    {"classifier", OPT_STRING, "", "a digit classifier (ann-train --task=classify): the share of labelled "
     "images it reads as their digit, digit_accuracy in --metrics (\"\": none)"},
    {"scale", OPT_INT, "4", "upscaling of the PNGs", .min = "1", .max = "64"},
    {"live", OPT_STRING, "", "serve a live web page of the images as they are made at [ADDR:]PORT "
                             "(127.0.0.1 unless ADDR says otherwise; 0: any free port; \"\": none)"},
    {"live-keep", OPT_INT, "12", "live page: the images it keeps and shows", .min = "1", .max = "1000"},
    {"live-linger", OPT_FLOAT, "0", "live page: seconds it stays up after the last image", .min = "0",
     .max = "86400"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "output spikes (ae-decoder), batch x pixels, T frames per batch"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {
    "image-sink",
    "Writes synthesised images (spike counts / T) as PNGs, a per-digit grid, and scores them "
    "against MNIST references.",
    opts, ports};

/* ---- references -------------------------------------------------------------- */

typedef struct {
    dataset *train;
    int a[DATASET_CLASSES];   /* Dataset A image of each digit */
    float *za;                /* the ten A images, z-scored, 10 x n_pix */
    pairing_classes *classes; /* B: the training images of each digit */
    float *z;                 /* B: every training image z-scored, n x n_pix */
    float *zz;                /* B: their squared norms */
} refs;

static void refs_free(refs *r)
{
    dataset_destroy(&r->train);
    pairing_classes_destroy(&r->classes);
    free(r->za);
    free(r->z);
    free(r->zz);
}

static double dot(const float *a, const float *b, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static int refs_load(refs *r, const char *data, bool b)
{
    if (!(r->train = dataset_load_images(data, "mnist", "train", 0)) ||
        pairing_dataset_a_all(r->train, r->a) < 0)
        return -1;
    const size_t np = r->train->n_pixels;
    if (!(r->za = malloc(DATASET_CLASSES * np * sizeof *r->za)))
        return err_set("out of memory");
    for (int d = 0; d < DATASET_CLASSES; d++)
        metrics_zscore(r->train->images + (size_t)r->a[d] * np, np, r->za + (size_t)d * np);
    if (!b)
        return 0;
    if (!(r->classes = pairing_classes_new(r->train)))
        return -1;
    if (!(r->z = malloc(r->train->n * np * sizeof *r->z)) || !(r->zz = malloc(r->train->n * sizeof *r->zz)))
        return err_set("out of memory for %zu z-scored training images", r->train->n);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < r->train->n; i++) {
        metrics_zscore(r->train->images + i * np, np, r->z + i * np);
        r->zz[i] = (float)dot(r->z + i * np, r->z + i * np, np);
    }
    return 0;
}

/* The reference image of an output (counts) of digit d: A's, or for B the
 * training image of d with the lowest z-scored MSE (by |za|^2 + |zb|^2 - 2 za.zb;
 * ties to the lower index). */
static size_t refs_pick(const refs *r, const float *counts, int d, bool b, float *zo)
{
    if (!b)
        return (size_t)r->a[d];
    const size_t np = r->train->n_pixels;
    metrics_zscore(counts, np, zo);
    double zoo = dot(zo, zo, np), best = INFINITY;
    size_t pick = 0;
    for (size_t k = 0; k < r->classes->n[d]; k++) {
        size_t i = r->classes->index[d][k];
        double e = zoo + r->zz[i] - 2 * dot(zo, r->z + i * np, np);
        if (e < best) {
            best = e;
            pick = i;
        }
    }
    return pick;
}

/* The digit whose Dataset A image is nearest (z-scored MSE) to counts. */
static int refs_nearest(const refs *r, const float *counts, float *zo)
{
    const size_t np = r->train->n_pixels;
    metrics_zscore(counts, np, zo);
    int best = 0;
    double best_e = INFINITY;
    for (int d = 0; d < DATASET_CLASSES; d++) {
        double e = 0;
        for (size_t i = 0; i < np; i++) {
            double x = zo[i] - r->za[(size_t)d * np + i];
            e += x * x;
        }
        if (e < best_e) {
            best_e = e;
            best = d;
        }
    }
    return best;
}

/* Loads the references at the first labelled image to score (the labels come
 * with the frames, so not before). */
static int refs_need(refs *r, const char *data, char ref, size_t n_pix, const char *link)
{
    if (r->train)
        return 0;
    if (n_pix != 784)
        return err_set("%s: %zu-pixel images cannot be scored against MNIST (784)", link, n_pix);
    if (refs_load(r, data, ref == 'B') < 0)
        return -1;
    log_info("references: Dataset %c from %s (A images:%d %d %d %d %d %d %d %d %d %d)", ref, data,
             r->a[0], r->a[1], r->a[2], r->a[3], r->a[4], r->a[5], r->a[6], r->a[7], r->a[8], r->a[9]);
    return 0;
}

/* ---- the grid ------------------------------------------------------------------ */

/* The grid keeps the images it may show: every labelled one (by digit, planned
 * at the end, when the digit's inputs are known) and the first cells' worth of
 * unlabelled ones (shown when no input has a label). */
typedef struct {
    int per;         /* columns */
    size_t n_pix;
    uint32_t *ids;   /* n kept images: sample id, label (-1: none), pixels */
    int *labels;
    float *imgs;
    size_t n, cap;
    size_t unlabelled; /* kept among them */
    float *cells;    /* 10 x per images, filled by grid_plan */
    bool labelled;   /* by digit; else the first inputs, 10 to a row */
    size_t filled;   /* cells used */
} grid;

static void grid_free(grid *g)
{
    free(g->ids);
    free(g->labels);
    free(g->imgs);
    free(g->cells);
}

static int grid_keep(grid *g, uint32_t id, int label, const float *img)
{
    bool has = label >= 0 && label < DATASET_CLASSES;
    if (!has && g->unlabelled >= (size_t)DATASET_CLASSES * (size_t)g->per)
        return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        uint32_t *ids = realloc(g->ids, cap * sizeof *ids);
        if (ids)
            g->ids = ids;
        int *labels = realloc(g->labels, cap * sizeof *labels);
        if (labels)
            g->labels = labels;
        float *imgs = realloc(g->imgs, cap * g->n_pix * sizeof *imgs);
        if (imgs)
            g->imgs = imgs;
        if (!ids || !labels || !imgs)
            return err_set("out of memory for %zu grid images", cap);
        g->cap = cap;
    }
    g->ids[g->n] = id;
    g->labels[g->n] = has ? label : -1;
    memcpy(g->imgs + g->n * g->n_pix, img, g->n_pix * sizeof *img);
    g->n++;
    g->unlabelled += !has;
    return 0;
}

static void grid_put(float *cell, const float *img, size_t n_pix, bool brighten)
{
    float mx = 0;
    for (size_t j = 0; j < n_pix; j++)
        mx = img[j] > mx ? img[j] : mx;
    float k = brighten && mx > 0 ? 1.0f / mx : 1.0f;
    for (size_t j = 0; j < n_pix; j++)
        cell[j] = img[j] * k;
}

/* kept images by label, then id, then arrival: the last of an id is its image */
static const grid *sort_grid;
static int cmp_kept(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const grid *g = sort_grid;
    if (g->labels[i] != g->labels[j])
        return g->labels[i] < g->labels[j] ? -1 : 1;
    if (g->ids[i] != g->ids[j])
        return g->ids[i] < g->ids[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Labelled: per digit, per cells spread evenly over the digit's inputs in id
 * order (cell k takes the (k * count / per)-th); else the first inputs. */
static int grid_plan(grid *g, bool brighten)
{
    const size_t cells = (size_t)DATASET_CLASSES * (size_t)g->per, n_pix = g->n_pix;
    size_t *order = malloc((g->n + 1) * sizeof *order);
    if (!order || !(g->cells = malloc(cells * n_pix * sizeof *g->cells))) {
        free(order);
        return err_set("out of memory");
    }
    for (size_t i = 0; i < cells * n_pix; i++)
        g->cells[i] = NAN; /* drawn gray: a cell that no input fills */
    g->labelled = g->unlabelled < g->n;
    if (!g->labelled) {
        for (size_t i = 0; i < g->n; i++)
            grid_put(g->cells + i * n_pix, g->imgs + i * n_pix, n_pix, brighten);
        g->filled = g->n;
        free(order);
        return 0;
    }
    size_t m = 0; /* the labelled ones, each id once (its last image) */
    for (size_t i = 0; i < g->n; i++)
        if (g->labels[i] >= 0)
            order[m++] = i;
    sort_grid = g;
    qsort(order, m, sizeof *order, cmp_kept);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (i + 1 == m || g->ids[order[i + 1]] != g->ids[order[i]] || g->labels[order[i + 1]] != g->labels[order[i]])
            order[u++] = order[i];
    for (size_t a = 0, b; a < u; a = b) {
        const int d = g->labels[order[a]];
        for (b = a; b < u && g->labels[order[b]] == d; b++)
            ;
        const size_t count = b - a;
        for (size_t k = 0; k < (size_t)g->per && k < count; k++) {
            size_t i = order[a + k * count / (size_t)g->per];
            grid_put(g->cells + ((size_t)d * g->per + k) * n_pix, g->imgs + i * n_pix, n_pix, brighten);
        }
    }
    g->filled = cells;
    free(order);
    return 0;
}

static int grid_write(grid *g, const char *path, size_t h, size_t w, int scale)
{
    size_t n = g->filled;
    size_t cols = g->labelled ? (size_t)g->per : 10;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n * h * w; i++)
        if (isnan(g->cells[i]))
            g->cells[i] = 0.5f; /* a cell that never came: gray */
    image_grid_opts go = image_grid_defaults();
    go.scale = scale;
    return image_grid_write_png(path, g->cells, n, h, w, cols, &go);
}

/* ---- main --------------------------------------------------------------------- */

typedef struct {
    double sum_mse[DATASET_CLASSES];
    size_t n[DATASET_CLASSES];
    size_t nearest_ok, labelled, unlabelled;
    double spikes, neuron_steps;
} tallies;

static int write_metrics(const char *path, const metrics_result *mr, const tallies *t, char ref,
                         int steps, const judge *jd)
{
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "reference", ref == 'B' ? "B" : "A");
    json_out_num(&j, "mse", mr->mse);
    json_out_num(&j, "pearson_r", mr->pearson_r);
    json_out_num(&j, "pixel_mse", mr->pixel_mse);
    json_out_int(&j, "n_samples", (int64_t)mr->n_samples);
    json_out_int(&j, "n_unlabelled", (int64_t)t->unlabelled);
    json_out_num(&j, "nearest_digit_accuracy",
                 t->labelled ? (double)t->nearest_ok / (double)t->labelled : NAN);
    json_out_num(&j, "output_rate", t->neuron_steps > 0 ? t->spikes / t->neuron_steps : NAN);
    json_out_int(&j, "steps", steps);
    for (int d = 0; d < DATASET_CLASSES; d++) {
        char k[32];
        snprintf(k, sizeof k, "mse_digit_%d", d);
        json_out_num(&j, k, t->n[d] ? t->sum_mse[d] / (double)t->n[d] : NAN);
        snprintf(k, sizeof k, "n_digit_%d", d);
        json_out_int(&j, k, (int64_t)t->n[d]);
    }
    judge_json(jd, &j);
    int rc = json_out_write(&j, path);
    json_out_free(&j);
    return rc;
}

typedef struct {
    const options *o;
    const char *dir, *metrics_path, *grid_path;
    char ref;  /* 'A' or 'B' */
    int scale;
    size_t n_pix, h, w;
    bool scoring; /* asked for; done where labels are known */
    spike_link *in;
    refs rf;
    grid gr;
    progress *pg;
    spike_frame *f, *batch; /* batch: the samples of the batch, from its step 0 */
    atomic_file *csv;
    float *counts, *img, *zo;
    metrics_acc acc;
    tallies t;
    uint64_t seen;
    live_view *live;
    judge *jd; /* --classifier, or NULL */
} sink;

static int sink_open(stage *st, void *arg)
{
    sink *k = arg;
    const options *o = k->o = stage_options(st);
    k->dir = options_str(o, "dir");
    k->metrics_path = options_str(o, "metrics");
    k->grid_path = options_str(o, "grid");
    k->ref = (char)toupper((unsigned char)options_str(o, "reference")[0]); /* A|B|a|b */
    k->scale = (int)options_int(o, "scale");
    const int height = (int)options_int(o, "height");
    if (!(k->in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0})) || stage_handshake(st) < 0)
        return -1;
    const frame_shape *fs = link_shape(k->in);
    k->n_pix = fs->width;
    k->h = (size_t)height;
    k->w = k->n_pix / k->h;
    if (k->n_pix % k->h != 0)
        return err_set("%s: %zu pixels is not a multiple of --height %d", link_name(k->in), k->n_pix, height);
    /* the labels come with the frames: the references load at the first labelled one */
    k->scoring = *k->metrics_path || *options_str(o, "csv");
    if (*k->dir && dir_make(k->dir) < 0)
        return err_wrap("--dir %s", k->dir);
    k->gr.per = (int)options_int(o, "per-class");
    k->gr.n_pix = k->n_pix;
    if (*options_str(o, "csv")) {
        if (!(k->csv = atomic_file_new(options_str(o, "csv"))))
            return -1;
        fprintf(atomic_file_stream(k->csv), "id,name,label,mse,pearson_r,pixel_mse,nearest_digit\n");
    }
    if (!(k->f = link_frame_new(k->in)) || !(k->batch = link_frame_new(k->in)) ||
        !(k->counts = calloc((size_t)fs->batch * k->n_pix, sizeof *k->counts)) ||
        !(k->img = malloc(k->n_pix * sizeof *k->img)) || !(k->zo = malloc(k->n_pix * sizeof *k->zo)) ||
        !(k->pg = progress_new(0, 0)))
        return -1;
    if (*options_str(o, "classifier") && !(k->jd = judge_open(options_str(o, "classifier"), k->n_pix)))
        return -1;
    metrics_acc_init(&k->acc);
    if (*options_str(o, "live")) {
        if (!(k->live = live_view_new(options_str(o, "live"), "spikesynth: spoken digits, drawn",
                                      (int)options_int(o, "live-keep"))))
            return err_wrap("--live");
        const char *where = options_str(o, "live"), *colon = strrchr(where, ':');
        int host_len = colon && colon > where ? (int)(colon - where) : 0;
        log_info("live view at http://%.*s:%d/", host_len ? host_len : 9, host_len ? where : "127.0.0.1",
                 live_view_port(k->live));
    }
    return 0;
}

/* The image on the live page, named, with the digit drawn where it is known. */
static int show_live(sink *k, const char *name, int label, int digit)
{
    image_grid_opts go = {.scale = k->scale, .sep = 0, .sep_value = 0};
    unsigned char *png;
    size_t len;
    if (image_grid_encode_png(k->img, 1, k->h, k->w, 1, &go, &png, &len) < 0)
        return -1;
    int rc = live_view_add(k->live, name, label, digit, png, len);
    free(png);
    return rc;
}

static void csv_line(FILE *cf, uint32_t id, const char *name, int d, double mse, double r, double pix,
                     int nearest)
{
    fprintf(cf, "%u,", id);
    csv_write_field(cf, name);
    if (isnan(mse) && nearest >= 0) /* unlabelled: the digit it drew, no scores */
        fprintf(cf, ",%d,,,,%d\n", d, nearest);
    else if (isnan(mse))
        fprintf(cf, ",%d,,,,\n", d);
    else
        fprintf(cf, ",%d,%.6f,%.6f,%.6f,%d\n", d, mse, r, pix, nearest);
}

/* Sample i of the frame, whole: its PNG, its grid cell, its scores, its CSV line.
 * Its name and label are those its batch's step 0 carried. */
static int take_sample(sink *k, uint32_t i)
{
    const options *o = k->o;
    const size_t n_pix = k->n_pix;
    const int steps = (int)k->f->steps;
    const uint32_t id = k->f->ids[i];
    const float *c = k->counts + (size_t)i * n_pix;
    float *img = k->img;
    char name[FRAME_SAMPLE_NAME_MAX];
    if (k->batch->named)
        snprintf(name, sizeof name, "%s", frame_name(k->batch, i));
    else
        snprintf(name, sizeof name, "id-%u", id);
    const int d = k->batch->named ? k->batch->labels[i] : -1;
    double sum = 0;
    for (size_t j = 0; j < n_pix; j++) {
        img[j] = c[j] / (float)steps;
        sum += c[j];
    }
    k->t.spikes += sum;
    k->t.neuron_steps += (double)n_pix * steps;
    if (*k->dir) {
        char p[4096];
        image_grid_opts go = {.scale = k->scale, .sep = 0, .sep_value = 0};
        snprintf(p, sizeof p, "%s/%s.png", k->dir, name);
        if (image_grid_write_png(p, img, 1, k->h, k->w, 1, &go) < 0)
            return -1;
    }
    if (*k->grid_path && grid_keep(&k->gr, id, d, img) < 0)
        return -1;
    double mse = NAN, r = NAN, pix = NAN;
    int nearest = -1;
    if (k->scoring && d >= 0 && d < DATASET_CLASSES) {
        if (refs_need(&k->rf, options_str(o, "data"), k->ref, n_pix, link_name(k->in)) < 0)
            return -1;
        size_t ref = refs_pick(&k->rf, c, d, k->ref == 'B', k->zo);
        const float *refimg = k->rf.train->images + ref * n_pix;
        if (metrics_acc_add(&k->acc, refimg, NULL, c, 1, n_pix, steps) < 0)
            return -1;
        mse = metrics_zmse(refimg, c, n_pix);
        r = metrics_pearson(refimg, c, n_pix);
        pix = metrics_pixel_mse(refimg, c, 1, n_pix, steps);
        nearest = refs_nearest(&k->rf, c, k->zo);
        k->t.sum_mse[d] += mse;
        k->t.n[d]++;
        k->t.labelled++;
        k->t.nearest_ok += nearest == d;
        const int32_t label = d;
        if (k->jd && judge_add(k->jd, c, &label, 1, NULL) < 0)
            return -1;
    } else {
        k->t.unlabelled++;
        /* "which digit did I say?": the reference its image is nearest to */
        if (k->scoring) {
            if (refs_need(&k->rf, options_str(o, "data"), k->ref, n_pix, link_name(k->in)) < 0)
                return -1;
            nearest = refs_nearest(&k->rf, c, k->zo);
            log_info("%s: drew a %d (the nearest of the ten Dataset A digits)", name, nearest);
        }
    }
    if (k->csv)
        csv_line(atomic_file_stream(k->csv), id, name, d, mse, r, pix, nearest);
    return k->live ? show_live(k, name, d, nearest) : 0;
}

/* Spike counts over each sample's T steps; at the last, the samples are whole. */
static int sink_run(stage *st, void *arg)
{
    (void)st;
    sink *k = arg;
    spike_frame *f = k->f;
    const size_t n_pix = k->n_pix, batch = link_shape(k->in)->batch;
    int rc;
    while ((rc = link_recv(k->in, f)) == 1) {
        if (f->step == 0) {
            memset(k->counts, 0, batch * n_pix * sizeof *k->counts);
            frame_copy_samples(k->batch, f, 0, f->batch);
        }
        for (uint32_t i = 0; i < f->batch; i++)
            for (size_t j = 0; j < n_pix; j++)
                k->counts[i * n_pix + j] += frame_spike(f, i, (uint32_t)j);
        if (f->step + 1 < f->steps)
            continue;
        for (uint32_t i = 0; i < f->batch; i++)
            if (take_sample(k, i) < 0)
                return -1;
        k->seen += f->batch;
        progress_update(k->pg, f->batch_index + 1, k->seen, NAN);
    }
    return rc;
}

static void log_scores(const sink *k, const metrics_result *mr)
{
    const tallies *t = &k->t;
    if (!t->labelled) {
        log_info("%llu images (no labels: no scores)", (unsigned long long)k->seen);
        if (*k->metrics_path)
            log_info("no labels known (the frames carry none): no metrics");
        return;
    }
    log_info("%llu images; %zu labelled: MSE %.4f (Dataset %c), r %.4f, pixel MSE %.4f, nearest "
             "digit right %.1f%%", (unsigned long long)k->seen, t->labelled, mr->mse, k->ref,
             mr->pearson_r, mr->pixel_mse, 100.0 * (double)t->nearest_ok / (double)t->labelled);
    char line[512];
    int len = 0;
    for (int d = 0; d < DATASET_CLASSES; d++)
        len += snprintf(line + len, sizeof line - (size_t)len, " %d:%.3f", d,
                        t->n[d] ? t->sum_mse[d] / (double)t->n[d] : NAN);
    log_info("MSE per digit:%s", line);
}

static int sink_close(stage *st, void *arg)
{
    sink *k = arg;
    progress_finish(k->pg);
    if (k->csv && atomic_file_commit(&k->csv) < 0)
        return -1;
    if (*k->grid_path && (grid_plan(&k->gr, options_bool(k->o, "grid-brighten")) < 0 ||
                          grid_write(&k->gr, k->grid_path, k->h, k->w, 2) < 0))
        return -1;
    metrics_result mr = metrics_acc_result(&k->acc);
    if (*k->metrics_path && k->t.labelled &&
        write_metrics(k->metrics_path, &mr, &k->t, k->ref, (int)link_shape(k->in)->steps, k->jd) < 0)
        return -1;
    log_scores(k, &mr);
    double linger = options_float(k->o, "live-linger");
    if (k->live && linger > 0) {
        log_info("live view stays up %g s more", linger);
        for (double t0 = clock_now(); clock_now() - t0 < linger && !stage_stopping(st);)
            usleep(100 * 1000);
    }
    return 0;
}

static void sink_cleanup(void *arg)
{
    sink *k = arg;
    atomic_file_destroy(&k->csv);
    judge_destroy(&k->jd);
    refs_free(&k->rf);
    grid_free(&k->gr);
    free(k->counts);
    free(k->img);
    free(k->zo);
    frame_destroy(&k->f);
    frame_destroy(&k->batch);
    progress_destroy(&k->pg);
    live_view_destroy(&k->live);
}

static const stage_callbacks callbacks = {.open = sink_open, .run = sink_run, .close = sink_close,
                                          .cleanup = sink_cleanup};

int main(int argc, char **argv)
{
    sink k = {0};
    return stage_main(&def, &callbacks, &k, argc, argv);
}
