/* snn: two LIF layers trained with the masked membrane loss (see include/snn.h). */
#include "numerics/snn.h"

#include "core/err.h"

#include <stdlib.h>

snn_config snn_config_default(void)
{
    return (snn_config){.n_in = 784, .n_hidden = 196, .n_out = 784,
                        .lif = lif_params_default(), .opt = optim_params_default(),
                        .mask = true, .init_scale = 0, .seed = 1, .parts = 1};
}

snn *snn_new(const snn_config *cfg, int max_batch)
{
    snn *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->cfg = *cfg;
    self->hidden = lif_layer_new(cfg->n_in, cfg->n_hidden, max_batch, &cfg->lif, &cfg->opt, &cfg->learn);
    learning_params out_learn = cfg->learn;
    out_learn.masked_errors = cfg->mask;
    self->output = lif_layer_new(cfg->n_hidden, cfg->n_out, max_batch, &cfg->lif, &cfg->opt, &out_learn);
    if (!self->hidden || !self->output)
        goto err;
    self->dv_out = calloc((size_t)max_batch * cfg->n_out, sizeof(float));
    self->g_hidden = calloc((size_t)max_batch * cfg->n_hidden, sizeof(float));
    self->dv_hidden = calloc((size_t)max_batch * cfg->n_hidden, sizeof(float));
    if (!self->dv_out || !self->g_hidden || !self->dv_hidden)
        goto oom;
    lif_layer_set_parts(self->hidden, cfg->parts);
    lif_layer_set_parts(self->output, cfg->parts);
    lif_layer_init_uniform(self->hidden, cfg->seed, 1, cfg->init_scale);
    lif_layer_init_uniform(self->output, cfg->seed, 2, cfg->init_scale);
    return self;
oom:
    err_set("network %d-%d-%d, batch %d: out of memory", cfg->n_in, cfg->n_hidden, cfg->n_out,
            max_batch);
err:
    snn_destroy(&self);
    return NULL;
}

void snn_destroy(snn **self_p)
{
    snn *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    lif_layer_destroy(&self->hidden);
    lif_layer_destroy(&self->output);
    free(self->dv_out);
    free(self->g_hidden);
    free(self->dv_hidden);
    free(self->dv_steps);
    free(self->g_steps);
    free(self);
    *self_p = NULL;
}

int snn_begin_batch(snn *self, int batch)
{
    if (lif_layer_begin_batch(self->hidden, batch) != 0 ||
        lif_layer_begin_batch(self->output, batch) != 0)
        return -1;
    return 0;
}

int snn_output_error(lif_layer *out, const float *hidden_spikes, const float *target, bool mask,
                     float *dv, float *g_in, loss_stats *stats)
{
    return snn_output_error_rows(out, hidden_spikes, target, mask, dv, g_in, stats, 0, out->batch);
}

int snn_output_error_rows(lif_layer *out, const float *hidden_spikes, const float *target,
                          bool mask, float *dv, float *g_in, loss_stats *stats, int b0, int b1)
{
    if (snn_output_loss_rows(out, hidden_spikes, target, mask, dv, stats, b0, b1) != 0)
        return -1;
    return lif_layer_input_grad_rows(out, dv, g_in, b0, b1);
}

int snn_output_loss_rows(lif_layer *out, const float *hidden_spikes, const float *target, bool mask,
                         float *dv, loss_stats *stats, int b0, int b1)
{
    const size_t at = (size_t)b0 * out->n_out;
    if (lif_layer_forward_rows(out, hidden_spikes, b0, b1) != 0)
        return -1;
    loss_membrane(out->v + at, out->spikes + at, target + at, b1 - b0, out->n_out,
                  out->lif.threshold, mask, dv + at, stats);
    return 0;
}

int snn_hidden_train(lif_layer *hidden, const float *g, float *dv)
{
    lif_layer_surrogate(hidden, g, dv);
    return lif_layer_update(hidden, dv);
}

/* bptt: room for the dL/dV and dL/dS of one more step of the window */
static int steps_room(snn *self, int steps)
{
    if (steps <= self->steps_cap)
        return 0;
    const int cap = self->steps_cap ? 2 * self->steps_cap : 16;
    const size_t rows = (size_t)cap * self->hidden->max_batch;
    float *dv = realloc(self->dv_steps, rows * self->cfg.n_out * sizeof *dv);
    if (dv)
        self->dv_steps = dv;
    float *g = realloc(self->g_steps, rows * self->cfg.n_hidden * sizeof *g);
    if (g)
        self->g_steps = g;
    if (!dv || !g)
        return err_set("bptt: out of memory for %d steps of the window", cap);
    self->steps_cap = cap;
    return 0;
}

/* bptt: back through the window, the output layer first, then the hidden one
 * with the gradient of its spikes at every step */
static int snn_backward(snn *self)
{
    if (lif_layer_recorded_steps(self->output) == 0)
        return 0;
    if (lif_layer_backward(self->output, self->dv_steps, false, self->g_steps) != 0 ||
        lif_layer_backward(self->hidden, self->g_steps, true, NULL) != 0 ||
        lif_layer_backward_update(self->output) != 0 || lif_layer_backward_update(self->hidden) != 0)
        return -1;
    return 0;
}

static int snn_train_step_bptt(snn *self, const float *x, const float *target, loss_stats *stats)
{
    lif_layer *out = self->output;
    const int s = lif_layer_recorded_steps(out);
    if (steps_room(self, s + 1) != 0 || lif_layer_forward(self->hidden, x) != 0 ||
        snn_output_loss_rows(out, self->hidden->spikes, target, self->cfg.mask,
                             self->dv_steps + (size_t)s * out->batch * out->n_out, stats, 0, out->batch) != 0)
        return -1;
    return self->cfg.learn.window > 0 && s + 1 == self->cfg.learn.window ? snn_backward(self) : 0;
}

int snn_train_step(snn *self, const float *x, const float *target, loss_stats *stats)
{
    if (self->cfg.learn.rule == LEARN_BPTT)
        return snn_train_step_bptt(self, x, target, stats);
    if (lif_layer_forward(self->hidden, x) != 0)
        return -1;
    if (snn_output_error(self->output, self->hidden->spikes, target, self->cfg.mask, self->dv_out,
                         self->g_hidden, stats) != 0 ||
        snn_hidden_train(self->hidden, self->g_hidden, self->dv_hidden) != 0)
        return -1;
    return lif_layer_update(self->output, self->dv_out);
}

int snn_end_batch(snn *self) { return self->cfg.learn.rule == LEARN_BPTT ? snn_backward(self) : 0; }

int snn_infer_step(snn *self, const float *x)
{
    if (lif_layer_forward(self->hidden, x) != 0)
        return -1;
    return lif_layer_forward(self->output, self->hidden->spikes);
}
