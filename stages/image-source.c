/* image-source: reads an image data set (MNIST, Fashion-MNIST) and emits it as
 * batches of pixel frames in [0, 1] (one frame per batch, steps = 1).
 *
 * Sample ids name the image: its index in the split, plus the split's base
 * (train 0, test 2^30, so the two never share Poisson draws) and n x epoch, so a
 * second epoch draws fresh spikes for the same image. The optional port `copy`
 * carries the same frames (to an evaluator, say). --resume=N starts after
 * the run's batch N (a training resumed from its checkpoints). */
#include "data/checkpoint.h"
#include "data/dataset.h"
#include "core/err.h"
#include "core/log.h"
#include "core/progress.h"
#include "numerics/rng.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"data", OPT_STRING, "data", "data directory (scripts/fetch-data)"},
    {"dataset", OPT_STRING, "mnist", "mnist or fashion-mnist"},
    {"split", OPT_STRING, "train", "train or test"},
    {"limit", OPT_INT, "0", "use the first N images (0: all)", .min = "0"},
    {"epochs", OPT_INT, "1", "passes over the images", .min = "1"},
    {"batch", OPT_INT, "100", "images per frame", .min = "1"},
    {"shuffle", OPT_BOOL, "false", "visit the images in a random order drawn from (seed, epoch)"},
    {"resume", OPT_STRING, "false", "start after batch N of the run (resuming a training: the runner's "
     "resume=true gives N, the newest checkpoint of all its training stages)"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"images", PORT_OUT, 0, "pixels in [0, 1], batch x pixels, one frame per batch"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"image-source", "Emits an image data set as batches of pixel frames.",
                              opts, ports};

typedef struct {
    const options *o;
    dataset *ds;
    size_t batch;
    spike_link *out, *copy;
    spike_frame *f;
    progress *pg;
    uint32_t *order; /* an epoch's order of the images */
    int64_t skip;    /* --resume: batches of the run already trained on */
} source;

static int source_open(stage *st, void *arg)
{
    source *s = arg;
    const options *o = s->o = stage_options(st);
    s->batch = (size_t)options_int(o, "batch");
    if (!(s->ds = dataset_load_images(options_str(o, "data"), options_str(o, "dataset"),
                                      options_str(o, "split"), (size_t)options_int(o, "limit"))))
        return -1;
    if (checkpoint_source_option(options_str(o, "resume"), &s->skip) < 0)
        return stage_usage_error(st, "%s", err_msg());
    log_info("%zu %s images of %s, %lld epoch(s), batches of %zu", s->ds->n, options_str(o, "split"),
             options_str(o, "dataset"), (long long)options_int(o, "epochs"), s->batch);
    frame_shape shape = {FRAME_VALUES, (uint32_t)s->batch, (uint32_t)s->ds->n_pixels, 1};
    if (!(s->out = stage_out(st, "images", &shape)) ||
        (stage_has_port(st, "copy") && !(s->copy = stage_out(st, "copy", &shape))) ||
        !(s->f = frame_new(&shape)) || !(s->order = malloc(s->ds->n * sizeof *s->order)) ||
        !(s->pg = progress_new((uint64_t)options_int(o, "epochs") * s->ds->n, 0)))
        return -1;
    return 0;
}

/* Every epoch in order (or shuffled), in batches; until the last or a STOP. */
static int source_run(stage *st, void *arg)
{
    source *s = arg;
    const dataset *ds = s->ds;
    spike_frame *f = s->f;
    uint32_t base = strcmp(options_str(s->o, "split"), "test") == 0 ? DATASET_TEST_ID_BASE : 0;
    uint32_t batch_index = 0; /* the stream's: a resumed one starts again at 0 */
    uint64_t sent = 0;
    int64_t e0;
    size_t s0;
    checkpoint_position(s->skip, ds->n, s->batch, &e0, &s0);
    if (s->skip)
        log_info("resuming after batch %lld: epoch %lld, image %zu", (long long)s->skip, (long long)e0 + 1, s0);
    /* the stream's length, for a training's lr schedule */
    const int64_t per_epoch = (int64_t)((ds->n + s->batch - 1) / s->batch);
    const int64_t left = options_int(s->o, "epochs") * per_epoch - s->skip;
    f->batches = left > 0 && left <= UINT32_MAX ? (uint32_t)left : 0;
    for (int64_t e = e0; e < options_int(s->o, "epochs") && !stage_stopping(st); e++) {
        for (size_t i = 0; i < ds->n; i++)
            s->order[i] = (uint32_t)i;
        if (options_bool(s->o, "shuffle"))
            rng_shuffle(stage_seed(st), (uint32_t)e, s->order, ds->n);
        for (size_t start = e == e0 ? s0 : 0; start < ds->n && !stage_stopping(st); start += s->batch) {
            size_t rows = ds->n - start < s->batch ? ds->n - start : s->batch;
            frame_start_values(f, (uint32_t)rows, batch_index++);
            for (size_t r = 0; r < rows; r++) {
                uint32_t img = s->order[start + r];
                f->ids[r] = base + (uint32_t)(e * ds->n) + img;
                memcpy(f->values + r * ds->n_pixels, ds->images + (size_t)img * ds->n_pixels,
                       ds->n_pixels * sizeof(float));
            }
            if (link_send(s->out, f) < 0 || (s->copy && link_send(s->copy, f) < 0))
                return -1;
            sent += rows;
            progress_update(s->pg, f->batch_index + 1, sent, NAN);
        }
    }
    return 0;
}

static void source_cleanup(void *arg)
{
    source *s = arg;
    free(s->order);
    progress_destroy(&s->pg);
    frame_destroy(&s->f);
    dataset_destroy(&s->ds);
}

static const stage_callbacks callbacks = {.open = source_open, .run = source_run,
                                          .cleanup = source_cleanup};

int main(int argc, char **argv)
{
    source s = {0};
    return stage_main(&def, &callbacks, &s, argc, argv);
}
