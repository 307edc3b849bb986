/*
 * Unit tests for template: exact renderings, the max_len bound at extreme
 * values, the random generator against reference values, range draws, and
 * the exact compile error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "scenario/template.h"

static struct tmpl *compile_ok(const char *text)
{
    struct tmpl *t = NULL;
    char err[256];
    ls_err rc = tmpl_compile(text, strlen(text), &t, err, sizeof err);
    if (rc != LS_OK)
        fail_msg("compile \"%s\": %s", text, err);
    assert_non_null(t);
    return t;
}

static void render_is(const char *text, uint64_t seq, uint64_t worker, const char *want)
{
    struct tmpl *t = compile_ok(text);
    struct tmpl_vars v = {.seq = seq, .worker = worker, .rng = NULL};
    char buf[512];
    long n = tmpl_render(t, &v, buf, sizeof buf);
    assert_int_equal(n, (long)strlen(want));
    assert_string_equal(buf, want);
    assert_true((size_t)n <= tmpl_max_len(t));
    tmpl_free(t);
}

static void test_render_exact(void **state)
{
    (void)state;
    render_is("", 0, 0, "");
    render_is("plain text", 1, 2, "plain text");
    render_is("${seq}", 0, 0, "0");
    render_is("id-${seq}-w${worker}", 41, 7, "id-41-w7");
    render_is("${seq}${seq}", 12, 0, "1212");
    render_is("$${seq} is ${seq}", 5, 0, "${seq} is 5");
    render_is("$$$${", 0, 0, "$$${");
    render_is("cost $5 and $x {}", 0, 0, "cost $5 and $x {}");
    render_is("trailing $", 0, 0, "trailing $");
    render_is("{\"a\":${worker}}", 3, 18446744073709551615ULL, "{\"a\":18446744073709551615}");
    /* a degenerate range needs no generator */
    render_is("v=${rand:-7:-7}", 0, 0, "v=-7");
}

static void test_constant_and_max_len(void **state)
{
    (void)state;
    struct tmpl *t = compile_ok("abc $${x}");
    assert_true(tmpl_is_constant(t));
    assert_int_equal(tmpl_max_len(t), 8); /* "abc ${x}" */
    tmpl_free(t);

    t = compile_ok("a${seq}b${worker}c${rand:-5:100}");
    assert_false(tmpl_is_constant(t));
    assert_int_equal(tmpl_max_len(t), 3 + 20 + 20 + 3);
    tmpl_free(t);

    t = compile_ok("${rand:-9223372036854775808:9223372036854775807}");
    assert_int_equal(tmpl_max_len(t), 20);
    tmpl_free(t);
}

static void test_max_len_extremes(void **state)
{
    (void)state;
    struct tmpl *t =
        compile_ok("[${seq}|${worker}|${rand:-9223372036854775808:9223372036854775807}]");
    size_t max = tmpl_max_len(t);
    assert_int_equal(max, 4 + 20 + 20 + 20);

    /* seq and worker at UINT64_MAX, rand pinned to each end of its range */
    struct tmpl_vars v = {.seq = UINT64_MAX, .worker = UINT64_MAX, .rng = NULL};
    char buf[128];
    long n = tmpl_render(t, &v, buf, max + 1);
    assert_string_equal(buf, "[18446744073709551615|18446744073709551615|-9223372036854775808]");
    assert_int_equal(n, 64); /* exactly the bound */
    assert_true((size_t)n <= max);

    /* with a generator many draws all fit in max_len + 1 bytes */
    struct tmpl_rng rng;
    tmpl_rng_seed(&rng, 99);
    v.rng = &rng;
    for (int i = 0; i < 10000; i++) {
        n = tmpl_render(t, &v, buf, max + 1);
        assert_true(n > 0);
        assert_true((size_t)n <= max);
    }
    tmpl_free(t);

    t = compile_ok("${rand:9223372036854775807:9223372036854775807}");
    v.rng = NULL;
    assert_int_equal(tmpl_render(t, &v, buf, tmpl_max_len(t) + 1), 19);
    assert_string_equal(buf, "9223372036854775807");
    tmpl_free(t);
}

static void test_render_cap_too_small(void **state)
{
    (void)state;
    struct tmpl *t = compile_ok("hello ${seq}");
    struct tmpl_vars v = {.seq = 123, .worker = 0, .rng = NULL};
    char buf[16];
    assert_int_equal(tmpl_render(t, &v, buf, 9), -1); /* needs 10 bytes */
    assert_int_equal(tmpl_render(t, &v, buf, 10), 9);
    assert_string_equal(buf, "hello 123");
    assert_int_equal(tmpl_render(t, &v, buf, 0), -1);
    tmpl_free(t);
}

static void test_rng_reference(void **state)
{
    (void)state;
    struct tmpl_rng r;
    /* splitmix64 from 0: the published reference sequence */
    tmpl_rng_seed(&r, 0);
    assert_int_equal(r.s[0], 0xe220a8397b1dcdafULL);
    assert_int_equal(r.s[1], 0x6e789e6aa1b965f4ULL);
    assert_int_equal(r.s[2], 0x06c45d188009454fULL);
    assert_int_equal(r.s[3], 0xf88bb8a8724c81ecULL);
    /* xoshiro256** from that state (computed with an independent implementation) */
    assert_int_equal(tmpl_rng_next(&r), 0x99ec5f36cb75f2b4ULL);
    assert_int_equal(tmpl_rng_next(&r), 0xbf6e1f784956452aULL);
    assert_int_equal(tmpl_rng_next(&r), 0x1a5f849d4933e6e0ULL);
}

static void test_rng_range_bounds_and_coverage(void **state)
{
    (void)state;
    struct tmpl_rng r;
    tmpl_rng_seed(&r, 12345);

    int counts[7] = {0};
    for (int i = 0; i < 7000; i++) {
        int64_t x = tmpl_rng_range(&r, -3, 3);
        assert_true(x >= -3 && x <= 3);
        counts[x + 3]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(counts[i] > 0);

    for (int i = 0; i < 1000; i++)
        assert_int_equal(tmpl_rng_range(&r, 42, 42), 42);

    /* ranges near the edges of int64 */
    int lo_seen = 0, hi_seen = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t x = tmpl_rng_range(&r, INT64_MAX - 1, INT64_MAX);
        assert_true(x >= INT64_MAX - 1);
        lo_seen |= x == INT64_MAX - 1;
        hi_seen |= x == INT64_MAX;
        int64_t y = tmpl_rng_range(&r, INT64_MIN, INT64_MIN + 2);
        assert_true(y >= INT64_MIN && y <= INT64_MIN + 2);
    }
    assert_true(lo_seen && hi_seen);

    /* a span wider than INT64_MAX: both signs appear, nothing escapes */
    int neg = 0, pos = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t x = tmpl_rng_range(&r, INT64_MIN, INT64_MAX);
        neg |= x < 0;
        pos |= x > 0;
        int64_t y = tmpl_rng_range(&r, -10, INT64_MAX);
        assert_true(y >= -10);
    }
    assert_true(neg && pos);

    /* the full range is the raw generator output reinterpreted */
    struct tmpl_rng a, b;
    tmpl_rng_seed(&a, 7);
    tmpl_rng_seed(&b, 7);
    uint64_t raw = tmpl_rng_next(&a);
    int64_t full = tmpl_rng_range(&b, INT64_MIN, INT64_MAX);
    assert_int_equal((uint64_t)full - (uint64_t)INT64_MIN, raw);
}

static void test_rand_render_coverage(void **state)
{
    (void)state;
    struct tmpl *t = compile_ok("n=${rand:1:4}");
    struct tmpl_rng r;
    tmpl_rng_seed(&r, 1);
    struct tmpl_vars v = {.seq = 0, .worker = 0, .rng = &r};
    int seen[5] = {0};
    char buf[16];
    for (int i = 0; i < 400; i++) {
        assert_int_equal(tmpl_render(t, &v, buf, sizeof buf), 3);
        assert_true(buf[2] >= '1' && buf[2] <= '4');
        seen[buf[2] - '0'] = 1;
    }
    assert_true(seen[1] && seen[2] && seen[3] && seen[4]);
    tmpl_free(t);
}

static void error_is(const char *text, const char *want)
{
    struct tmpl *t = (struct tmpl *)&t; /* must be reset to NULL */
    char err[256];
    assert_int_equal(tmpl_compile(text, strlen(text), &t, err, sizeof err), LS_ERR_INVALID);
    assert_null(t);
    assert_string_equal(err, want);
}

static void test_errors(void **state)
{
    (void)state;
    error_is("abc ${foo} x", "unknown placeholder ${foo} at offset 4; expected ${seq}, ${worker} "
                             "or ${rand:LO:HI}");
    error_is("${seq", "unterminated ${ at offset 0; expected ${seq}, ${worker} or ${rand:LO:HI}");
    error_is("ok ${seq} then ${", "unterminated ${ at offset 15; expected ${seq}, ${worker} or "
                                  "${rand:LO:HI}");
    error_is("${}", "unknown placeholder ${} at offset 0; expected ${seq}, ${worker} or "
                    "${rand:LO:HI}");
    error_is("x${rand:9:1}", "reversed bounds in ${rand:9:1} at offset 1; expected LO <= HI");
    error_is("${rand:1}", "bad bounds in ${rand:1} at offset 0; expected ${rand:LO:HI} with LO "
                          "and HI integers between -9223372036854775808 and 9223372036854775807");
    error_is("${rand:a:2}", "bad bounds in ${rand:a:2} at offset 0; expected ${rand:LO:HI} with "
                            "LO and HI integers between -9223372036854775808 and "
                            "9223372036854775807");
    error_is("${rand:0:9223372036854775808}",
             "bad bounds in ${rand:0:9223372036854775808} at offset 0; expected ${rand:LO:HI} "
             "with LO and HI integers between -9223372036854775808 and 9223372036854775807");
    error_is("${rand:1: 2}", "bad bounds in ${rand:1: 2} at offset 0; expected ${rand:LO:HI} with "
                             "LO and HI integers between -9223372036854775808 and "
                             "9223372036854775807");
    error_is("${rand:1:2:3}", "bad bounds in ${rand:1:2:3} at offset 0; expected ${rand:LO:HI} "
                              "with LO and HI integers between -9223372036854775808 and "
                              "9223372036854775807");
    error_is("${SEQ}", "unknown placeholder ${SEQ} at offset 0; expected ${seq}, ${worker} or "
                       "${rand:LO:HI}");
    error_is("${aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}",
             "unknown placeholder ${aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...} at offset 0; "
             "expected ${seq}, ${worker} or ${rand:LO:HI}");
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    struct tmpl *t = NULL;
    char err[8];
    assert_int_equal(tmpl_compile("${x}", 4, &t, err, sizeof err), LS_ERR_INVALID);
    assert_string_equal(err, "unknown");
    assert_int_equal(tmpl_compile("${x}", 4, &t, NULL, 0), LS_ERR_INVALID);
}

static void test_embedded_nul_and_length(void **state)
{
    (void)state;
    struct tmpl *t = NULL;
    char err[64];
    /* only len bytes are read: the "${" after them is not seen */
    assert_int_equal(tmpl_compile("a\0b${", 3, &t, err, sizeof err), LS_OK);
    struct tmpl_vars v = {0};
    char buf[8];
    assert_int_equal(tmpl_render(t, &v, buf, sizeof buf), 3);
    assert_memory_equal(buf, "a\0b", 4);
    tmpl_free(t);
    tmpl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_exact),
        cmocka_unit_test(test_constant_and_max_len),
        cmocka_unit_test(test_max_len_extremes),
        cmocka_unit_test(test_render_cap_too_small),
        cmocka_unit_test(test_rng_reference),
        cmocka_unit_test(test_rng_range_bounds_and_coverage),
        cmocka_unit_test(test_rand_render_coverage),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_small_error_buffer),
        cmocka_unit_test(test_embedded_nul_and_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
