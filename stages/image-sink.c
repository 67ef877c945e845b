/* image-sink: the end of audio-to-image synthesis. Takes the output spikes of
 * ae-decoder (batch x 784 over T steps), turns each sample into an image
 * (spike counts / T, 28 x 28) and writes
 *  - one PNG per input into --dir, named after the input (--manifest: the
 *    recording's file stem; "id-N" when the id is not listed), upscaled;
 *  - --grid: a picture like the paper's Figure 9B, one row per digit and
 *    --per-class utterances in each (spread over the digit's inputs, so
 *    several speakers show), where labels are known; otherwise the first
 *    inputs, 10 to a row; each scaled by its brightest pixel (--grid-brighten);
 *  - where labels are known, --metrics (JSON): the paper's test MSE (z-scored,
 *    include/metrics.h) against --reference A (the digit's Dataset A image,
 *    pairing_dataset_a on the MNIST training set) or B (the lowest MSE over
 *    all training images of the digit), Pearson r and pixel MSE against that
 *    image, per-digit MSE, and how often the image is nearest (z-scored MSE)
 *    to the Dataset A image of the spoken digit among the ten;
 *  - --csv: one line per input (id, name, label, mse, r, ...).
 * Samples must arrive whole (T frames each, as every stage sends them). */
#include "core/atomic_file.h"
#include "core/csv.h"
#include "data/dataset.h"
#include "core/dir.h"
#include "core/err.h"
#include "data/image_grid.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/manifest.h"
#include "data/metrics.h"
#include "data/pairing.h"
#include "core/progress.h"
#include "transport/stage.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"dir", OPT_STRING, "", "write one PNG per input here, named after the input (\"\": none)"},
    {"manifest", OPT_STRING, "", "the source's id,path,label CSV: names and labels of the inputs"},
    {"grid", OPT_STRING, "", "PNG grid: one row per digit, --per-class images each (\"\": none)"},
    {"per-class", OPT_INT, "5", "grid: images per digit"},
    {"grid-brighten", OPT_BOOL, "true", "grid: scale each image by its brightest pixel (outputs fire at a few % per step)"},
    {"metrics", OPT_STRING, "", "scores against the reference images, where labels are known (JSON)"},
    {"csv", OPT_STRING, "", "one line per input: id,name,label,mse,pearson_r,pixel_mse,nearest_digit"},
    {"reference", OPT_STRING, "A", "A: the digit's Dataset A image; B: the best of the digit's training images"},
    {"data", OPT_STRING, "data", "data directory holding MNIST (the reference images)"},
    {"height", OPT_INT, "28", "image height (width = pixels / height)"},
    {"scale", OPT_INT, "4", "upscaling of the PNGs"},
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

/* ---- names and the grid ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Output names of the manifest's entries (in its order): the file stem, or
 * stem-ID when two entries share it (as the spectrogram names its PNGs). */
static char **entry_names(const manifest *m)
{
    char **stems = calloc(m->n + 1, sizeof *stems), **sorted = calloc(m->n + 1, sizeof *sorted);
    char **names = calloc(m->n + 1, sizeof *names);
    bool ok = stems && sorted && names;
    for (size_t i = 0; ok && i < m->n; i++) {
        char s[256];
        manifest_stem(m->entries[i].path, s, sizeof s);
        ok = (stems[i] = sorted[i] = strdup(s)) != NULL;
    }
    if (ok)
        qsort(sorted, m->n, sizeof *sorted, cmp_str);
    for (size_t i = 0; ok && i < m->n; i++) {
        size_t lo = 0, hi = m->n; /* first sorted stem >= stems[i] */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(sorted[mid], stems[i]) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        bool dup = lo + 1 < m->n && !strcmp(sorted[lo + 1], stems[i]);
        char s[300];
        snprintf(s, sizeof s, dup ? "%s-%u" : "%s", stems[i], m->entries[i].id);
        ok = (names[i] = strdup(s)) != NULL;
    }
    for (size_t i = 0; stems && i < m->n; i++)
        free(stems[i]);
    free(stems);
    free(sorted);
    if (!ok) {
        for (size_t i = 0; names && i < m->n; i++)
            free(names[i]);
        free(names);
        err_set("out of memory");
        return NULL;
    }
    return names;
}

static void names_free(char ***names_p, size_t n)
{
    for (size_t i = 0; *names_p && i < n; i++)
        free((*names_p)[i]);
    free(*names_p);
    *names_p = NULL;
}

/* A live stream's source rewrites its manifest before sending each utterance:
 * an id not listed yet makes the sink read it again (the old one stays on error). */
static int manifest_reload(manifest **man, char ***names, const char *path)
{
    manifest *m = manifest_load(path);
    char **n = m ? entry_names(m) : NULL;
    if (!n) {
        manifest_destroy(&m);
        return -1;
    }
    names_free(names, (*man)->n);
    manifest_destroy(man);
    *man = m;
    *names = n;
    return 0;
}

typedef struct {
    int per;         /* columns */
    uint32_t *ids;   /* 10 x per wanted ids (UINT32_MAX: empty cell) */
    float *cells;    /* 10 x per images */
    bool labelled;   /* by digit; else the first inputs, 10 to a row */
    size_t filled;   /* unlabelled: cells used */
} grid;

/* Per digit, per cells spread evenly over the digit's listed inputs. */
static int grid_plan(grid *g, const manifest *m, int per, size_t n_pix)
{
    g->per = per;
    size_t cells = (size_t)DATASET_CLASSES * (size_t)per;
    if (!(g->ids = malloc(cells * sizeof *g->ids)) || !(g->cells = malloc(cells * n_pix * sizeof *g->cells)))
        return err_set("out of memory");
    for (size_t i = 0; i < cells * n_pix; i++)
        g->cells[i] = NAN; /* drawn black; empty cells become gray below */
    for (size_t i = 0; i < cells; i++)
        g->ids[i] = UINT32_MAX;
    size_t count[DATASET_CLASSES] = {0};
    for (size_t i = 0; m && i < m->n; i++)
        if (m->entries[i].label >= 0 && m->entries[i].label < DATASET_CLASSES)
            count[m->entries[i].label]++;
    size_t seen[DATASET_CLASSES] = {0};
    for (size_t i = 0; m && i < m->n; i++) {
        int d = m->entries[i].label;
        if (d < 0 || d >= DATASET_CLASSES)
            continue;
        g->labelled = true;
        /* cell k takes the digit's (k * count / per)-th input */
        for (int k = 0; k < per; k++)
            if ((size_t)k * count[d] / (size_t)per == seen[d] && (size_t)k < count[d])
                g->ids[(size_t)d * per + k] = m->entries[i].id;
        seen[d]++;
    }
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

static void grid_add(grid *g, uint32_t id, const float *img, size_t n_pix, bool brighten)
{
    size_t cells = (size_t)DATASET_CLASSES * (size_t)g->per;
    if (!g->labelled) {
        if (g->filled < cells)
            grid_put(g->cells + g->filled++ * n_pix, img, n_pix, brighten);
        return;
    }
    for (size_t c = 0; c < cells; c++)
        if (g->ids[c] == id)
            grid_put(g->cells + c * n_pix, img, n_pix, brighten);
}

static int grid_write(grid *g, const char *path, size_t h, size_t w, int scale)
{
    size_t n = g->labelled ? (size_t)DATASET_CLASSES * g->per : g->filled;
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
                         int steps)
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
    return json_out_write(&j, path);
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    manifest *man = NULL;
    char **names = NULL;
    refs rf = {0};
    grid gr = {0};
    progress *pg = NULL;
    spike_frame *f = NULL;
    atomic_file *csv = NULL;
    float *counts = NULL, *img = NULL, *zo = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    const char *dir = options_str(o, "dir"), *ref_name = options_str(o, "reference");
    const char *metrics_path = options_str(o, "metrics"), *grid_path = options_str(o, "grid");
    const int height = (int)options_int(o, "height"), scale = (int)options_int(o, "scale");
    const int per = (int)options_int(o, "per-class");
    char ref = 0;
    if (!strcmp(ref_name, "A") || !strcmp(ref_name, "a"))
        ref = 'A';
    else if (!strcmp(ref_name, "B") || !strcmp(ref_name, "b"))
        ref = 'B';
    if (!ref || scale < 1 || scale > 64 || per < 1 || per > 100 || height < 1) {
        err_set("--reference must be A or B, --scale in 1..64, --per-class in 1..100, --height >= 1");
        goto fail;
    }
    spike_link *in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!in || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *fs = link_shape(in);
    const size_t n_pix = fs->width, h = (size_t)height, w = n_pix / h;
    if (n_pix % h != 0) {
        err_set("%s: %zu pixels is not a multiple of --height %d", link_name(in), n_pix, height);
        goto fail;
    }
    if (*options_str(o, "manifest")) {
        if (!(man = manifest_load(options_str(o, "manifest"))) || !(names = entry_names(man)))
            goto fail;
    }
    bool any_label = false;
    for (size_t i = 0; man && i < man->n; i++)
        any_label |= man->entries[i].label >= 0 && man->entries[i].label < DATASET_CLASSES;
    const bool scoring = any_label && (*metrics_path || *options_str(o, "csv"));
    if (scoring) {
        if (n_pix != 784) {
            err_set("%s: %zu-pixel images cannot be scored against MNIST (784)", link_name(in), n_pix);
            goto fail;
        }
        if (refs_load(&rf, options_str(o, "data"), ref == 'B') < 0)
            goto fail;
        log_info("references: Dataset %c from %s (A images:%d %d %d %d %d %d %d %d %d %d)", ref,
                 options_str(o, "data"), rf.a[0], rf.a[1], rf.a[2], rf.a[3], rf.a[4], rf.a[5],
                 rf.a[6], rf.a[7], rf.a[8], rf.a[9]);
    } else if (*metrics_path) {
        log_info("no labels known (%s): no metrics", man ? "the manifest has none" : "no --manifest");
    }
    if (*dir && dir_make(dir) < 0) {
        err_wrap("--dir %s", dir);
        goto fail;
    }
    if (*grid_path && grid_plan(&gr, man, per, n_pix) < 0)
        goto fail;
    if (*options_str(o, "csv")) {
        if (!(csv = atomic_file_new(options_str(o, "csv"))))
            goto fail;
        fprintf(atomic_file_stream(csv), "id,name,label,mse,pearson_r,pixel_mse,nearest_digit\n");
    }
    if (stage_ready(st) < 0 || !(f = link_frame_new(in)) ||
        !(counts = calloc((size_t)fs->batch * n_pix, sizeof *counts)) ||
        !(img = malloc(n_pix * sizeof *img)) || !(zo = malloc(n_pix * sizeof *zo)) ||
        !(pg = progress_new(man ? man->n : 0, 0)))
        goto fail;
    metrics_acc acc;
    metrics_acc_init(&acc);
    tallies t = {0};
    uint64_t seen = 0;
    while ((rc = link_recv(in, f)) == 1) {
        if (f->step == 0)
            memset(counts, 0, (size_t)fs->batch * n_pix * sizeof *counts);
        for (uint32_t i = 0; i < f->batch; i++)
            for (size_t j = 0; j < n_pix; j++)
                counts[i * n_pix + j] += frame_spike(f, i, (uint32_t)j);
        if (f->step + 1 < f->steps)
            continue;
        const int steps = (int)f->steps;
        for (uint32_t i = 0; i < f->batch; i++) {
            const uint32_t id = f->ids[i];
            const float *c = counts + (size_t)i * n_pix;
            const manifest_entry *e = man ? manifest_find(man, id) : NULL;
            if (man && !e && manifest_reload(&man, &names, options_str(o, "manifest")) == 0)
                e = manifest_find(man, id);
            char name[320];
            if (e)
                snprintf(name, sizeof name, "%s", names[e - man->entries]);
            else
                snprintf(name, sizeof name, "id-%u", id);
            double sum = 0;
            for (size_t j = 0; j < n_pix; j++) {
                img[j] = c[j] / (float)steps;
                sum += c[j];
            }
            t.spikes += sum;
            t.neuron_steps += (double)n_pix * steps;
            if (*dir) {
                char p[4096];
                image_grid_opts go = {.scale = scale, .sep = 0, .sep_value = 0};
                snprintf(p, sizeof p, "%s/%s.png", dir, name);
                if (image_grid_write_png(p, img, 1, h, w, 1, &go) < 0)
                    goto fail;
            }
            if (*grid_path)
                grid_add(&gr, id, img, n_pix, options_bool(o, "grid-brighten"));
            int d = e ? e->label : -1;
            double mse = NAN, r = NAN, pix = NAN;
            int nearest = -1;
            if (scoring && d >= 0 && d < DATASET_CLASSES) {
                size_t k = refs_pick(&rf, c, d, ref == 'B', zo);
                const float *refimg = rf.train->images + k * n_pix;
                if (metrics_acc_add(&acc, refimg, NULL, c, 1, n_pix, steps) < 0)
                    goto fail;
                mse = metrics_zmse(refimg, c, n_pix);
                r = metrics_pearson(refimg, c, n_pix);
                pix = metrics_pixel_mse(refimg, c, 1, n_pix, steps);
                nearest = refs_nearest(&rf, c, zo);
                t.sum_mse[d] += mse;
                t.n[d]++;
                t.labelled++;
                t.nearest_ok += nearest == d;
            } else {
                t.unlabelled++;
            }
            if (csv) {
                FILE *cf = atomic_file_stream(csv);
                fprintf(cf, "%u,", id);
                csv_write_field(cf, name);
                if (isnan(mse))
                    fprintf(cf, ",%d,,,,\n", d);
                else
                    fprintf(cf, ",%d,%.6f,%.6f,%.6f,%d\n", d, mse, r, pix, nearest);
            }
        }
        seen += f->batch;
        progress_update(pg, f->batch_index + 1, seen, NAN);
    }
    if (rc < 0)
        goto fail;
    progress_finish(pg);
    if (csv && atomic_file_commit(&csv) < 0)
        goto fail;
    if (*grid_path && grid_write(&gr, grid_path, h, w, 2) < 0)
        goto fail;
    metrics_result mr = metrics_acc_result(&acc);
    if (*metrics_path && t.labelled && write_metrics(metrics_path, &mr, &t, ref, (int)fs->steps) < 0)
        goto fail;
    if (t.labelled) {
        log_info("%llu images; %zu labelled: MSE %.4f (Dataset %c), r %.4f, pixel MSE %.4f, nearest "
                 "digit right %.1f%%", (unsigned long long)seen, t.labelled, mr.mse, ref,
                 mr.pearson_r, mr.pixel_mse, 100.0 * (double)t.nearest_ok / (double)t.labelled);
        char line[512];
        int len = 0;
        for (int d = 0; d < DATASET_CLASSES; d++)
            len += snprintf(line + len, sizeof line - (size_t)len, " %d:%.3f", d,
                            t.n[d] ? t.sum_mse[d] / (double)t.n[d] : NAN);
        log_info("MSE per digit:%s", line);
    } else {
        log_info("%llu images (no labels: no scores)", (unsigned long long)seen);
    }
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    atomic_file_destroy(&csv);
    names_free(&names, man ? man->n : 0);
    manifest_destroy(&man);
    refs_free(&rf);
    free(gr.ids);
    free(gr.cells);
    free(counts);
    free(img);
    free(zo);
    frame_destroy(&f);
    progress_destroy(&pg);
    stage_destroy(&st);
    return rc;
}
