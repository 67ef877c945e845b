/* audiocoder: the paper's AC-SNN (inputs -> H hidden -> 196 output LIF neurons),
 * which turns the Poisson spikes of a cochleagram into the autoencoder's hidden
 * spike map, so that ae-decoder (W2 of the MNIST autoencoder) draws the digit.
 *
 * Training (--targets FILE, a spike_maps file): every input frame is one step
 * of snn_train_step toward the target of each sample, step (t mod Th) of the
 * map stored for its id (the map of Th steps is shown repeatedly over the T
 * input steps); an id with no map is an error naming it. Weights are updated at
 * every step (the paper's per-step Adam). At the end --save PREFIX writes
 * PREFIX-hidden.ssm and PREFIX-output.ssm. A training keeps a checkpoint of
 * both layers every --checkpoint-every batches and goes on from one with
 * --resume (data/checkpoint.h; the source skips to the same batch), its
 * figures (loss sums, epochs) with it.
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
#include "data/checkpoint.h"
#include "data/frontend_settings.h"
#include "data/loss_log.h"
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
    {"targets", OPT_STRING, "", "train toward these spike maps (spike_maps file, one per sample id)", .path = OPT_PATH_READ},
    {"model", OPT_STRING, "", "load PREFIX-hidden.ssm and PREFIX-output.ssm (default: fresh weights)",
     .path = OPT_PATH_READ, .suffixes = "-hidden.ssm|-output.ssm"},
    {"save", OPT_STRING, "", "write PREFIX-hidden.ssm and PREFIX-output.ssm at the end (training; "
     "interrupted: PREFIX-*.checkpoint.ssm)", .path = OPT_PATH_WRITE | OPT_PATH_KEEP, .suffixes = "-hidden.ssm|-output.ssm"},
    {"frontend", OPT_STRING, "", "the front-end settings of the inputs: recorded by a training, "
     "checked against the model's when running (\"\": not checked)"},
    {"hidden", OPT_INT, "2048", "hidden neurons H (ignored with --model)", .min = "1"},
    {"outputs", OPT_INT, "196", "output neurons (ignored with --model): the autoencoder's hidden width", .min = "1"},
    {"metrics", OPT_STRING, "", "write the training figures here (JSON)", .path = OPT_PATH_WRITE},
    {"loss-csv", OPT_STRING, "", "write the loss of every batch here (CSV, and its curve beside it as .png)",
     .path = OPT_PATH_WRITE},
    {"mask", OPT_BOOL, "true", "XOR-mask the loss (--no-mask: steer every output neuron)"},
    {"epochs", OPT_INT, "0", "epochs the source sends, for the progress ETA only (0: unknown)", .min = "0"},
    {"limit", OPT_INT, "0", "recordings the source sends per epoch (its --limit; 0: one per target), "
     "for the progress ETA only", .min = "0"},
    TRAIN_OPTION_SPECS_LR("5e-5", "learning rate (the paper's audiocoder: 5e-5)"),
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "input spikes (a cochleagram's), batch x inputs, T frames per batch"},
    {"hidden", PORT_OUT, PORT_OPTIONAL, "output spikes, batch x outputs, T frames per batch (to ae-decoder)"},
    {NULL, 0, 0, NULL},
};
static void model_path(char *buf, size_t cap, const char *prefix, const char *layer)
{
    snprintf(buf, cap, "%s-%s.ssm", prefix, layer);
}

/* The files --save names: PREFIX-hidden.ssm, PREFIX-output.ssm ("" without --save). */
typedef struct {
    char hidden[4096], output[4096];
    const char *both[2];
} save_paths;

static void save_paths_of(save_paths *sp, const char *prefix)
{
    model_path(sp->hidden, sizeof sp->hidden, prefix, "hidden");
    model_path(sp->output, sizeof sp->output, prefix, "output");
    sp->both[0] = *prefix ? sp->hidden : "";
    sp->both[1] = *prefix ? sp->output : "";
}

static int coder_preflight(const options *o)
{
    save_paths sp;
    save_paths_of(&sp, options_str(o, "save"));
    return checkpoint_preflight(sp.both, 2, options_str(o, "resume"));
}

static const stage_def def = {
    "audiocoder", "The spiking audiocoder: cochleagram spikes -> the autoencoder's hidden spike map.",
    opts, ports, coder_preflight};

/* The two files of one training, on inputs made as its were. */
static int check_lineage(const options *o, const model *mh, const char *ph, const model *mo, const char *po)
{
    int rc = model_check_pair(mh, ph, mo, po);
    if (rc < 0)
        return -1;
    if (rc == 1)
        log_warn("%s or %s records no lineage (written before format 2): whether they belong "
                 "together is not checked", ph, po);
    const char *fe = options_str(o, "frontend");
    char key[32];
    if (*fe && *mh->lineage.frontend && frontend_settings_agree(fe, mh->lineage.frontend, key, sizeof key))
        return err_set("%s was trained on inputs made by the front end '%s', these come from '%s' "
                       "(%s differs): run the front end with its settings, or retrain the audiocoder", ph,
                       mh->lineage.frontend, fe, key);
    return 0;
}

/* The network: fresh, or both layers from PREFIX-hidden.ssm / PREFIX-output.ssm
 * (checked for kind, lineage and for shapes that chain: inputs -> H ->
 * outputs); lin gets the hidden file's lineage. */
static snn *open_net(const options *o, snn_config *cfg, int n_in, int max_batch, model_lineage *lin)
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
        if (model_expect(mh, ph, "audiocoder-hidden", 0, 0) < 0 || check_lineage(o, mh, ph, mo, po) < 0)
            goto out;
        *lin = mh->lineage;
        if (mh->n_in != n_in) {
            err_set("%s: the model takes %d inputs, the input frames have %d: use the front-end "
                    "settings (rate, decimation, frames) it was trained with", ph, mh->n_in, n_in);
            goto out;
        }
        cfg->n_hidden = mh->n_out;
        cfg->n_out = mo->n_out;
    }
    cfg->n_in = n_in; /* --hidden and --outputs are at least 1, a model file's sizes too */
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

typedef struct {
    loss_stats all, epoch_start, batch_start; /* running sums; at the epoch's, the batch's start */
    int64_t hidden_spikes, hidden_entries;
    double first_epoch_loss, last_epoch_loss;
    int epochs_done;
    int64_t epoch_end; /* resumed mid-epoch: the samples at which it ends (0: the ids tell) */
} train_figures;

static void end_epoch(train_figures *tf, int64_t samples, double seconds)
{
    loss_stats e = loss_stats_since(&tf->all, &tf->epoch_start);
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

/* What layer k (0 hidden, 1 output) records: the run's settings and progress,
 * its lineage (the other layer's as its pair) and, for a checkpoint, the loss
 * sums: the run's with the output layer, those at the epoch's start with the
 * hidden one (the epoch figures go on from them). */
static model layer_info(const model *run, const snn *net, const train_figures *tf, const uint64_t init[2], int k)
{
    model m = *run;
    const lif_layer *pair = k ? net->hidden : net->output;
    m.epochs = tf->epochs_done;
    m.lineage.init = init[k];
    m.lineage.pair_init = init[!k];
    m.lineage.pair_final = model_layer_hash(pair);
    m.state.loss = k ? tf->all : tf->epoch_start;
    return m;
}

/* Both layers; an interrupted training keeps checkpoints beside them and
 * leaves the models as they were. */
static int save_net(const snn *net, const char *prefix, const model *run, const train_figures *tf,
                    const uint64_t init[2], bool complete)
{
    char to[4096];
    save_paths sp;
    save_paths_of(&sp, prefix);
    const model ih = layer_info(run, net, tf, init, 0), io = layer_info(run, net, tf, init, 1);
    if (model_layer_keep(net->hidden, "audiocoder-hidden", &ih, sp.hidden, complete, to, sizeof to) < 0 ||
        model_layer_keep(net->output, "audiocoder-output", &io, sp.output, complete, to, sizeof to) < 0)
        return -1;
    if (complete)
        log_info("saved %s-hidden.ssm and %s-output.ssm (%lld samples)", prefix, prefix,
                 (long long)run->samples);
    else
        log_warn("interrupted after %lld samples: %s-hidden.ssm and %s-output.ssm left as they were; "
                 "the weights so far saved as the checkpoints %s-*.checkpoint.ssm", (long long)run->samples,
                 prefix, prefix, prefix);
    return 0;
}

typedef struct {
    const options *o;
    const char *targets, *save;
    bool training;
    snn_config cfg;
    snn *net;
    spike_maps *maps;
    spike_link *in, *out;
    spike_frame *x, *y;
    float *input, *target;
    long *idx;     /* training: each row's map */
    uint8_t *seen; /* training: the maps used in this epoch */
    progress *pg;
    model info;
    train_figures tf;
    loss_log *loss_csv;
    double t0, seconds;
    model_lineage lineage; /* the loaded files', or what this training records */
    uint64_t init[2];      /* hidden, output weights before training */
} coder;

/* The network and the targets must agree on the outputs. */
static int check_maps(const coder *c)
{
    const spike_maps *maps = c->maps;
    if (maps->width != (uint32_t)c->net->cfg.n_out)
        return err_set("targets %s: maps of %u neurons, but the audiocoder has %d outputs (%s)",
                       c->targets, maps->width, c->net->cfg.n_out,
                       *options_str(c->o, "model") ? "its model file" : "--outputs");
    if (maps->n == 0 || maps->steps == 0)
        return err_set("targets %s: no maps (or maps of 0 steps)", c->targets);
    return 0;
}

static void log_setup(const coder *c, const frame_shape *xs)
{
    const snn_config *nc = &c->net->cfg;
    log_info("%s %d-%d-%d%s, batch %u, T %u%s", c->training ? "training" : "running", nc->n_in,
             nc->n_hidden, nc->n_out, *options_str(c->o, "model") ? " from the model files" : "",
             xs->batch, xs->steps, c->training ? "" : " (inference)");
    if (c->training)
        log_info("targets %s: %zu maps of %u x %u (dataset %c); lr %g, weight decay %g, leak %g, "
                 "init U(+-%g), mask %s", c->targets, c->maps->n, c->maps->width, c->maps->steps,
                 c->maps->dataset, c->cfg.opt.lr, c->cfg.opt.weight_decay, c->cfg.lif.leak,
                 c->cfg.init_scale > 0 ? c->cfg.init_scale : 1.0 / sqrt((double)nc->n_in),
                 c->cfg.mask ? "on" : "off");
}

/* A checkpoint of another training's targets or front end would go on from
 * the wrong place: refused, naming the file. */
static int check_resumed(const coder *c, const model *ih, const char *path, int64_t batches)
{
    const char *field = ih->lineage.source != c->lineage.source ? "targets (their encoder)"
                        : strcmp(ih->lineage.frontend, c->lineage.frontend) ? "front end" : NULL;
    char p[4096];
    checkpoint_path(path, 0, p, sizeof p);
    if (field)
        return err_set("%s (or its .prev, of %lld batches): made by another training (its %s differs "
                       "from this run's): resume with the settings of the run it continues", p,
                       (long long)batches, field);
    return 0;
}

/* --resume: both layers, their optimiser state and the run's figures from the
 * checkpoints of one batch count. The resumed epoch ends by the sample count
 * of the epochs before it (the ids seen before the checkpoint are not kept),
 * in the first epoch by the count the targets and --limit give. 0 when not
 * resuming, 1 resumed, -1 with err_msg(). */
static int coder_resume(coder *c, uint64_t per_epoch)
{
    save_paths sp;
    save_paths_of(&sp, c->save);
    int64_t batches = 0;
    const int mode = checkpoint_resume_point(sp.both, 2, options_str(c->o, "resume"), &batches);
    if (mode <= 0)
        return mode;
    model ih = c->info, io = c->info;
    if (checkpoint_restore(c->net->hidden, "audiocoder-hidden", sp.hidden, batches, &ih) < 0 ||
        checkpoint_restore(c->net->output, "audiocoder-output", sp.output, batches, &io) < 0 ||
        check_resumed(c, &ih, sp.hidden, batches) < 0)
        return -1;
    c->init[0] = ih.lineage.init;
    c->init[1] = io.lineage.init;
    c->info.batches = io.batches;
    c->info.samples = io.samples;
    train_figures *tf = &c->tf;
    tf->all = tf->batch_start = io.state.loss;
    tf->epoch_start = ih.state.loss;
    tf->epochs_done = io.epochs;
    const int64_t at_start = tf->epoch_start.sample_steps / (c->info.steps ? c->info.steps : 1);
    tf->epoch_end = at_start + (tf->epochs_done ? at_start / tf->epochs_done : (int64_t)per_epoch);
    log_info("resuming after batch %lld (%lld samples, %d epoch(s) done) from the checkpoints of %s",
             (long long)c->info.batches, (long long)c->info.samples, tf->epochs_done, c->save);
    return 1;
}

static int coder_open(stage *st, void *arg)
{
    coder *c = arg;
    const options *o = c->o = stage_options(st);
    c->targets = options_str(o, "targets");
    c->save = options_str(o, "save");
    c->training = *c->targets != 0;
    c->cfg = snn_config_default();
    c->cfg.n_hidden = (int)options_int(o, "hidden");
    c->cfg.n_out = (int)options_int(o, "outputs");
    c->cfg.mask = options_bool(o, "mask");
    c->cfg.init_scale = (float)options_float(o, "init-scale");
    c->cfg.seed = stage_seed(st);
    if (blas_init(stage_argv(st), (int)options_int(o, "threads")) != 0 ||
        train_options_read(o, &c->cfg.lif, &c->cfg.opt, &c->cfg.learn) != 0)
        return -1;
    if (!c->training && !*options_str(o, "model"))
        return stage_usage_error(st, "nothing to run: give --targets FILE to train, or --model PREFIX "
                                     "to synthesise");
    if (*c->save && !c->training)
        return stage_usage_error(st, "--save needs --targets (only a training run changes the weights)");
    if (!c->training && (options_int(o, "checkpoint-every") || strcmp(options_str(o, "resume"), "false")))
        return stage_usage_error(st, "--checkpoint-every and --resume need --targets (a training)");
    if (c->training && (!(c->maps = spike_maps_load(c->targets)) || spike_maps_sort(c->maps) < 0))
        return -1;
    if (!(c->in = stage_in(st, "spikes", &(frame_shape){FRAME_SPIKES, 0, 0, 0})) ||
        stage_handshake(st) < 0)
        return -1;
    const frame_shape *xs = link_shape(c->in);
    if (!(c->net = open_net(o, &c->cfg, (int)xs->width, (int)xs->batch, &c->lineage)) ||
        (c->maps && check_maps(c) < 0))
        return -1;
    c->init[0] = model_layer_hash(c->net->hidden);
    c->init[1] = model_layer_hash(c->net->output);
    if (c->training) {
        c->lineage = (model_lineage){.source = c->maps->source_hash};
        snprintf(c->lineage.frontend, sizeof c->lineage.frontend, "%s", options_str(o, "frontend"));
    }
    c->info = (model){.steps = (int32_t)xs->steps, .mask = c->cfg.mask, .seed = c->cfg.seed,
                      .lineage = c->lineage};
    c->tf = (train_figures){.first_epoch_loss = NAN, .last_epoch_loss = NAN};
    /* the decoder downstream checks it was trained with the encoder our targets came from */
    char note[FRAME_TEXT_MAX];
    snprintf(note, sizeof note, "feeds=%016llx kind=audiocoder model=%s",
             (unsigned long long)c->lineage.source, options_str(o, "model"));
    if (c->lineage.source)
        stage_set_note(st, note);
    frame_shape ys = {FRAME_SPIKES, xs->batch, (uint32_t)c->net->cfg.n_out, xs->steps};
    uint64_t per_epoch = c->maps ? c->maps->n : 0, limit = (uint64_t)options_int(o, "limit");
    if (limit && limit < per_epoch) /* train_limit=N: the ETA of N per epoch, not of every target */
        per_epoch = limit;
    uint64_t total = per_epoch * (uint64_t)options_int(o, "epochs");
    if (c->training && coder_resume(c, per_epoch) < 0)
        return -1;
    if ((stage_has_port(st, "hidden") && !(c->out = stage_out(st, "hidden", &ys))) ||
        !(c->x = link_frame_new(c->in)) || !(c->y = frame_new(&ys)) ||
        !(c->input = malloc((size_t)xs->batch * xs->width * sizeof *c->input)) ||
        !(c->target = calloc((size_t)xs->batch * ys.width, sizeof *c->target)) ||
        !(c->idx = calloc(xs->batch, sizeof *c->idx)) || !(c->pg = progress_new(total, 0)) ||
        (c->maps && !(c->seen = calloc(c->maps->n, 1))))
        return -1;
    if (c->training && *options_str(o, "loss-csv") && !(c->loss_csv = loss_log_new(options_str(o, "loss-csv"))))
        return -1;
    return 0;
}

/* At a batch's step 0 (training): its maps; a batch with an id already seen
 * starts the next epoch (the source's batches never straddle two), as does,
 * resumed, the first past the resumed epoch's end. */
static int begin_batch(coder *c, const spike_frame *x)
{
    if (snn_begin_batch(c->net, (int)x->batch) < 0)
        return -1;
    if (!c->training)
        return 0;
    if (find_maps(c->maps, c->targets, x, c->idx) < 0)
        return -1;
    bool again = c->tf.epoch_end > 0 && c->info.samples >= c->tf.epoch_end;
    for (uint32_t b = 0; b < x->batch; b++)
        again |= c->seen[c->idx[b]] != 0;
    if (again) {
        end_epoch(&c->tf, c->info.samples, clock_now() - c->t0);
        memset(c->seen, 0, c->maps->n);
        c->tf.epoch_end = 0;
    }
    for (uint32_t b = 0; b < x->batch; b++)
        c->seen[c->idx[b]] = 1;
    return 0;
}

/* One input step: a training step toward the targets, or inference; the output
 * spikes go on. */
static int step(coder *c, const spike_frame *x)
{
    const snn *net = c->net;
    frame_unpack_f32(x, c->input);
    if (c->training) {
        fill_targets(c->maps, c->idx, x->batch, x->step, c->target);
        if (snn_train_step(c->net, c->input, c->target, &c->tf.all) < 0 ||
            (x->step + 1 == x->steps && snn_end_batch(c->net) < 0))
            return -1;
    } else if (snn_infer_step(c->net, c->input) < 0) {
        return -1;
    }
    const size_t nh = (size_t)x->batch * (size_t)net->cfg.n_hidden;
    for (size_t i = 0; i < nh; i++)
        c->tf.hidden_spikes += net->hidden->spikes[i] != 0.0f;
    c->tf.hidden_entries += (int64_t)nh;
    if (!c->out)
        return 0;
    spike_frame *y = c->y;
    if (frame_pack_f32(y, net->output->spikes, x->batch) < 0)
        return -1;
    y->batch_index = x->batch_index;
    y->batches = x->batches;
    y->step = x->step;
    y->steps = x->steps;
    frame_copy_samples(y, x, 0, x->batch);
    return link_send(c->out, y);
}

/* After a batch: both layers' checkpoints every --checkpoint-every batches,
 * the hidden one first (resuming takes the newest count both hold). */
static int keep_checkpoint(const coder *c)
{
    const int64_t every = options_int(c->o, "checkpoint-every");
    if (every <= 0 || !*c->save || c->info.batches % every)
        return 0;
    save_paths sp;
    save_paths_of(&sp, c->save);
    const model ih = layer_info(&c->info, c->net, &c->tf, c->init, 0);
    const model io = layer_info(&c->info, c->net, &c->tf, c->init, 1);
    if (checkpoint_save(c->net->hidden, "audiocoder-hidden", &ih, sp.hidden) < 0 ||
        checkpoint_save(c->net->output, "audiocoder-output", &io, sp.output) < 0)
        return -1;
    return 0;
}

static int coder_run(stage *st, void *arg)
{
    coder *c = arg;
    log_setup(c, link_shape(c->in));
    spike_frame *x = c->x;
    int rc;
    while ((rc = link_recv(c->in, x)) == 1) {
        if (c->t0 == 0) {
            c->t0 = clock_now();
            lif_layer *layers[2] = {c->net->hidden, c->net->output};
            for (int i = 0; c->training && i < 2; i++)
                if (train_options_schedule(&layers[i]->opt, &layers[i]->learn, (int)x->steps, c->info.batches,
                                           x->batches) < 0)
                    return -1;
        }
        if ((x->step == 0 && begin_batch(c, x) < 0) || step(c, x) < 0 || stage_keepalive(st) < 0)
            return -1;
        if (x->step + 1 == x->steps) {
            c->info.batches++;
            c->info.samples += x->batch;
            progress_update(c->pg, (uint64_t)c->info.batches, (uint64_t)c->info.samples,
                            c->training ? loss_stats_mean(&c->tf.all) : NAN);
            if (c->loss_csv) {
                const loss_stats batch = loss_stats_since(&c->tf.all, &c->tf.batch_start);
                loss_log_add(c->loss_csv, c->tf.epochs_done, c->info.batches, c->info.samples, &batch);
                c->tf.batch_start = c->tf.all;
            }
            if (c->training && keep_checkpoint(c) < 0)
                return -1;
        }
    }
    c->seconds = c->t0 > 0 ? clock_now() - c->t0 : 0;
    return rc;
}

/* The last epoch's figures, the summary, the weights and the metrics. */
static int coder_close(stage *st, void *arg)
{
    coder *c = arg;
    const train_figures *tf = &c->tf, at_batch = c->tf; /* an interrupted run's checkpoint: as at the batch */
    model *info = &c->info;
    const double seconds = c->seconds;
    if (c->training && info->samples > 0)
        end_epoch(&c->tf, info->samples, seconds);
    progress_finish(c->pg);
    c->info.epochs = tf->epochs_done;
    if (c->training)
        log_info("%lld samples in %.1f s (%.2f samples/s): loss %.4f, masked %.3f, output rate "
                 "%.3f (target %.3f), hidden rate %.3f", (long long)info->samples, seconds,
                 seconds > 0 ? info->samples / seconds : 0.0, loss_stats_mean(&tf->all),
                 loss_stats_masked_fraction(&tf->all),
                 tf->all.entries ? (double)tf->all.out_spikes / tf->all.entries : 0.0,
                 tf->all.entries ? (double)tf->all.target_spikes / tf->all.entries : 0.0,
                 tf->hidden_entries ? (double)tf->hidden_spikes / tf->hidden_entries : 0.0);
    const bool complete = !stage_interrupted(st);
    if (*c->save && save_net(c->net, c->save, info, complete ? tf : &at_batch, c->init, complete) < 0)
        return -1;
    if (*options_str(c->o, "metrics") &&
        write_metrics(options_str(c->o, "metrics"), c->net, tf, info, c->maps ? (int)c->maps->steps : 0,
                      seconds) < 0)
        return -1;
    if (c->loss_csv && loss_log_finish(&c->loss_csv, "audiocoder") < 0)
        return -1;
    return 0;
}

static void coder_cleanup(void *arg)
{
    coder *c = arg;
    free(c->input);
    free(c->target);
    free(c->idx);
    free(c->seen);
    frame_destroy(&c->x);
    frame_destroy(&c->y);
    progress_destroy(&c->pg);
    loss_log_destroy(&c->loss_csv);
    spike_maps_destroy(&c->maps);
    snn_destroy(&c->net);
}

static const stage_callbacks callbacks = {.open = coder_open, .run = coder_run, .close = coder_close,
                                          .cleanup = coder_cleanup};

int main(int argc, char **argv)
{
    coder c = {0};
    return stage_main(&def, &callbacks, &c, argc, argv);
}
