/* model-info: shows what a model file (.ssm) holds, as JSON on stdout, and with
 * --check verifies that it is whole and of the expected kind and shape (exit 1
 * with the reason otherwise). Scripts use it to decide whether a trained model
 * can be reused. It also carries models to other simulators and back as NIR
 * graphs (data/nir.h; docs/formats.md has the mapping of the neuron):
 *
 *   bin/model-info models/ae-mnist-encoder.ssm
 *   bin/model-info --check --kind ae-decoder --inputs 196 --outputs 784 FILE
 *   bin/model-info --export-nir ae.nir models/ae-mnist-bptt-{encoder,decoder}.ssm
 *   bin/model-info --import-nir ae.nir models/imported     # models/imported-{encoder,decoder}.ssm
 *
 * Not a stage (it has no ports), so it reads its command line itself. */
#include "core/build_info.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"
#include "data/nir.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The --help text, in the form of the stages' (help2man reads it) */
static void usage(FILE *out)
{
    fprintf(out, "Usage: model-info [--check] [--together] [--kind=KIND] [--inputs=N] [--outputs=N] [--steps=T] FILE...\n"
                 "       model-info --export-nir=OUT.nir [--dt=DT] MODEL...\n"
                 "       model-info --import-nir=IN.nir [--dt=DT] [PREFIX]\n"
                 "Shows what spikesynth model files (.ssm) hold, or checks them; carries them\n"
                 "to and from NIR graphs.\n"
                 "\n"
                 "Prints each model's header and weight statistics as JSON; --check prints nothing\n"
                 "and exits 1 unless every file is whole and matches the given kind and shape.\n"
                 "--export-nir writes the models (an autoencoder's encoder and decoder, an\n"
                 "audiocoder's hidden and output layers, or both with the decoder: audio to image),\n"
                 "given in any order, as one NIR graph. --import-nir writes PREFIX-encoder.ssm and\n"
                 "PREFIX-decoder.ssm (or -hidden, -output) from a NIR graph (PREFIX: IN without\n"
                 ".nir).\n"
                 "\n"
                 "Options:\n"
                 "  --check                  check only: exit 0 when every FILE is fine, 1 otherwise\n"
                 "  --kind=KIND              the kind expected (ae-encoder, ae-decoder, audiocoder, ...)\n"
                 "  --inputs=N               the number of inputs expected\n"
                 "  --outputs=N              the number of outputs expected\n"
                 "  --steps=T                the time steps per sample it was trained with\n"
                 "  --together               the FILEs must have been trained together (their lineage:\n"
                 "                           encoder and decoder, an audiocoder and its autoencoder)\n"
                 "  --export-nir=OUT.nir     write the MODELs as one NIR graph (HDF5)\n"
                 "  --import-nir=IN.nir      write .ssm models from a NIR graph\n"
                 "  --dt=DT                  the time step in the unit of the file's tau (default 1, a\n"
                 "                           step; on import the file's metadata dt when it has one)\n"
                 "  -h, --help               this text\n"
                 "  --version                the version (and the git commit it was built from)\n");
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
    char hex[32];
    json_out_int(&j, "format", m->version);
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)model_hash(m));
    json_out_str(&j, "weights_hash", hex);
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->lineage.init);
    json_out_str(&j, "init_hash", hex);
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->lineage.pair_final);
    json_out_str(&j, "pair_hash", hex);
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)m->lineage.source);
    json_out_str(&j, "source_hash", hex);
    json_out_str(&j, "frontend", m->lineage.frontend);
    json_out_num(&j, "mean_abs_weight", sum_abs / (double)n);
    json_out_num(&j, "max_abs_weight", max_abs);
    json_out_print(&j, stdout);
}

/* Whether argv[*i] is option name: 1 with *value set ("--name=V" or "--name V",
 * moving *i past V), 0 when it is another word, -1 when its value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) || (a[n] && a[n] != '='))
        return 0;
    if (a[n] == '=')
        *value = a + n + 1;
    else if (*i + 1 < argc)
        *value = argv[++*i];
    else
        return err_set("option %s needs a value", name);
    return 1;
}

static int check_file(const char *path, const char *kind, int n_in, int n_out, int steps, bool quiet)
{
    model *m = model_load(path);
    int ok = m && model_expect(m, path, kind, n_in, n_out) == 0;
    if (ok && steps > 0 && m->steps != steps)
        ok = err_set("%s: trained with T = %d, expected %d", path, m->steps, steps) == 0;
    if (!ok)
        log_error("%s", err_msg());
    else if (!quiet)
        describe(m, path);
    model_destroy(&m);
    return ok ? 0 : -1;
}

/* The files as one set (model_check_set). */
static int check_together(char **files, int n)
{
    model **m = calloc((size_t)n + 1, sizeof *m);
    int rc = m ? 0 : err_set("out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        if (!(m[i] = model_load(files[i])))
            rc = -1;
    if (rc == 0)
        rc = model_check_set(m, (const char *const *)files, n);
    if (rc < 0)
        log_error("%s", err_msg());
    for (int i = 0; m && i < n; i++)
        model_destroy(&m[i]);
    free(m);
    return rc;
}

typedef struct {
    const char *kind, *export_to, *import_from;
    double dt;
    bool check, together;
    int n_in, n_out, steps;
    char **files;
    int n_files;
} command_line;

/* 0: go on; 1: --help or --version answered; -1: a bad command line (err_msg()). */
static int parse_args(int argc, char **argv, command_line *cl)
{
    static const char *numbers[] = {"--inputs", "--outputs", "--steps"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int *targets[] = {&cl->n_in, &cl->n_out, &cl->steps}, rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            build_info_print(stdout, "model-info");
            return 1;
        }
        if (!strcmp(a, "--check")) {
            cl->check = true;
            continue;
        }
        if (!strcmp(a, "--together")) {
            cl->together = true;
            continue;
        }
        if ((rc = option_value(argc, argv, &i, "--kind", &cl->kind)) != 0 ||
            (rc = option_value(argc, argv, &i, "--export-nir", &cl->export_to)) != 0 ||
            (rc = option_value(argc, argv, &i, "--import-nir", &cl->import_from)) != 0) {
            if (rc < 0)
                return -1;
            continue;
        }
        if ((rc = option_value(argc, argv, &i, "--dt", &v)) != 0) {
            char *end;
            if (rc < 0)
                return -1;
            if (!((cl->dt = strtod(v, &end)) > 0) || *end)
                return err_set("--dt=%s: must be a positive number", v);
            continue;
        }
        for (int k = 0; k < 3 && rc == 0; k++)
            if ((rc = option_value(argc, argv, &i, numbers[k], &v)) > 0)
                *targets[k] = atoi(v);
        if (rc < 0)
            return -1;
        if (rc == 0 && a[0] == '-')
            return err_set("unknown option %s (see model-info --help)", a);
        if (rc == 0)
            cl->files[cl->n_files++] = argv[i];
    }
    if (cl->export_to && cl->import_from)
        return err_set("--export-nir and --import-nir: one at a time (see model-info --help)");
    if (cl->import_from && cl->n_files > 1)
        return err_set("--import-nir takes one PREFIX, not %d words (see model-info --help)", cl->n_files);
    return cl->n_files || cl->import_from ? 0 : err_set("no model file given (see model-info --help)");
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
    /* a model already there is someone's work: refused, never replaced */
    for (int i = 0; i < net->n; i++) {
        snprintf(paths[i], sizeof paths[i], "%s-%s.ssm", prefix, nir_kind_suffix(net->layers[i]->kind));
        if (access(paths[i], F_OK) == 0) {
            err_set("%s exists: remove it or give another PREFIX", paths[i]);
            goto fail;
        }
    }
    for (; written < net->n; written++)
        if (model_save(net->layers[written], paths[written]) < 0)
            goto fail;
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

int main(int argc, char **argv)
{
    log_set_name("model-info");
    command_line cl = {.files = calloc((size_t)argc, sizeof(char *))};
    int rc = cl.files ? parse_args(argc, argv, &cl) : err_set("out of memory"), bad = 0;
    if (rc < 0)
        log_error("%s", err_msg());
    if (rc == 0 && cl.export_to)
        bad = export_nir(cl.export_to, cl.dt > 0 ? cl.dt : 1, cl.files, cl.n_files);
    else if (rc == 0 && cl.import_from)
        bad = import_nir(cl.import_from, cl.dt, cl.n_files ? cl.files[0] : NULL);
    else
        for (int i = 0; rc == 0 && i < cl.n_files; i++)
            bad += check_file(cl.files[i], cl.kind, cl.n_in, cl.n_out, cl.steps, cl.check) < 0;
    if (rc == 0 && !bad && cl.together && check_together(cl.files, cl.n_files) < 0)
        bad = 1;
    free(cl.files);
    return rc < 0 ? 2 : rc > 0 ? 0 : bad ? 1 : 0;
}
