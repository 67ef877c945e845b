/* fuzz_model: model_read over any bytes, as model_load reads a .ssm file
 * (docs/formats.md), through fmemopen.
 *
 * Each input is read twice: as it is, and with its last 4 bytes replaced by
 * the CRC-32 of the bytes before them, so that mutations get past the checksum
 * to the shape and weight checks behind it. A model that loads must have the
 * shape its file gave (the weights the file's size held), finite weights and,
 * in a checkpoint (format 3), moments Adam can go on from. */
#include "fuzz.h"

#include "data/model.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

static void load(const uint8_t *data, size_t size)
{
    FILE *in = fmemopen((void *)data, size, "rb");
    fuzz_require(in);
    model *m = model_read(in, "fuzz.ssm");
    fclose(in);
    if (!m)
        return;
    size_t n = (size_t)m->n_in * m->n_out;
    fuzz_require(m->n_in > 0 && m->n_out > 0 && n * sizeof(float) + 20 <= size);
    fuzz_require(memchr(m->kind, '\0', sizeof m->kind));
    fuzz_require(memchr(m->lineage.frontend, '\0', sizeof m->lineage.frontend));
    for (size_t i = 0; i < n; i++)
        fuzz_require(isfinite(m->w[i]));
    for (size_t i = 0; m->state.m && i < n; i++) /* Adam takes sqrt(v) */
        fuzz_require(isfinite(m->state.m[i]) && isfinite(m->state.v[i]) && m->state.v[i] >= 0);
    (void)model_expect(m, "fuzz.ssm", "ae-encoder", 784, 196);
    (void)model_check_pair(m, "a.ssm", m, "b.ssm");
    (void)model_check_set(&m, (const char *[]){"fuzz.ssm"}, 1);
    model_destroy(&m);
}

int fuzz_model(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0; /* fmemopen takes no empty buffer */
    load(data, size);
    if (size < 4)
        return 0;
    uint8_t *fixed = malloc(size);
    fuzz_require(fixed);
    memcpy(fixed, data, size);
    uint32_t crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), fixed, size - 4);
    memcpy(fixed + size - 4, &crc, 4);
    load(fixed, size);
    free(fixed);
    return 0;
}
