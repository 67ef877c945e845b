/* pairing: Dataset A's and B's image choices and the pairing CSV (see
 * include/pairing.h). Rule A sums in double in file order, so the choice is
 * the same on every machine and build. */
#include "data/pairing.h"

#include "core/atomic_file.h"
#include "core/csv.h"
#include "core/err.h"
#include "numerics/rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Dataset A ------------------------------------------------------------------ */

int pairing_dataset_a(const dataset *train, int digit)
{
    if (digit < 0 || digit >= DATASET_CLASSES) {
        err_set("pairing: digit %d is not a class 0-%d", digit, DATASET_CLASSES - 1);
        return -1;
    }
    size_t np = train->n_pixels, k = 0;
    size_t *cand = malloc(PAIRING_A_CANDIDATES * sizeof *cand);
    double *mean = calloc(np ? np : 1, sizeof *mean);
    int best = -1;
    if (!cand || !mean) {
        err_set("pairing: out of memory");
        goto out;
    }
    for (size_t i = 0; i < train->n && k < PAIRING_A_CANDIDATES; i++)
        if (train->labels[i] == digit)
            cand[k++] = i;
    if (k == 0) {
        err_set("pairing: the training set has no image of digit %d", digit);
        goto out;
    }
    for (size_t c = 0; c < k; c++) {
        const float *x = train->images + cand[c] * np;
        for (size_t p = 0; p < np; p++)
            mean[p] += x[p];
    }
    for (size_t p = 0; p < np; p++)
        mean[p] /= (double)k;
    double best_d = 0;
    for (size_t c = 0; c < k; c++) {
        const float *x = train->images + cand[c] * np;
        double d = 0;
        for (size_t p = 0; p < np; p++)
            d += (x[p] - mean[p]) * (x[p] - mean[p]);
        if (best < 0 || d < best_d) { /* strict: ties keep the lower index */
            best = (int)cand[c];
            best_d = d;
        }
    }
out:
    free(cand);
    free(mean);
    return best;
}

int pairing_dataset_a_all(const dataset *train, int out[DATASET_CLASSES])
{
    for (int d = 0; d < DATASET_CLASSES; d++)
        if ((out[d] = pairing_dataset_a(train, d)) < 0)
            return -1;
    return 0;
}

/* ---- Dataset B ------------------------------------------------------------------ */

pairing_classes *pairing_classes_new(const dataset *train)
{
    if (train->n > UINT32_MAX) {
        err_set("pairing: %zu images: more than 2^32", train->n);
        return NULL;
    }
    pairing_classes *c = calloc(1, sizeof *c);
    if (!c)
        goto oom;
    for (size_t i = 0; i < train->n; i++)
        c->n[train->labels[i]]++;
    for (int d = 0; d < DATASET_CLASSES; d++)
        if (!(c->index[d] = malloc((c->n[d] ? c->n[d] : 1) * sizeof(uint32_t))))
            goto oom;
    size_t fill[DATASET_CLASSES] = {0};
    for (size_t i = 0; i < train->n; i++)
        c->index[train->labels[i]][fill[train->labels[i]]++] = (uint32_t)i;
    return c;
oom:
    pairing_classes_destroy(&c);
    err_set("pairing: out of memory");
    return NULL;
}

void pairing_classes_destroy(pairing_classes **self_p)
{
    pairing_classes *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (int d = 0; d < DATASET_CLASSES; d++)
        free(self->index[d]);
    free(self);
    *self_p = NULL;
}

int pairing_dataset_b(const pairing_classes *c, int digit, uint64_t seed, uint32_t id)
{
    if (digit < 0 || digit >= DATASET_CLASSES) {
        err_set("pairing: digit %d is not a class 0-%d", digit, DATASET_CLASSES - 1);
        return -1;
    }
    if (c->n[digit] == 0) {
        err_set("pairing: the training set has no image of digit %d", digit);
        return -1;
    }
    rng_block r = rng_philox(seed, (rng_block){{RNG_STREAM_PAIRING, id, 0, 0}});
    return (int)c->index[digit][((uint64_t)r.v[0] * c->n[digit]) >> 32];
}

/* ---- the CSV ----------------------------------------------------------------------- */

#define PAIRING_HEADER "id,label,image_index,recording"

pairing_table *pairing_table_new(void)
{
    pairing_table *self = calloc(1, sizeof *self);
    if (!self)
        err_set("pairing table: out of memory");
    return self;
}

void pairing_table_destroy(pairing_table **self_p)
{
    pairing_table *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free(self->entries[i].recording);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

int pairing_table_add(pairing_table *self, uint32_t id, int label, int32_t image, const char *recording)
{
    if (self->n && id <= self->entries[self->n - 1].id)
        return err_set("pairing table: id %u after id %u: ids must increase", id,
                       self->entries[self->n - 1].id);
    if (label < -1 || image < -1)
        return err_set("pairing table: id %u: label %d, image %d (use -1 for unknown)", id, label,
                       image);
    if (strpbrk(recording, "\r\n"))
        return err_set("pairing table: id %u: the recording's name '%s' holds a line break", id,
                       recording);
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 256;
        pairing_entry *e = realloc(self->entries, cap * sizeof *e);
        if (!e)
            return err_set("pairing table: out of memory");
        self->entries = e;
        self->cap = cap;
    }
    char *r = strdup(recording);
    if (!r)
        return err_set("pairing table: out of memory");
    self->entries[self->n++] = (pairing_entry){id, label, image, r};
    return 0;
}

int pairing_table_write(const pairing_table *self, const char *path)
{
    atomic_file *af = atomic_file_new(path);
    if (!af)
        return -1;
    FILE *f = atomic_file_stream(af);
    fputs(PAIRING_HEADER "\n", f);
    for (size_t i = 0; i < self->n; i++) {
        const pairing_entry *e = &self->entries[i];
        fprintf(f, "%u,%d,%d,", e->id, e->label, e->image);
        csv_write_field(f, e->recording);
        fputc('\n', f);
    }
    if (ferror(f)) {
        atomic_file_destroy(&af);
        return err_set("pairing %s: write failed", path);
    }
    return atomic_file_commit(&af);
}

/* One row id,label,image_index,recording, added in file order. */
static int pairing_row(csv_reader *r, void *arg)
{
    size_t line = csv_reader_line(r);
    long id, label, image;
    if (csv_reader_count(r) != 4 || csv_parse_long(csv_reader_field(r, 0), 0, UINT32_MAX, &id) < 0 ||
        csv_parse_long(csv_reader_field(r, 1), -1, INT32_MAX, &label) < 0 ||
        csv_parse_long(csv_reader_field(r, 2), -1, INT32_MAX, &image) < 0)
        return err_set("line %zu: expected id,label,image_index,recording (id >= 0, label and "
                       "image_index >= -1)", line);
    if (pairing_table_add(arg, (uint32_t)id, (int)label, (int32_t)image, csv_reader_field(r, 3)) < 0)
        return err_wrap("line %zu", line);
    return 0;
}

pairing_table *pairing_table_load(const char *path)
{
    pairing_table *self = pairing_table_new();
    if (!self)
        err_wrap("pairing %s", path);
    else if (csv_read_table(path, PAIRING_HEADER, "pairing", pairing_row, self) < 0)
        pairing_table_destroy(&self);
    return self;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = ((const pairing_entry *)a)->id, y = ((const pairing_entry *)b)->id;
    return x < y ? -1 : x > y;
}

const pairing_entry *pairing_table_find(const pairing_table *self, uint32_t id)
{
    pairing_entry key = {.id = id};
    return self->n ? bsearch(&key, self->entries, self->n, sizeof key, cmp_id) : NULL;
}
