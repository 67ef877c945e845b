/* dir: making directories. dir_make is `mkdir -p`: every missing directory of
 * the path is created (mode 0777 less the umask); one that exists is fine, so
 * two processes may make the same tree at once. */
#ifndef SPIKESYNTH_DIR_H
#define SPIKESYNTH_DIR_H

/* 0 when path is a directory afterwards; -1 with err_msg() naming the part of
 * the path that could not be made ("a/b: cannot create: Permission denied") or
 * that is not a directory. */
int dir_make(const char *path);

#endif
