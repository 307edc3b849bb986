/*
 * test_store_threads: the thread and CPU profile tables. Hand-made seconds
 * written and read back field by field; then the real sampler and profiler
 * on a fixture process (fixtures/threads/burn_cpu.c) writing through the
 * writers, and the models fed back from SQLite showing the same rows as the
 * live ones (replay cannot disagree with the live screens).
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fixture_child.h"
#include "store.h"
#include "store_threads.h"
#include "target/cpuprof.h"
#include "target/procstat.h"
#include "target/threads.h"
#include "util/clock.h"

static char dir[256], path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/ls-store-threads-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/s.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int64_t new_session(struct store *st, const char *name)
{
    struct store_session_info info = {.name = name, .target = "fixture", .version = "test",
                                      .started_unix_ns = ls_unix_ns()};
    int64_t id = 0;
    assert_int_equal(store_session_begin(st, &info, &id), LS_OK);
    return id;
}

/* Requests per second, as the run's writer stores them. */
static void put_requests(uint32_t second, uint64_t count)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof(sql), "INSERT INTO intervals(session_id, second, step, count) VALUES(1, %u, -1, %llu)",
             second, (unsigned long long)count);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

struct read_back {
    int seconds;
    struct threads_second sec[4];
    struct threads_group_second g[4][4];
};

static int on_read_second(void *ctx, const struct threads_second *s)
{
    struct read_back *r = ctx;
    if (r->seconds < 4 && s->ngroups <= 4) {
        memcpy(r->g[r->seconds], s->groups, s->ngroups * sizeof(*s->groups));
        r->sec[r->seconds] = *s;
        r->sec[r->seconds].groups = r->g[r->seconds];
    }
    r->seconds++;
    return 0;
}

static void test_threads_roundtrip(void **state)
{
    (void)state;
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    int64_t sid = new_session(st, "threads");
    assert_int_equal(sid, 1);
    struct store_threads *w = NULL;
    assert_int_equal(store_threads_open(st, sid, &w), LS_OK);

    struct threads_group_second g0[2] = {
        {.pid = 42, .name = "tokio-runtime-w", .threads = 4, .created = 1, .cpu_pct = 123.5,
         .running = 0.25, .runnable = 0.05, .blocked = 0.7, .samples = 400, .state_r = 120,
         .state_s = 270, .state_d = 10, .nsys = 2, .sys = {{SYS_futex, 200}, {SYS_epoll_pwait, 80}}},
        {.pid = 42, .name = "main", .threads = 1, .cpu_pct = 0.5, .blocked = 1, .samples = 100,
         .state_s = 100, .nsys = 1, .sys = {{PROCSTAT_SYS_NONE, 100}}},
    };
    struct threads_group_second g1[1] = {
        {.pid = 42, .name = "tokio-runtime-w", .threads = 5, .created = 3, .cpu_pct = 180,
         .running = 0.4, .runnable = 0.1, .blocked = 0.5, .samples = 500, .state_r = 250,
         .state_s = 250, .nsys = 1, .sys = {{SYS_futex, 250}}},
    };
    struct threads_second s0 = {.second = 3, .passes = 100, .have_sched = true, .have_syscall = true,
                                .groups = g0, .ngroups = 2};
    struct threads_second s1 = {.second = 4, .passes = 99, .have_sched = true, .have_syscall = false,
                                .groups = g1, .ngroups = 1};
    assert_int_equal(store_threads_second(w, &s0), LS_OK);
    assert_int_equal(store_threads_second(w, &s1), LS_OK);
    assert_string_equal(store_threads_errmsg(w), "");
    store_threads_close(w);
    put_requests(3, 100);
    put_requests(4, 100);

    struct read_back r = {0};
    assert_int_equal(store_threads_each_second(st, sid, on_read_second, &r), LS_OK);
    assert_int_equal(r.seconds, 2);
    assert_int_equal(r.sec[0].second, 3);
    assert_int_equal(r.sec[0].passes, 100);
    assert_true(r.sec[0].have_sched && r.sec[0].have_syscall);
    assert_false(r.sec[1].have_syscall);
    assert_int_equal(r.sec[0].ngroups, 2);
    /* ordered by pid then name: "main" first */
    const struct threads_group_second *m = &r.sec[0].groups[0], *t = &r.sec[0].groups[1];
    assert_string_equal(m->name, "main");
    assert_int_equal(m->nsys, 1);
    assert_int_equal(m->sys[0].nr, PROCSTAT_SYS_NONE);
    assert_string_equal(t->name, "tokio-runtime-w");
    assert_int_equal(t->threads, 4);
    assert_int_equal(t->created, 1);
    assert_true(t->cpu_pct > 123.49 && t->cpu_pct < 123.51);
    assert_true(t->running > 0.249 && t->running < 0.251);
    assert_int_equal(t->samples, 400);
    assert_int_equal(t->state_d, 10);
    assert_int_equal(t->nsys, 2);
    assert_int_equal(t->sys[0].nr, SYS_futex);
    assert_int_equal(t->sys[0].samples, 200);
    assert_int_equal(t->sys[1].nr, SYS_epoll_pwait);

    /* the stored name of the call, for a database read on another machine */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(syscall_name, ',') FROM (SELECT"
                                            " syscall_name FROM thread_syscalls ORDER BY second,"
                                            " name, samples DESC)", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "no call,futex,epoll_pwait,futex");
    sqlite3_finalize(q);
    sqlite3_close(db);

    /* the model fed from storage */
    struct threads_model *mod = NULL;
    assert_int_equal(threads_model_new(&mod), LS_OK);
    assert_int_equal(store_threads_load(st, sid, mod), LS_OK);
    struct threads_group_view v[4];
    uint32_t last = 0;
    assert_int_equal(threads_model_rows(mod, v, 4, &last), 2);
    assert_int_equal(last, 4);
    assert_string_equal(v[0].run.name, "tokio-runtime-w");
    assert_int_equal(v[0].run.created, 4);
    assert_true(v[0].created_per_req > 0.0199 && v[0].created_per_req < 0.0201);
    assert_int_equal(v[0].last.threads, 5);
    threads_model_free(mod);
    store_close(st);
}

struct cpu_read {
    int stacks, seconds;
    uint64_t samples;
    char folded[2][64];
};

static int on_cpu_stack(void *ctx, const struct cpu_stack_info *s)
{
    struct cpu_read *r = ctx;
    if (r->stacks < 2)
        snprintf(r->folded[r->stacks], sizeof(r->folded[0]), "%s", s->folded);
    r->stacks++;
    return 0;
}

static int on_cpu_second(void *ctx, const struct cpu_second *s)
{
    struct cpu_read *r = ctx;
    r->seconds++;
    for (size_t i = 0; i < s->nrows; i++)
        r->samples += s->rows[i].samples;
    return 0;
}

static void test_cpu_roundtrip(void **state)
{
    (void)state;
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    int64_t sid = new_session(st, "cpu");
    struct store_cpu *w = NULL;
    assert_int_equal(store_cpu_open(st, sid, &w), LS_OK);
    struct cpu_stack_info a = {.key = 1, .pid = 9, .depth = 5, .kernel = false,
                               .leaf_function = "serde_json::de::parse", .leaf_file = "src/de.rs",
                               .leaf_line = 120, .blame_function = "handler", .blame_file = "src/main.rs",
                               .blame_line = 33, .frames = "serde_json::de::parse (src/de.rs:120)\nhandler",
                               .folded = "main;handler;serde_json::de::parse"};
    struct cpu_stack_info b = {.key = 2, .pid = 9, .depth = 2, .kernel = true,
                               .leaf_function = "[kernel]", .leaf_file = "", .blame_function = "write",
                               .blame_file = "", .frames = "[kernel]\nwrite", .folded = "write;[kernel]"};
    assert_int_equal(store_cpu_stack(w, &a), LS_OK);
    assert_int_equal(store_cpu_stack(w, &b), LS_OK);
    struct cpu_row r0[] = {{1, 70}, {2, 29}};
    struct cpu_second s0 = {.second = 0, .period_ns = 10101010, .samples = 99, .shallow = 29, .lost = 1,
                            .rows = r0, .nrows = 2};
    struct cpu_second s1 = {.second = 1, .period_ns = 10101010}; /* an idle second */
    assert_int_equal(store_cpu_second(w, &s0), LS_OK);
    assert_int_equal(store_cpu_second(w, &s1), LS_OK);
    store_cpu_close(w);

    struct cpu_read r = {0};
    assert_int_equal(store_cpu_each_stack(st, sid, on_cpu_stack, &r), LS_OK);
    assert_int_equal(store_cpu_each_second(st, sid, on_cpu_second, &r), LS_OK);
    assert_int_equal(r.stacks, 2);
    assert_string_equal(r.folded[1], "write;[kernel]");
    assert_int_equal(r.seconds, 2);
    assert_int_equal(r.samples, 99);

    struct cpuprof_model *m = NULL;
    assert_int_equal(cpuprof_model_new(&m), LS_OK);
    assert_int_equal(store_cpu_load(st, sid, m), LS_OK);
    struct cpu_hot h[4];
    assert_int_equal(cpuprof_model_stacks(m, h, 4), 2);
    assert_string_equal(h[0].s.leaf_function, "serde_json::de::parse");
    assert_string_equal(h[0].s.leaf_file, "src/de.rs");
    assert_int_equal(h[0].s.leaf_line, 120);
    assert_int_equal(h[0].s.blame_line, 33);
    assert_int_equal(h[0].s.depth, 5);
    assert_true(h[1].s.kernel);
    assert_int_equal(h[0].samples, 70);
    struct cpu_totals t;
    cpuprof_model_totals(m, &t);
    assert_int_equal(t.samples, 99);
    assert_int_equal(t.lost, 1);
    assert_int_equal(t.shallow, 29);
    assert_int_equal(t.period_ns, 10101010);
    assert_int_equal(t.seconds, 2);
    cpuprof_model_free(m);
    store_close(st);
}

/* ---- live and replay ------------------------------------------------------------------- */

struct writers {
    struct store_threads *tw;
    struct store_cpu *cw;
    _Atomic int errors;         /* the sampler's and the profiler's threads both count here */
};

static void sink_threads(void *ctx, const struct threads_second *s)
{
    struct writers *w = ctx;
    w->errors += store_threads_second(w->tw, s) != LS_OK;
}

static void sink_stack(void *ctx, const struct cpu_stack_info *s)
{
    struct writers *w = ctx;
    w->errors += store_cpu_stack(w->cw, s) != LS_OK;
}

static void sink_cpu(void *ctx, const struct cpu_second *s)
{
    struct writers *w = ctx;
    w->errors += store_cpu_second(w->cw, s) != LS_OK;
}

static void test_live_and_replay(void **state)
{
    (void)state;
    struct store *st = NULL;
    char err[512] = "";
    assert_int_equal(store_open(path, &st, err, sizeof(err)), LS_OK);
    int64_t sid = new_session(st, "live");
    struct writers w = {0};
    assert_int_equal(store_threads_open(st, sid, &w.tw), LS_OK);
    assert_int_equal(store_cpu_open(st, sid, &w.cw), LS_OK);

    char *argv[] = {(char *)(uintptr_t)LS_BURN_CPU, (char *)(uintptr_t)"1", NULL};
    struct fixture_child c = {0};
    char line[64];
    assert_true(child_start(&c, argv));
    assert_true(child_line(&c, line, sizeof(line), 5000));
    uint64_t origin = (uint64_t)ls_unix_ns();
    struct threads_opts to = {.pid = c.pid, .hz = 100};
    struct threads_sink ts = {.ctx = &w, .second = sink_threads};
    struct cpuprof_opts co = {.pid = c.pid};
    struct cpuprof_sink cs = {.ctx = &w, .stack = sink_stack, .second = sink_cpu};
    struct threads *t = NULL;
    struct cpuprof *p = NULL;
    assert_int_equal(threads_open(&to, &ts, &t, err, sizeof(err)), LS_OK);
    assert_int_equal(cpuprof_open(&co, &cs, &p, err, sizeof(err)), LS_OK);
    threads_set_origin(t, origin);
    cpuprof_set_origin(p, origin);
    assert_true(child_go(&c));
    assert_true(child_line(&c, line, sizeof(line), 30000));
    child_reap(&c);
    threads_finish(t);
    cpuprof_finish(p);
    assert_int_equal(w.errors, 0);
    store_threads_close(w.tw);
    store_cpu_close(w.cw);

    /* threads: the live snapshot and the model fed from SQLite */
    struct threads_group_view live[16], back[16];
    uint32_t ll = 0, bl = 0;
    size_t nl = threads_snapshot(t, live, 16, &ll);
    struct threads_model *tm = NULL;
    assert_int_equal(threads_model_new(&tm), LS_OK);
    assert_int_equal(store_threads_load(st, sid, tm), LS_OK);
    size_t nb = threads_model_rows(tm, back, 16, &bl);
    assert_true(nl >= 2); /* burn_cpu's main thread, early, burner */
    assert_int_equal(nb, nl);
    assert_int_equal(bl, ll);
    for (size_t i = 0; i < nl; i++) {
        printf("  threads %-10s cpu %6.1f%% live, %6.1f%% replayed; samples %u / %u\n", live[i].run.name,
               live[i].run.cpu_pct, back[i].run.cpu_pct, live[i].run.samples, back[i].run.samples);
        assert_string_equal(back[i].run.name, live[i].run.name);
        assert_int_equal(back[i].run.samples, live[i].run.samples);
        assert_int_equal(back[i].run.created, live[i].run.created);
        assert_int_equal(back[i].run.threads, live[i].run.threads);
        assert_int_equal(back[i].run.nsys, live[i].run.nsys);
        assert_true(back[i].run.cpu_pct > live[i].run.cpu_pct - 1e-6 &&
                    back[i].run.cpu_pct < live[i].run.cpu_pct + 1e-6);
    }
    threads_model_free(tm);

    /* CPU: the same stacks and functions */
    struct cpu_hot lh[32], bh[32];
    size_t nlh = cpuprof_stacks(p, lh, 32);
    struct cpuprof_model *cm = NULL;
    assert_int_equal(cpuprof_model_new(&cm), LS_OK);
    assert_int_equal(store_cpu_load(st, sid, cm), LS_OK);
    size_t nbh = cpuprof_model_stacks(cm, bh, 32);
    assert_true(nlh > 0);
    assert_int_equal(nbh, nlh);
    for (size_t i = 0; i < nlh; i++) {
        assert_int_equal(bh[i].s.key, lh[i].s.key);
        assert_int_equal(bh[i].samples, lh[i].samples);
        assert_string_equal(bh[i].s.folded, lh[i].s.folded);
        assert_string_equal(bh[i].s.leaf_file, lh[i].s.leaf_file);
    }
    struct cpu_fn lf[8], bf[8];
    size_t nlf = cpuprof_functions(p, CPU_FN_SELF, lf, 8);
    assert_int_equal(cpuprof_model_functions(cm, CPU_FN_SELF, bf, 8), nlf);
    assert_string_equal(lf[0].function, "burn_cpu_here");
    for (size_t i = 0; i < nlf; i++) {
        assert_string_equal(bf[i].function, lf[i].function);
        assert_int_equal(bf[i].self_samples, lf[i].self_samples);
        assert_int_equal(bf[i].line, lf[i].line);
    }
    printf("  cpu: %zu stacks, top %s %.1f%% (%s:%u), live and replayed alike\n", nlh, lf[0].function,
           100 * lf[0].share, strrchr(lf[0].file, '/') ? strrchr(lf[0].file, '/') + 1 : lf[0].file,
           lf[0].line);
    cpuprof_model_free(cm);
    threads_close(t);
    cpuprof_close(p);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_roundtrip),
        cmocka_unit_test(test_cpu_roundtrip),
        cmocka_unit_test(test_live_and_replay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
