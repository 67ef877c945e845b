/* train_options: reading the shared training options (see include/train_options.h). */
#include "numerics/train_options.h"

#include "core/err.h"

#include <string.h>

/* docs/results.md has the measurements behind each tuned setting */
static const train_setting settings[] = {
    /* traces update at every step, so Adam's moments restart per batch (the
     * paper's reading) */
    {"traces", LEARN_TRACES, TRACE_PER_NEURON, {.lr = 5e-4f, .beta1 = 0.9f, .carry_moments = false}},
    /* the authors' shared trace: its gradient is one product per step */
    {"traces-shared", LEARN_TRACES, TRACE_SHARED,
     {.lr = 2e-3f, .beta1 = 0.7f, .carry_moments = true, .cosine = true}},
    /* bptt updates once per window: the moments must carry, and a shorter
     * memory of the gradient (beta1 0.7) trains better in one epoch */
    {"bptt", LEARN_BPTT, TRACE_PER_NEURON, {.lr = 2e-3f, .beta1 = 0.7f, .carry_moments = true}},
};
#define N_SETTINGS (sizeof settings / sizeof *settings)

const train_setting *train_options_setting(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].name, name) == 0)
            return &settings[i];
    return NULL;
}

const char *train_options_learning_name(const learning_params *learn, const lif_params *lif)
{
    if (learn->rule == LEARN_TRACES && lif->trace == TRACE_SHARED)
        return "traces-shared";
    return learning_rule_name(learn->rule);
}

int64_t train_options_updates_per_batch(const learning_params *learn, int steps)
{
    if (learn->rule != LEARN_BPTT)
        return steps;
    const int window = learning_window(learn, steps);
    return (steps + window - 1) / window;
}

int train_options_schedule(optim_params *opt, const learning_params *learn, int steps, int64_t done,
                           int64_t stream)
{
    if (!opt->cosine)
        return 0;
    if (stream <= 0)
        return err_set("the cosine lr schedule needs the run's length, and the stream's source does "
                       "not say how many batches it sends: give --lr-schedule=constant");
    opt->decay_updates = train_options_updates_per_batch(learn, steps) * (done + stream);
    return 0;
}

int train_options_read(const options *o, lif_params *lif, optim_params *opt, learning_params *learn)
{
    const char *kernel = options_str(o, "trace-kernel");
    *learn = (learning_params){.window = (int)options_int(o, "window"),
                               .kernel = !strcmp(kernel, "rows")     ? TRACE_KERNEL_ROWS
                                         : !strcmp(kernel, "events") ? TRACE_KERNEL_EVENTS
                                                                     : TRACE_KERNEL_AUTO};
    const char *learning = options_str(o, "learning"), *trace = options_str(o, "trace");
    const train_setting *setting = train_options_setting(learning);
    if (!setting)
        return err_set("unknown --learning '%s'", learning);
    if (setting->trace == TRACE_SHARED && strcmp(trace, "per-neuron") == 0)
        return err_set("--learning=%s takes the shared trace: --trace=per-neuron contradicts it", learning);
    learn->rule = setting->rule;
    const train_tuned tuned = setting->tuned;
    *lif = lif_params_default();
    *opt = optim_params_default();
    lif->leak = (float)options_float(o, "leak");
    lif->threshold = (float)options_float(o, "threshold");
    lif->clamp = options_bool(o, "clamp");
    lif->slope = (float)options_float(o, "surrogate-slope");
    /* the options' choices: nothing else gets through the parser */
    lif->trace = strcmp(trace, "auto") == 0 ? setting->trace
                 : strcmp(trace, "shared") == 0 ? TRACE_SHARED : TRACE_PER_NEURON;
    opt->kind = strcmp(options_str(o, "optimizer"), "sgd") ? OPTIM_ADAM : OPTIM_SGD;
    opt->lr = (float)options_float(o, "lr");
    if (opt->lr == 0)
        opt->lr = tuned.lr;
    opt->weight_decay = (float)options_float(o, "weight-decay");
    opt->beta1 = (float)options_float(o, "beta1");
    if (opt->beta1 < 0)
        opt->beta1 = tuned.beta1;
    opt->beta2 = (float)options_float(o, "beta2");
    opt->eps = (float)options_float(o, "eps");
    const char *carry = options_str(o, "carry-moments");
    opt->carry_moments = strcmp(carry, "auto") ? strcmp(carry, "true") == 0 : tuned.carry_moments;
    const char *schedule = options_str(o, "lr-schedule");
    opt->cosine = strcmp(schedule, "auto") ? strcmp(schedule, "cosine") == 0 : tuned.cosine;
    if (!(lif->threshold > 0))
        return err_set("--threshold %g: must be positive", lif->threshold);
    if (!(opt->beta1 < 1) || !(opt->beta2 < 1) || !(opt->eps > 0))
        return err_set("Adam: beta1 and beta2 must be below 1, eps positive");
    return 0;
}
