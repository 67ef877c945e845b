/* test_spike_maps: spike map files round-trip bit for bit, and a truncated file,
 * a bad magic, a flipped byte (checksum), trailing bytes and a duplicate id are
 * refused with a message naming the file and the fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/err.h"
#include "data/spike_maps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WIDTH 13 /* not a multiple of 8: the last byte of a row is partial */
#define STEPS 3

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/spikesynth-test-spike-maps-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/t.ssmap", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* Map of id: a fixed pseudo-random pattern. */
static void pattern(uint32_t id, float *m)
{
    uint32_t s = id * 2654435761u + 1;
    for (int i = 0; i < WIDTH * STEPS; i++) {
        s = s * 1664525u + 1013904223u;
        m[i] = (s >> 28) & 1 ? 1.0f : 0.0f;
    }
}

/* Maps of ids 9, 2, 5 (out of order), saved after sorting. */
static spike_maps *sample(void)
{
    spike_maps *m = spike_maps_new(WIDTH, STEPS);
    assert_non_null(m);
    float map[WIDTH * STEPS];
    const uint32_t ids[] = {9, 2, 5};
    for (int k = 0; k < 3; k++) {
        pattern(ids[k], map);
        assert_int_equal(spike_maps_add(m, ids[k], (int32_t)ids[k] % 10, (int32_t)ids[k] * 100, map), 0);
    }
    m->dataset = 'B';
    m->seed = 0x123456789abcULL;
    snprintf(m->source, sizeof m->source, "models/ae-mnist-encoder.ssm");
    return m;
}

static void test_round_trip(void **state)
{
    (void)state;
    spike_maps *m = sample();
    /* unsorted maps are not written */
    assert_int_equal(spike_maps_save(m, path), -1);
    assert_non_null(strstr(err_msg(), "ascending"));
    assert_int_equal(spike_maps_sort(m), 0);
    assert_int_equal(m->ids[0], 2);
    assert_int_equal(m->ids[2], 9);
    assert_int_equal(spike_maps_save(m, path), 0);
    spike_maps *r = spike_maps_load(path);
    if (!r)
        fail_msg("%s", err_msg());
    assert_int_equal(r->width, WIDTH);
    assert_int_equal(r->steps, STEPS);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->dataset, 'B');
    assert_true(r->seed == 0x123456789abcULL);
    assert_string_equal(r->source, "models/ae-mnist-encoder.ssm");
    assert_memory_equal(r->bits, m->bits, 3 * STEPS * spike_maps_row_bytes(m));
    float want[WIDTH * STEPS], got[WIDTH];
    for (uint32_t id = 0; id < 12; id++) {
        long i = spike_maps_find(r, id);
        if (id != 2 && id != 5 && id != 9) {
            assert_int_equal(i, -1);
            continue;
        }
        assert_true(i >= 0);
        assert_int_equal(r->labels[i], (int32_t)id % 10);
        assert_int_equal(r->images[i], (int32_t)id * 100);
        pattern(id, want);
        for (uint32_t t = 0; t < STEPS; t++) {
            spike_maps_step(r, (size_t)i, t, got);
            assert_memory_equal(got, want + t * WIDTH, sizeof got);
        }
    }
    spike_maps_destroy(&r);
    spike_maps_destroy(&m);
    assert_null(m);
    spike_maps_destroy(&m); /* safe on NULL */
}

static void test_empty(void **state)
{
    (void)state;
    spike_maps *m = spike_maps_new(196, 15);
    assert_int_equal(spike_maps_save(m, path), 0);
    spike_maps *r = spike_maps_load(path);
    if (!r)
        fail_msg("%s", err_msg());
    assert_int_equal(r->n, 0);
    assert_int_equal(r->dataset, '?');
    assert_int_equal(spike_maps_find(r, 0), -1);
    spike_maps_destroy(&r);
    spike_maps_destroy(&m);
}

static void test_bad_shape_and_values(void **state)
{
    (void)state;
    assert_null(spike_maps_new(0, 15));
    assert_non_null(strstr(err_msg(), "bad shape"));
    assert_null(spike_maps_new(196, 0));
    spike_maps *m = spike_maps_new(WIDTH, STEPS);
    float map[WIDTH * STEPS] = {0};
    assert_int_equal(spike_maps_add(m, 1, -2, 0, map), -1);
    m->dataset = 'C';
    assert_int_equal(spike_maps_save(m, path), -1);
    assert_non_null(strstr(err_msg(), "dataset"));
    spike_maps_destroy(&m);
}

static void test_duplicate_add(void **state)
{
    (void)state;
    spike_maps *m = sample();
    float map[WIDTH * STEPS];
    pattern(5, map);
    assert_int_equal(spike_maps_add(m, 5, 0, 0, map), 0);
    assert_int_equal(spike_maps_sort(m), -1);
    assert_non_null(strstr(err_msg(), "sample id 5 appears twice"));
    spike_maps_destroy(&m);
}

/* ---- bad files ----------------------------------------------------------------- */

static unsigned char *file_bytes(long *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    unsigned char *d = malloc((size_t)*len);
    assert_int_equal(fread(d, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return d;
}

static void write_bytes(const unsigned char *d, long len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, (size_t)len, f), (size_t)len);
    fclose(f);
}

/* Saves the sample, lets edit change the bytes, then expects load to fail with
 * path and needle in the message. */
static void expect_refused(void (*edit)(unsigned char *d, long *len), const char *needle)
{
    spike_maps *m = sample();
    assert_int_equal(spike_maps_sort(m), 0);
    assert_int_equal(spike_maps_save(m, path), 0);
    spike_maps_destroy(&m);
    long len;
    unsigned char *d = file_bytes(&len);
    d = realloc(d, (size_t)len + 16);
    edit(d, &len);
    write_bytes(d, len);
    free(d);
    assert_null(spike_maps_load(path));
    if (!strstr(err_msg(), path) || !strstr(err_msg(), needle))
        fail_msg("expected '%s' and the path in: %s", needle, err_msg());
}

static void truncate_body(unsigned char *d, long *len) { (void)d; *len -= 7; }
static void truncate_header(unsigned char *d, long *len) { (void)d; *len = 40; }
static void drop_checksum(unsigned char *d, long *len) { (void)d; *len -= 2; }
static void bad_magic(unsigned char *d, long *len) { (void)len; d[3] = 'X'; }
static void flip_bit(unsigned char *d, long *len) { d[*len - 10] ^= 0x04; }
static void add_trailing(unsigned char *d, long *len) { d[(*len)++] = 0; }
static void bad_version(unsigned char *d, long *len) { (void)len; d[8] = 99; }

/* Writes id 5 over id 9 (the last map) and fixes the checksum: a duplicate. */
static void duplicate_id(unsigned char *d, long *len)
{
    long entry = 12 + STEPS * ((WIDTH + 7) / 8);
    long last = *len - 4 - entry;
    uint32_t id;
    memcpy(&id, d + last, 4);
    assert_int_equal(id, 9);
    id = 5;
    memcpy(d + last, &id, 4);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d, (uInt)(*len - 4));
    memcpy(d + *len - 4, &crc, 4);
}

static void test_truncated(void **state)
{
    (void)state;
    expect_refused(truncate_body, "truncated");
    expect_refused(truncate_header, "truncated header");
    expect_refused(drop_checksum, "truncated");
}

static void test_bad_magic(void **state)
{
    (void)state;
    expect_refused(bad_magic, "bad magic");
    expect_refused(bad_version, "format version 99");
}

static void test_checksum(void **state)
{
    (void)state;
    expect_refused(flip_bit, "checksum mismatch");
    expect_refused(add_trailing, "trailing bytes");
}

static void test_duplicate_id(void **state)
{
    (void)state;
    expect_refused(duplicate_id, "duplicate sample id 5");
}

static void test_missing_file(void **state)
{
    (void)state;
    assert_null(spike_maps_load("/nonexistent/x.ssmap"));
    assert_non_null(strstr(err_msg(), "/nonexistent/x.ssmap: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bad_shape_and_values),
        cmocka_unit_test(test_duplicate_add),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_duplicate_id),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
