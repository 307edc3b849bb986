/*
 * test_live: the shared live model fed with known seconds, read back exactly.
 *
 * Values below 2048 us sit in unit-wide buckets of the 3-digit histogram, so
 * the percentiles asserted here are the recorded values themselves; 3000 us
 * lands in a 2-wide bucket [3000, 3001] and reads back as 3001.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats/hdr.h"
#include "stats/live.h"

static const char *const names[] = {"echo", "sum"};

static struct live *open_model(void)
{
    struct live_info info = {
        .scenario = "unit",
        .target = "stdio: none",
        .load = "closed loop, 2 virtual users",
        .step_names = names,
        .nsteps = 2,
        .warmup_ns = 1000000000ull,
        .duration_ns = 3000000000ull,
        .session = 7,
    };
    struct live *lv = NULL;
    assert_int_equal(live_open(&info, &lv), LS_OK);
    return lv;
}

struct second_data {
    struct hdr *c, *u;
};

static void hdrs(struct second_data *d, const int64_t *cv, const int64_t *uv, size_t n)
{
    assert_int_equal(hdr_open_latency(&d->c), LS_OK);
    assert_int_equal(hdr_open_latency(&d->u), LS_OK);
    for (size_t i = 0; i < n; i++) {
        hdr_record(d->c, cv[i]);
        hdr_record(d->u, uv[i]);
    }
}

static void feed(struct live *lv, uint32_t second, int32_t step, bool warm, const int64_t *cv,
                 const int64_t *uv, size_t n, uint64_t errors)
{
    struct second_data d;
    hdrs(&d, cv, uv, n);
    struct coll_interval iv = {
        .second = second, .step = step, .warmup = warm, .count = n, .errors = errors,
        .late = 1, .corrected = d.c, .uncorrected = d.u,
        .dns_us = 10 * n, .connect_us = 20, .tls_us = 0, .ttfb_us = 100 * n,
        .transfer_us = 5 * n, .new_conns = 1,
    };
    iv.err_by_class[LS_EC_TOOL] = errors;
    live_on_interval(lv, &iv);
    hdr_close(d.c);
    hdr_close(d.u);
}

/* Two seconds: one of warm-up, one measured; the cumulative views and history. */
static void feed_two_seconds(struct live *lv)
{
    const int64_t w[] = {100, 200};
    feed(lv, 0, 0, true, w, w, 2, 0);
    feed(lv, 0, -1, true, w, w, 2, 0);
    const int64_t c0[] = {1000, 3000, 5}, u0[] = {900, 1500, 4};
    const int64_t c1[] = {10}, u1[] = {9};
    const int64_t call[] = {1000, 3000, 5, 10}, uall[] = {900, 1500, 4, 9};
    feed(lv, 1, 0, false, c0, u0, 3, 1);
    feed(lv, 1, 1, false, c1, u1, 1, 0);
    feed(lv, 1, -1, false, call, uall, 4, 1);
}

static void test_cumulative_and_history(void **state)
{
    (void)state;
    struct live *lv = open_model();
    struct live_snapshot *sn = NULL;
    assert_int_equal(live_snapshot_new(lv, &sn), LS_OK);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->state, LIVE_STARTING);
    assert_int_equal(sn->nhistory, 0);
    assert_false(sn->in_flight_known);

    feed_two_seconds(lv);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->state, LIVE_RUNNING);
    assert_int_equal(sn->nsteps_total, 4);
    assert_string_equal(sn->steps[0].name, "echo");
    assert_string_equal(sn->steps[2].name, "initialize");
    assert_string_equal(sn->steps[3].name, "ALL STEPS");
    assert_int_equal(sn->seconds_closed, 2);
    /* whole run: warm-up included */
    assert_int_equal(sn->run_count, 6);
    assert_int_equal(sn->run_errors, 1);
    assert_int_equal(sn->run_late, 2);
    assert_int_equal(hdr_total_count(sn->run_corrected), 6);
    assert_int_equal(hdr_max(sn->run_corrected), 3001);
    /* step 0, measured only */
    const struct live_step *e = &sn->steps[0];
    assert_int_equal(e->count, 3);
    assert_int_equal(e->errors, 1);
    assert_int_equal(e->late, 1);
    assert_int_equal(e->err_by_class[LS_EC_TOOL], 1);
    assert_int_equal(e->err_by_class[LS_EC_OK], 0);
    assert_int_equal(hdr_total_count(e->corrected), 3);
    assert_int_equal(hdr_value_at_percentile(e->corrected, 50), 1000);
    assert_int_equal(hdr_value_at_percentile(e->corrected, 99), 3001);
    assert_int_equal(hdr_value_at_percentile(e->uncorrected, 99), 1500);
    assert_int_equal(e->phases.requests, 3);
    assert_int_equal(e->phases.dns_us, 30);
    assert_int_equal(e->phases.connect_us, 20);
    assert_int_equal(e->phases.ttfb_us, 300);
    assert_int_equal(e->phases.transfer_us, 15);
    assert_int_equal(e->phases.new_conns, 1);
    assert_true(e->has_last);
    assert_int_equal(e->last.second, 1);
    assert_int_equal(e->last.p50_us, 1000);
    /* all steps */
    const struct live_step *all = &sn->steps[3];
    assert_int_equal(all->count, 4);
    assert_int_equal(hdr_value_at_percentile(all->corrected, 50), 10);
    assert_int_equal(hdr_value_at_percentile(all->uncorrected, 100), 1500);
    /* the handshake saw nothing */
    assert_int_equal(sn->steps[2].count, 0);
    assert_false(sn->steps[2].has_last);
    /* history: one entry per second, step -1 only */
    assert_int_equal(sn->nhistory, 2);
    assert_true(sn->history[0].warmup);
    assert_int_equal(sn->history[0].count, 2);
    assert_int_equal(sn->history[0].p50_us, 100);
    assert_int_equal(sn->history[0].p99_us, 200);
    assert_false(sn->history[1].warmup);
    assert_int_equal(sn->history[1].second, 1);
    assert_int_equal(sn->history[1].count, 4);
    assert_int_equal(sn->history[1].errors, 1);
    assert_int_equal(sn->history[1].p50_us, 10);
    assert_int_equal(sn->history[1].p99_us, 3001);
    assert_int_equal(sn->history[1].u_p50_us, 9);
    assert_int_equal(sn->history[1].u_p99_us, 1500);
    assert_int_equal(sn->history[1].max_us, 3001);
    struct live_second last;
    assert_true(live_last_second(lv, &last));
    assert_int_equal(last.second, 1);
    assert_int_equal(last.p99_us, 3001);

    /* Nothing new: the generation stays and the copy is left alone. */
    uint64_t g = sn->generation;
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->generation, g);
    assert_int_equal(hdr_total_count(sn->steps[0].corrected), 3);

    live_reset(lv);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->nhistory, 0);
    assert_int_equal(sn->steps[0].count, 0);
    assert_int_equal(hdr_total_count(sn->steps[3].corrected), 0);
    assert_int_equal(sn->run_count, 0);
    assert_false(live_last_second(lv, &last));

    live_snapshot_free(sn);
    live_close(lv);
}

/* Stored intervals (encoded histograms, stored percentiles) give the same model. */
static void test_stored_matches_live(void **state)
{
    (void)state;
    struct live *a = open_model(), *b = open_model();
    feed_two_seconds(a);

    const int64_t w[] = {100, 200};
    const int64_t c0[] = {1000, 3000, 5}, u0[] = {900, 1500, 4};
    const int64_t c1[] = {10}, u1[] = {9};
    const int64_t call[] = {1000, 3000, 5, 10}, uall[] = {900, 1500, 4, 9};
    struct {
        uint32_t second;
        int32_t step;
        bool warm;
        const int64_t *c, *u;
        size_t n;
        uint64_t errors;
    } rows[] = {{0, 0, true, w, w, 2, 0},     {0, -1, true, w, w, 2, 0},
                {1, 0, false, c0, u0, 3, 1},  {1, 1, false, c1, u1, 1, 0},
                {1, -1, false, call, uall, 4, 1}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct second_data d;
        hdrs(&d, rows[i].c, rows[i].u, rows[i].n);
        uint8_t cb[4096], ub[4096];
        size_t cl, ul;
        assert_int_equal(hdr_encode(d.c, cb, sizeof(cb), &cl), LS_OK);
        assert_int_equal(hdr_encode(d.u, ub, sizeof(ub), &ul), LS_OK);
        struct live_stored st = {
            .second = rows[i].second, .step = rows[i].step, .warmup = rows[i].warm,
            .count = rows[i].n, .errors = rows[i].errors, .late = 1,
            .p50_us = hdr_value_at_percentile(d.c, 50), .p99_us = hdr_value_at_percentile(d.c, 99),
            .max_us = hdr_max(d.c), .u_p50_us = hdr_value_at_percentile(d.u, 50),
            .u_p99_us = hdr_value_at_percentile(d.u, 99),
            .hist = cb, .hist_len = cl, .u_hist = ub, .u_hist_len = ul,
        };
        assert_int_equal(live_on_stored(b, &st), LS_OK);
        hdr_close(d.c);
        hdr_close(d.u);
    }
    struct live_snapshot *sa = NULL, *sb = NULL;
    assert_int_equal(live_snapshot_new(a, &sa), LS_OK);
    assert_int_equal(live_snapshot_new(b, &sb), LS_OK);
    live_snapshot_take(a, sa);
    live_snapshot_take(b, sb);
    assert_int_equal(sa->nhistory, sb->nhistory);
    /* Field by field: the struct has padding, whose bytes nothing defines. */
    for (size_t i = 0; i < sa->nhistory; i++) {
        const struct live_second *x = &sa->history[i], *y = &sb->history[i];
        assert_int_equal(x->second, y->second);
        assert_int_equal(x->warmup, y->warmup);
        assert_int_equal(x->count, y->count);
        assert_int_equal(x->errors, y->errors);
        assert_int_equal(x->late, y->late);
        assert_int_equal(x->p50_us, y->p50_us);
        assert_int_equal(x->p99_us, y->p99_us);
        assert_int_equal(x->max_us, y->max_us);
        assert_int_equal(x->u_p50_us, y->u_p50_us);
        assert_int_equal(x->u_p99_us, y->u_p99_us);
    }
    const double ps[] = {50, 90, 99, 99.9, 100};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(sa->steps[i].count, sb->steps[i].count);
        for (size_t k = 0; k < 5; k++) {
            assert_int_equal(hdr_value_at_percentile(sa->steps[i].corrected, ps[k]),
                             hdr_value_at_percentile(sb->steps[i].corrected, ps[k]));
            assert_int_equal(hdr_value_at_percentile(sa->steps[i].uncorrected, ps[k]),
                             hdr_value_at_percentile(sb->steps[i].uncorrected, ps[k]));
        }
    }
    assert_int_equal(hdr_total_count(sb->run_corrected), 6);

    /* a damaged blob is refused, the counts still land */
    uint8_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct live_stored bad = {.second = 2, .step = -1, .count = 1, .hist = junk, .hist_len = 8};
    assert_int_equal(live_on_stored(b, &bad), LS_ERR_PARSE);
    live_snapshot_take(b, sb);
    assert_int_equal(sb->steps[3].count, 5);
    assert_int_equal(hdr_total_count(sb->steps[3].corrected), 4);

    /* replay errors by class come from summaries */
    uint64_t by[LS_EC__COUNT] = {0};
    by[LS_EC_TIMEOUT] = 4;
    by[LS_EC_OK] = 99; /* ignored: not a failure */
    live_add_errors(b, 1, by);
    live_snapshot_take(b, sb);
    assert_int_equal(sb->steps[1].err_by_class[LS_EC_TIMEOUT], 4);
    assert_int_equal(sb->steps[1].err_by_class[LS_EC_OK], 0);

    live_snapshot_free(sa);
    live_snapshot_free(sb);
    live_close(a);
    live_close(b);
}

static uint64_t fake_in_flight(void *ctx)
{
    return *(uint64_t *)ctx;
}

static void test_events_clock_in_flight(void **state)
{
    (void)state;
    struct live *lv = open_model();
    struct live_snapshot *sn = NULL;
    assert_int_equal(live_snapshot_new(lv, &sn), LS_OK);
    char msg[400];
    for (int i = 0; i < LIVE_EVENTS + 3; i++) {
        snprintf(msg, sizeof(msg), "event %d", i);
        live_on_event(lv, (uint64_t)i * 1000, i % 2 ? "timeout" : "tool_error", msg);
    }
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    live_on_event(lv, 999999, "a_kind_name_much_longer_than_the_field", msg);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->nevents, LIVE_EVENTS);
    assert_int_equal(sn->events_dropped, 4);
    assert_string_equal(sn->events[0].message, "event 4");
    assert_string_equal(sn->events[0].kind, "tool_error");
    assert_int_equal(sn->events[0].t_ns, 4000);
    assert_string_equal(sn->events[LIVE_EVENTS - 2].message, "event 66");
    assert_int_equal(strlen(sn->events[LIVE_EVENTS - 1].message), LIVE_EVENT_LEN - 1);
    assert_int_equal(strlen(sn->events[LIVE_EVENTS - 1].kind), sizeof(sn->events[0].kind) - 1);

    /* replay clock */
    live_set_elapsed(lv, 2500000000ull);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->elapsed_ns, 2500000000ull);
    assert_int_equal(live_remaining_ns(sn), 1500000000ull);
    live_set_elapsed(lv, 9000000000ull);
    live_snapshot_take(lv, sn);
    assert_int_equal(live_remaining_ns(sn), 0);

    /* in flight is asked only once a second has closed */
    uint64_t n = 42;
    live_set_in_flight_fn(lv, fake_in_flight, &n);
    live_snapshot_take(lv, sn);
    assert_false(sn->in_flight_known);
    const int64_t v[] = {7};
    feed(lv, 0, -1, true, v, v, 1, 0);
    live_snapshot_take(lv, sn);
    assert_true(sn->in_flight_known);
    assert_int_equal(sn->in_flight, 42);
    live_forget_in_flight(lv);
    live_snapshot_take(lv, sn);
    assert_false(sn->in_flight_known);

    live_set_state(lv, LIVE_DONE);
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->state, LIVE_DONE);
    assert_int_equal(live_remaining_ns(sn), 0);

    live_snapshot_free(sn);
    live_close(lv);
}

/* The history is a ring: the oldest seconds go, the newest stay in order. */
static void test_history_ring(void **state)
{
    (void)state;
    struct live *lv = open_model();
    struct live_snapshot *sn = NULL;
    assert_int_equal(live_snapshot_new(lv, &sn), LS_OK);
    struct hdr *h = NULL;
    assert_int_equal(hdr_open_latency(&h), LS_OK);
    hdr_record(h, 50);
    for (uint32_t s = 0; s < LIVE_HISTORY_S + 5; s++) {
        struct coll_interval iv = {.second = s, .step = -1, .count = s, .corrected = h,
                                   .uncorrected = h};
        live_on_interval(lv, &iv);
    }
    live_snapshot_take(lv, sn);
    assert_int_equal(sn->nhistory, LIVE_HISTORY_S);
    assert_int_equal(sn->history[0].second, 5);
    assert_int_equal(sn->history[LIVE_HISTORY_S - 1].second, LIVE_HISTORY_S + 4);
    assert_int_equal(sn->seconds_closed, LIVE_HISTORY_S + 5);
    /* each second's count is its number: sum 0..N-1 (seconds with count 0 add no histogram) */
    uint64_t n = LIVE_HISTORY_S + 5;
    assert_int_equal(sn->run_count, n * (n - 1) / 2);
    assert_int_equal(sn->steps[3].count, n * (n - 1) / 2);
    assert_int_equal(hdr_total_count(sn->steps[3].corrected), n - 1);
    hdr_close(h);
    live_snapshot_free(sn);
    live_close(lv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cumulative_and_history),
        cmocka_unit_test(test_stored_matches_live),
        cmocka_unit_test(test_events_clock_in_flight),
        cmocka_unit_test(test_history_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
