/* test_bptt: learning by backpropagation through time (numerics/bptt_rule)
 * against a naive unrolled oracle written here straight from the equations,
 * in double:
 *
 *   V1[t] = k M1[t-1] + W1 X[t],  S1 = V1 >= Vth,  M1 = V1 (1 - S1)   (k = 1 - leak)
 *   V2[t] = k M2[t-1] + W2 S1[t], S2 likewise
 *   L = sum_t sum_b 0.5 |mask (Vth X[t] - V2[t])|^2 / batch,  mask = X xor S2
 *
 * with dS/dV = sigma'(V - Vth), the reset and the mask not differentiated.
 *  - the oracle's gradient against central finite differences of a "frozen"
 *    network whose true gradient it is (spikes sigma(V - Vth) shifted to the
 *    recorded 0/1 values, resets and mask held at the recorded ones);
 *  - the library's gradient (SGD, lr 1) against the oracle's, on several
 *    small random networks with resets and masked errors, with and without
 *    truncation windows and the clamp variant;
 *  - weights after several batches of Adam within 1e-5 of the oracle's;
 *  - the same bits for any thread count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "numerics/blas.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n_in, n_h, n_out, batch, steps, window;
    double leak, vth;
    bool clamp;
    float dense; /* > 0: inputs at this density and of value 0.5 (not spikes: the dense products) */
    double slope; /* of the surrogate; 0 is taken as 1 */
    bool sparse;  /* inputs at 5% density (the sparse products of dX) */
} shape;

/* What the forward pass recorded, per (t, b, neuron). */
typedef struct {
    double *v1, *s1, *v2, *s2, *mask;
} record;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double dsigmoid(double x) { return sigmoid(x) * (1.0 - sigmoid(x)); }
static double slope_of(const shape *sh) { return sh->slope > 0 ? sh->slope : 1.0; }

#define AT(a, t, b, n, width) ((a)[((size_t)(t) * sh->batch + (b)) * (width) + (n)])

/* The forward pass, with the weights w1[t], w2[t] at step t. frozen NULL:
 * the real network, recording into rec (which may be NULL); frozen: spikes
 * sigma(V - Vth) - sigma(V0 - Vth) + S0 and the recorded resets and mask.
 * Membranes start at 0 and carry over windows. The loss, summed over steps
 * and samples, over the batch. */
static double forward_at(const shape *sh, double *const *w1s, double *const *w2s, const float *x,
                         const record *frozen, record *rec)
{
    const double k = 1.0 - sh->leak, th = sh->vth;
    double loss = 0;
    double *m1 = calloc((size_t)sh->n_h, sizeof *m1), *m2 = calloc((size_t)sh->n_out, sizeof *m2);
    double *s1 = malloc(sizeof *s1 * (size_t)sh->n_h);
    for (int b = 0; b < sh->batch; b++) {
        memset(m1, 0, sizeof *m1 * (size_t)sh->n_h);
        memset(m2, 0, sizeof *m2 * (size_t)sh->n_out);
        for (int t = 0; t < sh->steps; t++) {
            const float *xt = x + ((size_t)t * sh->batch + b) * sh->n_in;
            const double *w1 = w1s[t], *w2 = w2s[t];
            for (int i = 0; i < sh->n_h; i++) {
                double v = k * m1[i];
                for (int j = 0; j < sh->n_in; j++)
                    v += w1[(size_t)i * sh->n_in + j] * xt[j];
                if (sh->clamp && v > th)
                    v = th;
                double s = v >= th;
                if (frozen) {
                    const double k1 = slope_of(sh);
                    s = sigmoid(k1 * (v - th)) - sigmoid(k1 * (AT(frozen->v1, t, b, i, sh->n_h) - th)) +
                        AT(frozen->s1, t, b, i, sh->n_h);
                    m1[i] = v * (1.0 - AT(frozen->s1, t, b, i, sh->n_h));
                } else {
                    m1[i] = s ? 0.0 : v;
                }
                s1[i] = s;
                if (rec) {
                    AT(rec->v1, t, b, i, sh->n_h) = v;
                    AT(rec->s1, t, b, i, sh->n_h) = s;
                }
            }
            for (int o = 0; o < sh->n_out; o++) {
                double v = k * m2[o];
                for (int i = 0; i < sh->n_h; i++)
                    v += w2[(size_t)o * sh->n_h + i] * s1[i];
                if (sh->clamp && v > th)
                    v = th;
                double s = v >= th, mask = (xt[o] != 0) != (s != 0);
                if (frozen) {
                    s = AT(frozen->s2, t, b, o, sh->n_out);
                    mask = AT(frozen->mask, t, b, o, sh->n_out);
                }
                m2[o] = v * (1.0 - s);
                const double e = mask * (th * xt[o] - v);
                loss += 0.5 * e * e;
                if (rec) {
                    AT(rec->v2, t, b, o, sh->n_out) = v;
                    AT(rec->s2, t, b, o, sh->n_out) = s;
                    AT(rec->mask, t, b, o, sh->n_out) = mask;
                }
            }
        }
    }
    free(m1);
    free(m2);
    free(s1);
    return loss / sh->batch;
}

/* The same with one pair of weights for every step. */
static double forward(const shape *sh, double *w1, double *w2, const float *x, const record *frozen,
                      record *rec)
{
    double *w1s[64], *w2s[64];
    for (int t = 0; t < sh->steps; t++) {
        w1s[t] = w1;
        w2s[t] = w2;
    }
    return forward_at(sh, w1s, w2s, x, frozen, rec);
}

/* The gradient of one window [t0, t1) by the chain rule, sample by sample,
 * from the last step back: added into g1 (n_h x n_in) and g2 (n_out x n_h). */
static void backward(const shape *sh, const double *w2, const float *x, const record *r, int t0, int t1,
                     double *g1, double *g2)
{
    const double k = 1.0 - sh->leak, th = sh->vth;
    double *d2 = calloc((size_t)sh->n_out, sizeof *d2), *d1 = calloc((size_t)sh->n_h, sizeof *d1);
    for (int b = 0; b < sh->batch; b++) {
        memset(d2, 0, sizeof *d2 * (size_t)sh->n_out); /* dL/dV of step t + 1, before the clamp */
        memset(d1, 0, sizeof *d1 * (size_t)sh->n_h);
        for (int t = t1 - 1; t >= t0; t--) {
            const float *xt = x + ((size_t)t * sh->batch + b) * sh->n_in;
            for (int o = 0; o < sh->n_out; o++) {
                const double v = AT(r->v2, t, b, o, sh->n_out), s = AT(r->s2, t, b, o, sh->n_out);
                const double direct = -AT(r->mask, t, b, o, sh->n_out) * (th * xt[o] - v);
                double d = direct + k * (1.0 - s) * d2[o];
                d2[o] = sh->clamp && v >= th ? 0.0 : d;
            }
            for (int i = 0; i < sh->n_h; i++) {
                double ds = 0;
                for (int o = 0; o < sh->n_out; o++)
                    ds += d2[o] * w2[(size_t)o * sh->n_h + i];
                const double v = AT(r->v1, t, b, i, sh->n_h), s = AT(r->s1, t, b, i, sh->n_h);
                double d = ds * slope_of(sh) * dsigmoid(slope_of(sh) * (v - th)) + k * (1.0 - s) * d1[i];
                d1[i] = sh->clamp && v >= th ? 0.0 : d;
                for (int o = 0; o < sh->n_out; o++)
                    g2[(size_t)o * sh->n_h + i] += d2[o] * s / sh->batch;
                for (int j = 0; j < sh->n_in; j++)
                    g1[(size_t)i * sh->n_in + j] += d1[i] * xt[j] / sh->batch;
            }
        }
    }
    free(d1);
    free(d2);
}

static record record_new(const shape *sh)
{
    size_t h = (size_t)sh->steps * sh->batch * sh->n_h, o = (size_t)sh->steps * sh->batch * sh->n_out;
    return (record){calloc(h, sizeof(double)), calloc(h, sizeof(double)), calloc(o, sizeof(double)),
                    calloc(o, sizeof(double)), calloc(o, sizeof(double))};
}

static void record_free(record *r)
{
    free(r->v1); free(r->s1); free(r->v2); free(r->s2); free(r->mask);
}

/* Input spikes: steps x batch x n_in, from blobs of uniform noise (n_out = n_in). */
static float *make_input(const shape *sh, uint64_t seed, float density)
{
    const int n = sh->n_in;
    float *img = malloc(sizeof(float) * (size_t)sh->batch * n), *x = malloc(sizeof(float) * (size_t)sh->steps * sh->batch * n);
    rng_fill_uniform(seed, 9, 1, 0, img, sh->batch * n);
    for (int i = 0; i < sh->batch * n; i++)
        img[i] = img[i] < 1.0f - density ? 0.0f : 1.0f;
    uint32_t *ids = malloc(sizeof *ids * (size_t)sh->batch);
    for (int b = 0; b < sh->batch; b++)
        ids[b] = (uint32_t)b;
    poisson_params pp = {.seed = seed, .r_max = 0.8f};
    for (int t = 0; t < sh->steps; t++)
        poisson_encode(&pp, img, ids, sh->batch, n, (uint32_t)t, x + (size_t)t * sh->batch * n);
    if (sh->dense > 0) {
        rng_fill_uniform(seed, 9, 2, 0, x, sh->steps * sh->batch * n);
        for (int i = 0; i < sh->steps * sh->batch * n; i++)
            x[i] = x[i] < 1.0f - sh->dense ? 0.0f : 0.5f;
    }
    free(img);
    free(ids);
    return x;
}

static snn_config config_of(const shape *sh, float init_scale, uint64_t seed)
{
    snn_config cfg = snn_config_default();
    cfg.n_in = sh->n_in;
    cfg.n_hidden = sh->n_h;
    cfg.n_out = sh->n_out;
    cfg.lif.leak = (float)sh->leak;
    cfg.lif.threshold = (float)sh->vth;
    cfg.lif.clamp = sh->clamp;
    cfg.lif.slope = (float)slope_of(sh);
    cfg.init_scale = init_scale;
    cfg.seed = seed;
    cfg.learn = (learning_params){.rule = LEARN_BPTT, .window = sh->window};
    cfg.opt.kind = OPTIM_SGD;
    cfg.opt.lr = 1.0f;
    cfg.opt.weight_decay = 0.0f;
    return cfg;
}

static double *to_double(const float *w, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = w[i];
    return d;
}

/* Relative error of a against b, over the largest entry of b. */
static double rel_err(const double *a, const double *b, size_t n)
{
    double worst = 0, scale = 1e-12;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(a[i] - b[i]));
    return worst / scale;
}

/* The oracle's training of one batch by SGD at lr 1, window by window: the
 * membranes carry over, each window's gradient stops at its start and
 * changes the weights that the next window runs with. g1, g2 receive the
 * total change (W before - W after). */
static void oracle_grad(const shape *sh, const double *w1, const double *w2, const float *x, double *g1,
                        double *g2, record *rec)
{
    const int win = sh->window > 0 ? sh->window : sh->steps, n_win = (sh->steps + win - 1) / win;
    const size_t n1 = (size_t)sh->n_h * sh->n_in, n2 = (size_t)sh->n_out * sh->n_h;
    double *w1s[64], *w2s[64], *a1[64], *a2[64];
    for (int k = 0; k <= n_win; k++) {
        a1[k] = malloc(n1 * sizeof(double));
        a2[k] = malloc(n2 * sizeof(double));
    }
    memcpy(a1[0], w1, n1 * sizeof(double));
    memcpy(a2[0], w2, n2 * sizeof(double));
    for (int k = 0; k < n_win; k++) {
        const int t0 = k * win, t1 = t0 + win < sh->steps ? t0 + win : sh->steps;
        for (int t = 0; t < sh->steps; t++) {
            const int kt = t / win <= k ? t / win : k;
            w1s[t] = a1[kt];
            w2s[t] = a2[kt];
        }
        forward_at(sh, w1s, w2s, x, NULL, rec);
        memset(g1, 0, n1 * sizeof *g1);
        memset(g2, 0, n2 * sizeof *g2);
        backward(sh, a2[k], x, rec, t0, t1, g1, g2);
        for (size_t i = 0; i < n1; i++)
            a1[k + 1][i] = a1[k][i] - g1[i];
        for (size_t i = 0; i < n2; i++)
            a2[k + 1][i] = a2[k][i] - g2[i];
    }
    for (size_t i = 0; i < n1; i++)
        g1[i] = w1[i] - a1[n_win][i];
    for (size_t i = 0; i < n2; i++)
        g2[i] = w2[i] - a2[n_win][i];
    for (int k = 0; k <= n_win; k++) {
        free(a1[k]);
        free(a2[k]);
    }
}

static void test_oracle_against_finite_differences(void **state)
{
    (void)state;
    const shape sh = {.n_in = 12, .n_h = 7, .n_out = 12, .batch = 3, .steps = 6, .leak = 0.1, .vth = 1.0,
                      .slope = 2};
    float *x = make_input(&sh, 3, 0.5f);
    snn_config cfg = config_of(&sh, 0.6f, 5);
    snn *net = snn_new(&cfg, sh.batch);
    double *w1 = to_double(net->hidden->w, 12 * 7), *w2 = to_double(net->output->w, 12 * 7);
    double g1[84], g2[84];
    record rec = record_new(&sh);
    oracle_grad(&sh, w1, w2, x, g1, g2, &rec);
    long spikes = 0, masked = 0;
    for (int i = 0; i < sh.steps * sh.batch * sh.n_h; i++)
        spikes += rec.s1[i] != 0;
    for (int i = 0; i < sh.steps * sh.batch * sh.n_out; i++)
        masked += rec.mask[i] == 0;
    assert_true(spikes > 5);  /* resets happen */
    assert_true(masked > 5);  /* and the mask removes errors */
    const double h = 1e-5;
    double worst = 0;
    for (int k = 0; k < 84; k++)
        for (int layer = 0; layer < 2; layer++) {
            double *w = layer ? w2 : w1, keep = w[k];
            w[k] = keep + h;
            double up = forward(&sh, w1, w2, x, &rec, NULL);
            w[k] = keep - h;
            double down = forward(&sh, w1, w2, x, &rec, NULL);
            w[k] = keep;
            double fd = (up - down) / (2 * h), an = layer ? g2[k] : g1[k];
            worst = fmax(worst, fabs(fd - an) / fmax(1e-3, fabs(an)));
        }
    if (worst > 1e-4)
        fail_msg("oracle gradient vs finite differences: relative error %g", worst);
    record_free(&rec);
    snn_destroy(&net);
    free(w1);
    free(w2);
    free(x);
}

/* One batch with SGD at lr 1 and no decay: W before - W after is the gradient. */
static void check_gradient(const shape *sh, uint64_t seed)
{
    float *x = make_input(sh, seed, sh->sparse ? 0.05f : 0.4f);
    snn_config cfg = config_of(sh, 0.5f, seed);
    snn *net = snn_new(&cfg, sh->batch);
    assert_non_null(net);
    const size_t n1 = (size_t)sh->n_h * sh->n_in, n2 = (size_t)sh->n_out * sh->n_h;
    double *w1 = to_double(net->hidden->w, n1), *w2 = to_double(net->output->w, n2);
    double *g1 = malloc(n1 * sizeof *g1), *g2 = malloc(n2 * sizeof *g2);
    record rec = record_new(sh);
    oracle_grad(sh, w1, w2, x, g1, g2, &rec);
    assert_int_equal(snn_begin_batch(net, sh->batch), 0);
    for (int t = 0; t < sh->steps; t++)
        assert_int_equal(snn_train_step(net, x + (size_t)t * sh->batch * sh->n_in, x + (size_t)t * sh->batch * sh->n_in, NULL), 0);
    assert_int_equal(snn_end_batch(net), 0);
    double *d1 = malloc(n1 * sizeof *d1), *d2 = malloc(n2 * sizeof *d2);
    for (size_t i = 0; i < n1; i++)
        d1[i] = w1[i] - net->hidden->w[i];
    for (size_t i = 0; i < n2; i++)
        d2[i] = w2[i] - net->output->w[i];
    double e1 = rel_err(d1, g1, n1), e2 = rel_err(d2, g2, n2);
    if (e1 > 1e-4 || e2 > 1e-4)
        fail_msg("seed %d window %d clamp %d: gradient vs oracle, W1 %g, W2 %g", (int)seed, sh->window,
                 sh->clamp, e1, e2);
    record_free(&rec);
    free(w1); free(w2); free(g1); free(g2); free(d1); free(d2); free(x);
    snn_destroy(&net);
}

static void test_gradient_against_oracle(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        shape sh = {.n_in = 20 + 4 * (int)seed, .n_h = 9 + (int)seed, .batch = 4, .steps = 7, .leak = 0.1, .vth = 1.0};
        sh.n_out = sh.n_in;
        check_gradient(&sh, seed);
        sh.window = 3; /* truncated: windows of 3, 3 and 1 steps */
        check_gradient(&sh, seed);
        sh.window = 0;
        sh.leak = 0.3;
        sh.clamp = true;
        check_gradient(&sh, seed);
        sh.clamp = false;
        sh.dense = 0.6f; /* sgemm for the input layer's products */
        check_gradient(&sh, seed);
        sh.dense = 0;
        sh.slope = 4; /* a steeper surrogate */
        check_gradient(&sh, seed);
        sh.slope = 0;
        sh.n_in = sh.n_out = 120;
        sh.sparse = true; /* few input spikes: the output layer's dX is mostly 0 */
        check_gradient(&sh, seed);
    }
}

/* Adam (moments carried across batches) over several batches, in double. */
static void test_adam_batches_against_oracle(void **state)
{
    (void)state;
    const shape sh = {.n_in = 30, .n_h = 12, .n_out = 30, .batch = 5, .steps = 6, .leak = 0.1, .vth = 1.0};
    snn_config cfg = config_of(&sh, 0.5f, 9);
    cfg.opt = optim_params_default();
    cfg.opt.lr = 3e-3f;
    cfg.opt.carry_moments = true;
    snn *net = snn_new(&cfg, sh.batch);
    const size_t n1 = (size_t)sh.n_h * sh.n_in, n2 = (size_t)sh.n_out * sh.n_h;
    double *w1 = to_double(net->hidden->w, n1), *w2 = to_double(net->output->w, n2);
    double *g1 = malloc(n1 * sizeof *g1), *g2 = malloc(n2 * sizeof *g2);
    double *m = calloc(n1 + n2, sizeof *m), *v = calloc(n1 + n2, sizeof *v);
    record rec = record_new(&sh);
    const double b1 = cfg.opt.beta1, b2 = cfg.opt.beta2, eps = cfg.opt.eps, lr = cfg.opt.lr, wd = cfg.opt.weight_decay;
    for (int batch = 1; batch <= 4; batch++) {
        float *x = make_input(&sh, 100 + batch, 0.4f);
        oracle_grad(&sh, w1, w2, x, g1, g2, &rec);
        for (size_t i = 0; i < n1 + n2; i++) {
            double *w = i < n1 ? &w1[i] : &w2[i - n1];
            double g = (i < n1 ? g1[i] : g2[i - n1]) + wd * *w;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            *w -= lr * (m[i] / (1 - pow(b1, batch))) / (sqrt(v[i] / (1 - pow(b2, batch))) + eps);
        }
        assert_int_equal(snn_begin_batch(net, sh.batch), 0);
        for (int t = 0; t < sh.steps; t++)
            assert_int_equal(snn_train_step(net, x + (size_t)t * sh.batch * sh.n_in, x + (size_t)t * sh.batch * sh.n_in, NULL), 0);
        assert_int_equal(snn_end_batch(net), 0);
        free(x);
    }
    double worst = 0;
    for (size_t i = 0; i < n1; i++)
        worst = fmax(worst, fabs(w1[i] - net->hidden->w[i]));
    for (size_t i = 0; i < n2; i++)
        worst = fmax(worst, fabs(w2[i] - net->output->w[i]));
    if (worst > 1e-5)
        fail_msg("weights after 4 batches of Adam differ from the oracle's by %g", worst);
    record_free(&rec);
    free(w1); free(w2); free(g1); free(g2); free(m); free(v);
    snn_destroy(&net);
}

/* A few batches of 784-64-784 on 1, 2 and 3 threads: the same bits. */
static void test_bptt_same_bits_any_thread_count(void **state)
{
    (void)state;
    const shape sh = {.n_in = 784, .n_h = 64, .n_out = 784, .batch = 40, .steps = 8, .leak = 0.1, .vth = 1.0};
    float *ref1 = malloc(sizeof(float) * 784 * 64), *ref2 = malloc(sizeof(float) * 784 * 64);
    const int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        snn_config cfg = config_of(&sh, 0.1f, 4);
        cfg.opt = optim_params_default();
        cfg.opt.carry_moments = true;
        snn *net = snn_new(&cfg, sh.batch);
        for (int batch = 0; batch < 3; batch++) {
            float *x = make_input(&sh, 40 + batch, 0.2f);
            assert_int_equal(snn_begin_batch(net, sh.batch), 0);
            for (int t = 0; t < sh.steps; t++)
                assert_int_equal(snn_train_step(net, x + (size_t)t * sh.batch * 784, x + (size_t)t * sh.batch * 784, NULL), 0);
            assert_int_equal(snn_end_batch(net), 0);
            free(x);
        }
        if (threads == 1) {
            memcpy(ref1, net->hidden->w, sizeof(float) * 784 * 64);
            memcpy(ref2, net->output->w, sizeof(float) * 784 * 64);
        } else if (memcmp(ref1, net->hidden->w, sizeof(float) * 784 * 64) ||
                   memcmp(ref2, net->output->w, sizeof(float) * 784 * 64)) {
            fail_msg("bptt weights on %d threads differ from 1 thread's", threads);
        }
        snn_destroy(&net);
    }
    omp_set_num_threads(saved);
    free(ref1);
    free(ref2);
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_against_finite_differences),
        cmocka_unit_test(test_gradient_against_oracle),
        cmocka_unit_test(test_adam_batches_against_oracle),
        cmocka_unit_test(test_bptt_same_bits_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
