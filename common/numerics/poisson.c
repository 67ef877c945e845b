/* poisson: counter-based Poisson (Bernoulli per step) encoding; see include/poisson.h. */
#include "numerics/poisson.h"

#include <stdbool.h>
#include <stddef.h>

#include "numerics/rng.h"

void poisson_encode(const poisson_params *p, const float *intensity, const uint32_t *sample_ids,
                    int batch, int n, int step, float *spikes)
{
#pragma omp parallel for schedule(static) if (batch * n > 65536)
    for (int b = 0; b < batch; b++) {
        const float *x = intensity + (size_t)b * n;
        float *s = spikes + (size_t)b * n;
        for (int j = 0; j < n; j += 4) {
            /* a unit draw is never below 0: dark pixels (most of an MNIST
             * image) spike never, whatever the draw, so it is not made */
            bool dark = true;
            for (int k = 0; k < 4 && j + k < n; k++)
                dark &= !(x[j + k] * p->r_max > 0.0f);
            if (dark) {
                for (int k = 0; k < 4 && j + k < n; k++)
                    s[j + k] = 0.0f;
                continue;
            }
            rng_block r = rng_philox(p->seed, (rng_block){{RNG_STREAM_POISSON, sample_ids[b],
                                                           (uint32_t)step, (uint32_t)(j / 4)}});
            for (int k = 0; k < 4 && j + k < n; k++)
                s[j + k] = rng_unit(r.v[k]) < x[j + k] * p->r_max ? 1.0f : 0.0f;
        }
    }
}
