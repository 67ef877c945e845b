/* lif_layer: LIF neurons, grouped eligibility traces and the fused gradient +
 * optimiser kernel (see include/lif_layer.h for the model and the shapes).
 *
 * Invariant: for every sample b and neuron m, pool row row_of[b*n_out+m] holds
 * e[b,m,:] of the naive form exactly (same recurrence, same float operations). */
#include "lif_layer.h"

#include "blas.h"
#include "err.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_CHUNK 64 /* columns accumulated in registers per pass */

lif_params lif_params_default(void)
{
    return (lif_params){.leak = 0.1f, .threshold = 1.0f, .clamp = false, .trace = TRACE_PER_NEURON};
}

static int pool_grow(lif_layer *self, int cap)
{
    float *pool = realloc(self->pool, (size_t)cap * self->n_in * sizeof *pool);
    if (!pool)
        return err_set("trace pool of %d x %d: out of memory", cap, self->n_in);
    self->pool = pool;
    int *refs = realloc(self->refs, (size_t)cap * sizeof *refs);
    if (refs)
        self->refs = refs;
    int *sample = realloc(self->row_sample, (size_t)cap * sizeof *sample);
    if (sample)
        self->row_sample = sample;
    int *free_rows = realloc(self->free_rows, (size_t)cap * sizeof *free_rows);
    if (free_rows)
        self->free_rows = free_rows;
    if (!refs || !sample || !free_rows)
        return err_set("trace pool of %d rows: out of memory", cap);
    self->pool_cap = cap;
    return 0;
}

lif_layer *lif_layer_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                         const optim_params *opt)
{
    if (n_in <= 0 || n_out <= 0 || max_batch <= 0) {
        err_set("lif layer: bad shape %d -> %d, batch %d", n_in, n_out, max_batch);
        return NULL;
    }
    lif_layer *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->n_in = n_in;
    self->n_out = n_out;
    self->max_batch = max_batch;
    self->lif = *lif;
    self->opt = *opt;
    size_t bo = (size_t)max_batch * n_out;
    self->w = calloc((size_t)n_out * n_in, sizeof *self->w);
    self->v = calloc(bo, sizeof *self->v);
    self->spikes = calloc(bo, sizeof *self->spikes);
    self->membrane = calloc(bo, sizeof *self->membrane);
    self->z = calloc(bo, sizeof *self->z);
    self->row_of = calloc(bo, sizeof *self->row_of);
    self->nz_start = calloc((size_t)n_out + 1, sizeof *self->nz_start);
    self->nz_cursor = calloc((size_t)n_out, sizeof *self->nz_cursor);
    self->nz_row = calloc(bo, sizeof *self->nz_row);
    self->nz_coef = calloc(bo, sizeof *self->nz_coef);
    self->optim = optim_state_new(opt, (size_t)n_out * n_in);
    if (!self->w || !self->v || !self->spikes || !self->membrane || !self->z || !self->row_of ||
        !self->nz_start || !self->nz_cursor || !self->nz_row || !self->nz_coef || !self->optim)
        goto oom;
    if (pool_grow(self, max_batch * 4) != 0)
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
    free(self->w);
    free(self->v);
    free(self->spikes);
    free(self->membrane);
    free(self->z);
    free(self->row_of);
    free(self->nz_start);
    free(self->nz_cursor);
    free(self->nz_row);
    free(self->nz_coef);
    free(self->pool);
    free(self->refs);
    free(self->row_sample);
    free(self->free_rows);
    optim_state_destroy(&self->optim);
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

/* A zeroed trace row for sample b; -1 when the pool cannot grow. */
static int row_alloc(lif_layer *self, int b)
{
    int r;
    if (self->n_free > 0) {
        r = self->free_rows[--self->n_free];
    } else {
        if (self->rows == self->pool_cap && pool_grow(self, self->pool_cap * 2) != 0)
            return -1;
        r = self->rows++;
    }
    memset(self->pool + (size_t)r * self->n_in, 0, (size_t)self->n_in * sizeof(float));
    self->refs[r] = 0;
    self->row_sample[r] = b;
    return r;
}

static void row_release(lif_layer *self, int r)
{
    if (--self->refs[r] == 0)
        self->free_rows[self->n_free++] = r;
}

int lif_layer_begin_batch(lif_layer *self, int batch)
{
    if (batch <= 0 || batch > self->max_batch)
        return err_set("lif layer: batch of %d samples, the layer holds at most %d", batch,
                       self->max_batch);
    self->batch = batch;
    self->step = 0;
    size_t bo = (size_t)batch * self->n_out;
    memset(self->membrane, 0, bo * sizeof(float));
    memset(self->spikes, 0, bo * sizeof(float));
    memset(self->v, 0, bo * sizeof(float));
    self->rows = 0;
    self->n_free = 0;
    for (int b = 0; b < batch; b++) {
        int r = row_alloc(self, b); /* rows 0..batch-1 fit the initial pool */
        self->refs[r] = self->n_out;
        for (int m = 0; m < self->n_out; m++)
            self->row_of[(size_t)b * self->n_out + m] = r;
    }
    optim_state_begin_batch(self->optim, &self->opt);
    return 0;
}

/* Per-neuron traces: neurons that spiked at t-1 start a fresh row at t. */
static int traces_reset_spiked(lif_layer *self)
{
    const int n_out = self->n_out;
    for (int b = 0; b < self->batch; b++) {
        const float *s = self->spikes + (size_t)b * n_out;
        int *row_of = self->row_of + (size_t)b * n_out;
        int fresh = -1;
        for (int m = 0; m < n_out; m++) {
            if (s[m] == 0.0f)
                continue;
            if (fresh < 0 && (fresh = row_alloc(self, b)) < 0)
                return -1;
            row_release(self, row_of[m]);
            row_of[m] = fresh;
            self->refs[fresh]++;
        }
    }
    return 0;
}

/* e[t] = decay * e[t-1] + x[t] for every live row, x the row's sample input. */
static void traces_filter(lif_layer *self, const float *input)
{
    const int n_in = self->n_in;
    const float keep = 1.0f - self->lif.leak;
    const bool shared = self->lif.trace == TRACE_SHARED;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < self->rows; r++) {
        if (self->refs[r] == 0)
            continue;
        int b = self->row_sample[r];
        float decay = keep;
        if (shared) {
            /* authors' variant: scaled by the fraction of neurons that did not spike */
            const float *s = self->spikes + (size_t)b * self->n_out;
            int fired = 0;
            for (int m = 0; m < self->n_out; m++)
                fired += s[m] != 0.0f;
            decay = keep * (1.0f - (float)fired / (float)self->n_out);
        }
        float *e = self->pool + (size_t)r * n_in;
        const float *x = input + (size_t)b * n_in;
        for (int j = 0; j < n_in; j++)
            e[j] = decay * e[j] + x[j];
    }
}

int lif_layer_forward(lif_layer *self, const float *input)
{
    const int batch = self->batch, n_out = self->n_out;
    if (batch <= 0)
        return err_set("lif layer: forward before begin_batch");
    if (self->lif.trace == TRACE_PER_NEURON && self->step > 0 && traces_reset_spiked(self) != 0)
        return -1;
    traces_filter(self, input);

    blas_sgemm(false, true, batch, n_out, self->n_in, 1.0f, input, self->n_in, self->w, self->n_in,
               0.0f, self->z, n_out);
    const float keep = 1.0f - self->lif.leak, vth = self->lif.threshold;
    const bool clamp = self->lif.clamp;
    const size_t n = (size_t)batch * n_out;
    for (size_t i = 0; i < n; i++) {
        float v = keep * self->membrane[i] + self->z[i];
        if (clamp && v > vth)
            v = vth;
        float s = v >= vth ? 1.0f : 0.0f;
        self->v[i] = v;
        self->spikes[i] = s;
        self->membrane[i] = s != 0.0f ? 0.0f : v;
    }
    self->step++;
    return 0;
}

void lif_layer_input_grad(const lif_layer *self, const float *dv, float *grad_in)
{
    if (!grad_in)
        return;
    blas_sgemm(false, false, self->batch, self->n_in, self->n_out, 1.0f, dv, self->n_out, self->w,
               self->n_in, 0.0f, grad_in, self->n_in);
}

void lif_layer_surrogate(const lif_layer *self, const float *g, float *dv)
{
    const size_t n = (size_t)self->batch * self->n_out;
    const float vth = self->lif.threshold;
    for (size_t i = 0; i < n; i++)
        dv[i] = g[i] * lif_surrogate_grad(self->v[i] - vth);
}

/* Lists, per neuron m and in sample order, the nonzero dv[b,m] with the trace
 * row they multiply. Sample order keeps the sums in the naive form's order. */
static void gradient_lists(lif_layer *self, const float *dv)
{
    const int batch = self->batch, n_out = self->n_out;
    int *start = self->nz_start;
    memset(start, 0, ((size_t)n_out + 1) * sizeof *start);
    for (int b = 0; b < batch; b++)
        for (int m = 0; m < n_out; m++)
            start[m + 1] += dv[(size_t)b * n_out + m] != 0.0f;
    for (int m = 0; m < n_out; m++)
        start[m + 1] += start[m];
    int *cursor = self->nz_cursor;
    memcpy(cursor, start, (size_t)n_out * sizeof *cursor);
    for (int b = 0; b < batch; b++) {
        const float *d = dv + (size_t)b * n_out;
        const int *row_of = self->row_of + (size_t)b * n_out;
        for (int m = 0; m < n_out; m++) {
            if (d[m] == 0.0f)
                continue;
            int p = cursor[m]++;
            self->nz_coef[p] = d[m];
            self->nz_row[p] = row_of[m];
        }
    }
}

/* 16 floats: one AVX-512 register, two AVX2 ones. GCC/clang vector
 * extension, element-wise, so the arithmetic is exactly the scalar one. */
typedef float vec16 __attribute__((vector_size(64), aligned(4)));

/* Columns [j0, j0 + GRAD_CHUNK) of neuron m's gradient, summed over its list
 * in sample order, into acc. Four independent registers per trace row. */
static inline void grad_chunk_full(const lif_layer *self, int m, int j0, float *acc)
{
    vec16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    const size_t n_in = (size_t)self->n_in;
    for (int p = self->nz_start[m]; p < self->nz_start[m + 1]; p++) {
        const float c = self->nz_coef[p];
        const float *e = self->pool + (size_t)self->nz_row[p] * n_in + j0;
        a0 += c * *(const vec16 *)(e);
        a1 += c * *(const vec16 *)(e + 16);
        a2 += c * *(const vec16 *)(e + 32);
        a3 += c * *(const vec16 *)(e + 48);
    }
    memcpy(acc, &a0, sizeof a0);
    memcpy(acc + 16, &a1, sizeof a1);
    memcpy(acc + 32, &a2, sizeof a2);
    memcpy(acc + 48, &a3, sizeof a3);
}

/* The same for a last, narrower chunk. */
static void grad_chunk_tail(const lif_layer *self, int m, int j0, int width, float *acc)
{
    for (int k = 0; k < width; k++)
        acc[k] = 0.0f;
    const size_t n_in = (size_t)self->n_in;
    for (int p = self->nz_start[m]; p < self->nz_start[m + 1]; p++) {
        const float c = self->nz_coef[p];
        const float *e = self->pool + (size_t)self->nz_row[p] * n_in + j0;
        for (int k = 0; k < width; k++)
            acc[k] += c * e[k];
    }
}

/* Gradient of columns [j0, j0 + width) of neuron m, then their update. */
static inline void grad_chunk_update(lif_layer *self, int m, int j0, int width)
{
    float acc[GRAD_CHUNK];
    if (width == GRAD_CHUNK)
        grad_chunk_full(self, m, j0, acc);
    else
        grad_chunk_tail(self, m, j0, width, acc);
    const float batch = (float)self->batch;
    for (int k = 0; k < width; k++)
        acc[k] /= batch;
    size_t i0 = (size_t)m * self->n_in + j0;
    optim_apply(&self->opt, self->optim, i0, self->w + i0, acc, width);
}

int lif_layer_update(lif_layer *self, const float *dv)
{
    gradient_lists(self, dv);
    optim_state_begin_step(self->optim, &self->opt);
    const int n_in = self->n_in, n_out = self->n_out;
    const int full = n_in / GRAD_CHUNK * GRAD_CHUNK;
    /* column chunks outside, neurons inside: one chunk of every trace row stays
     * in cache while all neurons read it; static schedule keeps each thread on
     * the same neurons (and weights) from chunk to chunk */
#pragma omp parallel
    {
        for (int j0 = 0; j0 < full; j0 += GRAD_CHUNK) {
#pragma omp for schedule(static) nowait
            for (int m = 0; m < n_out; m++)
                grad_chunk_update(self, m, j0, GRAD_CHUNK);
        }
        if (full < n_in) {
#pragma omp for schedule(static) nowait
            for (int m = 0; m < n_out; m++)
                grad_chunk_update(self, m, full, n_in - full);
        }
    }
    return 0;
}
