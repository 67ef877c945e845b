/* loss: masked membrane-potential loss (see include/loss.h). */
#include "numerics/loss.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* 8 lanes as one value (GCC/clang vector extension, one AVX2 register: wider
 * ones are lowered to scalar code for comparisons); comparisons give 0 / -1
 * per lane. Element-wise, so each lane's arithmetic is the scalar one. */
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));

/* The sums of one sample, in 16 lanes: two vectors of 8. */
typedef struct {
    vf8 e2[2];
    vi8 masked[2], out[2], tgt[2];
} loss_lanes;

/* One group of 16 entries of a sample: dv, e^2 and the counts (masked out,
 * output and target spikes) into their lanes. The tail of a sample comes
 * zero-padded through the same code. */
static inline void loss_group(const float *vb, const float *sb, const float *tb, float *db, float vth,
                              vi8 unmasked, loss_lanes *l)
{
    for (int h = 0; h < 2; h++) {
        vf8 t, sp, v;
        memcpy(&t, tb + 8 * h, sizeof t);
        memcpy(&sp, sb + 8 * h, sizeof sp);
        memcpy(&v, vb + 8 * h, sizeof v);
        const vi8 want = t != 0.0f, got = sp != 0.0f, keep = unmasked | (want ^ got);
        vf8 e = vth * t - v;
        e = (vf8)((vi8)e & keep); /* +0 where masked, as the scalar select */
        const vf8 d = -e;
        memcpy(db + 8 * h, &d, sizeof d);
        l->e2[h] += e * e;
        l->masked[h] += 1 + keep; /* keep is -1 or 0 */
        l->out[h] -= got;
        l->tgt[h] -= want;
    }
}

void loss_membrane(const float *v, const float *spikes, const float *target, int batch, int n,
                   float vth, bool mask, float *dv, loss_stats *stats)
{
    double loss = 0;
    int64_t masked = 0, out = 0, tgt = 0;
    const size_t total = (size_t)batch * n;
    /* per-sample sums, added in sample order: the same loss for any thread count */
    double part_stack[256], *part = batch <= 256 ? part_stack : malloc((size_t)batch * sizeof *part);
#pragma omp parallel for schedule(static) reduction(+ : masked, out, tgt) if (total > 16384 && part)
    for (int b = 0; b < batch; b++) {
        /* branch-free (whether an entry is masked is a coin toss), and e^2
         * summed in 16 float lanes, added up in a fixed order: vectorised,
         * and the same sum on every machine */
        const vi8 unmasked = mask ? (vi8){0} : (vi8){0} - 1;
        loss_lanes ln = {0};
        const float *vb = v + (size_t)b * n, *sb = spikes + (size_t)b * n, *tb = target + (size_t)b * n;
        float *db = dv + (size_t)b * n;
        const int full = n / 16 * 16;
        for (int i = 0; i < full; i += 16)
            loss_group(vb + i, sb + i, tb + i, db + i, vth, unmasked, &ln);
        if (full < n) {
            /* the tail, zero-padded: a padded entry adds 0 to every sum but
             * the masked count, which is taken back */
            float pv[16] = {0}, ps[16] = {0}, pt[16] = {0}, pd[16];
            memcpy(pv, vb + full, (size_t)(n - full) * sizeof *pv);
            memcpy(ps, sb + full, (size_t)(n - full) * sizeof *ps);
            memcpy(pt, tb + full, (size_t)(n - full) * sizeof *pt);
            loss_group(pv, ps, pt, pd, vth, unmasked, &ln);
            memcpy(db + full, pd, (size_t)(n - full) * sizeof *pd);
            if (mask)
                masked -= 16 - (n - full);
        }
        double l = 0;
        for (int k = 0; k < 16; k++) {
            masked += ln.masked[k / 8][k % 8];
            out += ln.out[k / 8][k % 8];
            tgt += ln.tgt[k / 8][k % 8];
            l += 0.5 * (double)ln.e2[k / 8][k % 8];
        }
        if (part)
            part[b] = l;
        else
            loss += l; /* no memory for the parts: serial, in order */
    }
    for (int b = 0; part && b < batch; b++)
        loss += part[b];
    if (part != part_stack)
        free(part);
    if (stats) {
        stats->loss += loss;
        stats->entries += (int64_t)total;
        stats->masked_out += masked;
        stats->out_spikes += out;
        stats->target_spikes += tgt;
        stats->sample_steps += batch;
    }
}

loss_stats loss_stats_since(const loss_stats *now, const loss_stats *before)
{
    return (loss_stats){.loss = now->loss - before->loss,
                        .entries = now->entries - before->entries,
                        .masked_out = now->masked_out - before->masked_out,
                        .out_spikes = now->out_spikes - before->out_spikes,
                        .target_spikes = now->target_spikes - before->target_spikes,
                        .sample_steps = now->sample_steps - before->sample_steps};
}

double loss_stats_mean(const loss_stats *s)
{
    return s->sample_steps ? s->loss / (double)s->sample_steps : 0.0;
}

double loss_stats_masked_fraction(const loss_stats *s)
{
    return s->entries ? (double)s->masked_out / (double)s->entries : 0.0;
}
