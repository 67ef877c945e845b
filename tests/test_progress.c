/* test_progress: rate limiting and the content of progress lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/progress.h"

#include <math.h>
#include <string.h>

static void test_rate_limited_lines(void **state)
{
    (void)state;
    char line[256] = "";
    progress *p = progress_new_at(60000, 2.0, 100.0);
    assert_non_null(p);
    assert_false(progress_update_at(p, 1, 100, 0.5, 100.5, line, sizeof line));
    assert_false(progress_update_at(p, 5, 500, 0.5, 101.9, line, sizeof line));
    assert_true(progress_update_at(p, 100, 10000, 0.0231, 102.0, line, sizeof line));
    assert_string_equal(line, "step 100, 10000/60000 samples (16.7%), loss 0.0231, 5000 samples/s, "
                              "ETA 0:10");
    assert_false(progress_update_at(p, 101, 10100, 0.02, 103.0, line, sizeof line));
    assert_true(progress_update_at(p, 200, 20000, NAN, 104.0, line, sizeof line));
    assert_null(strstr(line, "loss"));
    progress_destroy(&p);
    assert_null(p);

    p = progress_new_at(0, 1.0, 0.0);
    assert_true(progress_update_at(p, 3, 300, NAN, 7300.0, line, sizeof line));
    assert_string_equal(line, "step 3, 300 samples, 0 samples/s");
    progress_destroy(&p);
    p = progress_new_at(1000000, 1.0, 0.0);
    assert_true(progress_update_at(p, 1, 100, NAN, 1.0, line, sizeof line));
    assert_non_null(strstr(line, "ETA 2:46:39"));
    progress_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rate_limited_lines)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
