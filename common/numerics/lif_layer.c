/* lif_layer: synapses, LIF neurons and the learning rule, composed (see
 * include/numerics/lif_layer.h). The neuron dynamics are lif_neuron's, the
 * learning rules' state lives in trace_rule and bptt_rule; this file owns the
 * weights, the membranes, the parts of a batch and the products. */
#include "numerics/lif_layer.h"

#include "numerics/blas.h"
#include "numerics/bptt_rule.h"
#include "numerics/rng.h"
#include "numerics/spike_kernels.h"
#include "numerics/trace_rule.h"
#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


struct lif_layer_state {
    float *membrane;     /* batch x n_out: V[t] after reset, carried to t+1 */
    float *z;            /* batch x n_out: W x input of this step */
    int *n_spikes;       /* per sample: neurons that spiked at the last step */
    int step;            /* steps taken in this batch */
    int fwd_next;        /* the first sample of the next forward part (0: a new step) */
    int parts;           /* products go in this many parts of the batch */
    optim_state *optim;
    trace_rule *traces;  /* LEARN_TRACES */
    bptt_rule *bptt;     /* LEARN_BPTT */
};

static const char *const rule_names[] = {[LEARN_TRACES] = "traces", [LEARN_BPTT] = "bptt",
                                         [LEARN_NONE] = "none"};

const char *learning_rule_name(learning_rule rule)
{
    return (unsigned)rule < sizeof rule_names / sizeof *rule_names ? rule_names[rule] : NULL;
}

int learning_window(const learning_params *learn, int steps)
{
    return learn->window > 0 && learn->window < steps ? learn->window : steps;
}

lif_params lif_params_default(void)
{
    return (lif_params){.leak = 0.1f, .threshold = 1.0f, .clamp = false, .trace = TRACE_PER_NEURON,
                        .model = NEURON_LIF, .slope = 1.0f};
}

/* AUTO: the rows kernel's work follows the nonzero errors, and masked errors
 * are about 90% zeros; dense errors start by events (docs/results.md). */
static trace_kernel lif_layer_trace_kernel(const learning_params *learn)
{
    return learn->kernel == TRACE_KERNEL_AUTO && learn->masked_errors ? TRACE_KERNEL_ROWS : learn->kernel;
}

lif_layer *lif_layer_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                         const optim_params *opt, const learning_params *learn)
{
    if (n_in <= 0 || n_out <= 0 || max_batch <= 0) {
        err_set("lif layer: bad shape %d -> %d, batch %d", n_in, n_out, max_batch);
        return NULL;
    }
    lif_layer *self = calloc(1, sizeof *self);
    lif_layer_state *st = self ? calloc(1, sizeof *st) : NULL;
    if (!st)
        goto oom;
    self->state = st;
    self->n_in = n_in;
    self->n_out = n_out;
    self->max_batch = max_batch;
    self->lif = *lif;
    self->opt = *opt;
    self->learn = learn ? *learn : (learning_params){.rule = LEARN_TRACES};
    st->parts = 1;
    size_t bo = (size_t)max_batch * n_out;
    self->w = calloc((size_t)n_out * n_in, sizeof *self->w);
    self->v = calloc(bo, sizeof *self->v);
    self->spikes = calloc(bo, sizeof *self->spikes);
    st->membrane = calloc(bo, sizeof *st->membrane);
    st->z = calloc(bo, sizeof *st->z);
    st->n_spikes = calloc((size_t)max_batch, sizeof *st->n_spikes);
    if (!self->w || !self->v || !self->spikes || !st->membrane || !st->z || !st->n_spikes)
        goto oom;
    if (self->learn.rule != LEARN_NONE && !(st->optim = optim_state_new(opt, (size_t)n_out * n_in)))
        goto oom;
    if (self->learn.rule == LEARN_TRACES && !(st->traces = trace_rule_new(n_in, n_out, max_batch, lif, lif_layer_trace_kernel(&self->learn))))
        goto err;
    if (self->learn.rule == LEARN_BPTT && !(st->bptt = bptt_rule_new(n_in, n_out, max_batch, &self->learn)))
        goto err;
    return self;
oom:
    err_set("lif layer %d -> %d, batch %d: out of memory", n_in, n_out, max_batch);
err:
    lif_layer_destroy(&self);
    return NULL;
}

void lif_layer_destroy(lif_layer **self_p)
{
    lif_layer *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    lif_layer_state *st = self->state;
    if (st) {
        free(st->membrane);
        free(st->z);
        free(st->n_spikes);
        optim_state_destroy(&st->optim);
        trace_rule_destroy(&st->traces);
        bptt_rule_destroy(&st->bptt);
        free(st);
    }
    free(self->w);
    free(self->v);
    free(self->spikes);
    free(self);
    *self_p = NULL;
}


void lif_layer_init_uniform(lif_layer *self, uint64_t seed, uint32_t layer_id, float scale)
{
    if (scale <= 0)
        scale = 1.0f / sqrtf((float)self->n_in);
    for (int m = 0; m < self->n_out; m++) {
        float *row = self->w + (size_t)m * self->n_in;
        rng_fill_uniform(seed, RNG_STREAM_INIT, layer_id, (uint32_t)m, row, self->n_in);
        for (int j = 0; j < self->n_in; j++)
            row[j] = (2.0f * row[j] - 1.0f) * scale;
    }
}

void lif_layer_set_parts(lif_layer *self, int parts) { self->state->parts = parts > 1 ? parts : 1; }

int lif_layer_parts(const lif_layer *self) { return self->state->parts; }

int lif_layer_part_rows(int batch, int parts)
{
    if (parts <= 1 || batch <= 8)
        return batch > 0 ? batch : 1;
    int size = (batch + parts - 1) / parts;
    return (size + 7) / 8 * 8; /* lif_layer_update_rows splits on multiples of 8 */
}

int lif_layer_part_end(int batch, int parts, int k)
{
    long end = (long)lif_layer_part_rows(batch, parts) * (k + 1);
    return end < batch ? (int)end : batch;
}

int lif_layer_begin_batch(lif_layer *self, int batch)
{
    if (batch <= 0 || batch > self->max_batch)
        return err_set("lif layer: batch of %d samples, the layer holds at most %d", batch,
                       self->max_batch);
    lif_layer_state *st = self->state;
    self->batch = batch;
    st->step = 0;
    st->fwd_next = 0;
    size_t bo = (size_t)batch * self->n_out;
    memset(st->membrane, 0, bo * sizeof(float));
    memset(self->spikes, 0, bo * sizeof(float));
    memset(st->n_spikes, 0, (size_t)self->max_batch * sizeof *st->n_spikes);
    memset(self->v, 0, bo * sizeof(float));
    if (st->traces)
        trace_rule_begin_batch(st->traces, batch);
    if (st->bptt)
        bptt_rule_begin_batch(st->bptt, batch, self->w);
    if (st->optim)
        optim_state_begin_batch(st->optim, &self->opt);
    return 0;
}

int lif_layer_forward(lif_layer *self, const float *input)
{
    return lif_layer_forward_rows(self, input, 0, self->batch);
}

int lif_layer_forward_rows(lif_layer *self, const float *input, int b0, int b1)
{
    lif_layer_state *st = self->state;
    if (self->batch <= 0)
        return err_set("lif layer: forward before begin_batch");
    const int pr = lif_layer_part_rows(self->batch, st->parts);
    if (b0 != st->fwd_next || b1 <= b0 || b1 > self->batch || (b1 < self->batch && b1 % pr))
        return err_set("lif layer: forward of samples %d..%d, expected parts of %d from %d to %d",
                       b0, b1 - 1, pr, st->fwd_next, self->batch);
    if (st->traces && trace_rule_forward(st->traces, input, self->spikes, st->n_spikes, b0, b1) != 0)
        return -1;
    const int n_out = self->n_out, n_in = self->n_in;
    if (st->bptt) {
        if (bptt_rule_forward(st->bptt, input, b0, b1, self->w, st->z, pr) != 0)
            return -1;
    } else {
        blas_sgemm_rows(false, true, b1 - b0, n_out, n_in, 1.0f, input + (size_t)b0 * n_in, n_in,
                        self->w, n_in, 0.0f, st->z + (size_t)b0 * n_out, n_out, pr);
    }
#pragma omp parallel for schedule(static) if ((size_t)(b1 - b0) * n_out > 16384)
    for (int b = b0; b < b1; b++) {
        const size_t at = (size_t)b * n_out;
        st->n_spikes[b] = lif_neuron_step(&self->lif, st->membrane + at, st->z + at, self->v + at,
                                          self->spikes + at, n_out);
    }
    if (st->bptt)
        bptt_rule_record(st->bptt, self->v, self->spikes, b0, b1);
    st->fwd_next = b1 < self->batch ? b1 : 0;
    if (b1 == self->batch)
        st->step++;
    return 0;
}

int lif_layer_input_grad(const lif_layer *self, const float *dv, float *grad_in)
{
    return lif_layer_input_grad_rows(self, dv, grad_in, 0, self->batch);
}

int lif_layer_input_grad_rows(const lif_layer *self, const float *dv, float *grad_in, int b0, int b1)
{
    if (!grad_in)
        return 0;
    const int n_in = self->n_in, n_out = self->n_out, pr = lif_layer_part_rows(self->batch, self->state->parts);
    /* per part of the batch (so that a pipeline's parts give these bits): a
     * mostly nonzero dv through sgemm, a sparse one by the rows of W it picks */
    for (int p0 = b0; p0 < b1; p0 += pr) {
        const int rows = b1 - p0 < pr ? b1 - p0 : pr;
        const float *d = dv + (size_t)p0 * n_out;
        float *g = grad_in + (size_t)p0 * n_in;
        const int sparse = sparse_rows_product(d, rows, n_out, self->w, n_in, g, (size_t)rows * n_out / 4);
        if (sparse < 0)
            return err_set("the input gradient of a layer %d -> %d: out of memory", n_in, n_out);
        if (sparse > 0)
            blas_sgemm(false, false, rows, n_in, n_out, 1.0f, d, n_out, self->w, n_in, 0.0f, g, n_in);
    }
    return 0;
}

void lif_layer_surrogate(const lif_layer *self, const float *g, float *dv)
{
    lif_layer_surrogate_rows(self, g, dv, 0, self->batch);
}

void lif_layer_surrogate_rows(const lif_layer *self, const float *g, float *dv, int b0, int b1)
{
    const long i0 = (long)b0 * self->n_out, i1 = (long)b1 * self->n_out;
#pragma omp parallel for schedule(static) if (i1 - i0 > 16384)
    for (long i = i0; i < i1; i++)
        dv[i] = g[i] * lif_surrogate(&self->lif, self->v[i]);
}

int lif_layer_update(lif_layer *self, const float *dv)
{
    return lif_layer_update_rows(self, dv, 0, self->batch);
}

int lif_layer_update_rows(lif_layer *self, const float *dv, int b0, int b1)
{
    if (!self->state->traces)
        return err_set("lif layer %d -> %d: a per-step update needs learning by traces (this "
                       "layer learns by %s)", self->n_in, self->n_out, learning_rule_name(self->learn.rule));
    return trace_rule_update_rows(self->state->traces, dv, b0, b1, self->w, &self->opt,
                                  self->state->optim);
}

void lif_layer_trace_kernel_steps(const lif_layer *self, long *rows, long *events, long *sparse)
{
    *rows = *events = *sparse = 0;
    if (self->state->traces)
        trace_rule_kernel_steps(self->state->traces, rows, events, sparse);
}

int lif_layer_recorded_steps(const lif_layer *self)
{
    return self->state->bptt ? bptt_rule_steps(self->state->bptt) : 0;
}

int lif_layer_backward(lif_layer *self, const float *g, bool spike_grad, float *grad_in)
{
    if (!self->state->bptt)
        return err_set("lif layer %d -> %d: backward needs learning by bptt (this layer learns "
                       "by %s)", self->n_in, self->n_out, learning_rule_name(self->learn.rule));
    return bptt_rule_backward(self->state->bptt, g, spike_grad, grad_in, self->w, &self->lif);
}

int lif_layer_backward_update(lif_layer *self)
{
    if (!self->state->bptt)
        return err_set("lif layer %d -> %d: no backward to update from (this layer learns by %s)",
                       self->n_in, self->n_out, learning_rule_name(self->learn.rule));
    return bptt_rule_update(self->state->bptt, self->w, &self->opt, self->state->optim);
}

optim_state *lif_layer_optim(const lif_layer *self)
{
    return self->state->optim;
}
