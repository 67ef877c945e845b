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
    const char *trace = options_str(o, "trace");
    if (strcmp(trace, "per-neuron") == 0)
        lif->trace = TRACE_PER_NEURON;
    else if (strcmp(trace, "shared") == 0)
        lif->trace = TRACE_SHARED;
    else
        return err_set("--trace %s: use per-neuron or shared", trace);
    const char *kind = options_str(o, "optimizer");
    if (strcmp(kind, "adam") == 0)
        opt->kind = OPTIM_ADAM;
    else if (strcmp(kind, "sgd") == 0)
        opt->kind = OPTIM_SGD;
    else
        return err_set("--optimizer %s: use adam or sgd", kind);
    opt->lr = (float)options_float(o, "lr");
    opt->weight_decay = (float)options_float(o, "weight-decay");
    opt->beta1 = (float)options_float(o, "beta1");
    opt->beta2 = (float)options_float(o, "beta2");
    opt->eps = (float)options_float(o, "eps");
    opt->carry_moments = options_bool(o, "carry-moments");
    if (!(lif->leak >= 0 && lif->leak <= 1))
        return err_set("--leak %g: must be in [0, 1]", lif->leak);
    if (!(lif->threshold > 0))
        return err_set("--threshold %g: must be positive", lif->threshold);
    if (!(opt->lr >= 0) || !(opt->weight_decay >= 0))
        return err_set("--lr and --weight-decay must not be negative");
    if (!(opt->beta1 >= 0 && opt->beta1 < 1) || !(opt->beta2 >= 0 && opt->beta2 < 1) || !(opt->eps > 0))
        return err_set("Adam: beta1 and beta2 must be in [0, 1), eps positive");
    return 0;
}
