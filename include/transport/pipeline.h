/* pipeline: a pipeline file (docs/pipelines.md) parsed into stages, links and
 * variables, and checked against the stage programs' own --describe listings.
 *
 *   # train the autoencoder
 *   var steps = 15
 *   stage src = frame-source --steps=${steps}
 *   stage dump = frame-dump --format=json
 *   src.out -> dump.in
 *
 * Loading does the syntax and the ${var} substitution (command-line name=value
 * overrides win over `var` defaults); checking finds unknown programs, ports and
 * options, dangling and doubly connected ports, and cycles not closed by a
 * feedback port. Every error names file:line. `stage NAME @ HOST = ...` places a
 * stage on a host (transport/placement.h says how its links cross). Plain structs: the fields are the
 * interface the runner reads. */
#ifndef SPIKESYNTH_PIPELINE_H
#define SPIKESYNTH_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/preflight.h"

typedef struct {
    char *name, *value;
    int line;        /* 0 for built-ins */
    bool overridden; /* set from the command line */
} pipeline_var;

typedef struct {
    char *name;    /* instance name */
    char *program; /* bin/ program */
    char *host;    /* where it runs (stage NAME @ HOST = ...); NULL: with the runner ("local") */
    char **args;   /* after substitution, one argv entry each */
    size_t n_args;
    int line;
    bool source, sink; /* set by pipeline_check: no in-links / no forward out-links */
    int n_resume;      /* pipeline_check: -1, or the batch counts its checkpoints hold (--resume=true) */
    int64_t resume[PREFLIGHT_RESUME_MAX];
} pipeline_stage;

typedef struct {
    size_t from, to; /* stage indices */
    char *from_port, *to_port;
    int line;
    bool feedback; /* into a feedback port (set by pipeline_check) */
    int port;      /* its tcp port when it crosses hosts (a last word port=N); 0: port_base + index */
} pipeline_link;

typedef struct {
    char *path, *stem;
    pipeline_var *vars;
    size_t n_vars;
    pipeline_stage *stages;
    size_t n_stages;
    pipeline_link *links;
    size_t n_links;
    int64_t resume_batches; /* pipeline_check: the batch count the run resumes after (0: none) */
    char **errors; /* every problem pipeline_check found, "file:line: message" */
    size_t n_errors;
} pipeline;

/* Reads and parses path; overrides are "name=value" strings. NULL with err_msg()
 * ("file:line: ...") on the first syntax or variable error. */
pipeline *pipeline_load(const char *path, char *const *overrides, size_t n_overrides);
/* The same from text in memory; path is used in messages and for the stem. */
pipeline *pipeline_parse(const char *path, const char *text, char *const *overrides,
                         size_t n_overrides);
void pipeline_destroy(pipeline **self_p);

/* Checks the graph against `bin_dir/PROGRAM --describe` of each program, and
 * each stage's values and paths by its --preflight. Training stages given
 * --resume=true say which checkpoints they hold: the newest batch count all
 * of them hold becomes resume_batches, and every --resume=true argument
 * (the sources' too) --resume=N; none in common is a problem. Returns
 * 0, or -1 with every problem in errors[] and the first (plus a count) in err_msg(). */
int pipeline_check(pipeline *self, const char *bin_dir);

/* The value of a variable, or NULL. */
const char *pipeline_var_get(const pipeline *self, const char *name);
/* Index of the stage named name, or -1. */
long pipeline_stage_find(const pipeline *self, const char *name);

#endif
