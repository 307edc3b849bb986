/*
 * Unit tests for core/stats/compare.c and app/compare.c's gates: the
 * bootstrap over seconds on synthetic sessions whose answer is known
 * exactly, the two-proportion test's interval computed by hand, verdicts by
 * direction, too few seconds, and the gate parser.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "compare.h"
#include "stats/compare.h"

#define NSEC 10

struct session {
    struct hdr *h[NSEC];
    struct cmp_second s[NSEC];
};

/* NSEC seconds of `per_s` requests each at value_us (plus `slow` at slow_us), `errors` failed per second. */
static void make(struct session *x, size_t n, uint64_t per_s, int64_t value_us, uint64_t slow,
                 int64_t slow_us, uint64_t errors)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(hdr_open_latency(&x->h[i]), LS_OK);
        hdr_record_n(x->h[i], value_us, (int64_t)per_s);
        if (slow)
            hdr_record_n(x->h[i], slow_us, (int64_t)slow);
        x->s[i] = (struct cmp_second){.count = per_s + slow, .errors = errors, .h = x->h[i]};
    }
}

static void drop(struct session *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hdr_close(x->h[i]);
}

static void test_known_shift(void **state)
{
    (void)state;
    struct session a, b;
    make(&a, NSEC, 100, 1000, 0, 0, 0);
    make(&b, NSEC, 100, 1500, 0, 0, 1); /* 1 failure in 100 each second */
    struct cmp_result r[CMP__N];
    assert_int_equal(cmp_compare(a.s, NSEC, b.s, NSEC, 200, 7, r), LS_OK);
    /* every second is alike: every resample gives the same answer */
    assert_true(r[CMP_P50].a == 1000 && r[CMP_P50].b == 1500);
    assert_true(r[CMP_P50].lo == 500 && r[CMP_P50].hi == 500);
    assert_true(fabs(r[CMP_P50].rel - 0.5) < 1e-12);
    assert_int_equal(r[CMP_P50].verdict, CMP_WORSE);
    assert_int_equal(r[CMP_RATE].verdict, CMP_SAME); /* 100/s on both sides */
    assert_true(r[CMP_RATE].a == 100 && r[CMP_RATE].lo == 0 && r[CMP_RATE].hi == 0);
    assert_int_equal(r[CMP_MAX].verdict, CMP_NOT_JUDGED);
    /* errors: 0 of 1000 vs 10 of 1000; interval 1.96 standard errors around the difference */
    double pb = 10.0 / 1000.0, se = sqrt(pb * (1 - pb) / 1000.0);
    assert_true(fabs(r[CMP_ERRORS].diff - pb) < 1e-12);
    assert_true(fabs(r[CMP_ERRORS].lo - (pb - 1.96 * se)) < 1e-12);
    assert_int_equal(r[CMP_ERRORS].verdict, CMP_WORSE);
    /* B against A: the same change the other way */
    assert_int_equal(cmp_compare(b.s, NSEC, a.s, NSEC, 200, 7, r), LS_OK);
    assert_int_equal(r[CMP_P50].verdict, CMP_BETTER);
    assert_int_equal(r[CMP_ERRORS].verdict, CMP_BETTER);
    drop(&a, NSEC);
    drop(&b, NSEC);
}

static void test_one_bad_second(void **state)
{
    (void)state;
    /* A stall: one second of B has 20 requests at 100 ms among 100 fast ones. Pooled, p99 of B
     * jumps; over seconds, the interval must still hold zero: one bad second of ten is not
     * evidence of a changed server (the bootstrap keeps a second's requests together). */
    struct session a, b;
    make(&a, NSEC, 100, 1000, 0, 0, 0);
    make(&b, NSEC, 100, 1000, 0, 0, 0);
    hdr_record_n(b.h[3], 100000, 20);
    b.s[3].count += 20;
    struct cmp_result r[CMP__N];
    assert_int_equal(cmp_compare(a.s, NSEC, b.s, NSEC, 1000, 3, r), LS_OK);
    assert_true(r[CMP_P99].b > 90000); /* the point estimate sees the stall */
    assert_true(r[CMP_P99].lo <= 0);  /* ... the interval holds "no change" */
    assert_int_equal(r[CMP_P99].verdict, CMP_SAME);
    assert_int_equal(r[CMP_P50].verdict, CMP_SAME);
    drop(&a, NSEC);
    drop(&b, NSEC);
}

static void test_too_few_seconds(void **state)
{
    (void)state;
    struct session a, b;
    make(&a, 2, 100, 1000, 0, 0, 0);
    make(&b, 2, 100, 2000, 0, 0, 0);
    struct cmp_result r[CMP__N];
    assert_int_equal(cmp_compare(a.s, 2, b.s, 2, 100, 1, r), LS_OK);
    assert_int_equal(r[CMP_P50].judged, 0);
    assert_int_equal(r[CMP_P50].verdict, CMP_NOT_JUDGED);
    assert_true(r[CMP_P50].diff > 999);
    drop(&a, 2);
    drop(&b, 2);
}

static void test_gates(void **state)
{
    (void)state;
    struct cmp_gate g;
    char err[256];
    assert_true(cmp_gate_parse("p99 +10%", &g, err, sizeof err));
    assert_int_equal(g.metric, CMP_P99);
    assert_int_equal(g.kind, GATE_REL);
    assert_true(fabs(g.limit - 0.10) < 1e-12);
    assert_string_equal(g.step, "");
    assert_true(cmp_gate_parse("echo: p50 +2ms", &g, err, sizeof err));
    assert_string_equal(g.step, "echo");
    assert_int_equal(g.kind, GATE_ABS);
    assert_true(g.limit == 2000);
    assert_true(cmp_gate_parse("error_rate +0.5pp", &g, err, sizeof err));
    assert_int_equal(g.metric, CMP_ERRORS);
    assert_true(fabs(g.limit - 0.005) < 1e-12);
    assert_true(cmp_gate_parse("rate -5%", &g, err, sizeof err));
    assert_int_equal(g.metric, CMP_RATE);
    assert_true(fabs(g.limit + 0.05) < 1e-12);
    assert_true(cmp_gate_parse("p99.9 +1s", &g, err, sizeof err));
    assert_int_equal(g.metric, CMP_P999);
    assert_false(cmp_gate_parse("p99 10%", &g, err, sizeof err));
    assert_non_null(strstr(err, "needs a sign"));
    assert_false(cmp_gate_parse("p42 +10%", &g, err, sizeof err));
    assert_false(cmp_gate_parse("rate +2ms", &g, err, sizeof err));
    assert_false(cmp_gate_parse("p99 +10pp", &g, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_shift),
        cmocka_unit_test(test_one_bad_second),
        cmocka_unit_test(test_too_few_seconds),
        cmocka_unit_test(test_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
