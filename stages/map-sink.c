/* map-sink: collects the spike map of every sample (e.g. the autoencoder's
 * hidden spikes, 196 x T) and writes them as a spike_maps file at the end of
 * the stream: the audiocoder's targets.
 *
 * Of each sample's T steps it keeps the first --th (Th <= T). The file records
 * what made the maps (--dataset, --seed, --source); with --pairing (the CSV
 * pair-source writes before its first frame, so it is complete once our stream
 * ends) every map also gets its label and source image index, else -1. Sample
 * ids must be unique. Nothing is written unless the whole stream arrived. */
#include "core/err.h"
#include "data/image_grid.h"
#include "core/log.h"
#include "data/pairing.h"
#include "core/progress.h"
#include "data/spike_maps.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"maps", OPT_STRING, "", "write the spike maps file here (required; atomic)"},
    {"th", OPT_INT, "15", "steps kept of each sample's map, from step 0 (1..T)"},
    {"dataset", OPT_STRING, "?", "the pairing the maps were made with, recorded in the file: A, B or ?"},
    {"source", OPT_STRING, "", "what made the maps, recorded in the file (e.g. the encoder model's path)"},
    {"pairing", OPT_STRING, "", "pairing CSV (id,label,image_index,recording) giving each map its label and image"},
    {"png", OPT_STRING, "", "also draw some maps as a spike raster PNG (time across, neurons down)"},
    {"png-maps", OPT_INT, "10", "maps in the PNG (at most 64): the first of each label 0-9, then the first maps"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "spikes, batch x width, T frames per batch"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"map-sink", "Stores the first Th steps of each sample's spike map in a file.",
                              opts, ports};

/* The raster: the chosen maps side by side (time across, neuron j on row j),
 * separated by a column of gray. */
static int draw(const spike_maps *m, const char *path, int64_t want)
{
    size_t pick[64], n = 0;
    size_t cap = want < 1 ? 1 : want > 64 ? 64 : (size_t)want;
    bool labelled = m->n && m->labels[0] >= 0;
    if (labelled) {
        for (int c = 0; c < 10 && n < cap; c++)
            for (size_t i = 0; i < m->n; i++)
                if (m->labels[i] == c) {
                    pick[n++] = i;
                    break;
                }
    }
    for (size_t i = 0; i < m->n && n < cap; i++) { /* fill up with the first maps not drawn */
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = pick[k] == i;
        if (!seen)
            pick[n++] = i;
    }
    if (n == 0)
        return 0;
    size_t cols = n * (m->steps + 1) - 1, rows = m->width;
    float *img = malloc(rows * cols * sizeof *img), *step = malloc(m->width * sizeof *step);
    int rc = -1;
    if (!img || !step) {
        err_set("%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < rows * cols; i++)
        img[i] = 0.5f;
    for (size_t k = 0; k < n; k++)
        for (uint32_t t = 0; t < m->steps; t++) {
            spike_maps_step(m, pick[k], t, step);
            size_t col = k * (m->steps + 1) + t;
            for (uint32_t j = 0; j < m->width; j++)
                img[j * cols + col] = step[j];
        }
    /* spikes black on white; two maps of all-equal values would make the
     * separators black too, which is harmless */
    rc = image_grid_write_heatmap(path, img, rows, cols, 4, 2, 1);
out:
    free(img);
    free(step);
    return rc;
}

/* Labels and image indices from the pairing CSV; every id must be listed. */
static int attach_pairing(spike_maps *m, const char *path)
{
    pairing_table *pt = pairing_table_load(path);
    if (!pt)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < m->n && rc == 0; i++) {
        const pairing_entry *e = pairing_table_find(pt, m->ids[i]);
        if (!e)
            rc = err_set("pairing %s: sample id %u is not listed", path, m->ids[i]);
        else {
            m->labels[i] = e->label;
            m->images[i] = e->image;
        }
    }
    pairing_table_destroy(&pt);
    return rc;
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    spike_frame *f = NULL;
    spike_maps *maps = NULL;
    progress *pg = NULL;
    float *buf = NULL, *row = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    const char *out_path = options_str(o, "maps"), *dset = options_str(o, "dataset");
    int64_t th = options_int(o, "th");
    if (!*out_path) {
        err_set("no --maps: give the file to write");
        goto fail;
    }
    if (strcmp(dset, "A") && strcmp(dset, "B") && strcmp(dset, "?")) {
        err_set("--dataset %s: use A, B or ?", dset);
        goto fail;
    }
    if (strlen(options_str(o, "source")) >= sizeof maps->source) {
        err_set("--source: longer than %zu bytes", sizeof maps->source - 1);
        goto fail;
    }
    spike_link *in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!in || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *s = link_shape(in);
    if (th < 1 || th > (int64_t)s->steps) {
        err_set("--th %lld: must be in 1..%u (the steps of %s)", (long long)th, s->steps, link_name(in));
        goto fail;
    }
    if (!(maps = spike_maps_new(s->width, (uint32_t)th)))
        goto fail;
    maps->dataset = dset[0];
    maps->seed = stage_seed(st);
    snprintf(maps->source, sizeof maps->source, "%s", options_str(o, "source"));
    /* buf: the current batch's maps, batch x th x width */
    if (stage_ready(st) < 0 || !(f = link_frame_new(in)) ||
        !(buf = malloc((size_t)s->batch * (size_t)th * s->width * sizeof *buf)) ||
        !(row = malloc((size_t)s->batch * s->width * sizeof *row)) || !(pg = progress_new(0, 0)))
        goto fail;
    log_info("keeping %lld of %u steps of %u neurons per sample", (long long)th, s->steps, s->width);
    uint64_t spikes = 0;
    while ((rc = link_recv(in, f)) == 1) {
        if (f->step < (uint32_t)th) {
            frame_unpack_f32(f, row);
            spikes += frame_count_spikes(f);
            for (uint32_t b = 0; b < f->batch; b++)
                memcpy(buf + ((size_t)b * th + f->step) * s->width, row + (size_t)b * s->width,
                       s->width * sizeof *row);
        }
        if (f->step + 1 == f->steps) {
            for (uint32_t b = 0; b < f->batch; b++)
                if (spike_maps_add(maps, f->ids[b], -1, -1, buf + (size_t)b * th * s->width) < 0)
                    goto fail;
            progress_update(pg, f->batch_index + 1, maps->n, NAN);
        }
    }
    if (rc < 0 || spike_maps_sort(maps) < 0)
        goto fail;
    if (*options_str(o, "pairing") && attach_pairing(maps, options_str(o, "pairing")) < 0)
        goto fail;
    if (spike_maps_save(maps, out_path) < 0)
        goto fail;
    double rate = maps->n ? (double)spikes / ((double)maps->n * (double)th * s->width) : 0;
    log_info("%zu maps of %u neurons x %lld steps (firing rate %.3f per step) in %s", maps->n, s->width,
             (long long)th, rate, out_path);
    if (*options_str(o, "png") && draw(maps, options_str(o, "png"), options_int(o, "png-maps")) < 0)
        goto fail;
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    log_error("%s", err_msg());
    rc = 1;
out:
    free(buf);
    free(row);
    progress_destroy(&pg);
    spike_maps_destroy(&maps);
    frame_destroy(&f);
    stage_destroy(&st);
    return rc;
}
