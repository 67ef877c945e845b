/* mp_reader: bounds-checked, allocation-free msgpack reading (see include/mp_reader.h).
 * Every multi-byte read goes through need(), so the cursor never passes end. */
#include "core/mp_reader.h"

#include "core/err.h"

#include <string.h>

void mp_reader_init(mp_reader *self, const void *data, size_t len)
{
    self->p = data;
    self->end = self->p + len;
}

size_t mp_reader_left(const mp_reader *self) { return (size_t)(self->end - self->p); }

static int need(const mp_reader *self, size_t n, const char *what)
{
    if (mp_reader_left(self) < n)
        return err_set("truncated: %s needs %zu bytes, %zu left", what, n, mp_reader_left(self));
    return 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static const char *type_name(uint8_t b)
{
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return "integer";
    if (b <= 0x8f || b == 0xde || b == 0xdf)
        return "map";
    if (b <= 0x9f || b == 0xdc || b == 0xdd)
        return "array";
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
        return "str";
    switch (b) {
    case 0xc0: return "nil";
    case 0xc2: case 0xc3: return "bool";
    case 0xc4: case 0xc5: case 0xc6: return "bin";
    case 0xca: case 0xcb: return "float";
    case 0xc1: return "invalid byte 0xc1";
    default: return "ext";
    }
}

const char *mp_reader_peek_type(const mp_reader *self)
{
    return self->p < self->end ? type_name(*self->p) : "end of data";
}

static int wrong(const mp_reader *self, const char *expected)
{
    return err_set("expected %s, got %s", expected, mp_reader_peek_type(self));
}

/* Reads a length-prefixed header: fixed family (lo..hi, count in the low bits
 * masked by mask) or one of three sized forms (b8, b16, b32; 0 when absent). */
static int read_len(mp_reader *self, const char *family, uint8_t lo, uint8_t hi, uint8_t mask,
                    int b8, int b16, int b32, uint32_t *count)
{
    if (need(self, 1, family) < 0)
        return -1;
    uint8_t b = *self->p;
    int n;
    if (b >= lo && b <= hi && hi != 0) {
        *count = b & mask;
        self->p++;
        return 0;
    } else if (b8 && b == b8)
        n = 1;
    else if (b == b16)
        n = 2;
    else if (b == b32)
        n = 4;
    else
        return wrong(self, family);
    if (need(self, 1 + (size_t)n, family) < 0)
        return -1;
    *count = (uint32_t)be(self->p + 1, n);
    self->p += 1 + n;
    return 0;
}

int mp_reader_map(mp_reader *self, uint32_t *count)
{
    return read_len(self, "map", 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf, count);
}

int mp_reader_array(mp_reader *self, uint32_t *count)
{
    return read_len(self, "array", 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd, count);
}

int mp_reader_str(mp_reader *self, const char **s, uint32_t *len)
{
    if (read_len(self, "str", 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb, len) < 0)
        return -1;
    if (need(self, *len, "str body") < 0)
        return -1;
    *s = (const char *)self->p;
    self->p += *len;
    return 0;
}

int mp_reader_bin(mp_reader *self, const void **data, uint32_t *len)
{
    /* bin has no fixed family; lo > hi disables it */
    if (read_len(self, "bin", 0xff, 0x00, 0, 0xc4, 0xc5, 0xc6, len) < 0)
        return -1;
    if (need(self, *len, "bin body") < 0)
        return -1;
    *data = self->p;
    self->p += *len;
    return 0;
}

int mp_reader_strcpy(mp_reader *self, char *buf, size_t cap)
{
    const char *s;
    uint32_t len = 0;
    const uint8_t *start = self->p;
    if (mp_reader_str(self, &s, &len) < 0)
        return -1;
    if (len >= cap) {
        self->p = start;
        return err_set("string of %u bytes, at most %zu allowed", len, cap - 1);
    }
    if (memchr(s, '\0', len)) {
        self->p = start;
        return err_set("string contains a NUL byte");
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

int mp_reader_uint(mp_reader *self, uint64_t *value)
{
    if (need(self, 1, "integer") < 0)
        return -1;
    uint8_t b = *self->p;
    int n;
    bool is_signed = false;
    if (b <= 0x7f) {
        *value = b;
        self->p++;
        return 0;
    }
    switch (b) {
    case 0xcc: n = 1; break;
    case 0xcd: n = 2; break;
    case 0xce: n = 4; break;
    case 0xcf: n = 8; break;
    case 0xd0: n = 1; is_signed = true; break;
    case 0xd1: n = 2; is_signed = true; break;
    case 0xd2: n = 4; is_signed = true; break;
    case 0xd3: n = 8; is_signed = true; break;
    default:
        if (b >= 0xe0)
            return err_set("expected unsigned integer, got negative integer");
        return wrong(self, "unsigned integer");
    }
    if (need(self, 1 + (size_t)n, "integer") < 0)
        return -1;
    uint64_t v = be(self->p + 1, n);
    if (is_signed && (v >> (8 * n - 1)) & 1)
        return err_set("expected unsigned integer, got negative integer");
    *value = v;
    self->p += 1 + n;
    return 0;
}

int mp_reader_uint32(mp_reader *self, uint32_t *value)
{
    const uint8_t *start = self->p;
    uint64_t v = 0;
    if (mp_reader_uint(self, &v) < 0)
        return -1;
    if (v > UINT32_MAX) {
        self->p = start;
        return err_set("integer %llu does not fit 32 bits", (unsigned long long)v);
    }
    *value = (uint32_t)v;
    return 0;
}

int mp_reader_int32(mp_reader *self, int32_t *value)
{
    if (need(self, 1, "integer") < 0)
        return -1;
    const uint8_t *start = self->p;
    uint8_t b = *self->p;
    int64_t v;
    if (b >= 0xe0) {
        v = (int8_t)b;
        self->p++;
    } else if (b >= 0xd0 && b <= 0xd3) {
        int n = 1 << (b - 0xd0), shift = 64 - 8 * (1 << (b - 0xd0));
        if (need(self, 1 + (size_t)n, "integer") < 0)
            return -1;
        v = (int64_t)(be(self->p + 1, n) << shift) >> shift;
        self->p += 1 + n;
    } else {
        uint64_t u = 0;
        if (mp_reader_uint(self, &u) < 0)
            return -1;
        v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
    }
    if (v < INT32_MIN || v > INT32_MAX) {
        self->p = start;
        return err_set("integer %lld does not fit 32 bits", (long long)v);
    }
    *value = (int32_t)v;
    return 0;
}

int mp_reader_bool(mp_reader *self, bool *value)
{
    if (need(self, 1, "bool") < 0)
        return -1;
    if (*self->p != 0xc2 && *self->p != 0xc3)
        return wrong(self, "bool");
    *value = *self->p++ == 0xc3;
    return 0;
}

int mp_reader_double(mp_reader *self, double *value)
{
    if (need(self, 1, "number") < 0)
        return -1;
    uint8_t b = *self->p;
    if (b == 0xca || b == 0xcb) {
        int n = b == 0xca ? 4 : 8;
        if (need(self, 1 + (size_t)n, "float") < 0)
            return -1;
        uint64_t bits = be(self->p + 1, n);
        if (n == 4) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, sizeof f);
            *value = f;
        } else {
            memcpy(value, &bits, sizeof *value);
        }
        self->p += 1 + n;
        return 0;
    }
    if (b >= 0xe0) {
        *value = (int8_t)b;
        self->p++;
        return 0;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        int n = 1 << (b - 0xd0);
        if (need(self, 1 + (size_t)n, "integer") < 0)
            return -1;
        uint64_t v = be(self->p + 1, n);
        int shift = 64 - 8 * n;
        *value = (double)((int64_t)(v << shift) >> shift);
        self->p += 1 + n;
        return 0;
    }
    uint64_t u = 0;
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) {
        if (mp_reader_uint(self, &u) < 0)
            return -1;
        *value = (double)u;
        return 0;
    }
    return wrong(self, "number");
}

static int skip(mp_reader *self, int depth)
{
    if (depth > 16)
        return err_set("values nested deeper than 16 levels");
    if (need(self, 1, "value") < 0)
        return -1;
    uint8_t b = *self->p;
    const char *t = type_name(b);
    uint32_t n = 0;
    if (!strcmp(t, "map") || !strcmp(t, "array")) {
        int is_map = !strcmp(t, "map");
        if ((is_map ? mp_reader_map(self, &n) : mp_reader_array(self, &n)) < 0)
            return -1;
        /* each element takes at least one byte: a count beyond what is left is a lie */
        uint64_t items = (uint64_t)n * (is_map ? 2 : 1);
        if (items > mp_reader_left(self))
            return err_set("truncated: %s of %u entries in %zu bytes", t, n, mp_reader_left(self));
        for (uint64_t i = 0; i < items; i++)
            if (skip(self, depth + 1) < 0)
                return -1;
        return 0;
    }
    if (!strcmp(t, "str")) {
        const char *s;
        return mp_reader_str(self, &s, &n);
    }
    if (!strcmp(t, "bin")) {
        const void *d;
        return mp_reader_bin(self, &d, &n);
    }
    size_t size;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        size = 1;
    else if (b == 0xc1)
        return err_set("invalid msgpack byte 0xc1");
    else if (b == 0xcc || b == 0xd0)
        size = 2;
    else if (b == 0xcd || b == 0xd1)
        size = 3;
    else if (b == 0xce || b == 0xd2 || b == 0xca)
        size = 5;
    else if (b == 0xcf || b == 0xd3 || b == 0xcb)
        size = 9;
    else if (b >= 0xd4 && b <= 0xd8)
        size = 2 + ((size_t)1 << (b - 0xd4));
    else { /* ext 8/16/32: length, type byte, body */
        int ln = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;
        if (need(self, 1 + (size_t)ln, "ext") < 0)
            return -1;
        size = 2 + (size_t)ln + be(self->p + 1, ln);
    }
    if (need(self, size, t) < 0)
        return -1;
    self->p += size;
    return 0;
}

int mp_reader_skip(mp_reader *self) { return skip(self, 0); }
