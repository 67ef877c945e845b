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
    {"batch", OPT_INT, "100", "samples per frame", .min = "1"},
    {"width", OPT_INT, "784", "values per sample (N)", .min = "1"},
    {"steps", OPT_INT, "15", "time steps per batch (T)", .min = "1", .max = "16777216"},
    {"batches", OPT_INT, "10", "batches to send", .min = "0"},
    {"kind", OPT_STRING, "spikes", "the frames' kind", .choices = "spikes|values|membrane|error"},
    {"rate", OPT_FLOAT, "0.1", "probability of a spike"},
    {"delay-ms", OPT_FLOAT, "0", "pause after each frame, in milliseconds"},
    {NULL, 0, NULL, NULL},
};
_Static_assert(FRAME_MAX_STEPS == 16777216, "--steps' .max is FRAME_MAX_STEPS");
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

typedef struct {
    frame_shape shape;
    int64_t batches, sent; /* batches to send, and sent */
    double rate, delay_ms;
    spike_link *out;
    spike_frame *f;
    progress *pg;
} source;

static int source_open(stage *st, void *arg)
{
    source *s = arg;
    const options *o = stage_options(st);
    s->shape = (frame_shape){FRAME_SPIKES, (uint32_t)options_int(o, "batch"),
                             (uint32_t)options_int(o, "width"), (uint32_t)options_int(o, "steps")};
    s->batches = options_int(o, "batches");
    s->rate = options_float(o, "rate");
    s->delay_ms = options_float(o, "delay-ms");
    if (frame_kind_parse(options_str(o, "kind"), &s->shape.kind) < 0 || /* one of the choices */
        !(s->out = stage_out(st, "out", &s->shape)) || !(s->f = frame_new(&s->shape)) ||
        !(s->pg = progress_new((uint64_t)s->batches * s->shape.batch, 0)))
        return -1;
    return 0;
}

/* Batch b: ids b*batch.., every step drawn afresh; until --batches or a STOP. */
static int source_run(stage *st, void *arg)
{
    source *s = arg;
    spike_frame *f = s->f;
    uint64_t rng = stage_seed(st);
    for (int64_t b = 0; b < s->batches && !stage_stopping(st); b++) {
        for (uint32_t i = 0; i < s->shape.batch; i++)
            f->ids[i] = (uint32_t)(b * s->shape.batch + i);
        f->batch_index = (uint32_t)b;
        f->steps = s->shape.steps;
        for (uint32_t t = 0; t < s->shape.steps; t++) {
            f->step = t;
            fill(f, &rng, s->rate);
            if (link_send(s->out, f) < 0)
                return -1;
            if (s->delay_ms > 0)
                nanosleep(&(struct timespec){(time_t)(s->delay_ms / 1000),
                                             (long)(fmod(s->delay_ms, 1000) * 1e6)}, NULL);
        }
        s->sent = b + 1;
        progress_update(s->pg, (uint64_t)(b + 1) * s->shape.steps, (uint64_t)(b + 1) * s->shape.batch, NAN);
    }
    return 0;
}

static int source_close(stage *st, void *arg)
{
    (void)st;
    source *s = arg;
    if (s->sent < s->batches)
        log_info("stopped after %lld of %lld batches", (long long)s->sent, (long long)s->batches);
    return 0;
}

static void source_cleanup(void *arg)
{
    source *s = arg;
    progress_destroy(&s->pg);
    frame_destroy(&s->f);
}

static const stage_callbacks callbacks = {.open = source_open, .run = source_run,
                                          .close = source_close, .cleanup = source_cleanup};

int main(int argc, char **argv)
{
    source s = {0};
    return stage_main(&def, &callbacks, &s, argc, argv);
}
