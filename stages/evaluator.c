/* evaluator: scores reconstructions and shows them.
 *
 * Per batch it takes the reference images (port `images`, one frame), the
 * output spikes over T steps (`output`) and, when linked, the input spikes
 * (`input`, for Spike-MSE); every frame must name the same samples. At the end
 * it writes metrics.json (mse, spike_mse, pearson_r, pixel_mse, firing rates,
 * n_samples: include/metrics.h) and a PNG grid of the first images above their
 * reconstructions (output spike counts, each scaled by its largest count). */
#include "core/err.h"
#include "data/image_grid.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/metrics.h"
#include "core/progress.h"
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

static int write_metrics(const char *path, const metrics_result *r, int steps)
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
    return json_out_write(&j, path);
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    progress *pg = NULL;
    spike_frame *img = NULL, *out = NULL, *in = NULL;
    float *out_counts = NULL, *in_counts = NULL, *grid_in = NULL, *grid_out = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    const bool with_input = stage_has_port(st, "input");
    spike_link *l_img = stage_in(st, "images", &(frame_shape){FRAME_VALUES, 0, 0, 1});
    spike_link *l_out = stage_in(st, "output", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    spike_link *l_in = with_input ? stage_in(st, "input", &(frame_shape){FRAME_SPIKES, 0, 0, 0}) : NULL;
    if (!l_img || !l_out || (with_input && !l_in) || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *is = link_shape(l_img), *os = link_shape(l_out);
    if (os->width != is->width || (with_input && (link_shape(l_in)->width != is->width ||
                                                  link_shape(l_in)->steps != os->steps))) {
        err_set("%s: %u-pixel outputs over %u steps do not match %u-pixel images (or the input "
                "spikes)", link_name(l_out), os->width, os->steps, is->width);
        goto fail;
    }
    const size_t n_pix = is->width, cap = is->batch;
    const size_t grid_max = (size_t)options_int(o, "grid-images");
    const int height = (int)options_int(o, "height");
    if (height <= 0 || n_pix % (size_t)height != 0) {
        err_set("--height %d does not divide %zu pixels", height, n_pix);
        goto fail;
    }
    if (stage_ready(st) < 0 || !(img = link_frame_new(l_img)) || !(out = link_frame_new(l_out)) ||
        (with_input && !(in = link_frame_new(l_in))) ||
        !(out_counts = malloc(cap * n_pix * sizeof(float))) ||
        !(in_counts = malloc(cap * n_pix * sizeof(float))) ||
        !(grid_in = calloc(grid_max + 1, n_pix * sizeof(float))) ||
        !(grid_out = calloc(grid_max + 1, n_pix * sizeof(float))) || !(pg = progress_new(0, 0)))
        goto fail;
    metrics_acc acc;
    metrics_acc_init(&acc);
    size_t in_grid = 0;
    while ((rc = link_recv(l_img, img)) == 1) {
        memset(out_counts, 0, cap * n_pix * sizeof(float));
        memset(in_counts, 0, cap * n_pix * sizeof(float));
        for (uint32_t t = 0; t < os->steps; t++) {
            if ((rc = link_recv(l_out, out)) != 1 || same_samples(img, out, link_name(l_out)) < 0)
                goto short_stream;
            add_counts(out, out_counts);
            if (with_input) {
                if ((rc = link_recv(l_in, in)) != 1 || same_samples(img, in, link_name(l_in)) < 0)
                    goto short_stream;
                add_counts(in, in_counts);
            }
        }
        if (metrics_acc_add(&acc, img->values, with_input ? in_counts : NULL, out_counts,
                            img->batch, n_pix, (int)os->steps) < 0)
            goto fail;
        for (size_t i = 0; i < img->batch && in_grid < grid_max; i++, in_grid++) {
            memcpy(grid_in + in_grid * n_pix, img->values + i * n_pix, n_pix * sizeof(float));
            /* each reconstruction scaled by its own brightest pixel: the scores
             * (z-scored) judge shape, not brightness, and so does the eye here */
            float peak = 0;
            for (size_t j = 0; j < n_pix; j++)
                peak = fmaxf(peak, out_counts[i * n_pix + j]);
            for (size_t j = 0; j < n_pix; j++)
                grid_out[in_grid * n_pix + j] = peak > 0 ? out_counts[i * n_pix + j] / peak : 0;
        }
        progress_update(pg, img->batch_index + 1, acc.n_samples, NAN);
    }
    if (rc < 0 || link_recv(l_out, out) != 0 || (with_input && link_recv(l_in, in) != 0)) {
        if (rc >= 0)
            err_set("%s: more output frames than image batches", link_name(l_out));
        goto fail;
    }
    metrics_result r = metrics_acc_result(&acc);
    if (write_metrics(options_str(o, "metrics"), &r, (int)os->steps) < 0)
        goto fail;
    if (*options_str(o, "grid") && in_grid > 0 &&
        image_grid_write_pairs(options_str(o, "grid"), grid_in, grid_out, in_grid, (size_t)height,
                               n_pix / (size_t)height, (size_t)options_int(o, "cols"), NULL) < 0)
        goto fail;
    log_info("%zu samples: MSE %.4f, Spike-MSE %.4f, r %.4f, pixel MSE %.4f", r.n_samples, r.mse,
             r.spike_mse, r.pearson_r, r.pixel_mse);
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
short_stream:
    if (rc == 0)
        err_set("a spike stream ended in the middle of image batch %u", img->batch_index);
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(out_counts);
    free(in_counts);
    free(grid_in);
    free(grid_out);
    frame_destroy(&img);
    frame_destroy(&out);
    frame_destroy(&in);
    progress_destroy(&pg);
    stage_destroy(&st);
    return rc;
}
