/* test_runner: bin/spikesynth end to end (run from the repo root, after make):
 * a source->relay->sink pipeline completes; a stage killed with SIGKILL or
 * failing makes the runner exit non-zero within 5 s naming it, leaving no
 * process behind; SIGINT drains and stops cleanly; a killed runner takes its
 * stages with it; check reports file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64], pipe_path[128], out_dir[128], err_path[128];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_runner-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(pipe_path, sizeof pipe_path, "%s/chain.pipe", dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_pipe(const char *relay_args, const char *source_args)
{
    FILE *f = fopen(pipe_path, "w");
    assert_non_null(f);
    fprintf(f, "# a test chain\nvar batches = 5\n"
               "stage src = frame-source --batch=4 --width=32 --steps=3 --batches=${batches} %s\n"
               "stage relay = frame-relay %s\n"
               "stage sink = frame-dump --format=none\n"
               "src.out -> relay.in\nrelay.out -> sink.in\n", source_args, relay_args);
    fclose(f);
}

/* Starts bin/spikesynth with args; its stderr goes to err_path, stdout to /dev/null. */
static pid_t start(const char *cmd, const char *var)
{
    char out_var[160];
    snprintf(out_var, sizeof out_var, "out=%s", out_dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), n = open("/dev/null", O_RDWR);
        dup2(e, STDERR_FILENO);
        dup2(n, STDOUT_FILENO);
        dup2(n, STDIN_FILENO);
        if (var)
            execl("bin/spikesynth", "spikesynth", cmd, pipe_path, out_var, var, (char *)NULL);
        else
            execl("bin/spikesynth", "spikesynth", cmd, pipe_path, out_var, (char *)NULL);
        _exit(126);
    }
    return pid;
}

/* Waits up to limit seconds; returns the exit status (-1: still running, then killed). */
static int finish(pid_t pid, double limit, double *took)
{
    double t0 = now_s();
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (now_s() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(10 * 1000);
    }
    if (took)
        *took = now_s() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return buf;
}

/* The children of pid (from /proc), with their process group. */
typedef struct {
    pid_t pid, pgid;
    char comm[32];
} proc;

static size_t children(pid_t parent, proc *out, size_t cap)
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
            char *open_paren = strchr(line, '('), *close_paren = strrchr(line, ')');
            int ppid = 0, pgrp = 0;
            char st;
            if (open_paren && close_paren &&
                sscanf(close_paren + 2, "%c %d %d", &st, &ppid, &pgrp) == 3 && ppid == parent && st != 'Z') {
                out[n].pid = atoi(e->d_name);
                out[n].pgid = pgrp;
                snprintf(out[n].comm, sizeof out[n].comm, "%.*s", (int)(close_paren - open_paren - 1),
                         open_paren + 1);
                n++;
            }
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

/* Waits until the runner has its three stages and they have run a while. */
static size_t stages_of(pid_t runner, proc *ps)
{
    double t0 = now_s();
    size_t n = 0;
    while ((n = children(runner, ps, 8)) < 3 && now_s() - t0 < 5)
        usleep(20 * 1000);
    assert_int_equal(n, 3);
    usleep(600 * 1000); /* past READY/GO: frames are flowing */
    return n;
}

static void assert_all_gone(const proc *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        if (kill(ps[i].pid, 0) == 0 || errno != ESRCH)
            fail_msg("stage %s (pid %d) is still there", ps[i].comm, (int)ps[i].pid);
    }
    if (n && killpg(ps[0].pgid, 0) == 0)
        fail_msg("process group %d still has members", (int)ps[0].pgid);
}

static void test_runs_to_completion(void **state)
{
    (void)state;
    write_pipe("", "");
    double took;
    int rc = finish(start("run", "batches=7"), 10, &took);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, slurp(err_path));
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", out_dir);
    char *json = slurp(path);
    assert_non_null(strstr(json, "\"status\": \"ok\""));
    assert_non_null(strstr(json, "\"name\": \"relay\""));
    snprintf(path, sizeof path, "%s/logs/sink.log", out_dir);
    /* the override reached the source: 7 batches of 3 steps */
    assert_non_null(strstr(slurp(path), "21 frames, 7 batches"));
    assert_non_null(strstr(slurp(err_path), "done: 3 stages finished"));
}

static void test_killed_stage(void **state)
{
    (void)state;
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc ps[8];
    size_t n = stages_of(runner, ps);
    pid_t relay = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        if (!strcmp(ps[i].comm, "frame-relay"))
            relay = ps[i].pid;
    assert_true(relay > 0);
    assert_int_not_equal(ps[0].pgid, getpgrp()); /* stages have a group of their own */
    kill(relay, SIGKILL);
    double took;
    int rc = finish(runner, 8, &took);
    assert_int_equal(rc, 1);
    assert_true(took < 5.0);
    char *err = slurp(err_path);
    if (!strstr(err, "error: stage relay (frame-relay) killed by signal 9"))
        fail_msg("stderr: %s", err);
    assert_all_gone(ps, n);
}

static void test_failing_stage(void **state)
{
    (void)state;
    write_pipe("--fail-after=10", "--batches=100000 --delay-ms=1");
    double took;
    int rc = finish(start("run", NULL), 8, &took);
    assert_int_equal(rc, 1);
    assert_true(took < 5.0);
    char *err = slurp(err_path);
    if (!strstr(err, "error: stage relay (frame-relay) exited with status 1: relay: error: failing "
                     "on purpose after 10 frames"))
        fail_msg("stderr: %s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/logs/relay.log", out_dir);
    assert_non_null(strstr(slurp(path), "failing on purpose"));
}

static void test_interrupt_drains(void **state)
{
    (void)state;
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc ps[8];
    size_t n = stages_of(runner, ps);
    kill(runner, SIGINT);
    double took;
    int rc = finish(runner, 8, &took);
    assert_int_equal(rc, 130);
    assert_true(took < 5.0);
    char *err = slurp(err_path);
    if (!strstr(err, "interrupted; drained and stopped cleanly"))
        fail_msg("stderr: %s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", out_dir);
    assert_non_null(strstr(slurp(path), "\"status\": \"interrupted\""));
    assert_all_gone(ps, n);
}

static void test_killed_runner(void **state)
{
    (void)state;
    /* orphans are re-parented to us, so we can see that they die and reap them */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc ps[8];
    size_t n = stages_of(runner, ps);
    kill(runner, SIGKILL);
    waitpid(runner, NULL, 0);
    double t0 = now_s();
    size_t reaped = 0;
    while (reaped < n && now_s() - t0 < 5) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p > 0)
            reaped++;
        else
            usleep(10 * 1000);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    assert_int_equal(reaped, n);
    assert_all_gone(ps, n);
}

static void test_check(void **state)
{
    (void)state;
    FILE *f = fopen(pipe_path, "w");
    fprintf(f, "stage src = frame-source\nstage sink = frame-dump --formt=json\nsrc.out -> sink.out\n");
    fclose(f);
    int rc = finish(start("check", NULL), 5, NULL);
    assert_int_equal(rc, 2);
    char *err = slurp(err_path);
    if (!strstr(err, "chain.pipe:2: stage sink: frame-dump has no option --formt") ||
        !strstr(err, "chain.pipe:3: sink (frame-dump) has no in-port 'out'") ||
        !strstr(err, "chain.pipe:2: stage sink: in-port 'in' is not linked"))
        fail_msg("stderr: %s", err);
    write_pipe("", "");
    assert_int_equal(finish(start("check", NULL), 5, NULL), 0);
    assert_int_equal(finish(start("check", "nosuch=1"), 5, NULL), 2);
    assert_non_null(strstr(slurp(err_path), "unknown variable 'nosuch' given on the command line"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_to_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_runner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
