/* test_csv: the one CSV dialect: fields quoted only when they must be, a round
 * trip of awkward fields (commas, quotes, CR, LF, empty), CRLF and blank
 * lines, and bad rows named by the line they start on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/csv.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static csv_reader *reader(const char *text) { return csv_reader_new(text, strlen(text)); }

static void test_quoting(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    const char *in[] = {"plain", "a, b", "say \"hi\"", "two\nlines", "cr\rhere", "", " spaced "};
    const size_t n = sizeof in / sizeof *in;
    for (size_t k = 0; k < n; k++) {
        if (k)
            fputc(',', f);
        csv_write_field(f, in[k]);
    }
    fputc('\n', f);
    fclose(f);
    assert_string_equal(buf, "plain,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\rhere\",, spaced \n");
    assert_false(csv_needs_quotes("0_george_3"));
    assert_true(csv_needs_quotes("x\ry"));

    csv_reader *r = reader(buf);
    assert_non_null(r);
    assert_int_equal(csv_reader_next(r), 1);
    assert_int_equal(csv_reader_count(r), n);
    for (size_t k = 0; k < n; k++)
        assert_string_equal(csv_reader_field(r, k), in[k]);
    assert_int_equal(csv_reader_line(r), 1);
    assert_int_equal(csv_reader_next(r), 0);
    csv_reader_close(&r);
    assert_null(r);
    free(buf);
}

static void test_lines(void **state)
{
    (void)state;
    /* a header, CRLF, a quoted line break (row 3 starts on line 3), blank lines,
     * no final newline */
    csv_reader *r = reader("id,name\r\n1,a\r\n\r\n2,\"b\nc\"\n\n3,d");
    assert_int_equal(csv_reader_header(r, "id,name"), 0);
    assert_int_equal(csv_reader_next(r), 1);
    assert_int_equal(csv_reader_line(r), 2);
    assert_string_equal(csv_reader_field(r, 1), "a");
    assert_int_equal(csv_reader_next(r), 1);
    assert_int_equal(csv_reader_line(r), 4);
    assert_string_equal(csv_reader_field(r, 1), "b\nc");
    assert_int_equal(csv_reader_next(r), 1);
    assert_int_equal(csv_reader_line(r), 7);
    assert_string_equal(csv_reader_field(r, 0), "3");
    assert_int_equal(csv_reader_next(r), 0);
    assert_int_equal(csv_reader_next(r), 0);
    csv_reader_close(&r);
}

static void expect_bad(const char *text, const char *what)
{
    csv_reader *r = reader(text);
    assert_non_null(r);
    int rc;
    while ((rc = csv_reader_next(r)) == 1)
        ;
    if (rc != -1)
        fail_msg("accepted: %s", text);
    if (!strstr(err_msg(), what))
        fail_msg("'%s' lacks '%s'", err_msg(), what);
    csv_reader_close(&r);
}

static void test_bad_rows(void **state)
{
    (void)state;
    expect_bad("a,b\n1,\"x\n", "line 2: unterminated");
    expect_bad("a,b\n\"two\nlines\",1\n3,x\"y\n", "line 4: a quote inside");
    expect_bad("a,b\n1,\"x\"y\n", "line 2: text after the closing quote");

    csv_reader *r = reader("id,label\n");
    assert_int_equal(csv_reader_header(r, "id,path,label"), -1);
    assert_non_null(strstr(err_msg(), "line 1: expected the header 'id,path,label'"));
    csv_reader_close(&r);
    r = reader("");
    assert_int_equal(csv_reader_header(r, "id"), -1);
    csv_reader_close(&r);
    r = reader("\nid\n"); /* the header must be the first line */
    assert_int_equal(csv_reader_header(r, "id"), -1);
    csv_reader_close(&r);

    assert_null(csv_reader_open("/nonexistent/x.csv"));
    assert_non_null(strstr(err_msg(), "/nonexistent/x.csv"));
}

static void test_parse_long(void **state)
{
    (void)state;
    long v = 0;
    assert_int_equal(csv_parse_long("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(csv_parse_long("-1", -1, 9, &v), 0);
    assert_int_equal(v, -1);
    const char *bad[] = {"", " 1", "+1", "1 ", "1x", "-", "-2", "101", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (csv_parse_long(bad[i], -1, 100, &v) != -1)
            fail_msg("accepted '%s'", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_parse_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
