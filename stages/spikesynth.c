/* spikesynth: runs and checks pipeline files (docs/pipelines.md).
 *
 *   spikesynth run PIPELINE [name=value ...]    start the stages, supervise, wait for the end
 *   spikesynth check PIPELINE [name=value ...]  validate without running
 *   spikesynth list                             the pipelines it finds by name
 *   spikesynth keygen DIR                       a CURVE key pair for tcp:// links
 *   spikesynth slurm PIPELINE [name=value ...]  a Slurm batch script running it across nodes
 *
 * PIPELINE is a file, or a name looked up next to this program and then where
 * make install put the pipelines (transport/pipeline_dirs.h). Stage programs
 * are found next to this program. Exit status: 0 done, 1 a stage failed, 2 a
 * bad pipeline or command line, 130 interrupted. */
#include "core/build_info.h"
#include "core/err.h"
#include "core/log.h"
#include "transport/pipeline.h"
#include "transport/curve_keys.h"
#include "transport/pipeline_dirs.h"
#include "transport/runner.h"
#include "transport/slurm_script.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* help2man makes the man page from this: usage lines, a summary on the second
 * line, options as "  -x, --long  text" */
static const char *usage =
    "Usage: spikesynth run PIPELINE [name=value ...] [-q | -v] [--transport=auto|zmq]\n"
    "                      [--host=NAME] [--insecure] [--run-id=ID] [--timeout=S]\n"
    "  or:  spikesynth check PIPELINE [name=value ...]\n"
    "  or:  spikesynth list\n"
    "  or:  spikesynth keygen DIR\n"
    "  or:  spikesynth slurm PIPELINE [name=value ...] [run options] > job.sh\n"
    "Runs pipelines of spikesynth stages: one process per stage, linked over ZeroMQ, supervised.\n"
    "\n"
    "PIPELINE is a pipeline file, or the name of one installed with spikesynth\n"
    "(spikesynth list names them). name=value sets a pipeline variable; out=DIR\n"
    "sets the output directory (default out/NAME). Stage logs go to\n"
    "OUT/logs/STAGE.log, a summary to OUT/run.json.\n"
    "\n"
    "Commands:\n"
    "  run                   start every stage, supervise them, wait for the end\n"
    "  check                 validate the pipeline against its stages without running it\n"
    "  list                  the pipelines found by name, with their summaries\n"
    "  keygen DIR            a CURVE key pair for the tcp:// links of pipelines across\n"
    "                        hosts: DIR/secret.key (mode 0600), DIR/public.key, and\n"
    "                        its public key added to DIR/allowed (the peers accepted)\n"
    "  slurm                 a Slurm batch script (on stdout) that runs each host's\n"
    "                        stages (stage S @ HOST = ...) as one task of the job, with\n"
    "                        the hosts taken from its node list; the variables and run\n"
    "                        options given reach every host's runner\n"
    "\n"
    "Options:\n"
    "  -q                    only errors\n"
    "  -v                    also the runner's own steps\n"
    "  --transport=MODE      auto (the default): frames through shared memory between\n"
    "                        stages on one host, control over ZeroMQ; zmq: everything\n"
    "                        over ZeroMQ sockets\n"
    "  --host=NAME           run the stages placed on host NAME (stage S @ NAME = ...)\n"
    "                        alone; without it, the stages placed nowhere (host local)\n"
    "  --insecure            tcp links across hosts without keys=DIR: plaintext, and\n"
    "                        any peer may connect (warns)\n"
    "  --run-id=ID           the run id every host's runner gives its stages (default\n"
    "                        STEM-$SLURM_JOB_ID, or STEM-hosts, for a placed pipeline)\n"
    "  --timeout=S           every stage's --timeout: seconds a link's peer may stay\n"
    "                        silent (hung, or its host cut off) before the run fails;\n"
    "                        also how long a stage may stay stopped (default 10)\n"
    "  -h, --help            this text\n"
    "  --version             the version (and the git commit it was built from)\n";

#define MAX_VARS 256

typedef struct {
    const char *cmd, *pipe;
    char *vars[MAX_VARS];
    size_t n_vars;
    char *runner_words[MAX_VARS]; /* slurm: what each host's runner gets (variables, options) */
    size_t n_words;
} command_line;

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

/* Fills cl and cfg from argv. 0: go on; 1: --help or --version answered; -1:
 * a bad command line, err_msg() names the word at fault. */
static int parse_args(int argc, char **argv, command_line *cl, runner_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help") || (i == 1 && !strcmp(a, "help"))) {
            fputs(usage, stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            build_info_print(stdout, "spikesynth");
            return 1;
        }
        bool for_runner = a[0] == '-' || (cl->pipe && strchr(a, '='));
        if (for_runner && cl->n_words < MAX_VARS && strncmp(a, "--host", 6) && strncmp(a, "--run-id", 8))
            cl->runner_words[cl->n_words++] = argv[i];
        if (!strcmp(a, "-q"))
            cfg->verbosity = 0;
        else if (!strcmp(a, "-v"))
            cfg->verbosity = 2;
        else if (!strncmp(a, "--transport=", 12))
            cfg->transport = a + 12;
        else if (!strncmp(a, "--host=", 7) && a[7])
            cfg->host = a + 7;
        else if (!strcmp(a, "--host") && i + 1 < argc)
            cfg->host = argv[++i];
        else if (!strncmp(a, "--run-id=", 9) && a[9])
            cfg->run_id = a + 9;
        else if (!strncmp(a, "--timeout=", 10)) {
            char *end;
            double t = strtod(a + 10, &end);
            if (*end || !(t >= 0.001 && t <= 86400))
                return err_set("--timeout=%s: seconds, from 0.001 to 86400", a + 10);
            cfg->link_timeout = cfg->hang_timeout = t;
        } else if (!strcmp(a, "--insecure"))
            cfg->insecure = true;
        else if (a[0] == '-')
            return err_set("unknown option %s (see spikesynth --help)", a);
        else if (!cl->cmd)
            cl->cmd = a;
        else if (!cl->pipe && strcmp(cl->cmd, "list")) /* keygen: the directory */
            cl->pipe = a;
        else if (strchr(a, '=') && cl->n_vars < MAX_VARS)
            cl->vars[cl->n_vars++] = argv[i];
        else
            return err_set("unexpected argument '%s' (variables are name=value)", a);
    }
    if (!cl->cmd)
        return err_set("no command (run, check or list; see spikesynth --help)");
    if (strcmp(cl->cmd, "run") && strcmp(cl->cmd, "check") && strcmp(cl->cmd, "list") &&
        strcmp(cl->cmd, "keygen") && strcmp(cl->cmd, "slurm"))
        return err_set("unknown command '%s' (run, check, list, keygen or slurm; see spikesynth "
                       "--help)", cl->cmd);
    if (!strcmp(cl->cmd, "keygen") && (!cl->pipe || cl->n_vars))
        return err_set("keygen: give one directory (spikesynth keygen DIR)");
    if (strcmp(cl->cmd, "list") && !cl->pipe)
        return err_set("%s: which pipeline? (a file, or a name from spikesynth list)", cl->cmd);
    return 0;
}

/* slurm: the batch script on stdout; the exit status */
static int write_slurm(const command_line *cl, const pipeline *p, const char *dir, const char *path)
{
    char runner[PATH_MAX + 16], pipe[PATH_MAX];
    snprintf(runner, sizeof runner, "%s/spikesynth", dir);
    if (!realpath(path, pipe)) {
        log_error("%s: %s", path, strerror(errno));
        return 2;
    }
    slurm_script_args a = {runner, pipe, cl->runner_words, cl->n_words};
    if (slurm_script_write(stdout, p, &a) < 0 || fflush(stdout) != 0) {
        log_error("%s", err_msg());
        return 2;
    }
    return 0;
}

/* run, check or slurm: the exit status */
static int run_pipeline(const command_line *cl, runner_config *cfg, const char *dir,
                        const pipeline_dirs *dirs)
{
    char path[PATH_MAX];
    pipeline *p = NULL;
    if (pipeline_dirs_find(dirs, cl->pipe, path, sizeof path) < 0 ||
        !(p = pipeline_load(path, cl->vars, cl->n_vars))) {
        log_error("%s", err_msg());
        return 2;
    }
    int rc = 2;
    if (pipeline_check(p, dir) < 0) {
        for (size_t i = 0; i < p->n_errors; i++)
            log_error("%s", p->errors[i]);
    } else if (!strcmp(cl->cmd, "check")) {
        printf("%s: ok (%zu stages, %zu links)\n", p->path, p->n_stages, p->n_links);
        if (p->resume_batches)
            printf("%s: resumes after batch %lld\n", p->path, (long long)p->resume_batches);
        rc = 0;
    } else if (!strcmp(cl->cmd, "slurm")) {
        rc = write_slurm(cl, p, dir, path);
    } else {
        cfg->bin_dir = dir;
        cfg->out_dir = pipeline_var_get(p, "out");
        if (p->resume_batches)
            log_info("resuming after batch %lld, from the training stages' checkpoints",
                     (long long)p->resume_batches);
        if ((rc = runner_run(p, cfg)) < 0) {
            log_error("%s", err_msg());
            rc = 1;
        }
    }
    pipeline_destroy(&p);
    return rc;
}

int main(int argc, char **argv)
{
    log_set_name("spikesynth");
    command_line cl = {0};
    runner_config cfg;
    runner_config_default(&cfg);
    char dir[PATH_MAX];
    int rc = parse_args(argc, argv, &cl, &cfg);
    if (rc == 1)
        return 0;
    if (rc < 0 || bin_dir(dir, sizeof dir) < 0) {
        log_error("%s", err_msg());
        return 2;
    }
    if (!strcmp(cl.cmd, "keygen")) {
        if (curve_keys_generate(cl.pipe) < 0) {
            log_error("%s", err_msg());
            return 1;
        }
        fprintf(stderr, "spikesynth: key pair in %s: secret.key (keep it private), public.key; "
                        "%s/allowed lists the keys accepted\n", cl.pipe, cl.pipe);
        return 0;
    }
    pipeline_dirs dirs;
    pipeline_dirs_init(&dirs, dir);
    if (strcmp(cl.cmd, "list"))
        return run_pipeline(&cl, &cfg, dir, &dirs);
    if (pipeline_dirs_list(&dirs, stdout) < 0) {
        log_error("%s", err_msg());
        return 1;
    }
    return 0;
}
