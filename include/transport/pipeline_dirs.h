/* pipeline_dirs: where `spikesynth run NAME` finds a pipeline named rather
 * than given by path. The runner looks next to itself, then where make
 * install put the pipelines:
 *
 *   BIN/../pipelines                    a source tree (bin/ beside pipelines/)
 *   BIN/../share/spikesynth/pipelines   an installed tree, wherever it now lies
 *   build_info_pipelinedir()            PREFIX/share/spikesynth/pipelines
 *
 * BIN is the directory of the running program. A name is looked up as
 * NAME.pipe, or as it is when it already ends in .pipe; the first directory
 * holding it wins. Plain struct: the directories are the interface. */
#ifndef SPIKESYNTH_PIPELINE_DIRS_H
#define SPIKESYNTH_PIPELINE_DIRS_H

#include <stddef.h>
#include <stdio.h>

#define PIPELINE_DIRS_MAX 3

typedef struct {
    char dirs[PIPELINE_DIRS_MAX][4096]; /* in search order, each named once */
    size_t n;
} pipeline_dirs;

/* The search list for a program in bin_dir. */
void pipeline_dirs_init(pipeline_dirs *self, const char *bin_dir);

/* arg as a path when it names a file or holds a '/' (copied as it is), else
 * the pipeline of that name in the first directory holding one. 0, or -1 with
 * err_msg() naming the directories searched. */
int pipeline_dirs_find(const pipeline_dirs *self, const char *arg, char *path, size_t cap);

/* One line per pipeline found, sorted by name (a name once, from the first
 * directory holding it): "NAME  SUMMARY" where SUMMARY is the rest of the
 * file's first line when it reads "# NAME: SUMMARY". The count, or -1 with
 * err_msg() set. */
int pipeline_dirs_list(const pipeline_dirs *self, FILE *out);

#endif
