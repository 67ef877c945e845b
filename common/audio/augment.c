/* augment: one utterance's random perturbation, from (seed, epoch, id)
 * (include/audio/augment.h). */
#include "audio/augment.h"

#include "audio/perturb.h"
#include "core/err.h"
#include "numerics/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

augment_params augment_params_default(void)
{
    return (augment_params){.speed_min = 0.9, .speed_max = 1.1, .gain_db = 6, .shift_ms = 100,
                            .noise_p = 0.5, .snr_min = 5, .snr_max = 30,
                            .mask_channels = 0.25, .mask_frames = 1.0 / 6};
}

int augment_parse(const char *list, unsigned *what)
{
    static const struct { const char *name; unsigned bit; } words[] = {
        {"speed", AUGMENT_SPEED}, {"gain", AUGMENT_GAIN}, {"noise", AUGMENT_NOISE}, {"shift", AUGMENT_SHIFT},
        {"white", AUGMENT_WHITE}, {"mask", AUGMENT_MASK}};
    const size_t n_words = sizeof words / sizeof words[0];
    *what = 0;
    if (!strcmp(list, "none"))
        return 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < n_words && !(strlen(words[i].name) == len && !strncmp(p, words[i].name, len)))
            i++;
        if (len && i == n_words)
            return err_set("augment: unknown '%.*s' (speed, gain, noise, white, shift, mask or none)", (int)len, p);
        if (len)
            *what |= words[i].bit;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* Draw j (0..3 of the block) of the utterance's perturbation, in [0, 1). */
static rng_block draws(uint64_t seed, uint32_t epoch, uint32_t id, uint32_t part)
{
    return rng_philox(seed, (rng_block){{RNG_STREAM_AUGMENT, epoch, id, part}});
}

uint32_t augment_pick(uint64_t seed, uint32_t epoch, uint32_t id, uint32_t k, uint32_t n)
{
    rng_block r = draws(seed, epoch, id, 1 + k);
    return (uint32_t)(((uint64_t)r.v[0] * n) >> 32);
}

/* White noise, with probability noise_p, at an SNR uniform in [snr_min,
 * snr_max]: a microphone's and a room's hiss, which babble is not. Its own
 * draws (t), so that the other perturbations keep theirs. */
static int augment_white(const augment_params *p, audio *a, rng_block t)
{
    if (rng_unit(t.v[0]) >= p->noise_p || perturb_power(a->samples, a->n) <= 0)
        return 0;
    float *w = malloc(a->n * sizeof *w);
    if (!w)
        return err_set("augment: out of memory for %zu samples of white noise", a->n);
    perturb_white(w, a->n, (uint64_t)t.v[2] << 32 | t.v[3], 0);
    int rc = perturb_add_noise(a->samples, a->n, w, a->n, 0,
                               p->snr_min + (p->snr_max - p->snr_min) * rng_unit(t.v[1]));
    free(w);
    return rc;
}

int augment_apply(const augment_params *p, audio *a, uint64_t seed, uint32_t epoch, uint32_t id,
                  const float *noise, size_t n_noise)
{
    rng_block r = draws(seed, epoch, id, 0), s = draws(seed, epoch, id, 0x100);
    const double u_speed = rng_unit(r.v[0]), u_shift = rng_unit(r.v[1]), u_gain = rng_unit(r.v[2]),
                 u_noise = rng_unit(r.v[3]), u_snr = rng_unit(s.v[0]);
    if ((p->what & AUGMENT_SPEED) &&
        perturb_speed(a, p->speed_min + (p->speed_max - p->speed_min) * u_speed, AUDIO_QUALITY_MEDIUM) < 0)
        return -1;
    if ((p->what & AUGMENT_SHIFT) &&
        perturb_shift(a, lround(u_shift * p->shift_ms * 1e-3 * a->fs)) < 0)
        return -1;
    if (p->what & AUGMENT_GAIN)
        perturb_gain(a->samples, a->n, (2 * u_gain - 1) * p->gain_db);
    if ((p->what & AUGMENT_NOISE) && u_noise < p->noise_p && noise && n_noise &&
        perturb_power(a->samples, a->n) > 0) {
        size_t offset = (size_t)(((uint64_t)s.v[1] * n_noise) >> 32);
        if (perturb_add_noise(a->samples, a->n, noise, n_noise, offset,
                              p->snr_min + (p->snr_max - p->snr_min) * u_snr) < 0)
            return -1;
    }
    return (p->what & AUGMENT_WHITE) ? augment_white(p, a, draws(seed, epoch, id, 0x200)) : 0;
}

/* A span [*a, *b) of 0 to floor(widest n) of n, its width and place uniform. */
static void mask_span(size_t n, double widest, float u_width, float u_at, size_t *a, size_t *b)
{
    const size_t most = (size_t)(widest * (double)n);
    const size_t width = (size_t)(u_width * (double)((most < n ? most : n) + 1));
    *a = (size_t)(u_at * (double)(n - width + 1));
    *b = *a + width;
}

void augment_mask(const augment_params *p, float *image, size_t frames, int channels, uint64_t seed,
                  uint32_t epoch, uint32_t id)
{
    if (!(p->what & AUGMENT_MASK) || frames == 0 || channels <= 0)
        return;
    const rng_block r = draws(seed, epoch, id, 0x300);
    const size_t ch = (size_t)channels;
    size_t c0, c1, t0, t1;
    mask_span(ch, p->mask_channels, rng_unit(r.v[0]), rng_unit(r.v[1]), &c0, &c1);
    mask_span(frames, p->mask_frames, rng_unit(r.v[2]), rng_unit(r.v[3]), &t0, &t1);
    for (size_t t = 0; t < frames; t++) {
        if (t >= t0 && t < t1)
            memset(image + t * ch, 0, ch * sizeof *image);
        else
            memset(image + t * ch + c0, 0, (c1 - c0) * sizeof *image);
    }
}
