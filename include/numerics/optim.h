/* optim: the weight update rules, applied at every time step.
 *
 * Adam (Kingma & Ba) or plain SGD, with weight decay added to the gradient
 * (g = dL/dW + wd * W). The paper averages Adam's moments "over time steps per
 * batch": by default the moments and the step count restart with every batch
 * (the reading that trains better, see docs/algorithm.md); carry_moments keeps
 * them across batches instead. The update is optim_apply(), inline so that
 * layers fuse it into their gradient loops chunk by chunk and the gradient
 * never goes to memory. */
#ifndef SPIKESYNTH_OPTIM_H
#define SPIKESYNTH_OPTIM_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { OPTIM_ADAM = 0, OPTIM_SGD = 1 } optim_kind;

typedef struct {
    optim_kind kind;
    float lr;
    float beta1, beta2, eps; /* Adam only */
    float weight_decay;
    bool carry_moments;      /* Adam: keep moments and step count across batches */
    bool cosine;             /* lr falls along a half cosine to 0 over decay_updates
                                updates, then stays at 0 (set once the run's length is
                                known: train_options_schedule); false: lr constant */
    int64_t decay_updates;
} optim_params;

/* The paper's settings: Adam, lr 5e-4, betas 0.9/0.999, eps 1e-8, wd 1e-4. */
optim_params optim_params_default(void);

/* Adam's moments for n weights, and the step count they belong to. */
typedef struct {
    size_t n;
    float *m, *v;
    int64_t step;
    int64_t updates;            /* updates so far, never restarted (the lr schedule) */
    float lr;                   /* the learning rate of the current update */
    float inv_bias1, inv_bias2; /* 1 / (1 - beta^step) for the current step */
} optim_state;

optim_state *optim_state_new(const optim_params *p, size_t n);
void optim_state_destroy(optim_state **self_p);
/* Called at the start of a batch: restarts the moments unless carried. */
void optim_state_begin_batch(optim_state *self, const optim_params *p);
/* Called once per update step, before the optim_apply calls of that step. */
void optim_state_begin_step(optim_state *self, const optim_params *p);

/* Updates n consecutive weights w[0..n) (state index i0..i0+n) with their raw
 * gradients; written so that the compiler vectorises it. */
static inline void optim_apply(const optim_params *p, optim_state *s, size_t i0,
                                     float *restrict w, const float *restrict grad, int n)
{
    const float wd = p->weight_decay, lr = s->lr;
    if (p->kind == OPTIM_SGD) {
        for (int k = 0; k < n; k++)
            w[k] -= lr * (grad[k] + wd * w[k]);
        return;
    }
    const float b1 = p->beta1, b2 = p->beta2, eps = p->eps;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2, ib1 = s->inv_bias1, ib2 = s->inv_bias2;
    float *restrict ms = s->m + i0, *restrict vs = s->v + i0;
    for (int k = 0; k < n; k++) {
        float g = grad[k] + wd * w[k];
        float m = b1 * ms[k] + c1 * g;
        float v = b2 * vs[k] + c2 * g * g;
        ms[k] = m;
        vs[k] = v;
        /* bias corrections as products: one division per weight, not three */
        w[k] -= lr * (m * ib1) / (sqrtf(v * ib2) + eps);
    }
}

#endif
