/*
 * Unit tests for app/sessions.c and storage/store_list.c: the listing's
 * figures come from the all-steps summary of a finished run and from the
 * measured all-steps intervals of one that did not finish (warm-up and
 * per-step rows left out); a session with nothing measured shows "-"; the
 * line is laid out in the header's columns, exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sessions.h"
#include "store.h"
#include "store_list.h"

static void test_figures(void **state)
{
    struct store_session_stats s;
    struct sessions_figures f;

    (void)state;
    memset(&s, 0, sizeof(s));
    sessions_figures(&s, &f);
    assert_false(f.known);
    assert_int_equal(f.p99_us, -1);

    s.iv_seconds = 4;
    s.iv_count = 10;
    s.iv_errors = 1;
    sessions_figures(&s, &f);
    assert_true(f.known);
    assert_false(f.from_summary);
    assert_int_equal(f.requests, 10);
    assert_int_equal(f.errors, 1);
    assert_true(f.rate == 2.5);
    assert_int_equal(f.p99_us, -1); /* no summary: no p99 */

    s.has_summary = true;
    s.sum_count = 1000;
    s.sum_errors = 7;
    s.sum_rate = 333.25;
    s.sum_p99_us = 1200;
    sessions_figures(&s, &f);
    assert_true(f.from_summary);
    assert_int_equal(f.requests, 1000);
    assert_int_equal(f.errors, 7);
    assert_true(f.rate == 333.25);
    assert_int_equal(f.p99_us, 1200);

    s.sum_count = 0; /* a summary of nothing has no percentile */
    sessions_figures(&s, &f);
    assert_int_equal(f.p99_us, -1);
}

static void test_format(void **state)
{
    struct store_session_stats s;
    char hdr[256], line[512];

    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    memset(&s, 0, sizeof(s));
    s.row.id = 12;
    s.row.name = "demo";
    s.row.target = "http://127.0.0.1:8080/mcp";
    s.row.started_unix_ns = 1700000000000000000ll;
    s.row.ended_unix_ns = 1700000012500000000ll;
    s.row.status_text = "completed";
    s.row.samples = 4321;
    s.has_summary = true;
    s.sum_count = 4000;
    s.sum_errors = 40;
    s.sum_rate = 400.04;
    s.sum_p99_us = 1234;
    sessions_header(hdr, sizeof(hdr));
    sessions_format(&s, line, sizeof(line));
    assert_string_equal(hdr, "    id  started                duration    requests     rate/s       p99"
                             "          errors  status              scenario              target");
    assert_string_equal(line, "    12  2023-11-14 22:13:20       12.5s        4321      400.0    1.23ms"
                              "       40 (1.0%)  completed           demo                  "
                              "http://127.0.0.1:8080/mcp");
    /* every column starts where its header does */
    assert_int_equal(strstr(line, "4321") + 4 - line, strstr(hdr, "requests") + 8 - hdr);
    assert_int_equal(strstr(line, "1.23ms") + 6 - line, strstr(hdr, "p99") + 3 - hdr);
    assert_int_equal(strstr(line, "completed") - line, strstr(hdr, "status") - hdr);

    memset(&s.has_summary, 0, sizeof(s) - offsetof(struct store_session_stats, has_summary));
    s.row.ended_unix_ns = 0;
    s.row.status_text = "";
    sessions_format(&s, line, sizeof(line));
    assert_string_equal(line, "    12  2023-11-14 22:13:20  unfinished        4321          -         -"
                              "               -                      demo                  "
                              "http://127.0.0.1:8080/mcp");
}

/* ---- the storage query ---- */

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* A session with intervals (and a summary when finished). */
static int64_t add_session(struct store *st, int64_t started, bool finished)
{
    struct store_session_info info = {.name = finished ? "done" : "killed", .scenario_path = "p",
                                      .scenario_text = "{}", .target = "t", .params_json = "{}",
                                      .host = "h", .version = "0", .started_unix_ns = started};
    struct store_writer *w = NULL;
    int64_t sid = 0;

    assert_int_equal(store_session_begin(st, &info, &sid), LS_OK);
    assert_int_equal(store_writer_start(st, sid, &w), LS_OK);
    for (uint32_t sec = 0; sec < 4; sec++) {
        for (int32_t step = -1; step < 1; step++) {
            /* second 0 is warm-up; the step-0 rows must not be summed twice */
            struct store_interval iv = {.second = sec, .step = step, .warmup = sec == 0,
                                        .count = 100 + sec, .errors = sec, .p99_us = 50};
            assert_int_equal(store_writer_interval(w, &iv), LS_OK);
        }
    }
    for (uint32_t i = 0; i < 5; i++) {
        struct ls_sample s;

        memset(&s, 0, sizeof(s));
        s.seq = i;
        assert_int_equal(store_writer_samples(w, &s, 1), LS_OK);
    }
    if (finished) {
        struct store_summary sm = {.step = -1, .count = 303, .errors = 6, .rate = 101.0,
                                   .p99_us = 777};
        assert_int_equal(store_writer_summary(w, &sm), LS_OK);
    }
    assert_int_equal(store_writer_finish(w), LS_OK);
    if (finished)
        assert_int_equal(store_session_end(st, sid, started + 4000000000ll, 0, "completed"), LS_OK);
    return sid;
}

struct seen {
    int n;
    struct store_session_stats s[4];
};

static int collect(void *ctx, const struct store_session_stats *s)
{
    struct seen *v = ctx;

    if (v->n < 4) {
        v->s[v->n] = *s;
        v->s[v->n].row.name = NULL; /* valid during the call only */
        v->s[v->n].row.target = NULL;
        v->s[v->n].row.status_text = NULL;
    }
    v->n++;
    return 0;
}

static void test_store_query(void **state)
{
    char dir[] = "/tmp/ls_sessions_test.XXXXXX", path[128], err[256];
    struct store *st = NULL;
    struct seen v;
    int64_t done, killed;
    char *buf = NULL;
    size_t len = 0;
    FILE *m;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    done = add_session(st, 1000, true);
    killed = add_session(st, 2000, false);
    memset(&v, 0, sizeof(v));
    assert_int_equal(store_sessions_stats_each(st, collect, &v), LS_OK);
    assert_int_equal(v.n, 2);
    /* newest first */
    assert_int_equal(v.s[0].row.id, killed);
    assert_false(v.s[0].has_summary);
    assert_int_equal(v.s[0].iv_seconds, 3);
    assert_int_equal(v.s[0].iv_count, 101 + 102 + 103);
    assert_int_equal(v.s[0].iv_errors, 1 + 2 + 3);
    assert_int_equal(v.s[0].row.samples, 5);
    assert_int_equal(v.s[0].row.ended_unix_ns, 0);
    assert_int_equal(v.s[1].row.id, done);
    assert_true(v.s[1].has_summary);
    assert_int_equal(v.s[1].sum_count, 303);
    assert_int_equal(v.s[1].sum_errors, 6);
    assert_true(v.s[1].sum_rate == 101.0);
    assert_int_equal(v.s[1].sum_p99_us, 777);

    m = open_memstream(&buf, &len);
    assert_int_equal(sessions_list(st, m, err, sizeof(err)), LS_OK);
    fclose(m);
    assert_non_null(strstr(buf, "      102.0         -        6 (2.0%)  "));  /* killed: 306 / 3 s */
    assert_non_null(strstr(buf, "      101.0     777us        6 (2.0%)  completed"));
    free(buf);
    store_close(st);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_figures),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_store_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
