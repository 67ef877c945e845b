/* test_options: stage command lines, --help/--version/--describe, errors naming the option,
 * ranges and choices declared in the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/build_info.h"
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
    /* empty numbers and bools (a pipeline variable left empty): the default, not given */
    o = options_new("test-stage", "Tests.", specs, ports);
    assert_int_equal(parse(o, "--batch= --rate= --verbose= --label="), 0);
    assert_int_equal(options_int(o, "batch"), 100);
    assert_true(options_float(o, "rate") == 0.5);
    assert_false(options_given(o, "batch"));
    assert_false(options_given(o, "rate"));
    assert_true(options_given(o, "label")); /* an empty string is a value */
    assert_string_equal(options_str(o, "label"), "");
    options_destroy(&o);
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

/* What `prog FLAG` (--help, --version or --describe) prints; the caller frees it. */
static char *printed(options *o, char *flag)
{
    char *buf = NULL, *argv[] = {"prog", flag, NULL};
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(options_parse(o, 2, argv, f), 1);
    fclose(f);
    return buf;
}

static void test_help_and_describe(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests things.", specs, ports);
    char *buf = printed(o, "--help");
    assert_non_null(strstr(buf, "Usage: test-stage [OPTIONS]\nTests things."));
    assert_non_null(strstr(buf, "--batch=N"));
    assert_non_null(strstr(buf, "samples per frame [100]"));
    assert_non_null(strstr(buf, "--verbose"));
    assert_non_null(strstr(buf, "(feedback)"));
    assert_non_null(strstr(buf, "--log-level=TEXT"));
    free(buf);
    buf = printed(o, "--describe");
    assert_non_null(strstr(buf, "spikesynth-describe 1\ntype test-stage\n"));
    assert_non_null(strstr(buf, "port spikes in\n"));
    assert_non_null(strstr(buf, "port grad in optional feedback\n"));
    assert_non_null(strstr(buf, "port out out\n"));
    assert_non_null(strstr(buf, "option batch int\n"));
    assert_non_null(strstr(buf, "option in list\n"));
    free(buf);
    buf = printed(o, "-h");
    assert_non_null(strstr(buf, "Usage: test-stage [OPTIONS]\n"));
    assert_non_null(strstr(buf, "--version"));
    free(buf);
    options_destroy(&o);
}

/* --version: the form help2man reads, "PROGRAM (spikesynth) VERSION", with
 * the version of the VERSION file. */
static void test_version(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests things.", specs, ports);
    char *buf = printed(o, "--version"), want[128];
    snprintf(want, sizeof want, "test-stage (spikesynth) %s", build_info_version());
    assert_int_equal(strncmp(buf, want, strlen(want)), 0);
    assert_non_null(strchr(buf, '\n'));
    FILE *f = fopen("VERSION", "r");
    char file_version[64] = "";
    assert_non_null(f);
    assert_non_null(fgets(file_version, sizeof file_version, f));
    fclose(f);
    file_version[strcspn(file_version, "\n")] = '\0';
    assert_string_equal(build_info_version(), file_version);
    free(buf);
    options_destroy(&o);
}

/* A name too long for the help's column gets its own line, the text below. */
static void test_help_long_name(void **state)
{
    (void)state;
    static const option_spec long_specs[] = {
        {"a-very-long-option-name", OPT_STRING, "", "says so"}, {NULL, 0, NULL, NULL}};
    options *o = options_new("long", "Long names.", long_specs, NULL);
    char *buf = printed(o, "--help");
    assert_non_null(strstr(buf, "\n  --a-very-long-option-name=TEXT\n                           says so\n"));
    free(buf);
    options_destroy(&o);
}

static const option_spec bounded[] = {
    {"scale", OPT_INT, "4", "upscaling", .min = "1", .max = "64"},
    {"limit", OPT_INT, "0", "first N (0: all)", .min = "0"},
    {"r-max", OPT_FLOAT, "1", "spike probability", .min = "0", .max = "1"},
    {"format", OPT_STRING, "text", "output format", .choices = "text|json|none"},
    {NULL, 0, NULL, NULL},
};

static void test_ranges_and_choices(void **state)
{
    (void)state;
    options *o = options_new("test-stage", "Tests.", bounded, NULL);
    assert_non_null(o);
    assert_int_equal(parse(o, "--scale=1 --scale=64 --limit=0 --r-max=0 --r-max=1 --format=json"), 0);
    assert_int_equal(options_int(o, "scale"), 64);
    assert_string_equal(options_str(o, "format"), "json");
    assert_int_equal(parse(o, "--scale=65"), -1);
    assert_string_equal(err_msg(), "test-stage: option --scale: 65 is out of range (1..64)");
    assert_int_equal(parse(o, "--scale 0"), -1);
    assert_string_equal(err_msg(), "test-stage: option --scale: 0 is out of range (1..64)");
    assert_int_equal(parse(o, "--limit=-1"), -1);
    assert_string_equal(err_msg(), "test-stage: option --limit: -1 is out of range (>= 0)");
    assert_int_equal(parse(o, "--r-max=1.5"), -1);
    assert_string_equal(err_msg(), "test-stage: option --r-max: 1.5 is out of range (0..1)");
    assert_int_equal(parse(o, "--format=xml"), -1);
    assert_string_equal(err_msg(), "test-stage: option --format: 'xml' is not one of text|json|none");
    assert_int_equal(parse(o, "--format=tex"), -1); /* a prefix is not a choice */
    assert_int_equal(parse(o, "--format=json|none"), -1);
    /* an empty choice is no choice: the value stays, as if not given */
    assert_int_equal(parse(o, "--format="), 0);
    assert_string_equal(options_str(o, "format"), "json");
    /* the common options are bounded the same way */
    assert_int_equal(parse(o, "--queue=0"), -1);
    assert_string_equal(err_msg(), "test-stage: option --queue: 0 is out of range (>= 1)");
    assert_int_equal(parse(o, "--log-level=loud"), -1);
    assert_non_null(strstr(err_msg(), "--log-level: 'loud' is not one of error|warn|info|debug"));

    char *buf = printed(o, "--help");
    assert_non_null(strstr(buf, "upscaling [4] (1..64)\n"));
    assert_non_null(strstr(buf, "first N (0: all) [0] (>= 0)\n"));
    assert_non_null(strstr(buf, "spike probability [1] (0..1)\n"));
    assert_non_null(strstr(buf, "output format [text] (text|json|none)\n"));
    free(buf);
    options_destroy(&o);

    /* a table that contradicts itself is refused when the stage starts */
    static const option_spec bad_default[] = {{"n", OPT_INT, "0", "", .min = "1"}, {NULL, 0, NULL, NULL}};
    assert_null(options_new("bad", "", bad_default, NULL));
    assert_non_null(strstr(err_msg(), "bad default"));
    assert_non_null(strstr(err_msg(), "--n: 0 is out of range (>= 1)"));
    static const option_spec bad_choice[] = {{"f", OPT_STRING, "png", "", .choices = "text|json"},
                                             {NULL, 0, NULL, NULL}};
    assert_null(options_new("bad", "", bad_choice, NULL));
    assert_non_null(strstr(err_msg(), "'png' is not one of text|json"));
    static const option_spec bad_bound[] = {{"n", OPT_INT, "1", "", .max = "lots"}, {NULL, 0, NULL, NULL}};
    assert_null(options_new("bad", "", bad_bound, NULL));
    assert_non_null(strstr(err_msg(), "bad bound"));
    static const option_spec misplaced[] = {{"s", OPT_STRING, "x", "", .min = "1"}, {NULL, 0, NULL, NULL}};
    assert_null(options_new("bad", "", misplaced, NULL));
    assert_non_null(strstr(err_msg(), "not a number"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_help_and_describe),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_long_name),
        cmocka_unit_test(test_ranges_and_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
