/* model-info: shows what a model file (.ssm) holds, as JSON on stdout, and with
 * --check verifies that it is whole and of the expected kind and shape (exit 1
 * with the reason otherwise). Scripts use it to decide whether a trained model
 * can be reused. It also carries models to other simulators and back as NIR
 * graphs (data/nir.h; docs/formats.md has the mapping of the neuron):
 *
 *   bin/model-info models/ae-mnist-encoder.ssm
 *   bin/model-info --check --kind ae-decoder --inputs 196 --outputs 784 FILE
 *   bin/model-info --export-nir ae.nir models/ae-mnist-bptt-{encoder,decoder}.ssm
 *   bin/model-info --import-nir ae.nir models/imported     # models/imported-{encoder,decoder}.ssm */
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"
#include "data/nir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: model-info [--check] [--kind KIND] [--inputs N] [--outputs N] [--steps T] FILE...\n"
                 "       model-info --export-nir OUT.nir [--dt DT] MODEL...\n"
                 "       model-info --import-nir IN.nir [--dt DT] [PREFIX]\n"
                 "Prints each model's header and weight statistics as JSON; --check prints nothing\n"
                 "and exits 1 unless every file is whole and matches the given kind and shape.\n"
                 "--export-nir writes the models (an autoencoder's encoder and decoder, an\n"
                 "audiocoder's hidden and output layers, or both with the decoder: audio to image),\n"
                 "given in any order, as one NIR graph. --import-nir writes PREFIX-encoder.ssm and\n"
                 "PREFIX-decoder.ssm (or -hidden, -output) from a NIR graph (PREFIX: IN without\n"
                 ".nir). --dt: the time step in the unit of the file's tau (default 1, a step; on\n"
                 "import the file's metadata dt when it has one).\n");
}

static void describe(const model *m, const char *path)
{
    size_t n = (size_t)m->n_in * m->n_out;
    double sum_abs = 0, max_abs = 0;
    for (size_t i = 0; i < n; i++) {
        sum_abs += fabs(m->w[i]);
        max_abs = fmax(max_abs, fabs(m->w[i]));
    }
    json_out j;
    json_out_init(&j);
    json_out_str(&j, "file", path);
    json_out_str(&j, "kind", m->kind);
    json_out_int(&j, "inputs", m->n_in);
    json_out_int(&j, "outputs", m->n_out);
    json_out_num(&j, "leak", m->lif.leak);
    json_out_num(&j, "threshold", m->lif.threshold);
    json_out_str(&j, "trace", m->lif.trace == TRACE_SHARED ? "shared" : "per-neuron");
    json_out_int(&j, "clamp", m->lif.clamp);
    json_out_str(&j, "optimizer", m->opt.kind == OPTIM_SGD ? "sgd" : "adam");
    json_out_num(&j, "lr", m->opt.lr);
    json_out_num(&j, "weight_decay", m->opt.weight_decay);
    json_out_int(&j, "carry_moments", m->opt.carry_moments);
    json_out_int(&j, "steps", m->steps);
    json_out_int(&j, "mask", m->mask);
    json_out_int(&j, "seed", (int64_t)m->seed);
    json_out_int(&j, "batches", m->batches);
    json_out_int(&j, "samples", m->samples);
    json_out_num(&j, "mean_abs_weight", sum_abs / (double)n);
    json_out_num(&j, "max_abs_weight", max_abs);
    json_out_print(&j, stdout);
}

/* The models, in the order they run, as one NIR graph. */
static int export_nir(const char *out, double dt, char **files, int n)
{
    model *m[NIR_MAX_LAYERS] = {0};
    const model *order[NIR_MAX_LAYERS];
    int rc = -1, loaded = 0;
    if (n > NIR_MAX_LAYERS) {
        log_error("%s: %d models; a graph holds at most %d layers", out, n, NIR_MAX_LAYERS);
        return 1;
    }
    for (; loaded < n; loaded++)
        if (!(order[loaded] = m[loaded] = model_load(files[loaded])))
            goto out;
    nir_order_layers(order, n);
    if ((rc = nir_export(order, n, dt, out)) == 0) {
        log_info("wrote %s: %d -> %d neurons in %d layers (dt %g)", out, order[0]->n_in,
                 order[n - 1]->n_out, n, dt);
        for (int i = 0; i < n; i++)
            log_info("  %s: %d -> %d, leak %g, threshold %g", order[i]->kind, order[i]->n_in,
                     order[i]->n_out, order[i]->lif.leak, order[i]->lif.threshold);
    }
out:
    if (rc < 0)
        log_error("%s", err_msg());
    for (int i = 0; i < loaded; i++)
        model_destroy(&m[i]);
    return rc < 0 ? 1 : 0;
}

/* PREFIX-SUFFIX.ssm per layer of a NIR graph; all of them or none. */
static int import_nir(const char *in, double dt, const char *prefix)
{
    char stem[4096], paths[NIR_MAX_LAYERS][4200];
    if (!prefix) {
        size_t len = strlen(in);
        snprintf(stem, sizeof stem, "%.*s", (int)(len > 4 && strcmp(in + len - 4, ".nir") == 0 ? len - 4 : len), in);
        prefix = stem;
    }
    nir_net *net = nir_import(in, dt);
    int written = 0;
    if (!net)
        goto fail;
    for (; written < net->n; written++) {
        const model *m = net->layers[written];
        snprintf(paths[written], sizeof paths[written], "%s-%s.ssm", prefix, nir_kind_suffix(m->kind));
        if (model_save(m, paths[written]) < 0)
            goto fail;
    }
    for (int i = 0; i < net->n; i++)
        log_info("wrote %s: %s, %d -> %d, leak %g, threshold %g (from %s, dt %g)", paths[i],
                 net->layers[i]->kind, net->layers[i]->n_in, net->layers[i]->n_out, net->layers[i]->lif.leak,
                 net->layers[i]->lif.threshold, in, net->dt);
    nir_net_destroy(&net);
    return 0;
fail:
    log_error("%s", err_msg());
    while (written-- > 0) /* the layers are one network: none of them alone */
        unlink(paths[written]);
    nir_net_destroy(&net);
    return 1;
}

/* Shows or checks each file; 1 when any is bad. */
static int show(char **files, int n, int check, const char *kind, int n_in, int n_out, int steps)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const char *a = files[i];
        model *m = model_load(a);
        int ok = m && model_expect(m, a, kind, n_in, n_out) == 0;
        if (ok && steps > 0 && m->steps != steps)
            ok = err_set("%s: trained with T = %d, expected %d", a, m->steps, steps) == 0;
        if (!ok) {
            log_error("%s", err_msg());
            bad++;
        } else if (!check) {
            describe(m, a);
        }
        model_destroy(&m);
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    log_set_name("model-info");
    const char *kind = NULL, *export_to = NULL, *import_from = NULL;
    int check = 0, n_in = 0, n_out = 0, steps = 0, files = 0;
    double dt = 0;
    char *end;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--check") == 0) {
            check = 1;
        } else if (i + 1 < argc && strcmp(a, "--kind") == 0) {
            kind = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--inputs") == 0) {
            n_in = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--outputs") == 0) {
            n_out = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--steps") == 0) {
            steps = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(a, "--export-nir") == 0) {
            export_to = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--import-nir") == 0) {
            import_from = argv[++i];
        } else if (i + 1 < argc && strcmp(a, "--dt") == 0) {
            dt = strtod(argv[++i], &end);
            if (*end || !(dt > 0)) {
                log_error("--dt %s: must be a positive number", argv[i]);
                return 2;
            }
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else {
            argv[1 + files++] = a; /* the operands, in order, over what was read */
        }
    }
    if ((export_to && import_from) || (import_from && files > 1) || (!import_from && !files)) {
        usage(stderr);
        return 2;
    }
    if (export_to)
        return export_nir(export_to, dt > 0 ? dt : 1, argv + 1, files);
    if (import_from)
        return import_nir(import_from, dt, files ? argv[1] : NULL);
    return show(argv + 1, files, check, kind, n_in, n_out, steps);
}
