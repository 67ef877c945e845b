/* test_ann: the dense networks of numerics/ann against a naive oracle.
 *  - every gradient (W and b of every layer, each activation and loss) against
 *    central finite differences of the loss, computed in double by a forward
 *    pass written here from the definitions;
 *  - SGD's update is w - lr (g + wd w) on W and w - lr g on b;
 *  - a small classifier learns a separable problem (the update goes downhill);
 *  - a network saved as .ssm layers (data/ann_file) loads back to the same
 *    outputs bit for bit, and the judge (data/judge) counts what it reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/ann_file.h"
#include "data/judge.h"
#include "numerics/ann.h"
#include "numerics/blas.h"
#include "numerics/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir.h"

/* The loss of net's weights (as doubles: w[l], b[l]) on x, target: the oracle. */
static double oracle_loss(const ann *net, double *const *w, double *const *b, const float *x,
                          const float *target, int batch)
{
    const ann_config *c = &net->cfg;
    double *cur = malloc(sizeof(double) * 64), *nxt = malloc(sizeof(double) * 64), loss = 0;
    for (int s = 0; s < batch; s++) {
        for (int j = 0; j < c->sizes[0]; j++)
            cur[j] = x[(size_t)s * c->sizes[0] + j];
        for (int l = 0; l < c->n_layers; l++) {
            const int ni = c->sizes[l], no = c->sizes[l + 1];
            double mx = -INFINITY, sum = 0;
            for (int m = 0; m < no; m++) {
                double z = b[l][m];
                for (int j = 0; j < ni; j++)
                    z += w[l][(size_t)m * ni + j] * cur[j];
                nxt[m] = c->act[l] == ANN_SIGMOID ? 1 / (1 + exp(-z)) : c->act[l] == ANN_RELU ? fmax(z, 0) : z;
                mx = fmax(mx, z);
            }
            if (c->act[l] == ANN_SOFTMAX) {
                for (int m = 0; m < no; m++)
                    sum += (nxt[m] = exp(nxt[m] - mx));
                for (int m = 0; m < no; m++)
                    nxt[m] /= sum;
            }
            double *t = cur;
            cur = nxt;
            nxt = t;
        }
        const int n = c->sizes[c->n_layers];
        for (int m = 0; m < n; m++) {
            const double tm = target[(size_t)s * n + m];
            loss += c->loss == ANN_LOSS_XENT ? -tm * log(cur[m]) : (cur[m] - tm) * (cur[m] - tm);
        }
    }
    free(cur);
    free(nxt);
    const int n = c->sizes[c->n_layers];
    return c->loss == ANN_LOSS_MSE_MEAN ? loss / ((double)batch * n) : loss / batch;
}

/* Every parameter's gradient from the library against central differences. */
static void check_gradients(ann_activation hidden, ann_activation out, ann_loss loss)
{
    enum { B = 5 };
    ann_config c = {.n_layers = 2, .sizes = {6, 5, 4}, .act = {hidden, out}, .loss = loss,
                    .opt = optim_params_default(), .init_scale = 0.8f, .seed = 7};
    ann *net = ann_new(&c, B);
    assert_non_null(net);
    float x[B * 6], t[B * 4];
    rng_fill_uniform(3, 1, 0, 0, x, B * 6);
    rng_fill_uniform(3, 2, 0, 0, t, B * 4);
    if (loss == ANN_LOSS_XENT) /* one-hot targets */
        for (int s = 0; s < B; s++)
            for (int m = 0; m < 4; m++)
                t[s * 4 + m] = m == s % 4;
    ann_forward(net, x, B);
    const double l0 = ann_backward(net, t);
    double *w[2], *b[2];
    for (int l = 0; l < 2; l++) {
        const ann_layer *L = &net->layer[l];
        w[l] = malloc(sizeof(double) * L->n_in * L->n_out);
        b[l] = malloc(sizeof(double) * L->n_out);
        for (int i = 0; i < L->n_in * L->n_out; i++)
            w[l][i] = L->w[i];
        for (int i = 0; i < L->n_out; i++)
            b[l][i] = L->b[i];
    }
    assert_true(fabs(oracle_loss(net, w, b, x, t, B) - l0) < 1e-5 * (1 + fabs(l0)));
    const double h = 1e-5;
    for (int l = 0; l < 2; l++) {
        const ann_layer *L = &net->layer[l];
        for (int i = 0; i < L->n_in * L->n_out + L->n_out; i++) {
            double *p = i < L->n_in * L->n_out ? &w[l][i] : &b[l][i - L->n_in * L->n_out];
            const float g = i < L->n_in * L->n_out ? L->gw[i] : L->gb[i - L->n_in * L->n_out];
            const double keep = *p;
            *p = keep + h;
            const double up = oracle_loss(net, w, b, x, t, B);
            *p = keep - h;
            const double down = oracle_loss(net, w, b, x, t, B);
            *p = keep;
            const double fd = (up - down) / (2 * h);
            if (fabs(fd - g) > 1e-4 + 1e-3 * fabs(fd))
                fail_msg("%s/%s/%s layer %d param %d: gradient %g, finite differences %g",
                         ann_activation_name(hidden), ann_activation_name(out), ann_loss_name(loss), l, i,
                         (double)g, fd);
        }
    }
    for (int l = 0; l < 2; l++) {
        free(w[l]);
        free(b[l]);
    }
    ann_destroy(&net);
}

static void test_gradients_sigmoid_mse(void **state)
{
    (void)state;
    check_gradients(ANN_SIGMOID, ANN_SIGMOID, ANN_LOSS_MSE_MEAN);
    check_gradients(ANN_SIGMOID, ANN_SIGMOID, ANN_LOSS_MSE_SUM);
}

static void test_gradients_relu_linear(void **state)
{
    (void)state;
    check_gradients(ANN_RELU, ANN_RELU, ANN_LOSS_MSE_SUM);
    check_gradients(ANN_RELU, ANN_LINEAR, ANN_LOSS_MSE_MEAN);
}

static void test_gradients_softmax_xent(void **state)
{
    (void)state;
    check_gradients(ANN_RELU, ANN_SOFTMAX, ANN_LOSS_XENT);
    check_gradients(ANN_SIGMOID, ANN_SOFTMAX, ANN_LOSS_XENT);
}

static void test_sgd_update(void **state)
{
    (void)state;
    ann_config c = {.n_layers = 1, .sizes = {3, 2}, .act = {ANN_LINEAR}, .loss = ANN_LOSS_MSE_SUM,
                    .opt = optim_params_default(), .seed = 1};
    c.opt.kind = OPTIM_SGD;
    c.opt.lr = 0.5f;
    c.opt.weight_decay = 0.1f;
    ann *net = ann_new(&c, 1);
    assert_non_null(net);
    net->layer[0].b[0] = 0.25f;
    float w0[6], b0 = 0.25f;
    memcpy(w0, net->layer[0].w, sizeof w0);
    const float x[3] = {1, 0, 2}, t[2] = {0, 1};
    ann_forward(net, x, 1);
    ann_backward(net, t);
    float gw[6], gb0 = net->layer[0].gb[0];
    memcpy(gw, net->layer[0].gw, sizeof gw);
    ann_update(net);
    for (int i = 0; i < 6; i++)
        assert_float_equal(net->layer[0].w[i], w0[i] - 0.5f * (gw[i] + 0.1f * w0[i]), 1e-6);
    assert_float_equal(net->layer[0].b[0], b0 - 0.5f * gb0, 1e-6);
    ann_destroy(&net);
}

/* Two classes split by the sign of the first input: Adam gets there. */
static void test_learns(void **state)
{
    (void)state;
    enum { B = 64 };
    ann_config c = {.n_layers = 2, .sizes = {4, 8, 2}, .act = {ANN_RELU, ANN_SOFTMAX}, .loss = ANN_LOSS_XENT,
                    .opt = optim_params_default(), .seed = 2};
    c.opt.lr = 0.05f;
    c.opt.carry_moments = true;
    ann *net = ann_new(&c, B);
    assert_non_null(net);
    float x[B * 4], t[B * 2];
    double first = 0, last = 0;
    for (int it = 0; it < 200; it++) {
        rng_fill_uniform(9, 5, (uint32_t)it, 0, x, B * 4);
        for (int s = 0; s < B; s++) {
            x[s * 4] -= 0.5f;
            t[s * 2] = x[s * 4] > 0;
            t[s * 2 + 1] = x[s * 4] <= 0;
        }
        const double l = ann_train_batch(net, x, t, B);
        if (it == 0)
            first = l;
        last = l;
    }
    assert_true(last < 0.2 * first);
    int right = 0;
    const float *y = ann_forward(net, x, B);
    for (int s = 0; s < B; s++)
        right += ann_argmax(y + s * 2, 2) == (x[s * 4] > 0 ? 0 : 1);
    assert_true(right >= B * 9 / 10);
    ann_destroy(&net);
}

static void test_bad_config(void **state)
{
    (void)state;
    ann_config c = {.n_layers = 1, .sizes = {3, 2}, .act = {ANN_SOFTMAX}, .loss = ANN_LOSS_MSE_MEAN,
                    .opt = optim_params_default()};
    assert_null(ann_new(&c, 1));
    c.act[0] = ANN_SIGMOID;
    c.loss = ANN_LOSS_XENT;
    assert_null(ann_new(&c, 1));
    ann_activation a;
    ann_loss l;
    assert_int_equal(ann_activation_parse("tanh", &a), -1);
    assert_int_equal(ann_loss_parse("mse-sum", &l), 0);
    assert_int_equal(l, ANN_LOSS_MSE_SUM);
}

static void test_file_and_judge(void **state)
{
    (void)state;
    char dir[4096];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "test_ann"), 0);
    ann_config c = {.n_layers = 2, .sizes = {784, 16, 10}, .act = {ANN_RELU, ANN_SOFTMAX}, .loss = ANN_LOSS_XENT,
                    .opt = optim_params_default(), .seed = 4};
    ann *net = ann_new(&c, 3);
    assert_non_null(net);
    net->layer[1].b[3] = 0.5f;
    float x[3 * 784];
    rng_fill_uniform(5, 0, 0, 0, x, 3 * 784);
    float y[30];
    memcpy(y, ann_forward(net, x, 3), sizeof y);
    const char *prefix = tmpdir_at(dir, "clf");
    assert_int_equal(ann_file_save(net, prefix, NULL), 0);
    ann *back = ann_file_load(prefix, 3, ANN_LOSS_XENT);
    assert_non_null(back);
    assert_int_equal(back->cfg.n_layers, 2);
    assert_int_equal(back->cfg.act[1], ANN_SOFTMAX);
    assert_memory_equal(ann_forward(back, x, 3), y, sizeof y);
    /* the judge scales each map to its peak: x and 3x read alike */
    judge *jd = judge_open(prefix, 784);
    assert_non_null(jd);
    int32_t labels[3] = {ann_argmax(y, 10), -1, (ann_argmax(y + 20, 10) + 1) % 10};
    for (int i = 0; i < 784; i++)
        x[i] *= 3;
    int cls[3];
    assert_int_equal(judge_add(jd, x, labels, 3, cls), 0);
    assert_int_equal(judge_count(jd), 2);
    assert_int_equal(cls[0], labels[0]);
    assert_float_equal(judge_accuracy(jd), 0.5, 1e-12);
    assert_null(judge_open(prefix, 100)); /* wrong input size */
    assert_null(ann_file_load(tmpdir_at(dir, "none"), 1, ANN_LOSS_XENT));
    judge_destroy(&jd);
    ann_destroy(&back);
    ann_destroy(&net);
    tmpdir_assert_no_temp(dir);
    tmpdir_remove(dir);
}

int main(void)
{
    blas_init(NULL, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients_sigmoid_mse), cmocka_unit_test(test_gradients_relu_linear),
        cmocka_unit_test(test_gradients_softmax_xent), cmocka_unit_test(test_sgd_update),
        cmocka_unit_test(test_learns), cmocka_unit_test(test_bad_config), cmocka_unit_test(test_file_and_judge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
