/*
 * Unit tests for core/csv.c: exact bytes of quoting, quote doubling, CRLF
 * row ends, formula neutralization of text cells only, UTF-8 repair, exact
 * fixed-point and shortest round-trip doubles, '.' decimals under a locale
 * whose decimal separator is a comma, and sticky write errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

/* A writer on a memory stream; buf and len are valid after fclose. */
struct mem {
    char *buf;
    size_t len;
    FILE *f;
    struct csv *c;
};

static void mem_open(struct mem *m)
{
    memset(m, 0, sizeof(*m));
    m->f = open_memstream(&m->buf, &m->len);
    assert_non_null(m->f);
    assert_int_equal(csv_open(m->f, &m->c), LS_OK);
}

/* Finishes, closes and compares the whole output with want (len bytes). */
static void mem_is(struct mem *m, const char *want, size_t want_len)
{
    assert_int_equal(csv_finish(m->c), LS_OK);
    csv_free(m->c);
    assert_int_equal(fclose(m->f), 0);
    if (m->len != want_len || memcmp(m->buf, want, want_len) != 0)
        fail_msg("got [%.*s] (%zu bytes), want [%s] (%zu bytes)", (int)m->len, m->buf, m->len, want,
                 want_len);
    free(m->buf);
}
#define MEM_IS(m, lit) mem_is((m), (lit), sizeof(lit) - 1)

/* One text cell alone on a row. */
static void text_is(const char *in, const char *want)
{
    struct mem m;

    mem_open(&m);
    csv_text(m.c, in);
    assert_int_equal(csv_end_row(m.c), LS_OK);
    char full[256];
    snprintf(full, sizeof(full), "%s\r\n", want);
    mem_is(&m, full, strlen(full));
}

static void test_quoting(void **state)
{
    (void)state;
    text_is("plain", "plain");
    text_is("", "");
    text_is("a,b", "\"a,b\"");
    text_is("say \"hi\"", "\"say \"\"hi\"\"\"");
    text_is("\"", "\"\"\"\"");
    text_is("two\nlines", "\"two\nlines\"");
    text_is("cr\rhere", "\"cr\rhere\"");
    text_is("crlf\r\n", "\"crlf\r\n\"");
    text_is(" spaces kept ", " spaces kept ");
    text_is("semi;colon", "semi;colon");
    text_is("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

static void test_neutralize_text_only(void **state)
{
    (void)state;
    text_is("=cmd", "'=cmd");
    text_is("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
    text_is("+1", "'+1");
    text_is("-5", "'-5");
    text_is("@SUM(A1)", "'@SUM(A1)");
    text_is("\tx", "'\tx");
    text_is("\rx", "\"'\rx\"");
    text_is("=a,b", "\"'=a,b\"");
    text_is("a=b", "a=b");
    text_is("'quoted", "'quoted");

    /* numbers are numbers: never a quote in front */
    struct mem m;
    mem_open(&m);
    csv_i64(m.c, -5);
    csv_fixed(m.c, -1500, 3);
    csv_f64(m.c, -2.5);
    csv_text(m.c, "-5");
    assert_int_equal(csv_end_row(m.c), LS_OK);
    MEM_IS(&m, "-5,-1.500,-2.5,'-5\r\n");
}

static void test_utf8_repair(void **state)
{
    (void)state;
    /* a stray continuation byte, a cut sequence, an overlong '/', a surrogate, > U+10FFFF */
    text_is("a\x80"
            "b",
            "a\xEF\xBF\xBD"
            "b");
    text_is("\xC3", "\xEF\xBF\xBD");
    text_is("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD");
    text_is("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    text_is("\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    text_is("\xE2\x82\xAC\"", "\"\xE2\x82\xAC\"\"\"");
}

static void test_rows_and_numbers(void **state)
{
    (void)state;
    struct mem m;
    static const char *const names[] = {"id", "name", "value"};

    mem_open(&m);
    assert_int_equal(csv_header(m.c, names, 3), LS_OK);
    csv_u64(m.c, 18446744073709551615ULL);
    csv_text(m.c, NULL);
    csv_i64(m.c, INT64_MIN);
    assert_int_equal(csv_end_row(m.c), LS_OK);
    csv_u64(m.c, 0);
    csv_empty(m.c);
    csv_i64(m.c, 42);
    assert_int_equal(csv_end_row(m.c), LS_OK);
    assert_int_equal(csv_rows(m.c), 3);
    MEM_IS(&m, "id,name,value\r\n18446744073709551615,,-9223372036854775808\r\n0,,42\r\n");
}

static void fixed_is(int64_t v, unsigned d, const char *want)
{
    char buf[64];

    assert_int_equal(csv_fmt_fixed(buf, sizeof(buf), v, d), strlen(want));
    assert_string_equal(buf, want);
}

static void f64_is(double v, const char *want)
{
    char buf[64];

    assert_int_equal(csv_fmt_f64(buf, sizeof(buf), v), strlen(want));
    assert_string_equal(buf, want);
}

static void test_number_formats(void **state)
{
    (void)state;
    fixed_is(1234567, 3, "1234.567");
    fixed_is(5, 3, "0.005");
    fixed_is(-5, 3, "-0.005");
    fixed_is(0, 3, "0.000");
    fixed_is(42, 0, "42");
    fixed_is(INT64_MIN, 3, "-9223372036854775.808");
    fixed_is(INT64_MAX, 19, "0.9223372036854775807");
    char small[4];
    assert_int_equal(csv_fmt_fixed(small, sizeof(small), 12345, 1), 0);
    assert_string_equal(small, "");
    assert_int_equal(csv_fmt_fixed(small, sizeof(small), 1, 20), 0);

    f64_is(0.0, "0");
    f64_is(1.5, "1.5");
    f64_is(0.1, "0.1");
    f64_is(1.0 / 3.0, "0.3333333333333333");
    f64_is(2.0 / 3.0, "0.6666666666666666");
    f64_is(0.1 + 0.2, "0.30000000000000004"); /* needs all 17 digits to round-trip */
    f64_is(1234.5678, "1234.5678");
    f64_is(-250.25, "-250.25");
    f64_is(1e21, "1e+21");
    f64_is(123456789012.0, "123456789012");
    f64_is(NAN, "");
    f64_is(INFINITY, "");
    for (int i = 0; i < 1000; i++) {
        double v = (double)rand() / 7.0 - 1000.0 * i;
        char buf[64];
        csv_fmt_f64(buf, sizeof(buf), v);
        assert_true(strtod(buf, NULL) == v);
    }
}

/* Under a locale with a decimal comma, the writer still writes '.'. */
static void test_comma_locale(void **state)
{
    (void)state;
    static const char *const locs[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                                       "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
    const char *got = NULL;

    for (size_t i = 0; i < sizeof(locs) / sizeof(locs[0]) && got == NULL; i++)
        got = setlocale(LC_NUMERIC, locs[i]);
    if (got == NULL) {
        fail_msg("no comma-decimal locale installed: scripts/install-deps.sh makes de_DE.UTF-8; "
                 "run it first");
    }
    char probe[16];
    snprintf(probe, sizeof(probe), "%.1f", 1.5);
    assert_string_equal(probe, "1,5"); /* the locale really is in force */

    struct mem m;
    mem_open(&m);
    csv_f64(m.c, 1234.5);
    csv_f64(m.c, 0.1 + 0.2);
    csv_fixed(m.c, 1500, 3);
    csv_u64(m.c, 1234567);
    assert_int_equal(csv_end_row(m.c), LS_OK);
    MEM_IS(&m, "1234.5,0.30000000000000004,1.500,1234567\r\n");
    char buf[32];
    csv_fmt_f64(buf, sizeof(buf), 0.25);
    assert_string_equal(buf, "0.25");
    snprintf(probe, sizeof(probe), "%.1f", 1.5);
    assert_string_equal(probe, "1,5"); /* and is left in force afterwards */
    setlocale(LC_NUMERIC, "C");
}

/* A large export goes through the buffer in pieces; bytes are exact. */
static void test_large_output(void **state)
{
    (void)state;
    struct mem m;
    char want[64];
    size_t off = 0;

    mem_open(&m);
    for (int i = 0; i < 20000; i++) {
        csv_i64(m.c, i);
        csv_text(m.c, "x,y");
        assert_int_equal(csv_end_row(m.c), LS_OK);
    }
    assert_int_equal(csv_finish(m.c), LS_OK);
    csv_free(m.c);
    assert_int_equal(fclose(m.f), 0);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(want, sizeof(want), "%d,\"x,y\"\r\n", i);
        assert_true(off + (size_t)n <= m.len);
        assert_memory_equal(m.buf + off, want, (size_t)n);
        off += (size_t)n;
    }
    assert_int_equal(off, m.len);
    free(m.buf);
}

/* A failing FILE (/dev/full) makes the error stick and reports ENOSPC. */
static void test_write_error(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    struct csv *c = NULL;
    ls_err last = LS_OK;

    if (f == NULL)
        fail_msg("cannot open /dev/full: %s", strerror(errno));
    setvbuf(f, NULL, _IONBF, 0);
    assert_int_equal(csv_open(f, &c), LS_OK);
    for (int i = 0; i < 5000 && last == LS_OK; i++) {
        csv_text(c, "some text to fill the buffer");
        last = csv_end_row(c);
    }
    if (last == LS_OK)
        last = csv_finish(c);
    assert_int_equal(last, LS_ERR_IO);
    assert_int_equal(csv_errno(c), ENOSPC);
    assert_int_equal(csv_finish(c), LS_ERR_IO);
    csv_free(c);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting),        cmocka_unit_test(test_neutralize_text_only),
        cmocka_unit_test(test_utf8_repair),    cmocka_unit_test(test_rows_and_numbers),
        cmocka_unit_test(test_number_formats), cmocka_unit_test(test_comma_locale),
        cmocka_unit_test(test_large_output),   cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
