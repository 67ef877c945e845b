/* ann: dense feed-forward networks trained by backpropagation, the paper's ANN
 * baselines (AE-ANN 784-H-784, AC-ANN inputs-H-196) and the digit classifier
 * that judges every synthesized image.
 *
 * A layer is y = act(x W^T + b), W n_out x n_in row-major (the SNN's layout),
 * b n_out. Products go through blas_sgemm; updates through optim_apply (Adam or
 * SGD, weight decay on W only, never on b). Losses, per batch of B samples of
 * N outputs y against targets t:
 *   ANN_LOSS_MSE_MEAN  sum (y - t)^2 / (B N)  (PyTorch's MSELoss default)
 *   ANN_LOSS_MSE_SUM   sum (y - t)^2 / B      (summed over outputs: N times the
 *                      gradient, which decides whether SGD at lr 0.1 trains)
 *   ANN_LOSS_XENT      -sum t log softmax(z) / B (softmax output layer only)
 * The loss and its gradient are in double where they are summed; a forward is
 * a pure function of the weights and the input, bit for bit on any thread count. */
#ifndef SPIKESYNTH_ANN_H
#define SPIKESYNTH_ANN_H

#include "numerics/optim.h"

#include <stdint.h>

#define ANN_MAX_LAYERS 4

typedef enum { ANN_SIGMOID = 0, ANN_RELU = 1, ANN_LINEAR = 2, ANN_SOFTMAX = 3 } ann_activation;
typedef enum { ANN_LOSS_MSE_MEAN = 0, ANN_LOSS_MSE_SUM = 1, ANN_LOSS_XENT = 2 } ann_loss;

typedef struct {
    int n_layers;                   /* weight layers, 1..ANN_MAX_LAYERS */
    int sizes[ANN_MAX_LAYERS + 1];  /* sizes[0] inputs, sizes[n_layers] outputs */
    ann_activation act[ANN_MAX_LAYERS];
    ann_loss loss;
    optim_params opt;               /* Adam's moments are carried across batches as
                                       usual for an ANN unless opt says otherwise */
    float init_scale;               /* W ~ U(-s, s); <= 0: 1/sqrt(fan_in) */
    uint64_t seed;
} ann_config;

typedef struct {
    int n_in, n_out;
    ann_activation act;
    float *w, *b;        /* n_out x n_in, n_out */
    float *gw, *gb;      /* the gradient of the last ann_backward */
    optim_state *ow, *ob;
} ann_layer;

typedef struct {
    ann_config cfg;
    int max_batch, batch;
    ann_layer layer[ANN_MAX_LAYERS];
    float *a[ANN_MAX_LAYERS + 1]; /* activations: a[0] the input, a[l + 1] layer l's output */
    float *d[2];                  /* dL/dz of the layer being worked on and of the one below */
} ann;

/* A fresh network; NULL with err_msg() on a bad shape or no memory. */
ann *ann_new(const ann_config *cfg, int max_batch);
void ann_destroy(ann **self_p);
/* Names: "sigmoid", "relu", "linear", "softmax"; "mse-mean", "mse-sum", "xent".
 * The parsers return -1 for an unknown name. */
const char *ann_activation_name(ann_activation a);
int ann_activation_parse(const char *name, ann_activation *out);
const char *ann_loss_name(ann_loss l);
int ann_loss_parse(const char *name, ann_loss *out);

/* x: batch x sizes[0]. Returns the output activations (batch x sizes[n_layers]),
 * valid until the next forward; self->a[l] holds every layer's. */
const float *ann_forward(ann *self, const float *x, int batch);
/* The same from layer `from` on: x (batch x sizes[from]) is taken as the
 * activations of the layer below it (an autoencoder's decoder alone: from 1). */
const float *ann_forward_from(ann *self, int from, const float *x, int batch);
/* The loss of outputs y (batch x n) against t under loss l. */
double ann_loss_value(ann_loss l, const float *y, const float *t, int batch, int n);
/* After ann_forward: the loss against target (batch x outputs; one-hot for
 * xent) and every layer's gw, gb. Returns the loss. */
double ann_backward(ann *self, const float *target);
/* Applies gw, gb with the optimiser (one update). */
void ann_update(ann *self);
/* forward, backward, update; returns the batch's loss (before the update). */
double ann_train_batch(ann *self, const float *x, const float *target, int batch);
/* The index of the largest of n values (the first on ties). */
int ann_argmax(const float *y, int n);

#endif
