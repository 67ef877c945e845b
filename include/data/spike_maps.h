/* spike_maps: stored spike maps, one per sample id, e.g. the autoencoder's
 * hidden spike map (196 neurons x Th steps) of the image paired with each
 * training recording: the audiocoder's targets.
 *
 * File (".ssmap", little-endian): magic "SSYNMAPS", u32 format version, u32
 * header bytes, header (width, steps, count, the pairing: dataset 'A'/'B',
 * seed, the autoencoder encoder's file name and, from format 2, the hash of
 * its weights: what an audiocoder trained on the maps records), then per map its sample id
 * (u32), label (i32), source image index (i32) and steps x ceil(width/8)
 * bytes of bit-packed spikes (step-major; bit j of a step's row in byte j/8 at
 * bit j%8, as frames pack them), then the CRC-32 of every byte before it.
 * Written atomically; a bad magic, version, size, checksum or a duplicate id
 * is an error naming the file. */
#ifndef SPIKESYNTH_SPIKE_MAPS_H
#define SPIKESYNTH_SPIKE_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPIKE_MAPS_FORMAT_VERSION 2

typedef struct {
    uint32_t width;  /* neurons per step (196) */
    uint32_t steps;  /* steps kept per map (Th) */
    size_t n, cap;   /* maps held */
    uint32_t *ids;   /* n sample ids, ascending after spike_maps_sort */
    int32_t *labels; /* n labels (-1: unknown) */
    int32_t *images; /* n source image indices (-1: unknown) */
    uint8_t *bits;   /* n x steps x row_bytes, bit-packed */
    char dataset;    /* 'A', 'B' or '?' */
    uint64_t seed;
    char source[256]; /* what made the maps, e.g. the encoder model's path */
    uint64_t source_hash; /* the weights hash of that encoder (data/model.h); 0: unknown */
} spike_maps;

spike_maps *spike_maps_new(uint32_t width, uint32_t steps);
void spike_maps_destroy(spike_maps **self_p);
static inline size_t spike_maps_row_bytes(const spike_maps *m) { return ((size_t)m->width + 7) / 8; }
/* Appends a map; spikes is steps x width floats (nonzero = spike). */
int spike_maps_add(spike_maps *self, uint32_t id, int32_t label, int32_t image, const float *spikes);
/* Sorts by id; -1 with err_msg() on a duplicate id. */
int spike_maps_sort(spike_maps *self);
int spike_maps_save(const spike_maps *self, const char *path);
spike_maps *spike_maps_load(const char *path);
/* Index of id (binary search after sort), or -1. */
long spike_maps_find(const spike_maps *self, uint32_t id);
/* Step t of map i into out (width floats, 0/1). */
void spike_maps_step(const spike_maps *self, size_t i, uint32_t t, float *out);

#endif
