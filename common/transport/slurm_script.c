/* slurm_script: writes the batch script of a placed pipeline (see
 * include/transport/slurm_script.h). Every word from the command line reaches
 * the script single-quoted, so no value is ever read by a shell as code. */
#include "transport/slurm_script.h"

#include "core/err.h"
#include "transport/placement.h"

#include <string.h>

#define MAX_GROUPS 256

/* word in single quotes, a ' inside as '\'' */
static void put_quoted(FILE *out, const char *word)
{
    fputc('\'', out);
    for (const char *c = word; *c; c++)
        if (*c == '\'')
            fputs("'\\''", out);
        else
            fputc(*c, out);
    fputc('\'', out);
}

/* The hosts file: group k on the node of task k (block order: the first node's
 * SLURM_TASKS_PER_NODE tasks, then the next node's, ...). */
static void put_hosts_file(FILE *out, const char **groups, size_t n)
{
    fputs("set --", out);
    for (size_t k = 0; k < n; k++)
        fprintf(out, " %s", groups[k]); /* names: letters, digits, - and _ */
    fputs("\nnodes=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\")\n"
          ": > \"$job_dir/hosts\"\n"
          "for spec in $(echo \"$SLURM_TASKS_PER_NODE\" | tr ',' ' '); do\n"
          "    per=${spec%%(*}; reps=1\n"
          "    case $spec in *'(x'*) reps=${spec#*(x}; reps=${reps%)} ;; esac\n"
          "    while [ \"$reps\" -gt 0 ]; do\n"
          "        node=$(echo \"$nodes\" | sed -n 1p); nodes=$(echo \"$nodes\" | sed 1d)\n"
          "        i=0\n"
          "        while [ \"$i\" -lt \"$per\" ] && [ $# -gt 0 ]; do\n"
          "            echo \"$1 $node\" >> \"$job_dir/hosts\"; shift; i=$((i + 1))\n"
          "        done\n"
          "        reps=$((reps - 1))\n"
          "    done\n"
          "done\n", out);
}

int slurm_script_write(FILE *out, const pipeline *p, const slurm_script_args *a)
{
    const char *groups[MAX_GROUPS];
    size_t n = placement_groups(p, groups, MAX_GROUPS);
    if (n > MAX_GROUPS)
        return err_set("%s: more than %d hosts", p->path, MAX_GROUPS);
    if (n < 2)
        return err_set("%s: no stage is placed on a host (stage NAME @ HOST = ...): nothing to "
                       "spread over a Slurm job (spikesynth run runs it here)", p->path);
    fprintf(out, "#!/bin/sh\n"
                 "# %s across %zu hosts, one Slurm task each: written by spikesynth slurm\n"
                 "# (docs/pipelines.md). Submit with: sbatch THIS_FILE\n"
                 "#SBATCH --job-name=%s\n#SBATCH --nodes=%zu\n#SBATCH --ntasks=%zu\n"
                 "set -eu\n"
                 "job_dir=\"${SPIKESYNTH_JOB_DIR:-$PWD}/spikesynth-job-$SLURM_JOB_ID\"\n"
                 "mkdir -p \"$job_dir\"\n"
                 "# the host of each group: the node of its task\n",
            p->path, n, p->stem, n, n);
    put_hosts_file(out, groups, n);
    fputs("export SPIKESYNTH_HOSTS=\"$job_dir/hosts\"\n"
          "# task k runs the runner of group k (its first argument)\n"
          "cat > \"$job_dir/run.sh\" <<'SPIKESYNTH_END'\n"
          "exec ", out);
    put_quoted(out, a->spikesynth);
    fputs(" run ", out);
    put_quoted(out, a->pipe_path);
    fprintf(out, " --host=\"$1\" --run-id=\"%s-$SLURM_JOB_ID\"", p->stem);
    for (size_t i = 0; i < a->n_words; i++) {
        fputc(' ', out);
        put_quoted(out, a->words[i]);
    }
    fputs("\nSPIKESYNTH_END\n: > \"$job_dir/tasks.conf\"\n", out);
    for (size_t k = 0; k < n; k++)
        fprintf(out, "echo \"%zu sh $job_dir/run.sh %s\" >> \"$job_dir/tasks.conf\"\n", k, groups[k]);
    fprintf(out, "exec srun --ntasks=%zu --distribution=block --kill-on-bad-exit=1 "
                 "--multi-prog \"$job_dir/tasks.conf\"\n", n);
    return ferror(out) ? err_set("cannot write the script") : 0;
}
