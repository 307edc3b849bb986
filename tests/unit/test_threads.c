/*
 * test_threads: the thread sampler on a real process whose threads do
 * known things (fixtures/threads/inside_threads.c): two spin, two sleep in
 * nanosleep, one waits on a mutex, and a spawner creates a known number of
 * short threads. On a 2-core machine shared with other jobs (load 10 while
 * this was written) the assertions are the robust facts: a spinner is
 * runnable or running (state R) nearly always, however little CPU it gets;
 * a blocked sleeper is seen in nanosleep, the waiter in futex; the
 * creations are counted exactly. And the model on hand-made rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_child.h"
#include "target/procstat.h"
#include "target/threads.h"

#define SPAWN_PER_S 5
#define SPAWN_SECONDS 3

struct sink_seen {
    int seconds;
    uint32_t created;           /* summed over the seconds handed to the sink */
    int warnings;
};

static void on_second(void *ctx, const struct threads_second *s)
{
    struct sink_seen *k = ctx;
    k->seconds++;
    for (size_t i = 0; i < s->ngroups; i++)
        k->created += s->groups[i].created;
}

static void on_event(void *ctx, const char *kind, const char *msg)
{
    (void)kind;
    (void)msg;
    ((struct sink_seen *)ctx)->warnings++;
}

static const struct threads_group_view *group(const struct threads_group_view *v, size_t n,
                                              const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].run.name, name) == 0)
            return &v[i];
    return NULL;
}

/* Samples of group g whose system call's name contains what. */
static uint32_t in_call(const struct threads_group_second *g, const char *what)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->nsys; i++) {
        const char *name = procstat_syscall_name(g->sys[i].nr);
        if (name && strstr(name, what))
            n += g->sys[i].samples;
    }
    return n;
}

static void test_sampler(void **state)
{
    (void)state;
    char per[8], secs[8], line[64];
    snprintf(per, sizeof(per), "%d", SPAWN_PER_S);
    snprintf(secs, sizeof(secs), "%d", SPAWN_SECONDS);
    char *argv[] = {(char *)(uintptr_t)LS_INSIDE_THREADS, per, secs, NULL};
    struct fixture_child c = {0};
    assert_true(child_start(&c, argv));
    assert_true(child_line(&c, line, sizeof(line), 5000));
    assert_string_equal(line, "ready");

    struct sink_seen seen = {0};
    struct threads_sink sink = {.ctx = &seen, .second = on_second, .event = on_event};
    struct threads_opts o = {.pid = c.pid, .hz = 100};
    struct threads *t = NULL;
    char err[256] = "";
    assert_int_equal(threads_open(&o, &sink, &t, err, sizeof(err)), LS_OK);
    usleep(300000); /* the threads there from the start are the baseline */
    assert_true(child_go(&c));
    assert_true(child_line(&c, line, sizeof(line), 20000));
    char want[32];
    snprintf(want, sizeof(want), "done %d", SPAWN_PER_S * SPAWN_SECONDS);
    assert_string_equal(line, want);
    usleep(200000);
    kill(c.pid, SIGKILL);
    child_reap(&c);
    threads_finish(t);

    struct threads_status st;
    threads_status(t, &st);
    struct threads_group_view v[16];
    uint32_t last = 0;
    size_t n = threads_snapshot(t, v, 16, &last);
    for (size_t i = 0; i < n; i++) {
        const struct threads_group_second *r = &v[i].run;
        char s0[32] = "", s1[32] = "";
        if (r->nsys > 0)
            procstat_syscall_text(r->sys[0].nr, s0, sizeof(s0));
        if (r->nsys > 1)
            procstat_syscall_text(r->sys[1].nr, s1, sizeof(s1));
        printf("  %-16s threads %2u created %3u cpu %5.1f%% run %.2f wait %.2f blocked %.2f "
               "R/S/D %u/%u/%u of %u; %s %u, %s %u\n",
               r->name, r->threads, r->created, r->cpu_pct, r->running, r->runnable, r->blocked,
               r->state_r, r->state_s, r->state_d, r->samples, s0, r->nsys > 0 ? r->sys[0].samples : 0,
               s1, r->nsys > 1 ? r->sys[1].samples : 0);
    }
    printf("  %llu passes (%llu late), %.1f us a pass, %d seconds\n", (unsigned long long)st.passes,
           (unsigned long long)st.late_passes,
           st.passes ? (double)st.pass_ns_total / (double)st.passes / 1000.0 : 0.0, seen.seconds);

    assert_false(st.running);
    assert_true(st.have_sched);
    assert_true(st.have_syscall);
    assert_int_equal(seen.warnings, 0);
    assert_true(st.passes >= 60); /* about 4 s at 100 Hz; at least 15 a second however busy */
    assert_int_equal(seen.seconds, last + 1);

    const struct threads_group_view *spin = group(v, n, "spin-");
    const struct threads_group_view *nap = group(v, n, "nap-");
    const struct threads_group_view *lock = group(v, n, "lockwait");
    const struct threads_group_view *shorts = group(v, n, "short-");
    if (spin == NULL || nap == NULL || lock == NULL || shorts == NULL) {
        fail_msg("a thread group is missing");
        return;
    }

    /* spinners: runnable or running nearly always, however the cores are shared */
    assert_int_equal(spin->run.threads, 2);
    assert_true(spin->run.state_r >= spin->run.samples * 9 / 10);
    assert_true(spin->run.running + spin->run.runnable >= 0.9);
    assert_true(spin->run.cpu_pct > 10.0); /* two spinners, whatever else runs */
    assert_int_equal(spin->run.created, 0);

    /*
     * sleepers: blocked in nanosleep (glibc calls clock_nanosleep). On a busy
     * machine a woken sleeper waits its turn for a CPU (state R) for a good
     * share of the time, so the call is asserted of the blocked observations.
     */
    assert_int_equal(nap->run.threads, 2);
    uint32_t nap_blocked = nap->run.state_s + nap->run.state_d;
    assert_true(nap_blocked >= nap->run.samples / 2);
    assert_true(in_call(&nap->run, "nanosleep") >= nap_blocked * 9 / 10);
    assert_true(nap->run.cpu_pct < 10.0);

    /* the mutex waiter: in futex, never running */
    assert_int_equal(lock->run.threads, 1);
    assert_true(in_call(&lock->run, "futex") >= lock->run.samples * 9 / 10);
    assert_true(lock->run.blocked >= 0.9);

    /* creations: exactly the short threads spawned */
    assert_int_equal(shorts->run.created, SPAWN_PER_S * SPAWN_SECONDS);
    assert_int_equal(seen.created, SPAWN_PER_S * SPAWN_SECONDS);
    threads_close(t);
}

static void test_no_process(void **state)
{
    (void)state;
    struct threads_opts o = {.pid = 999999999};
    struct threads *t = NULL;
    char err[256] = "";
    assert_int_equal(threads_open(&o, NULL, &t, err, sizeof(err)), LS_ERR_NOTFOUND);
    assert_null(t);
    assert_non_null(strstr(err, "999999999"));
    threads_close(NULL);
}

static void test_model(void **state)
{
    (void)state;
    struct threads_model *m = NULL;
    assert_int_equal(threads_model_new(&m), LS_OK);
    struct threads_group_second a[2] = {
        {.pid = 7, .name = "worker-", .threads = 4, .created = 2, .cpu_pct = 150, .running = 0.4,
         .runnable = 0.1, .blocked = 0.5, .samples = 400, .state_r = 200, .state_s = 200, .nsys = 2,
         .sys = {{202, 150}, {232, 50}}},
        {.pid = 7, .name = "main", .threads = 1, .cpu_pct = 1, .blocked = 1, .samples = 100,
         .state_s = 100, .nsys = 1, .sys = {{232, 100}}},
    };
    struct threads_group_second b[1] = {
        {.pid = 7, .name = "worker-", .threads = 6, .created = 4, .cpu_pct = 50, .running = 0.2,
         .runnable = 0, .blocked = 0.8, .samples = 600, .state_r = 120, .state_s = 480, .nsys = 1,
         .sys = {{232, 480}}},
    };
    struct threads_second s1 = {.second = 3, .groups = a, .ngroups = 2};
    struct threads_second s0 = {.second = 4, .groups = b, .ngroups = 1};
    assert_int_equal(threads_model_add(m, &s0), LS_OK);
    assert_int_equal(threads_model_add(m, &s1), LS_OK); /* an earlier second, later */
    threads_model_requests(m, 3, 100);
    threads_model_requests(m, 4, 200);
    threads_model_requests(m, 5, 999); /* not added: not counted */
    struct threads_group_view v[4];
    uint32_t last = 0;
    assert_int_equal(threads_model_rows(m, v, 4, &last), 2);
    assert_int_equal(last, 4);
    assert_string_equal(v[0].run.name, "worker-");
    assert_int_equal(v[0].seconds, 2);
    assert_true(v[0].run.cpu_pct > 99.9 && v[0].run.cpu_pct < 100.1);
    assert_int_equal(v[0].run.threads, 6);
    assert_int_equal(v[0].run.created, 6);
    assert_true(v[0].created_per_req > 0.0199 && v[0].created_per_req < 0.0201);
    /* shares weighted by samples: (0.4*400 + 0.2*600) / 1000 */
    assert_true(v[0].run.running > 0.279 && v[0].run.running < 0.281);
    assert_int_equal(v[0].run.nsys, 2);
    assert_int_equal(v[0].run.sys[0].nr, 232);
    assert_int_equal(v[0].run.sys[0].samples, 530);
    assert_int_equal(v[0].last.threads, 6); /* the latest second's row */
    assert_string_equal(v[1].run.name, "main");
    assert_int_equal(v[1].last.samples, 0); /* absent from the latest second */
    threads_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_no_process),
        cmocka_unit_test(test_sampler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
