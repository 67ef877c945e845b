/* image-source: reads an image data set (MNIST, Fashion-MNIST) and emits it as
 * batches of pixel frames in [0, 1] (one frame per batch, steps = 1).
 *
 * Sample ids name the image: its index in the split, plus the split's base
 * (train 0, test 2^30, so the two never share Poisson draws) and n x epoch, so a
 * second epoch draws fresh spikes for the same image. The optional port `copy`
 * carries the same frames (to an evaluator, say). */
#include "data/dataset.h"
#include "core/err.h"
#include "core/log.h"
#include "core/progress.h"
#include "numerics/rng.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TEST_ID_BASE (1u << 30)

static const option_spec opts[] = {
    {"data", OPT_STRING, "data", "data directory (scripts/fetch-data)"},
    {"dataset", OPT_STRING, "mnist", "mnist or fashion-mnist"},
    {"split", OPT_STRING, "train", "train or test"},
    {"limit", OPT_INT, "0", "use the first N images (0: all)"},
    {"epochs", OPT_INT, "1", "passes over the images"},
    {"batch", OPT_INT, "100", "images per frame"},
    {"shuffle", OPT_BOOL, "false", "visit the images in a random order drawn from (seed, epoch)"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"images", PORT_OUT, 0, "pixels in [0, 1], batch x pixels, one frame per batch"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"image-source", "Emits an image data set as batches of pixel frames.",
                              opts, ports};

int main(int argc, char **argv)
{
    stage *st = NULL;
    dataset *ds = NULL;
    spike_frame *f = NULL;
    progress *pg = NULL;
    uint32_t *order = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    const char *split = options_str(o, "split");
    int64_t epochs = options_int(o, "epochs"), batch = options_int(o, "batch");
    if (epochs < 1 || batch < 1 || options_int(o, "limit") < 0) {
        err_set("--epochs and --batch must be at least 1, --limit not negative");
        goto fail;
    }
    ds = dataset_load_images(options_str(o, "data"), options_str(o, "dataset"), split,
                             (size_t)options_int(o, "limit"));
    if (!ds)
        goto fail;
    log_info("%zu %s images of %s, %lld epoch(s), batches of %lld", ds->n, split,
             options_str(o, "dataset"), (long long)epochs, (long long)batch);
    frame_shape shape = {FRAME_VALUES, (uint32_t)batch, (uint32_t)ds->n_pixels, 1};
    spike_link *out = stage_out(st, "images", &shape);
    spike_link *copy = stage_has_port(st, "copy") ? stage_out(st, "copy", &shape) : NULL;
    if (!out || (stage_has_port(st, "copy") && !copy) || stage_ready(st) < 0 ||
        !(f = frame_new(&shape)) || !(order = malloc(ds->n * sizeof *order)) ||
        !(pg = progress_new((uint64_t)epochs * ds->n, 0)))
        goto fail;
    uint32_t base = strcmp(split, "test") == 0 ? TEST_ID_BASE : 0;
    uint32_t batch_index = 0;
    uint64_t sent = 0;
    for (int64_t e = 0; e < epochs && !stage_stopping(st); e++) {
        for (size_t i = 0; i < ds->n; i++)
            order[i] = (uint32_t)i;
        if (options_bool(o, "shuffle"))
            rng_shuffle(stage_seed(st), (uint32_t)e, order, ds->n);
        for (size_t start = 0; start < ds->n && !stage_stopping(st); start += (size_t)batch) {
            size_t rows = ds->n - start < (size_t)batch ? ds->n - start : (size_t)batch;
            f->kind = FRAME_VALUES;
            f->batch = (uint32_t)rows;
            f->batch_index = batch_index++;
            f->step = 0;
            f->steps = 1;
            for (size_t r = 0; r < rows; r++) {
                uint32_t img = order[start + r];
                f->ids[r] = base + (uint32_t)(e * ds->n) + img;
                memcpy(f->values + r * ds->n_pixels, ds->images + (size_t)img * ds->n_pixels,
                       ds->n_pixels * sizeof(float));
            }
            if (link_send(out, f) < 0 || (copy && link_send(copy, f) < 0))
                goto fail;
            sent += rows;
            progress_update(pg, f->batch_index + 1, sent, NAN);
        }
    }
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(order);
    progress_destroy(&pg);
    frame_destroy(&f);
    dataset_destroy(&ds);
    stage_destroy(&st);
    return rc;
}
