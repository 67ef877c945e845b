/* idx: reader and writer of IDX files (the MNIST format), raw or gzip-compressed.
 *
 * Layout: magic 00 00 <type> <ndims>, then ndims big-endian uint32 dimensions,
 * then the payload, row-major, exactly the product of the dimensions in bytes.
 * Only type 0x08 (unsigned byte) is accepted. A file is read whole-or-nothing:
 * a bad magic, a zero or oversized dimension, a truncated payload or trailing
 * bytes are errors (err_msg() names the file and the fault), never a partial array.
 * Compression is detected by the gzip magic (zlib reads both forms). */
#ifndef SPIKESYNTH_IDX_H
#define SPIKESYNTH_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAX_DIMS 4
#define IDX_TYPE_UBYTE 0x08
/* Sane upper bound on the payload; MNIST's training images are 47 MB. */
#define IDX_MAX_BYTES ((size_t)1 << 31)

typedef struct {
    int ndims;                   /* 1..IDX_MAX_DIMS */
    uint32_t dims[IDX_MAX_DIMS]; /* as in the file header; dims[0] = items in the file */
    size_t count;                /* items loaded: dims[0], or fewer with idx_read_limit */
    size_t item_size;            /* bytes per item: product of dims[1..ndims-1] (1 if ndims 1) */
    uint8_t *data;               /* count * item_size bytes, row-major */
} idx_array;

/* Reads the whole file; NULL with err_msg() set on any fault. */
idx_array *idx_read(const char *path);
/* Reads only the first max_items items (0 = all), still validating the whole
 * file (header, exact payload length). */
idx_array *idx_read_limit(const char *path, size_t max_items);
/* Frees the array and sets *self_p = NULL; safe on NULL. */
void idx_destroy(idx_array **self_p);

/* Writes a raw (uncompressed) ubyte IDX file atomically; data holds the product
 * of dims[0..ndims-1] bytes. 0 or -1 with err_msg() set. */
int idx_write(const char *path, int ndims, const uint32_t *dims, const uint8_t *data);

#endif
