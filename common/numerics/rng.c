/* rng: Philox4x32-10 (see include/rng.h). Constants from the Random123 paper. */
#include "numerics/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

rng_block rng_philox(uint64_t key, rng_block c)
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c.v[0], &hi0, &lo0);
        mulhilo(PHILOX_M1, c.v[2], &hi1, &lo1);
        rng_block n = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        c = n;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    return c;
}

void rng_fill_uniform(uint64_t key, uint32_t a, uint32_t b, uint32_t c, float *out, int n)
{
    for (int i = 0; i < n; i += 4) {
        rng_block r = rng_philox(key, (rng_block){{a, b, c, (uint32_t)(i / 4)}});
        for (int k = 0; k < 4 && i + k < n; k++)
            out[i + k] = rng_unit(r.v[k]);
    }
}

void rng_shuffle(uint64_t seed, uint32_t pass, uint32_t *order, size_t n)
{
    for (size_t i = n > 0 ? n - 1 : 0; i > 0; i--) {
        rng_block r = rng_philox(seed, (rng_block){{RNG_STREAM_SHUFFLE, pass, (uint32_t)i, 0}});
        size_t j = (size_t)(((uint64_t)r.v[0] * (i + 1)) >> 32);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
