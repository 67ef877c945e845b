/* test_options: stage command lines, --help/--describe, errors naming the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/options.h"

#include <stdlib.h>
#include <string.h>

static const option_spec specs[] = {
    {"batch", OPT_INT, "100", "samples per frame"},
    {"rate", OPT_FLOAT, "0.5", "spike rate"},
    {"label", OPT_STRING, "x", "a label"},
    {"verbose", OPT_BOOL, NULL, "say more"},
    {"tag", OPT_LIST, NULL, "repeatable"},
    {NULL, 0, NULL, NULL},
};
static const port_spec ports[] = {
    {"spikes", PORT_IN, 0, "spikes in"},
    {"grad", PORT_IN, PORT_FEEDBACK | PORT_OPTIONAL, "errors back"},
    {"out", PORT_OUT, 0, "frames out"},
    {NULL, 0, 0, NULL},
};

static int parse(options *o, const char *line)
{
    char *copy = strdup(line), *argv[32];
    int argc = 0;
    argv[argc++] = "prog";
    for (char *t = strtok(copy, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    int rc = options_parse(o, argc, argv, NULL);
    free(copy);
    return rc;
}

static void test_defaults_and_values(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests.", specs, ports);
    assert_non_null(o);
    assert_int_equal(options_int(o, "batch"), 100);
    assert_true(options_float(o, "rate") == 0.5);
    assert_string_equal(options_str(o, "label"), "x");
    assert_false(options_bool(o, "verbose"));
    assert_string_equal(options_str(o, "name"), "test-stage"); /* common option */
    assert_int_equal(options_int(o, "seed"), 1);
    assert_int_equal(parse(o, "--batch=7 --rate 0.25 --label=hello --verbose --tag a --tag=b "
                              "--name enc --in spikes=ipc:///tmp/x --seed=9"), 0);
    assert_int_equal(options_int(o, "batch"), 7);
    assert_true(options_float(o, "rate") == 0.25);
    assert_string_equal(options_str(o, "label"), "hello");
    assert_true(options_bool(o, "verbose"));
    assert_int_equal(options_count(o, "tag"), 2);
    assert_string_equal(options_item(o, "tag", 1), "b");
    assert_null(options_item(o, "tag", 2));
    assert_string_equal(options_str(o, "name"), "enc");
    assert_string_equal(options_item(o, "in", 0), "spikes=ipc:///tmp/x");
    assert_true(options_given(o, "batch"));
    assert_false(options_given(o, "control"));
    assert_int_equal(parse(o, "--no-verbose --verbose=false"), 0);
    assert_false(options_bool(o, "verbose"));
    options_destroy(&o);
    assert_null(o);
}

static void test_errors(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests.", specs, ports);
    assert_int_equal(parse(o, "--bach=3"), -1);
    assert_string_equal(err_msg(), "test-stage: unknown option --bach (did you mean --batch?)");
    assert_int_equal(parse(o, "--zzzzzzzz=3"), -1);
    assert_string_equal(err_msg(), "test-stage: unknown option --zzzzzzzz (see --help)");
    assert_int_equal(parse(o, "--batch=abc"), -1);
    assert_string_equal(err_msg(), "test-stage: option --batch: 'abc' is not an integer");
    assert_int_equal(parse(o, "--rate=fast"), -1);
    assert_string_equal(err_msg(), "test-stage: option --rate: 'fast' is not a number");
    assert_int_equal(parse(o, "--verbose=maybe"), -1);
    assert_non_null(strstr(err_msg(), "--verbose: 'maybe' is not true or false"));
    assert_int_equal(parse(o, "--batch"), -1);
    assert_string_equal(err_msg(), "test-stage: option --batch needs a value");
    assert_int_equal(parse(o, "stray"), -1);
    assert_non_null(strstr(err_msg(), "unexpected argument 'stray'"));
    options_destroy(&o);
    static const option_spec bad[] = {{"n", OPT_INT, "many", "bad default"}, {NULL, 0, NULL, NULL}};
    assert_null(options_new("bad", "", bad, NULL));
    assert_non_null(strstr(err_msg(), "bad default"));
    static const option_spec dup[] = {{"seed", OPT_INT, "1", "clashes with the common one"},
                                      {NULL, 0, NULL, NULL}};
    assert_null(options_new("dup", "", dup, NULL));
    assert_non_null(strstr(err_msg(), "declared twice"));
}

static void test_help_and_describe(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests things.", specs, ports);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    char *argv[] = {"prog", "--help", NULL};
    assert_int_equal(options_parse(o, 2, argv, f), 1);
    fclose(f);
    assert_non_null(strstr(buf, "Usage: test-stage [OPTIONS]\nTests things."));
    assert_non_null(strstr(buf, "--batch=N"));
    assert_non_null(strstr(buf, "samples per frame [100]"));
    assert_non_null(strstr(buf, "--verbose"));
    assert_non_null(strstr(buf, "(feedback)"));
    assert_non_null(strstr(buf, "--log-level=TEXT"));
    free(buf);
    f = open_memstream(&buf, &len);
    argv[1] = "--describe";
    assert_int_equal(options_parse(o, 2, argv, f), 1);
    fclose(f);
    assert_non_null(strstr(buf, "spikesynth-describe 1\ntype test-stage\n"));
    assert_non_null(strstr(buf, "port spikes in\n"));
    assert_non_null(strstr(buf, "port grad in optional feedback\n"));
    assert_non_null(strstr(buf, "port out out\n"));
    assert_non_null(strstr(buf, "option batch int\n"));
    assert_non_null(strstr(buf, "option in list\n"));
    free(buf);
    options_destroy(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
