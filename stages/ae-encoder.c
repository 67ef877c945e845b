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
 * input, so that work is off the step's critical path. A training keeps a
 * checkpoint every --checkpoint-every batches and goes on from one with
 * --resume (data/checkpoint.h). */
#include "numerics/blas.h"
#include "core/err.h"
#include "core/log.h"
#include "data/checkpoint.h"
#include "data/model.h"
#include "numerics/snn.h"
#include "transport/stage.h"
#include "numerics/train_options.h"

#include <stdlib.h>
#include <string.h>

static const option_spec opts[] = {
    {"hidden", OPT_INT, "196", "hidden neurons (ignored with --model)"},
    {"model", OPT_STRING, "", "load W1 from this ae-encoder model (default: fresh weights)", .path = OPT_PATH_READ},
    {"save", OPT_STRING, "", "write the trained W1 here at the end (an interrupted training: beside it, "
     "as NAME.checkpoint.ssm)", .path = OPT_PATH_WRITE | OPT_PATH_KEEP},
    TRAIN_OPTION_SPECS,
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "input spikes, batch x inputs, T frames per batch"},
    {"grad", PORT_IN, PORT_OPTIONAL | PORT_FEEDBACK, "training: dL/d(hidden spikes) from ae-decoder"},
    {"hidden", PORT_OUT, 0, "hidden spikes, batch x hidden, T frames per batch"},
    {NULL, 0, 0, NULL},
};
static int encoder_preflight(const options *o)
{
    const char *save = options_str(o, "save");
    return checkpoint_preflight(&save, 1, options_str(o, "resume"));
}

static const stage_def def = {"ae-encoder", "The spiking autoencoder's hidden layer (W1).", opts, ports,
                              encoder_preflight};

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

typedef struct {
    const options *o;
    bool training;
    model_layer_spec spec;
    lif_layer *layer;
    spike_link *in, *out, *grad;
    spike_frame *x, *next, *h, *g; /* this step's input, the next one, hidden, error */
    float *input, *dv, *g_all;
    float *g_steps; /* bptt: dL/d(hidden spikes) of every step of the window */
    bool bptt;
    model info;
    uint64_t init; /* W1 before training: its lineage */
} encoder;

/* The input's shape first: the decoder learns ours from it, and only then
 * opens the error link back to us. */
static int encoder_open(stage *st, void *arg)
{
    encoder *e = arg;
    const options *o = e->o = stage_options(st);
    e->spec = (model_layer_spec){.path = options_str(o, "model"), .kind = "ae-encoder",
                                 .n_out = (int)options_int(o, "hidden"), .seed = stage_seed(st),
                                 .layer_id = 1, .init_scale = (float)options_float(o, "init-scale")};
    if (blas_init(stage_argv(st), (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &e->spec.lif, &e->spec.opt, &e->spec.learn) != 0)
        return -1;
    e->training = stage_has_port(st, "grad");
    if (!(e->in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0})) ||
        stage_handshake(st) < 0)
        return -1;
    const frame_shape *xs = link_shape(e->in);
    e->spec.n_in = (int)xs->width;
    e->spec.max_batch = (int)xs->batch;
    if (*e->spec.path)
        e->spec.n_out = 0; /* the file's */
    /* inference keeps no learning state (no traces to update) */
    if (!e->training)
        e->spec.learn.rule = LEARN_NONE;
    e->bptt = e->spec.learn.rule == LEARN_BPTT;
    e->info = (model){.steps = (int32_t)xs->steps, .seed = stage_seed(st)};
    int resumed = 0;
    if (!(e->layer = model_layer_open(&e->spec, NULL)) ||
        (e->training && (resumed = checkpoint_resume(e->layer, "ae-encoder", options_str(o, "save"),
                                                     options_str(o, "resume"), &e->info)) < 0))
        return -1;
    /* a resumed training's lineage is that of its first weights */
    e->init = resumed ? e->info.lineage.init : model_layer_hash(e->layer);
    /* who reads our hidden spikes learns whose they are (a decoder checks it
     * was trained with us); a training's weights are known only at its END */
    char note[FRAME_TEXT_MAX];
    snprintf(note, sizeof note, "feeds=%016llx kind=ae-encoder model=%s", (unsigned long long)e->init,
             e->spec.path);
    if (!e->training)
        stage_set_note(st, note);
    /* traces: parts, as snn_train_step with SNN_PARTS (same parts, same bits);
     * bptt has no error per step to overlap with, so whole steps */
    if (e->training && !e->bptt)
        lif_layer_set_parts(e->layer, SNN_PARTS);
    const size_t n_out = (size_t)e->layer->n_out;
    frame_shape hs = {FRAME_SPIKES, xs->batch, (uint32_t)n_out, xs->steps};
    if (!(e->out = stage_out(st, "hidden", &hs)))
        return -1;
    if (e->training) {
        if (!(e->grad = stage_in(st, "grad", &(frame_shape){FRAME_ERROR, hs.batch, hs.width, hs.steps})))
            return -1;
        link_accept_parts(e->grad);
    }
    if (stage_handshake(st) < 0 || /* the error link's shape, for its frame */
        !(e->x = link_frame_new(e->in)) || !(e->next = link_frame_new(e->in)) || !(e->h = frame_new(&hs)) ||
        (e->training && !(e->g = link_frame_new(e->grad))) ||
        !(e->input = malloc((size_t)xs->batch * xs->width * sizeof *e->input)) ||
        !(e->dv = malloc((size_t)xs->batch * n_out * sizeof *e->dv)) ||
        !(e->g_all = malloc((size_t)xs->batch * n_out * sizeof *e->g_all)) ||
        (e->bptt && !(e->g_steps = malloc((size_t)learning_window(&e->spec.learn, (int)xs->steps) * xs->batch * n_out *
                                          sizeof *e->g_steps))))
        return -1;
    return 0;
}

/* The hidden spikes of step x, in parts when training, so that the decoder
 * starts on the first while we compute the next (the parts of snn_train_step). */
static int send_hidden(encoder *e, const spike_frame *x)
{
    lif_layer *layer = e->layer;
    if (x->step == 0 && lif_layer_begin_batch(layer, (int)x->batch) < 0)
        return -1;
    for (int k = 0, b0 = 0, b1; b0 < (int)x->batch; b0 = b1, k++) {
        b1 = lif_layer_part_end((int)x->batch, lif_layer_parts(layer), k);
        if (lif_layer_forward_rows(layer, e->input, b0, b1) < 0 ||
            frame_pack_f32(e->h, layer->spikes + (size_t)b0 * layer->n_out, (uint32_t)(b1 - b0)) < 0)
            return -1;
        frame_follow_rows(e->h, x, (uint32_t)b0, (uint32_t)(b1 - b0));
        if (link_send(e->out, e->h) < 0)
            return -1;
    }
    return 0;
}

/* The error of step x comes in parts of the batch; each updates W1 as it arrives. */
static int take_errors(encoder *e, const spike_frame *x)
{
    lif_layer *layer = e->layer;
    spike_frame *g = e->g;
    for (uint32_t row0 = 0; row0 < x->batch; row0 += g->batch) {
        int r = link_recv(e->grad, g);
        if (r != 1)
            return r == 0 ? err_set("%s: ended before the last step", link_name(e->grad)) : -1;
        if (check_answer(x, g, row0, link_name(e->grad)) < 0)
            return -1;
        const size_t at = (size_t)row0 * layer->n_out;
        memcpy(e->g_all + at, g->values, (size_t)g->batch * layer->n_out * sizeof *e->g_all);
        lif_layer_surrogate_rows(layer, e->g_all, e->dv, (int)row0, (int)(row0 + g->batch));
        if (lif_layer_update_rows(layer, e->dv, (int)row0, (int)(row0 + g->batch)) < 0)
            return -1;
    }
    return 0;
}

/* bptt: after a window's last step, the error of each of its steps (oldest
 * first, whole batches), then back through the window and the update. */
static int take_window_errors(encoder *e, const spike_frame *x)
{
    lif_layer *layer = e->layer;
    const int k = lif_layer_recorded_steps(layer);
    if (k < learning_window(&e->spec.learn, (int)x->steps) && x->step + 1 < x->steps)
        return 0;
    spike_frame *g = e->g;
    const size_t rows = x->batch, n_out = (size_t)layer->n_out;
    for (int i = 0; i < k; i++) {
        int r = link_recv(e->grad, g);
        if (r != 1)
            return r == 0 ? err_set("%s: ended before the last step", link_name(e->grad)) : -1;
        const uint32_t want = x->step + 1 - (uint32_t)(k - i);
        if (g->batch_index != x->batch_index || g->step != want || g->batch != rows || g->row0 != 0)
            return err_set("%s: error frame for batch %u step %u (%u rows), expected batch %u step %u "
                           "(%zu rows)", link_name(e->grad), g->batch_index, g->step, g->batch,
                           x->batch_index, want, rows);
        memcpy(e->g_steps + (size_t)i * rows * n_out, g->values, rows * n_out * sizeof *e->g_steps);
    }
    if (lif_layer_backward(layer, e->g_steps, true, NULL) < 0 || lif_layer_backward_update(layer) < 0)
        return -1;
    return 0;
}

static int encoder_run(stage *st, void *arg)
{
    (void)st;
    encoder *e = arg;
    log_info("%s W1 %d -> %d%s", e->training ? "training" : "running", e->layer->n_in,
             e->layer->n_out, *e->spec.path ? " from the model file" : "");
    int rc;
    if ((rc = link_recv(e->in, e->x)) == 1)
        frame_unpack_f32(e->x, e->input);
    if (rc == 1 && e->training &&
        train_options_schedule(&e->layer->opt, &e->layer->learn, (int)e->x->steps, e->info.batches,
                               e->x->batches) < 0)
        return -1;
    while (rc == 1) {
        const spike_frame *x = e->x;
        if (send_hidden(e, x) < 0)
            return -1;
        /* the next input, read and unpacked while the decoder works on this step */
        if ((rc = link_recv(e->in, e->next)) == 1)
            frame_unpack_f32(e->next, e->input);
        else if (rc < 0)
            return -1;
        if (e->training && (e->bptt ? take_window_errors(e, x) : take_errors(e, x)) < 0)
            return -1;
        if (x->step + 1 == x->steps) {
            e->info.batches++;
            e->info.samples += x->batch;
            e->info.lineage.init = e->init;
            if (e->training && checkpoint_every(e->layer, "ae-encoder", &e->info, options_str(e->o, "save"),
                                                options_int(e->o, "checkpoint-every")) < 0)
                return -1;
        }
        spike_frame *done = e->x;
        e->x = e->next;
        e->next = done;
    }
    return rc; /* 0 at the END, -1 when the first frame failed */
}

/* END downstream first, with W1's lineage: the decoder ends the error stream
 * only after it, with its own, and each saves the other's in its file. */
static int encoder_close(stage *st, void *arg)
{
    encoder *e = arg;
    const char *save = options_str(e->o, "save");
    char note[FRAME_TEXT_MAX];
    model_lineage_note(note, sizeof note, e->init, model_layer_hash(e->layer));
    int rc;
    if (stage_end(st, e->out, note) < 0)
        return -1;
    if (e->training && (rc = link_recv(e->grad, e->g)) != 0)
        return rc == 1 ? err_set("%s: an error frame after the last step", link_name(e->grad)) : -1;
    if (!e->training || !*save)
        return 0;
    model_lineage_take(&e->info.lineage, e->init, link_peer_end_note(e->grad));
    return model_layer_keep_said(e->layer, "ae-encoder", &e->info, save, !stage_interrupted(st), "W1");
}

static void encoder_cleanup(void *arg)
{
    encoder *e = arg;
    free(e->input);
    free(e->dv);
    free(e->g_all);
    free(e->g_steps);
    frame_destroy(&e->x);
    frame_destroy(&e->next);
    frame_destroy(&e->h);
    frame_destroy(&e->g);
    lif_layer_destroy(&e->layer);
}

static const stage_callbacks callbacks = {.open = encoder_open, .run = encoder_run,
                                          .close = encoder_close, .cleanup = encoder_cleanup};

int main(int argc, char **argv)
{
    encoder e = {0};
    return stage_main(&def, &callbacks, &e, argc, argv);
}
