/* train_options: the command-line options of every stage that holds a trained
 * layer (ae-encoder, ae-decoder, audiocoder), declared once.
 *
 * Put TRAIN_OPTION_SPECS inside a stage's option table, then read them with
 * train_options_read. Defaults are the paper's settings (docs/algorithm.md);
 * --learning picks the rule, and --lr 0, --beta1 -1 and --carry-moments auto
 * take that value's tuned ones (train_options_setting). --checkpoint-every and
 * --resume are read by the trainer itself (data/checkpoint.h). */
#ifndef SPIKESYNTH_TRAIN_OPTIONS_H
#define SPIKESYNTH_TRAIN_OPTIONS_H

#include "numerics/lif_layer.h"
#include "core/options.h"

#define TRAIN_OPTION_SPECS                                                                         \
    TRAIN_OPTION_SPECS_LR("0", "learning rate (0: the --learning value's tuned one: traces 5e-4, " \
                               "traces-shared 2e-3, bptt 2e-3)")
/* The same with another default learning rate (the audiocoder's 5e-5). */
#define TRAIN_OPTION_SPECS_LR(lr, lr_help)                                                         \
    {"leak", OPT_FLOAT, "0.1", "membrane leak a: V = (1 - a) V + W x", .min = "0", .max = "1"},   \
    {"threshold", OPT_FLOAT, "1", "firing threshold Vth (positive)"},                              \
    {"clamp", OPT_BOOL, "false", "clamp V at Vth (the authors' code)"},                            \
    {"surrogate-slope", OPT_FLOAT, "1", "k in the surrogate dS/dV = k sigma'(k (V - Vth)); 1: the " \
     "paper's sigmoid", .min = "0.01", .max = "100"},                                              \
    {"trace", OPT_STRING, "auto", "eligibility trace: per-neuron (paper), shared (authors' code) or " \
     "auto (the --learning value's)", .choices = "auto|per-neuron|shared"},                     \
    {"optimizer", OPT_STRING, "adam", "adam or sgd", .choices = "adam|sgd"},                       \
    {"learning", OPT_STRING, "traces", "the learning rule: traces (the paper's: eligibility traces, "  \
     "an update every step), traces-shared (the same with the authors' shared trace) or bptt "     \
     "(backpropagation through time, an update per window)",                                      \
     .choices = "traces|traces-shared|bptt"},                                                      \
    {"window", OPT_INT, "0", "bptt: steps per update (truncated BPTT); 0: all the steps of a sample", \
     .min = "0"},                                                                                  \
    {"trace-kernel", OPT_STRING, "auto", "traces: how the gradient is computed: auto (the cheaper per " \
     "step), rows (trace rows, any input) or events (from the input spikes, where inputs are 0/1)", \
     .choices = "auto|rows|events"},                                                               \
    {"lr", OPT_FLOAT, lr, lr_help, .min = "0"},                                                    \
    {"lr-schedule", OPT_STRING, "auto", "constant; cosine: lr falls along a half cosine to 0 over the " \
     "run (a stage takes the run's length from its stream); auto: the --learning value's "          \
     "(traces-shared cosine, the others constant)", .choices = "auto|constant|cosine"},           \
    {"weight-decay", OPT_FLOAT, "1e-4", "added to the gradient as wd * W", .min = "0"},            \
    {"beta1", OPT_FLOAT, "-1", "Adam, below 1; -1: the --learning value's (traces 0.9, "        \
     "traces-shared and bptt 0.7)",                                                                \
     .min = "-1", .max = "1"},                                                                     \
    {"beta2", OPT_FLOAT, "0.999", "Adam, below 1", .min = "0", .max = "1"},                        \
    {"eps", OPT_FLOAT, "1e-8", "Adam (positive)"},                                                 \
    {"carry-moments", OPT_STRING, "auto", "keep Adam's moments across batches: true, false (restart " \
     "per batch, the paper's reading) or auto (the --learning value's: traces false, the others true)",              \
     .choices = "auto|true|false"},                                                                \
    {"init-scale", OPT_FLOAT, "0", "initial weights U(-s, s); 0: 1/sqrt(inputs)"},                \
    {"threads", OPT_INT, "0", "compute threads (0: all cores)"},                                \
    {"checkpoint-every", OPT_INT, "0", "training: keep a checkpoint every N batches, to resume from " \
     "(0: only when interrupted)", .min = "0"},                                                    \
    {"resume", OPT_STRING, "false", "training: go on from a checkpoint: true (the newest one every " \
     "layer holds), false, or N (the one of N batches)"}

/* Fills lif and opt from the options; -1 with err_msg() naming a bad value.
 * The table's ranges are checked by the parser; what a closed range cannot say
 * (threshold and eps positive, beta below 1) is checked here. */
int train_options_read(const options *o, lif_params *lif, optim_params *opt, learning_params *learn);

/* A value of --learning: its rule, its trace and its tuned learning rate and
 * Adam reading (docs/results.md). */
typedef struct {
    float lr, beta1;
    bool carry_moments;
    bool cosine; /* the lr schedule: a half cosine to 0 over the run */
} train_tuned;
typedef struct {
    const char *name; /* "traces", "traces-shared", "bptt" */
    learning_rule rule;
    trace_mode trace;
    train_tuned tuned;
} train_setting;

/* NULL for a name that is not a value of --learning. */
const train_setting *train_options_setting(const char *name);

/* Optimiser updates per batch of `steps` steps: every step (traces), every
 * window (bptt). */
int64_t train_options_updates_per_batch(const learning_params *learn, int steps);

/* Once the run's length is known: a cosine schedule (opt->cosine) runs over
 * the training's batches of `steps` steps, `done` before this stream (a
 * resumed training) and the stream's `stream`. -1 with err_msg() when the
 * schedule is cosine and stream is 0 (a source that does not say). */
int train_options_schedule(optim_params *opt, const learning_params *learn, int steps, int64_t done,
                           int64_t stream);

/* The --learning value that a layer's rule and trace are: "traces",
 * "traces-shared", "bptt" or "none". */
const char *train_options_learning_name(const learning_params *learn, const lif_params *lif);

#endif
