/*
 * test_procstat: the one /proc reader. The parsers on captured text (a name
 * holding spaces and parentheses, tokio's cut worker name, every shape of a
 * syscall file); the readers on this process and on a child blocked in
 * nanosleep (its syscall file is ours to read: we are its parent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "target/procstat.h"

/* Captured from a process named "(a) b)" with prctl(PR_SET_NAME). */
static const char STAT_PARENS[] =
    "1482 ((a) b)) R 1452 1452 18296 0 -1 4194304 78 0 0 0 7 3 0 0 20 0 1 0 86411 2535424 307 "
    "18446744073709551615 94278489485312 94278489486113 140724431924672 0 0 0 0 0 0 0 0 0 17 1 0 "
    "0 0 0 0 94278489497040 94278489497664 94278810062848 140724431927772 140724431927784 "
    "140724431927784 140724431929331 0\n";
/* A tokio worker: the kernel keeps 15 bytes of "tokio-runtime-worker". */
static const char STAT_TOKIO[] =
    "1483 (tokio-runtime-w) S 1452 1452 18296 0 -1 4194368 77 0 0 0 1234 567 0 0 20 0 9 0 86413 "
    "2535424 298 18446744073709551615 94395003215872 94395003216673 140735085075952 0 0 0 0 0 0 "
    "0 0 0 -1 0 0 0 0 0 0 94395003227600 94395003228224 94396023169024 140735085078990 "
    "140735085079016 140735085079016 140735085080563 0\n";

static void test_parse_stat(void **state)
{
    (void)state;
    struct procstat_stat st;
    assert_int_equal(procstat_parse_stat(STAT_PARENS, &st), LS_OK);
    assert_int_equal(st.pid, 1482);
    assert_string_equal(st.comm, "(a) b)");
    assert_int_equal(st.state, 'R');
    assert_int_equal(st.ppid, 1452);
    assert_int_equal(st.utime_ticks, 7);
    assert_int_equal(st.stime_ticks, 3);
    assert_int_equal(st.num_threads, 1);
    assert_int_equal(st.starttime_ticks, 86411);
    assert_int_equal(st.rss_pages, 307);
    assert_int_equal(st.processor, 1);

    assert_int_equal(procstat_parse_stat(STAT_TOKIO, &st), LS_OK);
    assert_string_equal(st.comm, "tokio-runtime-w");
    assert_int_equal(st.state, 'S');
    assert_int_equal(st.utime_ticks, 1234);
    assert_int_equal(st.stime_ticks, 567);
    assert_int_equal(st.num_threads, 9);
    assert_int_equal(st.processor, 0);

    /* Cut before the resident set, no name, no number: refused. */
    assert_int_equal(procstat_parse_stat("1483 (x) S 1 1 1 0 -1 4 77 0 0 0 12 5 0 0 20 0 9 0", &st),
                     LS_ERR_PARSE);
    assert_int_equal(procstat_parse_stat("1483 x S 1 1", &st), LS_ERR_PARSE);
    assert_int_equal(procstat_parse_stat("(x) S 1 1 1 0 -1 4 77 0 0 0 12 5 0 0 20 0 9 0 1 2 3", &st),
                     LS_ERR_PARSE);
    assert_int_equal(procstat_parse_stat("", &st), LS_ERR_PARSE);
    /* A name longer than the field is cut, not overflowed. */
    char longline[512];
    snprintf(longline, sizeof(longline), "7 (%0100d) S 1 1 1 0 -1 4 77 0 0 0 12 5 0 0 20 0 9 0 1 2 3 4", 0);
    assert_int_equal(procstat_parse_stat(longline, &st), LS_OK);
    assert_int_equal(strlen(st.comm), sizeof(st.comm) - 1);
    assert_int_equal(st.processor, -1);
}

static void test_parse_syscall(void **state)
{
    (void)state;
    struct procstat_syscall sc;
    assert_int_equal(procstat_parse_syscall("running\n", &sc), LS_OK);
    assert_int_equal(sc.nr, PROCSTAT_SYS_RUNNING);
    assert_int_equal(procstat_parse_syscall("-1 0x7ffcf5c6a748 0x7f5042f392ad\n", &sc), LS_OK);
    assert_int_equal(sc.nr, PROCSTAT_SYS_NONE);
    assert_int_equal(sc.pc, 0x7f5042f392adull);
    assert_int_equal(procstat_parse_syscall(
                         "202 0x55d0c8a0 0x80 0x2 0x0 0x0 0xffffffff 0x7ffde2b16f78 0x7fba55a87503\n", &sc),
                     LS_OK);
    assert_int_equal(sc.nr, 202);
    assert_int_equal(sc.args[1], 0x80);
    assert_int_equal(sc.args[5], 0xffffffffull);
    assert_int_equal(sc.sp, 0x7ffde2b16f78ull);
    assert_int_equal(procstat_parse_syscall("202 0x1 0x2\n", &sc), LS_ERR_PARSE);
    assert_int_equal(procstat_parse_syscall("garbage", &sc), LS_ERR_PARSE);

    char buf[32];
    assert_string_equal(procstat_syscall_name(SYS_futex), "futex");
    assert_string_equal(procstat_syscall_name(SYS_clock_nanosleep), "clock_nanosleep");
    assert_string_equal(procstat_syscall_name(SYS_epoll_pwait), "epoll_pwait");
#ifdef SYS_epoll_wait
    assert_string_equal(procstat_syscall_name(SYS_epoll_wait), "epoll_wait");
#endif
    assert_null(procstat_syscall_name(-1));
    assert_string_equal(procstat_syscall_text(PROCSTAT_SYS_RUNNING, buf, sizeof(buf)), "running");
    assert_string_equal(procstat_syscall_text(PROCSTAT_SYS_NONE, buf, sizeof(buf)), "no call");
    assert_string_equal(procstat_syscall_text(9999, buf, sizeof(buf)), "syscall 9999");
}

static void test_parse_small(void **state)
{
    (void)state;
    struct procstat_sched sc;
    assert_int_equal(procstat_parse_schedstat("7830381 13642211 3\n", &sc), LS_OK);
    assert_int_equal(sc.run_ns, 7830381);
    assert_int_equal(sc.wait_ns, 13642211);
    assert_int_equal(sc.timeslices, 3);
    assert_int_equal(procstat_parse_schedstat("12\n", &sc), LS_ERR_PARSE);

    uint64_t b = 0;
    const char status[] = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1360 kB\nVmRSS:\t    1332 kB\n";
    assert_true(procstat_status_kb(status, "VmHWM", &b));
    assert_int_equal(b, 1360 * 1024);
    assert_true(procstat_status_kb(status, "VmRSS", &b));
    assert_int_equal(b, 1332 * 1024);
    assert_false(procstat_status_kb(status, "VmSwap", &b));

    char g[32];
    assert_string_equal(procstat_group_name("worker-12\n", g, sizeof(g)), "worker-");
    assert_string_equal(procstat_group_name("tokio-runtime-w", g, sizeof(g)), "tokio-runtime-w");
    assert_string_equal(procstat_group_name("1234", g, sizeof(g)), "1234");
    assert_string_equal(procstat_group_name("abcdef7", g, 4), "abc");
    assert_true(procstat_is_tracer_thread("loadscope-shim"));
    assert_false(procstat_is_tracer_thread("loadscope"));

    struct procstat_group_count gc[2] = {{"tokio-runtime-w", 4}, {"main", 1}};
    char text[64];
    assert_string_equal(procstat_groups_text(gc, 2, text, sizeof(text)), "tokio-runtime-w x4, main x1");
}

static pthread_barrier_t started;
static volatile int quit;

static void *named(void *arg)
{
    prctl(PR_SET_NAME, (const char *)arg);
    pthread_barrier_wait(&started);
    while (!quit)
        usleep(1000);
    return NULL;
}

static void test_read_self(void **state)
{
    (void)state;
    pthread_t th[3];
    static char names[3][16] = {"pool-1", "pool-22", "loadscope-shim"};
    pthread_barrier_init(&started, NULL, 4);
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, named, names[i]);
    pthread_barrier_wait(&started);

    struct procstat_proc pr;
    assert_int_equal(procstat_read(getpid(), PROCSTAT_STATUS | PROCSTAT_FDS, &pr), LS_OK);
    assert_true(pr.alive);
    assert_int_equal(pr.state, 'R');
    assert_int_equal(pr.threads, 4);
    assert_true(pr.rss_bytes > 0);
    assert_true(pr.hwm_bytes >= pr.rss_bytes / 2);
    assert_true(pr.fds >= 3);
    assert_int_equal(pr.ppid, getppid());

    struct procstat_group_count g[8];
    uint32_t threads = 0;
    size_t n = procstat_thread_groups(getpid(), g, 8, &threads);
    assert_int_equal(threads, 3); /* the tracer's thread left out */
    assert_int_equal(n, 2);
    assert_string_equal(g[1].name, "pool-");
    assert_int_equal(g[1].count, 2);

    quit = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(procstat_read(999999999, 0, &pr), LS_ERR_NOTFOUND);
}

struct pass_seen {
    int tasks, sleeping_in_nanosleep, with_sched, fresh;
};

static void on_task(void *ctx, const struct procstat_task *t)
{
    struct pass_seen *s = ctx;
    s->tasks++;
    if (t->is_new)
        s->fresh++;
    if (t->have_sched)
        s->with_sched++;
    if (t->st.state == 'S' && t->have_syscall && t->sys.nr >= 0) {
        const char *name = procstat_syscall_name(t->sys.nr);
        if (name && strstr(name, "nanosleep"))
            s->sleeping_in_nanosleep++;
    }
}

static void test_tasks_child(void **state)
{
    (void)state;
    pid_t child = fork();
    if (child == 0) {
        struct timespec ts = {30, 0};
        nanosleep(&ts, NULL);
        _exit(0);
    }
    usleep(100000);
    struct procstat_tasks *t = NULL;
    assert_int_equal(procstat_tasks_open(child, PROCSTAT_TASK_SYSCALL | PROCSTAT_TASK_SCHED, &t), LS_OK);
    struct pass_seen s = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(procstat_tasks_pass(t, PROCSTAT_TASK_SYSCALL | PROCSTAT_TASK_SCHED, on_task, &s), LS_OK);
    assert_int_equal(s.tasks, 5);
    assert_int_equal(s.fresh, 0); /* it was there from the first pass */
    assert_int_equal(s.with_sched, 5);
    assert_int_equal(s.sleeping_in_nanosleep, 5);
    assert_int_equal(procstat_tasks_syscall_errno(t), 0);

    int kids[8];
    assert_int_equal(procstat_task_ids(child, kids, 8), 1);
    assert_int_equal(kids[0], child);
    assert_int_equal(procstat_children(getpid(), kids, 8), 1);
    assert_int_equal(kids[0], child);

    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(procstat_tasks_pass(t, PROCSTAT_TASK_SYSCALL | PROCSTAT_TASK_SCHED, on_task, &s), LS_ERR_NOTFOUND);
    procstat_tasks_close(t);
    procstat_tasks_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),   cmocka_unit_test(test_parse_syscall),
        cmocka_unit_test(test_parse_small),  cmocka_unit_test(test_read_self),
        cmocka_unit_test(test_tasks_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
