/* train_options: reading the shared training options (see include/train_options.h). */
#include "numerics/train_options.h"

#include "core/err.h"

#include <string.h>

int train_options_read(const options *o, lif_params *lif, optim_params *opt)
{
    *lif = lif_params_default();
    *opt = optim_params_default();
    lif->leak = (float)options_float(o, "leak");
    lif->threshold = (float)options_float(o, "threshold");
    lif->clamp = options_bool(o, "clamp");
    /* the options' choices: nothing else gets through the parser */
    lif->trace = strcmp(options_str(o, "trace"), "shared") ? TRACE_PER_NEURON : TRACE_SHARED;
    opt->kind = strcmp(options_str(o, "optimizer"), "sgd") ? OPTIM_ADAM : OPTIM_SGD;
    opt->lr = (float)options_float(o, "lr");
    opt->weight_decay = (float)options_float(o, "weight-decay");
    opt->beta1 = (float)options_float(o, "beta1");
    opt->beta2 = (float)options_float(o, "beta2");
    opt->eps = (float)options_float(o, "eps");
    opt->carry_moments = options_bool(o, "carry-moments");
    if (!(lif->threshold > 0))
        return err_set("--threshold %g: must be positive", lif->threshold);
    if (!(opt->beta1 < 1) || !(opt->beta2 < 1) || !(opt->eps > 0))
        return err_set("Adam: beta1 and beta2 must be below 1, eps positive");
    return 0;
}
