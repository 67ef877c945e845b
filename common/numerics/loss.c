/* loss: masked membrane-potential loss (see include/loss.h). */
#include "numerics/loss.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* 16 lanes as one value (GCC/clang vector extension); comparisons give
 * 0 / -1 per lane. Element-wise, so each lane's arithmetic is the scalar one. */
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

/* One group of 16 entries (j0..j0+15) of a sample: dv, e^2 into lane, and the
 * counts (masked out, output and target spikes) into their lanes. The tail
 * of a sample comes zero-padded through the same code. */
static inline void loss_group(const float *vb, const float *sb, const float *tb, float *db, float vth,
                              vi16 unmasked, vf16 *lane, vi16 *mk, vi16 *o, vi16 *tg)
{
    vf16 t, sp, v;
    memcpy(&t, tb, sizeof t);
    memcpy(&sp, sb, sizeof sp);
    memcpy(&v, vb, sizeof v);
    const vi16 want = t != 0.0f, got = sp != 0.0f, keep = unmasked | (want ^ got);
    vf16 e = vth * t - v;
    e = (vf16)((vi16)e & keep); /* +0 where masked, as the scalar select */
    const vf16 d = -e;
    memcpy(db, &d, sizeof d);
    *lane += e * e;
    *mk += 1 + keep; /* keep is -1 or 0 */
    *o -= got;
    *tg -= want;
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
        const vi16 unmasked = mask ? (vi16){0} : (vi16){0} - 1;
        vf16 lane = {0};
        vi16 mk = {0}, o = {0}, tg = {0};
        const float *vb = v + (size_t)b * n, *sb = spikes + (size_t)b * n, *tb = target + (size_t)b * n;
        float *db = dv + (size_t)b * n;
        const int full = n / 16 * 16;
        for (int i = 0; i < full; i += 16)
            loss_group(vb + i, sb + i, tb + i, db + i, vth, unmasked, &lane, &mk, &o, &tg);
        if (full < n) {
            /* the tail, zero-padded: a padded entry adds 0 to every sum but
             * the masked count, which is taken back */
            float pv[16] = {0}, ps[16] = {0}, pt[16] = {0}, pd[16];
            memcpy(pv, vb + full, (size_t)(n - full) * sizeof *pv);
            memcpy(ps, sb + full, (size_t)(n - full) * sizeof *ps);
            memcpy(pt, tb + full, (size_t)(n - full) * sizeof *pt);
            loss_group(pv, ps, pt, pd, vth, unmasked, &lane, &mk, &o, &tg);
            memcpy(db + full, pd, (size_t)(n - full) * sizeof *pd);
            if (mask)
                masked -= 16 - (n - full);
        }
        for (int k = 0; k < 16; k++) {
            masked += mk[k];
            out += o[k];
            tgt += tg[k];
        }
        double l = 0;
        for (int k = 0; k < 16; k++)
            l += 0.5 * (double)lane[k];
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

double loss_stats_mean(const loss_stats *s)
{
    return s->sample_steps ? s->loss / (double)s->sample_steps : 0.0;
}

double loss_stats_masked_fraction(const loss_stats *s)
{
    return s->entries ? (double)s->masked_out / (double)s->entries : 0.0;
}
