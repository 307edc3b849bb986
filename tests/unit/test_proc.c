/*
 * Unit tests for core/target: the launched target's output ring (bounded,
 * counted, last lines quoted, no file), stopping (an HTTP-style target gets
 * SIGTERM at once, a stdio one is asked by closing stdin, SIGKILL after the
 * grace), dying with loadscope (the parent-death signal outlives the thread
 * that asked for the launch and fires when the launching process is killed)
 * and readiness refusing a port an older process serves. Every figure is
 * read back from the process table, the kernel's wait status, or the bytes
 * quoted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "target/proc.h"
#include "util/clock.h"

static struct ls_proc *spawn_sh(const char *script, bool pipe_stdio)
{
    char sh[] = "sh", dash_c[] = "-c";
    char *text = strdup(script);
    char *argv[] = {sh, dash_c, text, NULL};
    struct ls_proc_opts o = {.argv = argv, .pipe_stdio = pipe_stdio};
    struct ls_proc *p = NULL;
    char err[256];

    assert_non_null(text);
    assert_int_equal(proc_spawn(&o, &p, err, sizeof(err)), LS_OK);
    assert_non_null(p);
    free(text);
    return p;
}

static int wait_status(struct ls_proc *p)
{
    int st = -1;
    uint64_t deadline = ls_now_ns() + 60ull * 1000000000ull;

    while (!proc_poll_exit(p, &st) && ls_now_ns() < deadline)
        usleep(10000);
    return st;
}

/* Sum of the sizes of the regular files this process has open, system files left out. */
static long long open_file_bytes(void)
{
    long long sum = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[300];
        struct stat sb;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
        /* The C library and the sanitizer's runtime open system files for a moment
         * (ld.so.cache, libraries, /etc): those never hold a target's output. */
        char target[512];
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strncmp(target, "/usr/", 5) == 0 || strncmp(target, "/lib", 4) == 0 ||
                strncmp(target, "/etc/", 5) == 0)
                continue;
        }
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            sum += (long long)sb.st_size;
    }
    closedir(d);
    return sum;
}

/* 64 MiB of output, then two marker lines: the ring keeps the end, counts the rest, no file. */
static void test_output_ring_bounded(void **state)
{
    (void)state;
    long long before = open_file_bytes();
    struct ls_proc *p = spawn_sh("head -c 67108864 /dev/zero | tr '\\0' 'x'; "
                                 "printf '\\nlast line one\\nlast line two\\n' >&2; exit 3",
                                 false);
    char tail[512];
    int st = wait_status(p);

    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    proc_log_tail(p, tail, sizeof(tail));
    /* The earlier 64 MiB are counted, not kept (all but the last line's newline, trimmed). */
    assert_string_equal(tail, "[67108865 earlier bytes not kept]\nlast line one\nlast line two");
    assert_int_equal(proc_log_bytes(p), 67108864ull + strlen("\nlast line one\nlast line two\n"));
    /* No file holds the output: what is open now is what was open before. */
    assert_true(open_file_bytes() <= before);
    proc_free(p);
}

/* Short output is quoted whole, without a marker; a NUL shows as a space. */
static void test_output_short(void **state)
{
    (void)state;
    struct ls_proc *p = spawn_sh("printf 'a\\0b\\nbye\\n' >&2; exit 0", false);
    char tail[64];

    wait_status(p);
    proc_log_tail(p, tail, sizeof(tail));
    assert_string_equal(tail, "a b\nbye");
    assert_int_equal(proc_log_bytes(p), 8);
    proc_free(p);
}

/* A target without a stdin pipe gets SIGTERM at once, not after the grace. */
static void test_stop_http_target_at_once(void **state)
{
    (void)state;
    struct ls_proc *p = spawn_sh("trap 'exit 42' TERM; while :; do sleep 0.05; done", false);
    uint64_t t0;
    int st;

    usleep(200000); /* the trap is set */
    t0 = ls_now_ns();
    st = proc_stop(p, 10ull * 1000000000ull);
    /* It ended through its trap (exit 42), long before the 10 s grace would have run out. */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 42);
    assert_true(ls_now_ns() - t0 < 5ull * 1000000000ull);
    proc_free(p);
}

/* A target that ignores SIGTERM is killed once the grace is over. */
static void test_stop_sigkill_after_grace(void **state)
{
    (void)state;
    struct ls_proc *p = spawn_sh("trap '' TERM; while :; do sleep 0.05; done", false);
    int st;

    usleep(200000);
    st = proc_stop(p, 300ull * 1000000ull);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    proc_free(p);
}

/* A stdio target is asked first, by closing its stdin: it ends on its own. */
static void test_stop_stdio_asks_first(void **state)
{
    (void)state;
    struct ls_proc *p = spawn_sh("trap 'exit 9' TERM; cat > /dev/null; exit 5", true);
    int st = proc_stop(p, 10ull * 1000000000ull);

    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 5);
    proc_free(p);
}

static void *spawn_in_thread(void *arg)
{
    *(struct ls_proc **)arg = spawn_sh("sleep 30", false);
    return NULL;
}

/*
 * The parent-death signal belongs to the thread that forks: a target
 * launched for a thread that then ends (a load worker) must live on.
 */
static void test_target_outlives_launching_thread(void **state)
{
    (void)state;
    struct ls_proc *p = NULL;
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, spawn_in_thread, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(p);
    usleep(300000);
    assert_false(proc_poll_exit(p, NULL));
    proc_free(p);
}

/* A process that launches a target and is then killed with SIGKILL takes the target along. */
static void test_target_dies_with_launcher(void **state)
{
    (void)state;
    int fds[2];
    pid_t helper, target = 0;

    /* Orphans come to us, so the target can be reaped and its status read. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    assert_int_equal(pipe(fds), 0);
    helper = fork();
    assert_true(helper >= 0);
    if (helper == 0) {
        struct ls_proc *p = spawn_sh("sleep 30", false);
        pid_t pid = proc_pid(p);

        if (write(fds[1], &pid, sizeof(pid)) != sizeof(pid))
            _exit(1);
        pause();
        _exit(0);
    }
    assert_int_equal(read(fds[0], &target, sizeof(target)), (ssize_t)sizeof(target));
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(kill(helper, SIGKILL), 0);
    assert_int_equal(waitpid(helper, NULL, 0), helper);

    int st = 0;
    pid_t r = 0;
    uint64_t deadline = ls_now_ns() + 5ull * 1000000000ull;

    while ((r = waitpid(target, &st, WNOHANG)) == 0 && ls_now_ns() < deadline)
        usleep(10000);
    assert_int_equal(r, target);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* A launch that cannot exec says so, synchronously, with the command's name. */
static void test_spawn_failure_reported(void **state)
{
    (void)state;
    char missing[] = "/nonexistent/loadscope-test-cmd", tru[] = "true";
    char *argv[] = {missing, NULL}, *argv2[] = {tru, NULL};
    struct ls_proc_opts o = {.argv = argv};
    struct ls_proc *p = (struct ls_proc *)&o;
    char err[256];

    assert_int_equal(proc_spawn(&o, &p, err, sizeof(err)), LS_ERR_SPAWN);
    assert_null(p);
    assert_non_null(strstr(err, "/nonexistent/loadscope-test-cmd"));
    assert_non_null(strstr(err, "No such file or directory"));
    o.argv = argv2;
    o.cwd = "/nonexistent-dir";
    assert_int_equal(proc_spawn(&o, &p, err, sizeof(err)), LS_ERR_SPAWN);
    assert_non_null(strstr(err, "cannot change to /nonexistent-dir"));
}

static void test_start_ticks(void **state)
{
    (void)state;
    uint64_t me = proc_start_ticks(getpid());
    pid_t child;

    assert_true(me > 0);
    assert_int_equal(proc_start_ticks(getpid()), me);
    child = fork();
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_int_equal(proc_start_ticks(child), 0);
}

/* A listening socket of ours on a free port of 127.0.0.1; *port gets the port. */
static int listen_here(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* This process listens first: the launched target is not what answers, and is refused. */
static void test_ready_refuses_older_listener(void **state)
{
    (void)state;
    int port, lfd = listen_here(&port);
    struct ls_proc *p = spawn_sh("sleep 30", false);
    char err[1024], want[64];

    usleep(20000); /* a tick apart: the target started after us */
    assert_int_equal(proc_wait_port(p, "127.0.0.1", port, 5ull * 1000000000ull, err, sizeof(err)),
                     LS_ERR_SPAWN);
    snprintf(want, sizeof(want), "served by another process, pid %d", (int)getpid());
    assert_non_null(strstr(err, want));
    close(lfd);
    proc_free(p);
}

/* The target's own listener is accepted. */
static void test_ready_accepts_own_listener(void **state)
{
    (void)state;
    int port, lfd = listen_here(&port);
    char script[512], err[1024];

    close(lfd); /* a port that was free a moment ago */
    snprintf(script, sizeof(script),
             "exec python3 -c 'import socket, time\n"
             "s = socket.socket(); s.bind((\"127.0.0.1\", %d)); s.listen(8); time.sleep(30)'",
             port);
    struct ls_proc *p = spawn_sh(script, false);

    assert_int_equal(proc_wait_port(p, "127.0.0.1", port, 20ull * 1000000000ull, err, sizeof(err)),
                     LS_OK);
    proc_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_ring_bounded),
        cmocka_unit_test(test_output_short),
        cmocka_unit_test(test_stop_http_target_at_once),
        cmocka_unit_test(test_stop_sigkill_after_grace),
        cmocka_unit_test(test_stop_stdio_asks_first),
        cmocka_unit_test(test_target_outlives_launching_thread),
        cmocka_unit_test(test_target_dies_with_launcher),
        cmocka_unit_test(test_spawn_failure_reported),
        cmocka_unit_test(test_start_ticks),
        cmocka_unit_test(test_ready_refuses_older_listener),
        cmocka_unit_test(test_ready_accepts_own_listener),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
