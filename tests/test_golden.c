/* test_golden: a few batches of in-process training give the same bits as
 * before a refactoring (tests/golden.h): the paper's settings with Adam's
 * moments restarted per batch and carried, SGD, the authors' variants, the
 * pipeline's parts, and learning by bptt (whole samples and windows). The
 * hashes cover both weight matrices and the loss. The traces' gradient by
 * each of its kernels: the rows (the names of before the events kernel, whose
 * bits it kept) and the events ("-events"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "golden.h"

#include "numerics/blas.h"
#include "numerics/poisson.h"
#include "numerics/rng.h"
#include "numerics/snn.h"

#include <stdio.h>
#include <stdlib.h>

/* Three batches of 24 samples over 8 steps, 784-64-784, on blobs of noise. */
static uint64_t train_hash(const snn_config *cfg)
{
    enum { B = 24, T = 8, BATCHES = 3 };
    float *img = malloc(sizeof(float) * B * 784), *x = malloc(sizeof(float) * B * 784);
    assert_non_null(img);
    assert_non_null(x);
    uint32_t ids[B];
    snn *net = snn_new(cfg, B);
    assert_non_null(net);
    poisson_params pp = {.seed = 11, .r_max = 1.0f};
    uint64_t h = GOLDEN_START;
    for (int batch = 0; batch < BATCHES; batch++) {
        rng_fill_uniform(5, 9, (uint32_t)batch, 0, img, B * 784);
        for (int i = 0; i < B * 784; i++)
            img[i] = img[i] < 0.6f ? 0.0f : img[i];
        for (int b = 0; b < B; b++)
            ids[b] = (uint32_t)(batch * B + b);
        assert_int_equal(snn_begin_batch(net, B), 0);
        for (int t = 0; t < T; t++) {
            loss_stats st = {0};
            poisson_encode(&pp, img, ids, B, 784, (uint32_t)t, x);
            assert_int_equal(snn_train_step(net, x, x, &st), 0);
            h = golden_hash(h, &st, sizeof st);
        }
        assert_int_equal(snn_end_batch(net), 0);
    }
    h = golden_hash(h, net->hidden->w, sizeof(float) * 784 * cfg->n_hidden);
    h = golden_hash(h, net->output->w, sizeof(float) * 784 * cfg->n_hidden);
    snn_destroy(&net);
    free(img);
    free(x);
    return h;
}

static snn_config small(void)
{
    snn_config cfg = snn_config_default();
    cfg.n_hidden = 64;
    cfg.learn.kernel = TRACE_KERNEL_ROWS;
    return cfg;
}

/* The same configuration's hash by the events kernel, under name-events. */
static void golden_events(const char *name, snn_config cfg)
{
    char events[64];
    snprintf(events, sizeof events, "%s-events", name);
    cfg.learn.kernel = TRACE_KERNEL_EVENTS;
    golden_assert(events, train_hash(&cfg));
}

static void test_golden_adam_per_batch(void **state)
{
    (void)state;
    snn_config cfg = small();
    golden_assert("train-adam-per-batch", train_hash(&cfg));
    golden_events("train-adam-per-batch", cfg);
}

static void test_golden_adam_carried(void **state)
{
    (void)state;
    snn_config cfg = small();
    cfg.opt.carry_moments = true;
    golden_assert("train-adam-carried", train_hash(&cfg));
    golden_events("train-adam-carried", cfg);
}

static void test_golden_sgd(void **state)
{
    (void)state;
    snn_config cfg = small();
    cfg.opt.kind = OPTIM_SGD;
    cfg.opt.lr = 0.05f;
    golden_assert("train-sgd", train_hash(&cfg));
    golden_events("train-sgd", cfg);
}

static void test_golden_authors_variants(void **state)
{
    (void)state;
    snn_config cfg = small();
    cfg.lif.clamp = true;
    cfg.lif.trace = TRACE_SHARED;
    golden_assert("train-authors-variants", train_hash(&cfg));
}

static void test_golden_parts(void **state)
{
    (void)state;
    snn_config cfg = small();
    cfg.parts = SNN_PARTS;
    golden_assert("train-parts", train_hash(&cfg));
    golden_events("train-parts", cfg);
}

static void test_golden_bptt(void **state)
{
    (void)state;
    snn_config cfg = small();
    cfg.learn.rule = LEARN_BPTT;
    cfg.opt.lr = 3e-3f;
    cfg.opt.carry_moments = true;
    golden_assert("train-bptt", train_hash(&cfg));
    cfg.learn.window = 3;
    golden_assert("train-bptt-window", train_hash(&cfg));
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_adam_per_batch),
        cmocka_unit_test(test_golden_adam_carried),
        cmocka_unit_test(test_golden_sgd),
        cmocka_unit_test(test_golden_authors_variants),
        cmocka_unit_test(test_golden_parts),
        cmocka_unit_test(test_golden_bptt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
