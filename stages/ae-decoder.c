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
 * time, samples/s) as JSON. A training keeps a checkpoint every
 * --checkpoint-every batches and goes on from one with --resume
 * (data/checkpoint.h), its loss figures with it. */
#include "numerics/blas.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/loss_log.h"
#include "data/checkpoint.h"
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
    {"model", OPT_STRING, "", "load W2 from this ae-decoder model (default: fresh weights)", .path = OPT_PATH_READ},
    {"save", OPT_STRING, "", "write the trained W2 here at the end (an interrupted training: beside it, "
     "as NAME.checkpoint.ssm)", .path = OPT_PATH_WRITE | OPT_PATH_KEEP},
    {"metrics", OPT_STRING, "", "write the training figures here (JSON)", .path = OPT_PATH_WRITE},
    {"loss-csv", OPT_STRING, "", "write the loss of every batch here (CSV, and its curve beside it as .png)",
     .path = OPT_PATH_WRITE},
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
static int decoder_preflight(const options *o)
{
    const char *save = options_str(o, "save");
    return checkpoint_preflight(&save, 1, options_str(o, "resume"));
}

static const stage_def def = {"ae-decoder", "The spiking autoencoder's output layer (W2).", opts, ports,
                              decoder_preflight};

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

typedef struct {
    const options *o;
    bool training, mask;
    model_layer_spec spec;
    lif_layer *layer;
    spike_link *in, *tgt, *grad, *spk;
    spike_frame *h, *y, *gf, *sf; /* hidden in, target in, error out, spikes out */
    float *hidden, *target, *dv, *g_in;
    float *dv_steps, *g_steps; /* bptt: dL/dV and dL/d(hidden spikes) of every step of the window */
    bool bptt;
    size_t n_hidden;
    progress *pg;
    model info;
    loss_stats ls, ls_batch0; /* running sums; their value when the batch began */
    loss_log *loss_csv;
    double t0, seconds;
    model_lineage lineage; /* the loaded file's */
    uint64_t init;         /* W2 before training */
} decoder;

/* Inference: the hidden spikes must come from the encoder W2 was trained
 * with (an ae-encoder, or an audiocoder trained on its maps), else the
 * images are noise; the feeder says whose they are in its HELLO note. */
static int decoder_check_feeder(decoder *d)
{
    const char *note = link_peer_note(d->in);
    char fed[32], kind[64] = "", by[FRAME_TEXT_MAX] = "";
    if (!stage_note_value(note, "feeds", fed, sizeof fed))
        return 0; /* a feeder that holds no model (a test source, a relay) */
    stage_note_value(note, "kind", kind, sizeof kind);
    stage_note_value(note, "model", by, sizeof by);
    char desc[FRAME_TEXT_MAX + 96];
    snprintf(desc, sizeof desc, "the %s %s that feeds it", kind, by);
    int rc = model_check_feeds(&d->lineage, d->spec.path, strtoull(fed, NULL, 16), kind, desc);
    if (rc == 1)
        log_warn("%s or %s records no lineage (written before format 2): whether they belong "
                 "together is not checked", d->spec.path, by);
    return rc < 0 ? -1 : 0;
}

/* Training pairs the hidden and target links; their shapes decide W2's. */
static int decoder_links_in(decoder *d, stage *st)
{
    if (d->training != stage_has_port(st, "grad"))
        return stage_usage_error(st, "training needs both ports target and grad linked (or neither, to run)");
    d->in = stage_in(st, "hidden", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (d->in && d->training)
        link_accept_parts(d->in);
    if (d->training)
        d->tgt = stage_in(st, "target", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!d->in || (d->training && !d->tgt) || stage_handshake(st) < 0)
        return -1;
    const frame_shape *hs = link_shape(d->in);
    if (d->training) {
        const frame_shape *ts = link_shape(d->tgt);
        if (ts->batch != hs->batch || ts->steps != hs->steps)
            return err_set("%s: target frames %ux%u over %u steps do not pair with hidden frames of "
                           "%u rows over %u steps", link_name(d->tgt), ts->batch, ts->width, ts->steps,
                           hs->batch, hs->steps);
        d->spec.n_out = (int)ts->width;
    }
    return 0;
}

static int decoder_open(stage *st, void *arg)
{
    decoder *d = arg;
    const options *o = d->o = stage_options(st);
    d->spec = (model_layer_spec){.path = options_str(o, "model"), .kind = "ae-decoder",
                                 .n_out = (int)options_int(o, "outputs"), .seed = stage_seed(st),
                                 .layer_id = 2, .init_scale = (float)options_float(o, "init-scale")};
    d->mask = options_bool(o, "mask");
    if (blas_init(stage_argv(st), (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &d->spec.lif, &d->spec.opt, &d->spec.learn) != 0)
        return -1;
    d->spec.learn.masked_errors = d->mask;
    d->training = stage_has_port(st, "target");
    if (decoder_links_in(d, st) < 0)
        return -1;
    const frame_shape *hs = link_shape(d->in);
    d->n_hidden = hs->width;
    d->spec.n_in = (int)hs->width;
    d->spec.max_batch = (int)hs->batch;
    if (*d->spec.path && !d->training)
        d->spec.n_out = 0; /* the file's */
    /* inference keeps no learning state (no traces to update) */
    if (!d->training)
        d->spec.learn.rule = LEARN_NONE;
    d->bptt = d->spec.learn.rule == LEARN_BPTT;
    d->info = (model){.steps = (int32_t)hs->steps, .mask = d->mask, .seed = stage_seed(st)};
    int resumed = 0;
    if (!(d->layer = model_layer_open(&d->spec, &d->lineage)) || (!d->training && decoder_check_feeder(d) < 0) ||
        (d->training && (resumed = checkpoint_resume(d->layer, "ae-decoder", options_str(o, "save"),
                                                     options_str(o, "resume"), &d->info)) < 0))
        return -1;
    /* a resumed training's lineage is that of its first weights, its loss the whole run's */
    d->init = resumed ? d->info.lineage.init : model_layer_hash(d->layer);
    d->ls = d->ls_batch0 = d->info.state.loss;
    /* traces: parts, as snn_train_step with SNN_PARTS (same parts, same bits) */
    if (d->training && !d->bptt)
        lif_layer_set_parts(d->layer, SNN_PARTS);
    const size_t n_out = (size_t)d->layer->n_out;
    frame_shape gs = {FRAME_ERROR, hs->batch, hs->width, hs->steps};
    frame_shape ss = {FRAME_SPIKES, hs->batch, (uint32_t)n_out, hs->steps};
    if ((d->training && !(d->grad = stage_out(st, "grad", &gs))) ||
        (stage_has_port(st, "spikes") && !(d->spk = stage_out(st, "spikes", &ss))) ||
        !(d->h = link_frame_new(d->in)) || (d->training && !(d->y = link_frame_new(d->tgt))) ||
        !(d->gf = frame_new(&gs)) || !(d->sf = frame_new(&ss)) ||
        !(d->hidden = malloc((size_t)hs->batch * hs->width * sizeof *d->hidden)) ||
        !(d->target = malloc((size_t)hs->batch * n_out * sizeof *d->target)) ||
        !(d->dv = malloc((size_t)hs->batch * n_out * sizeof *d->dv)) ||
        !(d->g_in = malloc((size_t)hs->batch * hs->width * sizeof *d->g_in)) ||
        (d->bptt && !(d->dv_steps = malloc((size_t)learning_window(&d->spec.learn, (int)hs->steps) *
                                           hs->batch * n_out * sizeof *d->dv_steps))) ||
        (d->bptt && !(d->g_steps = malloc((size_t)learning_window(&d->spec.learn, (int)hs->steps) *
                                          hs->batch * hs->width * sizeof *d->g_steps))) ||
        !(d->pg = progress_new(0, 0)))
        return -1;
    if (d->training && *options_str(o, "loss-csv") && !(d->loss_csv = loss_log_new(options_str(o, "loss-csv"))))
        return -1;
    return 0;
}

/* One training step, part by part as the encoder sends them; each part's error
 * goes back at once, so the encoder updates with it while we compute the next. */
static int train_step(decoder *d, uint32_t rows)
{
    spike_frame *h = d->h;
    const size_t nh = d->n_hidden;
    for (;;) {
        const int b0 = (int)h->row0, b1 = b0 + (int)h->batch;
        frame_unpack_f32(h, d->hidden + (size_t)b0 * nh);
        if (check_pair(d->y, h, link_name(d->in)) < 0 ||
            snn_output_error_rows(d->layer, d->hidden, d->target, d->mask, d->dv, d->g_in, &d->ls, b0,
                                  b1) < 0)
            return -1;
        frame_follow_rows(d->gf, d->y, (uint32_t)b0, (uint32_t)(b1 - b0));
        memcpy(d->gf->values, d->g_in + (size_t)b0 * nh, (size_t)(b1 - b0) * nh * sizeof *d->g_in);
        if (link_send(d->grad, d->gf) < 0)
            return -1;
        if (b1 == (int)rows)
            break;
        int rc = link_recv(d->in, h);
        if (rc != 1)
            return rc == 0 ? err_set("%s: END in the middle of a step", link_name(d->in)) : -1;
    }
    return lif_layer_update(d->layer, d->dv);
}

/* One bptt step: forward and the loss's dL/dV kept for the window; after its
 * last step, back through the window, the error of each of its steps to the
 * encoder (oldest first, whole batches), then our update, which runs while
 * the encoder goes back through its own layer. */
static int train_step_bptt(decoder *d, uint32_t rows)
{
    spike_frame *h = d->h;
    const size_t nh = d->n_hidden, n_out = (size_t)d->layer->n_out;
    if (h->row0 != 0 || h->batch != rows)
        return err_set("%s: bptt takes whole steps, received rows %u..%u of %u", link_name(d->in), h->row0,
                       h->row0 + h->batch - 1, rows);
    frame_unpack_f32(h, d->hidden);
    const int s = lif_layer_recorded_steps(d->layer);
    if (check_pair(d->y, h, link_name(d->in)) < 0 ||
        snn_output_loss_rows(d->layer, d->hidden, d->target, d->mask, d->dv_steps + (size_t)s * rows * n_out,
                             &d->ls, 0, (int)rows) < 0)
        return -1;
    if (s + 1 < learning_window(&d->spec.learn, (int)h->steps) && h->step + 1 < h->steps)
        return 0;
    /* the encoder waits for this and idles: every core for it (not for our
     * update below, which runs beside the encoder's backward) */
    const int threads = blas_set_threads(0);
    const int rc = lif_layer_backward(d->layer, d->dv_steps, false, d->g_steps);
    blas_set_threads(threads);
    if (rc < 0)
        return -1;
    for (int i = 0; i <= s; i++) {
        frame_follow(d->gf, d->y);
        d->gf->step = d->y->step - (uint32_t)(s - i);
        memcpy(d->gf->values, d->g_steps + (size_t)i * rows * nh, rows * nh * sizeof *d->g_steps);
        if (link_send(d->grad, d->gf) < 0)
            return -1;
    }
    return lif_layer_backward_update(d->layer);
}

/* The next step's frames: 1, or 0 at the END of both (training: they end together). */
static int recv_step(decoder *d)
{
    /* the target first: it is usually there already, and unpacking it while
     * the hidden frame is still on its way keeps that off the critical path */
    int rt = d->training ? link_recv(d->tgt, d->y) : 1, rc;
    if (rt == 1 && d->training)
        frame_unpack_f32(d->y, d->target);
    if (rt < 0 || (rc = link_recv(d->in, d->h)) < 0)
        return -1;
    if (d->training && rt != rc)
        return err_set(rc ? "%s: ended before %s" : "%s: more frames than %s", link_name(d->tgt),
                       link_name(d->in));
    return rc;
}

/* The output spikes of the step, labelled as its target (or hidden) frame. */
static int send_spikes(decoder *d, uint32_t rows)
{
    if (frame_pack_f32(d->sf, d->layer->spikes, rows) < 0)
        return -1;
    frame_follow(d->sf, d->training ? d->y : d->h);
    return link_send(d->spk, d->sf);
}

static int decoder_run(stage *st, void *arg)
{
    (void)st;
    decoder *d = arg;
    log_info("%s W2 %d -> %d%s", d->training ? "training" : "running", d->layer->n_in,
             d->layer->n_out, *d->spec.path ? " from the model file" : "");
    int rc;
    while ((rc = recv_step(d)) == 1) {
        if (d->t0 == 0) {
            d->t0 = clock_now();
            if (d->training && train_options_schedule(&d->layer->opt, &d->layer->learn, (int)d->h->steps,
                                                      d->info.batches, d->h->batches) < 0)
                return -1;
        }
        const uint32_t rows = d->h->rows; /* the step's samples; h may be its first part */
        if (d->h->step == 0 && lif_layer_begin_batch(d->layer, (int)rows) < 0)
            return -1;
        if (d->training) {
            if ((d->bptt ? train_step_bptt(d, rows) : train_step(d, rows)) < 0)
                return -1;
        } else {
            frame_unpack_f32(d->h, d->hidden);
            if (lif_layer_forward(d->layer, d->hidden) < 0)
                return -1;
        }
        if (d->spk && send_spikes(d, rows) < 0)
            return -1;
        if (d->h->step + 1 == d->h->steps) {
            d->info.batches++;
            d->info.samples += rows;
            if (d->loss_csv) {
                const loss_stats batch = loss_stats_since(&d->ls, &d->ls_batch0);
                loss_log_add(d->loss_csv, 0, d->info.batches, d->info.samples, &batch);
                d->ls_batch0 = d->ls;
            }
            progress_update(d->pg, (uint64_t)d->info.batches, (uint64_t)d->info.samples,
                            d->training ? loss_stats_mean(&d->ls) : NAN);
            d->info.lineage.init = d->init;
            d->info.state.loss = d->ls;
            if (d->training && checkpoint_every(d->layer, "ae-decoder", &d->info, options_str(d->o, "save"),
                                                options_int(d->o, "checkpoint-every")) < 0)
                return -1;
        }
    }
    d->seconds = d->t0 > 0 ? clock_now() - d->t0 : 0;
    return rc;
}

/* W2 with the encoder's lineage (from its END), and ours on the error link's END. */
static int decoder_save(decoder *d, stage *st)
{
    const char *save = options_str(d->o, "save");
    char note[FRAME_TEXT_MAX];
    model_lineage_note(note, sizeof note, d->init, model_layer_hash(d->layer));
    link_set_end_note(d->grad, note);
    if (!*save)
        return 0;
    model_lineage_take(&d->info.lineage, d->init, link_peer_end_note(d->in));
    d->info.state.loss = d->ls;
    return model_layer_keep_said(d->layer, "ae-decoder", &d->info, save, !stage_interrupted(st), "W2");
}

static int decoder_close(stage *st, void *arg)
{
    decoder *d = arg;
    const char *metrics = options_str(d->o, "metrics");
    progress_finish(d->pg);
    if (d->training && decoder_save(d, st) < 0)
        return -1;
    if (*metrics && write_metrics(metrics, &d->ls, &d->info, d->seconds, d->layer) < 0)
        return -1;
    if (d->loss_csv && loss_log_finish(&d->loss_csv, d->bptt ? "ae-decoder: bptt" : "ae-decoder: traces") < 0)
        return -1;
    return 0;
}

static void decoder_cleanup(void *arg)
{
    decoder *d = arg;
    free(d->hidden);
    free(d->target);
    free(d->dv);
    free(d->g_in);
    free(d->dv_steps);
    free(d->g_steps);
    frame_destroy(&d->h);
    frame_destroy(&d->y);
    frame_destroy(&d->gf);
    frame_destroy(&d->sf);
    progress_destroy(&d->pg);
    loss_log_destroy(&d->loss_csv);
    lif_layer_destroy(&d->layer);
}

static const stage_callbacks callbacks = {.open = decoder_open, .run = decoder_run,
                                          .close = decoder_close, .cleanup = decoder_cleanup};

int main(int argc, char **argv)
{
    decoder d = {0};
    return stage_main(&def, &callbacks, &d, argc, argv);
}
