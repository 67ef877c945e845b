/* loss: masked membrane-potential loss (see include/loss.h). */
#include "numerics/loss.h"

#include <stddef.h>
#include <stdlib.h>

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
        float lane[16] = {0};
        int32_t mk[16] = {0}, o[16] = {0}, tg[16] = {0};
        const float *vb = v + (size_t)b * n, *sb = spikes + (size_t)b * n, *tb = target + (size_t)b * n;
        float *db = dv + (size_t)b * n;
        const int full = n / 16 * 16;
        for (int i = 0; i < n; i += 16)
            for (int k = 0; k < 16 && (i < full || i + k < n); k++) {
                const int j = i + k;
                const bool want = tb[j] != 0.0f, got = sb[j] != 0.0f;
                const bool keep = !mask || want != got;
                const float e = keep ? vth * tb[j] - vb[j] : 0.0f;
                db[j] = -e;
                lane[k] += e * e;
                mk[k] += !keep;
                o[k] += got;
                tg[k] += want;
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
