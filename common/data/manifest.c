/* manifest: the id,path,label CSV (see include/manifest.h).
 * Invariant: entries[0..n) are sorted by id, ids unique, paths owned. */
#include "data/manifest.h"

#include "core/atomic_file.h"
#include "core/csv.h"
#include "core/err.h"

#include <stdbool.h>
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

/* One row id,path,label, appended (the table is sorted once it is whole). */
static int manifest_row(csv_reader *r, void *arg)
{
    size_t line = csv_reader_line(r), n = csv_reader_count(r);
    const char *id_s = csv_reader_field(r, 0), *label_s = csv_reader_field(r, 2);
    long id, label;
    if (n != 3)
        return err_set("line %zu: %s", line, n < 3 ? "expected 3 fields (id,path,label)" : "a fourth field after the label");
    if (csv_parse_long(id_s, 0, UINT32_MAX, &id) < 0)
        return err_set("line %zu: id '%s' is not an integer in 0..%u", line, id_s, UINT32_MAX);
    if (csv_parse_long(label_s, -1, INT32_MAX, &label) < 0)
        return err_set("line %zu: label '%s' is not an integer >= -1", line, label_s);
    return push(arg, (uint32_t)id, csv_reader_field(r, 1), (int)label);
}

manifest *manifest_load(const char *path)
{
    manifest *self = manifest_new();
    if (!self) {
        err_wrap("manifest %s", path);
        return NULL;
    }
    if (csv_read_table(path, MANIFEST_HEADER, "manifest", manifest_row, self) < 0)
        goto bad;
    qsort(self->entries, self->n, sizeof *self->entries, cmp_id);
    for (size_t i = 1; i < self->n; i++)
        if (self->entries[i].id == self->entries[i - 1].id) {
            err_set("id %u is listed twice", self->entries[i].id);
            err_wrap("manifest %s", path);
            goto bad;
        }
    return self;
bad:
    manifest_destroy(&self);
    return NULL;
}

const manifest_entry *manifest_find(const manifest *self, uint32_t id)
{
    manifest_entry key = {.id = id};
    return self->n ? bsearch(&key, self->entries, self->n, sizeof key, cmp_id) : NULL;
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

/* the stems sorted, each with its id: equal stems are neighbours */
typedef struct {
    char *stem;
    size_t id;
} stem_id;

static int cmp_stem(const void *a, const void *b)
{
    return strcmp(((const stem_id *)a)->stem, ((const stem_id *)b)->stem);
}

char **manifest_names(char *const *paths, size_t n)
{
    char **names = calloc(n + 1, sizeof *names);
    stem_id *st = calloc(n + 1, sizeof *st);
    int rc = names && st ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char s[256];
        manifest_stem(paths[i], s, sizeof s);
        st[i].id = i;
        if (!(st[i].stem = strdup(s)))
            rc = -1;
    }
    if (rc == 0)
        qsort(st, n, sizeof *st, cmp_stem);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool dup = (i > 0 && !strcmp(st[i].stem, st[i - 1].stem)) ||
                   (i + 1 < n && !strcmp(st[i].stem, st[i + 1].stem));
        char s[300];
        snprintf(s, sizeof s, dup ? "%s-%zu" : "%s", st[i].stem, st[i].id);
        if (!(names[st[i].id] = strdup(s)))
            rc = -1;
    }
    for (size_t i = 0; st && i < n; i++)
        free(st[i].stem);
    free(st);
    if (rc) {
        manifest_names_free(&names, n);
        err_set("manifest: out of memory for %zu names", n);
    }
    return names;
}

void manifest_names_free(char ***names_p, size_t n)
{
    for (size_t i = 0; *names_p && i < n; i++)
        free((*names_p)[i]);
    free(*names_p);
    *names_p = NULL;
}
