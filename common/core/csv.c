/* csv: the CSV writer and reader (see include/core/csv.h). The reader holds
 * the whole text; a row's fields are unquoted into one buffer of the text's
 * size, so reading a row never reallocates and a field is a pointer into it. */
#include "core/csv.h"

#include "core/err.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

bool csv_needs_quotes(const char *s) { return strpbrk(s, ",\"\r\n") != NULL; }

void csv_write_field(FILE *f, const char *s)
{
    if (!csv_needs_quotes(s)) {
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

struct csv_reader {
    char *text;       /* the file, len bytes */
    size_t len, pos;  /* pos: the start of the next row */
    size_t line;      /* line of pos */
    char *buf;        /* the current row's fields, NUL-separated (len + 1 bytes) */
    char **fields;    /* n of cap pointers into buf */
    size_t n, cap;
    size_t row_line;  /* line the current row starts on */
};

csv_reader *csv_reader_new(const char *text, size_t len)
{
    csv_reader *self = calloc(1, sizeof *self);
    if (!self || !(self->text = malloc(len + 1)) || !(self->buf = malloc(len + 1))) {
        csv_reader_close(&self);
        err_set("csv: out of memory");
        return NULL;
    }
    memcpy(self->text, text, len);
    self->text[len] = '\0';
    self->len = len;
    self->line = 1;
    return self;
}

csv_reader *csv_reader_open(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *t = realloc(text, cap = cap ? 2 * cap : 65536);
            if (!t) {
                err_set("%s: out of memory", path);
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
        err_set("%s: read failed", path);
        goto err;
    }
    fclose(f);
    csv_reader *self = csv_reader_new(text, len);
    free(text);
    return self;
err:
    fclose(f);
    free(text);
    return NULL;
}

void csv_reader_close(csv_reader **self_p)
{
    csv_reader *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->text);
    free(self->buf);
    free(self->fields);
    free(self);
    *self_p = NULL;
}

static int push_field(csv_reader *self, char *field)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 16;
        char **f = realloc(self->fields, cap * sizeof *f);
        if (!f)
            return err_set("csv: out of memory");
        self->fields = f;
        self->cap = cap;
    }
    self->fields[self->n++] = field;
    return 0;
}

static bool at_eol(const char *p, const char *end) { return p == end || *p == '\n' || *p == '\r'; }

int csv_reader_next(csv_reader *self)
{
    const char *p = self->text + self->pos, *end = self->text + self->len;
    /* blank lines */
    while (p < end && (*p == '\n' || *p == '\r')) {
        if (*p == '\n')
            self->line++;
        p++;
    }
    self->n = 0;
    if (p == end) {
        self->pos = self->len;
        return 0;
    }
    self->row_line = self->line;
    char *w = self->buf;
    for (;;) {
        char *field = w;
        if (*p == '"') {
            for (p++;; p++) {
                if (p == end)
                    return err_set("line %zu: unterminated quoted field", self->row_line);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *w++ = *p++;
                        continue;
                    }
                    p++;
                    break;
                }
                self->line += *p == '\n';
                *w++ = *p;
            }
            if (!at_eol(p, end) && *p != ',')
                return err_set("line %zu: text after the closing quote of field %zu",
                               self->row_line, self->n + 1);
        } else {
            for (; !at_eol(p, end) && *p != ','; p++) {
                if (*p == '"')
                    return err_set("line %zu: a quote inside the unquoted field %zu",
                                   self->row_line, self->n + 1);
                *w++ = *p;
            }
        }
        *w++ = '\0';
        if (push_field(self, field) < 0)
            return -1;
        if (at_eol(p, end))
            break;
        p++; /* the comma */
    }
    if (p < end && *p == '\r')
        p++;
    if (p < end && *p == '\n') {
        p++;
        self->line++;
    }
    self->pos = (size_t)(p - self->text);
    return 1;
}

int csv_reader_header(csv_reader *self, const char *header)
{
    int rc = csv_reader_next(self);
    bool ok = rc == 1 && csv_reader_line(self) == 1;
    const char *h = header;
    for (size_t k = 0; ok && k < self->n; k++) {
        size_t n = strlen(self->fields[k]);
        ok = !strncmp(h, self->fields[k], n) && (h[n] == (k + 1 < self->n ? ',' : '\0'));
        h += n + 1;
    }
    if (!ok)
        return err_set("line 1: expected the header '%s'", header);
    return 0;
}

int csv_read_table(const char *path, const char *header, const char *what, csv_row_fn *row, void *arg)
{
    csv_reader *r = csv_reader_open(path);
    if (!r)
        return err_wrap("%s", what);
    int rc = csv_reader_header(r, header);
    while (rc == 0 && (rc = csv_reader_next(r)) == 1)
        rc = row(r, arg);
    csv_reader_close(&r);
    if (rc < 0)
        return err_wrap("%s %s", what, path);
    return 0;
}

size_t csv_reader_count(const csv_reader *self) { return self->n; }
const char *csv_reader_field(const csv_reader *self, size_t k) { return k < self->n ? self->fields[k] : ""; }
size_t csv_reader_line(const csv_reader *self) { return self->row_line; }

int csv_parse_long(const char *s, long lo, long hi, long *value)
{
    if (!((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
        return -1;
    char *e;
    errno = 0;
    long x = strtol(s, &e, 10);
    if (*e || errno || x < lo || x > hi)
        return -1;
    *value = x;
    return 0;
}
