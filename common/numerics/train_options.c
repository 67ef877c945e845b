/* train_options: reading the shared training options (see include/train_options.h). */
#include "numerics/train_options.h"

#include "core/err.h"

#include <string.h>

train_tuned train_options_tuned(learning_rule rule)
{
    /* traces update at every step, so Adam's moments restart per batch (the
     * paper's reading); bptt updates once per window: the moments must carry,
     * and a shorter memory of the gradient (beta1 0.7) trains better in one
     * epoch (docs/results.md) */
    return rule == LEARN_BPTT ? (train_tuned){.lr = 2e-3f, .beta1 = 0.7f, .carry_moments = true}
                              : (train_tuned){.lr = 5e-4f, .beta1 = 0.9f, .carry_moments = false};
}

int train_options_read(const options *o, lif_params *lif, optim_params *opt, learning_params *learn)
{
    const char *kernel = options_str(o, "trace-kernel");
    *learn = (learning_params){.window = (int)options_int(o, "window"),
                               .kernel = !strcmp(kernel, "rows")     ? TRACE_KERNEL_ROWS
                                         : !strcmp(kernel, "events") ? TRACE_KERNEL_EVENTS
                                                                     : TRACE_KERNEL_AUTO};
    if (learning_rule_parse(options_str(o, "learning"), &learn->rule) != 0)
        return -1;
    const train_tuned tuned = train_options_tuned(learn->rule);
    *lif = lif_params_default();
    *opt = optim_params_default();
    lif->leak = (float)options_float(o, "leak");
    lif->threshold = (float)options_float(o, "threshold");
    lif->clamp = options_bool(o, "clamp");
    lif->slope = (float)options_float(o, "surrogate-slope");
    /* the options' choices: nothing else gets through the parser */
    lif->trace = strcmp(options_str(o, "trace"), "shared") ? TRACE_PER_NEURON : TRACE_SHARED;
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
    if (!(lif->threshold > 0))
        return err_set("--threshold %g: must be positive", lif->threshold);
    if (!(opt->beta1 < 1) || !(opt->beta2 < 1) || !(opt->eps > 0))
        return err_set("Adam: beta1 and beta2 must be below 1, eps positive");
    return 0;
}
