/* test_pipeline: the pipeline file parser (a good file, each syntax error naming
 * file:line) and the checker (against fake stage programs that answer --describe,
 * and against the real bin/ stages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "transport/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char bin[64];

static void fake(const char *name, const char *listing)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", bin, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    /* --preflight (the last argument): a --rate=banana is refused as a stage would */
    fprintf(f, "#!/bin/sh\ncase \"$*\" in *--rate=banana*--preflight) echo \"%s: error: %s: option --rate: "
               "'banana' is not a number\" >&2; exit 2;; *--preflight) exit 0;; esac\n"
               "[ \"$1\" = --describe ] || exit 1\ncat <<'END'\nspikesynth-describe 1\n%s", name, name,
               listing);
    fprintf(f, "option name string\noption in list\noption out list\noption seed int\nEND\n");
    fclose(f);
    chmod(path, 0755);
}

static int setup(void **state)
{
    (void)state;
    snprintf(bin, sizeof bin, "/tmp/test_pipeline-XXXXXX");
    if (!mkdtemp(bin))
        return -1;
    fake("src", "type src\nport out out\noption count int\noption rate float\n");
    fake("enc", "type enc\nport in in\nport grad in feedback\nport out out\noption steps int\n"
                "option verbose bool\n");
    fake("dec", "type dec\nport in in\nport grad out\nport image out optional\n");
    fake("sink", "type sink\nport in in\nport aux in optional\n");
    char path[128];
    snprintf(path, sizeof path, "%s/broken", bin);
    FILE *f = fopen(path, "w");
    fprintf(f, "#!/bin/sh\nexit 3\n");
    fclose(f);
    chmod(path, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", bin);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *good =
    "# a training graph\n"
    "var steps = 15\n"
    "var tag = run-${steps}   # trailing comment\n"
    "stage src = src --count=3\n"
    "stage enc = enc --steps=${steps} \\\n"
    "    --verbose\n"
    "src.out -> enc.in\n"
    "enc.out->dec.in\n"
    "enc.grad <- dec.grad\n"
    "stage dec = dec\n"
    "\n"
    "stage sink = sink --seed=\"${tag} x\" --count '${literal}' --price=$$5\n";

static void test_good_file(void **state)
{
    (void)state;
    char *ov[] = {"steps=20", "out=/tmp/elsewhere"};
    pipeline *p = pipeline_parse("pipelines/train.pipe", good, ov, 2);
    if (!p)
        fail_msg("%s", err_msg());
    assert_string_equal(p->stem, "train");
    assert_string_equal(pipeline_var_get(p, "steps"), "20");
    assert_string_equal(pipeline_var_get(p, "tag"), "run-20");
    assert_string_equal(pipeline_var_get(p, "out"), "/tmp/elsewhere");
    assert_string_equal(pipeline_var_get(p, "pipeline"), "train");
    assert_int_equal(p->n_stages, 4);
    assert_int_equal(p->n_links, 3);
    const pipeline_stage *enc = &p->stages[pipeline_stage_find(p, "enc")];
    assert_string_equal(enc->program, "enc");
    assert_int_equal(enc->line, 5);
    assert_int_equal(enc->n_args, 2);
    assert_string_equal(enc->args[0], "--steps=20");
    assert_string_equal(enc->args[1], "--verbose");
    const pipeline_stage *sink = &p->stages[3];
    assert_int_equal(sink->n_args, 4);
    assert_string_equal(sink->args[0], "--seed=run-20 x");
    assert_string_equal(sink->args[2], "${literal}");
    assert_string_equal(sink->args[3], "--price=$5");
    /* "enc.grad <- dec.grad": dec feeds enc */
    const pipeline_link *back = &p->links[2];
    assert_string_equal(p->stages[back->from].name, "dec");
    assert_string_equal(back->from_port, "grad");
    assert_string_equal(p->stages[back->to].name, "enc");
    assert_int_equal(back->line, 9);
    pipeline_destroy(&p);
    assert_null(p);

    /* the default out is out/STEM */
    p = pipeline_parse("x/train.pipe", good, NULL, 0);
    assert_string_equal(pipeline_var_get(p, "out"), "out/train");
    assert_string_equal(pipeline_var_get(p, "steps"), "15");
    pipeline_destroy(&p);
}

static void expect_parse_error(const char *text, const char *msg, char *const *ov, size_t n_ov)
{
    pipeline *p = pipeline_parse("t.pipe", text, ov, n_ov);
    if (p)
        fail_msg("parsed, expected: %s", msg);
    if (strcmp(err_msg(), msg))
        fail_msg("got '%s', expected '%s'", err_msg(), msg);
}

/* stage NAME @ HOST, a link's port=N, the placement built-ins */
static void test_placement(void **state)
{
    (void)state;
    const char *text = "var enc_host = node-a\n"
                       "stage src = frame-source\n"
                       "stage enc @ ${enc_host} = frame-relay --x=1\n"
                       "stage sink @ local = frame-dump\n"
                       "src.out -> enc.in port=7001\n"
                       "enc.out -> sink.in\n";
    char *ov[] = {"port_base=6000", "keys=/k"};
    pipeline *p = pipeline_parse("t.pipe", text, ov, 2);
    if (!p)
        fail_msg("%s", err_msg());
    assert_null(p->stages[0].host);
    assert_string_equal(p->stages[1].host, "node-a");
    assert_string_equal(p->stages[1].program, "frame-relay");
    assert_int_equal(p->stages[1].n_args, 1);
    assert_null(p->stages[2].host); /* local: with the runner */
    assert_int_equal(p->links[0].port, 7001);
    assert_int_equal(p->links[1].port, 0);
    assert_string_equal(pipeline_var_get(p, "port_base"), "6000");
    assert_string_equal(pipeline_var_get(p, "keys"), "/k");
    assert_string_equal(pipeline_var_get(p, "hosts"), "");
    pipeline_destroy(&p);
    expect_parse_error("stage a @ = src\n", "t.pipe:1: '=' is not a host name (letters, digits, "
                       "- and _)", NULL, 0);
    expect_parse_error("stage a = src\nstage b = sink\na.out -> b.in port=70000\n",
                       "t.pipe:3: 'port=70000': a port is 1 to 65535", NULL, 0);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_parse_error("stage a = src\nstage b = sink --x=${nope}\n",
                       "t.pipe:2: unknown variable 'nope' (declare it with var before use)", NULL, 0);
    expect_parse_error("stage a = src\n\nhello world\n",
                       "t.pipe:3: expected 'var', 'stage' or a link 'STAGE.PORT -> STAGE.PORT'", NULL, 0);
    expect_parse_error("stage a = src --x=\"oops\n", "t.pipe:1: unterminated \" quote", NULL, 0);
    expect_parse_error("stage a = src\nstage a = sink\n", "t.pipe:2: stage 'a' already declared at line 1",
                       NULL, 0);
    expect_parse_error("var x = 1\nvar x = 2\n", "t.pipe:2: variable 'x' already declared at line 1",
                       NULL, 0);
    expect_parse_error("stage a = src\na.out -> b\n", "t.pipe:2: 'b' is not STAGE.PORT", NULL, 0);
    expect_parse_error("stage a = src\na.out -> b.in\n",
                       "t.pipe:2: unknown stage 'b' (declare it with 'stage b = PROGRAM')", NULL, 0);
    expect_parse_error("stage a = src\na.out -> a.in\n", "t.pipe:2: stage 'a' linked to itself", NULL, 0);
    expect_parse_error("stage a = ../evil\n",
                       "t.pipe:1: '../evil' is not a stage program name (programs are found in bin/)",
                       NULL, 0);
    expect_parse_error("stage a\n", "t.pipe:1: expected 'stage NAME [@ HOST] = PROGRAM [--option=value ...]'",
                       NULL, 0);
    expect_parse_error("var = 3\n", "t.pipe:1: expected 'var NAME = VALUE'", NULL, 0);
    char *ov[] = {"stpes=3"};
    expect_parse_error("var steps = 1\nstage a = src\n",
                       "unknown variable 'stpes' given on the command line (t.pipe has: pipeline, out, hosts, "
                       "keys, port_base, steps)", ov, 1);
    char *bad[] = {"novalue"};
    expect_parse_error("stage a = src\n", "'novalue': variables are given as name=value", bad, 1);
    expect_parse_error("# nothing\n", "t.pipe: no stages", NULL, 0);
    /* a missing file */
    assert_null(pipeline_load("/nonexistent/x.pipe", NULL, 0));
    assert_non_null(strstr(err_msg(), "/nonexistent/x.pipe: cannot open"));
}

static pipeline *checked(const char *text, int expect_rc)
{
    pipeline *p = pipeline_parse("c.pipe", text, NULL, 0);
    if (!p)
        fail_msg("%s", err_msg());
    int rc = pipeline_check(p, bin);
    if (rc != expect_rc)
        fail_msg("check returned %d: %s", rc, err_msg());
    return p;
}

static void has_error(const pipeline *p, const char *msg)
{
    for (size_t i = 0; i < p->n_errors; i++)
        if (!strcmp(p->errors[i], msg))
            return;
    for (size_t i = 0; i < p->n_errors; i++)
        print_error("  have: %s\n", p->errors[i]);
    fail_msg("missing error: %s", msg);
}

static void test_check_good(void **state)
{
    (void)state;
    /* a feedback link closes a cycle: allowed */
    pipeline *p = checked("stage src = src\nstage enc = enc --steps 3 --no-verbose\nstage dec = dec\n"
                          "src.out -> enc.in\nenc.out -> dec.in\ndec.grad -> enc.grad\n", 0);
    assert_true(p->stages[0].source);
    assert_false(p->stages[0].sink);
    assert_false(p->stages[1].source);
    assert_true(p->stages[2].sink); /* its only out-link is feedback */
    assert_true(p->links[2].feedback);
    pipeline_destroy(&p);
}

/* check runs every stage with its arguments and --preflight: a bad value is
 * found before anything runs, named once (issue 15) */
static void test_check_preflight(void **state)
{
    (void)state;
    pipeline *p = checked("stage src = src --rate=banana\nstage s1 = sink\nsrc.out -> s1.in\n", -1);
    has_error(p, "c.pipe:1: stage src: option --rate: 'banana' is not a number");
    assert_int_equal(p->n_errors, 1);
    pipeline_destroy(&p);
}

static void test_check_errors(void **state)
{
    (void)state;
    pipeline *p = checked("stage src = src --cuont=3 --name=x stray\n"   /* 1 */
                          "stage enc = enc --steps\n"                    /* 2 */
                          "stage dec = dec\n"                            /* 3 */
                          "stage s1 = sink\n"                            /* 4 */
                          "stage s2 = sink\n"                            /* 5 */
                          "stage x = nosuch\n"                           /* 6 */
                          "stage y = broken\n"                           /* 7 */
                          "src.out -> enc.in\n"                          /* 8 */
                          "src.out -> s1.in\n"                           /* 9 */
                          "enc.out -> dec.in\n"                          /* 10 */
                          "dec.image -> s1.in\n"                         /* 11 */
                          "dec.grad -> s2.out\n"                         /* 12 */
                          "s1.in -> s2.aux\n",                           /* 13 */
                          -1);
    has_error(p, "c.pipe:1: stage src: src has no option --cuont (see bin/src --help)");
    has_error(p, "c.pipe:1: stage src: --name is set by spikesynth run");
    has_error(p, "c.pipe:1: stage src: unexpected argument 'stray' (options are --name=value)");
    has_error(p, "c.pipe:2: stage enc: option --steps needs a value");
    has_error(p, "c.pipe:9: out-port src.out is already linked at line 8 (a port carries one link)");
    has_error(p, "c.pipe:11: in-port s1.in is already linked at line 9 (a port carries one link)");
    has_error(p, "c.pipe:12: s2 (sink) has no in-port 'out'");
    has_error(p, "c.pipe:13: s1 (sink) has no out-port 'in' (it is an in-port)");
    has_error(p, "c.pipe:2: stage enc: in-port 'grad' is not linked");
    has_error(p, "c.pipe:5: stage s2: in-port 'in' is not linked");
    bool unknown = false, broken = false;
    for (size_t i = 0; i < p->n_errors; i++) {
        unknown |= !strncmp(p->errors[i], "c.pipe:6: stage x: unknown stage program 'nosuch' (no ", 52);
        broken |= strstr(p->errors[i], "c.pipe:7: stage y: ") && strstr(p->errors[i], "--describe failed");
    }
    assert_true(unknown);
    assert_true(broken);
    assert_non_null(strstr(err_msg(), "c.pipe:1: stage src: src has no option --cuont"));
    assert_non_null(strstr(err_msg(), "more)"));
    pipeline_destroy(&p);

    /* a cycle through forward links only */
    p = checked("stage a = enc\nstage b = enc\nstage s = src\n"
                "s.out -> a.grad\na.out -> b.in\nb.out -> a.in\n", -1);
    has_error(p, "c.pipe:6: link b.out -> a.in closes a cycle; only a link into a feedback port "
                 "(training errors) may");
    pipeline_destroy(&p);
}

static void test_check_real_stages(void **state)
{
    (void)state;
    /* the real programs, built next to the tests by make (run from the repo root) */
    pipeline *p = pipeline_parse("r.pipe", "stage src = frame-source --batches=2\n"
                                           "stage relay = frame-relay\nstage dump = frame-dump --format json\n"
                                           "src.out -> relay.in\nrelay.out -> dump.in\n", NULL, 0);
    assert_non_null(p);
    if (pipeline_check(p, "bin") < 0)
        fail_msg("%s", err_msg());
    pipeline_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_placement),
        cmocka_unit_test(test_check_good),
        cmocka_unit_test(test_check_preflight),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_check_real_stages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
