/* trace_events: the traces' gradient from the input events (see
 * include/numerics/trace_events.h).
 *
 * Invariant: the events of block k and input j are the list
 * event[(k * n_in + j) * steps_cap + e], e < n_events[k * n_in + j], in step
 * order, each (s << 8 | bits) with bit i set when sample 8k + i had a
 * nonzero input j at step s of this batch (no entry when no sample had),
 * and VALUES set when some input of step s was not 1: then value[s] holds
 * that step's inputs (batch x n_in) and each event adds x A_s[b, :]. */

#define VALUES 0x80000000u
#define EVENT_STEP(e) ((int)(((e) & ~VALUES) >> 8))
#include "numerics/trace_events.h"

#include "core/err.h"
#include "numerics/vecf.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* vectors of accumulators held in registers: all but two of the CPU's 16
 * (AVX2) or 32 (AVX-512); the row added is a memory operand */
#if VEC == 16
#define MAX_VECS 28
#else
#define MAX_VECS 14
#endif

struct trace_events {
    int n_in, n_out, max_batch, n_blocks;
    int steps_cap;   /* steps the arrays below hold */
    uint32_t *event; /* n_blocks x n_in x steps_cap */
    int *n_events;   /* n_blocks x n_in */
    float **value;   /* per step: NULL, or its inputs where some are not 0 or 1 */
    uint8_t *bits;   /* per thread: n_in bytes of record's scratch */
};

trace_events *trace_events_new(int n_in, int n_out, int max_batch)
{
    trace_events *self = calloc(1, sizeof *self);
    if (!self)
        return err_set("input events of a layer %d -> %d: out of memory", n_in, n_out), NULL;
    self->n_in = n_in;
    self->n_out = n_out;
    self->max_batch = max_batch;
    self->n_blocks = (max_batch + TRACE_EVENTS_BLOCK - 1) / TRACE_EVENTS_BLOCK;
    self->n_events = calloc((size_t)self->n_blocks * n_in, sizeof *self->n_events);
    self->bits = malloc((size_t)omp_get_max_threads() * n_in);
    if (!self->n_events || !self->bits) {
        free(self->n_events);
        free(self->bits);
        free(self);
        return err_set("input events of a layer %d -> %d: out of memory", n_in, n_out), NULL;
    }
    return self;
}

void trace_events_destroy(trace_events **self_p)
{
    trace_events *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->event);
    free(self->n_events);
    free(self->bits);
    for (int s = 0; s < self->steps_cap; s++)
        free(self->value[s]);
    free(self->value);
    free(self);
    *self_p = NULL;
}

void trace_events_begin_batch(trace_events *self, int batch)
{
    (void)batch;
    memset(self->n_events, 0, (size_t)self->n_blocks * self->n_in * sizeof *self->n_events);
}

static int steps_room(trace_events *self, int steps)
{
    if (steps <= self->steps_cap)
        return 0;
    int cap = self->steps_cap ? self->steps_cap * 2 : 16;
    while (cap < steps)
        cap *= 2;
    const size_t lists = (size_t)self->n_blocks * self->n_in;
    uint32_t *event = malloc(lists * cap * sizeof *event);
    if (event && self->event)
        for (size_t l = 0; l < lists; l++)
            memcpy(event + l * cap, self->event + l * self->steps_cap,
                   (size_t)self->n_events[l] * sizeof *event);
    if (event) {
        free(self->event);
        self->event = event;
    }
    float **value = realloc(self->value, (size_t)cap * sizeof *value);
    if (value) {
        self->value = value;
        for (int s = self->steps_cap; s < cap; s++)
            value[s] = NULL;
    }
    if (!event || !value)
        return err_set("input events of %d steps x %d inputs: out of memory", cap, self->n_in);
    self->steps_cap = cap;
    return 0;
}

/* Appends step s's events of block k's samples [i0, i1) to their lists;
 * flag: VALUES or 0. bits: n_in bytes of scratch. */
static void block_record(trace_events *self, const float *input, int s, int k, int i0, int i1,
                         uint32_t flag, uint8_t *bits)
{
    const int n_in = self->n_in, cap = self->steps_cap;
    memset(bits, 0, (size_t)n_in);
    for (int i = i0; i < i1; i++) { /* row by row: the compiler vectorises it */
        const float *x = input + (size_t)(k * TRACE_EVENTS_BLOCK + i) * n_in;
        const uint8_t bit = (uint8_t)(1u << i);
        for (int j = 0; j < n_in; j++)
            bits[j] |= x[j] != 0.0f ? bit : 0;
    }
    for (int j = 0; j < n_in; j++) {
        if (!bits[j])
            continue;
        const size_t l = (size_t)k * n_in + j;
        uint32_t *list = self->event + l * cap;
        const int n = self->n_events[l];
        if (n > 0 && EVENT_STEP(list[n - 1]) == s) /* the block's other part */
            list[n - 1] |= bits[j] | flag;
        else
            list[self->n_events[l]++] = (uint32_t)s << 8 | bits[j] | flag;
    }
}

/* The inputs of step s's earlier parts, samples [0, b0): they were 0 or 1,
 * so their events say them. */
static void values_from_events(trace_events *self, int s, int b0)
{
    const int n_in = self->n_in, cap = self->steps_cap;
    float *x = self->value[s];
    memset(x, 0, (size_t)b0 * n_in * sizeof *x);
    for (int k = 0; k * TRACE_EVENTS_BLOCK < b0; k++)
        for (int j = 0; j < n_in; j++) {
            const size_t l = (size_t)k * n_in + j;
            const int n = self->n_events[l];
            const uint32_t e = n > 0 ? self->event[l * cap + n - 1] : 0;
            if (n == 0 || EVENT_STEP(e) != s)
                continue;
            for (unsigned bits = e & 0xff; bits; bits &= bits - 1) {
                const int b = k * TRACE_EVENTS_BLOCK + __builtin_ctz(bits);
                if (b < b0)
                    x[(size_t)b * n_in + j] = 1.0f;
            }
        }
}

/* The nonzero inputs of samples [b0, b1) and whether all are 0 or 1: one
 * pass, rows in parallel (integer sums: the same for any thread count). */
static bool inputs_scan(const trace_events *self, const float *input, int b0, int b1, long *nonzero)
{
    const int n_in = self->n_in;
    long nz = 0;
    int binary = 1;
#pragma omp parallel for schedule(static) reduction(+ : nz) reduction(& : binary) \
    if ((size_t)(b1 - b0) * n_in > 32768)
    for (int b = b0; b < b1; b++) {
        const float *x = input + (size_t)b * n_in;
        int k = 0, bin = 1;
        for (int j = 0; j < n_in; j++) {
            k += x[j] != 0.0f;
            bin &= x[j] == 0.0f || x[j] == 1.0f;
        }
        nz += k;
        binary &= bin;
    }
    *nonzero = nz;
    return binary;
}

/* A step whose inputs are not all 0 or 1 keeps them, all of its samples. */
static int values_keep(trace_events *self, const float *input, bool binary, int step, int b0, int b1)
{
    const int n_in = self->n_in;
    if (binary && !self->value[step])
        return 0;
    if (!self->value[step]) {
        if (!(self->value[step] = malloc((size_t)self->max_batch * n_in * sizeof(float))))
            return err_set("input events: out of memory for the inputs of a step");
        values_from_events(self, step, b0);
    }
    memcpy(self->value[step] + (size_t)b0 * n_in, input + (size_t)b0 * n_in,
           (size_t)(b1 - b0) * n_in * sizeof(float));
    return 0;
}

int trace_events_record(trace_events *self, const float *input, int step, int b0, int b1, long *nonzero)
{
    if (step > 0x7fffff)
        return err_set("input events: more than %d steps in a batch", 0x7fffff);
    if (steps_room(self, step + 1) != 0)
        return -1;
    if (b0 == 0) {
        free(self->value[step]);
        self->value[step] = NULL;
    }
    const bool binary = inputs_scan(self, input, b0, b1, nonzero);
    if (values_keep(self, input, binary, step, b0, b1) != 0)
        return -1;
    const uint32_t flag = self->value[step] ? VALUES : 0;
    const int k0 = b0 / TRACE_EVENTS_BLOCK, k1 = (b1 + TRACE_EVENTS_BLOCK - 1) / TRACE_EVENTS_BLOCK;
    /* blocks own their lists: in parallel, each thread with its scratch */
#pragma omp parallel if ((size_t)(b1 - b0) * self->n_in > 32768)
    {
        uint8_t *bits = self->bits + (size_t)omp_get_thread_num() * self->n_in;
#pragma omp for schedule(static)
        for (int k = k0; k < k1; k++) {
            const int base = k * TRACE_EVENTS_BLOCK;
            block_record(self, input, step, k, b0 > base ? b0 - base : 0,
                         b1 - base < TRACE_EVENTS_BLOCK ? b1 - base : TRACE_EVENTS_BLOCK, flag, bits);
        }
    }
    return 0;
}

int trace_events_width(void) { return VEC; }
int trace_events_max_neurons(void) { return MAX_VECS * VEC; }
size_t trace_events_scratch(int t) { return (size_t)(t + 1) * TRACE_EVENTS_BLOCK * MAX_VECS * VEC; }

typedef int veci __attribute__((vector_size(VEC * sizeof(int))));

/* The coefficients of block k for neurons [m0, m0 + nm): a holds, for steps
 * s0..t and the block's samples i, the row A_s[8k + i, :] (width floats, a
 * multiple of VEC, zero past nm). Returns s0, the first step with a nonzero
 * coefficient, or -1 when the block has none. */
static int block_coefficients(const trace_events *self, const float *dv, const int *start,
                              const float *decay, int t, int k, int b1, int m0, int nm, int width,
                              float *a)
{
    const int n_out = self->n_out, nv = width / VEC;
    const int i1 = b1 - k * TRACE_EVENTS_BLOCK < TRACE_EVENTS_BLOCK ? b1 - k * TRACE_EVENTS_BLOCK
                                                                      : TRACE_EVENTS_BLOCK;
    /* per sample: dv and start padded to whole vectors (start t + 1: never) */
    vecf d[TRACE_EVENTS_BLOCK][MAX_VECS];
    veci st[TRACE_EVENTS_BLOCK][MAX_VECS];
    int s0 = t + 1;
    for (int i = 0; i < TRACE_EVENTS_BLOCK; i++) {
        const size_t at = (size_t)(k * TRACE_EVENTS_BLOCK + i) * n_out + m0;
        for (int m = 0; m < width; m++) {
            const bool on = i < i1 && m < nm && dv[at + m] != 0.0f;
            d[i][m / VEC][m % VEC] = on ? dv[at + m] : 0.0f;
            st[i][m / VEC][m % VEC] = on ? start[at + m] : t + 1;
            if (on && start[at + m] < s0)
                s0 = start[at + m];
        }
    }
    if (s0 > t)
        return -1;
    vecf *row = (vecf *)a;
    for (int s = s0; s <= t; s++) {
        const float f = decay[t - s];
        for (int i = 0; i < TRACE_EVENTS_BLOCK; i++)
            for (int v = 0; v < nv; v++, row++) {
                const veci keep = st[i][v] <= s; /* all ones where the trace runs at s */
                *row = (vecf)((veci)(d[i][v] * f) & keep);
            }
    }
    return s0;
}

/* g[j, :] += A_s[b, :] for every input j of block k that was on at step s,
 * s0 <= s <= t, with NV vectors of accumulators held in registers per input. */
static inline __attribute__((always_inline)) void block_add(const trace_events *self, int k, int s0,
                                                            const float *a, float *g, int g_stride,
                                                            const int NV)
{
    const int n_in = self->n_in, cap = self->steps_cap;
    const vecf *av = (const vecf *)a;
    for (int j = 0; j < n_in; j++) {
        const size_t l = (size_t)k * n_in + j;
        const uint32_t *e = self->event + l * cap, *end = e + self->n_events[l];
        while (e < end && EVENT_STEP(*e) < s0)
            e++;
        if (e == end)
            continue;
        vecf acc[MAX_VECS];
        vecf *gj = (vecf *)(g + (size_t)j * g_stride);
        for (int v = 0; v < NV; v++)
            acc[v] = gj[v];
        for (; e < end; e++) {
            const int s = EVENT_STEP(*e);
            const vecf *as = av + (size_t)(s - s0) * TRACE_EVENTS_BLOCK * NV;
            if (*e & VALUES) {
                for (unsigned bits = *e & 0xff; bits; bits &= bits - 1) {
                    const int i = __builtin_ctz(bits);
                    const float x = self->value[s][(size_t)(k * TRACE_EVENTS_BLOCK + i) * n_in + j];
                    for (int v = 0; v < NV; v++)
                        acc[v] += x * as[i * NV + v];
                }
                continue;
            }
            for (unsigned bits = *e & 0xff; bits; bits &= bits - 1) {
                const vecf *row = as + __builtin_ctz(bits) * NV;
                for (int v = 0; v < NV; v++)
                    acc[v] += row[v];
            }
        }
        for (int v = 0; v < NV; v++)
            gj[v] = acc[v];
    }
}

#define BLOCK_ADD_CASE(n) \
    case n: block_add(self, k, s0, a, g, g_stride, n); break;

void trace_events_add(const trace_events *self, const float *dv, const int *start,
                      const float *decay, int t, int b0, int b1, int m0, int nm, float *g,
                      int g_stride, float *a)
{
    const int nv = (nm + VEC - 1) / VEC;
    for (int k = b0 / TRACE_EVENTS_BLOCK; k * TRACE_EVENTS_BLOCK < b1; k++) {
        const int s0 = block_coefficients(self, dv, start, decay, t, k, b1, m0, nm, nv * VEC, a);
        if (s0 < 0)
            continue;
        switch (nv) { /* a constant count per call keeps the accumulators in registers */
            BLOCK_ADD_CASE(1) BLOCK_ADD_CASE(2) BLOCK_ADD_CASE(3) BLOCK_ADD_CASE(4)
            BLOCK_ADD_CASE(5) BLOCK_ADD_CASE(6) BLOCK_ADD_CASE(7) BLOCK_ADD_CASE(8)
            BLOCK_ADD_CASE(9) BLOCK_ADD_CASE(10) BLOCK_ADD_CASE(11) BLOCK_ADD_CASE(12)
            BLOCK_ADD_CASE(13) BLOCK_ADD_CASE(14)
#if MAX_VECS > 14
            BLOCK_ADD_CASE(15) BLOCK_ADD_CASE(16) BLOCK_ADD_CASE(17) BLOCK_ADD_CASE(18)
            BLOCK_ADD_CASE(19) BLOCK_ADD_CASE(20) BLOCK_ADD_CASE(21) BLOCK_ADD_CASE(22)
            BLOCK_ADD_CASE(23) BLOCK_ADD_CASE(24) BLOCK_ADD_CASE(25) BLOCK_ADD_CASE(26)
            BLOCK_ADD_CASE(27) BLOCK_ADD_CASE(28)
#endif
        default: break;
        }
    }
}

void trace_events_inputs(const trace_events *self, int b, int t, float *x)
{
    const int n_in = self->n_in, k = b / TRACE_EVENTS_BLOCK, i = b % TRACE_EVENTS_BLOCK;
    memset(x, 0, (size_t)(t + 1) * n_in * sizeof *x);
    for (int j = 0; j < n_in; j++) {
        const size_t l = (size_t)k * n_in + j;
        const uint32_t *e = self->event + l * self->steps_cap, *end = e + self->n_events[l];
        for (; e < end && EVENT_STEP(*e) <= t; e++) {
            if (!(*e >> i & 1))
                continue;
            const int s = EVENT_STEP(*e);
            x[(size_t)s * n_in + j] = *e & VALUES ? self->value[s][(size_t)b * n_in + j] : 1.0f;
        }
    }
}
