/* test_preflight: the free space a program's written paths need, through a
 * fake statvfs: a file counts what its spec's .bytes says (a model: its size
 * from the layer shapes, model_file_bytes, which is what model_save writes),
 * others PREFLIGHT_UNKNOWN_BYTES; the needs on one file system add up, each
 * keeps PREFLIGHT_MIN_FREE; the error names the option, the path, what is
 * free and what is needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/err.h"
#include "core/options.h"
#include "core/preflight.h"
#include "data/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1ull << 20)

static char dir[64];
static uint64_t fake_free;

static int fake_statvfs(const char *path, struct statvfs *buf)
{
    (void)path;
    memset(buf, 0, sizeof *buf);
    buf->f_frsize = 4096;
    buf->f_bavail = fake_free / 4096;
    buf->f_fsid = 42;
    return 0;
}

static uint64_t ten_mib(const options *o)
{
    (void)o;
    return 10 * MIB;
}

static const option_spec specs[] = {
    {"save", OPT_STRING, "", "two models", .path = OPT_PATH_WRITE, .suffixes = "-a.ssm|-b.ssm", .bytes = ten_mib},
    {"metrics", OPT_STRING, "", "of unknown size", .path = OPT_PATH_WRITE},
    {NULL, 0, NULL, NULL},
};

/* preflight_check of --save=DIR/m --metrics=DIR/m.json with free bytes free */
static int check_with(uint64_t free_bytes)
{
    fake_free = free_bytes;
    char save[128], metrics[128];
    snprintf(save, sizeof save, "--save=%s", tmpdir_at(dir, "m"));
    snprintf(metrics, sizeof metrics, "--metrics=%s", tmpdir_at(dir, "m.json"));
    char *argv[] = {"prog", save, metrics, NULL};
    options *o = options_new("prog", "a test", specs, NULL);
    assert_non_null(o);
    assert_int_equal(options_parse(o, 3, argv, stdout), 0);
    preflight_set_statvfs(fake_statvfs);
    int rc = preflight_check(o);
    preflight_set_statvfs(NULL);
    options_destroy(&o);
    return rc;
}

static void test_room_adds_up(void **state)
{
    (void)state;
    assert_int_equal(check_with(30 * MIB), 0); /* 10 + 10 + 1 */
    /* the first model fits (with the 16 MiB floor), the second does not */
    assert_int_equal(check_with(18 * MIB), -1);
    char want[256];
    snprintf(want, sizeof want, "option --save: %s: 18.0 MiB free on the file system of %s, 20.0 MiB needed",
             tmpdir_at(dir, "m-b.ssm"), dir);
    if (!strstr(err_msg(), want))
        fail_msg("'%s' lacks '%s'", err_msg(), want);
    /* the models fit, the file of unknown size then does not */
    assert_int_equal(check_with(20 * MIB + 1000), -1);
    assert_non_null(strstr(err_msg(), "option --metrics:"));
    /* never less than the floor */
    assert_int_equal(check_with(PREFLIGHT_MIN_FREE - 4096), -1);
    assert_non_null(strstr(err_msg(), "16.0 MiB needed"));
}

static void test_model_file_bytes(void **state)
{
    (void)state;
    model m = {.kind = "ae-encoder", .n_in = 784, .n_out = 32};
    m.w = calloc(784 * 32, sizeof *m.w);
    assert_int_equal(model_save(&m, tmpdir_at(dir, "size.ssm")), 0);
    free(m.w);
    struct stat st;
    assert_int_equal(stat(tmpdir_at(dir, "size.ssm"), &st), 0);
    assert_int_equal((uint64_t)st.st_size, model_file_bytes(784, 32));
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(dir, sizeof dir, "test_preflight");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_room_adds_up),
        cmocka_unit_test(test_model_file_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
