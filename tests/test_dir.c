/* test_dir: dir_make is mkdir -p: nested paths, paths that exist, and a file in
 * the way named in the error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/dir.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64];

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_nested_and_existing(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/a/b//c/", dir);
    assert_int_equal(dir_make(p), 0);
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    assert_true(is_dir(p));
    assert_int_equal(dir_make(p), 0); /* exists: fine */
    assert_int_equal(dir_make(dir), 0);
}

static void test_file_in_the_way(void **state)
{
    (void)state;
    char file[256], p[300];
    snprintf(file, sizeof file, "%s/file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(dir_make(file), -1);
    assert_non_null(strstr(err_msg(), "not a directory"));
    snprintf(p, sizeof p, "%s/below", file);
    assert_int_equal(dir_make(p), -1);
    assert_non_null(strstr(err_msg(), p));
    assert_int_equal(dir_make(""), -1);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_dir.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_and_existing),
        cmocka_unit_test(test_file_in_the_way),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
