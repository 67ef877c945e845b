/* optim: Adam state bookkeeping (the per-weight rule is inline in include/optim.h). */
#include "numerics/optim.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

optim_params optim_params_default(void)
{
    return (optim_params){.kind = OPTIM_ADAM, .lr = 5e-4f, .beta1 = 0.9f, .beta2 = 0.999f,
                          .eps = 1e-8f, .weight_decay = 1e-4f, .carry_moments = false};
}

optim_state *optim_state_new(const optim_params *p, size_t n)
{
    optim_state *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->n = n;
    if (p->kind == OPTIM_ADAM) {
        self->m = calloc(n, sizeof *self->m);
        self->v = calloc(n, sizeof *self->v);
        if (!self->m || !self->v)
            goto oom;
    }
    return self;
oom:
    err_set("optimiser state for %zu weights: out of memory", n);
    optim_state_destroy(&self);
    return NULL;
}

void optim_state_destroy(optim_state **self_p)
{
    optim_state *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->m);
    free(self->v);
    free(self);
    *self_p = NULL;
}

void optim_state_begin_batch(optim_state *self, const optim_params *p)
{
    if (p->kind != OPTIM_ADAM || p->carry_moments)
        return;
    memset(self->m, 0, self->n * sizeof *self->m);
    memset(self->v, 0, self->n * sizeof *self->v);
    self->step = 0;
}

void optim_state_begin_step(optim_state *self, const optim_params *p)
{
    self->step++;
    self->lr = p->lr;
    if (p->cosine && p->decay_updates > 0) {
        const double f = self->updates < p->decay_updates ? (double)self->updates / p->decay_updates : 1.0;
        self->lr = (float)(p->lr * 0.5 * (1.0 + cos(M_PI * f)));
    }
    self->updates++;
    self->inv_bias1 = (float)(1.0 / (1.0 - pow(p->beta1, (double)self->step)));
    self->inv_bias2 = (float)(1.0 / (1.0 - pow(p->beta2, (double)self->step)));
}
