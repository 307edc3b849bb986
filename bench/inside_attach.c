/*
 * inside_attach: runs a program under the thread sampler and/or the CPU
 * profiler (core/target/threads.h, cpuprof.h), for bench/cpuprof_overhead.sh.
 *
 * usage: inside_attach MODE STATS_FILE -- PROGRAM [ARGS...]
 *   MODE  none | threads | cpu | cpu-task | both
 *         (cpu: system-wide events when allowed, per-task otherwise;
 *          cpu-task: per-task events, as an unprivileged loadscope gets)
 * It starts PROGRAM as its child with the same stdin, stdout and stderr (so
 * loadscope's stdio pipes reach it), samples it as MODE says until it exits,
 * writes "cpu_ns N threads_passes P cpu_samples S switches W" to STATS_FILE
 * (N: this process's own CPU time: what the sampler and the profiler's
 * reader cost, outside the target; W: the program's context switches) and exits with the program's status. Being the
 * program's parent, it may read its tasks' syscall files and profile it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/cpuprof.h"
#include "target/threads.h"

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: inside_attach none|threads|cpu|cpu-task|both STATS_FILE -- PROGRAM [ARGS...]\n");
        return 2;
    }
    const char *mode = argv[1];
    bool want_threads = strcmp(mode, "threads") == 0 || strcmp(mode, "both") == 0;
    bool per_task = strcmp(mode, "cpu-task") == 0;
    bool want_cpu = strcmp(mode, "cpu") == 0 || strcmp(mode, "both") == 0 || per_task;
    pid_t pid = fork();
    if (pid < 0) {
        perror("inside_attach: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[4], argv + 4);
        perror("inside_attach: exec");
        _exit(127);
    }
    char err[512] = "";
    struct threads *t = NULL;
    struct cpuprof *p = NULL;
    if (want_threads) {
        struct threads_opts o = {.pid = pid, .hz = 100};
        if (threads_open(&o, NULL, &t, err, sizeof(err)) != LS_OK)
            fprintf(stderr, "inside_attach: %s\n", err);
    }
    if (want_cpu) {
        struct cpuprof_opts o = {.pid = pid, .hz = 99, .per_task = per_task};
        if (cpuprof_open(&o, NULL, &p, err, sizeof(err)) != LS_OK)
            fprintf(stderr, "inside_attach: %s\n", err);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
    }
    threads_finish(t);
    cpuprof_finish(p);
    struct threads_status ts = {0};
    struct cpuprof_status cs = {0};
    if (t)
        threads_status(t, &ts);
    if (p)
        cpuprof_status(p, &cs);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    unsigned long long ns = (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
                            (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
    struct rusage kids;
    getrusage(RUSAGE_CHILDREN, &kids);
    FILE *f = fopen(argv[2], "w");
    if (f) {
        fprintf(f, "cpu_ns %llu threads_passes %llu cpu_samples %llu switches %llu\n", ns,
                (unsigned long long)ts.passes, (unsigned long long)cs.totals.samples,
                (unsigned long long)(kids.ru_nvcsw + kids.ru_nivcsw));
        fclose(f);
    }
    threads_close(t);
    cpuprof_close(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
