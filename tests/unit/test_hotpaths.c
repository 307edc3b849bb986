/*
 * Unit tests for core/alloc/hotpaths.c: sums over seconds [0, upto), ranks,
 * per-second and per-request rates, the leak flag, seeking back, rows that
 * arrive before their stack or out of order, and processes as of a second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "alloc/hotpaths.h"

static struct alloc_stack_info stack(uint32_t key, const char *fn, const char *file, uint32_t line)
{
    return (struct alloc_stack_info){.key = key, .pid = 42, .blame_function = fn, .blame_file = file,
                                     .blame_line = line, .label = "", .stack = fn, .folded = fn};
}

static void feed(struct hotpaths *hp, uint32_t second, uint64_t requests, const struct alloc_row *rows,
                 size_t n)
{
    struct alloc_interval iv = {.second = second, .requests = requests, .rows = rows, .nrows = n};
    assert_int_equal(hotpaths_add_interval(hp, &iv), LS_OK);
}

static void test_sums_and_rates(void **state)
{
    (void)state;
    struct hotpaths *hp;
    assert_int_equal(hotpaths_open(&hp), LS_OK);
    struct alloc_stack_info a = stack(1, "app::parse", "/src/app/parse.rs", 12);
    struct alloc_stack_info b = stack(2, "app::render", "render.rs", 40);
    assert_int_equal(hotpaths_add_stack(hp, &a), LS_OK);
    assert_int_equal(hotpaths_add_stack(hp, &b), LS_OK);
    for (uint32_t s = 0; s < 4; s++) {
        struct alloc_row rows[] = {
            {.key = 1, .allocs = 10 * (s + 1), .bytes = 100, .live_bytes = 5},
            {.key = 2, .allocs = 25, .bytes = 1000, .live_bytes = 7},
        };
        feed(hp, s, 5, rows, 2);
    }
    assert_int_equal(hotpaths_seconds(hp), 4);
    struct hotpath_row out[4];
    struct hotpaths_totals t;
    /* seconds 0 and 1: key 1 has 10 + 20 = 30, key 2 has 50 */
    size_t n = hotpaths_rank(hp, 2, ALLOC_BY_ALLOCS, out, 4, &t);
    assert_int_equal(n, 2);
    assert_int_equal(out[0].key, 2);
    assert_int_equal(out[0].allocs, 50);
    assert_int_equal(out[1].allocs, 30);
    assert_string_equal(out[1].blame, "app::parse (parse.rs:12)");
    assert_true(out[0].allocs_per_s == 25.0);
    assert_true(out[1].allocs_per_req == 3.0); /* 30 allocations over 10 requests */
    assert_int_equal(t.allocs, 80);
    assert_int_equal(t.requests, 10);
    assert_int_equal(t.paths, 2);
    /* all four seconds: key 1 has 100 and leads */
    n = hotpaths_rank(hp, 4, ALLOC_BY_ALLOCS, out, 4, &t);
    assert_int_equal(out[0].key, 1);
    assert_int_equal(out[0].allocs, 100);
    /* by bytes: key 2 (4000) */
    n = hotpaths_rank(hp, 4, ALLOC_BY_BYTES, out, 1, &t);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].key, 2);
    assert_int_equal(out[0].bytes, 4000);
    /* back to second 1: the sums start over */
    n = hotpaths_rank(hp, 1, ALLOC_BY_ALLOCS, out, 4, &t);
    assert_int_equal(out[0].key, 2);
    assert_int_equal(out[0].allocs, 25);
    assert_int_equal(out[1].allocs, 10);
    /* nothing before second 0 */
    assert_int_equal(hotpaths_rank(hp, 0, ALLOC_BY_ALLOCS, out, 4, &t), 0);
    assert_int_equal(t.allocs, 0);
    hotpaths_close(hp);
}

static void test_leak_flag(void **state)
{
    (void)state;
    struct hotpaths *hp;
    assert_int_equal(hotpaths_open(&hp), LS_OK);
    struct alloc_stack_info a = stack(7, "cache::insert", "cache.rs", 9);
    assert_int_equal(hotpaths_add_stack(hp, &a), LS_OK);
    int64_t live[] = {100, 200, 300, 400, 400};
    for (uint32_t s = 0; s < 5; s++) {
        struct alloc_row r = {.key = 7, .allocs = 1, .bytes = 100, .live_bytes = live[s]};
        feed(hp, s, 1, &r, 1);
    }
    struct hotpath_row out[1];
    /* up to second 2: rose twice (1, 2): not yet */
    hotpaths_rank(hp, 3, ALLOC_BY_LIVE, out, 1, NULL);
    assert_false(out[0].leak);
    /* up to second 3: rose in seconds 1, 2 and 3 */
    hotpaths_rank(hp, 4, ALLOC_BY_LIVE, out, 1, NULL);
    assert_true(out[0].leak);
    assert_int_equal(out[0].live_bytes, 400);
    /* second 4 stayed flat */
    hotpaths_rank(hp, 5, ALLOC_BY_LIVE, out, 1, NULL);
    assert_false(out[0].leak);
    /* seeking back gives the same flag as going forward did */
    hotpaths_rank(hp, 4, ALLOC_BY_LIVE, out, 1, NULL);
    assert_true(out[0].leak);
    hotpaths_close(hp);
}

static void test_late_stack_and_out_of_order(void **state)
{
    (void)state;
    struct hotpaths *hp;
    assert_int_equal(hotpaths_open(&hp), LS_OK);
    struct alloc_row r1 = {.key = 3, .allocs = 4};
    struct alloc_row r0 = {.key = 3, .allocs = 6};
    feed(hp, 1, 0, &r1, 1); /* before its stack, and before second 0 */
    struct hotpath_row out[2];
    struct hotpaths_totals t;
    /* a path is ranked once its text is known, but counts in the totals */
    assert_int_equal(hotpaths_rank(hp, 2, ALLOC_BY_ALLOCS, out, 2, &t), 0);
    assert_int_equal(t.allocs, 4);
    feed(hp, 0, 0, &r0, 1);
    struct alloc_stack_info a = stack(3, "late", "late.rs", 1);
    assert_int_equal(hotpaths_add_stack(hp, &a), LS_OK);
    assert_int_equal(hotpaths_rank(hp, 2, ALLOC_BY_ALLOCS, out, 2, &t), 1);
    assert_int_equal(out[0].allocs, 10);
    assert_int_equal(hotpaths_rank(hp, 1, ALLOC_BY_ALLOCS, out, 2, &t), 1);
    assert_int_equal(out[0].allocs, 6);
    /* requests set apart from the rows are not undone by a later interval's 0 */
    assert_int_equal(hotpaths_set_requests(hp, 0, 3), LS_OK);
    feed(hp, 0, 0, NULL, 0);
    hotpaths_rank(hp, 1, ALLOC_BY_ALLOCS, out, 2, &t);
    assert_int_equal(t.requests, 3);
    assert_true(out[0].allocs_per_req == 2.0);
    hotpaths_close(hp);
}

static void test_procs(void **state)
{
    (void)state;
    struct hotpaths *hp;
    assert_int_equal(hotpaths_open(&hp), LS_OK);
    for (uint32_t s = 0; s < 3; s++) {
        struct alloc_procstat p = {.pid = 10, .rss_bytes = 1000 * (s + 1), .cpu_pct = 50, .threads = 3,
                                   .thread_names = "{\"tokio-runtime-w\":2,\"main\":1}"};
        struct alloc_interval iv = {.second = s, .procs = &p, .nprocs = 1};
        assert_int_equal(hotpaths_add_interval(hp, &iv), LS_OK);
    }
    struct hotpaths_totals t;
    hotpaths_rank(hp, 2, ALLOC_BY_ALLOCS, NULL, 0, &t);
    assert_int_equal(t.nprocs, 1);
    assert_int_equal(t.procs[0].second, 1);
    assert_int_equal(t.procs[0].rss_bytes, 2000);
    assert_string_equal(t.procs[0].names, "tokio-runtime-w x2, main x1");
    hotpaths_close(hp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_and_rates),
        cmocka_unit_test(test_leak_flag),
        cmocka_unit_test(test_late_stack_and_out_of_order),
        cmocka_unit_test(test_procs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
