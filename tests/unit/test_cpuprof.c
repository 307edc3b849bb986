/*
 * test_cpuprof: the CPU profiler on a real process (fixtures/threads/
 * burn_cpu.c, built with frame pointers) whose CPU goes mostly to
 * burn_cpu_here in a thread created after profiling began, beside a thread
 * that existed before: the top function is burn_cpu_here with its file and
 * line, both threads are sampled, the creation is counted. Then the same as
 * an unprivileged user (user-mode samples only, as perf_event_paranoid 2
 * allows), the refusal sentence, and the model on hand-made rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture_child.h"
#include "target/cpuprof.h"

/* The lines of burn_cpu_here in fixtures/threads/burn_cpu.c, read from the file. */
static void burn_lines(uint32_t *first, uint32_t *last)
{
    FILE *f = fopen(LS_SOURCE_DIR "/fixtures/threads/burn_cpu.c", "r");
    char line[256];
    uint32_t n = 0;
    *first = *last = 0;
    while (f && fgets(line, sizeof(line), f)) {
        n++;
        if (*first == 0 && strstr(line, "void burn_cpu_here("))
            *first = n;
        else if (*first && *last == 0 && line[0] == '}')
            *last = n;
    }
    if (f)
        fclose(f);
}

struct seen {
    uint64_t row_samples, second_samples;
    int stacks, seconds;
};

static void on_stack(void *ctx, const struct cpu_stack_info *s)
{
    (void)s;
    ((struct seen *)ctx)->stacks++;
}

static void on_second(void *ctx, const struct cpu_second *s)
{
    struct seen *k = ctx;
    k->seconds++;
    k->second_samples += s->samples;
    for (size_t i = 0; i < s->nrows; i++)
        k->row_samples += s->rows[i].samples;
}

/*
 * Profiles burn_cpu (one second of its burner's CPU: about 99 samples); checks what every profile must show and
 * returns a non-zero code naming the first fact that failed (usable in a
 * forked child, where cmocka's asserts cannot report).
 */
static int profile_burn(bool per_task, bool expect_user_only, bool expect_system_wide, bool print)
{
    char *argv[] = {(char *)(uintptr_t)LS_BURN_CPU, (char *)(uintptr_t)"1", NULL};
    struct fixture_child c = {0};
    char line[64];
    if (!child_start(&c, argv) || !child_line(&c, line, sizeof(line), 5000) || strcmp(line, "ready") != 0)
        return 10;
    struct seen seen = {0};
    struct cpuprof_sink sink = {.ctx = &seen, .stack = on_stack, .second = on_second};
    struct cpuprof_opts o = {.pid = c.pid, .per_task = per_task};
    struct cpuprof *p = NULL;
    char err[512] = "";
    ls_err e = cpuprof_open(&o, &sink, &p, err, sizeof(err));
    if (e != LS_OK) {
        fprintf(stderr, "cpuprof_open: %s\n", err);
        return 11;
    }
    int rc = 0;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_CHILDREN, &ru0);
    if (!child_go(&c) || !child_line(&c, line, sizeof(line), 30000) || strcmp(line, "done") != 0)
        rc = 12;
    child_reap(&c);
    getrusage(RUSAGE_CHILDREN, &ru1);
    cpuprof_finish(p);
    double user_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
    double sys_s = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

    struct cpuprof_status st;
    cpuprof_status(p, &st);
    struct cpu_fn fns[8], tot[64];
    size_t nf = cpuprof_functions(p, CPU_FN_SELF, fns, 8);
    size_t nt = cpuprof_functions(p, CPU_FN_TOTAL, tot, 64);
    struct cpu_hot hot[4];
    size_t nh = cpuprof_stacks(p, hot, 4);
    uint32_t first, last;
    burn_lines(&first, &last);
    if (print) {
        printf("  %s: %llu samples for %.2f s user + %.2f s system CPU (%.0f expected at 99 Hz), "
               "%.1f%% shallow, %d events, %llu threads created, %u stacks\n",
               st.system_wide ? "system-wide, user and kernel mode"
               : st.user_only ? "per task, user mode only" : "per task, user and kernel mode",
               (unsigned long long)st.totals.samples, user_s, sys_s,
               (st.user_only ? user_s : user_s + sys_s) * 99, 100 * st.totals.shallow_share, st.events,
               (unsigned long long)st.threads_created, st.totals.stacks);
        for (size_t i = 0; i < nf && i < 4; i++)
            printf("    self %5.1f%%  %s (%s:%u)\n", 100 * fns[i].share, fns[i].function, fns[i].file,
                   fns[i].line);
        for (size_t i = 0; i < nh; i++)
            printf("    stack %.1f%% depth %u%s: %s\n", 100 * hot[i].share, hot[i].s.depth,
                   hot[i].s.kernel ? " kernel" : "", hot[i].s.folded);
    }
    bool early = false;
    for (size_t i = 0; i < nt; i++)
        early = early || strcmp(tot[i].function, "early_loop") == 0;
    const char *file = nf ? strrchr(fns[0].file, '/') : NULL;
    if (rc == 0 && (st.user_only != expect_user_only || st.system_wide != expect_system_wide))
        rc = 13;
    else if (rc == 0 && (nf == 0 || strcmp(fns[0].function, "burn_cpu_here") != 0))
        rc = 14;
    else if (rc == 0 && fns[0].share < 0.5)
        rc = 15;
    else if (rc == 0 && (file == NULL || strcmp(file, "/burn_cpu.c") != 0 || fns[0].line < first ||
                         fns[0].line > last))
        rc = 16;
    else if (rc == 0 && !early)
        rc = 17; /* the thread that existed before profiling is sampled too */
    else if (rc == 0 && st.threads_created != 1)
        rc = 18;
    else if (rc == 0 && (nh == 0 || strstr(hot[0].s.folded, "burner;") == NULL ||
                         strstr(hot[0].s.folded, ";burn_cpu_here") == NULL))
        rc = 19; /* frame pointers: the chain reaches the thread's function */
    else if (rc == 0 && (st.totals.no_frame_pointers || seen.row_samples != st.totals.samples ||
                         seen.second_samples != st.totals.samples || seen.stacks == 0))
        rc = 20;
    else if (rc == 0 && (st.totals.samples < 50 || st.totals.period_ns != 1000000000ull / 99))
        rc = 21;
    FILE *folded = tmpfile();
    if (rc == 0 && (folded == NULL || cpuprof_write_folded(p, folded) != LS_OK || ftell(folded) <= 0))
        rc = 22;
    if (folded)
        fclose(folded);
    cpuprof_close(p);
    return rc;
}

static void test_profile(void **state)
{
    (void)state;
    /* loadscope's tests run as root here: system-wide events and kernel-mode samples are allowed */
    bool root = geteuid() == 0;
    assert_int_equal(profile_burn(false, !root, root, true), 0);
    if (root)
        assert_int_equal(profile_burn(true, false, false, true), 0);
}

static void test_unprivileged(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip(); /* test_profile already ran unprivileged */
        return;
    }
    fflush(stdout);
    pid_t kid = fork();
    if (kid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        int rc = profile_burn(false, true, false, true); /* system-wide refused: per task */
        if (rc == 0) {
            /* someone else's process (init, root's): refused, with the reason */
            struct cpuprof_opts o = {.pid = 1};
            struct cpuprof *p = NULL;
            char err[512] = "";
            ls_err e = cpuprof_open(&o, NULL, &p, err, sizeof(err));
            printf("  as nobody, profiling pid 1: %s\n", err);
            fflush(stdout);
            if (e != LS_ERR_IO || p != NULL || strstr(err, "perf_event_paranoid") == NULL)
                rc = 30;
        }
        fflush(stdout);
        _exit(rc);
    }
    int status = -1;
    waitpid(kid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_refusal(void **state)
{
    (void)state;
    char buf[512];
    cpuprof_refusal_text(EACCES, buf, sizeof(buf));
    assert_non_null(strstr(buf, "perf_event_paranoid"));
    assert_non_null(strstr(buf, "no CPU profile"));
    cpuprof_refusal_text(ENOENT, buf, sizeof(buf));
    assert_non_null(strstr(buf, "task-clock"));
    cpuprof_refusal_text(ENOSYS, buf, sizeof(buf));
    assert_non_null(strstr(buf, "seccomp"));

    struct cpuprof_opts o = {.pid = 999999999};
    struct cpuprof *p = NULL;
    assert_int_equal(cpuprof_open(&o, NULL, &p, buf, sizeof(buf)), LS_ERR_NOTFOUND);
    assert_null(p);
    cpuprof_close(NULL);
}

static void test_model(void **state)
{
    (void)state;
    struct cpuprof_model *m = NULL;
    assert_int_equal(cpuprof_model_new(&m), LS_OK);
    struct cpu_stack_info a = {.key = 1, .pid = 5, .depth = 4, .leaf_function = "memcpy",
                               .leaf_file = "", .blame_function = "handle", .blame_file = "src/h.rs",
                               .blame_line = 40, .frames = "memcpy\nhandle (src/h.rs:40)\nmain",
                               .folded = "main;serve;handle;memcpy"};
    struct cpu_stack_info b = {.key = 2, .pid = 5, .depth = 3, .leaf_function = "parse",
                               .leaf_file = "src/p.rs", .leaf_line = 9, .blame_function = "parse",
                               .blame_file = "src/p.rs", .blame_line = 9, .frames = "parse",
                               .folded = "main;handle;parse"};
    struct cpu_stack_info c = {.key = 3, .pid = 5, .depth = 1, .leaf_function = "spin",
                               .leaf_file = "", .blame_function = "spin", .blame_file = "",
                               .frames = "spin", .folded = "spin"};
    assert_int_equal(cpuprof_model_add_stack(m, &a), LS_OK);
    assert_int_equal(cpuprof_model_add_stack(m, &b), LS_OK);
    assert_int_equal(cpuprof_model_add_stack(m, &c), LS_OK);
    assert_int_equal(cpuprof_model_add_stack(m, &a), LS_OK); /* again: kept once */
    struct cpu_row r0[] = {{1, 30}, {2, 10}};
    struct cpu_row r1[] = {{1, 30}, {3, 30}};
    struct cpu_second s0 = {.second = 0, .period_ns = 10000000, .samples = 40, .rows = r0, .nrows = 2};
    struct cpu_second s1 = {.second = 1, .period_ns = 10000000, .samples = 60, .shallow = 30, .rows = r1,
                            .nrows = 2};
    assert_int_equal(cpuprof_model_add_second(m, &s0), LS_OK);
    assert_int_equal(cpuprof_model_add_second(m, &s1), LS_OK);
    cpuprof_model_requests(m, 0, 400);
    cpuprof_model_requests(m, 1, 600);

    struct cpu_hot h[4];
    assert_int_equal(cpuprof_model_stacks(m, h, 4), 3);
    assert_int_equal(h[0].s.key, 1);
    assert_int_equal(h[0].samples, 60);
    assert_true(h[0].share > 0.599 && h[0].share < 0.601);
    assert_true(h[0].cpu_ms > 599.9 && h[0].cpu_ms < 600.1);
    assert_true(h[0].cpu_us_per_req > 599.9 && h[0].cpu_us_per_req < 600.1); /* 600 ms / 1000 req */

    struct cpu_fn f[8];
    assert_int_equal(cpuprof_model_functions(m, CPU_FN_SELF, f, 8), 3);
    assert_string_equal(f[0].function, "memcpy");
    assert_int_equal(f[0].self_samples, 60);
    assert_int_equal(cpuprof_model_functions(m, CPU_FN_TOTAL, f, 8), 6);
    assert_string_equal(f[0].function, "handle"); /* on stacks 1 and 2: 70 */
    assert_int_equal(f[0].total_samples, 70);
    assert_string_equal(f[0].file, "src/h.rs");
    assert_int_equal(f[0].line, 40);
    assert_int_equal(cpuprof_model_functions(m, CPU_FN_BLAME, f, 8), 3);
    assert_string_equal(f[0].function, "handle");
    assert_int_equal(f[0].blame_samples, 60);
    assert_true(f[0].cpu_us_per_req > 599.9 && f[0].cpu_us_per_req < 600.1);

    struct cpu_totals t;
    cpuprof_model_totals(m, &t);
    assert_int_equal(t.samples, 100);
    assert_int_equal(t.stacks, 3);
    assert_int_equal(t.requests, 1000);
    assert_true(t.shallow_share > 0.299 && t.shallow_share < 0.301);
    assert_false(t.no_frame_pointers);

    char *text = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&text, &len);
    assert_int_equal(cpuprof_model_write_folded(m, mf), LS_OK);
    fclose(mf);
    assert_string_equal(text, "main;serve;handle;memcpy 60\nspin 30\nmain;handle;parse 10\n");
    free(text);
    cpuprof_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_refusal),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_unprivileged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
