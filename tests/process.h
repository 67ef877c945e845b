/* process: helpers for tests that run bin/ programs as child processes (from
 * the repo root): start the runner or a stage, wait for it with a time limit,
 * read what it wrote, list its children from /proc and check that they are gone.
 *
 * Children get stdin and stdout on /dev/null and stderr in a file the test names,
 * so a failure message can quote it. Assertions (proc_assert_*) use cmocka. */
#ifndef SPIKESYNTH_TEST_PROCESS_H
#define SPIKESYNTH_TEST_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* Forks and executes argv[0] (a path) with argv (NULL-terminated); its stderr
 * goes to err_path (truncated), stdin and stdout to /dev/null. The child pid. */
pid_t proc_spawn(const char *const *argv, const char *err_path);

/* Starts `bin/spikesynth CMD PIPE_PATH [out=OUT_DIR] VARS...`: vars is a
 * NULL-terminated list of "name=value" words (NULL for none), out_dir may be NULL. */
pid_t proc_run_start(const char *cmd, const char *pipe_path, const char *out_dir,
                     const char *err_path, const char *const *vars);

/* Waits up to limit seconds for pid. The exit status, 128 + signal when killed
 * by one, or -1 when it was still running (it is then killed and reaped).
 * took (may be NULL) receives the seconds waited. */
int proc_finish(pid_t pid, double limit, double *took);

/* Kills and reaps *pid (a child a failed test left running), then sets it to 0;
 * nothing when it is 0. For cmocka teardowns. */
void proc_kill(pid_t *pid);

/* The file's contents (up to 64 KiB, "" when it cannot be read), in a static
 * buffer that the next call overwrites. */
char *proc_slurp(const char *path);

/* A live (not zombie) child of some process, with its process group and name. */
typedef struct {
    pid_t pid, pgid;
    char comm[32];
} proc_info;

/* The live children of parent, from /proc; at most cap of them. */
size_t proc_children(pid_t parent, proc_info *out, size_t cap);
/* Polls until parent has at least want children or limit seconds passed; the count. */
size_t proc_wait_children(pid_t parent, size_t want, proc_info *out, size_t cap, double limit);
/* The pid of the child whose command name is comm, 0 when none. */
pid_t proc_find(const proc_info *ps, size_t n, const char *comm);

/* Fails the test when any of the n processes, or their process group, still exists. */
void proc_assert_all_gone(const proc_info *ps, size_t n);

#endif
