/* test_nir: models as NIR graphs (data/nir.h, model-info --export-nir and
 * --import-nir), on tiny models made here (run from the repo root, after make):
 *  - export then import gives the same weights bit for bit, the same leak
 *    and threshold, for the autoencoder and the audio-to-image chain, at
 *    several leaks and time steps; models given in any order run in order;
 *  - what cannot be written (layers that do not chain, leak 0) is refused
 *    and leaves no file;
 *  - a truncated or foreign file is refused with a message naming it;
 *  - with Debian's python3-h5py (else skipped, saying so): tests/peer/nir_h5.py
 *    checks the exported file against NIR's layout and the models' weights
 *    (read by scripts/ssm.py), and the NIR files it writes on its own import,
 *    or are refused naming the node and field at fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "process.h"
#include "tmpdir.h"

#include "core/err.h"
#include "data/model.h"
#include "data/nir.h"
#include "numerics/lif_layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PYTHON
#define PYTHON "/usr/bin/python3" /* Debian's, with python3-h5py */
#endif
#define PEER "tests/peer/nir_h5.py"

static char dir[256];

static int group_setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "test_nir");
}

static int group_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

/* A model of fresh weights: kind, n_in -> n_out, leak, threshold 0.75. */
static model *make_model(const char *kind, int n_in, int n_out, float leak, uint32_t id)
{
    lif_params lp = lif_params_default();
    optim_params op = optim_params_default();
    lp.leak = leak;
    lp.threshold = 0.75f;
    lif_layer *l = lif_layer_new(n_in, n_out, 1, &lp, &op, NULL);
    assert_non_null(l);
    lif_layer_init_uniform(l, 14, id, 0);
    model *m = model_from_layer(l, kind);
    lif_layer_destroy(&l);
    assert_non_null(m);
    return m;
}

static void assert_same_layer(const model *got, const model *want)
{
    assert_string_equal(got->kind, want->kind);
    assert_int_equal(got->n_in, want->n_in);
    assert_int_equal(got->n_out, want->n_out);
    assert_memory_equal(got->w, want->w, (size_t)want->n_in * want->n_out * sizeof *want->w);
    assert_memory_equal(&got->lif.leak, &want->lif.leak, sizeof want->lif.leak);
    assert_memory_equal(&got->lif.threshold, &want->lif.threshold, sizeof want->lif.threshold);
}

/* Exports the layers (in their running order) and reads them back. */
static void round_trip(const model *const *layers, int n, double dt, const char *name)
{
    const char *path = tmpdir_at(dir, name);
    if (nir_export(layers, n, dt, path) < 0)
        fail_msg("%s", err_msg());
    nir_net *net = nir_import(path, dt);
    if (!net)
        fail_msg("%s", err_msg());
    assert_int_equal(net->n, n);
    for (int i = 0; i < n; i++)
        assert_same_layer(net->layers[i], layers[i]);
    nir_net_destroy(&net);
    tmpdir_assert_no_temp(dir);
}

static void test_round_trip_autoencoder(void **state)
{
    (void)state;
    const float leaks[] = {0.1f, 0.05f, 0.2f, 0.37f, 1.0f, 0.013f, 0.9f};
    const double dts[] = {1, 1e-3, 1e-4, 0.5};
    for (size_t i = 0; i < sizeof leaks / sizeof *leaks; i++)
        for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
            model *enc = make_model("ae-encoder", 30, 7, leaks[i], 1);
            model *dec = make_model("ae-decoder", 7, 30, leaks[i], 2);
            const model *layers[] = {enc, dec};
            round_trip(layers, 2, dts[k], "ae.nir");
            model_destroy(&enc);
            model_destroy(&dec);
        }
}

static void test_round_trip_audio_chain(void **state)
{
    (void)state;
    model *dec = make_model("ae-decoder", 6, 20, 0.1f, 3), *hid = make_model("audiocoder-hidden", 40, 9, 0.1f, 4),
          *out = make_model("audiocoder-output", 9, 6, 0.2f, 5);
    const model *layers[] = {dec, out, hid};
    nir_order_layers(layers, 3);
    assert_ptr_equal(layers[0], hid);
    assert_ptr_equal(layers[1], out);
    assert_ptr_equal(layers[2], dec);
    round_trip(layers, 3, 1, "a2i.nir");
    nir_order_layers(layers, 2); /* already in order: unchanged */
    assert_ptr_equal(layers[0], hid);
    round_trip(layers, 2, 1, "ac.nir");
    model_destroy(&dec);
    model_destroy(&hid);
    model_destroy(&out);
}

static void expect_export_error(const model *const *layers, int n, double dt, const char *want)
{
    const char *path = tmpdir_at(dir, "refused.nir");
    assert_int_equal(nir_export(layers, n, dt, path), -1);
    if (!strstr(err_msg(), want) || !strstr(err_msg(), path))
        fail_msg("error \"%s\" does not say \"%s\" and name the file", err_msg(), want);
    assert_int_not_equal(access(path, F_OK), 0);
    tmpdir_assert_no_temp(dir);
}

static void test_export_refuses(void **state)
{
    (void)state;
    model *enc = make_model("ae-encoder", 30, 7, 0.1f, 1), *dec = make_model("ae-decoder", 8, 30, 0.1f, 2);
    const model *layers[] = {enc, dec};
    expect_export_error(layers, 2, 1, "layer ae-decoder takes 8 inputs");
    expect_export_error(layers, 1, 0, "dt 0");
    enc->lif.leak = 0;
    expect_export_error(layers, 1, 1, "leak 0");
    model_destroy(&enc);
    model_destroy(&dec);
}

static void expect_import_error(const char *path, double dt, const char *want1, const char *want2)
{
    nir_net *net = nir_import(path, dt);
    if (net)
        fail_msg("%s imported; expected an error saying \"%s\"", path, want1);
    if (!strstr(err_msg(), path) || !strstr(err_msg(), want1) || (want2 && !strstr(err_msg(), want2)))
        fail_msg("%s: error \"%s\" does not say \"%s\" and \"%s\"", path, err_msg(), want1, want2 ? want2 : "");
}

/* The first len bytes of src as dst. */
static void copy_head(const char *src, const char *dst, long len)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    for (int c; len-- > 0 && (c = fgetc(in)) != EOF;)
        fputc(c, out);
    fclose(in);
    fclose(out);
}

static void test_import_truncated_and_foreign(void **state)
{
    (void)state;
    model *enc = make_model("ae-encoder", 300, 20, 0.1f, 1), *dec = make_model("ae-decoder", 20, 300, 0.1f, 2);
    const model *layers[] = {enc, dec};
    const char *good = tmpdir_at(dir, "whole.nir"), *cut = tmpdir_at(dir, "cut.nir");
    assert_int_equal(nir_export(layers, 2, 1, good), 0);
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    copy_head(good, cut, size / 2);
    expect_import_error(cut, 0, "truncated or corrupt HDF5 file", NULL);
    copy_head(good, cut, 6);
    expect_import_error(cut, 0, "not an HDF5 file", NULL);
    expect_import_error(tmpdir_at(dir, "absent.nir"), 0, "cannot open", NULL);
    model_save(enc, cut);
    expect_import_error(cut, 0, "not an HDF5 file", NULL);
    model_destroy(&enc);
    model_destroy(&dec);
}

/* Runs argv (argv[0] a path); its exit status, its stderr in *err. */
static int run(const char *const *argv, const char **err)
{
    const char *err_path = tmpdir_at(dir, "stderr.txt");
    int rc = proc_finish(proc_spawn(argv, err_path), 60, NULL);
    *err = proc_slurp(err_path);
    return rc;
}

static void test_cli_round_trip(void **state)
{
    (void)state;
    model *enc = make_model("ae-encoder", 50, 12, 0.1f, 6), *dec = make_model("ae-decoder", 12, 50, 0.1f, 7);
    enc->steps = dec->steps = 15;
    const char *penc = tmpdir_at(dir, "ae-encoder.ssm"), *pdec = tmpdir_at(dir, "ae-decoder.ssm"),
               *nir = tmpdir_at(dir, "cli.nir"), *prefix = tmpdir_at(dir, "back"), *err;
    assert_int_equal(model_save(enc, penc), 0);
    assert_int_equal(model_save(dec, pdec), 0);
    const char *ex[] = {"bin/model-info", "--export-nir", nir, pdec, penc, NULL}; /* any order */
    if (run(ex, &err) != 0)
        fail_msg("model-info --export-nir: %s", err);
    const char *im[] = {"bin/model-info", "--import-nir", nir, prefix, NULL};
    if (run(im, &err) != 0)
        fail_msg("model-info --import-nir: %s", err);
    const model *want[] = {enc, dec};
    const char *got_paths[] = {tmpdir_at(dir, "back-encoder.ssm"), tmpdir_at(dir, "back-decoder.ssm")};
    for (int i = 0; i < 2; i++) {
        model *got = model_load(got_paths[i]);
        if (!got)
            fail_msg("%s", err_msg());
        assert_same_layer(got, want[i]);
        model_destroy(&got);
    }
    /* a second import onto the same models refuses, and leaves them as they were */
    assert_int_equal(run(im, &err), 1);
    assert_non_null(strstr(err, "back-encoder.ssm exists"));
    model *kept = model_load(got_paths[0]);
    assert_non_null(kept);
    assert_same_layer(kept, enc);
    model_destroy(&kept);
    const char *bad_dt[] = {"bin/model-info", "--import-nir", nir, "--dt", "-1", NULL};
    assert_int_equal(run(bad_dt, &err), 2);
    assert_non_null(strstr(err, "--dt=-1"));
    const char *chainless[] = {"bin/model-info", "--export-nir", nir, penc, penc, NULL};
    assert_int_equal(run(chainless, &err), 1);
    assert_non_null(strstr(err, "takes 50 inputs"));
    model_destroy(&enc);
    model_destroy(&dec);
}

/* /usr/bin/python3 with h5py and numpy, or a skip that says what is missing. */
static void need_python(void)
{
    static int have = -1;
    if (have < 0) {
        const char *argv[] = {PYTHON, "-c", "import h5py, numpy", NULL}, *err;
        have = access(PYTHON, X_OK) == 0 && run(argv, &err) == 0;
    }
    if (!have) {
        print_message("nir: " PYTHON " cannot import h5py and numpy (Debian python3-h5py, "
                      "python3-numpy; scripts/install-deps installs them): skipped\n");
        skip();
    }
}

static void test_python_checks_export(void **state)
{
    (void)state;
    need_python();
    model *hid = make_model("audiocoder-hidden", 40, 9, 0.1f, 4), *out = make_model("audiocoder-output", 9, 6, 0.2f, 5),
          *dec = make_model("ae-decoder", 6, 20, 0.05f, 3);
    const char *paths[] = {tmpdir_at(dir, "c-hidden.ssm"), tmpdir_at(dir, "c-output.ssm"),
                           tmpdir_at(dir, "c-decoder.ssm")}, *nir = tmpdir_at(dir, "chain.nir"), *err;
    const model *layers[] = {hid, out, dec};
    for (int i = 0; i < 3; i++)
        assert_int_equal(model_save(layers[i], paths[i]), 0);
    for (int k = 0; k < 2; k++) {
        const char *dt = k ? "0.001" : "1";
        const char *ex[] = {"bin/model-info", "--export-nir", nir, "--dt", dt, paths[2], paths[0], paths[1], NULL};
        if (run(ex, &err) != 0)
            fail_msg("model-info --export-nir: %s", err);
        const char *check[] = {PYTHON, PEER, "check", nir, paths[0], paths[1], paths[2], NULL};
        if (run(check, &err) != 0)
            fail_msg("%s check %s (dt %s): %s", PEER, nir, dt, err);
    }
    model_destroy(&hid);
    model_destroy(&out);
    model_destroy(&dec);
}

/* tests/peer/nir_h5.py's files, written once. */
static const char *peer_files(void)
{
    static char peer_dir[300];
    if (!peer_dir[0]) {
        snprintf(peer_dir, sizeof peer_dir, "%s", tmpdir_at(dir, "peer"));
        const char *mk[] = {"/bin/mkdir", "-p", peer_dir, NULL}, *write[] = {PYTHON, PEER, "write", peer_dir, NULL},
                   *err;
        assert_int_equal(run(mk, &err), 0);
        if (run(write, &err) != 0)
            fail_msg("%s write: %s", PEER, err);
    }
    return peer_dir;
}

static float *read_f32(const char *path, size_t n)
{
    float *w = malloc(n * sizeof *w);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(w, sizeof *w, n, f), n);
    fclose(f);
    return w;
}

static void test_python_written_imports(void **state)
{
    (void)state;
    need_python();
    const char *d = peer_files();
    char path[400];
    float *w1 = read_f32(tmpdir_at(d, "W1.f32"), 16 * 784), *w2 = read_f32(tmpdir_at(d, "W2.f32"), 784 * 16);
    for (int k = 0; k < 2; k++) { /* good: snnTorch's way (dt 1e-4); scaled: r = tau / 2, dt 1 */
        snprintf(path, sizeof path, "%s", tmpdir_at(d, k ? "scaled.nir" : "good.nir"));
        nir_net *net = nir_import(path, k ? 0 : 1e-4);
        if (!net)
            fail_msg("%s", err_msg());
        assert_int_equal(net->n, 2);
        assert_string_equal(net->layers[0]->kind, "ae-encoder");
        assert_string_equal(net->layers[1]->kind, "ae-decoder");
        const float *want[] = {w1, w2};
        for (int i = 0; i < 2; i++) {
            model *m = net->layers[i];
            assert_int_equal(m->n_in, i ? 16 : 784);
            assert_int_equal(m->n_out, i ? 784 : 16);
            assert_float_equal(m->lif.leak, 0.1f, 1e-6);
            assert_true(m->lif.threshold == 1.0f);
            for (size_t j = 0; j < 784 * 16; j++)
                if (m->w[j] != (k ? 0.5f : 1.0f) * want[i][j])
                    fail_msg("%s: layer %d weight %zu is %.9g, expected %.9g", path, i, j, m->w[j], want[i][j]);
        }
        nir_net_destroy(&net);
    }
    free(w1);
    free(w2);
}

static void test_python_written_bad_files(void **state)
{
    (void)state;
    need_python();
    const char *d = peer_files();
    static const struct {
        const char *file, *says1, *says2;
    } bad[] = {
        {"missing-node.nir", "node 'lif9'", "does not hold"},
        {"no-output.nir", "node '3' (LIF) leads nowhere", NULL},
        {"wrong-shape.nir", "node '2' (Linear): weight is 784 x 15", "input has 16 values"},
        {"lif-shape.nir", "node '1' (LIF): tau has 3 values", "16 neurons"},
        {"wrong-dtype.nir", "node '0' (Linear): weight is integer", "expected floating point"},
        {"missing-field.nir", "node '3' (LIF) has no dataset 'tau'", NULL},
        {"cubalif.nir", "node '1' is a CubaLIF", "cannot represent"},
        {"v-leak.nir", "node '1' (LIF): v_leak[0] = 0.5", NULL},
        {"tau-varies.nir", "node '3' (LIF): tau differs between neurons", NULL},
        {"branch.nir", "node '1' (LIF) feeds 2 nodes", NULL},
        {"bias.nir", "node '2' (Affine): bias[5] = 0.25", "no bias"},
        {"not-nir.nir", "no group /node", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_import_error(tmpdir_at(d, bad[i].file), 1e-4, bad[i].says1, bad[i].says2);
    /* the command line says the same and writes nothing */
    const char *prefix = tmpdir_at(d, "none"), *err;
    const char *im[] = {"bin/model-info", "--import-nir", tmpdir_at(d, "bias.nir"), "--dt", "1e-4", prefix, NULL};
    assert_int_equal(run(im, &err), 1);
    assert_non_null(strstr(err, "bias[5]"));
    assert_int_not_equal(access(tmpdir_at(d, "none-encoder.ssm"), F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_autoencoder),
        cmocka_unit_test(test_round_trip_audio_chain),
        cmocka_unit_test(test_export_refuses),
        cmocka_unit_test(test_import_truncated_and_foreign),
        cmocka_unit_test(test_cli_round_trip),
        cmocka_unit_test(test_python_checks_export),
        cmocka_unit_test(test_python_written_imports),
        cmocka_unit_test(test_python_written_bad_files),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
