/* ae-decoder: the autoencoder's output layer (W2: hidden spikes -> output LIF
 * neurons), also the image synthesiser behind the audiocoder.
 *
 * Inference: each hidden spike frame in, the output spike frame out (port
 * `spikes`). Training (when `target` is linked): the masked membrane loss of
 * the output against the target spike frame of the same step (the
 * autoencoder's own input spikes), and dL/d(hidden spikes) back to ae-encoder
 * on `grad` (computed with W2 before its update), part by part as the
 * encoder's hidden parts arrive (SNN_PARTS); then the update of W2, which runs
 * while the encoder updates W1: the output half of snn_train_step. With
 * --metrics it writes the training figures (loss, masked fraction, rates,
 * time, samples/s) as JSON. */
#include "numerics/blas.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"
#include "core/progress.h"
#include "numerics/snn.h"
#include "transport/stage.h"
#include "numerics/train_options.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"outputs", OPT_INT, "784", "output neurons without --model and --target (with a target: its width)"},
    {"model", OPT_STRING, "", "load W2 from this ae-decoder model (default: fresh weights)"},
    {"save", OPT_STRING, "", "write the trained W2 here at the end"},
    {"metrics", OPT_STRING, "", "write the training figures here (JSON)"},
    {"mask", OPT_BOOL, "true", "XOR-mask the loss (--no-mask: steer every output neuron)"},
    TRAIN_OPTION_SPECS,
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"hidden", PORT_IN, 0, "hidden spikes, batch x hidden, T frames per batch"},
    {"target", PORT_IN, PORT_OPTIONAL, "training: the spikes to reproduce, batch x outputs"},
    {"grad", PORT_OUT, PORT_OPTIONAL, "training: dL/d(hidden spikes), back to ae-encoder"},
    {"spikes", PORT_OUT, PORT_OPTIONAL, "output spikes, batch x outputs, T frames per batch"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {"ae-decoder", "The spiking autoencoder's output layer (W2).", opts, ports};

static int write_metrics(const char *path, const loss_stats *ls, const model *info, double seconds,
                         const lif_layer *layer)
{
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "stage", "ae-decoder");
    json_out_int(&j, "inputs", layer->n_in);
    json_out_int(&j, "outputs", layer->n_out);
    json_out_int(&j, "n_samples", info->samples);
    json_out_int(&j, "batches", info->batches);
    json_out_int(&j, "steps", info->steps);
    json_out_num(&j, "loss", loss_stats_mean(ls));
    json_out_num(&j, "masked_fraction", loss_stats_masked_fraction(ls));
    json_out_num(&j, "output_rate", ls->entries ? (double)ls->out_spikes / (double)ls->entries : NAN);
    json_out_num(&j, "target_rate", ls->entries ? (double)ls->target_spikes / (double)ls->entries : NAN);
    json_out_num(&j, "train_seconds", seconds);
    json_out_num(&j, "samples_per_s", seconds > 0 ? (double)info->samples / seconds : NAN);
    return json_out_write(&j, path);
}

/* The hidden frame (or part) h must carry the target y's batch, step and samples. */
static int check_pair(const spike_frame *y, const spike_frame *h, const char *link)
{
    if (h->batch_index != y->batch_index || h->step != y->step || h->rows != y->batch ||
        memcmp(y->ids + h->row0, h->ids, h->batch * sizeof *h->ids) != 0)
        return err_set("%s: hidden frame batch %u step %u (rows %u..%u of %u) does not match the "
                       "target frame batch %u step %u of %u rows (or its samples differ)", link,
                       h->batch_index, h->step, h->row0, h->row0 + h->batch - 1, h->rows,
                       y->batch_index, y->step, y->batch);
    return 0;
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    lif_layer *layer = NULL;
    progress *pg = NULL;
    spike_frame *h = NULL, *y = NULL, *gf = NULL, *sf = NULL;
    float *hidden = NULL, *target = NULL, *dv = NULL, *g_in = NULL;
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    model_layer_spec spec = {.path = options_str(o, "model"), .kind = "ae-decoder",
                             .n_out = (int)options_int(o, "outputs"), .seed = stage_seed(st),
                             .layer_id = 2, .init_scale = (float)options_float(o, "init-scale")};
    const bool mask = options_bool(o, "mask");
    if (blas_init(argv, (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &spec.lif, &spec.opt) != 0)
        goto fail;
    const bool training = stage_has_port(st, "target");
    if (training != stage_has_port(st, "grad")) {
        err_set("training needs both ports target and grad linked (or neither, to run)");
        goto fail;
    }
    spike_link *in = stage_in(st, "hidden", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (in && training)
        link_accept_parts(in);
    spike_link *tgt = training ? stage_in(st, "target", &(frame_shape){FRAME_SPIKES, 0, 0, 0}) : NULL;
    if (!in || (training && !tgt) || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *hs = link_shape(in);
    if (training) {
        const frame_shape *ts = link_shape(tgt);
        if (ts->batch != hs->batch || ts->steps != hs->steps) {
            err_set("%s: target frames %ux%u over %u steps do not pair with hidden frames of %u "
                    "rows over %u steps", link_name(tgt), ts->batch, ts->width, ts->steps,
                    hs->batch, hs->steps);
            goto fail;
        }
        spec.n_out = (int)ts->width;
    }
    spec.n_in = (int)hs->width;
    spec.max_batch = (int)hs->batch;
    if (*spec.path && !training)
        spec.n_out = 0; /* the file's */
    if (!(layer = model_layer_open(&spec)))
        goto fail;
    if (training)
        layer->parts = SNN_PARTS; /* as snn_train_step: same parts, same bits */
    frame_shape gs = {FRAME_ERROR, hs->batch, hs->width, hs->steps};
    frame_shape ss = {FRAME_SPIKES, hs->batch, (uint32_t)layer->n_out, hs->steps};
    spike_link *grad = training ? stage_out(st, "grad", &gs) : NULL;
    spike_link *spk = stage_has_port(st, "spikes") ? stage_out(st, "spikes", &ss) : NULL;
    if ((training && !grad) || (stage_has_port(st, "spikes") && !spk) || stage_ready(st) < 0 ||
        !(h = link_frame_new(in)) || (training && !(y = link_frame_new(tgt))) ||
        !(gf = frame_new(&gs)) || !(sf = frame_new(&ss)) ||
        !(hidden = malloc((size_t)hs->batch * hs->width * sizeof *hidden)) ||
        !(target = malloc((size_t)hs->batch * layer->n_out * sizeof *target)) ||
        !(dv = malloc((size_t)hs->batch * layer->n_out * sizeof *dv)) ||
        !(g_in = malloc((size_t)hs->batch * hs->width * sizeof *g_in)) ||
        !(pg = progress_new(0, 0)))
        goto fail;
    log_info("%s W2 %d -> %d%s", training ? "training" : "running", layer->n_in, layer->n_out,
             *spec.path ? " from the model file" : "");

    model info = {.steps = (int32_t)hs->steps, .mask = mask, .seed = stage_seed(st)};
    loss_stats ls = {0};
    double t0 = 0;
    for (;;) {
        /* the target first: it is usually there already, and unpacking it while
         * the hidden frame is still on its way keeps that off the critical path */
        int rt = training ? link_recv(tgt, y) : 1;
        if (rt == 1 && training)
            frame_unpack_f32(y, target);
        if (rt < 0 || (rc = link_recv(in, h)) < 0)
            goto fail;
        if (training && rt != rc) {
            err_set(rc ? "%s: ended before %s" : "%s: more frames than %s", link_name(tgt),
                    link_name(in));
            goto fail;
        }
        if (rc == 0)
            break;
        if (t0 == 0)
            t0 = clock_now();
        const uint32_t rows = h->rows; /* the step's samples; h may be its first part */
        if (h->step == 0 && lif_layer_begin_batch(layer, (int)rows) < 0)
            goto fail;
        if (training) {
            /* part by part as the encoder sends them; each part's error goes back
             * at once, so the encoder updates with it while we compute the next */
            for (;;) {
                const int b0 = (int)h->row0, b1 = b0 + (int)h->batch;
                frame_unpack_f32(h, hidden + (size_t)b0 * hs->width);
                if (check_pair(y, h, link_name(in)) < 0 ||
                    snn_output_error_rows(layer, hidden, target, mask, dv, g_in, &ls, b0, b1) < 0)
                    goto fail;
                frame_follow_rows(gf, y, (uint32_t)b0, (uint32_t)(b1 - b0));
                memcpy(gf->values, g_in + (size_t)b0 * hs->width,
                       (size_t)(b1 - b0) * hs->width * sizeof *g_in);
                if (link_send(grad, gf) < 0)
                    goto fail;
                if (b1 == (int)rows)
                    break;
                if ((rc = link_recv(in, h)) != 1) {
                    if (rc == 0)
                        err_set("%s: END in the middle of a step", link_name(in));
                    goto fail;
                }
            }
            if (lif_layer_update(layer, dv) < 0)
                goto fail;
        } else {
            frame_unpack_f32(h, hidden);
            if (lif_layer_forward(layer, hidden) < 0)
                goto fail;
        }
        if (spk) {
            if (frame_pack_f32(sf, layer->spikes, rows) < 0)
                goto fail;
            frame_follow(sf, training ? y : h);
            if (link_send(spk, sf) < 0)
                goto fail;
        }
        if (h->step + 1 == h->steps) {
            info.batches++;
            info.samples += rows;
            progress_update(pg, (uint64_t)info.batches, (uint64_t)info.samples,
                            training ? loss_stats_mean(&ls) : NAN);
        }
    }
    double seconds = t0 > 0 ? clock_now() - t0 : 0;
    progress_finish(pg);
    if (training && *options_str(o, "save")) {
        if (model_layer_save(layer, "ae-decoder", &info, options_str(o, "save")) < 0)
            goto fail;
        log_info("saved W2 to %s", options_str(o, "save"));
    }
    if (*options_str(o, "metrics") &&
        write_metrics(options_str(o, "metrics"), &ls, &info, seconds, layer) < 0)
        goto fail;
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(hidden);
    free(target);
    free(dv);
    free(g_in);
    frame_destroy(&h);
    frame_destroy(&y);
    frame_destroy(&gf);
    frame_destroy(&sf);
    progress_destroy(&pg);
    lif_layer_destroy(&layer);
    stage_destroy(&st);
    return rc;
}
