/* poisson-encoder: turns each frame of intensities in [0, 1] into T frames of
 * spikes; neuron j of sample s fires at step t with probability p_j * r_max,
 * drawn from (seed, s, t, j) alone (include/poisson.h). The optional port
 * `copy` carries the same spike frames (to a decoder as its training target,
 * or to an evaluator). */
#include "numerics/blas.h"
#include "core/err.h"
#include "core/log.h"
#include "numerics/poisson.h"
#include "transport/stage.h"

#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"steps", OPT_INT, "15", "time steps T per input frame"},
    {"r-max", OPT_FLOAT, "1", "spike probability per step of an intensity of 1"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"values", PORT_IN, 0, "intensities in [0, 1], batch x N, one frame per batch"},
    {"spikes", PORT_OUT, 0, "spikes, batch x N, T frames per batch"},
    {"copy", PORT_OUT, PORT_OPTIONAL, "the same spike frames"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"poisson-encoder", "Rate-codes intensities into Poisson spike frames.",
                              opts, ports};

int main(int argc, char **argv)
{
    stage *st = NULL;
    spike_frame *in = NULL, *out = NULL;
    float *spikes = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    if (blas_init(argv, 1) != 0)
        goto fail;
    const options *o = stage_options(st);
    int64_t steps = options_int(o, "steps");
    poisson_params pp = {.seed = stage_seed(st), .r_max = (float)options_float(o, "r-max")};
    if (steps < 1 || steps > FRAME_MAX_STEPS || !(pp.r_max >= 0 && pp.r_max <= 1)) {
        err_set("--steps must be in 1..%u and --r-max in [0, 1]", FRAME_MAX_STEPS);
        goto fail;
    }
    spike_link *values = stage_in(st, "values", &(frame_shape){FRAME_VALUES, 0, 0, 1});
    if (!values || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *vs = link_shape(values);
    frame_shape shape = {FRAME_SPIKES, vs->batch, vs->width, (uint32_t)steps};
    spike_link *link_spikes = stage_out(st, "spikes", &shape);
    spike_link *copy = stage_has_port(st, "copy") ? stage_out(st, "copy", &shape) : NULL;
    if (!link_spikes || (stage_has_port(st, "copy") && !copy) || stage_ready(st) < 0 ||
        !(in = link_frame_new(values)) || !(out = frame_new(&shape)) ||
        !(spikes = malloc((size_t)shape.batch * shape.width * sizeof *spikes)))
        goto fail;
    while ((rc = link_recv(values, in)) == 1) {
        out->batch_index = in->batch_index;
        out->steps = shape.steps;
        frame_copy_samples(out, in, 0, in->batch);
        for (uint32_t t = 0; t < shape.steps; t++) {
            poisson_encode(&pp, in->values, in->ids, (int)in->batch, (int)in->width, (int)t, spikes);
            if (frame_pack_f32(out, spikes, in->batch) < 0)
                goto fail;
            out->step = t;
            if (link_send(link_spikes, out) < 0 || (copy && link_send(copy, out) < 0))
                goto fail;
        }
    }
    if (rc < 0 || stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(spikes);
    frame_destroy(&in);
    frame_destroy(&out);
    stage_destroy(&st);
    return rc;
}
