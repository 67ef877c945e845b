/* test_training: the fast training path (lif_layer, loss, optim, snn) against
 * the naive oracle, on several random small networks, for every optimiser
 * reading and variant; plus the pieces on their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "numerics/blas.h"
#include "oracle.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n_in, n_h, n_out, batch, steps, batches;
    bool autoencoder; /* target = input spikes; else random target spikes */
    float init_scale;
    int dead_from, dead_to; /* inputs [from, to) never spike: a dead 16-input chunk */
    int analog_from;        /* > 0: from this step the inputs are the pixels, not spikes */
} net_case;

static const net_case cases[] = {
    {12, 7, 12, 4, 12, 2, true, 0.9f, 0, 0},
    {30, 16, 30, 6, 11, 2, true, 0.6f, 0, 0},
    {40, 24, 9, 5, 21, 1, false, 0.6f, 0, 0},
    {17, 33, 17, 3, 8, 3, true, 0.7f, 0, 0},
    {48, 20, 48, 4, 12, 2, true, 0.7f, 16, 32},
    {64, 40, 64, 19, 10, 2, true, 0.7f, 0, 0}, /* blocks of 8 samples, one partial */
    {24, 12, 20, 9, 9, 2, false, 0.8f, 0, 0, 5}, /* inputs that are not spikes */
};

static const trace_kernel kernels[] = {TRACE_KERNEL_AUTO, TRACE_KERNEL_ROWS, TRACE_KERNEL_EVENTS};

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(a[i]));
    return m;
}

static double rel_err(const float *fast, const float *ref, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)fast[i] - ref[i]));
    return d / max_abs(ref, n);
}

/* Trains one case both ways; returns the larger relative error of W1, W2. */
/* The relative weight error after the case's batches; adds to *sparse_steps
 * the output layer's updates by its nonzero errors alone (the shared trace). */
static double compare_with_oracle(const net_case *k, const snn_config *base, uint64_t seed, long *sparse_steps)
{
    snn_config cfg = *base;
    cfg.n_in = k->n_in;
    cfg.n_hidden = k->n_h;
    cfg.n_out = k->n_out;
    cfg.init_scale = k->init_scale;
    cfg.seed = seed;
    snn *net = snn_new(&cfg, k->batch);
    assert_non_null(net);
    oracle_config oc = {.n_in = k->n_in, .n_h = k->n_h, .n_out = k->n_out, .batch = k->batch,
                        .leak = cfg.lif.leak, .vth = cfg.lif.threshold, .clamp = cfg.lif.clamp,
                        .shared_trace = cfg.lif.trace == TRACE_SHARED, .mask = cfg.mask,
                        .sgd = cfg.opt.kind == OPTIM_SGD, .lr = cfg.opt.lr,
                        .beta1 = cfg.opt.beta1, .beta2 = cfg.opt.beta2, .eps = cfg.opt.eps,
                        .wd = cfg.opt.weight_decay, .carry_moments = cfg.opt.carry_moments};
    oracle *ref = oracle_new(&oc, net->hidden->w, net->output->w);

    float *pixels = malloc(sizeof(float) * k->batch * k->n_in);
    float *x = malloc(sizeof(float) * k->batch * k->n_in);
    float *target = malloc(sizeof(float) * k->batch * k->n_out);
    uint32_t ids[64];
    poisson_params pp = {.seed = seed, .r_max = 0.6f};
    long resets = 0;
    for (int batch = 0; batch < k->batches; batch++) {
        for (int b = 0; b < k->batch; b++)
            ids[b] = (uint32_t)(batch * k->batch + b);
        rng_fill_uniform(seed, 99, (uint32_t)batch, 0, pixels, k->batch * k->n_in);
        for (int b = 0; b < k->batch; b++)
            for (int j = k->dead_from; j < k->dead_to; j++)
                pixels[b * k->n_in + j] = 0;
        assert_int_equal(snn_begin_batch(net, k->batch), 0);
        oracle_begin_batch(ref);
        for (int t = 0; t < k->steps; t++) {
            poisson_encode(&pp, pixels, ids, k->batch, k->n_in, t, x);
            if (k->analog_from > 0 && t >= k->analog_from)
                memcpy(x, pixels, sizeof(float) * k->batch * k->n_in);
            if (k->autoencoder) {
                memcpy(target, x, sizeof(float) * k->batch * k->n_in);
            } else {
                rng_fill_uniform(seed, 98, (uint32_t)batch, (uint32_t)t, target, k->batch * k->n_out);
                for (int i = 0; i < k->batch * k->n_out; i++)
                    target[i] = target[i] < 0.3f ? 1.0f : 0.0f;
            }
            assert_int_equal(snn_train_step(net, x, target, NULL), 0);
            oracle_step(ref, x, target);
            /* the spikes must agree exactly, step by step */
            assert_memory_equal(net->hidden->spikes, oracle_s1(ref), sizeof(float) * k->batch * k->n_h);
            assert_memory_equal(net->output->spikes, oracle_s2(ref), sizeof(float) * k->batch * k->n_out);
            for (int i = 0; i < k->batch * k->n_h; i++)
                resets += net->hidden->spikes[i] != 0;
        }
    }
    /* the case must exercise spikes, resets and masked errors */
    assert_true(oracle_hidden_spikes(ref) > 0 && resets > 0);
    assert_true(oracle_output_spikes(ref) > 0);
    if (cfg.mask)
        assert_true(oracle_masked(ref) > 0);
    /* a forced kernel ran where it could, and only there */
    long by_rows, by_events, by_sparse, out_rows, out_events, out_sparse;
    lif_layer_trace_kernel_steps(net->hidden, &by_rows, &by_events, &by_sparse);
    lif_layer_trace_kernel_steps(net->output, &out_rows, &out_events, &out_sparse);
    assert_true(by_sparse <= by_rows && out_sparse <= out_rows && out_events >= 0);
    *sparse_steps += out_sparse;
    if (cfg.learn.kernel == TRACE_KERNEL_ROWS || cfg.lif.trace == TRACE_SHARED)
        assert_int_equal(by_events, 0);
    if (cfg.learn.kernel == TRACE_KERNEL_EVENTS && cfg.lif.trace == TRACE_PER_NEURON)
        assert_int_equal(by_events, (long)k->batches * k->steps);
    /* the automatic choice goes over to the rows in a long sample */
    if (cfg.learn.kernel == TRACE_KERNEL_AUTO && cfg.lif.trace == TRACE_PER_NEURON && k->steps > 20)
        assert_true(by_events > 0 && by_rows > 0);
    double e1 = rel_err(net->hidden->w, oracle_w1(ref), (size_t)k->n_h * k->n_in);
    double e2 = rel_err(net->output->w, oracle_w2(ref), (size_t)k->n_out * k->n_h);
    free(pixels);
    free(x);
    free(target);
    oracle_destroy(&ref);
    snn_destroy(&net);
    return fmax(e1, e2);
}

/* Every case and seed by each kernel of the traces' gradient forced; one
 * seed by the automatic choice, which switches kernels between batches.
 * SPIKESYNTH_QUICK (the sanitizer run): one seed each. */
static void check_all_cases(const snn_config *base)
{
    long sparse_steps = 0;
    for (size_t kn = 0; kn < sizeof kernels / sizeof kernels[0]; kn++) {
        snn_config cfg = *base;
        cfg.learn.kernel = kernels[kn];
        const uint64_t seeds = kernels[kn] == TRACE_KERNEL_AUTO || getenv("SPIKESYNTH_QUICK") ? 1 : 3;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (uint64_t seed = 1; seed <= seeds; seed++) {
                double e = compare_with_oracle(&cases[i], &cfg, seed * 7919 + i, &sparse_steps);
                if (e > 1e-5)
                    fail_msg("kernel %d case %zu seed %llu: relative weight error %.3g > 1e-5",
                             (int)kernels[kn], i, (unsigned long long)seed, e);
            }
    }
    /* the shared trace's masked output layer went by its nonzero errors */
    if (base->lif.trace == TRACE_SHARED && base->mask)
        assert_true(sparse_steps > 0);
}

static void test_oracle_adam_moments_per_batch(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.opt.lr = 5e-3f; /* larger than the paper's so the weights move visibly in 20 steps */
    check_all_cases(&cfg);
}

static void test_oracle_adam_moments_carried(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.opt.lr = 5e-3f;
    cfg.opt.carry_moments = true;
    check_all_cases(&cfg);
}

static void test_oracle_sgd(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.opt.kind = OPTIM_SGD;
    cfg.opt.lr = 0.05f;
    check_all_cases(&cfg);
}

static void test_oracle_no_mask(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.mask = false;
    cfg.opt.lr = 5e-3f;
    check_all_cases(&cfg);
}

static void test_oracle_authors_variants(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.lif.clamp = true;
    cfg.lif.trace = TRACE_SHARED;
    cfg.opt.eps = 1e-7f;
    cfg.opt.weight_decay = 0;
    cfg.opt.lr = 5e-3f;
    check_all_cases(&cfg);
}

/* learning=traces-shared: the shared trace with Adam's moments carried and
 * the paper's other settings. */
static void test_oracle_shared_trace(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.lif.trace = TRACE_SHARED;
    cfg.opt.lr = 5e-3f;
    cfg.opt.beta1 = 0.7f;
    cfg.opt.carry_moments = true;
    check_all_cases(&cfg);
}

/* The weights must actually move, or the comparison above proves nothing. */
static void test_training_changes_weights(void **state)
{
    (void)state;
    snn_config cfg = snn_config_default();
    cfg.n_in = cfg.n_out = 20;
    cfg.n_hidden = 10;
    cfg.init_scale = 0.8f;
    snn *net = snn_new(&cfg, 4);
    float before[200];
    memcpy(before, net->hidden->w, sizeof before);
    float x[80];
    for (int i = 0; i < 80; i++)
        x[i] = (i % 3) == 0;
    snn_begin_batch(net, 4);
    for (int t = 0; t < 5; t++)
        snn_train_step(net, x, x, NULL);
    double moved = 0;
    for (int i = 0; i < 200; i++)
        moved = fmax(moved, fabs(net->hidden->w[i] - before[i]));
    assert_true(moved > 1e-4);
    snn_destroy(&net);
}

/* Known answers of Philox4x32-10 (Random123's kat_vectors). */
/* The same training on 1, 2 and 3 threads gives the same bits: a pipeline of
 * single-threaded stages must match one process on every core. Big enough
 * for every parallel path (sgemm blocks, dense and sparse gradients). */
static void same_bits_any_thread_count(trace_kernel kernel)
{
    snn_config cfg = snn_config_default();
    cfg.n_hidden = 300;
    cfg.learn.kernel = kernel;
    const int B = 40, T = 8;
    float *x = malloc(sizeof(float) * B * 784), *img = malloc(sizeof(float) * B * 784);
    float *w[3][2];
    uint32_t ids[40];
    rng_fill_uniform(5, 1, 2, 3, img, B * 784);
    for (int i = 0; i < B * 784; i++)
        img[i] = img[i] < 0.7f ? 0.0f : img[i];
    poisson_params pp = {.seed = 3, .r_max = 1.0f};
    const int pool = omp_get_max_threads();
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        snn *net = snn_new(&cfg, B);
        assert_non_null(net);
        for (int batch = 0; batch < 2; batch++) {
            for (int b = 0; b < B; b++)
                ids[b] = (uint32_t)(batch * B + b);
            snn_begin_batch(net, B);
            for (int t = 0; t < T; t++) {
                poisson_encode(&pp, img, ids, B, 784, (uint32_t)t, x);
                assert_int_equal(snn_train_step(net, x, x, NULL), 0);
            }
        }
        w[th - 1][0] = malloc(sizeof(float) * 784 * 300);
        w[th - 1][1] = malloc(sizeof(float) * 784 * 300);
        memcpy(w[th - 1][0], net->hidden->w, sizeof(float) * 784 * 300);
        memcpy(w[th - 1][1], net->output->w, sizeof(float) * 784 * 300);
        snn_destroy(&net);
    }
    omp_set_num_threads(pool);
    for (int th = 1; th < 3; th++)
        for (int l = 0; l < 2; l++) {
            if (memcmp(w[0][l], w[th][l], sizeof(float) * 784 * 300) != 0)
                fail_msg("kernel %d: W%d after training on %d threads differs from 1 thread",
                         (int)kernel, l + 1, th + 1);
        }
    for (int th = 0; th < 3; th++) {
        free(w[th][0]);
        free(w[th][1]);
    }
    free(x);
    free(img);
}

static void test_same_bits_any_thread_count(void **state)
{
    (void)state;
    same_bits_any_thread_count(TRACE_KERNEL_ROWS);
    same_bits_any_thread_count(TRACE_KERNEL_EVENTS);
}

/* A step computed part by part, as the stages do it across processes
 * (ae-encoder: forward by parts, update with each part of the error as it
 * arrives; ae-decoder: forward, loss and error by parts), gives the bits of
 * snn_train_step with the same parts: hidden layer (dense errors) and output
 * layer (sparse, masked errors), over two batches. */
static void parts_same_bits(trace_kernel kernel)
{
    snn_config cfg = snn_config_default();
    cfg.n_hidden = 100;
    cfg.parts = SNN_PARTS;
    cfg.learn.kernel = kernel;
    const int B = 40, T = 6;
    float *x = malloc(sizeof(float) * B * 784), *img = malloc(sizeof(float) * B * 784);
    uint32_t ids[40];
    rng_fill_uniform(7, 1, 2, 3, img, B * 784);
    for (int i = 0; i < B * 784; i++)
        img[i] = img[i] < 0.7f ? 0.0f : img[i];
    poisson_params pp = {.seed = 4, .r_max = 1.0f};
    snn *whole = snn_new(&cfg, B), *parts = snn_new(&cfg, B);
    assert_non_null(whole);
    assert_non_null(parts);
    lif_layer *h = parts->hidden, *o = parts->output;
    assert_int_equal(lif_layer_part_end(B, SNN_PARTS, 0), 16);
    for (int batch = 0; batch < 2; batch++) {
        for (int b = 0; b < B; b++)
            ids[b] = (uint32_t)(batch * B + b);
        snn_begin_batch(whole, B);
        snn_begin_batch(parts, B);
        for (int t = 0; t < T; t++) {
            poisson_encode(&pp, img, ids, B, 784, (uint32_t)t, x);
            assert_int_equal(snn_train_step(whole, x, x, NULL), 0);
            for (int k = 0, b0 = 0, b1; b0 < B; b0 = b1, k++) {
                b1 = lif_layer_part_end(B, SNN_PARTS, k);
                assert_int_equal(lif_layer_forward_rows(h, x, b0, b1), 0);
                assert_int_equal(snn_output_error_rows(o, h->spikes, x, true, parts->dv_out,
                                                       parts->g_hidden, NULL, b0, b1), 0);
            }
            /* parts out of order are refused */
            assert_int_equal(lif_layer_update_rows(h, parts->dv_hidden, 16, 40), -1);
            for (int k = 0, b0 = 0, b1; b0 < B; b0 = b1, k++) {
                b1 = lif_layer_part_end(B, SNN_PARTS, k);
                lif_layer_surrogate_rows(h, parts->g_hidden, parts->dv_hidden, b0, b1);
                assert_int_equal(lif_layer_update_rows(h, parts->dv_hidden, b0, b1), 0);
            }
            assert_int_equal(lif_layer_update(o, parts->dv_out), 0);
        }
    }
    if (memcmp(whole->hidden->w, parts->hidden->w, sizeof(float) * 784 * 100) != 0)
        fail_msg("kernel %d: W1 computed in parts differs from snn_train_step", (int)kernel);
    if (memcmp(whole->output->w, parts->output->w, sizeof(float) * 784 * 100) != 0)
        fail_msg("kernel %d: W2 computed in parts differs from snn_train_step", (int)kernel);
    snn_destroy(&whole);
    snn_destroy(&parts);
    free(x);
    free(img);
}

static void test_parts_same_bits(void **state)
{
    (void)state;
    for (size_t kn = 0; kn < sizeof kernels / sizeof kernels[0]; kn++)
        parts_same_bits(kernels[kn]);
}

static void test_philox_known_answers(void **state)
{
    (void)state;
    rng_block r = rng_philox(0, (rng_block){{0, 0, 0, 0}});
    assert_int_equal(r.v[0], 0x6627e8d5u);
    assert_int_equal(r.v[1], 0xe169c58du);
    assert_int_equal(r.v[2], 0xbc57ac4cu);
    assert_int_equal(r.v[3], 0x9b00dbd8u);
    r = rng_philox(0xffffffffffffffffull, (rng_block){{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}});
    assert_int_equal(r.v[0], 0x408f276du);
    assert_int_equal(r.v[1], 0x41c83b0eu);
    assert_int_equal(r.v[2], 0xa20bc7c6u);
    assert_int_equal(r.v[3], 0x6d5451fdu);
    r = rng_philox(0x299f31d0a4093822ull, (rng_block){{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}});
    assert_int_equal(r.v[0], 0xd16cfe09u);
    assert_int_equal(r.v[1], 0x94fdccebu);
    assert_int_equal(r.v[2], 0x5001e420u);
    assert_int_equal(r.v[3], 0x24126ea1u);
}

/* Spikes depend on (seed, sample id, step, neuron) only: not on the batch. */
static void test_poisson_independent_of_batching(void **state)
{
    (void)state;
    enum { N = 37, B = 5 };
    float pix[B * N], all[B * N], one[N];
    for (int i = 0; i < B * N; i++)
        pix[i] = (float)(i % 11) / 10.0f;
    uint32_t ids[B] = {7, 3, 1000, 42, 5};
    poisson_params p = {.seed = 123, .r_max = 1.0f};
    poisson_encode(&p, pix, ids, B, N, 4, all);
    for (int b = 0; b < B; b++) {
        poisson_encode(&p, pix + b * N, &ids[b], 1, N, 4, one);
        assert_memory_equal(one, all + b * N, sizeof one);
    }
    /* rate: p * r_max within a few standard errors over many steps */
    double count = 0;
    int steps = 4000;
    for (int t = 0; t < steps; t++) {
        poisson_encode(&p, pix, ids, 1, N, t, one);
        count += one[5]; /* pixel 5 has intensity 0.5 */
    }
    assert_true(fabs(count / steps - 0.5) < 0.03);
    /* intensity 0 never spikes */
    poisson_encode(&p, pix, ids, 1, N, 9, one);
    assert_true(one[0] == 0.0f && one[11] == 0.0f);
}

static void test_loss_mask(void **state)
{
    (void)state;
    float v[4] = {0.5f, 1.2f, 1.5f, -0.3f};
    float s[4] = {0, 1, 1, 0};
    float tgt[4] = {1, 1, 0, 0};
    float dv[4];
    loss_stats st = {0};
    loss_membrane(v, s, tgt, 1, 4, 1.0f, true, dv, &st);
    /* only entries 0 (missed spike) and 2 (extra spike) carry error */
    assert_float_equal(dv[0], -(1.0f - 0.5f), 1e-7);
    assert_float_equal(dv[1], 0.0f, 0);
    assert_float_equal(dv[2], -(0.0f - 1.5f), 1e-7);
    assert_float_equal(dv[3], 0.0f, 0);
    assert_int_equal(st.masked_out, 2);
    assert_float_equal(st.loss, 0.5 * (0.25 + 2.25), 1e-9);
    loss_membrane(v, s, tgt, 1, 4, 1.0f, false, dv, &st);
    assert_float_equal(dv[3], -0.3f, 1e-7);
    assert_float_equal(dv[1], 0.2f, 1e-6);
}

static void test_surrogate(void **state)
{
    (void)state;
    assert_float_equal(lif_surrogate_grad(0), 0.25f, 1e-7);
    assert_float_equal(lif_surrogate_grad(2.0f), lif_surrogate_grad(-2.0f), 0);
    double s = 1 / (1 + exp(-1.5));
    assert_float_equal(lif_surrogate_grad(1.5f), s * (1 - s), 1e-7);
    assert_float_equal(lif_surrogate_grad(-150.0f), 0.0f, 0);
}

static void test_layer_rejects_bad_shapes(void **state)
{
    (void)state;
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    assert_null(lif_layer_new(0, 4, 1, &lp, &op, NULL));
    lif_layer *l = lif_layer_new(3, 4, 2, &lp, &op, NULL);
    assert_int_equal(lif_layer_begin_batch(l, 3), -1);
    lif_layer_destroy(&l);
    assert_null(l);
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 0); /* the kernel the programs run, so the oracle checks it */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_philox_known_answers),
        cmocka_unit_test(test_same_bits_any_thread_count),
        cmocka_unit_test(test_parts_same_bits),
        cmocka_unit_test(test_poisson_independent_of_batching),
        cmocka_unit_test(test_loss_mask),
        cmocka_unit_test(test_surrogate),
        cmocka_unit_test(test_layer_rejects_bad_shapes),
        cmocka_unit_test(test_training_changes_weights),
        cmocka_unit_test(test_oracle_adam_moments_per_batch),
        cmocka_unit_test(test_oracle_adam_moments_carried),
        cmocka_unit_test(test_oracle_sgd),
        cmocka_unit_test(test_oracle_no_mask),
        cmocka_unit_test(test_oracle_authors_variants),
        cmocka_unit_test(test_oracle_shared_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
