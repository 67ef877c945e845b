/* preflight: the paths a program's options name, checked before any work, so
 * that a training does not run for an hour to fail at its last write.
 *
 * Each option whose spec has .path flags (core/options.h) is checked (a
 * prefix option with .suffixes: each of its files): OPT_PATH_READ exists and
 * is readable (an OPT_LIST item "-" is stdin, "@FILE" names FILE);
 * OPT_PATH_WRITE and OPT_PATH_DIR lie in a directory that exists or can be
 * made below the nearest existing one, which must be a writable directory,
 * and are not a directory (WRITE) or a file (DIR); OPT_PATH_KEEP exists only
 * with --force. Free space: each file needs what its spec's .bytes says (a
 * model: its size from the layer shapes), else PREFLIGHT_UNKNOWN_BYTES (an
 * estimate for a run's PNGs, CSVs and JSON); the needs of the paths on one
 * file system add up, and each file system keeps PREFLIGHT_MIN_FREE at least
 * (logs, temporaries). Errors name the option and the path. */
#ifndef SPIKESYNTH_PREFLIGHT_H
#define SPIKESYNTH_PREFLIGHT_H

#include "core/options.h"

#include <stdint.h>

/* The least free room of a file system written to: less than any disk in use has. */
#define PREFLIGHT_MIN_FREE (16ull << 20)
/* What a written path of unknown size is counted as: more than a run's JSON,
 * CSVs or a directory of MNIST-sized PNGs take. */
#define PREFLIGHT_UNKNOWN_BYTES (1ull << 20)

#include <sys/statvfs.h>

/* Resuming a pipeline (resume=true, docs/pipelines.md): under --preflight a
 * training stage given --resume=true says on stderr which batch counts its
 * checkpoints hold, one line "spikesynth-resume 30 27"; the runner takes the
 * newest count every such stage holds and gives it to all as --resume=N. */
#define PREFLIGHT_RESUME_MAX 4
void preflight_say_resume(const int64_t *batches, int n);
/* The counts of such a line (at most PREFLIGHT_RESUME_MAX), or -1 when it is not one. */
int preflight_read_resume(const char *line, int64_t *batches);
/* The newest count in all of n lists (list i: np[i] counts), or -1 when none is. */
int64_t preflight_newest_common(const int64_t (*lists)[PREFLIGHT_RESUME_MAX], const int *np, int n);

/* 0 when every path option passes; -1 with err_msg() naming the first that fails. */
int preflight_check(const options *o);
/* Creates the missing directories of the written paths (after preflight_check,
 * when the program starts its work): a save cannot then fail on them. */
int preflight_prepare(const options *o);

/* Tests: the statvfs that preflight_check asks (NULL: the system's). */
void preflight_set_statvfs(int (*fn)(const char *path, struct statvfs *buf));

#endif
