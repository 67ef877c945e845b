/* test_pipeline_dirs: how spikesynth finds a pipeline by name, in a fake tree:
 * beside its bin/ (a source tree), in share/spikesynth/pipelines beside it (an
 * install), first one winning; paths pass through; the listing's summaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/build_info.h"
#include "core/dir.h"
#include "core/err.h"
#include "tmpdir.h"
#include "transport/pipeline_dirs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[256];

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make(root, sizeof root, "test_pipeline_dirs") < 0 ||
        dir_make(tmpdir_at(root, "tree/bin")) < 0 || dir_make(tmpdir_at(root, "tree/pipelines")) < 0 ||
        dir_make(tmpdir_at(root, "tree/share/spikesynth/pipelines")) < 0 ||
        dir_make(tmpdir_at(root, "linked/bin")) < 0 || dir_make(tmpdir_at(root, "linked/pipelines")) < 0 ||
        dir_make(tmpdir_at(root, "linked/share/spikesynth")) < 0 ||
        symlink("../../pipelines", tmpdir_at(root, "linked/share/spikesynth/pipelines")) < 0)
        return -1;
    tmpdir_write(tmpdir_at(root, "tree/pipelines/zz-a.pipe"),
                 "# zz-a: the first one, in the tree. More\n# words.\nstage s = frame-source\n");
    tmpdir_write(tmpdir_at(root, "tree/share/spikesynth/pipelines/zz-a.pipe"), "# zz-a: hidden by the tree's\n");
    tmpdir_write(tmpdir_at(root, "tree/share/spikesynth/pipelines/zz-b.pipe"),
                 "# zz-b: installed, with a.dot\n# and a second line: cut there\n#\n# not this\n");
    tmpdir_write(tmpdir_at(root, "tree/share/spikesynth/pipelines/zz-c.pipe"), "stage s = frame-source\n");
    tmpdir_write(tmpdir_at(root, "tree/share/spikesynth/pipelines/notes.txt"), "not a pipeline\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(root);
}

static void real(char *buf, const char *path)
{
    assert_non_null(realpath(path, buf));
}

static void test_order(void **state)
{
    (void)state;
    pipeline_dirs d;
    char want[PATH_MAX];
    pipeline_dirs_init(&d, tmpdir_at(root, "tree/bin"));
    assert_int_equal(d.n, 3);
    real(want, tmpdir_at(root, "tree/pipelines"));
    assert_string_equal(d.dirs[0], want);
    real(want, tmpdir_at(root, "tree/share/spikesynth/pipelines"));
    assert_string_equal(d.dirs[1], want);
    assert_string_equal(d.dirs[2], build_info_pipelinedir());

    /* two names for one directory: one entry */
    pipeline_dirs_init(&d, tmpdir_at(root, "linked/bin"));
    assert_int_equal(d.n, 2);
    real(want, tmpdir_at(root, "linked/pipelines"));
    assert_string_equal(d.dirs[0], want);
    assert_string_equal(d.dirs[1], build_info_pipelinedir());
}

static void test_find(void **state)
{
    (void)state;
    pipeline_dirs d;
    char path[PATH_MAX], want[PATH_MAX + 16];
    pipeline_dirs_init(&d, tmpdir_at(root, "tree/bin"));
    assert_int_equal(pipeline_dirs_find(&d, "zz-a", path, sizeof path), 0);
    snprintf(want, sizeof want, "%s/zz-a.pipe", d.dirs[0]);
    assert_string_equal(path, want);
    assert_int_equal(pipeline_dirs_find(&d, "zz-b.pipe", path, sizeof path), 0);
    snprintf(want, sizeof want, "%s/zz-b.pipe", d.dirs[1]);
    assert_string_equal(path, want);
    /* a path, or a file here (tests run from the repo root), as it is */
    assert_int_equal(pipeline_dirs_find(&d, "no/such.pipe", path, sizeof path), 0);
    assert_string_equal(path, "no/such.pipe");
    assert_int_equal(pipeline_dirs_find(&d, "Makefile", path, sizeof path), 0);
    assert_string_equal(path, "Makefile");
    /* not found: the error names every directory searched */
    assert_int_equal(pipeline_dirs_find(&d, "zz-nope", path, sizeof path), -1);
    assert_non_null(strstr(err_msg(), "no pipeline 'zz-nope'"));
    assert_non_null(strstr(err_msg(), "zz-nope.pipe in"));
    for (size_t i = 0; i < d.n; i++)
        assert_non_null(strstr(err_msg(), d.dirs[i]));
}

static void test_list(void **state)
{
    (void)state;
    pipeline_dirs d;
    char *buf = NULL;
    size_t len = 0;
    pipeline_dirs_init(&d, tmpdir_at(root, "tree/bin"));
    FILE *f = open_memstream(&buf, &len);
    /* at least ours; more when spikesynth is installed on this machine */
    assert_true(pipeline_dirs_list(&d, f) >= 3);
    fclose(f);
    const char *a = strstr(buf, "  zz-a                 the first one, in the tree\n");
    const char *b = strstr(buf, "  zz-b                 installed, with a.dot and a second line\n");
    const char *c = strstr(buf, "  zz-c                 \n");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_true(a < b && b < c);
    assert_null(strstr(buf, "hidden"));
    assert_null(strstr(buf, "notes"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
