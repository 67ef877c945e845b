/* audiocoder: the paper's AC-SNN (inputs -> H hidden -> 196 output LIF neurons),
 * which turns the Poisson spikes of a cochleagram into the autoencoder's hidden
 * spike map, so that ae-decoder (W2 of the MNIST autoencoder) draws the digit.
 *
 * Training (--targets FILE, a spike_maps file): every input frame is one step
 * of snn_train_step toward the target of each sample, step (t mod Th) of the
 * map stored for its id (the map of Th steps is shown repeatedly over the T
 * input steps); an id with no map is an error naming it. Weights are updated at
 * every step (the paper's per-step Adam). At the end --save PREFIX writes
 * PREFIX-hidden.ssm and PREFIX-output.ssm.
 * Inference (no --targets): --model PREFIX, forward only.
 * Either way the output spikes of each step go out on `hidden` when it is
 * linked (to ae-decoder).
 *
 * Defaults are the paper's audiocoder settings (lr 5e-5, weight decay 1e-4,
 * leak 0.1, XOR mask, per-step Adam restarted per batch); docs/audiocoder.md
 * gives the measured choices (init scale, sizes, speed). */
#include "numerics/blas.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"
#include "core/progress.h"
#include "numerics/snn.h"
#include "data/spike_maps.h"
#include "transport/stage.h"
#include "numerics/train_options.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TRAIN_OPTION_SPECS with the audiocoder's default lr (5e-5): the same names,
 * so train_options_read reads them. */
static const option_spec opts[] = {
    {"targets", OPT_STRING, "", "train toward these spike maps (spike_maps file, one per sample id)"},
    {"model", OPT_STRING, "", "load PREFIX-hidden.ssm and PREFIX-output.ssm (default: fresh weights)"},
    {"save", OPT_STRING, "", "write PREFIX-hidden.ssm and PREFIX-output.ssm at the end (training)"},
    {"hidden", OPT_INT, "2048", "hidden neurons H (ignored with --model)"},
    {"outputs", OPT_INT, "196", "output neurons (ignored with --model): the autoencoder's hidden width"},
    {"metrics", OPT_STRING, "", "write the training figures here (JSON)"},
    {"mask", OPT_BOOL, "true", "XOR-mask the loss (--no-mask: steer every output neuron)"},
    {"epochs", OPT_INT, "0", "epochs the source sends, for the progress ETA only (0: unknown)"},
    TRAIN_OPTION_SPECS_LR("5e-5", "learning rate (the paper's audiocoder: 5e-5)"),
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "input spikes (a cochleagram's), batch x inputs, T frames per batch"},
    {"hidden", PORT_OUT, PORT_OPTIONAL, "output spikes, batch x outputs, T frames per batch (to ae-decoder)"},
    {NULL, 0, 0, NULL},
};
static const stage_def def = {
    "audiocoder", "The spiking audiocoder: cochleagram spikes -> the autoencoder's hidden spike map.",
    opts, ports};

static void model_path(char *buf, size_t cap, const char *prefix, const char *layer)
{
    snprintf(buf, cap, "%s-%s.ssm", prefix, layer);
}

/* The network: fresh, or both layers from PREFIX-hidden.ssm / PREFIX-output.ssm
 * (checked for kind and for shapes that chain: inputs -> H -> outputs). */
static snn *open_net(const options *o, snn_config *cfg, int n_in, int max_batch)
{
    const char *prefix = options_str(o, "model");
    model *mh = NULL, *mo = NULL;
    snn *net = NULL;
    char ph[4096], po[4096];
    if (*prefix) {
        model_path(ph, sizeof ph, prefix, "hidden");
        model_path(po, sizeof po, prefix, "output");
        if (!(mh = model_load(ph)) || !(mo = model_load(po)) ||
            model_expect(mo, po, "audiocoder-output", mh->n_out, 0) < 0)
            goto out;
        if (model_expect(mh, ph, "audiocoder-hidden", 0, 0) < 0)
            goto out;
        if (mh->n_in != n_in) {
            err_set("%s: the model takes %d inputs, the input frames have %d: use the front-end "
                    "settings (rate, decimation, frames) it was trained with", ph, mh->n_in, n_in);
            goto out;
        }
        cfg->n_hidden = mh->n_out;
        cfg->n_out = mo->n_out;
    }
    cfg->n_in = n_in;
    if (cfg->n_hidden < 1 || cfg->n_out < 1) {
        err_set("--hidden and --outputs must be at least 1");
        goto out;
    }
    if (!(net = snn_new(cfg, max_batch)))
        goto out;
    if (mh && (model_to_layer(mh, net->hidden) < 0 || model_to_layer(mo, net->output) < 0))
        snn_destroy(&net);
out:
    model_destroy(&mh);
    model_destroy(&mo);
    return net;
}

/* The targets of a batch at step t: row b gets step (t mod Th) of its map. */
static void fill_targets(const spike_maps *maps, const long *idx, uint32_t batch, uint32_t t,
                         float *target)
{
    for (uint32_t b = 0; b < batch; b++)
        spike_maps_step(maps, (size_t)idx[b], t % maps->steps, target + (size_t)b * maps->width);
}

/* Looks up every id of a batch (at its step 0). */
static int find_maps(const spike_maps *maps, const char *path, const spike_frame *x, long *idx)
{
    for (uint32_t b = 0; b < x->batch; b++)
        if ((idx[b] = spike_maps_find(maps, x->ids[b])) < 0)
            return err_set("targets %s: no map for sample id %u (batch %u, row %u); the maps "
                           "must come from the same recordings, in the same order",
                           path, x->ids[b], x->batch_index, b);
    return 0;
}

/* An epoch's figures: the running sums minus those at its start. */
static loss_stats stats_since(const loss_stats *now_s, const loss_stats *then)
{
    return (loss_stats){.loss = now_s->loss - then->loss, .entries = now_s->entries - then->entries,
                        .masked_out = now_s->masked_out - then->masked_out,
                        .out_spikes = now_s->out_spikes - then->out_spikes,
                        .target_spikes = now_s->target_spikes - then->target_spikes,
                        .sample_steps = now_s->sample_steps - then->sample_steps};
}

typedef struct {
    loss_stats all, epoch_start;
    int64_t hidden_spikes, hidden_entries;
    double first_epoch_loss, last_epoch_loss;
    int epochs_done;
} train_figures;

static void end_epoch(train_figures *tf, int64_t samples, double seconds)
{
    loss_stats e = stats_since(&tf->all, &tf->epoch_start);
    double l = loss_stats_mean(&e);
    if (tf->epochs_done++ == 0)
        tf->first_epoch_loss = l;
    tf->last_epoch_loss = l;
    log_info("epoch %d: loss %.4f, masked %.3f, output rate %.4f (target %.4f), %.2f samples/s",
             tf->epochs_done, l, loss_stats_masked_fraction(&e),
             e.entries ? (double)e.out_spikes / (double)e.entries : 0.0,
             e.entries ? (double)e.target_spikes / (double)e.entries : 0.0,
             seconds > 0 ? (double)samples / seconds : 0.0);
    tf->epoch_start = tf->all;
}

static int write_metrics(const char *path, const snn *net, const train_figures *tf,
                         const model *info, int target_steps, double seconds)
{
    const loss_stats *ls = &tf->all;
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "stage", "audiocoder");
    json_out_int(&j, "inputs", net->cfg.n_in);
    json_out_int(&j, "hidden", net->cfg.n_hidden);
    json_out_int(&j, "outputs", net->cfg.n_out);
    json_out_int(&j, "n_samples", info->samples);
    json_out_int(&j, "samples", info->samples);
    json_out_int(&j, "batches", info->batches);
    json_out_int(&j, "steps", info->steps);
    json_out_int(&j, "target_steps", target_steps);
    json_out_int(&j, "epochs", tf->epochs_done);
    json_out_num(&j, "loss", loss_stats_mean(ls));
    json_out_num(&j, "loss_first_epoch", tf->first_epoch_loss);
    json_out_num(&j, "loss_last_epoch", tf->last_epoch_loss);
    json_out_num(&j, "masked_fraction", loss_stats_masked_fraction(ls));
    json_out_num(&j, "output_rate", ls->entries ? (double)ls->out_spikes / (double)ls->entries : NAN);
    json_out_num(&j, "target_rate", ls->entries ? (double)ls->target_spikes / (double)ls->entries : NAN);
    json_out_num(&j, "hidden_rate", tf->hidden_entries ? (double)tf->hidden_spikes / (double)tf->hidden_entries : NAN);
    json_out_num(&j, "lr", net->cfg.opt.lr);
    json_out_num(&j, "init_scale", net->cfg.init_scale);
    json_out_num(&j, "train_seconds", seconds);
    json_out_num(&j, "samples_per_s", seconds > 0 ? (double)info->samples / seconds : NAN);
    return json_out_write(&j, path);
}

static int save_net(const snn *net, const char *prefix, const model *info)
{
    char p[4096];
    model_path(p, sizeof p, prefix, "hidden");
    if (model_layer_save(net->hidden, "audiocoder-hidden", info, p) < 0)
        return -1;
    model_path(p, sizeof p, prefix, "output");
    if (model_layer_save(net->output, "audiocoder-output", info, p) < 0)
        return -1;
    log_info("saved %s-hidden.ssm and %s-output.ssm (%lld samples)", prefix, prefix,
             (long long)info->samples);
    return 0;
}

int main(int argc, char **argv)
{
    stage *st = NULL;
    snn *net = NULL;
    spike_maps *maps = NULL;
    progress *pg = NULL;
    spike_frame *x = NULL, *y = NULL;
    float *input = NULL, *target = NULL;
    long *idx = NULL;
    uint8_t *seen = NULL; /* training: the maps used in this epoch */
    int rc = stage_new(&st, &def, argc, argv, stdout);
    if (rc != 0)
        return rc > 0 ? 0 : (log_error("%s", err_msg()), 2);
    const options *o = stage_options(st);
    const char *targets = options_str(o, "targets"), *save = options_str(o, "save");
    const bool training = *targets != 0;
    snn_config cfg = snn_config_default();
    cfg.n_hidden = (int)options_int(o, "hidden");
    cfg.n_out = (int)options_int(o, "outputs");
    cfg.mask = options_bool(o, "mask");
    cfg.init_scale = (float)options_float(o, "init-scale");
    cfg.seed = stage_seed(st);
    if (blas_init(argv, (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &cfg.lif, &cfg.opt) != 0)
        goto fail;
    if (!training && !*options_str(o, "model")) {
        err_set("nothing to run: give --targets FILE to train, or --model PREFIX to synthesise");
        goto fail;
    }
    if (*save && !training) {
        err_set("--save needs --targets (only a training run changes the weights)");
        goto fail;
    }
    if (training && !(maps = spike_maps_load(targets)))
        goto fail;
    if (maps && spike_maps_sort(maps) < 0)
        goto fail;
    spike_link *in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0});
    if (!in || stage_handshake(st) < 0)
        goto fail;
    const frame_shape *xs = link_shape(in);
    if (!(net = open_net(o, &cfg, (int)xs->width, (int)xs->batch)))
        goto fail;
    if (maps && maps->width != (uint32_t)net->cfg.n_out) {
        err_set("targets %s: maps of %u neurons, but the audiocoder has %d outputs (%s)", targets,
                maps->width, net->cfg.n_out, *options_str(o, "model") ? "its model file" : "--outputs");
        goto fail;
    }
    if (maps && (maps->n == 0 || maps->steps == 0)) {
        err_set("targets %s: no maps (or maps of 0 steps)", targets);
        goto fail;
    }
    frame_shape ys = {FRAME_SPIKES, xs->batch, (uint32_t)net->cfg.n_out, xs->steps};
    spike_link *out = stage_has_port(st, "hidden") ? stage_out(st, "hidden", &ys) : NULL;
    uint64_t total = maps ? (uint64_t)maps->n * (uint64_t)options_int(o, "epochs") : 0;
    if ((stage_has_port(st, "hidden") && !out) || stage_ready(st) < 0 ||
        !(x = link_frame_new(in)) || !(y = frame_new(&ys)) ||
        !(input = malloc((size_t)xs->batch * xs->width * sizeof *input)) ||
        !(target = calloc((size_t)xs->batch * ys.width, sizeof *target)) ||
        !(idx = calloc(xs->batch, sizeof *idx)) || !(pg = progress_new(total, 0)) ||
        (maps && !(seen = calloc(maps->n, 1))))
        goto fail;
    log_info("%s %d-%d-%d%s, batch %u, T %u%s", training ? "training" : "running", net->cfg.n_in,
             net->cfg.n_hidden, net->cfg.n_out,
             *options_str(o, "model") ? " from the model files" : "", xs->batch, xs->steps,
             training ? "" : " (inference)");
    if (training)
        log_info("targets %s: %zu maps of %u x %u (dataset %c); lr %g, weight decay %g, leak %g, "
                 "init U(+-%g), mask %s", targets, maps->n, maps->width, maps->steps, maps->dataset,
                 cfg.opt.lr, cfg.opt.weight_decay, cfg.lif.leak,
                 cfg.init_scale > 0 ? cfg.init_scale : 1.0 / sqrt((double)net->cfg.n_in),
                 cfg.mask ? "on" : "off");

    model info = {.steps = (int32_t)xs->steps, .mask = cfg.mask, .seed = cfg.seed};
    train_figures tf = {.first_epoch_loss = NAN, .last_epoch_loss = NAN};
    double t0 = 0;
    while ((rc = link_recv(in, x)) == 1) {
        if (t0 == 0)
            t0 = clock_now();
        if (x->step == 0 && (snn_begin_batch(net, (int)x->batch) < 0 ||
                             (training && find_maps(maps, targets, x, idx) < 0)))
            goto fail;
        if (x->step == 0 && training) {
            /* a batch with an id already seen starts the next epoch (the source's
             * batches never straddle two) */
            bool again = false;
            for (uint32_t b = 0; b < x->batch; b++)
                again |= seen[idx[b]] != 0;
            if (again) {
                end_epoch(&tf, info.samples, clock_now() - t0);
                memset(seen, 0, maps->n);
            }
            for (uint32_t b = 0; b < x->batch; b++)
                seen[idx[b]] = 1;
        }
        frame_unpack_f32(x, input);
        if (training) {
            fill_targets(maps, idx, x->batch, x->step, target);
            if (snn_train_step(net, input, target, &tf.all) < 0)
                goto fail;
        } else if (snn_infer_step(net, input) < 0) {
            goto fail;
        }
        const size_t nh = (size_t)x->batch * (size_t)net->cfg.n_hidden;
        for (size_t i = 0; i < nh; i++)
            tf.hidden_spikes += net->hidden->spikes[i] != 0.0f;
        tf.hidden_entries += (int64_t)nh;
        if (out) {
            if (frame_pack_f32(y, net->output->spikes, x->batch) < 0)
                goto fail;
            y->batch_index = x->batch_index;
            y->step = x->step;
            y->steps = x->steps;
            frame_copy_samples(y, x, 0, x->batch);
            if (link_send(out, y) < 0)
                goto fail;
        }
        if (stage_keepalive(st) < 0)
            goto fail;
        if (x->step + 1 == x->steps) {
            info.batches++;
            info.samples += x->batch;
            progress_update(pg, (uint64_t)info.batches, (uint64_t)info.samples,
                            training ? loss_stats_mean(&tf.all) : NAN);
        }
    }
    if (rc < 0)
        goto fail;
    double seconds = t0 > 0 ? clock_now() - t0 : 0;
    if (training && info.samples > 0)
        end_epoch(&tf, info.samples, seconds);
    progress_finish(pg);
    info.epochs = tf.epochs_done;
    if (training)
        log_info("%lld samples in %.1f s (%.2f samples/s): loss %.4f, masked %.3f, output rate "
                 "%.3f (target %.3f), hidden rate %.3f", (long long)info.samples, seconds,
                 seconds > 0 ? info.samples / seconds : 0.0, loss_stats_mean(&tf.all),
                 loss_stats_masked_fraction(&tf.all),
                 tf.all.entries ? (double)tf.all.out_spikes / tf.all.entries : 0.0,
                 tf.all.entries ? (double)tf.all.target_spikes / tf.all.entries : 0.0,
                 tf.hidden_entries ? (double)tf.hidden_spikes / tf.hidden_entries : 0.0);
    if (*save && save_net(net, save, &info) < 0)
        goto fail;
    if (*options_str(o, "metrics") &&
        write_metrics(options_str(o, "metrics"), net, &tf, &info, maps ? (int)maps->steps : 0,
                      seconds) < 0)
        goto fail;
    if (stage_finish(st) < 0)
        goto fail;
    rc = 0;
    goto done;
fail:
    log_error("%s", err_msg());
    rc = 1;
done:
    free(input);
    free(target);
    free(idx);
    free(seen);
    frame_destroy(&x);
    frame_destroy(&y);
    progress_destroy(&pg);
    spike_maps_destroy(&maps);
    snn_destroy(&net);
    stage_destroy(&st);
    return rc;
}
