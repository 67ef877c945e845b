/* loss: masked membrane-potential loss (see include/loss.h). */
#include "loss.h"

#include <stddef.h>

void loss_membrane(const float *v, const float *spikes, const float *target, int batch, int n,
                   float vth, bool mask, float *dv, loss_stats *stats)
{
    double loss = 0;
    int64_t masked = 0, out = 0, tgt = 0;
    const size_t total = (size_t)batch * n;
    for (size_t i = 0; i < total; i++) {
        bool want = target[i] != 0.0f, got = spikes[i] != 0.0f;
        float e = 0.0f;
        if (!mask || want != got)
            e = vth * target[i] - v[i];
        else
            masked++;
        dv[i] = -e;
        loss += 0.5 * (double)e * e;
        out += got;
        tgt += want;
    }
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
