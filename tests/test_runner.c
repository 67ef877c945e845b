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

#include "core/clock.h"
#include "core/progress.h"
#include "tmpdir.h"

#include "process.h"

#include <math.h>
#include <sndfile.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], pipe_path[128], out_dir[128], err_path[128];

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
    return tmpdir_remove(dir);
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

/* Starts bin/spikesynth CMD on the test's pipe file and out dir, with one
 * optional variable; stderr goes to err_path. */
static pid_t start(const char *cmd, const char *var)
{
    const char *vars[] = {var, NULL};
    return proc_run_start(cmd, pipe_path, out_dir, err_path, vars);
}

/* Waits until the runner has its three stages and they have run a while. */
static size_t stages_of(pid_t runner, proc_info *ps)
{
    assert_int_equal(proc_wait_children(runner, 3, ps, 8, 5), 3);
    usleep(600 * 1000); /* past READY/GO: frames are flowing */
    /* listed again: the first list may show a child between fork and exec */
    size_t n = proc_children(runner, ps, 8);
    assert_int_equal(n, 3);
    return n;
}

static void test_runs_to_completion(void **state)
{
    (void)state;
    write_pipe("", "");
    double took;
    int rc = proc_finish(start("run", "batches=7"), 10, &took);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, proc_slurp(err_path));
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", out_dir);
    char *json = proc_slurp(path);
    assert_non_null(strstr(json, "\"status\": \"ok\""));
    assert_non_null(strstr(json, "\"name\": \"relay\""));
    snprintf(path, sizeof path, "%s/logs/sink.log", out_dir);
    /* the override reached the source: 7 batches of 3 steps */
    assert_non_null(strstr(proc_slurp(path), "21 frames, 7 batches"));
    assert_non_null(strstr(proc_slurp(err_path), "done: 3 stages finished"));
}

/* At a terminal the stages' progress comes about once a second and is redrawn
 * in place (carriage return, clear line), while the stage logs keep one line
 * per 15 s: the run below lasts ~3 s, so its log has the first and the final
 * progress line only, where the console had several. */
static void test_progress_redrawn_at_a_terminal(void **state)
{
    (void)state;
    write_pipe("", "--delay-ms=50");
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    char out_var[256];
    snprintf(out_var, sizeof out_var, "out=%s", out_dir);
    pid_t pid = fork();
    if (pid == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        if (slave < 0 || dup2(slave, STDERR_FILENO) < 0)
            _exit(99);
        execl("bin/spikesynth", "bin/spikesynth", "run", pipe_path, out_var, "batches=20", (char *)NULL);
        _exit(98);
    }
    static char screen[1 << 16];
    size_t len = 0;
    double t0 = clock_now();
    for (bool exited = false; clock_now() - t0 < 30;) {
        struct pollfd p = {master, POLLIN, 0};
        ssize_t r = poll(&p, 1, 200) > 0 ? read(master, screen + len, sizeof screen - 1 - len) : 0;
        if (r > 0) {
            len += (size_t)r;
            continue;
        }
        if (exited) /* and its last words read */
            break;
        exited = waitpid(pid, NULL, WNOHANG) == pid;
        if (!exited && r < 0) /* EIO: the terminal closed; the runner may still be exiting */
            usleep(50 * 1000);
    }
    screen[len] = '\0';
    close(master);
    size_t redraws = 0; /* a clear-line followed by a progress line */
    for (const char *q = screen; (q = strstr(q, "\r\033[K")); q++) {
        const char *text = q + 4, *found = strstr(text, "samples/s");
        redraws += found && found < text + strcspn(text, "\r\n");
    }
    assert_true(redraws >= 2);
    assert_non_null(strstr(screen, "done: 3 stages finished"));
    assert_null(strstr(screen, PROGRESS_MARK));
    char path[256];
    snprintf(path, sizeof path, "%s/logs/src.log", out_dir);
    const char *log = proc_slurp(path);
    size_t steps = 0;
    for (const char *q = log; (q = strstr(q, "samples/s")); q++)
        steps++;
    assert_true(steps <= 2); /* the first (at 1 s) and the final line */
    assert_null(strstr(log, PROGRESS_MARK));
}

static void test_killed_stage(void **state)
{
    (void)state;
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc_info ps[8];
    size_t n = stages_of(runner, ps);
    pid_t relay = proc_find(ps, n, "frame-relay");
    assert_true(relay > 0);
    assert_int_not_equal(ps[0].pgid, getpgrp()); /* stages have a group of their own */
    kill(relay, SIGKILL);
    double took;
    int rc = proc_finish(runner, 8, &took);
    assert_int_equal(rc, 1);
    assert_true(took < 5.0);
    const char *err = proc_slurp(err_path);
    if (!strstr(err, "error: stage relay (frame-relay) killed by signal 9"))
        fail_msg("stderr: %s", err);
    proc_assert_all_gone(ps, n);
}

static void test_failing_stage(void **state)
{
    (void)state;
    write_pipe("--fail-after=10", "--batches=100000 --delay-ms=1");
    double took;
    pid_t runner = start("run", NULL);
    /* a result the run began to write (a manifest, a PNG): gone after the failure */
    char partial[256];
    snprintf(partial, sizeof partial, "%s/partial.csv", out_dir);
    for (double t0 = clock_now(); access(out_dir, F_OK) != 0 && clock_now() - t0 < 5;)
        usleep(10000);
    FILE *pf = fopen(partial, "w");
    assert_non_null(pf);
    fclose(pf);
    int rc = proc_finish(runner, 8, &took);
    assert_int_equal(rc, 1);
    assert_true(took < 5.0);
    const char *err = proc_slurp(err_path);
    /* one line, first and alone: the stages stopped after it are counted, one prefix */
    if (!strstr(err, "error: stage relay (frame-relay) exited with status 1: failing on purpose after "
                     "10 frames (--fail-after); 2 other stages stopped") || strstr(err, "terminated by a signal") ||
        strstr(err, "relay: error:"))
        fail_msg("stderr: %s", err);
    assert_int_equal(access(partial, F_OK), -1);
    char path[256];
    snprintf(path, sizeof path, "%s/logs/relay.log", out_dir);
    assert_non_null(strstr(proc_slurp(path), "failing on purpose"));
}

/* An out dir is the run's alone: a second run on it is refused (issue 15). */
static void test_out_dir_locked(void **state)
{
    (void)state;
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc_info ps[8];
    stages_of(runner, ps);
    char err2[256];
    snprintf(err2, sizeof err2, "%s/stderr2", dir);
    const char *vars[] = {NULL};
    int rc = proc_finish(proc_run_start("run", pipe_path, out_dir, err2, vars), 10, NULL);
    kill(runner, SIGKILL);
    proc_finish(runner, 5, NULL);
    assert_int_equal(rc, 1);
    if (!strstr(proc_slurp(err2), "is in use by another run"))
        fail_msg("stderr: %s", proc_slurp(err2));
}

/* A reader of the runner's output that goes away (| head) does not kill the run. */
static void test_reader_gone(void **state)
{
    (void)state;
    write_pipe("", "--batches=200 --delay-ms=2");
    char cmd[600], path[256];
    snprintf(cmd, sizeof cmd, "bin/spikesynth run %s out=%s 2>&1 | head -c 1 >/dev/null", pipe_path, out_dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/run.json", out_dir);
    for (double t0 = clock_now(); !strstr(proc_slurp(path), "\"ok\"") && clock_now() - t0 < 10;)
        usleep(50000);
    assert_non_null(strstr(proc_slurp(path), "\"status\": \"ok\""));
}

static void test_interrupt_drains(void **state)
{
    (void)state;
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc_info ps[8];
    size_t n = stages_of(runner, ps);
    kill(runner, SIGINT);
    double took;
    int rc = proc_finish(runner, 8, &took);
    assert_int_equal(rc, 130);
    assert_true(took < 5.0);
    const char *err = proc_slurp(err_path);
    if (!strstr(err, "interrupted; drained and stopped cleanly"))
        fail_msg("stderr: %s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/run.json", out_dir);
    assert_non_null(strstr(proc_slurp(path), "\"status\": \"interrupted\""));
    proc_assert_all_gone(ps, n);
}

static void test_killed_runner(void **state)
{
    (void)state;
    /* orphans are re-parented to us, so we can see that they die and reap them */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    write_pipe("", "--batches=100000 --delay-ms=2");
    pid_t runner = start("run", NULL);
    proc_info ps[8];
    size_t n = stages_of(runner, ps);
    kill(runner, SIGKILL);
    waitpid(runner, NULL, 0);
    double t0 = clock_now();
    size_t reaped = 0;
    while (reaped < n && clock_now() - t0 < 5) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p > 0)
            reaped++;
        else
            usleep(10 * 1000);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    assert_int_equal(reaped, n);
    proc_assert_all_gone(ps, n);
}

static void test_check(void **state)
{
    (void)state;
    FILE *f = fopen(pipe_path, "w");
    fprintf(f, "stage src = frame-source\nstage sink = frame-dump --formt=json\nsrc.out -> sink.out\n");
    fclose(f);
    int rc = proc_finish(start("check", NULL), 5, NULL);
    assert_int_equal(rc, 2);
    const char *err = proc_slurp(err_path);
    if (!strstr(err, "chain.pipe:2: stage sink: frame-dump has no option --formt") ||
        !strstr(err, "chain.pipe:3: sink (frame-dump) has no in-port 'out'") ||
        !strstr(err, "chain.pipe:2: stage sink: in-port 'in' is not linked"))
        fail_msg("stderr: %s", err);
    write_pipe("", "");
    assert_int_equal(proc_finish(start("check", NULL), 5, NULL), 0);
    assert_int_equal(proc_finish(start("check", "nosuch=1"), 5, NULL), 2);
    assert_non_null(strstr(proc_slurp(err_path), "unknown variable 'nosuch' given on the command line"));
}

/* A source given --input=- reads the runner's standard input (a live stream);
 * the other stages get /dev/null. */
static void test_stdin_reaches_the_source(void **state)
{
    (void)state;
    char wav[160], cmd[700], path[256];
    snprintf(wav, sizeof wav, "%s/tone.wav", dir);
    /* 0.3 s of silence, 0.4 s of a 440 Hz tone at 8 kHz, 0.6 s of silence: one utterance */
    SF_INFO info = {.samplerate = 8000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(wav, SFM_WRITE, &info);
    assert_non_null(f);
    static short pcm[10400];
    for (int i = 2400; i < 5600; i++)
        pcm[i] = (short)(8000 * sin(2 * M_PI * 440 * i / 8000.0));
    assert_int_equal(sf_write_short(f, pcm, 10400), 10400);
    sf_close(f);
    FILE *p = fopen(pipe_path, "w");
    assert_non_null(p);
    fprintf(p, "stage spec = spectrogram --input=- --rate=0\nstage sink = frame-dump --format=none\n"
               "spec.values -> sink.in\n");
    fclose(p);
    snprintf(cmd, sizeof cmd, "bin/spikesynth run %s out=%s -q < %s 2> %s", pipe_path, out_dir, wav,
             err_path);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, proc_slurp(err_path));
    snprintf(path, sizeof path, "%s/logs/sink.log", out_dir);
    if (!strstr(proc_slurp(path), "1 frames, 1 batches"))
        fail_msg("sink.log: %s", proc_slurp(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_runs_to_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_redrawn_at_a_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failing_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_dir_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_runner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_reaches_the_source, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
