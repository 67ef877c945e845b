/* ann: dense layers, their activations, losses and backpropagation (the
 * ANN baselines and the digit classifier; include/numerics/ann.h). Products are
 * blas_sgemm calls; the element-wise loops around them are kept apart. */
#include "numerics/ann.h"

#include "core/err.h"
#include "numerics/blas.h"
#include "numerics/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the rng counter of layer l's initial weights, apart from the SNN's streams */
#define ANN_RNG_STREAM 0x414e4e00u

static const char *const act_names[] = {"sigmoid", "relu", "linear", "softmax"};
static const char *const loss_names[] = {"mse-mean", "mse-sum", "xent"};

const char *ann_activation_name(ann_activation a) { return a <= ANN_SOFTMAX ? act_names[a] : "?"; }
const char *ann_loss_name(ann_loss l) { return l <= ANN_LOSS_XENT ? loss_names[l] : "?"; }

static int parse_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

int ann_activation_parse(const char *name, ann_activation *out)
{
    const int i = parse_name(act_names, 4, name);
    if (i < 0)
        return err_set("unknown activation '%s' (sigmoid, relu, linear or softmax)", name);
    *out = (ann_activation)i;
    return 0;
}

int ann_loss_parse(const char *name, ann_loss *out)
{
    const int i = parse_name(loss_names, 3, name);
    if (i < 0)
        return err_set("unknown loss '%s' (mse-mean, mse-sum or xent)", name);
    *out = (ann_loss)i;
    return 0;
}

static int check_config(const ann_config *c)
{
    if (c->n_layers < 1 || c->n_layers > ANN_MAX_LAYERS)
        return err_set("ann: %d layers (1 to %d)", c->n_layers, ANN_MAX_LAYERS);
    for (int l = 0; l <= c->n_layers; l++)
        if (c->sizes[l] < 1)
            return err_set("ann: layer size %d at %d", c->sizes[l], l);
    for (int l = 0; l < c->n_layers; l++)
        if (c->act[l] == ANN_SOFTMAX && l != c->n_layers - 1)
            return err_set("ann: softmax is for the output layer only");
    /* softmax and cross-entropy go together: their joint gradient is p - t */
    if ((c->act[c->n_layers - 1] == ANN_SOFTMAX) != (c->loss == ANN_LOSS_XENT))
        return err_set("ann: the xent loss needs a softmax output layer, and a softmax output xent");
    return 0;
}

static int layer_init(ann_layer *L, const ann_config *c, int l)
{
    L->n_in = c->sizes[l];
    L->n_out = c->sizes[l + 1];
    L->act = c->act[l];
    const size_t nw = (size_t)L->n_in * L->n_out;
    optim_params ob = c->opt;
    ob.weight_decay = 0; /* no decay on biases */
    if (!(L->w = malloc(nw * sizeof *L->w)) || !(L->gw = malloc(nw * sizeof *L->gw)) ||
        !(L->b = calloc((size_t)L->n_out, sizeof *L->b)) || !(L->gb = calloc((size_t)L->n_out, sizeof *L->gb)) ||
        !(L->ow = optim_state_new(&c->opt, nw)) || !(L->ob = optim_state_new(&ob, (size_t)L->n_out)))
        return err_set("ann: out of memory for a %d x %d layer", L->n_out, L->n_in);
    const float s = c->init_scale > 0 ? c->init_scale : 1.0f / sqrtf((float)L->n_in);
    for (int m = 0; m < L->n_out; m++) {
        float *row = L->w + (size_t)m * L->n_in;
        rng_fill_uniform(c->seed, ANN_RNG_STREAM + (uint32_t)l, (uint32_t)m, 0, row, L->n_in);
        for (int j = 0; j < L->n_in; j++)
            row[j] = (2.0f * row[j] - 1.0f) * s;
    }
    return 0;
}

ann *ann_new(const ann_config *cfg, int max_batch)
{
    if (check_config(cfg) != 0)
        return NULL;
    if (max_batch < 1) {
        err_set("ann: batch %d", max_batch);
        return NULL;
    }
    ann *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("ann: out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    self->max_batch = max_batch;
    int widest = 0;
    for (int l = 0; l <= cfg->n_layers; l++) {
        widest = cfg->sizes[l] > widest ? cfg->sizes[l] : widest;
        if (!(self->a[l] = malloc((size_t)max_batch * cfg->sizes[l] * sizeof(float))))
            goto oom;
    }
    for (int k = 0; k < 2; k++)
        if (!(self->d[k] = malloc((size_t)max_batch * widest * sizeof(float))))
            goto oom;
    for (int l = 0; l < cfg->n_layers; l++)
        if (layer_init(&self->layer[l], cfg, l) != 0)
            goto fail;
    return self;
oom:
    err_set("ann: out of memory");
fail:
    ann_destroy(&self);
    return NULL;
}

void ann_destroy(ann **self_p)
{
    ann *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (int l = 0; l < ANN_MAX_LAYERS; l++) {
        ann_layer *L = &self->layer[l];
        free(L->w);
        free(L->b);
        free(L->gw);
        free(L->gb);
        optim_state_destroy(&L->ow);
        optim_state_destroy(&L->ob);
    }
    for (int l = 0; l <= ANN_MAX_LAYERS; l++)
        free(self->a[l]);
    free(self->d[0]);
    free(self->d[1]);
    free(self);
    *self_p = NULL;
}

/* y = act(z) in place over one row of n values */
static void activate_row(ann_activation act, float *z, int n)
{
    switch (act) {
    case ANN_SIGMOID:
        for (int j = 0; j < n; j++)
            z[j] = 1.0f / (1.0f + expf(-z[j]));
        break;
    case ANN_RELU:
        for (int j = 0; j < n; j++)
            z[j] = z[j] > 0 ? z[j] : 0;
        break;
    case ANN_SOFTMAX: {
        float mx = z[0];
        for (int j = 1; j < n; j++)
            mx = fmaxf(mx, z[j]);
        double sum = 0;
        for (int j = 0; j < n; j++)
            sum += (z[j] = expf(z[j] - mx));
        for (int j = 0; j < n; j++)
            z[j] = (float)(z[j] / sum);
        break;
    }
    case ANN_LINEAR:
        break;
    }
}

const float *ann_forward(ann *self, const float *x, int batch) { return ann_forward_from(self, 0, x, batch); }

const float *ann_forward_from(ann *self, int from, const float *x, int batch)
{
    const ann_config *c = &self->cfg;
    self->batch = batch;
    memcpy(self->a[from], x, (size_t)batch * c->sizes[from] * sizeof(float));
    for (int l = from; l < c->n_layers; l++) {
        const ann_layer *L = &self->layer[l];
        float *z = self->a[l + 1];
        for (int b = 0; b < batch; b++)
            memcpy(z + (size_t)b * L->n_out, L->b, (size_t)L->n_out * sizeof(float));
        blas_sgemm(false, true, batch, L->n_out, L->n_in, 1.0f, self->a[l], L->n_in, L->w, L->n_in, 1.0f, z,
                   L->n_out);
        for (int b = 0; b < batch; b++)
            activate_row(L->act, z + (size_t)b * L->n_out, L->n_out);
    }
    return self->a[c->n_layers];
}

double ann_loss_value(ann_loss l, const float *y, const float *t, int batch, int n)
{
    const size_t total = (size_t)batch * n;
    double sum = 0;
    if (l == ANN_LOSS_XENT) {
        /* the log of a probability that underflowed counts as log(1e-30) */
        for (size_t i = 0; i < total; i++)
            if (t[i] != 0)
                sum -= t[i] * log(fmax((double)y[i], 1e-30));
        return sum / batch;
    }
    for (size_t i = 0; i < total; i++) {
        const double e = (double)y[i] - t[i];
        sum += e * e;
    }
    return l == ANN_LOSS_MSE_MEAN ? sum / (double)total : sum / batch;
}

/* dL/dz of the output layer into d */
static void output_delta(const ann *self, const float *target, float *d)
{
    const ann_config *c = &self->cfg;
    const ann_layer *L = &self->layer[c->n_layers - 1];
    const float *y = self->a[c->n_layers];
    const size_t total = (size_t)self->batch * L->n_out;
    const float scale = c->loss == ANN_LOSS_XENT    ? 1.0f / self->batch
                        : c->loss == ANN_LOSS_MSE_SUM ? 2.0f / self->batch
                                                      : 2.0f / (float)total;
    for (size_t i = 0; i < total; i++)
        d[i] = scale * (y[i] - target[i]); /* xent with softmax: p - t */
    if (L->act == ANN_SIGMOID)
        for (size_t i = 0; i < total; i++)
            d[i] *= y[i] * (1.0f - y[i]);
    else if (L->act == ANN_RELU)
        for (size_t i = 0; i < total; i++)
            d[i] = y[i] > 0 ? d[i] : 0;
}

/* g (dL/dy of a hidden layer) into dL/dz through its activation, given y */
static void hidden_delta(ann_activation act, const float *y, float *g, size_t n)
{
    if (act == ANN_SIGMOID)
        for (size_t i = 0; i < n; i++)
            g[i] *= y[i] * (1.0f - y[i]);
    else if (act == ANN_RELU)
        for (size_t i = 0; i < n; i++)
            g[i] = y[i] > 0 ? g[i] : 0;
}

double ann_backward(ann *self, const float *target)
{
    const ann_config *c = &self->cfg;
    const int B = self->batch;
    const double loss = ann_loss_value(c->loss, self->a[c->n_layers], target, B, c->sizes[c->n_layers]);
    float *d = self->d[0], *below = self->d[1];
    output_delta(self, target, d);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        ann_layer *L = &self->layer[l];
        /* gw = d^T a[l], gb = column sums of d */
        blas_sgemm(true, false, L->n_out, L->n_in, B, 1.0f, d, L->n_out, self->a[l], L->n_in, 0.0f, L->gw,
                   L->n_in);
        for (int m = 0; m < L->n_out; m++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                s += d[(size_t)b * L->n_out + m];
            L->gb[m] = (float)s;
        }
        if (l == 0)
            break;
        blas_sgemm(false, false, B, L->n_in, L->n_out, 1.0f, d, L->n_out, L->w, L->n_in, 0.0f, below, L->n_in);
        hidden_delta(self->layer[l - 1].act, self->a[l], below, (size_t)B * L->n_in);
        float *t = d;
        d = below;
        below = t;
    }
    return loss;
}

void ann_update(ann *self)
{
    const ann_config *c = &self->cfg;
    optim_params ob = c->opt;
    ob.weight_decay = 0;
    for (int l = 0; l < c->n_layers; l++) {
        ann_layer *L = &self->layer[l];
        optim_state_begin_batch(L->ow, &c->opt);
        optim_state_begin_batch(L->ob, &ob);
        optim_state_begin_step(L->ow, &c->opt);
        optim_state_begin_step(L->ob, &ob);
        /* optim_apply takes an int count: rows at a time */
        for (int m = 0; m < L->n_out; m++)
            optim_apply(&c->opt, L->ow, (size_t)m * L->n_in, L->w + (size_t)m * L->n_in,
                        L->gw + (size_t)m * L->n_in, L->n_in);
        optim_apply(&ob, L->ob, 0, L->b, L->gb, L->n_out);
    }
}

double ann_train_batch(ann *self, const float *x, const float *target, int batch)
{
    ann_forward(self, x, batch);
    const double loss = ann_backward(self, target);
    ann_update(self);
    return loss;
}

int ann_argmax(const float *y, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (y[j] > y[best])
            best = j;
    return best;
}
