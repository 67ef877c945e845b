/* slurm_script: the Slurm batch script that runs a placed pipeline
 * (transport/placement.h) across the nodes of a job: `spikesynth slurm FILE
 * [name=value ...] > job.sh; sbatch job.sh` (docs/pipelines.md, "On a Slurm
 * cluster").
 *
 * One task per host group, started by `srun --multi-prog`: task k runs
 * `spikesynth run FILE --host=GROUP_k` with the variables given. The job
 * writes the hosts file its runners look the groups up in
 * ($SPIKESYNTH_HOSTS): each group on the node of its task, from
 * SLURM_JOB_NODELIST and SLURM_TASKS_PER_NODE (srun places the tasks in block
 * order); the run id is STEM-$SLURM_JOB_ID on every node. A task that fails
 * ends the job (--kill-on-bad-exit). The job's files go to
 * ${SPIKESYNTH_JOB_DIR:-$PWD}/spikesynth-job-$SLURM_JOB_ID. */
#ifndef SPIKESYNTH_SLURM_SCRIPT_H
#define SPIKESYNTH_SLURM_SCRIPT_H

#include "transport/pipeline.h"

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *spikesynth;        /* absolute path of the runner */
    const char *pipe_path;         /* absolute path of the pipeline file */
    char *const *words;            /* what each runner also gets: name=value, -q, --timeout=S */
    size_t n_words;
} slurm_script_args;

/* Writes the script to out. */
int slurm_script_write(FILE *out, const pipeline *p, const slurm_script_args *a);

#endif
