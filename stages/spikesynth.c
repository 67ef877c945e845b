/* spikesynth: runs and checks pipeline files (docs/pipelines.md).
 *
 *   spikesynth run FILE [name=value ...]    start the stages, supervise, wait for the end
 *   spikesynth check FILE [name=value ...]  validate without running
 *
 * Stage programs are found next to this program. Exit status: 0 done, 1 a stage
 * failed, 2 a bad pipeline or command line, 130 interrupted. */
#include "core/err.h"
#include "core/log.h"
#include "transport/pipeline.h"
#include "transport/runner.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *usage =
    "Usage: spikesynth run FILE [name=value ...] [-q | -v] [--transport=auto|zmq]\n"
    "       spikesynth check FILE [name=value ...]\n"
    "Runs a pipeline file: one process per stage, linked over ZeroMQ, supervised.\n"
    "name=value sets a pipeline variable (out=DIR sets the output directory,\n"
    "default out/FILE-STEM). -q: only errors; -v: also the runner's own steps.\n"
    "--transport=zmq: frames between stages over ZeroMQ sockets only (default auto:\n"
    "through shared memory, control over ZeroMQ).\n"
    "Stage logs go to OUT/logs/STAGE.log; a summary to OUT/run.json.\n";

/* The directory of this executable, where the stage programs live. */
static int bin_dir(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return err_set("cannot find my own directory (/proc/self/exe)");
    exe[n] = '\0';
    snprintf(buf, cap, "%s", dirname(exe));
    return 0;
}

int main(int argc, char **argv)
{
    log_set_name("spikesynth");
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if ((strcmp(cmd, "run") && strcmp(cmd, "check")) || argc < 3) {
        fputs(usage, stderr);
        return 2;
    }
    runner_config cfg;
    runner_config_default(&cfg);
    char *vars[256];
    size_t n_vars = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "-q"))
            cfg.verbosity = 0;
        else if (!strcmp(argv[i], "-v"))
            cfg.verbosity = 2;
        else if (!strncmp(argv[i], "--transport=", 12))
            cfg.transport = argv[i] + 12;
        else if (strchr(argv[i], '=') && argv[i][0] != '-' && n_vars < 256)
            vars[n_vars++] = argv[i];
        else {
            log_error("unexpected argument '%s' (variables are name=value)", argv[i]);
            return 2;
        }
    }
    char dir[PATH_MAX];
    if (bin_dir(dir, sizeof dir) < 0) {
        log_error("%s", err_msg());
        return 2;
    }
    pipeline *p = pipeline_load(argv[2], vars, n_vars);
    if (!p) {
        log_error("%s", err_msg());
        return 2;
    }
    if (pipeline_check(p, dir) < 0) {
        for (size_t i = 0; i < p->n_errors; i++)
            log_error("%s", p->errors[i]);
        pipeline_destroy(&p);
        return 2;
    }
    if (!strcmp(cmd, "check")) {
        printf("%s: ok (%zu stages, %zu links)\n", p->path, p->n_stages, p->n_links);
        pipeline_destroy(&p);
        return 0;
    }
    cfg.bin_dir = dir;
    cfg.out_dir = pipeline_var_get(p, "out");
    int rc = runner_run(p, &cfg);
    if (rc < 0) {
        log_error("%s", err_msg());
        rc = 1;
    }
    pipeline_destroy(&p);
    return rc;
}
