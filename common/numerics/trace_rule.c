/* trace_rule: the paper's learning rule, eligibility traces (eq. 9-17),
 * grouped by reset step, and the fused gradient + optimiser kernel (see
 * include/numerics/trace_rule.h).
 *
 * Invariant: for every sample b and neuron m, trace row row_of[b*n_out+m]
 * together with hist[b] gives e[b,m,:] of the naive form to float rounding;
 * every weight's gradient is summed over samples in order, as the naive form
 * does. Traces are evaluated in double: the difference of two filtered
 * histories would otherwise lose digits. */
#include "numerics/trace_rule.h"

#include "numerics/trace_events.h"
#include "numerics/blas.h"
#include "numerics/spike_kernels.h"
#include "numerics/vecf.h"

#include "core/err.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 16   /* columns per trace chunk: one cache line, one AVX-512 register */
#define MBLOCK 128 /* neurons per gradient pass: their accumulators (2 chunks) fill 16 KiB of L1 */
#define DENSE_SAMPLES 8 /* dense errors: samples per pass, their traces in L1 */
/* the shared trace: an error with fewer nonzero entries than this share goes
 * by them alone (as bptt's input gradient: docs/results.md) */
#define SHARED_SPARSE 0.3

/* a chunk is VPC of the CPU's vectors */
#define VPC (CHUNK / VEC)
/* dense errors: neurons whose accumulators (DENSE_GROUP x 2 chunks) stay in
 * registers, 8 vectors of the 16 (AVX2) or 32 (AVX-512) the CPU has */
#define DENSE_GROUP (4 / VPC)

struct trace_rule {
    int n_in, n_out, max_batch;
    int batch, step;     /* samples in this batch, steps taken in it */
    lif_params lif;
    /* hist[b] (double, n_chunks*16 per sample) is sample b's input filtered by
     * (1 - leak) since the batch began, H_b[t]. A trace row r belongs to
     * sample row_sample[r] and the neurons that last reset at step
     * row_start[r]; it stores the snapshot H_b[row_start - 1], so the trace of
     * its neurons is e[t] = H_b[t] - (1 - leak)^(t - row_start + 1) snapshot,
     * evaluated in double (exact to float rounding) only where the gradient
     * needs it: no per-step pass over the rows. Snapshots are chunk-major
     * (column j of row r at pool[((j/16)*pool_cap + r)*16 + j%16]).
     * Sample b owns rows b*rps .. b*rps+rps-1 (used[b] of them so far; freed
     * ones listed in free_rows[b*rps ..], n_free[b] of them); rps doubles when
     * a sample needs more. row_of[b*n_out+m] is the row neuron m of sample b
     * uses; refs[r] counts its users.
     * The authors' shared trace is H_b itself (decay scaled by the fraction
     * of neurons that did not spike), with one row per sample. */
    double *hist, *pool;
    uint8_t *chunk_live; /* per 16-input chunk: some input there was nonzero this batch */
    double *decay_pow;   /* decay_pow[d] = (1 - leak)^d, d < decay_pow_len */
    int decay_pow_len;
    int n_chunks, rps, pool_cap;
    int *n_free, *used;
    const int *n_spikes; /* the layer's, per sample: neurons that spiked at the last step */
    int *row_of, *refs, *row_start, *free_rows;
    /* Gradient scratch: the rows with nonzero dv, in sample order
     * (grad_rows[0..n_grad_rows)), and for each its neurons and dv values
     * (member_m/member_dv[member_start[i] .. member_start[i+1])) */
    int n_grad_rows;
    int *grad_rows, *member_start, *member_m, *row_cursor;
    float *member_dv;
    int n_mblocks;       /* blocks of neurons per gradient pass */
    int *member_split;   /* per grad row: where each neuron block's members start */
    int *row_scratch;    /* per sample (rps each): its gradient rows, in order of appearance */
    int *member_slot;    /* batch x n_out: for dense errors, the trace of each (b, m) */
    bool dense_grad;     /* this step's dv is mostly nonzero: the dense kernel */
    int *sample_rows, *sample_members; /* batch + 1: where each sample's rows/members start */
    float *trace_buf;    /* per thread: pool_cap x 16 traces of one chunk */
    float *acc;          /* per thread: one block of neurons x 16 accumulators */
    int part_b0, part_b1; /* the samples of the update in progress */
    float *grad_acc;     /* n_out x n_chunks*16: the gradient summed over the parts so far */
    /* the events kernel (trace_events.h): every batch begins by it; AUTO
     * goes over to the rows for good at the first step where the inputs
     * since the batch began (the events kernel's work per error) outweigh
     * ROWS_COST per input of a step, rebuilding the rows from the events.
     * Whole-step counts only and no state across batches: every split into
     * parts, thread count and resumed training takes the same kernels. By
     * events the rule keeps no rows, only ev_start. */
    trace_kernel kernel;
    trace_events *events; /* NULL: per-neuron traces off (the shared variant) */
    bool events_batch;   /* this batch goes by the events so far */
    long inputs_seen;    /* nonzero inputs of this batch so far */
    long steps_by[2];    /* updates by the rows kernel, by the events kernel */
    long sparse_steps;   /* the shared trace: updates by the nonzero errors alone */
    int *ev_start;       /* batch x n_out: the step each neuron's trace began */
    float *ev_decay;     /* decay_pow as floats */
    float *ev_g, *ev_a;  /* per thread: n_in x max neurons gradients, coefficients */
    size_t ev_a_cap;     /* floats of ev_a per thread */
    float *shared_h;     /* the shared variant: max_batch x n_chunks*16 traces as floats */
    float *shared_dv;    /* ... and max_batch x n_out errors, the parts' rows so far */
    float *shared_dvt;   /* ... and those errors / batch, n_out x max_batch (by neuron) */
    /* the update in progress: the layer's weights and optimiser */
    float *w;
    const optim_params *opt;
    optim_state *optim;
};

static inline double *trace_chunk(const trace_rule *self, int row, int chunk)
{
    return self->pool + ((size_t)chunk * self->pool_cap + row) * CHUNK;
}

static inline double *hist_row(const trace_rule *self, int b)
{
    return self->hist + (size_t)b * self->n_chunks * CHUNK;
}

/* Resizes every per-row array to max_batch * rps rows; contents are kept
 * only where keep_rps > 0 (rows move from b*keep_rps+k to b*rps+k). */
static int pool_reshape(trace_rule *self, int rps, int keep_rps)
{
    const int B = self->max_batch;
    size_t cap = (size_t)B * rps;
    double *pool = aligned_alloc(64, cap * CHUNK * self->n_chunks * sizeof(double));
    int *refs = calloc(cap, sizeof *refs), *start = calloc(cap, sizeof *start);
    int *free_rows = calloc(cap, sizeof *free_rows), *grad_rows = calloc(cap, sizeof *grad_rows);
    int *mstart = calloc(cap + 1, sizeof *mstart), *cursor = calloc(cap, sizeof *cursor);
    int *split = calloc(cap * (self->n_mblocks + 1), sizeof *split);
    int *scratch = calloc(cap, sizeof *scratch);
    /* scratch, 64-byte aligned for vectors */
    float *traces = aligned_alloc(64, (size_t)omp_get_max_threads() * (cap + 1) * 2 * CHUNK * sizeof *traces);
    if (!pool || !refs || !start || !free_rows || !grad_rows || !mstart || !cursor || !split ||
        !scratch || !traces) {
        free(pool); free(refs); free(start); free(free_rows); free(grad_rows);
        free(mstart); free(cursor); free(split); free(scratch); free(traces);
        return err_set("trace pool of %zu rows x %d inputs: out of memory", cap, self->n_in);
    }
    if (keep_rps > 0) {
        for (int c = 0; c < self->n_chunks; c++)
            for (int b = 0; b < B; b++)
                memcpy(pool + ((size_t)c * cap + (size_t)b * rps) * CHUNK,
                       trace_chunk(self, b * keep_rps, c), (size_t)keep_rps * CHUNK * sizeof(double));
        for (int b = 0; b < B; b++)
            for (int k = 0; k < keep_rps; k++) {
                refs[b * rps + k] = self->refs[b * keep_rps + k];
                start[b * rps + k] = self->row_start[b * keep_rps + k];
                free_rows[b * rps + k] = self->free_rows[b * keep_rps + k];
            }
        for (size_t i = 0; i < (size_t)self->batch * self->n_out; i++) {
            int r = self->row_of[i];
            self->row_of[i] = r / keep_rps * rps + r % keep_rps;
        }
    }
    free(self->pool); free(self->refs); free(self->row_start); free(self->free_rows);
    free(self->grad_rows); free(self->member_start); free(self->row_cursor);
    free(self->member_split); free(self->trace_buf); free(self->row_scratch);
    self->pool = pool;
    self->row_scratch = scratch;
    self->refs = refs;
    self->row_start = start;
    self->free_rows = free_rows;
    self->grad_rows = grad_rows;
    self->member_start = mstart;
    self->row_cursor = cursor;
    self->member_split = split;
    self->trace_buf = traces;
    self->pool_cap = (int)cap;
    self->rps = rps;
    return 0;
}

/* A trace row for the neurons of sample b that reset now: its snapshot is
 * H_b of the previous step. Rows of sample b are b*rps .. b*rps+rps-1, so
 * the gradient, visiting samples in order, walks the pool forward. The
 * caller has made room (pool_room). Touches sample b's rows only. */
static int row_take(trace_rule *self, int b)
{
    int k = self->n_free[b] > 0 ? self->free_rows[b * self->rps + --self->n_free[b]] : self->used[b]++;
    int r = b * self->rps + k;
    const double *h = hist_row(self, b);
    for (int c = 0; c < self->n_chunks; c++) {
        double *snap = trace_chunk(self, r, c);
        for (int j = 0; j < CHUNK; j++)
            snap[j] = h[c * CHUNK + j];
    }
    self->refs[r] = 0;
    self->row_start[r] = self->step;
    return r;
}

/* Grows the pool until every sample with a spike can take a fresh row. */
static int pool_room(trace_rule *self)
{
    for (;;) {
        bool full = false;
        for (int b = 0; b < self->batch && !full; b++)
            full = self->n_spikes[b] > 0 && self->n_free[b] == 0 && self->used[b] == self->rps;
        if (!full)
            return 0;
        if (pool_reshape(self, self->rps * 2, self->rps) != 0)
            return -1;
    }
}

static void row_release(trace_rule *self, int r)
{
    if (--self->refs[r] == 0) {
        int b = r / self->rps;
        self->free_rows[b * self->rps + self->n_free[b]++] = r % self->rps;
    }
}

/* Per-neuron traces: neurons that spiked at t-1 start a fresh row at t. */
static void traces_reset_spiked(trace_rule *self, const float *spikes, int b0, int b1)
{
    const int n_out = self->n_out;
#pragma omp parallel for schedule(static) if ((size_t)(b1 - b0) * n_out > 16384)
    for (int b = b0; b < b1; b++) {
        const float *s = spikes + (size_t)b * n_out;
        int *row_of = self->row_of + (size_t)b * n_out;
        int fresh = self->n_spikes[b] > 0 ? row_take(self, b) : -1;
        for (int m = 0; fresh >= 0 && m < n_out; m++) {
            if (s[m] == 0.0f)
                continue;
            row_release(self, row_of[m]);
            row_of[m] = fresh;
            self->refs[fresh]++;
        }
    }
}

/* H_b[t] = decay * H_b[t-1] + x_b[t] for samples b0..b1-1. */
static void hist_update(trace_rule *self, const float *input, const float *spikes, int b0, int b1)
{
    const int n_in = self->n_in;
    const float keep = 1.0f - self->lif.leak;
    const bool shared = self->lif.trace == TRACE_SHARED;
#pragma omp parallel for schedule(static) if ((b1 - b0) * n_in > 32768)
    for (int b = b0; b < b1; b++) {
        double decay = keep;
        if (shared) {
            /* authors' variant: scaled by the fraction of neurons that did not spike */
            const float *s = spikes + (size_t)b * self->n_out;
            int fired = 0;
            for (int m = 0; m < self->n_out; m++)
                fired += s[m] != 0.0f;
            decay = keep * (1.0f - (float)fired / (float)self->n_out);
        }
        double *h = hist_row(self, b);
        const float *x = input + (size_t)b * n_in;
        for (int j = 0; j < n_in; j++)
            h[j] = decay * h[j] + x[j];
    }
    /* chunks where some sample had input since the batch began: elsewhere every
     * trace, and so the gradient, is exactly zero (MNIST's border, padding) */
    for (int c = 0; c < self->n_chunks; c++) {
        if (self->chunk_live[c])
            continue;
        const int j0 = c * CHUNK, j1 = j0 + CHUNK < n_in ? j0 + CHUNK : n_in;
        for (int b = b0; b < b1 && !self->chunk_live[c]; b++)
            for (int j = j0; j < j1; j++)
                self->chunk_live[c] |= input[(size_t)b * n_in + j] != 0.0f;
    }
}

trace_rule *trace_rule_new(int n_in, int n_out, int max_batch, const lif_params *lif,
                           trace_kernel kernel)
{
    trace_rule *self = calloc(1, sizeof *self);
    if (!self)
        goto oom;
    self->n_in = n_in;
    self->n_out = n_out;
    self->max_batch = max_batch;
    self->lif = *lif;
    self->kernel = kernel;
    self->n_chunks = (n_in + CHUNK - 1) / CHUNK;
    self->n_mblocks = (n_out + MBLOCK - 1) / MBLOCK;
    size_t bo = (size_t)max_batch * n_out;
    self->row_of = calloc(bo, sizeof *self->row_of);
    self->member_m = calloc(bo, sizeof *self->member_m);
    self->member_dv = calloc(bo, sizeof *self->member_dv);
    self->chunk_live = calloc((size_t)self->n_chunks, 1);
    self->hist = aligned_alloc(64, (size_t)max_batch * self->n_chunks * CHUNK * sizeof(double));
    /* per thread: 2 chunks of accumulators for a block of neurons (sparse
     * errors) or for all of them (dense errors) */
    self->acc = aligned_alloc(64, (size_t)omp_get_max_threads() * (n_out > MBLOCK ? n_out : MBLOCK) * 2 *
                                      CHUNK * sizeof(float));
    self->member_slot = malloc(bo * sizeof *self->member_slot);
    self->n_free = calloc((size_t)max_batch, sizeof *self->n_free);
    self->used = calloc((size_t)max_batch, sizeof *self->used);
    self->sample_rows = calloc((size_t)max_batch + 1, sizeof *self->sample_rows);
    self->sample_members = calloc((size_t)max_batch + 1, sizeof *self->sample_members);
    if (!self->row_of || !self->member_m || !self->member_dv || !self->chunk_live || !self->hist ||
        !self->acc || !self->member_slot || !self->n_free || !self->used || !self->sample_rows ||
        !self->sample_members)
        goto oom;
    if (pool_reshape(self, 4, 0) != 0)
        goto err;
    if (lif->trace == TRACE_PER_NEURON && kernel != TRACE_KERNEL_ROWS) {
        if (!(self->events = trace_events_new(n_in, n_out, max_batch)))
            goto err;
        self->ev_start = malloc(bo * sizeof *self->ev_start);
        self->ev_g = aligned_alloc(64, (size_t)omp_get_max_threads() * n_in *
                                           trace_events_max_neurons() * sizeof(float));
        if (!self->ev_start || !self->ev_g)
            goto oom;
    }
    return self;
oom:
    err_set("traces of a layer %d -> %d, batch %d: out of memory", n_in, n_out, max_batch);
err:
    trace_rule_destroy(&self);
    return NULL;
}

void trace_rule_destroy(trace_rule **self_p)
{
    trace_rule *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->row_of);
    free(self->pool);
    free(self->hist);
    free(self->chunk_live);
    free(self->decay_pow);
    free(self->refs);
    free(self->n_free);
    free(self->used);
    free(self->row_start);
    free(self->free_rows);
    free(self->grad_rows);
    free(self->member_start);
    free(self->member_m);
    free(self->member_dv);
    free(self->row_cursor);
    free(self->member_split);
    free(self->row_scratch);
    free(self->sample_rows);
    free(self->sample_members);
    free(self->trace_buf);
    free(self->acc);
    free(self->grad_acc);
    free(self->member_slot);
    trace_events_destroy(&self->events);
    free(self->ev_start);
    free(self->ev_decay);
    free(self->ev_g);
    free(self->ev_a);
    free(self->shared_h);
    free(self->shared_dv);
    free(self->shared_dvt);
    free(self);
    *self_p = NULL;
}

void trace_rule_begin_batch(trace_rule *self, int batch)
{
    self->batch = batch;
    self->step = 0;
    self->part_b0 = self->part_b1 = 0;
    self->events_batch = self->events != NULL;
    self->inputs_seen = 0;
    if (self->events) {
        trace_events_begin_batch(self->events, batch);
        memset(self->ev_start, 0, (size_t)batch * self->n_out * sizeof *self->ev_start);
    }
    if (self->events_batch)
        return;
    memset(self->hist, 0, (size_t)batch * self->n_chunks * CHUNK * sizeof(double));
    memset(self->chunk_live, 0, (size_t)self->n_chunks);
    memset(self->n_free, 0, (size_t)self->max_batch * sizeof *self->n_free);
    memset(self->used, 0, (size_t)self->max_batch * sizeof *self->used);
    for (int b = 0; b < batch; b++) {
        int r = row_take(self, b); /* slot 0 always fits */
        self->refs[r] = self->n_out;
        for (int m = 0; m < self->n_out; m++)
            self->row_of[(size_t)b * self->n_out + m] = r;
    }
}

/* By events: the neurons that spiked at the last step start their trace now. */
static void starts_reset_spiked(trace_rule *self, const float *spikes, int b0, int b1)
{
    const long i0 = (long)b0 * self->n_out, i1 = (long)b1 * self->n_out;
#pragma omp parallel for schedule(static) if (i1 - i0 > 16384)
    for (long i = i0; i < i1; i++)
        if (spikes[i] != 0.0f)
            self->ev_start[i] = self->step;
}

int trace_rule_forward(trace_rule *self, const float *input, const float *prev_spikes,
                       const int *n_spikes, int b0, int b1)
{
    self->n_spikes = n_spikes;
    if (self->events_batch) {
        long nonzero;
        if (self->step > 0)
            starts_reset_spiked(self, prev_spikes, b0, b1);
        if (trace_events_record(self->events, input, self->step, b0, b1, &nonzero) != 0)
            return -1;
        self->inputs_seen += nonzero;
        if (b1 == self->batch)
            self->step++;
        return 0;
    }
    /* room for every sample's new trace row, judged on the last step's spikes
     * before any part overwrites them */
    if (b0 == 0 && self->lif.trace == TRACE_PER_NEURON && self->step > 0 && pool_room(self) != 0)
        return -1;
    if (self->lif.trace == TRACE_PER_NEURON && self->step > 0)
        traces_reset_spiked(self, prev_spikes, b0, b1);
    hist_update(self, input, prev_spikes, b0, b1);
    if (b1 == self->batch)
        self->step++;
    return 0;
}

/* Groups the nonzero dv[b,m] by trace row: grad_rows lists the rows in sample
 * order, each with its neurons (ascending) and their dv. Visiting rows in this
 * order sums every weight's gradient over samples in order. Rows belong to
 * one sample, so samples are listed in parallel: counted, offset, filled. */
static void gradient_lists(trace_rule *self, const float *dv, int b0, int b1)
{
    const int n_out = self->n_out, rps = self->rps, nmb = self->n_mblocks;
    int *row_off = self->sample_rows, *mem_off = self->sample_members;
    const bool par = (size_t)(b1 - b0) * n_out > 16384;
#pragma omp parallel for schedule(static) if (par)
    for (int b = b0; b < b1; b++) {
        const float *d = dv + (size_t)b * n_out;
        const int *row_of = self->row_of + (size_t)b * n_out;
        int *rows = self->row_scratch + (size_t)b * rps, nr = 0, nm = 0;
        /* rows in order of appearance, members per row */
        for (int m = 0; m < n_out; m++) {
            if (d[m] == 0.0f)
                continue;
            int r = row_of[m];
            if (self->refs[r] >= 0) { /* first sight this step: mark by negating */
                self->refs[r] = -self->refs[r] - 1;
                self->row_cursor[r] = 0;
                rows[nr++] = r;
            }
            self->row_cursor[r]++;
            nm++;
        }
        row_off[b + 1] = nr;
        mem_off[b + 1] = nm;
    }
    row_off[b0] = mem_off[b0] = 0;
    for (int b = b0; b < b1; b++) {
        row_off[b + 1] += row_off[b];
        mem_off[b + 1] += mem_off[b];
    }
    /* hidden layers' errors are dense (the surrogate rarely vanishes) */
    const bool dense = (size_t)mem_off[b1] * 2 > (size_t)(b1 - b0) * n_out;
    self->dense_grad = dense;
#pragma omp parallel for schedule(static) if (par)
    for (int b = b0; b < b1; b++) {
        const float *d = dv + (size_t)b * n_out;
        const int *row_of = self->row_of + (size_t)b * n_out;
        const int *rows = self->row_scratch + (size_t)b * rps;
        const int i0 = row_off[b], i1 = row_off[b + 1];
        if (dense) {
            /* the dense kernel needs the rows and, per (b, m), where its row's
             * trace sits in the buffer of its block of samples: 1 + (row index -
             * the block's first); 0, a zero trace, where dv is 0 */
            const int base = row_off[b / DENSE_SAMPLES * DENSE_SAMPLES];
            for (int i = i0; i < i1; i++) {
                int r = rows[i - i0];
                self->grad_rows[i] = r;
                self->row_cursor[r] = 1 + i - base;
                self->refs[r] = -self->refs[r] - 1; /* unmark */
            }
            int *slot = self->member_slot + (size_t)b * n_out;
            for (int m = 0; m < n_out; m++)
                slot[m] = d[m] == 0.0f ? 0 : self->row_cursor[row_of[m]];
            continue;
        }
        int p = mem_off[b];
        for (int i = i0; i < i1; i++) {
            int r = rows[i - i0];
            self->grad_rows[i] = r;
            self->member_start[i] = p;
            p += self->row_cursor[r];
            self->row_cursor[r] = self->member_start[i];
            self->refs[r] = -self->refs[r] - 1; /* unmark */
        }
        for (int m = 0; m < n_out; m++) {
            if (d[m] == 0.0f)
                continue;
            int at = self->row_cursor[row_of[m]]++;
            self->member_m[at] = m;
            self->member_dv[at] = d[m];
        }
        /* members of a row are in ascending m: split each row by neuron block */
        for (int i = i0; i < i1; i++) {
            int *split = self->member_split + (size_t)i * (nmb + 1);
            int q = self->member_start[i], end = i + 1 < i1 ? self->member_start[i + 1] : mem_off[b + 1];
            for (int k = 0; k < nmb; k++) {
                while (q < end && self->member_m[q] < k * MBLOCK)
                    q++;
                split[k] = q;
            }
            split[nmb] = end;
        }
    }
    self->member_start[row_off[b1]] = mem_off[b1];
    self->n_grad_rows = row_off[b1];
}

/* Accumulators of a gradient summed over samples in parts (lif_layer_update_rows):
 * the first part starts from zero, later ones from what the earlier left in
 * grad_acc, so each weight's sum still runs over the samples in order. */
static inline void grad_acc_load(const trace_rule *self, int m, int c, float *acc)
{
    if (self->part_b0 == 0)
        memset(acc, 0, CHUNK * sizeof *acc);
    else
        memcpy(acc, self->grad_acc + ((size_t)m * self->n_chunks + c) * CHUNK, CHUNK * sizeof *acc);
}

/* The last part leaves the batch mean in grad_acc for optim_pass; the others the sum. */
static inline void grad_finish(trace_rule *self, int m, int c, const float *acc, float inv_batch)
{
    float *g = self->grad_acc + ((size_t)m * self->n_chunks + c) * CHUNK;
    if (self->part_b1 < self->batch) {
        memcpy(g, acc, CHUNK * sizeof *acc);
        return;
    }
    vecf v[CHUNK / VEC]; /* whole vectors: acc and g may alias as far as the compiler knows */
    memcpy(v, acc, sizeof v);
    for (int k = 0; k < CHUNK / VEC; k++)
        v[k] *= inv_batch;
    memcpy(g, v, sizeof v);
}

/* The optimiser over W row by row, in memory order (W, its moments and the
 * gradient stream through the cache; chunk by chunk they were strided). */
static void optim_pass(trace_rule *self)
{
    const int n_in = self->n_in;
#pragma omp parallel for schedule(static)
    for (int m = 0; m < self->n_out; m++)
        optim_apply(self->opt, self->optim, (size_t)m * n_in, self->w + (size_t)m * n_in,
                    self->grad_acc + (size_t)m * self->n_chunks * CHUNK, n_in);
}

/* The trace of row r over chunk c, as floats: H_b - k * snapshot in double. */
static inline void trace_eval(const trace_rule *self, int r, int c, float *t)
{
    const double *h = hist_row(self, r / self->rps) + c * CHUNK;
    const double *snap = trace_chunk(self, r, c);
    const double k = self->decay_pow[self->step - self->row_start[r]];
    for (int j = 0; j < CHUNK; j++)
        t[j] = (float)(h[j] - k * snap[j]);
}

/* The snapshots a trace_eval of row r over chunks [c, c + NC) reads, fetched
 * ahead: rows come in no memory order, so the hardware cannot guess them. */
static inline void trace_prefetch(const trace_rule *self, int r, int c, const int NC)
{
    for (int q = 0; q < NC; q++) {
        const double *snap = trace_chunk(self, r, c + q);
        __builtin_prefetch(snap);
        __builtin_prefetch(snap + 8);
    }
}

#define PREFETCH_ROWS 4 /* rows ahead: covers the latency of a miss at a row's cost */

/* Sparse errors: chunks [c, c + NC) of every neuron's gradient and the update of those
 * weights. The traces of all rows over the chunks are evaluated once into
 * traces; then, a block of MBLOCK neurons at a time, every row's members (in
 * sample order) are added into acc (MBLOCK x NC chunks, in L1). NC is a
 * constant at each call site, so a member costs one index and one dv load for
 * NC chunks of multiply-adds. */
static inline void grad_chunks_update(trace_rule *self, int c, float *acc, float *traces, const int NC)
{
    bool live = false;
    for (int q = 0; q < NC; q++)
        live |= self->chunk_live[c + q] != 0;
    const int n_rows = live ? self->n_grad_rows : 0, nmb = self->n_mblocks, W = NC * VPC;
    for (int i = 0; i < n_rows; i++) {
        if (i + PREFETCH_ROWS < n_rows)
            trace_prefetch(self, self->grad_rows[i + PREFETCH_ROWS], c, NC);
        for (int q = 0; q < NC; q++)
            trace_eval(self, self->grad_rows[i], c + q, traces + (i * NC + q) * CHUNK);
    }
    const float inv_batch = 1.0f / (float)self->batch;
    for (int mb = 0; mb < nmb; mb++) {
        const int lo = mb * MBLOCK, hi = lo + MBLOCK < self->n_out ? lo + MBLOCK : self->n_out;
        for (int m = lo; m < hi; m++)
            for (int q = 0; q < NC; q++)
                grad_acc_load(self, m, c + q, acc + ((m - lo) * NC + q) * CHUNK);
        for (int i = 0; i < n_rows; i++) {
            const int *split = self->member_split + (size_t)i * (nmb + 1);
            const vecf *e = (const vecf *)traces + i * W;
            for (int p = split[mb]; p < split[mb + 1]; p++) {
                vecf *a = (vecf *)acc + (self->member_m[p] - lo) * W;
                const float d = self->member_dv[p];
                for (int k = 0; k < W; k++)
                    a[k] += d * e[k];
            }
        }
        for (int m = lo; m < hi; m++)
            for (int q = 0; q < NC; q++)
                grad_finish(self, m, c + q, acc + ((m - lo) * NC + q) * CHUNK, inv_batch);
    }
}

/* The same for a dense dv (every neuron of every sample a member): neurons
 * go in groups of DENSE_GROUP whose accumulators stay in registers while
 * DENSE_SAMPLES samples are added, their traces (evaluated once per block of
 * samples into traces, slot 0 a zero trace) read from L1. Each weight's
 * gradient is still summed over samples in order. acc holds NC chunks for
 * every neuron. */
static inline void grad_chunks_dense(trace_rule *self, const float *dv, int c, float *acc, float *traces,
                                     const int NC)
{
    const int n_out = self->n_out, W = NC * VPC;
    bool live = false;
    for (int q = 0; q < NC; q++)
        live |= self->chunk_live[c + q] != 0;
    for (int m = 0; m < n_out; m++)
        for (int q = 0; q < NC; q++)
            grad_acc_load(self, m, c + q, acc + (m * NC + q) * CHUNK);
    vecf *accv = (vecf *)acc;
    const vecf *tv = (const vecf *)traces;
    for (int b0 = self->part_b0; live && b0 < self->part_b1; b0 += DENSE_SAMPLES) {
        const int b1 = b0 + DENSE_SAMPLES < self->part_b1 ? b0 + DENSE_SAMPLES : self->part_b1;
        const int i0 = self->sample_rows[b0], i1 = self->sample_rows[b1];
        memset(traces, 0, (size_t)NC * CHUNK * sizeof *traces);
        const int n_rows = self->sample_rows[self->part_b1];
        for (int i = i0; i < i1; i++) {
            if (i + PREFETCH_ROWS < n_rows)
                trace_prefetch(self, self->grad_rows[i + PREFETCH_ROWS], c, NC);
            for (int q = 0; q < NC; q++)
                trace_eval(self, self->grad_rows[i], c + q, traces + ((1 + i - i0) * NC + q) * CHUNK);
        }
        int m = 0;
        for (; m + DENSE_GROUP <= n_out; m += DENSE_GROUP) {
            vecf a[DENSE_GROUP][2 * VPC];
            for (int g = 0; g < DENSE_GROUP; g++)
                for (int k = 0; k < W; k++)
                    a[g][k] = accv[(m + g) * W + k];
            for (int b = b0; b < b1; b++) {
                const int *slot = self->member_slot + (size_t)b * n_out + m;
                const float *d = dv + (size_t)b * n_out + m;
                for (int g = 0; g < DENSE_GROUP; g++) {
                    const vecf *t = tv + slot[g] * W;
                    for (int k = 0; k < W; k++)
                        a[g][k] += d[g] * t[k];
                }
            }
            for (int g = 0; g < DENSE_GROUP; g++)
                for (int k = 0; k < W; k++)
                    accv[(m + g) * W + k] = a[g][k];
        }
        for (; m < n_out; m++)
            for (int b = b0; b < b1; b++) {
                const vecf *t = tv + self->member_slot[(size_t)b * n_out + m] * W;
                const float d = dv[(size_t)b * n_out + m];
                for (int k = 0; k < W; k++)
                    accv[m * W + k] += d * t[k];
            }
    }
    const float inv_batch = 1.0f / (float)self->batch;
    for (int m = 0; m < n_out; m++)
        for (int q = 0; q < NC; q++)
            grad_finish(self, m, c + q, acc + (m * NC + q) * CHUNK, inv_batch);
}

/* decay_pow[d] for d <= step: the factor of a snapshot d steps old. */
static int decay_pow_fill(trace_rule *self)
{
    int need = self->step + 1;
    if (self->decay_pow_len >= need)
        return 0;
    double *p = realloc(self->decay_pow, (size_t)need * 2 * sizeof *p);
    if (!p)
        return err_set("lif layer: out of memory");
    self->decay_pow = p;
    /* the shared variant's snapshots are zero, so any factor serves it */
    const double keep = 1.0f - self->lif.leak;
    p[0] = 1.0;
    for (int d = 1; d < need * 2; d++)
        p[d] = p[d - 1] * keep;
    self->decay_pow_len = need * 2;
    if (self->events) {
        float *f = realloc(self->ev_decay, (size_t)need * 2 * sizeof *f);
        if (!f)
            return err_set("lif layer: out of memory");
        for (int d = 0; d < need * 2; d++)
            f[d] = (float)p[d];
        self->ev_decay = f;
    }
    return 0;
}

/* The rows kernel's work per error and input, in events-kernel additions:
 * AUTO's exchange rate (measured, docs/results.md) */
#define ROWS_COST 2

/* rows_from_events for sample b: its history, rows and row_of; x holds
 * (t + 1) x n_in inputs, row_at t + 1 ints; live marks the chunks it saw. */
static void sample_rows_from_events(trace_rule *self, int b, int t, float *x, int *row_at, uint8_t *live)
{
    const int n_out = self->n_out, n_in = self->n_in;
    const double decay = 1.0f - self->lif.leak; /* hist_update's */
    const int *start = self->ev_start + (size_t)b * n_out;
    trace_events_inputs(self->events, b, t, x);
    for (int s = 0; s <= t; s++)
        row_at[s] = -1;
    for (int m = 0; m < n_out; m++)
        row_at[start[m]] = -2; /* a row to take at that step */
    double *h = hist_row(self, b);
    memset(h, 0, (size_t)self->n_chunks * CHUNK * sizeof *h);
    self->used[b] = self->n_free[b] = 0;
    for (int s = 0; s <= t; s++) {
        if (row_at[s] == -2) {
            const int r = b * self->rps + self->used[b]++;
            for (int c = 0; c < self->n_chunks; c++)
                memcpy(trace_chunk(self, r, c), h + c * CHUNK, CHUNK * sizeof *h);
            self->row_start[r] = s;
            self->refs[r] = 0;
            row_at[s] = r;
        }
        const float *xs = x + (size_t)s * n_in;
        for (int j = 0; j < n_in; j++) {
            h[j] = decay * h[j] + xs[j];
            live[j / CHUNK] |= xs[j] != 0.0f;
        }
    }
    for (int m = 0; m < n_out; m++) {
        const int r = row_at[start[m]];
        self->row_of[(size_t)b * n_out + m] = r;
        self->refs[r]++;
    }
}

/* AUTO's change to the rows at step t = step - 1: the rows and histories the
 * rows kernel would have kept since the batch began, rebuilt from the
 * recorded events by the recurrences of hist_update and row_take (the same
 * values). Rows are numbered afresh; no kernel's bits depend on numbers. */
static int rows_from_events(trace_rule *self)
{
    const int t = self->step - 1, n_out = self->n_out, n_in = self->n_in, nt = omp_get_max_threads();
    float *x = malloc((size_t)nt * (t + 1) * n_in * sizeof *x);
    int *row_at = malloc((size_t)nt * (t + 1) * sizeof *row_at);
    uint8_t *live = calloc((size_t)nt, (size_t)self->n_chunks);
    if (!x || !row_at || !live)
        goto oom;
    int rps = self->rps;
    for (int b = 0; b < self->batch; b++) {
        int n = 0;
        memset(row_at, 0, (size_t)(t + 1) * sizeof *row_at);
        for (int m = 0; m < n_out; m++)
            n += row_at[self->ev_start[(size_t)b * n_out + m]]++ == 0;
        while (rps < n)
            rps *= 2;
    }
    if (rps != self->rps && pool_reshape(self, rps, 0) != 0)
        goto oom;
    /* samples own their rows: in parallel, each thread with its scratch */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < self->batch; b++) {
        const int tid = omp_get_thread_num();
        float *xb = x + (size_t)tid * (t + 1) * n_in;
        int *at = row_at + (size_t)tid * (t + 1);
        sample_rows_from_events(self, b, t, xb, at, live + (size_t)tid * self->n_chunks);
    }
    memset(self->chunk_live, 0, (size_t)self->n_chunks);
    for (int k = 0; k < nt; k++)
        for (int c = 0; c < self->n_chunks; c++)
            self->chunk_live[c] |= live[(size_t)k * self->n_chunks + c];
    free(x);
    free(row_at);
    free(live);
    self->events_batch = false;
    return 0;
oom:
    free(x);
    free(row_at);
    free(live);
    return err_set("lif layer: out of memory for the trace rows of %d steps", t + 1);
}

/* The events kernel for samples part_b0..part_b1-1: threads split the
 * neurons (whole vectors), each adds its neurons' gradient over every input
 * in its own buffer, then updates those weights row by row. */
static int grad_events(trace_rule *self, const float *dv)
{
    const int n_out = self->n_out, n_in = self->n_in, t = self->step - 1;
    const int b0 = self->part_b0, b1 = self->part_b1;
    const size_t a_need = trace_events_scratch(t);
    if (a_need > self->ev_a_cap) {
        free(self->ev_a);
        self->ev_a_cap = a_need * 2;
        if (!(self->ev_a = aligned_alloc(64, (size_t)omp_get_max_threads() * self->ev_a_cap * sizeof(float)))) {
            self->ev_a_cap = 0;
            return err_set("lif layer: out of memory for the events kernel");
        }
    }
    const float inv_batch = 1.0f / (float)self->batch;
    const int width = trace_events_width(), most = trace_events_max_neurons();
    const int n_vec = (n_out + width - 1) / width;
#pragma omp parallel
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        float *g = self->ev_g + (size_t)tid * n_in * most, *a = self->ev_a + (size_t)tid * self->ev_a_cap;
        float acc[CHUNK];
        /* this thread's vectors of neurons, in passes of at most `most` neurons */
        const int v0 = n_vec * tid / nt, nv = n_vec * (tid + 1) / nt - v0;
        const int passes = (nv * width + most - 1) / most;
        for (int p = 0; p < passes; p++) {
            const int m0 = (v0 + nv * p / passes) * width, m1 = (v0 + nv * (p + 1) / passes) * width;
            const int nm = (m1 < n_out ? m1 : n_out) - m0;
            if (b0 == 0) {
                memset(g, 0, (size_t)n_in * most * sizeof *g);
            } else {
                for (int m = m0; m < m0 + nm; m++)
                    for (int j = 0; j < n_in; j++)
                        g[(size_t)j * most + m - m0] = self->grad_acc[(size_t)m * self->n_chunks * CHUNK + j];
            }
            trace_events_add(self->events, dv, self->ev_start, self->ev_decay, t, b0, b1, m0, nm, g,
                             most, a);
            for (int m = m0; m < m0 + nm; m++)
                for (int c = 0; c < self->n_chunks; c++) {
                    for (int k = 0; k < CHUNK; k++) {
                        const int j = c * CHUNK + k;
                        acc[k] = j < n_in ? g[(size_t)j * most + m - m0] : 0.0f;
                    }
                    grad_finish(self, m, c, acc, inv_batch);
                }
        }
    }
    return 0;
}

static int grad_rows(trace_rule *self, const float *dv);

int trace_rule_update_rows(trace_rule *self, const float *dv, int b0, int b1, float *w,
                           const optim_params *opt, optim_state *optim)
{
    const int expect = self->part_b1 < self->batch ? self->part_b1 : 0;
    if (b0 != expect || b1 <= b0 || b1 > self->batch || (b1 < self->batch && b1 % DENSE_SAMPLES))
        return err_set("lif layer: update of samples %d..%d, expected a part from %d to a "
                       "multiple of %d or %d", b0, b1 - 1, expect, DENSE_SAMPLES, self->batch);
    if (!self->grad_acc &&
        !(self->grad_acc = aligned_alloc(64, (size_t)self->n_out * self->n_chunks * CHUNK * sizeof(float))))
        return err_set("lif layer: out of memory for the gradient of a layer %d -> %d", self->n_in, self->n_out);
    if (b0 == 0) {
        if (decay_pow_fill(self) != 0)
            return -1;
        optim_state_begin_step(optim, opt);
        if (self->events_batch && self->kernel == TRACE_KERNEL_AUTO &&
            self->inputs_seen > (long)ROWS_COST * self->batch * self->n_in && rows_from_events(self) != 0)
            return -1;
        self->steps_by[self->events_batch]++;
    }
    self->w = w;
    self->opt = opt;
    self->optim = optim;
    self->part_b0 = b0;
    self->part_b1 = b1;
    if (self->events_batch ? grad_events(self, dv) != 0 : grad_rows(self, dv) != 0)
        return -1;
    if (b1 == self->batch)
        optim_pass(self);
    return 0;
}

/* The shared trace's product at the batch's last part, dv^T H / batch: a
 * masked error (the output layer's: ~90% zeros) by its nonzero entries, each
 * neuron's row a sum over its samples in order; a dense one by one
 * blas_sgemm whose blocks are fixed by the shapes. Either way the same bits
 * for any split into parts, thread count and process layout. */
static int shared_product(trace_rule *self)
{
    const int n_out = self->n_out, batch = self->batch, nc = self->n_chunks * CHUNK;
    const float inv_batch = 1.0f / (float)batch;
    const float *dv = self->shared_dv;
    float *dvt = self->shared_dvt;
    long nonzero = 0;
#pragma omp parallel for schedule(static) reduction(+ : nonzero) if ((size_t)batch * n_out > 16384)
    for (int m = 0; m < n_out; m++)
        for (int b = 0; b < batch; b++) {
            const float d = dv[(size_t)b * n_out + m];
            dvt[(size_t)m * batch + b] = d * inv_batch;
            nonzero += d != 0.0f;
        }
    if ((double)nonzero < SHARED_SPARSE * (double)batch * n_out) {
        if (sparse_rows_product(dvt, n_out, batch, self->shared_h, nc, self->grad_acc, (size_t)nonzero) < 0)
            return err_set("lif layer: out of memory for the gradient of a layer %d -> %d", self->n_in, n_out);
        self->sparse_steps++;
        return 0;
    }
    blas_sgemm(true, false, n_out, nc, batch, inv_batch, dv, n_out, self->shared_h, nc, 0.0f, self->grad_acc,
               nc);
    return 0;
}

/* The shared trace (the authors' variant): every neuron of sample b has the
 * trace H_b, so the gradient is the product dv^T H / batch. The parts keep
 * their rows of dv and H; the last one makes the product over the whole
 * batch (shared_product). */
static int grad_shared(trace_rule *self, const float *dv)
{
    const int b0 = self->part_b0, b1 = self->part_b1, nc = self->n_chunks * CHUNK;
    if (!self->shared_h)
        self->shared_h = malloc((size_t)self->max_batch * nc * sizeof(float));
    if (!self->shared_dv)
        self->shared_dv = malloc((size_t)self->max_batch * self->n_out * sizeof(float));
    if (!self->shared_dvt)
        self->shared_dvt = malloc((size_t)self->max_batch * self->n_out * sizeof(float));
    if (!self->shared_h || !self->shared_dv || !self->shared_dvt)
        return err_set("lif layer: out of memory for the shared traces of a layer %d -> %d", self->n_in,
                       self->n_out);
    float *h = self->shared_h;
#pragma omp parallel for schedule(static) if ((size_t)(b1 - b0) * nc > 32768)
    for (int b = b0; b < b1; b++) {
        const double *hb = hist_row(self, b);
        for (int j = 0; j < nc; j++)
            h[(size_t)b * nc + j] = (float)hb[j];
    }
    memcpy(self->shared_dv + (size_t)b0 * self->n_out, dv + (size_t)b0 * self->n_out,
           (size_t)(b1 - b0) * self->n_out * sizeof(float));
    return b1 == self->batch ? shared_product(self) : 0;
}

/* The rows kernels for samples part_b0..part_b1-1. */
static int grad_rows(trace_rule *self, const float *dv)
{
    if (self->lif.trace == TRACE_SHARED)
        return grad_shared(self, dv);
    gradient_lists(self, dv, self->part_b0, self->part_b1);
    /* threads split the columns: each owns its accumulators and its weights */
#pragma omp parallel
    {
        int tid = omp_get_thread_num();
        const int n_acc = self->n_out > MBLOCK ? self->n_out : MBLOCK;
        float *acc = self->acc + (size_t)tid * n_acc * 2 * CHUNK;
        float *traces = self->trace_buf + (size_t)tid * (self->pool_cap + 1) * 2 * CHUNK; /* + the dense kernel's zero trace */
        const int pairs = self->n_chunks / 2;
#pragma omp for schedule(static)
        for (int c2 = 0; c2 < pairs; c2++) {
            if (self->dense_grad)
                grad_chunks_dense(self, dv, 2 * c2, acc, traces, 2);
            else
                grad_chunks_update(self, 2 * c2, acc, traces, 2);
        }
        if (self->n_chunks % 2 && omp_get_thread_num() == 0) {
            if (self->dense_grad)
                grad_chunks_dense(self, dv, self->n_chunks - 1, acc, traces, 1);
            else
                grad_chunks_update(self, self->n_chunks - 1, acc, traces, 1);
        }
    }
    return 0;
}

void trace_rule_kernel_steps(const trace_rule *self, long *rows, long *events, long *sparse)
{
    *rows = self->steps_by[0];
    *events = self->steps_by[1];
    *sparse = self->sparse_steps;
}
