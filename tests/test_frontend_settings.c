/* test_frontend_settings: reading an audiocoder's recorded front end, comparing
 * two of them key by key (empty = unknown, absent norm = max and fit = pad, rate=0 unknown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "data/frontend_settings.h"

#include <string.h>

static void test_get_and_agree(void **state)
{
    (void)state;
    const char *m = "cochlea:rate=8000:decimation=80:frames=100:steps=60:r_max=1";
    char v[32], key[32];
    assert_int_equal(frontend_settings_get(m, "front_end", v, sizeof v), 1);
    assert_string_equal(v, "cochlea");
    assert_int_equal(frontend_settings_get(m, "rate", v, sizeof v), 1);
    assert_string_equal(v, "8000");
    assert_int_equal(frontend_settings_get(m, "r_max", v, sizeof v), 1);
    assert_string_equal(v, "1");
    assert_int_equal(frontend_settings_get(m, "norm", v, sizeof v), 1); /* absent: the implied max */
    assert_string_equal(v, "max");
    assert_int_equal(frontend_settings_get(m, "fit", v, sizeof v), 1); /* absent: the implied pad */
    assert_string_equal(v, "pad");
    assert_int_equal(frontend_settings_get(m, "mels", v, sizeof v), 0);
    assert_int_equal(frontend_settings_get("cochlea:rate=0:frames=9", "rate", v, sizeof v), 0);
    const char *given = ":rate=:decimation=:frames=:steps=:r_max=:norm=";
    assert_int_equal(frontend_settings_get(given, "norm", v, sizeof v), 0); /* empty: unknown */
    assert_int_equal(frontend_settings_get(given, "front_end", v, sizeof v), 0);
    assert_int_equal(frontend_settings_agree(given, m, key, sizeof key), 0);
    assert_int_equal(frontend_settings_agree("cochlea:rate=8000.0:frames=100", m, key, sizeof key), 0);
    assert_int_equal(frontend_settings_agree("cochlea:rate=16000", m, key, sizeof key), 1);
    assert_string_equal(key, "rate");
    assert_int_equal(frontend_settings_agree("mel:rate=8000", m, key, sizeof key), 1);
    assert_string_equal(key, "front_end");
    assert_int_equal(frontend_settings_agree(":norm=channel", m, key, sizeof key), 1);
    assert_string_equal(key, "norm");
    assert_int_equal(frontend_settings_agree(":fit=stretch", m, key, sizeof key), 1);
    assert_string_equal(key, "fit");
    assert_int_equal(frontend_settings_agree(":fit=pad", m, key, sizeof key), 0);
    assert_int_equal(frontend_settings_agree("cochlea:rate=0", m, key, sizeof key), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
