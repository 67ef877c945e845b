/* manifest: the id,path,label CSV (see include/manifest.h).
 * Invariant: entries[0..n) are sorted by id, ids unique, paths owned. */
#include "data/manifest.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <errno.h>
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

/* A CSV field, quoted only when it must be. */
static void put_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
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
        put_field(f, self->entries[i].path);
        fprintf(f, ",%d\n", self->entries[i].label);
    }
    return atomic_file_commit(&af);
}

/* ---- reading ------------------------------------------------------------------ */

/* Reads one CSV field starting at *p (quoted or not) into a fresh string; on
 * return *p is at the delimiter (',' / '\n' / end). Quoted fields may span lines. */
static char *read_field(const char **p, const char *end)
{
    const char *s = *p;
    size_t cap = 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    int quoted = s < end && *s == '"';
    if (quoted)
        s++;
    while (s < end) {
        char c = *s;
        if (quoted && c == '"') {
            if (s + 1 < end && s[1] == '"') {
                s += 2;
                c = '"';
            } else {
                s++;
                quoted = 2; /* closed */
                break;
            }
        } else if (!quoted && (c == ',' || c == '\n' || c == '\r')) {
            break;
        } else {
            s++;
        }
        if (n + 2 > cap) {
            char *o = realloc(out, cap *= 2);
            if (!o) {
                free(out);
                return NULL;
            }
            out = o;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (quoted == 1) { /* no closing quote */
        free(out);
        errno = EINVAL;
        return NULL;
    }
    *p = s;
    return out;
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    if (!*s || *e || errno || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint32_t x = ((const manifest_entry *)a)->id, y = ((const manifest_entry *)b)->id;
    return x < y ? -1 : x > y;
}

manifest *manifest_load(const char *path)
{
    manifest *self = NULL;
    char *text = NULL, *fields[3] = {NULL, NULL, NULL};
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("manifest %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? 2 * cap : 65536;
            char *t = realloc(text, cap);
            if (!t) {
                err_set("manifest %s: out of memory", path);
                goto err;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        err_set("manifest %s: read failed", path);
        goto err;
    }
    if (!(self = manifest_new()))
        goto err;
    const char *p = text, *end = text + len;
    size_t hl = strlen(MANIFEST_HEADER);
    if (len < hl || memcmp(p, MANIFEST_HEADER, hl) ||
        (len > hl && p[hl] != '\n' && p[hl] != '\r')) {
        err_set("manifest %s: line 1: expected the header '%s'", path, MANIFEST_HEADER);
        goto err;
    }
    p += hl;
    size_t line = 1;
    while (p < end) {
        if (*p == '\r')
            p++;
        if (p < end && *p == '\n') {
            p++;
            line++;
        }
        if (p >= end)
            break;
        if (*p == '\n' || *p == '\r')
            continue; /* blank line */
        size_t row_line = line;
        for (int k = 0; k < 3; k++) {
            if (k && (p >= end || *p++ != ',')) {
                err_set("manifest %s: line %zu: expected 3 fields (id,path,label)", path, row_line);
                goto err;
            }
            const char *q = p;
            if (!(fields[k] = read_field(&p, end))) {
                err_set("manifest %s: line %zu: %s", path, row_line,
                        errno == EINVAL ? "unterminated quoted field" : "out of memory");
                goto err;
            }
            for (; q < p; q++)
                line += *q == '\n';
        }
        if (p < end && *p != '\n' && *p != '\r') {
            err_set("manifest %s: line %zu: %s after the label", path, row_line,
                    *p == ',' ? "a fourth field" : "junk");
            goto err;
        }
        long id, label;
        if (parse_long(fields[0], 0, UINT32_MAX, &id) < 0) {
            err_set("manifest %s: line %zu: id '%s' is not an integer in 0..%u", path, row_line,
                    fields[0], UINT32_MAX);
            goto err;
        }
        if (parse_long(fields[2], -1, INT32_MAX, &label) < 0) {
            err_set("manifest %s: line %zu: label '%s' is not an integer >= -1", path, row_line,
                    fields[2]);
            goto err;
        }
        if (push(self, (uint32_t)id, fields[1], (int)label) < 0)
            goto err;
        for (int k = 0; k < 3; k++) {
            free(fields[k]);
            fields[k] = NULL;
        }
    }
    qsort(self->entries, self->n, sizeof *self->entries, cmp_id);
    for (size_t i = 1; i < self->n; i++)
        if (self->entries[i].id == self->entries[i - 1].id) {
            err_set("manifest %s: id %u is listed twice", path, self->entries[i].id);
            goto err;
        }
    fclose(f);
    free(text);
    return self;
err:
    for (int k = 0; k < 3; k++)
        free(fields[k]);
    fclose(f);
    free(text);
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
