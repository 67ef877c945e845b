/* poisson-encoder: turns each frame of intensities in [0, 1] into T frames of
 * spikes; neuron j of sample s fires at step t with probability p_j * r_max,
 * drawn from (seed, s, t, j) alone (include/poisson.h). The optional port
 * `copy` carries the same spike frames (to a decoder as its training target,
 * or to an evaluator). --settings-from=PREFIX takes T and r_max from the
 * audiocoder PREFIX's recorded front end (data/frontend_settings.h). */
#include "numerics/blas.h"
#include "core/err.h"
#include "core/log.h"
#include "data/frontend_settings.h"
#include "numerics/poisson.h"
#include "transport/stage.h"

#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"steps", OPT_INT, "15", "time steps T per input frame", .min = "1", .max = "16777216"},
    {"r-max", OPT_FLOAT, "1", "spike probability per step of an intensity of 1", .min = "0", .max = "1"},
    {"settings-from", OPT_STRING, "", "take --steps and --r-max the audiocoder PREFIX was trained with, when "
     "not given (a given one must agree)", .path = OPT_PATH_READ, .suffixes = "-hidden.ssm"},
    {NULL, 0, NULL, NULL},
};
_Static_assert(FRAME_MAX_STEPS == 16777216, "--steps' .max is FRAME_MAX_STEPS");
static const port_spec ports[] = {
    {"values", PORT_IN, 0, "intensities in [0, 1], batch x N, one frame per batch"},
    {"spikes", PORT_OUT, 0, "spikes, batch x N, T frames per batch"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same spike frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"poisson-encoder", "Rate-codes intensities into Poisson spike frames.",
                              opts, ports};

typedef struct {
    poisson_params pp;
    spike_link *values, *spikes, *copy;
    frame_shape shape;
    spike_frame *in, *out;
    float *draws; /* one step's spikes, batch x N */
} encoder;

/* The values' shape decides the spikes': T frames of the same rows. */
static int encoder_open(stage *st, void *arg)
{
    encoder *e = arg;
    const options *o = stage_options(st);
    if (blas_init(stage_argv(st), 1) != 0)
        return -1;
    double r_max = options_float(o, "r-max");
    int64_t steps = options_int(o, "steps");
    frontend_settings fs = {.path = "the options"}, *m = *options_str(o, "settings-from") ? &fs : NULL;
    if ((m && frontend_settings_load(m, options_str(o, "settings-from")) < 0) ||
        frontend_settings_float(m, o, "r-max", "r_max", &r_max) < 0 ||
        frontend_settings_int(m, o, "steps", "steps", &steps) < 0)
        return -1;
    if (steps < 1 || steps > FRAME_MAX_STEPS || !(r_max >= 0 && r_max <= 1))
        return err_set("%s: steps %lld or r_max %g out of range", fs.path, (long long)steps, r_max);
    e->pp = (poisson_params){.seed = stage_seed(st), .r_max = (float)r_max};
    if (!(e->values = stage_in(st, "values", &(frame_shape){FRAME_VALUES, 0, 0, 1})) ||
        stage_handshake(st) < 0)
        return -1;
    const frame_shape *vs = link_shape(e->values);
    e->shape = (frame_shape){FRAME_SPIKES, vs->batch, vs->width, (uint32_t)steps};
    if (!(e->spikes = stage_out(st, "spikes", &e->shape)) ||
        (stage_has_port(st, "copy") && !(e->copy = stage_out(st, "copy", &e->shape))) ||
        !(e->in = link_frame_new(e->values)) || !(e->out = frame_new(&e->shape)) ||
        !(e->draws = malloc((size_t)e->shape.batch * e->shape.width * sizeof *e->draws)))
        return -1;
    return 0;
}

static int encoder_run(stage *st, void *arg)
{
    (void)st;
    encoder *e = arg;
    spike_frame *in = e->in, *out = e->out;
    int rc;
    while ((rc = link_recv(e->values, in)) == 1) {
        out->batch_index = in->batch_index;
        out->batches = in->batches;
        out->steps = e->shape.steps;
        frame_copy_samples(out, in, 0, in->batch);
        for (uint32_t t = 0; t < e->shape.steps; t++) {
            poisson_encode(&e->pp, in->values, in->ids, (int)in->batch, (int)in->width, (int)t, e->draws);
            if (frame_pack_f32(out, e->draws, in->batch) < 0)
                return -1;
            out->step = t;
            if (link_send(e->spikes, out) < 0 || (e->copy && link_send(e->copy, out) < 0))
                return -1;
        }
    }
    return rc;
}

static void encoder_cleanup(void *arg)
{
    encoder *e = arg;
    free(e->draws);
    frame_destroy(&e->in);
    frame_destroy(&e->out);
}

static const stage_callbacks callbacks = {.open = encoder_open, .run = encoder_run,
                                          .cleanup = encoder_cleanup};

int main(int argc, char **argv)
{
    encoder e = {0};
    return stage_main(&def, &callbacks, &e, argc, argv);
}
