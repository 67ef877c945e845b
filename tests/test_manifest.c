/* test_manifest: the id,path,label CSV round-trips (quoting included), loads in
 * any row order, finds ids, and rejects malformed files naming file and line;
 * stems for naming outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "core/err.h"
#include "data/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_manifest.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/m.csv", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static void write_text(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    manifest *m = manifest_new();
    assert_int_equal(manifest_add(m, 0, "data/0_george_0.wav", 0), 0);
    assert_int_equal(manifest_add(m, 3, "odd, name \"quoted\".wav", -1), 0);
    assert_int_equal(manifest_add(m, 7, "two\nlines.wav", 9), 0);
    assert_int_equal(manifest_add(m, 7, "again.wav", 1), -1); /* ids must increase */
    assert_non_null(strstr(err_msg(), "id 7"));
    assert_int_equal(manifest_add(m, 8, "x.wav", -2), -1);
    assert_int_equal(manifest_write(m, path), 0);
    manifest_destroy(&m);
    assert_null(m);

    m = manifest_load(path);
    assert_non_null(m);
    assert_int_equal(m->n, 3);
    const manifest_entry *e = manifest_find(m, 3);
    assert_non_null(e);
    assert_string_equal(e->path, "odd, name \"quoted\".wav");
    assert_int_equal(e->label, -1);
    assert_string_equal(manifest_find(m, 7)->path, "two\nlines.wav");
    assert_int_equal(manifest_find(m, 0)->label, 0);
    assert_null(manifest_find(m, 1));
    assert_null(manifest_find(m, 8));
    manifest_destroy(&m);
}

static void test_any_order_crlf(void **state)
{
    (void)state;
    write_text("id,path,label\r\n5,b.wav,2\r\n\r\n1,a.wav,-1\r\n");
    manifest *m = manifest_load(path);
    assert_non_null(m);
    assert_int_equal(m->n, 2);
    assert_int_equal(m->entries[0].id, 1);
    assert_string_equal(manifest_find(m, 5)->path, "b.wav");
    manifest_destroy(&m);
}

static void expect_bad(const char *text, const char *what)
{
    write_text(text);
    manifest *m = manifest_load(path);
    if (m)
        fail_msg("accepted: %s", text);
    if (!strstr(err_msg(), what) || !strstr(err_msg(), path))
        fail_msg("'%s' lacks '%s' or the path", err_msg(), what);
}

static void test_rejects(void **state)
{
    (void)state;
    expect_bad("", "header");
    expect_bad("id,file,label\n", "header");
    expect_bad("id,path,label\n1,a.wav\n", "line 2");
    expect_bad("id,path,label\n1,a.wav,1\nx,b.wav,1\n", "line 3");
    expect_bad("id,path,label\n1,a.wav,-3\n", "label");
    expect_bad("id,path,label\n1,a.wav,1,4\n", "fourth");
    expect_bad("id,path,label\n1,\"a.wav,1\n", "unterminated");
    expect_bad("id,path,label\n1,a.wav,1\n1,b.wav,2\n", "twice");
    assert_null(manifest_load("/nonexistent/m.csv"));
    assert_non_null(strstr(err_msg(), "/nonexistent/m.csv"));
}

static void test_stem(void **state)
{
    (void)state;
    char b[16];
    manifest_stem("a/b/0_george_3.wav", b, sizeof b);
    assert_string_equal(b, "0_george_3");
    manifest_stem("stdin/utt000001_100ms-900ms", b, sizeof b);
    assert_string_equal(b, "utt000001_100ms");
    manifest_stem(".hidden", b, sizeof b);
    assert_string_equal(b, ".hidden");
    manifest_stem("x.tar.gz", b, sizeof b);
    assert_string_equal(b, "x.tar");
    char small[4];
    assert_int_equal(manifest_stem("abcdef.wav", small, sizeof small), 3);
    assert_string_equal(small, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_any_order_crlf),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_stem),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
