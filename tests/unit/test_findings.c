/*
 * test_findings: the advisor's facts built from a stored session (app/
 * findings_facts.c), written here with storage's own writers: per-second
 * intervals and summaries, hot-path stacks and rows (store_alloc), the
 * shim's inside rows, downstream seconds. The facts' values are asserted
 * exactly, for the whole run and for a window; then the stored findings
 * (findings_store) with the seconds their windows fired, and their export.
 *
 * The session: 10 seconds of 100 requests each, one step "echo". Site
 * main.rs:42 makes format! allocations in seconds 3..6 only, through two
 * stacks (7 and 5 per request: 12 at the site); main.rs:50 grows a vector
 * every second (3 allocations, 1 realloc per request) and keeps 1000 more
 * live bytes each second.
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

#include "alloc/alloc.h"
#include "alloc/alloc_inside.h"
#include "alloc/hotpaths.h"
#include "downstream/downstream.h"
#include "downstream/ds_model.h"
#include "hotpaths_store.h"
#include "stats/live.h"
#include "export.h"
#include "findings.h"
#include "stats/hdr.h"
#include "store.h"
#include "store_alloc.h"
#include "store_downstream.h"
#include "store_findings.h"
#include "store_inside.h"
#include "store_read.h"

#define SECONDS 10
#define REQ 100 /* per second */

static char dir[] = "/tmp/test-findings-XXXXXX";
static char path[160];

static const char *FMT_STACK = "alloc::fmt::format_inner (library/alloc/src/fmt.rs:652)\n"
                               "alloc::fmt::format (/rustc/x/library/alloc/src/fmt.rs:659)\n"
                               "app::handler (/src/app/main.rs:42)\n"
                               "main";
static const char *VEC_STACK =
    "alloc::raw_vec::finish_grow (library/alloc/src/raw_vec/mod.rs:1)\n"
    "alloc::raw_vec::RawVec<T,A>::grow_one (library/alloc/src/raw_vec/mod.rs:2)\n"
    "app::collect (/src/app/main.rs:50)\n"
    "main";

static void write_intervals(struct store *st, int64_t sid)
{
    struct store_writer *w;
    assert_int_equal(store_writer_start(st, sid, &w), LS_OK);
    struct hdr *c, *u;
    assert_int_equal(hdr_open_latency(&c), LS_OK);
    assert_int_equal(hdr_open_latency(&u), LS_OK);
    uint8_t cb[4096], ub[4096];
    for (uint32_t s = 0; s < SECONDS; s++) {
        hdr_reset(c);
        hdr_reset(u);
        /* seconds 2..4 are slower when corrected: 1.5 ms vs 1 ms uncorrected */
        hdr_record_n(c, s >= 2 && s < 5 ? 1500 : 1000, REQ);
        hdr_record_n(u, 1000, REQ);
        size_t cl, ul;
        assert_int_equal(hdr_encode(c, cb, sizeof(cb), &cl), LS_OK);
        assert_int_equal(hdr_encode(u, ub, sizeof(ub), &ul), LS_OK);
        struct store_interval iv = {.second = s,
                                    .step = -1,
                                    .count = REQ,
                                    .p50_us = 1000,
                                    .p99_us = 1000,
                                    .mean_us = 1000,
                                    .u_mean_us = 1000,
                                    .hist = cb,
                                    .hist_len = cl,
                                    .u_hist = ub,
                                    .u_hist_len = ul};
        assert_int_equal(store_writer_interval(w, &iv), LS_OK);
        iv.step = 0;
        assert_int_equal(store_writer_interval(w, &iv), LS_OK);
        if (s == 0) { /* the handshakes: 4 of 500 us */
            struct store_interval hs = {
                .second = 0, .step = 1, .count = 4, .mean_us = 500, .u_mean_us = 500};
            assert_int_equal(store_writer_interval(w, &hs), LS_OK);
        }
    }
    struct store_summary all = {.step = -1,
                                .count = SECONDS * REQ,
                                .rate = REQ,
                                .p50_us = 1000,
                                .p99_us = 1500,
                                .u_p50_us = 1000,
                                .u_p99_us = 1000,
                                .mean_us = 2200,
                                .u_mean_us = 1000};
    assert_int_equal(store_writer_summary(w, &all), LS_OK);
    all.step = 0;
    assert_int_equal(store_writer_summary(w, &all), LS_OK);
    struct store_summary hs = {.step = 1, .count = 4, .mean_us = 500, .u_mean_us = 500};
    assert_int_equal(store_writer_summary(w, &hs), LS_OK);
    assert_int_equal(store_writer_finish(w), LS_OK);
    hdr_close(c);
    hdr_close(u);
}

static void write_alloc(struct store *st, int64_t sid)
{
    struct store_alloc *w;
    assert_int_equal(store_alloc_open(st, sid, &w), LS_OK);
    struct alloc_stack_info si[] = {
        {.key = 1,
         .pid = 9,
         .blame_function = "app::handler",
         .blame_file = "/src/app/main.rs",
         .blame_line = 42,
         .label = "format!",
         .stack = FMT_STACK,
         .folded = "main;app::handler"},
        {.key = 2,
         .pid = 9,
         .blame_function = "app::collect",
         .blame_file = "/src/app/main.rs",
         .blame_line = 50,
         .label = "vector growth",
         .stack = VEC_STACK,
         .folded = "main;app::collect"},
        {.key = 3,
         .pid = 9,
         .blame_function = "app::handler",
         .blame_file = "/src/app/main.rs",
         .blame_line = 42,
         .label = "format!",
         .stack = FMT_STACK,
         .folded = "main;app::handler"},
        {.key = 4,
         .pid = 9,
         .blame_function = "app::handler",
         .blame_file = "/src/app/main.rs",
         .blame_line = 60,
         .label = "",
         .stack = "std::thread::sleep\napp::handler (/src/app/main.rs:60)",
         .folded = "main;app::handler"},
    };
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(store_alloc_stack(w, &si[i]), LS_OK);
    struct alloc_inside_row in[] = {
        {.kind = ALLOC_IN_SLEEP,
         .worker = true,
         .key = 4,
         .pid = 9,
         .target = "",
         .count = 10,
         .time_ns = 5000000},
        {.kind = ALLOC_IN_LOCK_WAIT,
         .worker = true,
         .key = 4,
         .pid = 9,
         .target = "",
         .count = 20,
         .time_ns = 2000000},
        {.kind = ALLOC_IN_CONNECT, .key = 4, .pid = 9, .target = "10.0.0.1:443", .count = 2},
        {.kind = ALLOC_IN_PARK,
         .worker = true,
         .key = 0,
         .pid = 9,
         .target = "",
         .count = 50,
         .time_ns = 1500000000},
        {.kind = ALLOC_IN_THREAD, .key = 4, .pid = 9, .target = "", .count = 1},
    };
    struct alloc_procstat proc = {.pid = 9,
                                  .rss_bytes = 1 << 20,
                                  .threads = 5,
                                  .thread_names = "{\"app\":1,\"tokio-runtime-w\":4}"};
    for (uint32_t s = 0; s < SECONDS; s++) {
        bool fmt = s >= 3 && s <= 6;
        struct alloc_row rows[3];
        size_t n = 0;
        if (fmt) {
            rows[n++] = (struct alloc_row){.key = 1,
                                           .allocs = 7 * REQ,
                                           .bytes = 7 * REQ * 64,
                                           .frees = 7 * REQ,
                                           .freed_bytes = 7 * REQ * 64};
            rows[n++] = (struct alloc_row){.key = 3,
                                           .allocs = 5 * REQ,
                                           .bytes = 5 * REQ * 64,
                                           .frees = 5 * REQ,
                                           .freed_bytes = 5 * REQ * 64};
        }
        rows[n++] = (struct alloc_row){.key = 2,
                                       .allocs = 3 * REQ,
                                       .bytes = 3 * REQ * 100,
                                       .reallocs = REQ,
                                       .live_bytes = 1000 * (int64_t)(s + 1)};
        struct alloc_interval iv = {.second = s,
                                    .requests = REQ,
                                    .rows = rows,
                                    .nrows = n,
                                    .procs = &proc,
                                    .nprocs = 1,
                                    .inside = in,
                                    .ninside = 5};
        assert_int_equal(store_alloc_interval(w, &iv), LS_OK);
    }
    struct alloc_proc_summary ps = {.pid = 9, .mode = "full", .unwind = "fp"};
    assert_int_equal(store_alloc_summary(w, &ps, NULL), LS_OK);
    store_alloc_close(w);
}

static void write_downstream(struct store *st, int64_t sid)
{
    struct store_downstream *w;
    assert_int_equal(store_downstream_open(st, sid, &w), LS_OK);
    struct hdr *lat, *up;
    assert_int_equal(hdr_open_latency(&lat), LS_OK);
    assert_int_equal(hdr_open_latency(&up), LS_OK);
    hdr_record_n(lat, 800, 200);
    hdr_record_n(up, 700, 200);
    for (uint32_t s = 0; s < SECONDS; s++) {
        struct ds_op_second op = {.service = AWS_DYNAMODB,
                                  .op = "GetItem",
                                  .calls = 200,
                                  .throttles = 5,
                                  .retries = 20,
                                  .new_conns = 10,
                                  .latency = lat,
                                  .upstream = up};
        struct ds_attr_second at = {.step = 0,
                                    .service = AWS_DYNAMODB,
                                    .op = "GetItem",
                                    .calls = 200,
                                    .time_us = 100000,
                                    .new_conns = 10};
        struct ds_step_second rq = {.step = 0, .requests = REQ};
        struct ds_second sec = {s, &op, 1, &at, 1, &rq, 1};
        assert_int_equal(store_downstream_second(w, &sec), LS_OK);
    }
    hdr_close(lat);
    hdr_close(up);
    store_downstream_close(w);
}

static int setup(void **state)
{
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.db", dir);
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    struct store_session_info info = {
        .name = "findings",
        .scenario_path = "s.json",
        .target = "stdio: app",
        .params_json = "{\"model\":\"closed\",\"concurrency\":4,\"duration_ns\":10000000000,"
                       "\"warmup_ns\":0,\"session\":\"per_vu\"}",
        .host = "h",
        .version = "t",
        .started_unix_ns = 1};
    int64_t sid;
    assert_int_equal(store_session_begin(st, &info, &sid), LS_OK);
    assert_int_equal(sid, 1);
    assert_int_equal(store_add_step(st, sid, 0, "echo", "tools/call", 1, NULL), LS_OK);
    assert_int_equal(store_add_step(st, sid, 1, "initialize", "initialize", 0, NULL), LS_OK);
    write_intervals(st, sid);
    write_alloc(st, sid);
    write_downstream(st, sid);
    assert_int_equal(store_session_end(st, sid, 2, 0, "completed"), LS_OK);
    *state = st;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    char p[200];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static const struct adv_alloc_stack *stack_at(const struct adv_facts *f, uint32_t line,
                                              uint64_t allocs)
{
    for (size_t i = 0; i < f->alloc.nstacks; i++)
        if (f->alloc.stacks[i].blame.line == line && f->alloc.stacks[i].allocs == allocs)
            return &f->alloc.stacks[i];
    return NULL;
}

/* stack_at that must find it: fails the test otherwise (an empty stack keeps the compiler's
 * null-dereference analysis quiet, it is never read). */
static const struct adv_alloc_stack *must_stack_at(const struct adv_facts *f, uint32_t line,
                                                   uint64_t allocs)
{
    static const struct adv_alloc_stack none;
    const struct adv_alloc_stack *s = stack_at(f, line, allocs);
    if (s == NULL)
        fail_msg("no stack at line %u with %llu allocations", line, (unsigned long long)allocs);
    return s != NULL ? s : &none;
}

static void test_whole_run(void **state)
{
    struct store *st = *state;
    struct findings_facts *ff;
    char err[256] = "";
    assert_int_equal(findings_facts_new(&ff), LS_OK);
    assert_int_equal(findings_facts_session(ff, st, 1, FINDINGS_WHOLE_RUN, err, sizeof(err)),
                     LS_OK);
    const struct adv_facts *f = findings_facts_get(ff);

    assert_true(f->run.measured);
    assert_int_equal(f->run.requests, SECONDS * REQ);
    assert_true(f->run.duration_s == SECONDS);
    assert_int_equal(f->run.concurrency, 4);
    assert_false(f->run.open_loop);
    assert_false(f->gen.measured); /* not stored */

    assert_true(f->lat.measured);
    assert_true(f->lat.p50_us == 1000 && f->lat.p99_us == 1500);
    assert_true(f->lat.u_p50_us == 1000 && f->lat.u_p99_us == 1000);
    assert_int_equal(f->lat.nsteps, 1);
    assert_string_equal(f->lat.steps[0].name, "echo");
    assert_int_equal(f->lat.steps[0].requests, SECONDS * REQ);
    assert_true(f->lat.steps[0].p99_us == 1500);

    assert_true(f->mcp.measured);
    assert_int_equal(f->mcp.handshakes, 4);
    assert_float_equal(f->mcp.handshake_share, 2000.0 / (2000.0 + 1000.0 * 1000.0), 1e-12);
    assert_false(f->mcp.session_per_iteration);

    /* allocations: per request over 1000 requests; live bytes of the growing vector */
    assert_true(f->alloc.measured && f->alloc.live_measured);
    assert_int_equal(f->alloc.nstacks, 3);
    assert_float_equal(f->alloc.allocs_per_req, (2800.0 + 2000 + 3000) / 1000, 1e-12);
    const struct adv_alloc_stack *a = must_stack_at(f, 42, 2800), *b = must_stack_at(f, 42, 2000),
                                 *v = must_stack_at(f, 50, 3000);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(v);
    assert_string_equal(a->blame.function, "app::handler");
    assert_string_equal(a->blame.file, "/src/app/main.rs");
    assert_string_equal(a->label, "format!");
    assert_string_equal(a->stack, FMT_STACK);
    assert_float_equal(a->allocs_per_req, 2.8, 1e-12);
    assert_float_equal(b->allocs_per_req, 2.0, 1e-12);
    assert_float_equal(a->bytes_per_req, 2.8 * 64, 1e-9);
    assert_float_equal(v->allocs_per_req, 3.0, 1e-12);
    assert_float_equal(v->reallocs_per_req, 1.0, 1e-12); /* reallocs / requests */
    assert_int_equal(v->live_start_bytes, 0);
    assert_int_equal(v->live_end_bytes, 10000);
    assert_int_equal(f->alloc.nseries, SECONDS + 1); /* seconds 0..10, both ends */
    for (size_t i = 0; i <= SECONDS; i++)
        assert_int_equal(v->live_series[i], 1000 * (int64_t)i);

    /* the shim's inside rows: 4 runtime workers from the threads' names */
    assert_true(f->blocking.measured);
    assert_int_equal(f->blocking.n, 1);
    const struct adv_event *e = &f->blocking.ev[0];
    assert_string_equal(e->call, "sleep");
    assert_string_equal(e->blame.function, "app::handler");
    assert_string_equal(e->blame.file, "main.rs");
    assert_int_equal(e->blame.line, 60);
    assert_int_equal(e->count, 100);
    assert_float_equal(e->per_req, 0.1, 1e-12);
    assert_float_equal(e->us_per_req, 50.0, 1e-9); /* 50 ms over 1000 requests */
    assert_float_equal(e->share, 50000.0 / (SECONDS * 1e6 * 4), 1e-12); /* of 4 workers' time */
    assert_true(f->locks.measured);
    assert_int_equal(f->locks.n, 1);
    assert_int_equal(f->locks.ev[0].count, 200);
    assert_float_equal(f->locks.ev[0].us_per_req, 20.0, 1e-9);
    assert_true(f->threads.measured);
    assert_int_equal(f->threads.workers, 4);
    assert_float_equal(f->threads.parked_share, 15.0 / (SECONDS * 4), 1e-12);
    assert_float_equal(f->threads.busy_share, 1 - 15.0 / (SECONDS * 4), 1e-12);
    assert_float_equal(f->threads.creations_per_req, 0.01, 1e-12);
    assert_int_equal(f->threads.ncreations, 1);
    assert_true(f->net.measured);
    assert_int_equal(f->net.npeers, 1);
    assert_string_equal(f->net.peers[0].peer, "10.0.0.1:443");
    assert_int_equal(f->net.peers[0].new_conns, 20);
    assert_float_equal(f->net.peers[0].new_conns_per_req, 0.02, 1e-12);

    /* downstream: 2000 attempts of which 200 retries: 1800 invocations */
    assert_true(f->ds.measured);
    assert_int_equal(f->ds.nops, 1);
    const struct adv_op *o = &f->ds.ops[0];
    assert_string_equal(o->service, "dynamodb");
    assert_string_equal(o->operation, "GetItem");
    assert_int_equal(o->attempts, 2000);
    assert_int_equal(o->calls, 1800);
    assert_int_equal(o->throttles, 50);
    assert_float_equal(o->calls_per_req, 1.8, 1e-12);
    assert_float_equal(o->keys_per_call, 1.0, 0);
    assert_float_equal(o->us_per_req, 1000.0, 1e-9); /* 100 ms a second over 100 requests */
    assert_true(o->conns_measured);
    assert_float_equal(o->new_conns_per_call, 100.0 / 1800, 1e-12);
    assert_false(o->retry_gap_measured);
    findings_facts_free(ff);
}

static void test_window(void **state)
{
    struct store *st = *state;
    struct findings_facts *ff;
    char err[256] = "";
    assert_int_equal(findings_facts_new(&ff), LS_OK);
    struct findings_window w = {2, 5};
    assert_int_equal(findings_facts_session(ff, st, 1, w, err, sizeof(err)), LS_OK);
    const struct adv_facts *f = findings_facts_get(ff);
    assert_int_equal(f->run.requests, 3 * REQ);
    assert_true(f->run.duration_s == 3);
    /* the window's merged histograms: corrected 1.5 ms throughout, uncorrected 1 ms */
    assert_true(f->lat.measured);
    assert_int_equal(f->lat.nsteps, 0);
    assert_true(f->lat.p50_us >= 1500 && f->lat.p50_us < 1502);
    assert_true(f->lat.u_p99_us >= 1000 && f->lat.u_p99_us < 1002);
    assert_int_equal(f->mcp.handshakes, 0);
    /* seconds 3 and 4 of the format! site's first stack: 1400 over 300 requests */
    const struct adv_alloc_stack *a = must_stack_at(f, 42, 1400), *v = must_stack_at(f, 50, 900);
    assert_non_null(a);
    assert_non_null(v);
    assert_float_equal(a->allocs_per_req, 1400.0 / 300, 1e-12);
    assert_int_equal(v->live_start_bytes, 2000); /* at the end of second 1 */
    assert_int_equal(v->live_end_bytes, 5000);
    assert_int_equal(f->alloc.nseries, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(v->live_series[i], 2000 + 1000 * (int64_t)i);
    assert_int_equal(f->blocking.ev[0].count, 30);
    assert_float_equal(f->blocking.ev[0].share, 15000.0 / (3 * 1e6 * 4), 1e-12);
    assert_float_equal(f->threads.parked_share, 4.5 / (3 * 4), 1e-12);
    assert_int_equal(f->ds.ops[0].attempts, 600);
    assert_int_equal(f->ds.ops[0].calls, 540);
    assert_float_equal(f->ds.ops[0].calls_per_req, 1.8, 1e-12);
    findings_facts_free(ff);
}

/* The first finding, its strings copied. */
struct first {
    uint32_t rank;
    int64_t first_s, last_s;
    char *rule, *evidence, *where;
};

static int collect(void *ctx, const struct store_finding *f)
{
    struct first *out = ctx;
    if (f->rank == 1) {
        *out = (struct first){.rank = f->rank,
                              .first_s = f->first_s,
                              .last_s = f->last_s,
                              .rule = strdup(f->rule),
                              .evidence = strdup(f->evidence),
                              .where = strdup(f->where)};
    }
    return 0;
}

static void first_free(struct first *f)
{
    free(f->rule);
    free(f->evidence);
    free(f->where);
    memset(f, 0, sizeof(*f));
}

static void test_store_and_export(void **state)
{
    struct store *st = *state;
    char err[256] = "";
    struct adv_report r;
    /* computed from storage before anything is stored */
    struct first got = {0};
    bool computed = false;
    assert_int_equal(findings_each(st, 1, collect, &got, &computed, err, sizeof(err)), LS_OK);
    assert_true(computed);
    assert_string_equal(got.rule, "alloc.format_in_hot_path");
    first_free(&got);

    assert_int_equal(findings_store(st, 1, &r, err, sizeof(err)), LS_OK);
    assert_true(r.n >= 1);
    /* the headless summary's end: the findings, then what was not measured in one line */
    char *sum = NULL;
    size_t sumlen = 0;
    FILE *sf = open_memstream(&sum, &sumlen);
    findings_print(sf, &r);
    fclose(sf);
    assert_true(strncmp(sum, "Findings\n1. [warning] ", strlen("Findings\n1. [warning] ")) == 0);
    assert_non_null(strstr(sum, "(alloc.format_in_hot_path)\n"));
    assert_non_null(strstr(sum, "4.80 format! allocations per request"));
    assert_non_null(strstr(sum, "app::handler (main.rs:42)"));
    assert_non_null(strstr(sum, "\nNot measured: load.generator_saturated, cpu.hot_function\n"));
    free(sum);
    assert_string_equal(r.findings[0].rule, "alloc.format_in_hot_path");
    assert_true(strncmp(r.findings[0].evidence, "4.80 format! allocations per request", 36) == 0);
    assert_string_equal(r.findings[0].where, "app::handler (main.rs:42)");
    for (size_t i = 0; i < r.n; i++)
        assert_true(r.findings[i].severity == ADV_INFO || i == 0);
    adv_report_free(&r);

    size_t n = 0;
    assert_int_equal(store_findings_each(st, 1, collect, &got, &n), LS_OK);
    assert_true(n >= 1);
    assert_int_equal(got.rank, 1);
    assert_string_equal(got.rule, "alloc.format_in_hot_path");
    /* windows of 5 s: [0,5) has 2400 over 500 requests (4.8) first, [5,10) 2400 over 500 last */
    assert_int_equal(got.first_s, 4);
    assert_int_equal(got.last_s, 9);
    first_free(&got);
    computed = true;
    assert_int_equal(findings_each(st, 1, NULL, NULL, &computed, err, sizeof(err)), LS_OK);
    assert_false(computed); /* read back, not computed */

    /* the CSV export: the exact columns and the first row */
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    struct export_opts o = {.what = "findings", .format = "csv"};
    assert_int_equal(export_session(st, 1, &o, mf, NULL, err, sizeof(err)), LS_OK);
    fclose(mf);
    const char *head = "rank,rule,severity,title,evidence,where,fix,impact,confidence,first_s,"
                       "last_s\r\n1,alloc.format_in_hot_path,warning,";
    assert_true(strncmp(buf, head, strlen(head)) == 0);
    assert_non_null(strstr(buf, ",app::handler (main.rs:42),"));
    assert_non_null(strstr(buf, ",4,9\r\n"));
    free(buf);
    /* markdown: the run, then the finding with its evidence, where, change and effect */
    mf = open_memstream(&buf, &len);
    o.format = "markdown";
    assert_int_equal(export_session(st, 1, &o, mf, NULL, err, sizeof(err)), LS_OK);
    fclose(mf);
    assert_non_null(strstr(buf, "- **Load:** closed loop, 4 virtual users, 10 s\n"));
    assert_non_null(strstr(buf, "- **Results:** 1000 requests (100.0/s), 0 errors (0.00%)"));
    assert_non_null(strstr(buf, "### 1. [warning] "));
    assert_non_null(strstr(buf, "- **Evidence:** 4.80 format! allocations per request"));
    assert_non_null(strstr(buf, "- **Where:** `app::handler (main.rs:42)`"));
    assert_non_null(strstr(buf, "- **Proposed change:** reuse a buffer"));
    assert_non_null(strstr(buf, "- **Seen:** seconds 4 to 9 of the run"));
    free(buf);
    o.what = "summary";
    assert_int_equal(export_check(&o, err, sizeof(err)), LS_ERR_INVALID);
    assert_string_equal(err, "--format markdown is for --what findings only");
}

/* The live models, fed what the session stored, as a replay feeds them. */
struct live_models {
    struct live *lv;
    struct live_snapshot *snap;
    struct hotpaths *hp;
    struct alloc_inside_model *in;
    struct ds_model *ds;
};

static int feed_interval(void *ctx, const struct store_interval *iv)
{
    struct live_models *m = ctx;
    struct live_stored ls = {.second = iv->second,
                             .step = iv->step,
                             .warmup = iv->warmup,
                             .count = iv->count,
                             .errors = iv->errors,
                             .late = iv->late,
                             .p50_us = iv->p50_us,
                             .p99_us = iv->p99_us,
                             .max_us = iv->max_us,
                             .u_p50_us = iv->u_p50_us,
                             .u_p99_us = iv->u_p99_us,
                             .hist = iv->hist,
                             .hist_len = iv->hist_len,
                             .u_hist = iv->u_hist,
                             .u_hist_len = iv->u_hist_len};
    assert_int_equal(live_on_stored(m->lv, &ls), LS_OK);
    return 0;
}

/* The live builder over the live models gives the stored session's whole-run facts. */
static void test_live_agrees(void **state)
{
    struct store *st = *state;
    char err[256] = "";
    struct live_models m = {0};
    const char *names[] = {"echo"};
    struct live_info li = {.scenario = "findings",
                           .target = "stdio: app",
                           .load = "closed",
                           .step_names = names,
                           .nsteps = 1,
                           .duration_ns = 10000000000ull};
    assert_int_equal(live_open(&li, &m.lv), LS_OK);
    assert_int_equal(store_intervals_each(st, 1, INT32_MIN, feed_interval, &m), LS_OK);
    assert_int_equal(live_snapshot_new(m.lv, &m.snap), LS_OK);
    live_snapshot_take(m.lv, m.snap);
    assert_int_equal(hotpaths_load(st, 1, &m.hp, err, sizeof(err)), LS_OK);
    assert_int_equal(alloc_inside_model_open(&m.in), LS_OK);
    assert_int_equal(store_inside_load(st, 1, m.in), LS_OK);
    assert_int_equal(ds_model_open(&m.ds), LS_OK);
    assert_int_equal(store_downstream_model(st, 1, m.ds), LS_OK);

    struct findings_facts *lf, *sf;
    assert_int_equal(findings_facts_new(&lf), LS_OK);
    assert_int_equal(findings_facts_new(&sf), LS_OK);
    struct findings_live src = {.snap = m.snap,
                                .hot = m.hp,
                                .frees_seen = true,
                                .inside = m.in,
                                .ds = m.ds,
                                .concurrency = 4};
    assert_int_equal(findings_facts_live(lf, &src), LS_OK);
    assert_int_equal(findings_facts_session(sf, st, 1, FINDINGS_WHOLE_RUN, err, sizeof(err)),
                     LS_OK);
    const struct adv_facts *a = findings_facts_get(lf), *b = findings_facts_get(sf);
    assert_int_equal(a->run.requests, b->run.requests);
    assert_true(a->run.duration_s == b->run.duration_s);
    assert_true(a->lat.p50_us == b->lat.p50_us);
    assert_int_equal(a->alloc.nstacks, b->alloc.nstacks);
    assert_int_equal(a->alloc.nseries, b->alloc.nseries);
    assert_true(a->alloc.allocs_per_req == b->alloc.allocs_per_req);
    for (size_t i = 0; i < a->alloc.nstacks; i++) {
        const struct adv_alloc_stack *x = &a->alloc.stacks[i];
        const struct adv_alloc_stack *y = stack_at(b, x->blame.line, x->allocs);
        if (y == NULL) {
            fail_msg("stack at line %u with %llu allocations: not in the replayed facts", x->blame.line,
                     (unsigned long long)x->allocs);
            return;
        }
        assert_true(x->allocs_per_req == y->allocs_per_req);
        assert_true(x->reallocs_per_req == y->reallocs_per_req);
        assert_int_equal(x->live_end_bytes, y->live_end_bytes);
        assert_memory_equal(x->live_series, y->live_series, a->alloc.nseries * sizeof(int64_t));
    }
    assert_int_equal(a->blocking.n, b->blocking.n);
    assert_true(a->blocking.ev[0].share == b->blocking.ev[0].share);
    assert_true(a->blocking.ev[0].us_per_req == b->blocking.ev[0].us_per_req);
    assert_int_equal(a->threads.workers, b->threads.workers);
    assert_true(a->threads.busy_share == b->threads.busy_share);
    assert_int_equal(a->ds.nops, b->ds.nops);
    assert_int_equal(a->ds.ops[0].calls, b->ds.ops[0].calls);
    assert_true(a->ds.ops[0].us_per_req == b->ds.ops[0].us_per_req);
    struct adv_report ra, rb;
    assert_int_equal(adv_evaluate(a, &ra), LS_OK);
    assert_int_equal(adv_evaluate(b, &rb), LS_OK);
    assert_true(ra.n >= 1 && ra.n == rb.n);
    for (size_t i = 0; i < ra.n; i++) {
        assert_string_equal(ra.findings[i].rule, rb.findings[i].rule);
        assert_string_equal(ra.findings[i].evidence, rb.findings[i].evidence);
    }
    adv_report_free(&ra);
    adv_report_free(&rb);
    findings_facts_free(lf);
    findings_facts_free(sf);
    live_snapshot_free(m.snap);
    live_close(m.lv);
    hotpaths_close(m.hp);
    alloc_inside_model_close(m.in);
    ds_model_close(m.ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_run),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_live_agrees),
        cmocka_unit_test(test_store_and_export),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
