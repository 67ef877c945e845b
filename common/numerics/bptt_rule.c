/* bptt_rule: backpropagation through time for one layer (see
 * include/numerics/bptt_rule.h).
 *
 * Invariant: steps recorded so far are rows [0, steps) of in, v and s, each
 * batch rows of the batch's samples. Every loop runs per sample or per weight,
 * and the products go through blas_sgemm, so the bits are the same for any
 * thread count. */
#include "numerics/bptt_rule.h"

#include "numerics/blas.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

struct bptt_rule {
    int n_in, n_out, max_batch;
    int batch, steps, cap; /* samples, steps recorded, steps the arrays hold */
    int window;            /* steps per update; 0: the caller decides (the batch's end) */
    float *in;             /* cap x max_batch x n_in: the input of each recorded step */
    float *v, *s;          /* cap x max_batch x n_out: V before reset, spikes */
    float *dx;             /* cap x max_batch x n_out: dL/dX of each step */
    float *grad;           /* n_out x n_in: dL/dW */
};

bptt_rule *bptt_rule_new(int n_in, int n_out, int max_batch, const learning_params *learn)
{
    bptt_rule *self = calloc(1, sizeof *self);
    if (!self || !(self->grad = malloc((size_t)n_out * n_in * sizeof *self->grad))) {
        free(self);
        err_set("bptt of a layer %d -> %d: out of memory", n_in, n_out);
        return NULL;
    }
    self->n_in = n_in;
    self->n_out = n_out;
    self->max_batch = max_batch;
    self->window = learn->window > 0 ? learn->window : 0;
    return self;
}

void bptt_rule_destroy(bptt_rule **self_p)
{
    bptt_rule *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->in);
    free(self->v);
    free(self->s);
    free(self->dx);
    free(self->grad);
    free(self);
    *self_p = NULL;
}

void bptt_rule_begin_batch(bptt_rule *self, int batch)
{
    self->batch = batch;
    self->steps = 0;
}

int bptt_rule_steps(const bptt_rule *self) { return self->steps; }

/* Room for one more step: the arrays double (a window of unknown length). */
static int grow(bptt_rule *self)
{
    if (self->steps < self->cap)
        return 0;
    const int cap = self->cap ? 2 * self->cap : (self->window ? self->window : 16);
    const size_t rows = (size_t)cap * self->max_batch;
    float *in = realloc(self->in, rows * self->n_in * sizeof *in);
    if (in)
        self->in = in;
    float *v = realloc(self->v, rows * self->n_out * sizeof *v);
    if (v)
        self->v = v;
    float *s = realloc(self->s, rows * self->n_out * sizeof *s);
    if (s)
        self->s = s;
    float *dx = realloc(self->dx, rows * self->n_out * sizeof *dx);
    if (dx)
        self->dx = dx;
    if (!in || !v || !s || !dx)
        return err_set("bptt of a layer %d -> %d: out of memory for %d steps of %d samples",
                       self->n_in, self->n_out, cap, self->max_batch);
    self->cap = cap;
    return 0;
}

int bptt_rule_record(bptt_rule *self, const float *input, const float *v, const float *spikes,
                     int b0, int b1)
{
    if (grow(self) != 0)
        return -1;
    const size_t step_in = (size_t)self->max_batch * self->n_in, step_out = (size_t)self->max_batch * self->n_out;
    const size_t rows = (size_t)(b1 - b0);
    memcpy(self->in + self->steps * step_in + (size_t)b0 * self->n_in, input + (size_t)b0 * self->n_in,
           rows * self->n_in * sizeof(float));
    memcpy(self->v + self->steps * step_out + (size_t)b0 * self->n_out, v + (size_t)b0 * self->n_out,
           rows * self->n_out * sizeof(float));
    memcpy(self->s + self->steps * step_out + (size_t)b0 * self->n_out, spikes + (size_t)b0 * self->n_out,
           rows * self->n_out * sizeof(float));
    if (b1 == self->batch)
        self->steps++;
    return 0;
}

/* dX of every recorded step, from the last back (the recursion in the header). */
static void backward_through_time(bptt_rule *self, const float *g, bool spike_grad, const lif_params *lif)
{
    const int n_out = self->n_out, batch = self->batch;
    const size_t step_out = (size_t)self->max_batch * n_out;
    const float keep = 1.0f - lif->leak, vth = lif->threshold;
    const bool clamp = lif->clamp;
#pragma omp parallel for schedule(static) if ((size_t)batch * n_out > 16384)
    for (int b = 0; b < batch; b++)
        for (int s = self->steps - 1; s >= 0; s--) {
            const size_t at = s * step_out + (size_t)b * n_out;
            const float *gs = g + ((size_t)s * batch + b) * n_out;
            const float *vs = self->v + at, *ss = self->s + at;
            const float *next = s + 1 < self->steps ? self->dx + at + step_out : NULL;
            float *dx = self->dx + at;
            for (int m = 0; m < n_out; m++) {
                float ext = spike_grad ? gs[m] * lif_surrogate_grad(vs[m] - vth) : gs[m];
                float dv = next ? ext + keep * (1.0f - ss[m]) * next[m] : ext;
                dx[m] = clamp && vs[m] >= vth ? 0.0f : dv;
            }
        }
}

int bptt_rule_backward(bptt_rule *self, const float *g, bool spike_grad, float *grad_in, float *w,
                       const lif_params *lif, const optim_params *opt, optim_state *optim)
{
    const int n_in = self->n_in, n_out = self->n_out, batch = self->batch;
    if (self->steps == 0)
        return err_set("bptt: backward with no step recorded");
    backward_through_time(self, g, spike_grad, lif);
    /* the recorded rows hold max_batch samples per step: products go step by
     * step when the batch is short, else over all steps at once */
    const bool packed = batch == self->max_batch;
    const size_t step_in = (size_t)self->max_batch * n_in, step_out = (size_t)self->max_batch * n_out;
    const float inv_batch = 1.0f / (float)batch;
    for (int s = 0; s < (packed ? 1 : self->steps); s++) {
        const int rows = packed ? self->steps * batch : batch;
        const float *dx = self->dx + s * step_out, *in = self->in + s * step_in;
        if (grad_in)
            blas_sgemm(false, false, rows, n_in, n_out, 1.0f, dx, n_out, w, n_in, 0.0f,
                       grad_in + (size_t)s * batch * n_in, n_in);
        blas_sgemm(true, false, n_out, n_in, rows, inv_batch, dx, n_out, in, n_in, s ? 1.0f : 0.0f,
                   self->grad, n_in);
    }
    optim_state_begin_step(optim, opt);
#pragma omp parallel for schedule(static) if ((size_t)n_out * n_in > 65536)
    for (int m = 0; m < n_out; m++)
        optim_apply(opt, optim, (size_t)m * n_in, w + (size_t)m * n_in, self->grad + (size_t)m * n_in, n_in);
    self->steps = 0;
    return 0;
}
