/* idx: IDX files, raw or gzip (see include/idx.h).
 * Invariant: an idx_array handed out always holds count * item_size bytes that
 * came from a file whose header and payload length were fully validated. */
#include "data/idx.h"

#include "core/atomic_file.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char *type_name(int type)
{
    switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown type";
    }
}

/* zlib's message without the "<fd:N>: " prefix it adds for gzdopen streams. */
static const char *gz_msg(gzFile f, int *code)
{
    const char *msg = gzerror(f, code);
    const char *colon = strstr(msg, ": ");
    return (msg[0] == '<' && colon) ? colon + 2 : msg;
}

/* Reads up to len bytes; returns the count read (short only at end of file), or
 * -1 with err_msg() set on a read or decompression error. */
static long long read_full(gzFile f, const char *path, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = len - got;
        if (want > (1u << 30))
            want = 1u << 30;
        int n = gzread(f, (uint8_t *)buf + got, (unsigned)want);
        if (n < 0) {
            int code;
            const char *msg = gz_msg(f, &code);
            if (code == Z_ERRNO)
                err_set("%s: read error: %s", path, strerror(errno));
            else
                err_set("%s: damaged gzip stream: %s", path, msg);
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (long long)got;
}

/* A damaged gzip stream shows only through gzerror (gzread returns a short count). */
static int check_stream(gzFile f, const char *path)
{
    int code;
    const char *msg = gz_msg(f, &code);
    if (code != Z_OK && code != Z_STREAM_END)
        return err_set("%s: damaged gzip stream: %s", path, msg);
    return 0;
}

static gzFile open_gz(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        err_set("%s: cannot open: out of memory", path);
        return NULL;
    }
    gzbuffer(f, 1u << 17);
    return f;
}

idx_array *idx_read_limit(const char *path, size_t max_items)
{
    idx_array *self = NULL;
    uint8_t *scratch = NULL;
    gzFile f = open_gz(path);
    if (!f)
        return NULL;

    uint8_t magic[4];
    long long n = read_full(f, path, magic, sizeof magic);
    if (n < 0)
        goto err;
    if (n == 0) {
        err_set("%s: empty file, expected an IDX header", path);
        goto err;
    }
    if (n < 4) {
        err_set("%s: truncated: expected a 4-byte IDX magic, got %lld bytes", path, n);
        goto err;
    }
    if (magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > IDX_MAX_DIMS) {
        err_set("%s: not an IDX file: starts with %02x %02x %02x %02x, expected 00 00 <type> "
                "<ndims 1-%d>", path, magic[0], magic[1], magic[2], magic[3], IDX_MAX_DIMS);
        goto err;
    }
    if (magic[2] != IDX_TYPE_UBYTE) {
        err_set("%s: IDX type 0x%02X (%s) is not supported: only 0x08 (unsigned byte)", path,
                magic[2], type_name(magic[2]));
        goto err;
    }

    self = calloc(1, sizeof *self);
    if (!self) {
        err_set("%s: out of memory", path);
        goto err;
    }
    self->ndims = magic[3];
    uint8_t hdr[4 * IDX_MAX_DIMS];
    size_t hdr_len = 4 * (size_t)self->ndims;
    n = read_full(f, path, hdr, hdr_len);
    if (n < 0)
        goto err;
    if ((size_t)n < hdr_len) {
        err_set("%s: truncated: expected %zu bytes of dimensions, got %lld", path, hdr_len, n);
        goto err;
    }
    size_t total = 1;
    self->item_size = 1;
    for (int i = 0; i < self->ndims; i++) {
        const uint8_t *b = hdr + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (d == 0) {
            err_set("%s: dimension %d is zero", path, i);
            goto err;
        }
        if (total > IDX_MAX_BYTES / d) {
            err_set("%s: dimensions too large: the payload would exceed %zu bytes", path,
                    (size_t)IDX_MAX_BYTES);
            goto err;
        }
        total *= d;
        self->dims[i] = d;
        if (i > 0)
            self->item_size *= d;
    }

    size_t items = self->dims[0];
    self->count = (max_items && max_items < items) ? max_items : items;
    size_t want = self->count * self->item_size;
    self->data = malloc(want);
    if (!self->data) {
        err_set("%s: out of memory for %zu bytes", path, want);
        goto err;
    }
    n = read_full(f, path, self->data, want);
    if (n < 0)
        goto err;
    /* the rest of the payload (skipped items) and anything after it */
    size_t seen = (size_t)n;
    if (seen == want) {
        size_t chunk = 1u << 16;
        scratch = malloc(chunk);
        if (!scratch) {
            err_set("%s: out of memory", path);
            goto err;
        }
        /* stop counting well past the end: a huge tail is reported as "more than" */
        while (seen <= total + (1u << 20)) {
            n = read_full(f, path, scratch, chunk);
            if (n < 0)
                goto err;
            seen += (size_t)n;
            if ((size_t)n < chunk)
                break;
        }
    }
    int zcode;
    gzerror(f, &zcode);
    if (seen < total) {
        err_set("%s: truncated%s: expected %zu bytes of data (%zu items of %zu bytes), got %zu",
                path, zcode == Z_BUF_ERROR ? " (gzip stream cut short)" : "", total, items,
                self->item_size, seen);
        goto err;
    }
    if (check_stream(f, path) != 0)
        goto err;
    if (seen > total) {
        err_set("%s: %s%zu trailing bytes after the %zu bytes of data (%zu items of %zu bytes)",
                path, seen > total + (1u << 20) ? "more than " : "", seen - total, total, items,
                self->item_size);
        goto err;
    }
    free(scratch);
    gzclose(f);
    return self;
err:
    free(scratch);
    idx_destroy(&self);
    gzclose(f);
    return NULL;
}

idx_array *idx_read(const char *path) { return idx_read_limit(path, 0); }

void idx_destroy(idx_array **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->data);
    free(*self_p);
    *self_p = NULL;
}

int idx_write(const char *path, int ndims, const uint32_t *dims, const uint8_t *data)
{
    if (ndims < 1 || ndims > IDX_MAX_DIMS)
        return err_set("%s: cannot write %d dimensions: IDX takes 1 to %d", path, ndims,
                       IDX_MAX_DIMS);
    size_t total = 1;
    uint8_t hdr[4 + 4 * IDX_MAX_DIMS] = {0, 0, IDX_TYPE_UBYTE, (uint8_t)ndims};
    for (int i = 0; i < ndims; i++) {
        if (dims[i] == 0)
            return err_set("%s: cannot write: dimension %d is zero", path, i);
        if (total > IDX_MAX_BYTES / dims[i])
            return err_set("%s: cannot write: payload larger than %zu bytes", path,
                           (size_t)IDX_MAX_BYTES);
        total *= dims[i];
        uint8_t *b = hdr + 4 + 4 * i;
        b[0] = (uint8_t)(dims[i] >> 24);
        b[1] = (uint8_t)(dims[i] >> 16);
        b[2] = (uint8_t)(dims[i] >> 8);
        b[3] = (uint8_t)dims[i];
    }
    atomic_file *af = atomic_file_new(path);
    if (!af)
        return -1;
    FILE *out = atomic_file_stream(af);
    size_t hdr_len = 4 + 4 * (size_t)ndims;
    if (fwrite(hdr, 1, hdr_len, out) != hdr_len || fwrite(data, 1, total, out) != total) {
        atomic_file_destroy(&af);
        return err_set("%s: write failed: %s", path, strerror(errno));
    }
    return atomic_file_commit(&af);
}
