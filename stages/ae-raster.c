/* ae-raster: the spikes of one test image through a trained spiking
 * autoencoder, step by step: what the network does in time.
 *
 *   bin/ae-raster --model=models/ae-mnist-traces --index=0 --csv=raster.csv
 *
 * Writes one CSV line per spike, layer,neuron,step (layer input, hidden or
 * output; steps from 0), with the image's label in a comment line first. The
 * input spikes are those the evaluation pipeline draws for that test image
 * (same --seed, same sample id), so the raster shows a sample the scores saw. */
#include "core/atomic_file.h"
#include "core/err.h"
#include "core/log.h"
#include "core/options.h"
#include "data/dataset.h"
#include "data/model.h"
#include "numerics/blas.h"
#include "numerics/lif_layer.h"
#include "numerics/poisson.h"

#include <stdio.h>
#include <stdlib.h>

static const option_spec specs[] = {
    {"model", OPT_STRING, "models/ae-mnist-traces", "reads MODEL-encoder.ssm and MODEL-decoder.ssm"},
    {"data", OPT_STRING, "data", "the data directory"},
    {"dataset", OPT_STRING, "mnist", "mnist or fashion-mnist", .choices = "mnist|fashion-mnist"},
    {"index", OPT_INT, "0", "the test image", .min = "0"},
    {"steps", OPT_INT, "15", "time steps T", .min = "1", .max = "10000"},
    {"r-max", OPT_FLOAT, "1", "Poisson rate of a white pixel per step", .min = "0", .max = "1"},
    {"leak", OPT_FLOAT, "0.1", "membrane leak", .min = "0", .max = "1"},
    {"csv", OPT_STRING, "raster.csv", "the spikes, CSV"},
    {NULL},
};

static lif_layer *open_layer(const options *o, const char *part, const char *kind)
{
    char path[4096];
    snprintf(path, sizeof path, "%s-%s.ssm", options_str(o, "model"), part);
    model_layer_spec spec = {.path = path, .kind = kind, .max_batch = 1, .lif = lif_params_default(),
                             .opt = optim_params_default(), .learn = {.rule = LEARN_NONE}};
    spec.lif.leak = (float)options_float(o, "leak");
    return model_layer_open(&spec, NULL);
}

static void write_row(FILE *f, const char *layer, const float *spikes, int n, int t)
{
    for (int i = 0; i < n; i++)
        if (spikes[i] != 0)
            fprintf(f, "%s,%d,%d\n", layer, i, t);
}

int main(int argc, char **argv)
{
    log_set_name("ae-raster");
    int rc = 1;
    options *o = options_new("ae-raster", "the spikes of one test image through a spiking autoencoder", specs, NULL);
    dataset *ds = NULL;
    lif_layer *enc = NULL, *dec = NULL;
    atomic_file *out = NULL;
    float *x = NULL;
    int parsed = o ? options_parse(o, argc, argv, stdout) : -1;
    if (parsed != 0) {
        if (parsed < 0)
            log_error("%s", err_msg());
        options_destroy(&o);
        return parsed > 0 ? 0 : 2;
    }
    const size_t index = (size_t)options_int(o, "index");
    if (blas_init(argv, 1) != 0 ||
        !(ds = dataset_load_images(options_str(o, "data"), options_str(o, "dataset"), "test", index + 1)) ||
        !(enc = open_layer(o, "encoder", "ae-encoder")) || !(dec = open_layer(o, "decoder", "ae-decoder")))
        goto done;
    if (ds->n <= index || enc->n_in != (int)ds->n_pixels || dec->n_in != enc->n_out) {
        err_set("test image %zu of %zu, or the model's shape (%d-%d / %d-%d), does not fit", index, ds->n,
                enc->n_in, enc->n_out, dec->n_in, dec->n_out);
        goto done;
    }
    if (!(x = malloc(ds->n_pixels * sizeof *x)) || !(out = atomic_file_new(options_str(o, "csv"))) ||
        lif_layer_begin_batch(enc, 1) != 0 || lif_layer_begin_batch(dec, 1) != 0)
        goto done;
    FILE *f = atomic_file_stream(out);
    fprintf(f, "# label %d, test image %zu, %d-%d-%d\nlayer,neuron,step\n", ds->labels[index], index, enc->n_in,
            enc->n_out, dec->n_out);
    const poisson_params pp = {.seed = (uint64_t)options_int(o, "seed"), .r_max = (float)options_float(o, "r-max")};
    const uint32_t id = DATASET_TEST_ID_BASE + (uint32_t)index;
    const float *img = ds->images + index * ds->n_pixels;
    for (int t = 0; t < (int)options_int(o, "steps"); t++) {
        poisson_encode(&pp, img, &id, 1, ds->n_pixels, (uint32_t)t, x);
        if (lif_layer_forward(enc, x) != 0 || lif_layer_forward(dec, enc->spikes) != 0)
            goto done;
        write_row(f, "input", x, enc->n_in, t);
        write_row(f, "hidden", enc->spikes, enc->n_out, t);
        write_row(f, "output", dec->spikes, dec->n_out, t);
    }
    if (atomic_file_commit(&out) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0)
        log_error("%s", err_msg());
    atomic_file_destroy(&out);
    lif_layer_destroy(&enc);
    lif_layer_destroy(&dec);
    dataset_destroy(&ds);
    free(x);
    options_destroy(&o);
    return rc;
}
