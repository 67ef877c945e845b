/* snn: the paper's two-layer spiking network (input -> hidden -> output),
 * trained in one process: the MNIST autoencoder (target = its own input
 * spikes) and the audiocoder (target = an autoencoder's hidden spike map).
 *
 * A training step is made of pieces usable on their own, so that the stage
 * programs (ae-encoder holds the hidden layer, ae-decoder the output layer)
 * run exactly this code across processes:
 *   lif_layer_forward(hidden)
 *   snn_output_error:  output forward, loss, dL/d(hidden spikes)
 *   snn_hidden_train:  surrogate of that gradient, hidden update
 *   lif_layer_update(output)
 * The two updates are independent (the error below was taken with W2 before
 * its update), so a pipeline runs them at the same time in two processes.
 * Across processes each piece also goes by parts of the batch (the _rows
 * forms of lif_layer and snn_output_error_rows; SNN_PARTS below), so the
 * decoder works on one part while the encoder updates with the one before. */
#ifndef SPIKESYNTH_SNN_H
#define SPIKESYNTH_SNN_H

#include "numerics/lif_layer.h"
#include "numerics/loss.h"

typedef struct {
    int n_in, n_hidden, n_out;
    lif_params lif;
    optim_params opt;
    bool mask;        /* the XOR mask of the loss (paper: on) */
    float init_scale; /* U(-s, s); <= 0: 1/sqrt(fan_in) */
    uint64_t seed;    /* weight initialisation */
    int parts;        /* products in parts of the batch: 1 (the default) is fastest in one
                         process; SNN_PARTS gives the bits of the ae-encoder/ae-decoder
                         pipeline (3-7% slower here) */
    learning_params learn; /* traces (the paper's, the default) or bptt */
} snn_config;

/* 784-196-784 with the paper's settings. */
snn_config snn_config_default(void);

typedef struct {
    snn_config cfg;
    lif_layer *hidden, *output;
    float *dv_out;    /* batch x n_out */
    float *g_hidden;  /* batch x n_hidden: dL/d(hidden spikes) */
    float *dv_hidden; /* batch x n_hidden */
    /* learning by bptt: dL/dV of the output and dL/dS of the hidden layer for
     * every step of the window (steps_cap x batch x width) */
    float *dv_steps, *g_steps;
    int steps_cap;
} snn;

snn *snn_new(const snn_config *cfg, int max_batch);
void snn_destroy(snn **self_p);
int snn_begin_batch(snn *self, int batch);

/* One training step on input spikes x (batch x n_in) toward target spikes
 * (batch x n_out); stats may be NULL. With bptt the step is recorded, and the
 * weights change when a window is full or at snn_end_batch. */
int snn_train_step(snn *self, const float *x, const float *target, loss_stats *stats);
/* After a batch's last training step: bptt updates with what the window holds
 * (nothing to do for traces). */
int snn_end_batch(snn *self);
/* One inference step: forward only. */
int snn_infer_step(snn *self, const float *x);

/* The parts in which the training stages pass a step across processes:
 * ae-encoder sends each part of the hidden spikes as soon as it is computed,
 * ae-decoder each part of the error, so each stage works on one part while the
 * other works on the next. snn_config.parts = SNN_PARTS computes the products
 * in the same parts in one process: same parts, same bits. */
#define SNN_PARTS 3

/* The output layer's part before its update, given the hidden spikes:
 * forward, loss against target (dv = dL/dV, batch x n_out), and g_in =
 * dL/d(hidden spikes) (batch x n_hidden). lif_layer_update(out, dv) follows. */
int snn_output_error(lif_layer *out, const float *hidden_spikes, const float *target, bool mask,
                     float *dv, float *g_in, loss_stats *stats);
/* The same for samples b0..b1-1, parts in order (the arrays are the whole batch's). */
int snn_output_error_rows(lif_layer *out, const float *hidden_spikes, const float *target,
                          bool mask, float *dv, float *g_in, loss_stats *stats, int b0, int b1);
/* The output layer's step under bptt, samples b0..b1-1: forward and the loss's
 * dv = dL/dV of this step (the arrays are the step's, whole batch); the
 * gradient waits for the window's end (lif_layer_backward). */
int snn_output_loss_rows(lif_layer *out, const float *hidden_spikes, const float *target, bool mask,
                         float *dv, loss_stats *stats, int b0, int b1);
/* The hidden half: dv = g .* sigma'(V - Vth), then the update. */
int snn_hidden_train(lif_layer *hidden, const float *g, float *dv);

#endif
