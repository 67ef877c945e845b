/* spike_maps: stored spike maps in a checked binary file (see include/spike_maps.h).
 * Invariants: ids/labels/images hold n entries and bits n x steps x row_bytes;
 * a file holds its maps in strictly ascending id order (save refuses anything
 * else), so a loaded set is sorted and spike_maps_find works at once. Fields are
 * written one by one, little-endian, so the file does not depend on padding. */
#include "data/spike_maps.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "spike map files are little-endian");

static const char SPIKE_MAPS_MAGIC[8] = {'S', 'S', 'Y', 'N', 'M', 'A', 'P', 'S'};
#define SOURCE_BYTES 256
/* width, steps, count (u64), dataset (u32), seed (u64), source; format 2 adds
 * the source encoder's weights hash (u64) */
#define HEADER_BYTES_V1 (4 + 4 + 8 + 4 + 8 + SOURCE_BYTES)
#define HEADER_BYTES (HEADER_BYTES_V1 + 8)
#define PREAMBLE_BYTES (8 + 4 + 4)
#define ENTRY_HEAD_BYTES 12 /* id, label, image */
/* bounds that keep every size computation far from overflow */
#define MAX_WIDTH (1u << 26)
#define MAX_STEPS (1u << 24)
#define MAX_MAP_BYTES ((uint64_t)1 << 30)

_Static_assert(sizeof(((spike_maps *)0)->source) == SOURCE_BYTES, "source field size");

static size_t map_bytes(const spike_maps *m) { return (size_t)m->steps * spike_maps_row_bytes(m); }

spike_maps *spike_maps_new(uint32_t width, uint32_t steps)
{
    if (width < 1 || width > MAX_WIDTH || steps < 1 || steps > MAX_STEPS ||
        (uint64_t)steps * ((width + 7) / 8) > MAX_MAP_BYTES) {
        err_set("spike maps: bad shape %u neurons x %u steps", width, steps);
        return NULL;
    }
    spike_maps *self = calloc(1, sizeof *self);
    if (!self) {
        err_set("spike maps: out of memory");
        return NULL;
    }
    self->width = width;
    self->steps = steps;
    self->dataset = '?';
    return self;
}

void spike_maps_destroy(spike_maps **self_p)
{
    spike_maps *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->ids);
    free(self->labels);
    free(self->images);
    free(self->bits);
    free(self);
    *self_p = NULL;
}

/* Room for cap maps in every array. */
static int reserve(spike_maps *self, size_t cap)
{
    if (cap <= self->cap)
        return 0;
    size_t mb = map_bytes(self);
    if (cap > SIZE_MAX / (mb ? mb : 1) / 2)
        return err_set("spike maps: too many maps (%zu)", cap);
    uint32_t *ids = realloc(self->ids, cap * sizeof *ids);
    if (ids)
        self->ids = ids;
    int32_t *labels = realloc(self->labels, cap * sizeof *labels);
    if (labels)
        self->labels = labels;
    int32_t *images = realloc(self->images, cap * sizeof *images);
    if (images)
        self->images = images;
    uint8_t *bits = realloc(self->bits, cap * mb);
    if (bits)
        self->bits = bits;
    if (!ids || !labels || !images || !bits)
        return err_set("spike maps: out of memory for %zu maps", cap);
    self->cap = cap;
    return 0;
}

int spike_maps_add(spike_maps *self, uint32_t id, int32_t label, int32_t image, const float *spikes)
{
    if (label < -1 || image < -1)
        return err_set("spike maps: id %u: label %d, image %d (use -1 for unknown)", id, label, image);
    if (self->n == self->cap && reserve(self, self->cap ? 2 * self->cap : 256) < 0)
        return -1;
    size_t rb = spike_maps_row_bytes(self);
    uint8_t *map = self->bits + self->n * map_bytes(self);
    memset(map, 0, map_bytes(self));
    for (uint32_t t = 0; t < self->steps; t++)
        for (uint32_t j = 0; j < self->width; j++)
            if (spikes[(size_t)t * self->width + j] != 0.0f)
                map[t * rb + j / 8] |= (uint8_t)(1u << (j % 8));
    self->ids[self->n] = id;
    self->labels[self->n] = label;
    self->images[self->n] = image;
    self->n++;
    return 0;
}

static int cmp_by_id(const void *a, const void *b, void *ids_p)
{
    const uint32_t *ids = ids_p;
    uint32_t x = ids[*(const size_t *)a], y = ids[*(const size_t *)b];
    return (x > y) - (x < y);
}

int spike_maps_sort(spike_maps *self)
{
    size_t n = self->n, mb = map_bytes(self);
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = self->ids[i - 1] < self->ids[i];
    if (sorted)
        return 0;
    size_t *order = malloc(n * sizeof *order);
    uint32_t *ids = malloc(n * sizeof *ids);
    int32_t *labels = malloc(n * sizeof *labels), *images = malloc(n * sizeof *images);
    uint8_t *bits = malloc(n * mb);
    int rc = -1;
    if (!order || !ids || !labels || !images || !bits) {
        err_set("spike maps: out of memory sorting %zu maps", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    qsort_r(order, n, sizeof *order, cmp_by_id, self->ids);
    for (size_t i = 0; i < n; i++) {
        size_t k = order[i];
        if (i > 0 && self->ids[k] == ids[i - 1]) {
            err_set("spike maps: sample id %u appears twice", ids[i - 1]);
            goto out;
        }
        ids[i] = self->ids[k];
        labels[i] = self->labels[k];
        images[i] = self->images[k];
        memcpy(bits + i * mb, self->bits + k * mb, mb);
    }
    /* swap in the sorted arrays; the old ones are freed below */
    uint32_t *ti = self->ids;
    self->ids = ids;
    ids = ti;
    int32_t *tl = self->labels;
    self->labels = labels;
    labels = tl;
    int32_t *tm = self->images;
    self->images = images;
    images = tm;
    uint8_t *tb = self->bits;
    self->bits = bits;
    bits = tb;
    self->cap = n;
    rc = 0;
out:
    free(order);
    free(ids);
    free(labels);
    free(images);
    free(bits);
    return rc;
}

long spike_maps_find(const spike_maps *self, uint32_t id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->n && self->ids[lo] == id ? (long)lo : -1;
}

void spike_maps_step(const spike_maps *self, size_t i, uint32_t t, float *out)
{
    const uint8_t *row = self->bits + i * map_bytes(self) + (size_t)t * spike_maps_row_bytes(self);
    for (uint32_t j = 0; j < self->width; j++)
        out[j] = (float)(row[j / 8] >> (j % 8) & 1);
}

/* ---- the file -------------------------------------------------------------------- */

/* The header fields in file order (the preamble is magic, version, header bytes). */
static void header_pack(const spike_maps *m, uint8_t h[HEADER_BYTES])
{
    uint64_t count = m->n;
    uint32_t dataset = (uint8_t)m->dataset;
    uint8_t *p = h;
    memcpy(p, &m->width, 4), p += 4;
    memcpy(p, &m->steps, 4), p += 4;
    memcpy(p, &count, 8), p += 8;
    memcpy(p, &dataset, 4), p += 4;
    memcpy(p, &m->seed, 8), p += 8;
    memset(p, 0, SOURCE_BYTES);
    memcpy(p, m->source, strnlen(m->source, SOURCE_BYTES - 1));
    p += SOURCE_BYTES;
    memcpy(p, &m->source_hash, 8);
}

static int write_all(FILE *f, const void *p, size_t n, uLong *crc)
{
    *crc = crc32_z(*crc, p, n);
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

int spike_maps_save(const spike_maps *self, const char *path)
{
    for (size_t i = 1; i < self->n; i++)
        if (self->ids[i - 1] >= self->ids[i])
            return err_set("%s: maps not in ascending id order (id %u after %u): call "
                           "spike_maps_sort first", path, self->ids[i], self->ids[i - 1]);
    if (self->dataset != 'A' && self->dataset != 'B' && self->dataset != '?')
        return err_set("%s: dataset '%c': use 'A', 'B' or '?'", path, self->dataset);
    uint8_t h[HEADER_BYTES];
    header_pack(self, h);
    atomic_file *af = atomic_file_new(path);
    if (!af)
        return -1;
    FILE *f = atomic_file_stream(af);
    uint32_t version = SPIKE_MAPS_FORMAT_VERSION, header_bytes = HEADER_BYTES;
    uLong crc = crc32(0L, Z_NULL, 0);
    size_t mb = map_bytes(self);
    int bad = write_all(f, SPIKE_MAPS_MAGIC, 8, &crc) | write_all(f, &version, 4, &crc) |
              write_all(f, &header_bytes, 4, &crc) | write_all(f, h, HEADER_BYTES, &crc);
    for (size_t i = 0; i < self->n && !bad; i++)
        bad |= write_all(f, &self->ids[i], 4, &crc) | write_all(f, &self->labels[i], 4, &crc) |
               write_all(f, &self->images[i], 4, &crc) | write_all(f, self->bits + i * mb, mb, &crc);
    uint32_t crc32v = (uint32_t)crc;
    if (bad || fwrite(&crc32v, 4, 1, f) != 1) {
        atomic_file_destroy(&af);
        return err_set("%s: write failed: %s", path, strerror(errno));
    }
    return atomic_file_commit(&af);
}

spike_maps *spike_maps_load(const char *path)
{
    spike_maps *m = NULL;
    uint8_t *data = NULL;
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
        err_set("%s: not a regular file", path);
        goto err;
    }
    size_t len = (size_t)sb.st_size;
    if (!(data = malloc(len ? len : 1))) {
        err_set("%s: out of memory for %zu bytes", path, len);
        goto err;
    }
    if (fread(data, 1, len, f) != len) {
        err_set("%s: read failed: %s", path, strerror(errno));
        goto err;
    }
    if (len < 8 || memcmp(data, SPIKE_MAPS_MAGIC, 8) != 0) {
        err_set("%s: not a spike maps file (bad magic)", path);
        goto err;
    }
    uint32_t version, header_bytes;
    if (len < PREAMBLE_BYTES) {
        err_set("%s: truncated before the header", path);
        goto err;
    }
    memcpy(&version, data + 8, 4);
    memcpy(&header_bytes, data + 12, 4);
    if (version < 1 || version > SPIKE_MAPS_FORMAT_VERSION) {
        err_set("%s: spike maps format version %u, this program reads 1 to %d", path, version,
                SPIKE_MAPS_FORMAT_VERSION);
        goto err;
    }
    const uint32_t want = version == 1 ? HEADER_BYTES_V1 : HEADER_BYTES;
    if (header_bytes != want) {
        err_set("%s: header of %u bytes, format %u has %u", path, header_bytes, version, want);
        goto err;
    }
    if (len < PREAMBLE_BYTES + header_bytes) {
        err_set("%s: truncated header (%zu bytes)", path, len);
        goto err;
    }
    const uint8_t *h = data + PREAMBLE_BYTES;
    uint32_t width, steps, dataset;
    uint64_t count, seed;
    memcpy(&width, h, 4);
    memcpy(&steps, h + 4, 4);
    memcpy(&count, h + 8, 8);
    memcpy(&dataset, h + 16, 4);
    memcpy(&seed, h + 20, 8);
    if (!(m = spike_maps_new(width, steps))) {
        err_wrap("%s", path);
        goto err;
    }
    if (dataset != 'A' && dataset != 'B' && dataset != '?') {
        err_set("%s: bad dataset field %u (expected 'A', 'B' or '?')", path, dataset);
        goto err;
    }
    m->dataset = (char)dataset;
    m->seed = seed;
    memcpy(m->source, h + 28, SOURCE_BYTES);
    m->source[SOURCE_BYTES - 1] = '\0';
    if (version >= 2)
        memcpy(&m->source_hash, h + 28 + SOURCE_BYTES, 8);
    /* the size the header promises, without overflow: count is bounded by len first */
    size_t entry = ENTRY_HEAD_BYTES + map_bytes(m), body = len - PREAMBLE_BYTES - header_bytes;
    if (count > body / entry || body - count * entry != 4) {
        if (count <= body / entry && body - count * entry > 4)
            err_set("%s: %zu trailing bytes after %llu maps and the checksum", path,
                    body - count * entry - 4, (unsigned long long)count);
        else
            err_set("%s: truncated: the header promises %llu maps of %u x %u (%zu bytes "
                    "each) and a checksum, the file has %zu bytes after the header",
                    path, (unsigned long long)count, steps, width, entry, body);
        goto err;
    }
    uint32_t stored;
    memcpy(&stored, data + len - 4, 4);
    if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), data, len - 4) != stored) {
        err_set("%s: checksum mismatch (file corrupt)", path);
        goto err;
    }
    if (count && reserve(m, count) < 0) {
        err_wrap("%s", path);
        goto err;
    }
    const uint8_t *p = data + PREAMBLE_BYTES + header_bytes;
    size_t mb = map_bytes(m);
    uint8_t pad = (uint8_t)(m->width % 8 ? 0xffu << (m->width % 8) : 0);
    for (size_t i = 0; i < count; i++, p += entry) {
        memcpy(&m->ids[i], p, 4);
        memcpy(&m->labels[i], p + 4, 4);
        memcpy(&m->images[i], p + 8, 4);
        if (i > 0 && m->ids[i] <= m->ids[i - 1]) {
            if (m->ids[i] == m->ids[i - 1])
                err_set("%s: duplicate sample id %u (maps %zu and %zu)", path, m->ids[i], i - 1, i);
            else
                err_set("%s: map %zu: id %u after id %u (ids must ascend)", path, i, m->ids[i],
                        m->ids[i - 1]);
            goto err;
        }
        if (m->labels[i] < -1 || m->images[i] < -1) {
            err_set("%s: map %zu (id %u): label %d, image %d", path, i, m->ids[i], m->labels[i],
                    m->images[i]);
            goto err;
        }
        memcpy(m->bits + i * mb, p + ENTRY_HEAD_BYTES, mb);
        /* bits past the width are zero in a file we wrote */
        for (uint32_t t = 0; pad && t < m->steps; t++)
            if (m->bits[i * mb + (size_t)t * spike_maps_row_bytes(m) + spike_maps_row_bytes(m) - 1] & pad) {
                err_set("%s: map %zu (id %u) step %u: bits set past width %u", path, i, m->ids[i],
                        t, m->width);
                goto err;
            }
    }
    m->n = (size_t)count;
    free(data);
    fclose(f);
    return m;
err:
    free(data);
    fclose(f);
    spike_maps_destroy(&m);
    return NULL;
}
