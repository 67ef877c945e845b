/* support_resume: killing a training after its checkpoints and comparing the
 * resumed models (see tests/resume.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "data/checkpoint.h"
#include "process.h"
#include "resume.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static bool same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa && fb;
    for (int ca = 0, cb = 0; same && ca != EOF; same = ca == cb)
        ca = fgetc(fa), cb = fgetc(fb);
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Polls until path's checkpoints hold `count` readable ones (complete: each
 * is renamed into place once written). */
static bool wait_checkpoints(const char *path, int count, double limit)
{
    int64_t pts[CHECKPOINT_KEEP];
    for (double t0 = clock_now(); clock_now() - t0 < limit; usleep(2000))
        if (checkpoint_points(path, pts) >= count)
            return true;
    return false;
}

/* The pid of parent's child named comm, polled for up to limit seconds; 0 when none. */
static pid_t find_child(pid_t parent, const char *comm, double limit)
{
    proc_info ps[16];
    pid_t pid = 0;
    for (double t0 = clock_now(); !pid && clock_now() - t0 < limit; usleep(2000))
        pid = proc_find(ps, proc_children(parent, ps, 16), comm);
    return pid;
}

void resume_kill_after_checkpoints(pid_t parent, const char *victim, const char *model, int count,
                                   const char *err_path)
{
    if (!wait_checkpoints(model, count, 60))
        fail_msg("no %d checkpoint(s) of %s: %s", count, model, proc_slurp(err_path));
    pid_t pid = victim ? find_child(parent, victim, 10) : parent;
    if (!pid)
        fail_msg("no %s among the runner's children (did the run finish first?)", victim);
    kill(pid, SIGKILL);
}

void resume_assert_same_models(const char *ref, const char *got, const char *const *layers, int n)
{
    for (int i = 0; i < n; i++) {
        char a[4096], b[4096], ck[4096];
        snprintf(a, sizeof a, "%s-%s.ssm", ref, layers[i]);
        snprintf(b, sizeof b, "%s-%s.ssm", got, layers[i]);
        if (!same_file(a, b))
            fail_msg("%s differs from %s (the run never stopped)", b, a);
        checkpoint_path(b, 0, ck, sizeof ck);
        assert_int_equal(access(ck, F_OK), -1); /* the completed run removed it */
    }
}
