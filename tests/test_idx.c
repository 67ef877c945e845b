/* test_idx: the IDX reader and writer, and dataset_load_images, on fixtures made
 * in a temporary directory (never data/): good raw and gzip files, limits, and
 * every kind of damage the reader must refuse with a message naming the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/dataset.h"
#include "core/err.h"
#include "data/idx.h"
#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir, sizeof tmpdir, "test_idx");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

static const char *tpath(const char *name) { return tmpdir_at(tmpdir, name); }

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

static uint8_t *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

/* 5 items of 3 x 4 bytes: header (16 bytes) then 60 bytes, value = index * 3 + 1 */
#define N_ITEMS 5
#define ITEM 12
static uint8_t good[16 + N_ITEMS * ITEM];

static void make_good(void)
{
    const uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, N_ITEMS, 0, 0, 0, 3, 0, 0, 0, 4};
    memcpy(good, hdr, sizeof hdr);
    for (int i = 0; i < N_ITEMS * ITEM; i++)
        good[16 + i] = (uint8_t)(i * 3 + 1);
}

/* Reads path expecting failure; the message must name the file and hold `what`. */
static void expect_error(const char *path, size_t limit, const char *what)
{
    err_clear();
    idx_array *a = idx_read_limit(path, limit);
    if (a) {
        idx_destroy(&a);
        fail_msg("%s: read succeeded, expected an error with '%s'", path, what);
    }
    const char *msg = err_msg();
    if (!strstr(msg, path) || !strstr(msg, what))
        fail_msg("message '%s' should name %s and say '%s'", msg, path, what);
}

static void check_good(const idx_array *a, size_t count)
{
    assert_int_equal(a->ndims, 3);
    assert_int_equal(a->dims[0], N_ITEMS);
    assert_int_equal(a->dims[1], 3);
    assert_int_equal(a->dims[2], 4);
    assert_int_equal(a->count, count);
    assert_int_equal(a->item_size, ITEM);
    for (size_t i = 0; i < count * ITEM; i++)
        assert_int_equal(a->data[i], (uint8_t)(i * 3 + 1));
}

static void test_raw_good(void **state)
{
    (void)state;
    make_good();
    write_bytes(tpath("good"), good, sizeof good);
    idx_array *a = idx_read(tpath("good"));
    assert_non_null(a);
    check_good(a, N_ITEMS);
    idx_destroy(&a);
    assert_null(a);
    idx_destroy(&a); /* safe twice */
    idx_destroy(NULL);
}

static void test_gzip_good(void **state)
{
    (void)state;
    make_good();
    write_gz(tpath("good.gz"), good, sizeof good);
    size_t len;
    uint8_t *b = read_bytes(tpath("good.gz"), &len);
    assert_int_equal(b[0], 0x1f); /* really compressed */
    assert_int_equal(b[1], 0x8b);
    free(b);
    idx_array *a = idx_read(tpath("good.gz"));
    assert_non_null(a);
    check_good(a, N_ITEMS);
    idx_destroy(&a);
}

static void test_limit(void **state)
{
    (void)state;
    make_good();
    write_bytes(tpath("lim"), good, sizeof good);
    write_gz(tpath("lim.gz"), good, sizeof good);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath(gz ? "lim.gz" : "lim");
        idx_array *a = idx_read_limit(p, 2);
        assert_non_null(a);
        check_good(a, 2);
        idx_destroy(&a);
        a = idx_read_limit(p, 99);
        assert_non_null(a);
        check_good(a, N_ITEMS);
        idx_destroy(&a);
    }
    /* a limited read still sees the damage past the items it keeps */
    uint8_t longer[sizeof good + 1];
    memcpy(longer, good, sizeof good);
    longer[sizeof good] = 7;
    write_bytes(tpath("lim-trail"), longer, sizeof longer);
    expect_error(tpath("lim-trail"), 2, "1 trailing bytes");
    write_bytes(tpath("lim-short"), good, sizeof good - 1);
    expect_error(tpath("lim-short"), 2, "truncated");
}

static void test_truncated(void **state)
{
    (void)state;
    make_good();
    write_bytes(tpath("short"), good, sizeof good - 1);
    expect_error(tpath("short"), 0, "truncated: expected 60 bytes of data (5 items of 12 bytes), got 59");
    write_bytes(tpath("short-hdr"), good, 10);
    expect_error(tpath("short-hdr"), 0, "truncated: expected 12 bytes of dimensions, got 6");
    write_bytes(tpath("short-magic"), good, 3);
    expect_error(tpath("short-magic"), 0, "truncated");
    write_bytes(tpath("empty"), good, 0);
    expect_error(tpath("empty"), 0, "empty file");
    /* gzip of a short payload: a valid stream, too little data */
    write_gz(tpath("short-payload.gz"), good, sizeof good - 12);
    expect_error(tpath("short-payload.gz"), 0, "expected 60 bytes of data (5 items of 12 bytes), got 48");
}

static void test_truncated_gzip_stream(void **state)
{
    (void)state;
    /* big enough that a cut lands in the middle of the deflate data */
    size_t n = 200, item = 28 * 28, len = 16 + n * item;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    const uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    memcpy(buf, hdr, 16);
    unsigned s = 1;
    for (size_t i = 16; i < len; i++) {
        s = s * 1103515245u + 12345u;
        buf[i] = (uint8_t)(s >> 16);
    }
    write_gz(tpath("big.gz"), buf, len);
    idx_array *a = idx_read(tpath("big.gz"));
    assert_non_null(a);
    assert_memory_equal(a->data, buf + 16, n * item);
    idx_destroy(&a);
    size_t zlen;
    uint8_t *z = read_bytes(tpath("big.gz"), &zlen);
    write_bytes(tpath("cut.gz"), z, zlen / 2);
    expect_error(tpath("cut.gz"), 0, "truncated (gzip stream cut short)");
    /* the gzip trailer (CRC) damaged: the data is complete but must not be trusted */
    z[zlen - 6] ^= 0xff;
    write_bytes(tpath("crc.gz"), z, zlen);
    expect_error(tpath("crc.gz"), 0, "damaged gzip stream");
    free(z);
    free(buf);
}

static void test_bad_magic(void **state)
{
    (void)state;
    make_good();
    uint8_t b[sizeof good];
    memcpy(b, good, sizeof b);
    b[0] = 1;
    write_bytes(tpath("magic0"), b, sizeof b);
    expect_error(tpath("magic0"), 0, "not an IDX file: starts with 01 00 08 03");
    memcpy(b, good, sizeof b);
    b[3] = 0;
    write_bytes(tpath("ndims0"), b, sizeof b);
    expect_error(tpath("ndims0"), 0, "not an IDX file");
    b[3] = 5;
    write_bytes(tpath("ndims5"), b, sizeof b);
    expect_error(tpath("ndims5"), 0, "not an IDX file");
    write_bytes(tpath("text"), "hello, world, this is not IDX", 29);
    expect_error(tpath("text"), 0, "not an IDX file");
}

static void test_bad_type(void **state)
{
    (void)state;
    make_good();
    uint8_t b[sizeof good];
    memcpy(b, good, sizeof b);
    b[2] = 0x0D;
    write_bytes(tpath("float"), b, sizeof b);
    expect_error(tpath("float"), 0, "IDX type 0x0D (float32) is not supported");
    b[2] = 0x42;
    write_bytes(tpath("weird"), b, sizeof b);
    expect_error(tpath("weird"), 0, "IDX type 0x42 (unknown type) is not supported");
}

static void test_bad_dims(void **state)
{
    (void)state;
    make_good();
    uint8_t b[sizeof good];
    memcpy(b, good, sizeof b);
    b[11] = 0; /* dims[1] = 0 */
    write_bytes(tpath("zero"), b, sizeof b);
    expect_error(tpath("zero"), 0, "dimension 1 is zero");
    const uint8_t huge[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2};
    write_bytes(tpath("huge"), huge, sizeof huge);
    expect_error(tpath("huge"), 0, "dimensions too large");
}

static void test_trailing(void **state)
{
    (void)state;
    make_good();
    uint8_t b[sizeof good + 3];
    memcpy(b, good, sizeof good);
    memset(b + sizeof good, 9, 3);
    write_bytes(tpath("trail"), b, sizeof b);
    expect_error(tpath("trail"), 0, "3 trailing bytes after the 60 bytes of data");
    write_gz(tpath("trail.gz"), b, sizeof b);
    expect_error(tpath("trail.gz"), 0, "3 trailing bytes");
}

static void test_missing(void **state)
{
    (void)state;
    expect_error(tpath("nonexistent"), 0, "cannot open");
    expect_error(tmpdir, 0, "read error");
}

static void test_write(void **state)
{
    (void)state;
    const uint32_t dims[2] = {3, 2};
    const uint8_t data[6] = {0, 1, 2, 253, 254, 255};
    assert_int_equal(idx_write(tpath("w"), 2, dims, data), 0);
    size_t len;
    uint8_t *b = read_bytes(tpath("w"), &len);
    const uint8_t want[] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 2, 0, 1, 2, 253, 254, 255};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(b, want, sizeof want);
    free(b);
    idx_array *a = idx_read(tpath("w"));
    assert_non_null(a);
    assert_int_equal(a->ndims, 2);
    assert_int_equal(a->count, 3);
    assert_int_equal(a->item_size, 2);
    assert_memory_equal(a->data, data, 6);
    idx_destroy(&a);
    /* 1-dimensional: items of one byte */
    assert_int_equal(idx_write(tpath("w1"), 1, dims, data), 0);
    a = idx_read(tpath("w1"));
    assert_non_null(a);
    assert_int_equal(a->count, 3);
    assert_int_equal(a->item_size, 1);
    idx_destroy(&a);
    /* refusals, and nothing left behind */
    const uint32_t zero[2] = {3, 0};
    assert_int_equal(idx_write(tpath("wz"), 2, zero, data), -1);
    assert_non_null(strstr(err_msg(), "dimension 1 is zero"));
    assert_int_equal(idx_write(tpath("w5"), 5, dims, data), -1);
    assert_int_equal(idx_write(tpath("no/such/dir/w"), 2, dims, data), -1);
    assert_non_null(strstr(err_msg(), "no/such/dir/w"));
    tmpdir_assert_no_temp(tmpdir);
}

/* A fake data set: 4 images of 2 x 3 pixels and their labels. */
static void make_set(const char *sub, const char *prefix, int gz, uint32_t n_img, uint32_t n_lab,
                     uint8_t bad_label)
{
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/ds", tmpdir);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/ds/%s", tmpdir, sub);
    mkdir(dir, 0755);
    uint8_t img[16 + 16 * 6], lab[8 + 16];
    const uint8_t ih[16] = {0, 0, 8, 3, 0, 0, 0, (uint8_t)n_img, 0, 0, 0, 2, 0, 0, 0, 3};
    const uint8_t lh[8] = {0, 0, 8, 1, 0, 0, 0, (uint8_t)n_lab};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    for (uint32_t i = 0; i < n_img * 6; i++)
        img[16 + i] = (uint8_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 255 : 51);
    for (uint32_t i = 0; i < n_lab; i++)
        lab[8 + i] = (uint8_t)(i == 2 && bad_label ? bad_label : (i * 7) % 10);
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    if (gz)
        write_gz(p, img, 16 + n_img * 6);
    else
        write_bytes(p, img, 16 + n_img * 6);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
    write_bytes(p, lab, 8 + n_lab);
}

static void test_dataset(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ds", tmpdir);
    make_set("mnist", "train", 0, 4, 4, 0);
    make_set("fashion-mnist", "t10k", 1, 4, 4, 0);
    dataset *d = dataset_load_images(dir, "mnist", "train", 0);
    assert_non_null(d);
    assert_int_equal(d->n, 4);
    assert_int_equal(d->rows, 2);
    assert_int_equal(d->cols, 3);
    assert_int_equal(d->n_pixels, 6);
    for (size_t i = 0; i < 4 * 6; i++) {
        float want = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 1.0f : 0.2f;
        assert_true(d->images[i] == want);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(d->labels[i], (i * 7) % 10);
    dataset_destroy(&d);
    assert_null(d);

    d = dataset_load_images(dir, "fashion", "test", 3); /* .gz images, limit */
    assert_non_null(d);
    assert_int_equal(d->n, 3);
    assert_true(d->images[1] == 1.0f);
    assert_int_equal(d->labels[2], 4);
    dataset_destroy(&d);

    assert_null(dataset_load_images(dir, "mnist", "test", 0));
    assert_non_null(strstr(err_msg(), "mnist/t10k-images-idx3-ubyte: not found"));
    assert_null(dataset_load_images(dir, "cifar", "train", 0));
    assert_non_null(strstr(err_msg(), "unknown data set 'cifar'"));
    assert_null(dataset_load_images(dir, "mnist", "valid", 0));
    assert_non_null(strstr(err_msg(), "unknown split 'valid'"));

    make_set("mnist", "train", 0, 4, 3, 0);
    assert_null(dataset_load_images(dir, "mnist", "train", 2)); /* even when limited */
    assert_non_null(strstr(err_msg(), "train-images-idx3-ubyte holds 4 images but"));
    assert_non_null(strstr(err_msg(), "train-labels-idx1-ubyte holds 3 labels"));
    make_set("mnist", "train", 0, 4, 4, 12);
    assert_null(dataset_load_images(dir, "mnist", "train", 0));
    assert_non_null(strstr(err_msg(), "train-labels-idx1-ubyte: label 12 of item 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_good),      cmocka_unit_test(test_gzip_good),
        cmocka_unit_test(test_limit),         cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_gzip_stream),
        cmocka_unit_test(test_bad_magic),     cmocka_unit_test(test_bad_type),
        cmocka_unit_test(test_bad_dims),      cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_missing),       cmocka_unit_test(test_write),
        cmocka_unit_test(test_dataset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
