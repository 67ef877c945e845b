/* ae-encoder: the autoencoder's hidden layer (W1: inputs -> hidden LIF neurons).
 *
 * Inference: each input spike frame in, the hidden spike frame of the same
 * step out. Training (when the feedback port `grad` is linked, from
 * ae-decoder): it sends step t in parts of the batch (SNN_PARTS), then waits
 * for dL/d(hidden spikes) of step t, which comes back in the same parts,
 * applies the surrogate and updates W1 with each part as it arrives
 * (lif_layer_update_rows: the same bits as one update), so both layers move
 * in lock-step; the batch, step and rows of every error frame must be the ones
 * expected next. This is snn_train_step of the library, split across two
 * processes. While the decoder works, the encoder reads and unpacks its next
 * input, so that work is off the step's critical path. */
#include "numerics/blas.h"
#include "core/err.h"
#include "core/log.h"
#include "data/model.h"
#include "numerics/snn.h"
#include "transport/stage.h"
#include "numerics/train_options.h"

#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"hidden", OPT_INT, "196", "hidden neurons (ignored with --model)"},
    {"model", OPT_STRING, "", "load W1 from this ae-encoder model (default: fresh weights)"},
    {"save", OPT_STRING, "", "write the trained W1 here at the end"},
    TRAIN_OPTION_SPECS,
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "input spikes, batch x inputs, T frames per batch"},
    {"grad", PORT_IN, PORT_OPTIONAL | PORT_FEEDBACK, "training: dL/d(hidden spikes) from ae-decoder"},
    {"hidden", PORT_OUT, 0, "hidden spikes, batch x hidden, T frames per batch"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"ae-encoder", "The spiking autoencoder's hidden layer (W1).", opts, ports};

/* The error frame must answer the step just sent (input x): its next part. */
static int check_answer(const spike_frame *sent, const spike_frame *got, uint32_t row0,
                        const char *link)
{
    if (got->batch_index != sent->batch_index || got->step != sent->step ||
        got->rows != sent->batch || got->row0 != row0)
        return err_set("%s: error frame for batch %u step %u (rows %u..%u of %u), expected batch "
                       "%u step %u (rows from %u of %u)", link, got->batch_index, got->step,
                       got->row0, got->row0 + got->batch - 1, got->rows, sent->batch_index,
                       sent->step, row0, sent->batch);
    return 0;
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    lif_layer *layer = NULL;
    spike_frame *x = NULL, *next = NULL, *h = NULL, *g = NULL;
    float *input = NULL, *dv = NULL, *g_all = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    model_layer_spec spec = {.path = options_str(o, "model"), .kind = "ae-encoder",
                             .n_out = (int)options_int(o, "hidden"), .seed = stage_seed(st),
                             .layer_id = 1, .init_scale = (float)options_float(o, "init-scale")};
    if (blas_init(argv, (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &spec.lif, &spec.opt) != 0)
        goto fail;
    const bool training = stage_has_port(st, "grad");
    /* the input's shape first: the decoder learns ours from it, and only then
     * opens the error link back to us */
    spike_link *in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!in || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *xs = link_shape(in);
    spec.n_in = (int)xs->width;
    spec.max_batch = (int)xs->batch;
    if (*spec.path)
        spec.n_out = 0; /* the file's */
    if (!(layer = model_layer_open(&spec)))
        goto fail;
    if (training)
        lif_layer_set_parts(layer, SNN_PARTS); /* as snn_train_step: same parts, same bits */
    frame_shape hs = {FRAME_SPIKES, xs->batch, (uint32_t)layer->n_out, xs->steps};
    spike_link *out = stage_out(st, "hidden", &hs);
    spike_link *grad = training ? stage_in(st, "grad", &(frame_shape){FRAME_ERROR, hs.batch,
                                                                         hs.width, hs.steps}) : NULL;
    if (grad)
        link_accept_parts(grad);
    if (!out || (training && !grad) || stage_ready(st) < 0 || !(x = link_frame_new(in)) ||
        !(next = link_frame_new(in)) || !(h = frame_new(&hs)) ||
        (training && !(g = link_frame_new(grad))) ||
        !(input = malloc((size_t)xs->batch * xs->width * sizeof *input)) ||
        !(dv = malloc((size_t)xs->batch * layer->n_out * sizeof *dv)) ||
        !(g_all = malloc((size_t)xs->batch * layer->n_out * sizeof *g_all)))
        goto fail;
    log_info("%s W1 %d -> %d%s", training ? "training" : "running", layer->n_in, layer->n_out,
             *spec.path ? " from the model file" : "");

    model info = {.steps = (int32_t)xs->steps, .seed = stage_seed(st)};
    if ((rc = link_recv(in, x)) == 1)
        frame_unpack_f32(x, input);
    while (rc == 1) {
        if (x->step == 0 && lif_layer_begin_batch(layer, (int)x->batch) < 0)
            goto fail;
        /* training: the hidden spikes go in parts, so that the decoder starts on
         * the first while we compute the next (the parts of snn_train_step) */
        for (int k = 0, b0 = 0, b1; b0 < (int)x->batch; b0 = b1, k++) {
            b1 = lif_layer_part_end((int)x->batch, lif_layer_parts(layer), k);
            if (lif_layer_forward_rows(layer, input, b0, b1) < 0 ||
                frame_pack_f32(h, layer->spikes + (size_t)b0 * layer->n_out, (uint32_t)(b1 - b0)) < 0)
                goto fail;
            frame_follow_rows(h, x, (uint32_t)b0, (uint32_t)(b1 - b0));
            if (link_send(out, h) < 0)
                goto fail;
        }
        /* the next input, read and unpacked while the decoder works on this step */
        if ((rc = link_recv(in, next)) == 1)
            frame_unpack_f32(next, input);
        else if (rc < 0)
            goto fail;
        /* the error comes in parts of the batch; each updates as it arrives */
        for (uint32_t row0 = 0; training && row0 < x->batch; row0 += g->batch) {
            int r = link_recv(grad, g);
            if (r != 1) {
                if (r == 0)
                    err_set("%s: ended before the last step", link_name(grad));
                goto fail;
            }
            if (check_answer(x, g, row0, link_name(grad)) < 0)
                goto fail;
            const size_t at = (size_t)row0 * layer->n_out;
            memcpy(g_all + at, g->values, (size_t)g->batch * layer->n_out * sizeof *g_all);
            lif_layer_surrogate_rows(layer, g_all, dv, (int)row0, (int)(row0 + g->batch));
            if (lif_layer_update_rows(layer, dv, (int)row0, (int)(row0 + g->batch)) < 0)
                goto fail;
        }
        if (x->step + 1 == x->steps) {
            info.batches++;
            info.samples += x->batch;
        }
        spike_frame *done = x;
        x = next;
        next = done;
    }
    if (rc < 0)
        goto fail;
    /* END downstream first: the decoder ends the error stream only after it */
    if (link_send_end(out) < 0)
        goto fail;
    if (training && (rc = link_recv(grad, g)) != 0) {
        if (rc == 1)
            err_set("%s: an error frame after the last step", link_name(grad));
        goto fail;
    }
    if (training && *options_str(o, "save")) {
        if (model_layer_save(layer, "ae-encoder", &info, options_str(o, "save")) < 0)
            goto fail;
        log_info("saved W1 to %s (%lld samples)", options_str(o, "save"), (long long)info.samples);
    }
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(input);
    free(dv);
    free(g_all);
    frame_destroy(&x);
    frame_destroy(&next);
    frame_destroy(&h);
    frame_destroy(&g);
    lif_layer_destroy(&layer);
    stage_destroy(&st);
    return rc;
}
