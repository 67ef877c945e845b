/* model-info: shows what a model file (.ssm) holds, as JSON on stdout, and with
 * --check verifies that it is whole and of the expected kind and shape (exit 1
 * with the reason otherwise). Scripts use it to decide whether a trained model
 * can be reused.
 *
 *   bin/model-info models/ae-mnist-encoder.ssm
 *   bin/model-info --check --kind ae-decoder --inputs 196 --outputs 784 FILE
 *
 * Not a stage (it has no ports), so it reads its command line itself. */
#include "core/build_info.h"
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The --help text, in the form of the stages' (help2man reads it) */
static void usage(FILE *out)
{
    fprintf(out, "Usage: model-info [--check] [--kind=KIND] [--inputs=N] [--outputs=N] [--steps=T] FILE...\n"
                 "Shows what spikesynth model files (.ssm) hold, or checks them.\n"
                 "\n"
                 "Prints each model's header and weight statistics as JSON; --check prints nothing\n"
                 "and exits 1 unless every file is whole and matches the given kind and shape.\n"
                 "\n"
                 "Options:\n"
                 "  --check                  check only: exit 0 when every FILE is fine, 1 otherwise\n"
                 "  --kind=KIND              the kind expected (ae-encoder, ae-decoder, audiocoder, ...)\n"
                 "  --inputs=N               the number of inputs expected\n"
                 "  --outputs=N              the number of outputs expected\n"
                 "  --steps=T                the time steps per sample it was trained with\n"
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

typedef struct {
    const char *kind;
    bool check;
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
        if ((rc = option_value(argc, argv, &i, "--kind", &cl->kind)) != 0) {
            if (rc < 0)
                return -1;
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
    return cl->n_files ? 0 : err_set("no model file given (see model-info --help)");
}

int main(int argc, char **argv)
{
    log_set_name("model-info");
    command_line cl = {.files = calloc((size_t)argc, sizeof(char *))};
    int rc = cl.files ? parse_args(argc, argv, &cl) : err_set("out of memory"), bad = 0;
    if (rc < 0)
        log_error("%s", err_msg());
    for (int i = 0; rc == 0 && i < cl.n_files; i++)
        bad += check_file(cl.files[i], cl.kind, cl.n_in, cl.n_out, cl.steps, cl.check) < 0;
    free(cl.files);
    return rc < 0 ? 2 : rc > 0 ? 0 : bad ? 1 : 0;
}
