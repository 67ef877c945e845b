/* model-info: shows what a model file (.ssm) holds, as JSON on stdout, and with
 * --check verifies that it is whole and of the expected kind and shape (exit 1
 * with the reason otherwise). Scripts use it to decide whether a trained model
 * can be reused.
 *
 *   bin/model-info models/ae-mnist-encoder.ssm
 *   bin/model-info --check --kind ae-decoder --inputs 196 --outputs 784 FILE */
#include "core/err.h"
#include "core/json_out.h"
#include "core/log.h"
#include "data/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: model-info [--check] [--kind KIND] [--inputs N] [--outputs N] [--steps T] FILE...\n"
                 "Prints each model's header and weight statistics as JSON; --check prints nothing\n"
                 "and exits 1 unless every file is whole and matches the given kind and shape.\n");
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

int main(int argc, char **argv)
{
    log_set_name("model-info");
    const char *kind = NULL;
    int check = 0, n_in = 0, n_out = 0, steps = 0, files = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
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
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else {
            files++;
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
    }
    if (!files) {
        usage(stderr);
        return 2;
    }
    return bad ? 1 : 0;
}
