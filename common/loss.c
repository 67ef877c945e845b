/* loss: masked membrane-potential loss (see include/loss.h). */
#include "loss.h"

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
        double l = 0;
        for (size_t i = (size_t)b * n; i < (size_t)(b + 1) * n; i++) {
            bool want = target[i] != 0.0f, got = spikes[i] != 0.0f;
            float e = 0.0f;
            if (!mask || want != got)
                e = vth * target[i] - v[i];
            else
                masked++;
            dv[i] = -e;
            l += 0.5 * (double)e * e;
            out += got;
            tgt += want;
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

double loss_stats_mean(const loss_stats *s)
{
    return s->sample_steps ? s->loss / (double)s->sample_steps : 0.0;
}

double loss_stats_masked_fraction(const loss_stats *s)
{
    return s->entries ? (double)s->masked_out / (double)s->entries : 0.0;
}
