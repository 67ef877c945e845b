/* test_model: model files round-trip, and every kind of bad file is refused
 * with a message naming the file and the fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/err.h"
#include "data/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/spikesynth-test-model-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/m.ssm", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static model *sample_model(void)
{
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    lif_layer *l = lif_layer_new(5, 3, 2, &lp, &op, NULL);
    lif_layer_init_uniform(l, 42, 1, 0);
    model *m = model_from_layer(l, "ae-encoder");
    lif_layer_destroy(&l);
    m->steps = 15;
    m->r_max = 0.3f;
    m->mask = 1;
    m->seed = 42;
    m->epochs = 1;
    m->batches = 600;
    m->samples = 60000;
    return m;
}

static void file_bytes(unsigned char **data, long *len)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    rewind(f);
    *data = malloc(*len);
    assert_int_equal(fread(*data, 1, *len, f), *len);
    fclose(f);
}

static void write_bytes(const unsigned char *data, long len)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    model *m = sample_model();
    assert_int_equal(model_save(m, path), 0);
    model *r = model_load(path);
    assert_non_null(r);
    assert_string_equal(r->kind, "ae-encoder");
    assert_int_equal(r->n_in, 5);
    assert_int_equal(r->n_out, 3);
    assert_int_equal(r->steps, 15);
    assert_float_equal(r->r_max, 0.3f, 0);
    assert_int_equal(r->batches, 600);
    assert_int_equal(r->samples, 60000);
    assert_float_equal(r->lif.leak, 0.1f, 0);
    assert_float_equal(r->opt.lr, 5e-4f, 0);
    assert_memory_equal(r->w, m->w, 15 * sizeof(float));
    assert_int_equal(model_expect(r, path, "ae-encoder", 5, 3), 0);
    /* no temporary file left behind */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    model_destroy(&r);
    model_destroy(&m);
    assert_null(m);
}

static void test_wrong_shape_or_kind(void **state)
{
    (void)state;
    model *m = sample_model();
    model_save(m, path);
    model *r = model_load(path);
    assert_int_equal(model_expect(r, path, "ae-encoder", 784, 196), -1);
    assert_non_null(strstr(err_msg(), "5 -> 3"));
    assert_non_null(strstr(err_msg(), path));
    assert_int_equal(model_expect(r, path, "ae-decoder", 0, 0), -1);
    assert_non_null(strstr(err_msg(), "ae-decoder"));
    model_destroy(&r);
    model_destroy(&m);
}

static void expect_load_error(const char *fragment)
{
    model *r = model_load(path);
    assert_null(r);
    if (!strstr(err_msg(), fragment) || !strstr(err_msg(), path))
        fail_msg("error \"%s\" lacks \"%s\" or the path", err_msg(), fragment);
}

static void test_bad_files(void **state)
{
    (void)state;
    model *m = sample_model();
    model_save(m, path);
    unsigned char *data;
    long len;
    file_bytes(&data, &len);

    write_bytes(data, len - 7); /* truncated weights */
    expect_load_error("truncated");
    write_bytes(data, 10); /* truncated header */
    expect_load_error("");
    unsigned char *bad = malloc(len + 1);
    memcpy(bad, data, len);
    bad[0] = 'X';
    write_bytes(bad, len);
    expect_load_error("magic");
    memcpy(bad, data, len);
    bad[len - 10] ^= 0x40; /* a weight bit flipped */
    write_bytes(bad, len);
    expect_load_error("checksum");
    memcpy(bad, data, len);
    bad[8] = 99; /* version */
    write_bytes(bad, len);
    expect_load_error("version");
    memcpy(bad, data, len);
    bad[len] = 0;
    write_bytes(bad, len + 1);
    expect_load_error("trailing");
    unlink(path);
    expect_load_error("cannot open");

    m->w[4] = NAN;
    model_save(m, path);
    expect_load_error("not finite");
    free(bad);
    free(data);
    model_destroy(&m);
}

static void test_save_to_missing_dir_leaves_nothing(void **state)
{
    (void)state;
    model *m = sample_model();
    assert_int_equal(model_save(m, "/nonexistent-dir/m.ssm"), -1);
    assert_non_null(strstr(err_msg(), "/nonexistent-dir/m.ssm"));
    model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_shape_or_kind),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_save_to_missing_dir_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
