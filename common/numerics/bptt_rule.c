/* bptt_rule: backpropagation through time for one layer (see
 * include/numerics/bptt_rule.h).
 *
 * Invariant: the steps recorded so far are rows r = s * batch + b, r <
 * steps * batch, of in, v and s (and of the spike listing start/idx while
 * every input so far was binary). Every loop runs per sample, per weight or
 * per input column, and the dense products go through blas_sgemm, so the
 * bits are the same for any thread count. */
#include "numerics/bptt_rule.h"

#include "numerics/blas.h"
#include "numerics/spike_kernels.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* an input part whose spikes are below this fraction goes by events */
#define EVENT_DENSITY 0.35
/* a window's dX with fewer nonzero entries than this fraction goes by them */
#define SPARSE_DENSITY 0.3

struct bptt_rule {
    int n_in, n_out, max_batch;
    int batch, steps, cap; /* samples, steps recorded, steps the arrays hold */
    int window;            /* steps per update; 0: the caller decides (the batch's end) */
    float *in;             /* cap x max_batch x n_in: the input of each recorded step */
    float *v, *s;          /* cap x max_batch x n_out: V before reset, spikes */
    float *dx;             /* cap x max_batch x n_out: dL/dX of each step */
    int *start, *idx;      /* the inputs' spikes by row (spike_kernels' CSR) */
    bool binary;           /* every recorded input is 0/1: start/idx are valid */
    bool backward_done;    /* dx holds the window's gradient; the update is due */
    int *cstart, *crows;   /* the same by input column, for dW */
    float *wt;             /* n_in x n_out: W transposed, as of the last update */
    float *grad;           /* n_out x n_in: dL/dW */
    float *gt;             /* n_in x n_out: dL/dW transposed (the event-driven sum) */
};

bptt_rule *bptt_rule_new(int n_in, int n_out, int max_batch, const learning_params *learn)
{
    bptt_rule *self = calloc(1, sizeof *self);
    const size_t nw = (size_t)n_out * n_in;
    if (!self || !(self->grad = malloc(nw * sizeof(float))) || !(self->gt = malloc(nw * sizeof(float))) ||
        !(self->wt = malloc(nw * sizeof(float))) || !(self->cstart = malloc((size_t)(n_in + 1) * sizeof(int)))) {
        bptt_rule_destroy(&self);
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
    free(self->start);
    free(self->idx);
    free(self->cstart);
    free(self->crows);
    free(self->wt);
    free(self->grad);
    free(self->gt);
    free(self);
    *self_p = NULL;
}

static void transpose(const float *w, int rows, int cols, float *wt)
{
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > 65536)
    for (int j = 0; j < cols; j++)
        for (int m = 0; m < rows; m++)
            wt[(size_t)j * rows + m] = w[(size_t)m * cols + j];
}

/* a new window: no step recorded, the inputs binary until shown otherwise */
static void window_start(bptt_rule *self)
{
    self->steps = 0;
    self->binary = true;
    if (self->start)
        self->start[0] = 0;
}

void bptt_rule_begin_batch(bptt_rule *self, int batch, const float *w)
{
    self->batch = batch;
    window_start(self);
    transpose(w, self->n_out, self->n_in, self->wt);
}

int bptt_rule_steps(const bptt_rule *self) { return self->steps; }

/* Room for one more step: the arrays double (a window of unknown length). */
static int grow(bptt_rule *self)
{
    if (self->steps < self->cap)
        return 0;
    const int cap = self->cap ? 2 * self->cap : (self->window ? self->window : 16);
    const size_t rows = (size_t)cap * self->max_batch;
    void *p[7] = {realloc(self->in, rows * self->n_in * sizeof(float)),
                  realloc(self->v, rows * self->n_out * sizeof(float)),
                  realloc(self->s, rows * self->n_out * sizeof(float)),
                  realloc(self->dx, rows * self->n_out * sizeof(float)),
                  realloc(self->start, (rows + 1) * sizeof(int)),
                  realloc(self->idx, rows * self->n_in * sizeof(int)),
                  realloc(self->crows, rows * self->n_in * sizeof(int))};
    void **field[7] = {(void **)&self->in, (void **)&self->v, (void **)&self->s, (void **)&self->dx,
                       (void **)&self->start, (void **)&self->idx, (void **)&self->crows};
    bool ok = true;
    for (int i = 0; i < 7; i++) {
        if (p[i])
            *field[i] = p[i];
        ok &= p[i] != NULL;
    }
    if (!ok)
        return err_set("bptt of a layer %d -> %d: out of memory for %d steps of %d samples",
                       self->n_in, self->n_out, cap, self->max_batch);
    if (self->cap == 0)
        self->start[0] = 0;
    self->cap = cap;
    return 0;
}

/* rows [0, r1) of in from their spike listing */
static void spikes_to_dense(bptt_rule *self, int r1)
{
    memset(self->in, 0, (size_t)r1 * self->n_in * sizeof(float));
    for (int r = 0; r < r1; r++)
        for (int k = self->start[r]; k < self->start[r + 1]; k++)
            self->in[(size_t)r * self->n_in + self->idx[k]] = 1.0f;
}

int bptt_rule_forward(bptt_rule *self, const float *input, int b0, int b1, const float *w, float *z,
                      int part_rows)
{
    if (grow(self) != 0)
        return -1;
    const int n_in = self->n_in, n_out = self->n_out, r0 = self->steps * self->batch + b0;
    const size_t rows = (size_t)(b1 - b0);
    /* the listing continues from row r0 (earlier rows, earlier parts) */
    int *start = self->start + r0, base = start[0];
    bool binary = spike_rows_list(input + (size_t)b0 * n_in, (int)rows, n_in, start, self->idx + base);
    for (size_t r = 0; r <= rows; r++)
        start[r] += base;
    /* spikes are kept as their listing alone; the first input that is not
     * spikes turns the window's earlier rows back into dense ones */
    if (!binary && self->binary)
        spikes_to_dense(self, r0);
    self->binary &= binary;
    if (!self->binary)
        memcpy(self->in + (size_t)r0 * n_in, input + (size_t)b0 * n_in, rows * n_in * sizeof(float));
    if (binary && start[rows] - base < EVENT_DENSITY * rows * n_in) {
        spike_gather_rows(self->start, self->idx, r0, r0 + (int)rows, self->wt, n_out,
                          z + (size_t)(b0 - r0) * n_out);
        return 0;
    }
    blas_sgemm_rows(false, true, (int)rows, n_out, n_in, 1.0f, input + (size_t)b0 * n_in, n_in, w, n_in,
                    0.0f, z + (size_t)b0 * n_out, n_out, part_rows);
    return 0;
}

void bptt_rule_record(bptt_rule *self, const float *v, const float *spikes, int b0, int b1)
{
    const int n_out = self->n_out;
    const size_t r0 = (size_t)self->steps * self->batch;
    /* per sample on both threads: one thread's copy was a step's serial tail */
#pragma omp parallel for schedule(static) if ((size_t)(b1 - b0) * n_out > 16384)
    for (int b = b0; b < b1; b++) {
        const size_t at = (size_t)b * n_out;
        memcpy(self->v + r0 * n_out + at, v + at, n_out * sizeof(float));
        memcpy(self->s + r0 * n_out + at, spikes + at, n_out * sizeof(float));
    }
    if (b1 == self->batch)
        self->steps++;
}

/* dX of every recorded step, from the last back (the recursion in the header). */
static void backward_through_time(bptt_rule *self, const float *g, bool spike_grad, const lif_params *lif)
{
    const int n_out = self->n_out, batch = self->batch;
    const size_t step = (size_t)batch * n_out;
    const float keep = 1.0f - lif->leak, vth = lif->threshold;
    const bool clamp = lif->clamp;
#pragma omp parallel for schedule(static) if ((size_t)batch * n_out > 16384)
    for (int b = 0; b < batch; b++)
        for (int s = self->steps - 1; s >= 0; s--) {
            const size_t at = s * step + (size_t)b * n_out;
            const float *gs = g + at, *vs = self->v + at, *ss = self->s + at;
            const float *next = s + 1 < self->steps ? self->dx + at + step : NULL;
            float *dx = self->dx + at;
            for (int m = 0; m < n_out; m++) {
                float ext = spike_grad ? gs[m] * lif_surrogate(lif, vs[m]) : gs[m];
                float dv = next ? ext + keep * (1.0f - ss[m]) * next[m] : ext;
                dx[m] = clamp && vs[m] >= vth ? 0.0f : dv;
            }
        }
}

/* dL/dW = dX^T input / batch over the window: by input spikes where every
 * input was binary, else one sgemm */
static void weight_gradient(bptt_rule *self)
{
    const int n_in = self->n_in, n_out = self->n_out, rows = self->steps * self->batch;
    const float inv_batch = 1.0f / (float)self->batch;
    if (!self->binary) {
        blas_sgemm(true, false, n_out, n_in, rows, inv_batch, self->dx, n_out, self->in, n_in, 0.0f,
                   self->grad, n_in);
        return;
    }
    spike_columns_list(self->start, self->idx, rows, n_in, self->cstart, self->crows);
    spike_sum_by_column(self->cstart, self->crows, n_in, self->dx, n_out, self->gt);
#pragma omp parallel for schedule(static) if ((size_t)n_out * n_in > 65536)
    for (int m = 0; m < n_out; m++)
        for (int j = 0; j < n_in; j++)
            self->grad[(size_t)m * n_in + j] = self->gt[(size_t)j * n_out + m] * inv_batch;
}

/* grad_in = dX W over the window: a sparse dX (the output layer's: the masked
 * error keeps most entries 0) by its nonzero entries, a dense one by sgemm */
static int input_gradient(const bptt_rule *self, const float *w, float *grad_in)
{
    const int n_in = self->n_in, n_out = self->n_out, rows = self->steps * self->batch;
    /* sparse while nonzero entries < SPARSE_DENSITY of them */
    const size_t max_nonzero = (size_t)ceil(SPARSE_DENSITY * (double)rows * n_out) - 1;
    const int sparse = sparse_rows_product(self->dx, rows, n_out, w, n_in, grad_in, max_nonzero);
    if (sparse < 0)
        return err_set("the input gradient of a layer %d -> %d: out of memory", n_in, n_out);
    if (sparse == 0)
        return 0;
    blas_sgemm(false, false, rows, n_in, n_out, 1.0f, self->dx, n_out, w, n_in, 0.0f, grad_in, n_in);
    return 0;
}

int bptt_rule_backward(bptt_rule *self, const float *g, bool spike_grad, float *grad_in, const float *w,
                       const lif_params *lif)
{
    if (self->steps == 0)
        return err_set("bptt: backward with no step recorded");
    backward_through_time(self, g, spike_grad, lif);
    if (grad_in && input_gradient(self, w, grad_in) < 0)
        return -1;
    self->backward_done = true;
    return 0;
}

int bptt_rule_update(bptt_rule *self, float *w, const optim_params *opt, optim_state *optim)
{
    const int n_in = self->n_in, n_out = self->n_out;
    if (!self->backward_done)
        return err_set("bptt: update before backward");
    self->backward_done = false;
    weight_gradient(self);
    optim_state_begin_step(optim, opt);
#pragma omp parallel for schedule(static) if ((size_t)n_out * n_in > 65536)
    for (int m = 0; m < n_out; m++)
        optim_apply(opt, optim, (size_t)m * n_in, w + (size_t)m * n_in, self->grad + (size_t)m * n_in, n_in);
    transpose(w, n_out, n_in, self->wt);
    window_start(self);
    return 0;
}
