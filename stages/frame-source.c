/* frame-source: emits synthetic random frames — a test source, and a way to
 * benchmark links and downstream stages without real data.
 * Batch b, step t carries sample ids b*batch .. b*batch+batch-1; spikes are on
 * with probability --rate, values uniform in [0, 1). Deterministic in --seed. */
#include "core/log.h"
#include "core/err.h"
#include "core/progress.h"
#include "transport/stage.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const option_spec opts[] = {
    {"batch", OPT_INT, "100", "samples per frame"},
    {"width", OPT_INT, "784", "values per sample (N)"},
    {"steps", OPT_INT, "15", "time steps per batch (T)"},
    {"batches", OPT_INT, "10", "batches to send"},
    {"kind", OPT_STRING, "spikes", "spikes, values, membrane or error"},
    {"rate", OPT_FLOAT, "0.1", "probability of a spike"},
    {"delay-ms", OPT_FLOAT, "0", "pause after each frame, in milliseconds"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"out", PORT_OUT, 0, "the frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"frame-source", "Emits synthetic random frames.", opts, ports};

/* splitmix64: tiny, good enough for test data, and independent of the training rng */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void fill(spike_frame *f, uint64_t *rng, double rate)
{
    size_t n = (size_t)f->batch * f->width;
    if (f->kind == FRAME_SPIKES) {
        uint64_t threshold = rate >= 1 ? UINT64_MAX : (uint64_t)(rate * 18446744073709551616.0);
        for (uint32_t i = 0; i < f->batch; i++)
            for (uint32_t j = 0; j < f->width; j++)
                frame_set_spike(f, i, j, next(rng) < threshold);
    } else {
        for (size_t i = 0; i < n; i++)
            f->values[i] = (float)(next(rng) >> 40) / (float)(1 << 24);
    }
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    spike_frame *f = NULL;
    progress *pg = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    frame_shape shape = {FRAME_SPIKES, (uint32_t)options_int(o, "batch"),
                         (uint32_t)options_int(o, "width"), (uint32_t)options_int(o, "steps")};
    int64_t batches = options_int(o, "batches");
    double rate = options_float(o, "rate"), delay = options_float(o, "delay-ms");
    if (frame_kind_parse(options_str(o, "kind"), &shape.kind) < 0 || shape.kind == FRAME_ANY ||
        shape.kind == FRAME_CONTROL) {
        err_set("--kind %s: use spikes, values, membrane or error", options_str(o, "kind"));
        goto fail;
    }
    if (options_int(o, "batch") <= 0 || options_int(o, "width") <= 0 || options_int(o, "steps") <= 0 ||
        batches < 0 || options_int(o, "steps") > FRAME_MAX_STEPS) {
        err_set("--batch, --width and --steps must be positive, --batches not negative");
        goto fail;
    }
    spike_link *out = stage_out(st, "out", &shape);
    if (!out || stage_ready(st) < 0 || !(f = frame_new(&shape)) ||
        !(pg = progress_new((uint64_t)batches * shape.batch, 0)))
        goto fail;
    uint64_t rng = stage_seed(st);
    int64_t b;
    for (b = 0; b < batches && !stage_stopping(st); b++) {
        for (uint32_t i = 0; i < shape.batch; i++)
            f->ids[i] = (uint32_t)(b * shape.batch + i);
        f->batch_index = (uint32_t)b;
        f->steps = shape.steps;
        for (uint32_t t = 0; t < shape.steps; t++) {
            f->step = t;
            fill(f, &rng, rate);
            if (link_send(out, f) < 0)
                goto fail;
            if (delay > 0)
                nanosleep(&(struct timespec){(time_t)(delay / 1000),
                                             (long)(fmod(delay, 1000) * 1e6)}, NULL);
        }
        progress_update(pg, (uint64_t)(b + 1) * shape.steps, (uint64_t)(b + 1) * shape.batch, NAN);
    }
    if (stage_finish(st) < 0)
        goto fail;
    if (b < batches)
        log_info("stopped after %lld of %lld batches", (long long)b, (long long)batches);
    progress_destroy(&pg);
    frame_destroy(&f);
    stage_destroy(&st);
    return 0;
fail:
    log_error("%s", err_msg());
    progress_destroy(&pg);
    frame_destroy(&f);
    stage_destroy(&st);
    return 1;
}
