/* support_process: child processes for the end-to-end tests (see tests/process.h).
 * Children are found through /proc/PID/stat (parent, group, name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROC_MAX_ARGS 64

pid_t proc_spawn(const char *const *argv, const char *err_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), n = open("/dev/null", O_RDWR);
        dup2(e, STDERR_FILENO);
        dup2(n, STDOUT_FILENO);
        dup2(n, STDIN_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(126);
    }
    return pid;
}

pid_t proc_run_start(const char *cmd, const char *pipe_path, const char *out_dir,
                     const char *err_path, const char *const *vars)
{
    char out_var[4200];
    const char *argv[PROC_MAX_ARGS];
    size_t n = 0;
    argv[n++] = "bin/spikesynth";
    argv[n++] = cmd;
    argv[n++] = pipe_path;
    if (out_dir) {
        snprintf(out_var, sizeof out_var, "out=%s", out_dir);
        argv[n++] = out_var;
    }
    for (size_t i = 0; vars && vars[i]; i++) {
        assert_true(n < PROC_MAX_ARGS - 1);
        argv[n++] = vars[i];
    }
    argv[n] = NULL;
    return proc_spawn(argv, err_path);
}

int proc_finish(pid_t pid, double limit, double *took)
{
    double t0 = clock_now();
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (clock_now() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            if (took)
                *took = clock_now() - t0;
            return -1;
        }
        usleep(10 * 1000);
    }
    if (took)
        *took = clock_now() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *proc_slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

size_t proc_children(pid_t parent, proc_info *out, size_t cap)
{
    size_t n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) && n < cap) {
        char path[300], line[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(line, sizeof line, f)) {
            /* the name is in parentheses and may itself contain them */
            char *open_paren = strchr(line, '('), *close_paren = strrchr(line, ')');
            int ppid = 0, pgrp = 0;
            char st;
            if (open_paren && close_paren &&
                sscanf(close_paren + 2, "%c %d %d", &st, &ppid, &pgrp) == 3 && ppid == parent &&
                st != 'Z') {
                out[n].pid = atoi(e->d_name);
                out[n].pgid = pgrp;
                snprintf(out[n].comm, sizeof out[n].comm, "%.*s",
                         (int)(close_paren - open_paren - 1), open_paren + 1);
                n++;
            }
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

size_t proc_wait_children(pid_t parent, size_t want, proc_info *out, size_t cap, double limit)
{
    double t0 = clock_now();
    size_t n;
    while ((n = proc_children(parent, out, cap)) < want && clock_now() - t0 < limit)
        usleep(20 * 1000);
    return n;
}

pid_t proc_find(const proc_info *ps, size_t n, const char *comm)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ps[i].comm, comm))
            return ps[i].pid;
    return 0;
}

void proc_assert_all_gone(const proc_info *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        if (kill(ps[i].pid, 0) == 0 || errno != ESRCH)
            fail_msg("stage %s (pid %d) is still there", ps[i].comm, (int)ps[i].pid);
    }
    if (n && killpg(ps[0].pgid, 0) == 0)
        fail_msg("process group %d still has members", (int)ps[0].pgid);
}

void proc_kill(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}
