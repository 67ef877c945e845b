/* support_oracle: the naive reference network (see tests/oracle.h). Loops are
 * written as the equations read; index helpers keep the shapes visible. */
#include "oracle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct oracle {
    oracle_config c;
    float *w1, *w2;               /* n_h x n_in, n_out x n_h */
    float *u1, *u2;               /* membrane after reset, batch x n */
    float *s1, *s2;               /* spikes of the previous (then current) step */
    float *e1, *e2;               /* traces: batch x n_h x n_in, batch x n_out x n_h */
    float *m1, *v1, *m2, *v2;     /* Adam moments */
    long step, hidden_spikes, output_spikes, masked;
};

#define AT3(arr, b, m, j, nm, nj) (arr)[((size_t)(b) * (nm) + (m)) * (nj) + (j)]
#define AT2(arr, b, m, nm) (arr)[(size_t)(b) * (nm) + (m)]

static float *copy_or_zero(const float *src, size_t n)
{
    float *p = calloc(n, sizeof *p);
    if (src)
        memcpy(p, src, n * sizeof *p);
    return p;
}

oracle *oracle_new(const oracle_config *cfg, const float *w1, const float *w2)
{
    oracle *o = calloc(1, sizeof *o);
    o->c = *cfg;
    int B = cfg->batch, I = cfg->n_in, H = cfg->n_h, O = cfg->n_out;
    o->w1 = copy_or_zero(w1, (size_t)H * I);
    o->w2 = copy_or_zero(w2, (size_t)O * H);
    o->u1 = copy_or_zero(NULL, (size_t)B * H);
    o->u2 = copy_or_zero(NULL, (size_t)B * O);
    o->s1 = copy_or_zero(NULL, (size_t)B * H);
    o->s2 = copy_or_zero(NULL, (size_t)B * O);
    o->e1 = copy_or_zero(NULL, (size_t)B * H * I);
    o->e2 = copy_or_zero(NULL, (size_t)B * O * H);
    o->m1 = copy_or_zero(NULL, (size_t)H * I);
    o->v1 = copy_or_zero(NULL, (size_t)H * I);
    o->m2 = copy_or_zero(NULL, (size_t)O * H);
    o->v2 = copy_or_zero(NULL, (size_t)O * H);
    return o;
}

void oracle_destroy(oracle **self_p)
{
    oracle *o = *self_p;
    if (!o)
        return;
    float *all[] = {o->w1, o->w2, o->u1, o->u2, o->s1, o->s2, o->e1, o->e2, o->m1, o->v1, o->m2, o->v2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(o);
    *self_p = NULL;
}

void oracle_begin_batch(oracle *o)
{
    int B = o->c.batch, I = o->c.n_in, H = o->c.n_h, O = o->c.n_out;
    memset(o->u1, 0, sizeof(float) * B * H);
    memset(o->u2, 0, sizeof(float) * B * O);
    memset(o->s1, 0, sizeof(float) * B * H);
    memset(o->s2, 0, sizeof(float) * B * O);
    memset(o->e1, 0, sizeof(float) * B * H * I);
    memset(o->e2, 0, sizeof(float) * B * O * H);
    if (!o->c.carry_moments) {
        memset(o->m1, 0, sizeof(float) * H * I);
        memset(o->v1, 0, sizeof(float) * H * I);
        memset(o->m2, 0, sizeof(float) * O * H);
        memset(o->v2, 0, sizeof(float) * O * H);
        o->step = 0;
    }
}

/* eq. 1-2 for one layer, with the trace recurrence of eq. 10:
 * e[t] = (1 - a) e[t-1] (1 - S[t-1]) + A_in[t] (per neuron), or the authors'
 * shared form (1 - a)(1 - fraction spiked) e[t-1] + A_in[t]. */
static void layer_forward(const oracle_config *c, int n_in, int n_out, const float *w,
                          const float *in, float *u, float *s, float *e, float *vpre)
{
    float keep = 1.0f - c->leak;
    for (int b = 0; b < c->batch; b++) {
        float fired = 0;
        for (int m = 0; m < n_out; m++)
            fired += AT2(s, b, m, n_out);
        float shared = keep * (1.0f - fired / (float)n_out);
        for (int m = 0; m < n_out; m++) {
            float sprev = AT2(s, b, m, n_out);
            for (int j = 0; j < n_in; j++) {
                float *ej = &AT3(e, b, m, j, n_out, n_in);
                if (c->shared_trace)
                    *ej = shared * *ej + AT2(in, b, j, n_in);
                else
                    *ej = keep * *ej * (1.0f - sprev) + AT2(in, b, j, n_in);
            }
        }
        for (int m = 0; m < n_out; m++) {
            float z = 0;
            for (int j = 0; j < n_in; j++)
                z += w[(size_t)m * n_in + j] * AT2(in, b, j, n_in);
            float v = keep * AT2(u, b, m, n_out) + z;
            if (c->clamp && v > c->vth)
                v = c->vth;
            float spike = v >= c->vth ? 1.0f : 0.0f;
            AT2(vpre, b, m, n_out) = v;
            AT2(s, b, m, n_out) = spike;
            AT2(u, b, m, n_out) = spike ? 0.0f : v;
        }
    }
}

/* eq. 4, in double so that it neither overflows nor underflows early */
static float sigmoid_grad(float x)
{
    double ex = exp(-(double)x);
    if (isinf(ex))
        return 0.0f;
    return (float)(ex / ((1.0 + ex) * (1.0 + ex)));
}

static void update(const oracle *o, float *w, float *m, float *v, const float *grad, size_t n)
{
    const oracle_config *c = &o->c;
    float bias1 = (float)(1.0 - pow(c->beta1, (double)o->step));
    float bias2 = (float)(1.0 - pow(c->beta2, (double)o->step));
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + c->wd * w[i];
        if (c->sgd) {
            w[i] -= c->lr * g;
            continue;
        }
        m[i] = c->beta1 * m[i] + (1.0f - c->beta1) * g;
        v[i] = c->beta2 * v[i] + (1.0f - c->beta2) * g * g;
        w[i] -= c->lr * (m[i] / bias1) / (sqrtf(v[i] / bias2) + c->eps);
    }
}

void oracle_step(oracle *o, const float *x, const float *target)
{
    const oracle_config *c = &o->c;
    int B = c->batch, I = c->n_in, H = c->n_h, O = c->n_out;
    float *v1 = calloc((size_t)B * H, sizeof(float)), *v2 = calloc((size_t)B * O, sizeof(float));
    float *err = calloc((size_t)B * O, sizeof(float)), *delta1 = calloc((size_t)B * H, sizeof(float));
    float *dw1 = calloc((size_t)H * I, sizeof(float)), *dw2 = calloc((size_t)O * H, sizeof(float));

    layer_forward(c, I, H, o->w1, x, o->u1, o->s1, o->e1, v1);
    layer_forward(c, H, O, o->w2, o->s1, o->u2, o->s2, o->e2, v2);
    for (int b = 0; b < B; b++)
        for (int m = 0; m < H; m++)
            o->hidden_spikes += AT2(o->s1, b, m, H) != 0;

    /* eq. 5-8: E = mask .* (Vth * X - V2) */
    for (int b = 0; b < B; b++)
        for (int m = 0; m < O; m++) {
            float want = AT2(target, b, m, O), got = AT2(o->s2, b, m, O);
            o->output_spikes += got != 0;
            float mask = (c->mask ? ((want != 0) != (got != 0)) : 1) ? 1.0f : 0.0f;
            if (mask == 0)
                o->masked++;
            AT2(err, b, m, O) = mask * (c->vth * want - AT2(v2, b, m, O));
        }
    /* eq. 9-11: dL/dW2 = -E e2, averaged over the batch */
    for (int m = 0; m < O; m++)
        for (int i = 0; i < H; i++) {
            float sum = 0;
            for (int b = 0; b < B; b++)
                sum += -AT2(err, b, m, O) * AT3(o->e2, b, m, i, O, H);
            dw2[(size_t)m * H + i] = sum / (float)B;
        }
    /* eq. 12-17: delta1 = (W2^T (-E)) .* sigma'(V1 - Vth), with W2 before its update */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < H; i++) {
            float g = 0;
            for (int m = 0; m < O; m++)
                g += -AT2(err, b, m, O) * o->w2[(size_t)m * H + i];
            AT2(delta1, b, i, H) = g * sigmoid_grad(AT2(v1, b, i, H) - c->vth);
        }
    for (int i = 0; i < H; i++)
        for (int j = 0; j < I; j++) {
            float sum = 0;
            for (int b = 0; b < B; b++)
                sum += AT2(delta1, b, i, H) * AT3(o->e1, b, i, j, H, I);
            dw1[(size_t)i * I + j] = sum / (float)B;
        }
    o->step++;
    update(o, o->w2, o->m2, o->v2, dw2, (size_t)O * H);
    update(o, o->w1, o->m1, o->v1, dw1, (size_t)H * I);
    free(v1); free(v2); free(err); free(delta1); free(dw1); free(dw2);
}

const float *oracle_w1(const oracle *o) { return o->w1; }
const float *oracle_w2(const oracle *o) { return o->w2; }
const float *oracle_s1(const oracle *o) { return o->s1; }
const float *oracle_s2(const oracle *o) { return o->s2; }
long oracle_hidden_spikes(const oracle *o) { return o->hidden_spikes; }
long oracle_output_spikes(const oracle *o) { return o->output_spikes; }
long oracle_masked(const oracle *o) { return o->masked; }
