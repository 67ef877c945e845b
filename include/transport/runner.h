/* runner: runs a checked pipeline as one process per stage and supervises it.
 *
 * Each stage is bin_dir/PROGRAM started with
 *   --name=STAGE --run-id=ID --control=ipc://RUN/control
 *   --in=PORT=@ipc://RUN/STAGE.PORT ... --out=PORT=>ipc://RUN/OTHER.PORT ... ARGS...
 * in one process group of its own (so a terminal's Ctrl-C reaches only the
 * runner), with PR_SET_PDEATHSIG so that no stage outlives a killed runner, its
 * stderr captured into OUT/logs/STAGE.log and echoed, stdin from /dev/null and
 * stdout shared with the runner. RUN is a private mkdtemp directory.
 *
 * Protocol: every stage sends READY once its links are up; when all have, the
 * runner sends GO to all. Every stage sends DONE when it finishes cleanly. The run
 * succeeds when every stage exits 0. When a stage fails (non-zero exit, signal),
 * the others get SIGTERM, then SIGKILL after kill_timeout, and the runner reports
 * that stage and its last error line. SIGINT/SIGTERM to the runner sends STOP to
 * the sources, which end their streams; the rest drain and finish, bounded by
 * drain_timeout (a second SIGINT stops at once). A summary goes to OUT/run.json.
 * A placed pipeline (transport/placement.h): the runner starts the stages of
 * its host (cfg host) alone, their links to other hosts over tcp; they stop
 * when those links fail (a peer gone, or silent for --timeout). */
#ifndef SPIKESYNTH_RUNNER_H
#define SPIKESYNTH_RUNNER_H

#include "transport/pipeline.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *bin_dir;  /* where the stage programs are */
    const char *out_dir;  /* the run's output directory (logs/, run.json) */
    double ready_timeout; /* seconds for every stage to be READY */
    double stop_timeout;  /* seconds for the rest once the sinks are done */
    double drain_timeout; /* seconds to drain after STOP (Ctrl-C): the batches queued on the links */
    double kill_timeout;  /* seconds between SIGTERM and SIGKILL */
    int verbosity;        /* 0: errors only, 1: + warnings and stage output (default), 2: + runner detail */
    FILE *console;        /* where the runner reports (stderr) */
    const char *transport; /* given to every stage as --transport (auto, zmq); NULL: theirs */
    const char *host;     /* the host group to run (transport/placement.h); NULL: "local" */
    bool insecure;        /* tcp links across hosts without keys: plaintext (stages warn) */
    const char *run_id;   /* NULL: STEM-XXXXXX; placed: STEM-$SLURM_JOB_ID or STEM-hosts */
    double hang_timeout;  /* seconds a stage may stay stopped (SIGSTOP) before it counts as hung */
    double link_timeout;  /* > 0: every stage's --timeout (the bound on a silent link) */
} runner_config;

#define RUNNER_OK 0
#define RUNNER_FAILED 1
#define RUNNER_INTERRUPTED 130

void runner_config_default(runner_config *cfg);

/* Runs p (which pipeline_check accepted) to the end. Returns RUNNER_OK,
 * RUNNER_FAILED or RUNNER_INTERRUPTED; -1 with err_msg() when it could not start. */
int runner_run(const pipeline *p, const runner_config *cfg);

#endif
