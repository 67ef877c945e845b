/* mp_reader: a bounds-checked msgpack reader that never allocates.
 *
 * msgpack-c's unpacker allocates arrays sized from the counts in the data, so a
 * 5-byte message can ask for gigabytes. This reader instead walks a buffer with a
 * cursor: every read checks that the bytes are there, counts are returned to the
 * caller (who checks them against what it agreed to accept), and strings and bins
 * are returned as pointers into the buffer. Invariant: p <= end always. */
#ifndef SPIKESYNTH_MP_READER_H
#define SPIKESYNTH_MP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;   /* next byte to read */
    const uint8_t *end; /* one past the last byte */
} mp_reader;

void mp_reader_init(mp_reader *self, const void *data, size_t len);
/* Bytes left to read. */
size_t mp_reader_left(const mp_reader *self);

/* Each reads one value of the named msgpack family, or fails with err_msg() like
 * "expected unsigned integer, got str" (the caller adds which field). */
int mp_reader_map(mp_reader *self, uint32_t *count);
int mp_reader_array(mp_reader *self, uint32_t *count);
int mp_reader_uint(mp_reader *self, uint64_t *value);   /* any non-negative integer */
int mp_reader_uint32(mp_reader *self, uint32_t *value); /* ... that fits 32 bits */
int mp_reader_int32(mp_reader *self, int32_t *value);   /* any integer that fits int32 */
int mp_reader_bool(mp_reader *self, bool *value);
int mp_reader_double(mp_reader *self, double *value);   /* float32/64 or integer */
/* Points *s into the buffer (not NUL-terminated). */
int mp_reader_str(mp_reader *self, const char **s, uint32_t *len);
int mp_reader_bin(mp_reader *self, const void **data, uint32_t *len);
/* Copies a str into buf (NUL-terminated); fails when it needs more than cap-1 bytes. */
int mp_reader_strcpy(mp_reader *self, char *buf, size_t cap);
/* Skips one value of any type; nesting deeper than 16 levels is an error. */
int mp_reader_skip(mp_reader *self);
/* The msgpack family name of the next value ("map", "str", ...), or "end of data". */
const char *mp_reader_peek_type(const mp_reader *self);

#endif
