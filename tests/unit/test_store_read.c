/*
 * Unit tests for storage/store_read.c: what the writer stored comes back
 * exactly (unsigned values above 2^63 included, histogram bytes, errors by
 * class parsed from err_json), in the documented order, with early stops,
 * interleaved sessions, missing sessions and malformed err_json reported
 * with messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aws/aws_retry.h"
#include "store.h"
#include "store_read.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    int64_t sid;
};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static struct ls_sample mk_sample(uint32_t i)
{
    struct ls_sample s;

    memset(&s, 0, sizeof(s));
    s.intended_ns = UINT64_MAX - 1000 * (uint64_t)i; /* above 2^63: stored negative */
    s.start_ns = 1000000ull * i + 5;
    s.end_ns = 1000000ull * i + 777;
    s.dns_us = 4000000000u;
    s.connect_us = i;
    s.tls_us = 3;
    s.ttfb_us = 400 + i;
    s.bytes_out = 100;
    s.bytes_in = UINT32_MAX;
    s.vu = 70000 + i;
    s.step = (uint16_t)(i % 3);
    s.worker = 65535;
    s.status = 200;
    s.err = (uint8_t)(i % 2 ? LS_EC_TOOL : LS_EC_OK);
    s.flags = (uint8_t)(i % 8);
    s.seq = UINT32_MAX - i;
    s.rpc_code = -32000 - (int32_t)i;
    s.attempts = (uint16_t)(i + 1);
    s.followups = (uint16_t)(i / 2);
    s.retries = (uint16_t)i;
    s.backoff_us = UINT32_MAX - i;
    s.last_try_us = 1234 + i;
    s.aws_code = i % 2 ? aws_code_index("ThrottlingException", 19) : 0;
    return s;
}

static const uint8_t HIST[] = {1, 2, 3, 0, 255};

/* A session with 3 steps, 10 samples, 2 seconds of intervals, summaries and events. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_writer *w = NULL;
    struct store_session_info info = {.name = "n",
                                      .scenario_path = "p.json",
                                      .scenario_text = "{}",
                                      .target = "http://x",
                                      .params_json = "{\"a\":1}",
                                      .host = "h",
                                      .version = "0.1",
                                      .started_unix_ns = 1000};
    char err[256];

    assert_non_null(f);
    strcpy(f->dir, "/tmp/ls_store_read_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/s.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), LS_OK);
    assert_int_equal(store_session_begin(f->st, &info, &f->sid), LS_OK);
    assert_int_equal(store_add_step(f->st, f->sid, 0, "a,b", "tools/call", 3, "{}"), LS_OK);
    assert_int_equal(store_add_step(f->st, f->sid, 2, "initialize", "initialize", 0, NULL), LS_OK);
    assert_int_equal(store_add_step(f->st, f->sid, 1, "two\nlines", "ping", 1, NULL), LS_OK);
    assert_int_equal(store_writer_start(f->st, f->sid, &w), LS_OK);
    for (uint32_t i = 0; i < 10; i++) {
        struct ls_sample s = mk_sample(i);
        assert_int_equal(store_writer_samples(w, &s, 1), LS_OK);
    }
    for (uint32_t sec = 0; sec < 2; sec++) {
        for (int32_t step = -1; step < 2; step++) {
            struct store_interval iv = {.second = sec,
                                        .step = step,
                                        .warmup = sec == 0,
                                        .count = UINT64_MAX - sec,
                                        .errors = 7,
                                        .late = 1,
                                        .p50_us = 50,
                                        .p90_us = 90,
                                        .p99_us = 99,
                                        .p999_us = 999,
                                        .max_us = -1,
                                        .u_p50_us = 5,
                                        .u_p90_us = 9,
                                        .u_p99_us = 19,
                                        .u_p999_us = 99,
                                        .u_max_us = INT64_MAX,
                                        .mean_us = 12.25,
                                        .u_mean_us = 0.1,
                                        .hist = step == 0 ? HIST : NULL,
                                        .hist_len = step == 0 ? sizeof(HIST) : 0,
                                        .u_hist = HIST,
                                        .u_hist_len = 2};
            assert_int_equal(store_writer_interval(w, &iv), LS_OK);
        }
    }
    for (int32_t step = 1; step >= -1; step--) {
        struct store_summary sm = {.step = step,
                                   .count = 100,
                                   .errors = 6,
                                   .rate = 33.5,
                                   .p50_us = 1,
                                   .max_us = 2,
                                   .u_p50_us = 3,
                                   .u_max_us = 4,
                                   .mean_us = 1.5,
                                   .u_mean_us = 2.5};
        if (step != 0) {
            sm.err_by_class[LS_EC_CONNECT] = 1;
            sm.err_by_class[LS_EC_TOOL] = 5;
            sm.err_by_class[LS_EC__COUNT - 1] = UINT64_MAX;
        }
        assert_int_equal(store_writer_summary(w, &sm), LS_OK);
    }
    assert_int_equal(store_writer_event(w, 20, "error", "second"), LS_OK);
    assert_int_equal(store_writer_event(w, 10, "target_start", "first"), LS_OK);
    assert_int_equal(store_writer_event(w, 20, "error", NULL), LS_OK);
    assert_int_equal(store_writer_finish(w), LS_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void test_session(void **state)
{
    struct fx *f = *state;
    struct store_session s;
    int64_t id = 0;

    assert_int_equal(store_session_get(f->st, f->sid, &s), LS_OK);
    assert_int_equal(s.id, f->sid);
    assert_string_equal(s.name, "n");
    assert_string_equal(s.scenario_path, "p.json");
    assert_string_equal(s.target, "http://x");
    assert_string_equal(s.params_json, "{\"a\":1}");
    assert_string_equal(s.status_text, "");
    assert_int_equal(s.started_unix_ns, 1000);
    assert_int_equal(s.ended_unix_ns, 0);
    assert_int_equal(s.exit_code, -1);
    store_session_clear(&s);
    assert_null(s.name);

    assert_int_equal(store_session_end(f->st, f->sid, 5000, 3, "target died"), LS_OK);
    assert_int_equal(store_session_get(f->st, f->sid, &s), LS_OK);
    assert_int_equal(s.ended_unix_ns, 5000);
    assert_int_equal(s.exit_code, 3);
    assert_string_equal(s.status_text, "target died");
    store_session_clear(&s);

    assert_int_equal(store_session_latest(f->st, &id), LS_OK);
    assert_int_equal(id, f->sid);
    assert_int_equal(store_session_get(f->st, 999, &s), LS_ERR_NOTFOUND);
    assert_string_equal(store_errmsg(f->st), "no session 999 in this database");
    store_session_clear(&s);
}

struct steps_seen {
    int n;
    int idx[8];
    char names[8][32];
    uint32_t weight[8];
};

static int on_step(void *ctx, const struct store_step *s)
{
    struct steps_seen *v = ctx;

    v->idx[v->n] = s->idx;
    snprintf(v->names[v->n], sizeof(v->names[0]), "%s", s->name);
    v->weight[v->n] = s->weight;
    v->n++;
    return 0;
}

static void test_steps(void **state)
{
    struct fx *f = *state;
    struct steps_seen v = {0};

    assert_int_equal(store_steps_each(f->st, f->sid, on_step, &v), LS_OK);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.idx[0], 0);
    assert_string_equal(v.names[0], "a,b");
    assert_int_equal(v.weight[0], 3);
    assert_int_equal(v.idx[1], 1);
    assert_string_equal(v.names[1], "two\nlines");
    assert_int_equal(v.idx[2], 2);
    assert_string_equal(v.names[2], "initialize");
    assert_int_equal(store_steps_each(f->st, 42, on_step, &v), LS_ERR_NOTFOUND);
    assert_string_equal(store_errmsg(f->st), "reading steps: no session 42 in this database");
}

struct samples_seen {
    uint32_t n, stop_after;
};

static int on_sample(void *ctx, const struct ls_sample *s)
{
    struct samples_seen *v = ctx;
    struct ls_sample want = mk_sample(v->n);

    assert_memory_equal(s, &want, sizeof(want));
    v->n++;
    return v->n == v->stop_after;
}

static void test_samples_exact_and_interleaved(void **state)
{
    struct fx *f = *state;
    struct samples_seen v = {0, 0};

    assert_int_equal(store_samples_each(f->st, f->sid, on_sample, &v), LS_OK);
    assert_int_equal(v.n, 10);
    v = (struct samples_seen){0, 4};
    assert_int_equal(store_samples_each(f->st, f->sid, on_sample, &v), LS_OK);
    assert_int_equal(v.n, 4); /* stopped by the callback */

    /* rows of another session inside this one's rowid range are skipped */
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO sessions(id, started_unix_ns) VALUES(%lld, 2000);"
             "UPDATE samples SET rowid = rowid * 2 + 100 WHERE session_id = %lld;"
             "INSERT INTO samples(rowid, session_id, seq) SELECT rowid + 1, %lld, 1 FROM samples;"
             "INSERT INTO samples(rowid, session_id, seq) VALUES(1, %lld, 1), (500, %lld, 1);",
             (long long)f->sid + 1, (long long)f->sid, (long long)f->sid + 1, (long long)f->sid + 1,
             (long long)f->sid + 1);
    raw_exec(f->path, sql);
    v = (struct samples_seen){0, 0};
    assert_int_equal(store_samples_each(f->st, f->sid, on_sample, &v), LS_OK);
    assert_int_equal(v.n, 10);

    struct samples_seen none = {0, 0};
    assert_int_equal(store_samples_each(f->st, 777, on_sample, &none), LS_ERR_NOTFOUND);
}

struct iv_seen {
    int n;
    uint32_t second[8];
    int32_t step[8];
};

static int on_interval(void *ctx, const struct store_interval *iv)
{
    struct iv_seen *v = ctx;

    v->second[v->n] = iv->second;
    v->step[v->n] = iv->step;
    v->n++;
    assert_int_equal(iv->warmup, iv->second == 0);
    assert_true(iv->count == UINT64_MAX - iv->second);
    assert_int_equal(iv->errors, 7);
    assert_int_equal(iv->late, 1);
    assert_int_equal(iv->p50_us, 50);
    assert_int_equal(iv->p999_us, 999);
    assert_int_equal(iv->max_us, -1);
    assert_int_equal(iv->u_p99_us, 19);
    assert_true(iv->u_max_us == INT64_MAX);
    assert_true(iv->mean_us == 12.25);
    assert_true(iv->u_mean_us == 0.1);
    if (iv->step == 0) {
        assert_int_equal(iv->hist_len, sizeof(HIST));
        assert_memory_equal(iv->hist, HIST, sizeof(HIST));
    } else {
        assert_null(iv->hist);
        assert_int_equal(iv->hist_len, 0);
    }
    assert_int_equal(iv->u_hist_len, 2);
    assert_memory_equal(iv->u_hist, HIST, 2);
    return 0;
}

static void test_intervals(void **state)
{
    struct fx *f = *state;
    struct iv_seen v = {0};

    assert_int_equal(store_intervals_each(f->st, f->sid, INT32_MIN, on_interval, &v), LS_OK);
    assert_int_equal(v.n, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(v.second[i], (uint32_t)(i / 3));
        assert_int_equal(v.step[i], i % 3 - 1);
    }
    memset(&v, 0, sizeof(v));
    assert_int_equal(store_intervals_each(f->st, f->sid, -1, on_interval, &v), LS_OK);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.step[0], -1);
    assert_int_equal(v.step[1], -1);
    memset(&v, 0, sizeof(v));
    assert_int_equal(store_intervals_each(f->st, f->sid, 5, on_interval, &v), LS_OK);
    assert_int_equal(v.n, 0);
}

struct sm_seen {
    int n;
    struct store_summary sm[4];
};

static int on_summary(void *ctx, const struct store_summary *sm)
{
    struct sm_seen *v = ctx;

    v->sm[v->n++] = *sm;
    return 0;
}

static void test_summaries_and_err_json(void **state)
{
    struct fx *f = *state;
    struct sm_seen v = {0};

    assert_int_equal(store_summaries_each(f->st, f->sid, on_summary, &v), LS_OK);
    assert_int_equal(v.n, 3);
    for (int i = 0; i < 3; i++) {
        const struct store_summary *sm = &v.sm[i];

        assert_int_equal(sm->step, i - 1);
        assert_int_equal(sm->count, 100);
        assert_int_equal(sm->errors, 6);
        assert_true(sm->rate == 33.5);
        assert_int_equal(sm->u_max_us, 4);
        assert_true(sm->u_mean_us == 2.5);
        for (int c = 0; c < LS_EC__COUNT; c++) {
            uint64_t want = 0;
            if (sm->step != 0 && c == LS_EC_CONNECT)
                want = 1;
            if (sm->step != 0 && c == LS_EC_TOOL)
                want = 5;
            if (sm->step != 0 && c == LS_EC__COUNT - 1)
                want = UINT64_MAX;
            assert_true(sm->err_by_class[c] == want);
        }
    }

    /* hand-written JSON with spaces and NULL read fine; bad ones are named */
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE summaries SET err_json = ' { \"timeout\" : 4 , \"send\":2 } ' "
             "WHERE session_id = %lld AND step = 0; UPDATE summaries SET err_json = NULL "
             "WHERE session_id = %lld AND step = 1",
             (long long)f->sid, (long long)f->sid);
    raw_exec(f->path, sql);
    memset(&v, 0, sizeof(v));
    assert_int_equal(store_summaries_each(f->st, f->sid, on_summary, &v), LS_OK);
    assert_int_equal(v.sm[1].err_by_class[LS_EC_TIMEOUT], 4);
    assert_int_equal(v.sm[1].err_by_class[LS_EC_SEND], 2);
    assert_int_equal(v.sm[1].err_by_class[LS_EC_CONNECT], 0);
    for (int c = 0; c < LS_EC__COUNT; c++)
        assert_int_equal(v.sm[2].err_by_class[c], 0);

    static const char *const bad[][2] = {
        {"{\"nosuch\":1}", "unknown error class \"nosuch\""},
        {"{\"timeout\":}", "expected a count"},
        {"{\"timeout\":1", "expected ',' or '}'"},
        {"[1]", "expected '{'"},
        {"{\"timeout\":99999999999999999999}", "count out of range"},
        {"{} x", "text after the object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *q = sqlite3_mprintf("UPDATE summaries SET err_json = %Q WHERE session_id = %lld "
                                  "AND step = 0",
                                  bad[i][0], (long long)f->sid);
        raw_exec(f->path, q);
        sqlite3_free(q);
        memset(&v, 0, sizeof(v));
        assert_int_equal(store_summaries_each(f->st, f->sid, on_summary, &v), LS_ERR_PARSE);
        assert_int_equal(v.n, 1); /* the rows before the bad one were delivered */
        if (strstr(store_errmsg(f->st), bad[i][1]) == NULL ||
            strstr(store_errmsg(f->st), "summary of step 0 of session") == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i][0], store_errmsg(f->st), bad[i][1]);
    }
}

struct ev_seen {
    int n;
    uint64_t t[4];
    char kind[4][16];
    char msg[4][16];
};

static int on_event(void *ctx, uint64_t t_ns, const char *kind, const char *message)
{
    struct ev_seen *v = ctx;

    v->t[v->n] = t_ns;
    snprintf(v->kind[v->n], sizeof(v->kind[0]), "%s", kind);
    snprintf(v->msg[v->n], sizeof(v->msg[0]), "%s", message);
    v->n++;
    return 0;
}

static void test_events(void **state)
{
    struct fx *f = *state;
    struct ev_seen v = {0};

    assert_int_equal(store_events_each(f->st, f->sid, on_event, &v), LS_OK);
    assert_int_equal(v.n, 3);
    assert_int_equal(v.t[0], 10);
    assert_string_equal(v.kind[0], "target_start");
    assert_string_equal(v.msg[0], "first");
    assert_int_equal(v.t[1], 20);
    assert_string_equal(v.msg[1], "second"); /* ties in stored order */
    assert_string_equal(v.msg[2], "");
}

static void test_empty_database(void **state)
{
    (void)state;
    char dir[] = "/tmp/ls_store_read_empty.XXXXXX";
    char path[128], err[256];
    struct store *st = NULL;
    int64_t id = -5;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/e.db", dir);
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    assert_int_equal(store_session_latest(st, &id), LS_ERR_NOTFOUND);
    assert_int_equal(id, -5);
    assert_string_equal(store_errmsg(st), "no sessions in this database yet");
    store_close(st);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_samples_exact_and_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intervals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summaries_and_err_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test(test_empty_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
