/* test_train_options: each --learning value gives its rule, trace and tuned
 * lr and Adam reading; options on the command line override them; a trace
 * that contradicts the value is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "numerics/train_options.h"

#include <string.h>

static const option_spec specs[] = {TRAIN_OPTION_SPECS, {NULL, 0, NULL, NULL}};

/* Reads the options ARGS (NULL-terminated) as a training stage's command
 * line; the return of train_options_read. */
static int read_args(const char *const *args, lif_params *lif, optim_params *opt, learning_params *learn)
{
    options *o = options_new("test-train", "Tests.", specs, NULL);
    assert_non_null(o);
    char *argv[16] = {"prog"};
    int argc = 1;
    while (args[argc - 1] && argc < 15) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    assert_int_equal(options_parse(o, argc, argv, NULL), 0);
    int rc = train_options_read(o, lif, opt, learn);
    options_destroy(&o);
    return rc;
}
#define read_line(lif, opt, learn, ...) read_args((const char *const[]){__VA_ARGS__, NULL}, lif, opt, learn)

static void test_learning_values(void **state)
{
    (void)state;
    lif_params lif;
    optim_params opt;
    learning_params learn;
    static const char *const names[] = {"traces", "traces-shared", "bptt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--learning=%s", names[i]);
        assert_int_equal(read_line(&lif, &opt, &learn, arg), 0);
        const train_tuned tuned = train_options_setting(names[i])->tuned;
        assert_true(opt.lr == tuned.lr);
        assert_true(opt.beta1 == tuned.beta1);
        assert_int_equal(opt.carry_moments, tuned.carry_moments);
        assert_int_equal(opt.cosine, tuned.cosine);
        assert_string_equal(train_options_learning_name(&learn, &lif), names[i]);
    }
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces"), 0);
    assert_int_equal(learn.rule, LEARN_TRACES);
    assert_int_equal(lif.trace, TRACE_PER_NEURON);
    assert_false(opt.carry_moments); /* the paper's reading: restart per batch */
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared"), 0);
    assert_int_equal(learn.rule, LEARN_TRACES);
    assert_int_equal(lif.trace, TRACE_SHARED);
    /* the tuned settings differ where docs/results.md says they do */
    const train_setting *paper = train_options_setting("traces"), *shared = train_options_setting("traces-shared");
    assert_true(shared->tuned.lr != paper->tuned.lr);
    assert_null(train_options_setting("trace"));
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=bptt"), 0);
    assert_int_equal(learn.rule, LEARN_BPTT);
}

static void test_overrides_and_conflicts(void **state)
{
    (void)state;
    lif_params lif;
    optim_params opt;
    learning_params learn;
    /* --trace=shared with the paper's rule is the same setting by another name */
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces", "--trace=shared"), 0);
    assert_int_equal(lif.trace, TRACE_SHARED);
    assert_string_equal(train_options_learning_name(&learn, &lif), "traces-shared");
    assert_true(opt.lr == train_options_setting("traces")->tuned.lr); /* --learning's lr */
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared", "--lr=3e-4", "--beta1=0.95",
                               "--carry-moments=false"),
                     0);
    assert_true(opt.lr == 3e-4f);
    assert_true(opt.beta1 == 0.95f);
    assert_false(opt.carry_moments);
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared", "--trace=shared"), 0);
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared", "--trace=per-neuron"), -1);
    assert_non_null(strstr(err_msg(), "--trace=per-neuron"));
}

/* The lr schedule: the --learning value's or the option's; a cosine one runs
 * over the updates of the whole run (a resumed one's too) once its length is
 * known, and refuses a stream of unknown length. */
static void test_schedule(void **state)
{
    (void)state;
    lif_params lif;
    optim_params opt;
    learning_params learn;
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces"), 0);
    assert_false(opt.cosine); /* the paper's: constant */
    assert_int_equal(train_options_schedule(&opt, &learn, 15, 0, 0), 0); /* nothing to know */
    assert_int_equal(opt.decay_updates, 0);
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared"), 0);
    assert_true(opt.cosine);
    assert_int_equal(train_options_schedule(&opt, &learn, 15, 0, 0), -1);
    assert_non_null(strstr(err_msg(), "--lr-schedule=constant"));
    assert_int_equal(train_options_schedule(&opt, &learn, 15, 0, 600), 0);
    assert_int_equal(opt.decay_updates, 15 * 600); /* an update per step */
    assert_int_equal(train_options_schedule(&opt, &learn, 15, 200, 400), 0);
    assert_int_equal(opt.decay_updates, 15 * 600); /* resumed after 200 of 600 */
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=traces-shared", "--lr-schedule=constant"), 0);
    assert_false(opt.cosine);
    assert_int_equal(read_line(&lif, &opt, &learn, "--learning=bptt", "--lr-schedule=cosine", "--window=4"), 0);
    assert_true(opt.cosine);
    assert_int_equal(train_options_schedule(&opt, &learn, 15, 0, 10), 0);
    assert_int_equal(opt.decay_updates, 4 * 10); /* windows of 4, 4, 4, 3 */
    assert_int_equal(train_options_updates_per_batch(&learn, 16), 4);
    /* the schedule itself: the full lr first, half at mid-run, 0 at the end */
    opt.lr = 1.0f;
    opt.decay_updates = 4;
    optim_state *s = optim_state_new(&opt, 1);
    assert_non_null(s);
    const float want[] = {1.0f, 0.853553f, 0.5f, 0.146447f, 0.0f, 0.0f};
    for (int i = 0; i < 6; i++) {
        optim_state_begin_step(s, &opt);
        assert_float_equal(s->lr, want[i], 1e-5);
    }
    optim_state_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learning_values),
        cmocka_unit_test(test_overrides_and_conflicts),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
