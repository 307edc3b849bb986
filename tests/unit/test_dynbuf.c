/*
 * Unit tests for core/util/dynbuf.c: appends and their exact content and
 * length, NUL bytes inside, printf appends short and long, the maximum size
 * (exactly toobig - 1 bytes fit, one more fails with LS_ERR_RANGE), sticky
 * failure and its reset, truncation, handing the content over, growth
 * over many appends, and reading a whole file within the maximum or not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dynbuf.h"

static void test_add(void **state)
{
    (void)state;
    struct dynbuf b;
    dyn_init(&b, 1000);
    assert_null(dyn_ptr(&b));
    assert_int_equal(dyn_len(&b), 0);
    assert_int_equal(dyn_add(&b, "hello"), LS_OK);
    assert_int_equal(dyn_addn(&b, ", world!!", 7), LS_OK);
    assert_string_equal(dyn_ptr(&b), "hello, world");
    assert_int_equal(dyn_len(&b), 12);
    assert_int_equal(dyn_addn(&b, "a\0b", 3), LS_OK);
    assert_int_equal(dyn_len(&b), 15);
    assert_memory_equal(dyn_ptr(&b), "hello, worlda\0b", 16); /* terminator after the NUL */
    assert_int_equal(dyn_addn(&b, NULL, 0), LS_OK);
    assert_int_equal(dyn_len(&b), 15);
    assert_int_equal(dyn_error(&b), LS_OK);
    dyn_free(&b);
    assert_null(dyn_ptr(&b));
    assert_int_equal(dyn_len(&b), 0);
    dyn_free(NULL);
}

static void test_addf(void **state)
{
    (void)state;
    struct dynbuf b;
    dyn_init(&b, 1 << 20);
    assert_int_equal(dyn_addf(&b, "%d-%s", 42, "x"), LS_OK);
    assert_string_equal(dyn_ptr(&b), "42-x");
    /* longer than the on-stack attempt */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(dyn_addf(&b, "[%s]", big), LS_OK);
    assert_int_equal(dyn_len(&b), 4 + 2 + 999);
    assert_int_equal(dyn_ptr(&b)[4], '[');
    assert_int_equal(dyn_ptr(&b)[4 + 1 + 999], ']');
    assert_int_equal(dyn_ptr(&b)[dyn_len(&b)], '\0');
    dyn_free(&b);
}

static void test_max(void **state)
{
    (void)state;
    struct dynbuf b;
    dyn_init(&b, 11); /* ten bytes and the terminator */
    assert_int_equal(dyn_add(&b, "0123456789"), LS_OK);
    assert_int_equal(dyn_len(&b), 10);
    assert_int_equal(dyn_addn(&b, "x", 1), LS_ERR_RANGE);
    /* failure is sticky and the memory is gone */
    assert_int_equal(dyn_error(&b), LS_ERR_RANGE);
    assert_null(dyn_ptr(&b));
    assert_int_equal(dyn_len(&b), 0);
    assert_int_equal(dyn_add(&b, ""), LS_ERR_RANGE);
    assert_int_equal(dyn_addf(&b, "%s", "y"), LS_ERR_RANGE);
    assert_null(dyn_take(&b, NULL));
    /* reset forgets it */
    dyn_reset(&b);
    assert_int_equal(dyn_error(&b), LS_OK);
    assert_int_equal(dyn_add(&b, "abc"), LS_OK);
    assert_string_equal(dyn_ptr(&b), "abc");
    /* one huge add at once, and an add whose length would overflow */
    assert_int_equal(dyn_addn(&b, "0123456789", 9), LS_ERR_RANGE);
    dyn_reset(&b);
    assert_int_equal(dyn_addn(&b, "z", SIZE_MAX), LS_ERR_RANGE);
    dyn_free(&b);
    /* a zero maximum holds nothing */
    dyn_init(&b, 0);
    assert_int_equal(dyn_addn(&b, "", 0), LS_ERR_RANGE);
    dyn_free(&b);
}

static void test_reset_setlen_take(void **state)
{
    (void)state;
    struct dynbuf b;
    dyn_init(&b, 4096);
    assert_int_equal(dyn_add(&b, "abcdef"), LS_OK);
    char *before = dyn_ptr(&b);
    dyn_reset(&b);
    assert_int_equal(dyn_len(&b), 0);
    assert_ptr_equal(dyn_ptr(&b), before); /* memory kept */
    assert_string_equal(dyn_ptr(&b), "");
    assert_int_equal(dyn_add(&b, "abcdef"), LS_OK);
    dyn_setlen(&b, 3);
    assert_string_equal(dyn_ptr(&b), "abc");
    dyn_setlen(&b, 10); /* longer: nothing changes */
    assert_int_equal(dyn_len(&b), 3);
    size_t n = 0;
    char *s = dyn_take(&b, &n);
    assert_string_equal(s, "abc");
    assert_int_equal(n, 3);
    assert_null(dyn_ptr(&b));
    assert_int_equal(dyn_len(&b), 0);
    free(s);
    /* an empty buffer hands over "" */
    s = dyn_take(&b, &n);
    assert_non_null(s);
    assert_string_equal(s, "");
    assert_int_equal(n, 0);
    free(s);
    dyn_free(&b);
}

static void test_growth(void **state)
{
    (void)state;
    struct dynbuf b;
    dyn_init(&b, 1u << 24);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(dyn_addf(&b, "%05d,", i % 100000), LS_OK);
    assert_int_equal(dyn_len(&b), 600000);
    assert_memory_equal(dyn_ptr(&b), "00000,00001,", 12);
    assert_memory_equal(dyn_ptr(&b) + 599994, "99999,", 6);
    assert_true(b.allc >= 600001 && b.allc <= 2 * 600001);
    dyn_free(&b);
}

static void test_read(void **state)
{
    (void)state;
    char text[200000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + i % 26);
    FILE *f = fmemopen(text, sizeof text, "r");
    assert_non_null(f);
    struct dynbuf b;
    dyn_init(&b, sizeof text + 1);
    assert_int_equal(dyn_read(&b, f), LS_OK);
    assert_int_equal(dyn_len(&b), sizeof text);
    assert_memory_equal(dyn_ptr(&b), text, sizeof text);
    fclose(f);
    dyn_free(&b);
    /* one byte more than the maximum allows */
    f = fmemopen(text, sizeof text, "r");
    assert_non_null(f);
    dyn_init(&b, sizeof text);
    assert_int_equal(dyn_read(&b, f), LS_ERR_RANGE);
    assert_null(dyn_ptr(&b));
    fclose(f);
    dyn_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_addf),
        cmocka_unit_test(test_max),
        cmocka_unit_test(test_reset_setlen_take),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
