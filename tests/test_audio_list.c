/* test_audio_list: inputs (files, sorted directories, @lists) become one ordered
 * list; FSDD names parse; the train/test split and the limit filter it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tmpdir.h"

#include "audio/audio_list.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void touch(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_audio_list.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/d", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/empty", dir);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/other", dir);
    mkdir(p, 0777);
    touch("other/b.flac");
    touch("other/a.ogg");
    touch("other/c.AIFF");
    touch("other/notes.txt");
    /* readdir order is arbitrary; the list must come out sorted */
    const char *names[] = {"d/3_bob_12.wav", "d/1_amy_0.wav", "d/1_amy_10.wav", "d/2_amy_4.WAV",
                           "d/notes.txt", "d/hello.wav", "d/1_amy_5.wav"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        touch(names[i]);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(dir);
}

static const char *base(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void test_fsdd_names(void **state)
{
    (void)state;
    int d = -1, i = -1;
    assert_true(audio_list_fsdd_name("data/7_jackson_32.wav", &d, &i));
    assert_int_equal(d, 7);
    assert_int_equal(i, 32);
    assert_true(audio_list_fsdd_name("0_yweweler_0.WAV", &d, &i));
    assert_int_equal(i, 0);
    assert_true(audio_list_fsdd_name("4_a_b_9.wav", &d, &i)); /* speaker with an underscore */
    assert_int_equal(i, 9);
    assert_false(audio_list_fsdd_name("hello.wav", NULL, NULL));
    char sp[16];
    assert_int_equal(audio_list_speaker("data/7_jackson_32.wav", sp, sizeof sp), 7);
    assert_string_equal(sp, "jackson");
    assert_int_equal(audio_list_speaker("4_a_b_9.wav", sp, sizeof sp), 3);
    assert_string_equal(sp, "a_b");
    assert_int_equal(audio_list_speaker("hello.wav", sp, sizeof sp), 0);
    assert_string_equal(sp, "");
    assert_int_equal(audio_list_speaker("1_averyveryverylongname_2.wav", sp, sizeof sp), 0);
    assert_false(audio_list_fsdd_name("7__3.wav", NULL, NULL)); /* no speaker */
    assert_false(audio_list_fsdd_name("7_x_3a.wav", NULL, NULL));
    assert_false(audio_list_fsdd_name("x_jackson_3.wav", NULL, NULL));
    assert_false(audio_list_fsdd_name("7_jackson_3.flac", NULL, NULL));
    assert_false(audio_list_fsdd_name("7_jackson_.wav", NULL, NULL));
    assert_int_equal(audio_list_label("a/5_theo_1.wav"), 5);
    assert_int_equal(audio_list_label("a/5_theo.wav"), -1);
}

/* a directory takes every format libsndfile reads, not only WAV (issue 15) */
static void test_directory_other_formats(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/other", dir);
    audio_list *l = audio_list_new();
    assert_int_equal(audio_list_add(l, p), 0);
    assert_int_equal(l->n, 3);
    assert_string_equal(base(l->paths[0]), "a.ogg");
    assert_string_equal(base(l->paths[1]), "b.flac");
    assert_string_equal(base(l->paths[2]), "c.AIFF");
    audio_list_destroy(&l);
}

static void test_directory_sorted(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/d", dir);
    audio_list *l = audio_list_new();
    assert_int_equal(audio_list_add(l, p), 0);
    const char *want[] = {"1_amy_0.wav", "1_amy_10.wav", "1_amy_5.wav", "2_amy_4.WAV",
                          "3_bob_12.wav", "hello.wav"};
    assert_int_equal(l->n, 6);
    for (size_t i = 0; i < l->n; i++)
        assert_string_equal(base(l->paths[i]), want[i]);
    /* a split needs FSDD names everywhere, and leaves the list whole when it fails */
    assert_int_equal(audio_list_filter(l, AUDIO_LIST_TEST, 0), -1);
    assert_non_null(strstr(err_msg(), "hello.wav"));
    assert_int_equal(l->n, 6);
    audio_list_destroy(&l);
    assert_null(l);

    snprintf(p, sizeof p, "%s/empty", dir);
    l = audio_list_new();
    assert_int_equal(audio_list_add(l, p), -1);
    assert_non_null(strstr(err_msg(), "no audio files"));
    snprintf(p, sizeof p, "%s/missing.wav", dir);
    assert_int_equal(audio_list_add(l, p), -1);
    assert_non_null(strstr(err_msg(), "missing.wav"));
    audio_list_destroy(&l);
}

static void test_list_file_split_limit(void **state)
{
    (void)state;
    char lp[200], p[256];
    snprintf(lp, sizeof lp, "%s/list.txt", dir);
    FILE *f = fopen(lp, "w");
    assert_non_null(f);
    fprintf(f, "# FSDD only\n%s/d/3_bob_12.wav\r\n\n%s/d/1_amy_0.wav\n%s/d/2_amy_4.WAV\n"
               "%s/d/1_amy_10.wav\n",
            dir, dir, dir, dir);
    fclose(f);
    snprintf(p, sizeof p, "@%s", lp);
    audio_list *l = audio_list_new();
    assert_int_equal(audio_list_add(l, p), 0);
    assert_int_equal(l->n, 4); /* the list's order, comments and blank lines skipped */
    assert_string_equal(base(l->paths[0]), "3_bob_12.wav");
    audio_list_split s;
    assert_int_equal(audio_list_split_parse("test", &s), 0);
    assert_int_equal(audio_list_filter(l, s, 0), 0);
    assert_int_equal(l->n, 2); /* index 0 and 4 */
    assert_string_equal(base(l->paths[0]), "1_amy_0.wav");
    assert_string_equal(base(l->paths[1]), "2_amy_4.WAV");
    audio_list_destroy(&l);

    l = audio_list_new();
    assert_int_equal(audio_list_add(l, p), 0);
    assert_int_equal(audio_list_filter(l, AUDIO_LIST_TRAIN, 1), 0);
    assert_int_equal(l->n, 1);
    assert_string_equal(base(l->paths[0]), "3_bob_12.wav");
    audio_list_destroy(&l);
    assert_int_equal(audio_list_split_parse("dev", &s), -1);

    l = audio_list_new();
    assert_int_equal(audio_list_add(l, "@/nonexistent/list.txt"), -1);
    assert_non_null(strstr(err_msg(), "/nonexistent/list.txt"));
    audio_list_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fsdd_names),
        cmocka_unit_test(test_directory_sorted),
        cmocka_unit_test(test_directory_other_formats),
        cmocka_unit_test(test_list_file_split_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
