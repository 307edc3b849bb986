/*
 * test_downstream_store: the downstream tables round trip. Calls written
 * through store_downstream come back field for field (optional columns as
 * NULL, several steps' shares through their JSON); seconds come back as the
 * recorder emitted them, histograms included, so a model fed from the
 * database (replay) shows exactly what the live one showed; a database at
 * schema 5 gains the tables when opened.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "downstream/ds_model.h"
#include "store.h"
#include "store_downstream.h"

static char dbpath[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dbpath, sizeof dbpath, "/tmp/ls-ds-store-%d.db", (int)getpid());
    unlink(dbpath);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(dbpath);
    snprintf(p, sizeof p, "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", dbpath);
    unlink(p);
    return 0;
}

static struct store *open_session(int64_t *session)
{
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(dbpath, &st, err, sizeof err), LS_OK);
    struct store_session_info info = {.name = "t", .started_unix_ns = 1};
    assert_int_equal(store_session_begin(st, &info, session), LS_OK);
    return st;
}

static struct ds_call calls[3];
static size_t seen;

static int check_call(void *ctx, const struct ds_call *c)
{
    (void)ctx;
    const struct ds_call *w = &calls[seen++];
    assert_int_equal(c->seq, w->seq);
    assert_int_equal(c->service, w->service);
    assert_string_equal(c->op, w->op);
    assert_int_equal(c->status, w->status);
    assert_string_equal(c->aws_code, w->aws_code);
    assert_int_equal(c->start_ns, w->start_ns);
    assert_int_equal(c->latency_ns, w->latency_ns); /* whole microseconds round trip */
    assert_int_equal(c->upstream_ns, w->upstream_ns);
    assert_int_equal(c->bytes_in, w->bytes_in);
    assert_int_equal(c->bytes_out, w->bytes_out);
    assert_int_equal(c->new_conn, w->new_conn);
    assert_int_equal(c->attempt, w->attempt);
    assert_int_equal(c->max_attempts, w->max_attempts);
    assert_string_equal(c->invocation_id, w->invocation_id);
    assert_int_equal(c->batch_asked, w->batch_asked);
    assert_int_equal(c->batch_unprocessed, w->batch_unprocessed);
    assert_int_equal(c->fault, w->fault);
    assert_int_equal(c->delay_ns, w->delay_ns);
    assert_int_equal(c->in_flight, w->in_flight);
    assert_int_equal(c->nshares, w->nshares);
    for (uint16_t i = 0; i < c->nshares; i++) {
        assert_int_equal(c->shares[i].step, w->shares[i].step);
        assert_int_equal(c->shares[i].in_flight, w->shares[i].in_flight);
    }
    assert_string_equal(c->detail, w->detail);
    return 0;
}

static void test_calls(void **state)
{
    (void)state;
    int64_t session;
    struct store *st = open_session(&session);
    struct store_downstream *w;
    assert_int_equal(store_downstream_open(st, session, &w), LS_OK);
    memset(calls, 0, sizeof calls);
    calls[0] = (struct ds_call){.seq = 1, .service = AWS_DYNAMODB, .op = "BatchGetItem",
                                .status = 200, .start_ns = -5000, .latency_ns = 812000,
                                .upstream_ns = 790000, .bytes_in = 321, .bytes_out = 1048576,
                                .new_conn = true, .attempt = 1, .max_attempts = 3,
                                .invocation_id = "2d5e6f70-0000-4000-8000-000000000001",
                                .batch_asked = 100, .batch_unprocessed = 37, .in_flight = 1,
                                .nshares = 1, .shares = {{2, 1}}};
    calls[1] = (struct ds_call){.seq = 2, .service = AWS_DYNAMODB, .op = "GetItem", .status = 400,
                                .aws_code = "ProvisionedThroughputExceededException",
                                .start_ns = 1000000, .latency_ns = 41000, .bytes_in = 200,
                                .bytes_out = 250, .attempt = 2, .max_attempts = 3,
                                .invocation_id = "2d5e6f70-0000-4000-8000-000000000002",
                                .fault = DS_FAULT_THROTTLE, .in_flight = 5, .nshares = 3,
                                .shares = {{0, 3}, {1, 1}, {7, 1}}};
    calls[2] = (struct ds_call){.seq = 3, .service = AWS_S3, .op = "PutObject", .status = 0,
                                .start_ns = 2000000, .latency_ns = 20000000, .bytes_in = 5000,
                                .fault = DS_FAULT_DELAY, .delay_ns = 15000000,
                                .detail = "the target closed the connection before the reply"};
    assert_int_equal(store_downstream_calls(w, calls, 3), LS_OK);
    store_downstream_close(w);
    seen = 0;
    assert_int_equal(store_downstream_calls_each(st, session, check_call, NULL), LS_OK);
    assert_int_equal(seen, 3);
    store_close(st);
}

/* A second with two operations (histograms), shared attribution and requests. */
static void fill_second(uint32_t second, struct hdr *h[4], struct ds_op_second ops[2],
                        struct ds_attr_second attr[3], struct ds_step_second steps[2],
                        struct ds_second *s)
{
    for (int i = 0; i < 4; i++)
        hdr_reset(h[i]);
    for (int i = 0; i < 50; i++)
        hdr_record(h[0], 300 + i * (int)second);
    hdr_record(h[1], 250);
    hdr_record(h[2], 7000);
    ops[0] = (struct ds_op_second){.service = AWS_DYNAMODB, .op = "GetItem", .calls = 50,
                                   .errors = 2, .throttles = 2, .retries = 2, .new_conns = 1,
                                   .faults = 2, .bytes_in = 10000, .bytes_out = 20000,
                                   .latency = h[0], .upstream = h[1]};
    ops[1] = (struct ds_op_second){.service = AWS_S3, .op = "GetObject", .calls = 1,
                                   .bytes_out = 4096, .latency = h[2], .upstream = h[3]};
    attr[0] = (struct ds_attr_second){0, AWS_DYNAMODB, "GetItem", 40.5, 12345.5, 0.5};
    attr[1] = (struct ds_attr_second){1, AWS_DYNAMODB, "GetItem", 9.5, 3000.25, 0.5};
    attr[2] = (struct ds_attr_second){DS_STEP_NONE, AWS_S3, "GetObject", 1, 7000, 0};
    steps[0] = (struct ds_step_second){0, 5 + second};
    steps[1] = (struct ds_step_second){1, 2};
    *s = (struct ds_second){second, ops, 2, attr, 3, steps, 2};
}

struct cmp {
    struct ds_model *m;
    uint32_t n;
};

static int count_second(void *ctx, const struct ds_second *s)
{
    struct cmp *c = ctx;
    assert_int_equal(s->second, c->n == 0 ? 3 : 4);
    assert_int_equal(s->nops, 2);
    assert_int_equal(s->nattr, 3);
    assert_int_equal(s->nsteps, 2);
    assert_string_equal(s->ops[0].op, "GetItem");
    assert_int_equal(hdr_total_count(s->ops[0].latency), 50);
    assert_null(s->ops[1].upstream); /* an empty histogram is stored as NULL */
    assert_int_equal(s->attr[0].step, DS_STEP_NONE);
    assert_true(s->attr[1].calls == 40.5);
    c->n++;
    return 0;
}

static void test_seconds_replay(void **state)
{
    (void)state;
    int64_t session;
    struct store *st = open_session(&session);
    struct store_downstream *w;
    struct ds_model *live, *replay;
    struct hdr *h[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(hdr_open_latency(&h[i]), LS_OK);
    assert_int_equal(store_downstream_open(st, session, &w), LS_OK);
    assert_int_equal(ds_model_open(&live), LS_OK);
    assert_int_equal(ds_model_open(&replay), LS_OK);
    struct ds_op_second ops[2];
    struct ds_attr_second attr[3];
    struct ds_step_second steps[2];
    struct ds_second s;
    for (uint32_t sec = 3; sec <= 4; sec++) {
        fill_second(sec, h, ops, attr, steps, &s);
        assert_int_equal(store_downstream_second(w, &s), LS_OK);
        ds_model_add_second(live, &s);
    }
    struct ds_second empty = {5, NULL, 0, NULL, 0, NULL, 0}; /* nothing stored for it */
    assert_int_equal(store_downstream_second(w, &empty), LS_OK);
    store_downstream_close(w);

    struct cmp c = {replay, 0};
    assert_int_equal(store_downstream_seconds_each(st, session, count_second, &c), LS_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(store_downstream_model(st, session, replay), LS_OK);

    struct ds_op_view a[4], b[4];
    size_t na = ds_model_ops(live, a, 4), nb = ds_model_ops(replay, b, 4);
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i].op, b[i].op);
        assert_int_equal(a[i].calls, b[i].calls);
        assert_int_equal(a[i].errors, b[i].errors);
        assert_int_equal(a[i].retries, b[i].retries);
        assert_int_equal(a[i].p50_us, b[i].p50_us);
        assert_int_equal(a[i].p99_us, b[i].p99_us);
        assert_int_equal(a[i].max_us, b[i].max_us);
        assert_int_equal(a[i].up_p50_us, b[i].up_p50_us);
        assert_true(a[i].per_request == b[i].per_request);
        assert_true(a[i].calls_per_s == b[i].calls_per_s);
    }
    assert_int_equal(a[0].calls, 100);
    assert_true(a[0].per_request == 100.0 / 21.0); /* requests: 8 + 2 + 9 + 2 */
    struct ds_step_view sa[16], sb[16];
    size_t ma = ds_model_steps(live, sa, 16), mb = ds_model_steps(replay, sb, 16);
    assert_int_equal(ma, mb);
    assert_memory_equal(sa, sb, ma * sizeof(sa[0]));
    for (int i = 0; i < 4; i++)
        hdr_close(h[i]);
    ds_model_close(live);
    ds_model_close(replay);
    store_close(st);
}

static void test_migration(void **state)
{
    (void)state;
    int64_t session;
    struct store *st = open_session(&session);
    store_close(st);
    /* pretend the file is at schema 7 (before the downstream tables) */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE downstream_calls; DROP TABLE downstream_seconds;"
                                  "DROP TABLE downstream_attribution; DROP TABLE downstream_requests;"
                                  "DROP TABLE findings; DROP TABLE thread_seconds; DROP TABLE thread_syscalls;"
                                  "DROP TABLE cpu_stacks; DROP TABLE cpu_samples; DROP TABLE cpu_seconds;"
                                  "PRAGMA user_version = 7;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(store_open(dbpath, &st, err, sizeof err), LS_OK);
    struct store_downstream *w;
    assert_int_equal(store_downstream_open(st, session, &w), LS_OK);
    struct ds_call c = {.seq = 1, .op = "GetItem", .status = 200};
    assert_int_equal(store_downstream_calls(w, &c, 1), LS_OK);
    store_downstream_close(w);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seconds_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
