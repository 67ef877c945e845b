/* test_resume: checkpoints and resuming (data/checkpoint.h), on a small
 * synthetic MNIST (run from the repo root, after make):
 *  - a checkpoint (format 3) keeps Adam's moments, step and update counts and
 *    the loss sums; the newest two are kept per layer; the newest batch count
 *    common to a set is found, and a set with none in common is refused;
 *  - train-ae-mnist.pipe with checkpoint_every, one stage killed by SIGKILL
 *    mid-run after its second checkpoint, then resume=true: the final models
 *    are byte-identical to a run never interrupted (and never checkpointed),
 *    for learning=traces and learning=bptt;
 *  - the same for bin/ae-train killed and run again with --resume;
 *  - resuming without checkpoints, or with another seed, fails naming why.
 * SPIKESYNTH_QUICK (the sanitizer run) trains fewer epochs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "data/checkpoint.h"
#include "mnist_fixture.h"
#include "numerics/blas.h"
#include "process.h"
#include "resume.h"
#include "tmpdir.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TRAIN 200 /* batches of 20: 10 per epoch */
#define EVERY "3"   /* checkpoints mid-epoch (3, 6, 9, 12, ...) */

static char dir[128], var_data[200];
static const char *epochs = "6";
static pid_t live;

static int group_setup(void **state)
{
    (void)state;
    if (getenv("SPIKESYNTH_QUICK"))
        epochs = "4";
    if (tmpdir_make(dir, sizeof dir, "test_resume") < 0)
        return -1;
    mnist_fixture_write(tmpdir_at(dir, "data"), N_TRAIN, 20);
    snprintf(var_data, sizeof var_data, "data=%s", tmpdir_at(dir, "data"));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static int reap_leftover(void **state)
{
    (void)state;
    proc_kill(&live);
    return 0;
}

/* ---- a. the files ------------------------------------------------------------ */

static lif_layer *small_layer(float fill)
{
    lif_params lif = lif_params_default();
    optim_params opt = optim_params_default();
    opt.carry_moments = true;
    lif_layer *l = lif_layer_new(3, 2, 4, &lif, &opt, NULL);
    assert_non_null(l);
    optim_state *os = lif_layer_optim(l);
    for (int i = 0; i < 6; i++) {
        l->w[i] = fill + (float)i;
        os->m[i] = fill * 0.5f + (float)i;
        os->v[i] = fill * 0.25f + (float)i;
    }
    os->step = 7;
    os->updates = 70;
    return l;
}

static void save_at(lif_layer *l, const char *path, int64_t batches)
{
    model info = {.steps = 15, .seed = 5, .batches = batches, .samples = batches * 20,
                  .lineage = {.init = 0x1234}, .state = {.loss = {.loss = 2.5, .entries = 9}}};
    assert_int_equal(checkpoint_save(l, "ae-encoder", &info, path), 0);
}

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    const char *path = tmpdir_at(dir, "unit-encoder.ssm");
    lif_layer *a = small_layer(1), *b = small_layer(0);
    save_at(a, path, 3);
    save_at(a, path, 6);
    int64_t pts[CHECKPOINT_KEEP];
    assert_int_equal(checkpoint_points(path, pts), 2);
    assert_int_equal(pts[0], 6);
    assert_int_equal(pts[1], 3);
    model info = {.steps = 15, .seed = 5};
    if (checkpoint_restore(b, "ae-encoder", path, 6, &info) < 0)
        fail_msg("%s", err_msg());
    const optim_state *oa = lif_layer_optim(a), *ob = lif_layer_optim(b);
    assert_memory_equal(a->w, b->w, 6 * sizeof(float));
    assert_memory_equal(oa->m, ob->m, 6 * sizeof(float));
    assert_memory_equal(oa->v, ob->v, 6 * sizeof(float));
    assert_int_equal(ob->step, 7);
    assert_int_equal(ob->updates, 70);
    assert_int_equal(info.batches, 6);
    assert_int_equal(info.samples, 120);
    assert_true(info.lineage.init == 0x1234);
    assert_true(info.state.loss.loss == 2.5 && info.state.loss.entries == 9);
    /* another training's: refused, naming the field */
    model other = {.steps = 15, .seed = 6};
    assert_int_equal(checkpoint_restore(b, "ae-encoder", path, 6, &other), -1);
    assert_non_null(strstr(err_msg(), "seed differs"));
    assert_int_equal(checkpoint_restore(b, "ae-encoder", path, 9, &info), -1);
    assert_non_null(strstr(err_msg(), "no checkpoint of 9 batches"));
    /* a plain model is still format 2; a checkpoint is format 3 */
    char ck[4096];
    checkpoint_path(path, 0, ck, sizeof ck);
    model *m = model_load(ck);
    assert_non_null(m);
    assert_int_equal(m->version, 3);
    model_destroy(&m);
    assert_int_equal(model_layer_save(a, "ae-encoder", &info, path), 0);
    assert_non_null(m = model_load(path));
    assert_int_equal(m->version, 2);
    assert_false(m->state.present);
    model_destroy(&m);
    checkpoint_remove(path);
    assert_int_equal(checkpoint_points(path, pts), 0);
    lif_layer_destroy(&a);
    lif_layer_destroy(&b);
}

static void test_checkpoint_common(void **state)
{
    (void)state;
    const char *enc = tmpdir_at(dir, "set-encoder.ssm"), *dec = tmpdir_at(dir, "set-decoder.ssm");
    const char *paths[] = {enc, dec};
    lif_layer *l = small_layer(1);
    int64_t k = 0;
    assert_int_equal(checkpoint_common(paths, 2, &k), -1);
    assert_non_null(strstr(err_msg(), "no checkpoint to resume from"));
    save_at(l, enc, 3);
    save_at(l, enc, 6);
    save_at(l, dec, 3); /* the decoder killed before its checkpoint of 6 */
    assert_int_equal(checkpoint_common(paths, 2, &k), 0);
    assert_int_equal(k, 3);
    save_at(l, dec, 6);
    assert_int_equal(checkpoint_common(paths, 2, &k), 0);
    assert_int_equal(k, 6);
    save_at(l, enc, 9);
    save_at(l, enc, 12); /* enc holds 12, 9; dec 6, 3 */
    assert_int_equal(checkpoint_common(paths, 2, &k), -1);
    assert_non_null(strstr(err_msg(), "not of one batch"));
    lif_layer_destroy(&l);
}

/* ---- b. killed and resumed ---------------------------------------------------- */

static const char *const ae_layers[] = {"encoder", "decoder"};

static void pipeline_case(const char *learning, const char *victim)
{
    char var_learning[64], model_ref[300], model_run[300], var_ref[320], var_run[320];
    char var_epochs[32], err[300], out[300];
    snprintf(var_learning, sizeof var_learning, "learning=%s", learning);
    snprintf(var_epochs, sizeof var_epochs, "epochs=%s", epochs);
    snprintf(model_ref, sizeof model_ref, "%s/pipe-%s-ref", dir, learning);
    snprintf(model_run, sizeof model_run, "%s/pipe-%s-run", dir, learning);
    snprintf(var_ref, sizeof var_ref, "model=%s", model_ref);
    snprintf(var_run, sizeof var_run, "model=%s", model_run);
    snprintf(err, sizeof err, "%s/pipe-%s.stderr", dir, learning);
    snprintf(out, sizeof out, "%s/pipe-%s-out", dir, learning);
#define VARS(model, every, resume)                                                              \
    {var_data, "train_limit=200", "batch=20", "hidden=16", "seed=3", "threads=1", var_learning, \
     var_epochs, model, every, resume, "-q", NULL}
    const char *ref[] = VARS(var_ref, "checkpoint_every=0", "resume=false");
    const char *first[] = VARS(var_run, "checkpoint_every=" EVERY, "resume=false");
    const char *again[] = VARS(var_run, "checkpoint_every=" EVERY, "resume=true");
#undef VARS
    live = proc_run_start("run", "pipelines/train-ae-mnist.pipe", out, err, ref);
    int rc = proc_finish(live, 120, NULL);
    live = 0;
    if (rc != 0)
        fail_msg("the uninterrupted run: exit %d: %s", rc, proc_slurp(err));

    char victim_model[320];
    snprintf(victim_model, sizeof victim_model, "%s-%s.ssm", model_run,
             strcmp(victim, "ae-encoder") ? "decoder" : "encoder");
    live = proc_run_start("run", "pipelines/train-ae-mnist.pipe", out, err, first);
    resume_kill_after_checkpoints(live, victim, victim_model, 2, err);
    rc = proc_finish(live, 30, NULL);
    live = 0;
    if (rc != 1)
        fail_msg("killing %s: the runner exited %d, expected 1 (did it finish first?): %s", victim, rc,
                 proc_slurp(err));

    live = proc_run_start("run", "pipelines/train-ae-mnist.pipe", out, err, again);
    rc = proc_finish(live, 120, NULL);
    live = 0;
    const char *said = proc_slurp(err);
    if (rc != 0 || !strstr(said, "resuming after batch"))
        fail_msg("resume=true: exit %d: %s", rc, said);
    resume_assert_same_models(model_ref, model_run, ae_layers, 2);
}

static void test_pipeline_resume_traces(void **state)
{
    (void)state;
    pipeline_case("traces", "ae-encoder");
}

static void test_pipeline_resume_bptt(void **state)
{
    (void)state;
    pipeline_case("bptt", "ae-decoder");
}

static pid_t ae_train(const char *learning, const char *model, const char *every, const char *resume,
                      const char *seed, const char *err)
{
    char a_data[220], a_learning[64], a_model[320], a_every[64], a_resume[64], a_epochs[32], a_seed[32];
    snprintf(a_data, sizeof a_data, "--data=%s", tmpdir_at(dir, "data"));
    snprintf(a_learning, sizeof a_learning, "--learning=%s", learning);
    snprintf(a_model, sizeof a_model, "--model=%s", model);
    snprintf(a_every, sizeof a_every, "--checkpoint-every=%s", every);
    snprintf(a_resume, sizeof a_resume, "--resume=%s", resume);
    snprintf(a_epochs, sizeof a_epochs, "--epochs=%s", epochs);
    snprintf(a_seed, sizeof a_seed, "--seed=%s", seed);
    /* a cosine lr: the schedule's position must come back too */
    const char *argv[] = {"bin/ae-train", a_data, "--limit=200", "--batch=20", "--hidden=16", "--threads=1",
                          "--lr-schedule=cosine", a_learning, a_model, a_every, a_resume, a_epochs, a_seed,
                          NULL};
    return proc_spawn(argv, err);
}

static void ae_train_case(const char *learning)
{
    char ref[300], run[300], err[300], enc[320];
    snprintf(ref, sizeof ref, "%s/train-%s-ref", dir, learning);
    snprintf(run, sizeof run, "%s/train-%s-run", dir, learning);
    snprintf(err, sizeof err, "%s/train-%s.stderr", dir, learning);
    snprintf(enc, sizeof enc, "%s-encoder.ssm", run);
    int rc = proc_finish(live = ae_train(learning, ref, "0", "false", "3", err), 120, NULL);
    live = 0;
    if (rc != 0)
        fail_msg("the uninterrupted ae-train: exit %d: %s", rc, proc_slurp(err));
    live = ae_train(learning, run, EVERY, "false", "3", err);
    resume_kill_after_checkpoints(live, NULL, enc, 2, err);
    rc = proc_finish(live, 30, NULL);
    live = 0;
    if (rc != 128 + SIGKILL)
        fail_msg("ae-train exited %d before the kill: %s", rc, proc_slurp(err));
    /* another seed is another training: refused */
    rc = proc_finish(live = ae_train(learning, run, EVERY, "true", "4", err), 60, NULL);
    live = 0;
    if (rc == 0 || !strstr(proc_slurp(err), "seed differs"))
        fail_msg("--resume with another seed: exit %d: %s", rc, proc_slurp(err));
    rc = proc_finish(live = ae_train(learning, run, EVERY, "true", "3", err), 120, NULL);
    live = 0;
    if (rc != 0 || !strstr(proc_slurp(err), "resuming after batch"))
        fail_msg("ae-train --resume: exit %d: %s", rc, proc_slurp(err));
    resume_assert_same_models(ref, run, ae_layers, 2);
}

static void test_ae_train_resume_traces(void **state)
{
    (void)state;
    ae_train_case("traces");
}

static void test_ae_train_resume_bptt(void **state)
{
    (void)state;
    ae_train_case("bptt");
}

/* resume=true with nothing to resume from: check fails, naming the file. */
static void test_resume_without_checkpoint(void **state)
{
    (void)state;
    char var_model[300], err[300];
    snprintf(var_model, sizeof var_model, "model=%s/never", dir);
    snprintf(err, sizeof err, "%s/never.stderr", dir);
    const char *vars[] = {var_data, "train_limit=200", "batch=20", "hidden=16", var_model, "resume=true", NULL};
    int rc = proc_finish(live = proc_run_start("check", "pipelines/train-ae-mnist.pipe", NULL, err, vars), 30,
                         NULL);
    live = 0;
    const char *said = proc_slurp(err);
    if (rc != 2 || !strstr(said, "no checkpoint to resume from") || !strstr(said, "never-encoder.checkpoint.ssm"))
        fail_msg("exit %d: %s", rc, said);
}

int main(int argc, char **argv)
{
    (void)argc;
    blas_init(argv, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_common),
        cmocka_unit_test_teardown(test_pipeline_resume_traces, reap_leftover),
        cmocka_unit_test_teardown(test_pipeline_resume_bptt, reap_leftover),
        cmocka_unit_test_teardown(test_ae_train_resume_traces, reap_leftover),
        cmocka_unit_test_teardown(test_ae_train_resume_bptt, reap_leftover),
        cmocka_unit_test_teardown(test_resume_without_checkpoint, reap_leftover),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
