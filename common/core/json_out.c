/* json_out: flat JSON result objects (see include/json_out.h). */
#include "core/json_out.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_out_init(json_out *self) { memset(self, 0, sizeof *self); }

static void append(json_out *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(json_out *self, const char *fmt, ...)
{
    if (self->bad)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = self->cap - self->len;
        int n = vsnprintf(self->buf ? self->buf + self->len : NULL, self->buf ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            self->bad = 1;
            return;
        }
        if (self->buf && (size_t)n < room) {
            self->len += (size_t)n;
            return;
        }
        size_t cap = (self->cap + (size_t)n + 1) * 2;
        char *b = realloc(self->buf, cap);
        if (!b) {
            self->bad = 1;
            return;
        }
        self->buf = b;
        self->cap = cap;
    }
}

static void key(json_out *self, const char *k)
{
    append(self, "%s\"%s\": ", self->fields++ ? ",\n  " : "{\n  ", k);
}

void json_out_num(json_out *self, const char *k, double value)
{
    key(self, k);
    if (isfinite(value))
        append(self, "%.9g", value);
    else
        append(self, "null");
}

void json_out_int(json_out *self, const char *k, int64_t value)
{
    key(self, k);
    append(self, "%lld", (long long)value);
}

void json_out_str(json_out *self, const char *k, const char *value)
{
    key(self, k);
    append(self, "\"");
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            append(self, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            append(self, "\\u%04x", (unsigned char)*p);
        else
            append(self, "%c", *p);
    }
    append(self, "\"");
}

int json_out_write(json_out *self, const char *path)
{
    append(self, self->fields ? "\n}\n" : "{}\n");
    int rc = self->bad ? err_set("%s: out of memory", path) : atomic_file_write(path, self->buf, self->len);
    json_out_free(self);
    return rc;
}

int json_out_print(json_out *self, FILE *out)
{
    append(self, self->fields ? "\n}\n" : "{}\n");
    int rc = self->bad || fwrite(self->buf, 1, self->len, out) != self->len ? err_set("cannot print JSON") : 0;
    json_out_free(self);
    return rc;
}

void json_out_free(json_out *self)
{
    free(self->buf);
    memset(self, 0, sizeof *self);
}
