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
    {"maps", OPT_STRING, "", "write the spike maps file here (required; atomic)", .path = OPT_PATH_WRITE},
    {"th", OPT_INT, "15", "steps kept of each sample's map, from step 0 (1..T)"},
    {"dataset", OPT_STRING, "?", "the pairing the maps were made with, recorded in the file", .choices = "A|B|?"},
    {"source", OPT_STRING, "", "what made the maps, recorded in the file (e.g. the encoder model's path)"},
    {"pairing", OPT_STRING, "", "pairing CSV (id,label,image_index,recording) giving each map its label and image"},
    {"png", OPT_STRING, "", "also draw some maps as a spike raster PNG (time across, neurons down)",
     .path = OPT_PATH_WRITE},
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

typedef struct {
    const options *o;
    int64_t th;
    spike_link *in;
    spike_frame *f;
    spike_maps *maps;
    progress *pg;
    float *buf, *row; /* the current batch's maps, batch x th x width; one step */
    uint64_t spikes;
} sink;

static int sink_open(stage *st, void *arg)
{
    sink *k = arg;
    const options *o = k->o = stage_options(st);
    k->th = options_int(o, "th");
    if (!*options_str(o, "maps"))
        return stage_usage_error(st, "no --maps: give the file to write");
    if (strlen(options_str(o, "source")) >= sizeof k->maps->source)
        return stage_usage_error(st, "--source: longer than %zu bytes", sizeof k->maps->source - 1);
    if (!(k->in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0})) ||
        stage_handshake(st) < 0)
        return -1;
    const frame_shape *s = link_shape(k->in);
    if (k->th < 1 || k->th > (int64_t)s->steps) /* the range depends on the link */
        return err_set("--th %lld: must be in 1..%u (the steps of %s)", (long long)k->th, s->steps,
                       link_name(k->in));
    if (!(k->maps = spike_maps_new(s->width, (uint32_t)k->th)))
        return -1;
    k->maps->dataset = options_str(o, "dataset")[0];
    k->maps->seed = stage_seed(st);
    /* the encoder's identity (its HELLO note) first: an audiocoder trained on
     * these maps records it, and a decoder checks it belongs to that encoder */
    char fed[32], kind[32];
    const char *note = link_peer_note(k->in);
    if (stage_note_value(note, "feeds", fed, sizeof fed) && stage_note_value(note, "kind", kind, sizeof kind) &&
        !strcmp(kind, "ae-encoder"))
        k->maps->source_hash = strtoull(fed, NULL, 16);
    snprintf(k->maps->source, sizeof k->maps->source, "%s", options_str(o, "source"));
    if (!(k->f = link_frame_new(k->in)) ||
        !(k->buf = malloc((size_t)s->batch * (size_t)k->th * s->width * sizeof *k->buf)) ||
        !(k->row = malloc((size_t)s->batch * s->width * sizeof *k->row)) || !(k->pg = progress_new(0, 0)))
        return -1;
    return 0;
}

/* The first th steps of every sample; a sample's map is whole at its last step. */
static int sink_run(stage *st, void *arg)
{
    (void)st;
    sink *k = arg;
    const size_t width = link_shape(k->in)->width, th = (size_t)k->th;
    spike_frame *f = k->f;
    log_info("keeping %zu of %u steps of %zu neurons per sample", th, link_shape(k->in)->steps, width);
    int rc;
    while ((rc = link_recv(k->in, f)) == 1) {
        if (f->step < th) {
            frame_unpack_f32(f, k->row);
            k->spikes += frame_count_spikes(f);
            for (uint32_t b = 0; b < f->batch; b++)
                memcpy(k->buf + ((size_t)b * th + f->step) * width, k->row + (size_t)b * width,
                       width * sizeof *k->row);
        }
        if (f->step + 1 == f->steps) {
            for (uint32_t b = 0; b < f->batch; b++)
                if (spike_maps_add(k->maps, f->ids[b], -1, -1, k->buf + (size_t)b * th * width) < 0)
                    return -1;
            progress_update(k->pg, f->batch_index + 1, k->maps->n, NAN);
        }
    }
    return rc;
}

/* The file, once the whole stream is in; then the picture. */
static int sink_close(stage *st, void *arg)
{
    (void)st;
    sink *k = arg;
    const options *o = k->o;
    spike_maps *maps = k->maps;
    const char *out_path = options_str(o, "maps");
    if (spike_maps_sort(maps) < 0 ||
        (*options_str(o, "pairing") && attach_pairing(maps, options_str(o, "pairing")) < 0) ||
        spike_maps_save(maps, out_path) < 0)
        return -1;
    double rate = maps->n ? (double)k->spikes / ((double)maps->n * (double)k->th * maps->width) : 0;
    log_info("%zu maps of %u neurons x %lld steps (firing rate %.3f per step) in %s", maps->n,
             maps->width, (long long)k->th, rate, out_path);
    if (*options_str(o, "png") && draw(maps, options_str(o, "png"), options_int(o, "png-maps")) < 0)
        return -1;
    return 0;
}

static void sink_cleanup(void *arg)
{
    sink *k = arg;
    free(k->buf);
    free(k->row);
    progress_destroy(&k->pg);
    spike_maps_destroy(&k->maps);
    frame_destroy(&k->f);
}

static const stage_callbacks callbacks = {.open = sink_open, .run = sink_run, .close = sink_close,
                                          .cleanup = sink_cleanup};

int main(int argc, char **argv)
{
    sink k = {0};
    return stage_main(&def, &callbacks, &k, argc, argv);
}
