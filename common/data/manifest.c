/* manifest: the id,path,label CSV (see include/manifest.h).
 * Invariant: entries[0..n) are sorted by id, ids unique, paths owned. */
#include "data/manifest.h"

#include "core/atomic_file.h"
#include "core/csv.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_HEADER "id,path,label"

manifest *manifest_new(void)
{
    manifest *self = calloc(1, sizeof *self);
    if (!self)
        err_set("manifest: out of memory");
    return self;
}

void manifest_destroy(manifest **self_p)
{
    manifest *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->n; i++)
        free(self->entries[i].path);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

static int push(manifest *self, uint32_t id, const char *path, int label)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 64;
        manifest_entry *e = realloc(self->entries, cap * sizeof *e);
        if (!e)
            return err_set("manifest: out of memory");
        self->entries = e;
        self->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return err_set("manifest: out of memory");
    self->entries[self->n++] = (manifest_entry){id, p, label};
    return 0;
}

int manifest_add(manifest *self, uint32_t id, const char *path, int label)
{
    if (self->n && id <= self->entries[self->n - 1].id)
        return err_set("manifest: id %u after id %u: ids must increase", id,
                       self->entries[self->n - 1].id);
    if (label < -1)
        return err_set("manifest: id %u: label %d (use -1 for unknown)", id, label);
    return push(self, id, path, label);
}

int manifest_write(const manifest *self, const char *path)
{
    atomic_file *af = atomic_file_new(path);
    if (!af)
        return -1;
    FILE *f = atomic_file_stream(af);
    fputs(MANIFEST_HEADER "\n", f);
    for (size_t i = 0; i < self->n; i++) {
        fprintf(f, "%u,", self->entries[i].id);
        csv_write_field(f, self->entries[i].path);
        fprintf(f, ",%d\n", self->entries[i].label);
    }
    return atomic_file_commit(&af);
}

/* ---- reading ------------------------------------------------------------------ */

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = ((const manifest_entry *)a)->id, y = ((const manifest_entry *)b)->id;
    return x < y ? -1 : x > y;
}

manifest *manifest_load(const char *path)
{
    manifest *self = NULL;
    csv_reader *r = csv_reader_open(path);
    if (!r) {
        err_wrap("manifest");
        return NULL;
    }
    if (!(self = manifest_new()) || csv_reader_header(r, MANIFEST_HEADER) < 0)
        goto bad;
    int rc;
    while ((rc = csv_reader_next(r)) == 1) {
        size_t line = csv_reader_line(r), n = csv_reader_count(r);
        const char *id_s = csv_reader_field(r, 0), *label_s = csv_reader_field(r, 2);
        long id, label;
        if (n != 3) {
            err_set("line %zu: %s", line, n < 3 ? "expected 3 fields (id,path,label)" : "a fourth field after the label");
            goto bad;
        }
        if (csv_parse_long(id_s, 0, UINT32_MAX, &id) < 0) {
            err_set("line %zu: id '%s' is not an integer in 0..%u", line, id_s, UINT32_MAX);
            goto bad;
        }
        if (csv_parse_long(label_s, -1, INT32_MAX, &label) < 0) {
            err_set("line %zu: label '%s' is not an integer >= -1", line, label_s);
            goto bad;
        }
        if (push(self, (uint32_t)id, csv_reader_field(r, 1), (int)label) < 0)
            goto bad;
    }
    if (rc < 0)
        goto bad;
    qsort(self->entries, self->n, sizeof *self->entries, cmp_id);
    for (size_t i = 1; i < self->n; i++)
        if (self->entries[i].id == self->entries[i - 1].id) {
            err_set("id %u is listed twice", self->entries[i].id);
            goto bad;
        }
    csv_reader_close(&r);
    return self;
bad:
    err_wrap("manifest %s", path);
    csv_reader_close(&r);
    manifest_destroy(&self);
    return NULL;
}

const manifest_entry *manifest_find(const manifest *self, uint32_t id)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->entries[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->n && self->entries[lo].id == id ? &self->entries[lo] : NULL;
}

size_t manifest_stem(const char *path, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (!cap)
        return 0;
    if (n > cap - 1)
        n = cap - 1;
    memcpy(buf, base, n);
    buf[n] = '\0';
    return n;
}
