/*
 * trace: allocation profiling, as the application runs it.
 *
 * app_trace() is `loadscope trace`: any program under the allocation tracer,
 * without load (as `heaptrack ./prog` does): checks that its ELF file can be
 * traced, launches it with the shim preloaded and its own terminal, stores
 * per-second hot paths and /proc figures as a session, and prints the top
 * hot paths when it exits, as a table, CSV or folded stacks.
 *
 * trace_run_*() profile the target of `loadscope run`: the tracer's sink
 * stores what it reads and feeds the run's hot-path model
 * (core/alloc/hotpaths.h), which the dashboard ranks live.
 */
#ifndef LS_APP_TRACE_H
#define LS_APP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "alloc/alloc.h"

enum trace_format { FMT_TABLE, FMT_CSV, FMT_FOLDED };

struct trace_opts {
    struct alloc_opts ao;
    enum trace_format format;
    enum alloc_sort sort;
    const char *db;             /* as given (NULL: the default database) */
    size_t top;
    bool stacks;
    char **cmd;                 /* the program and its arguments, NULL-terminated */
};

/* Runs o->cmd under the tracer, storing a session in dbpath; returns an exit code (app.h). */
int app_trace(const struct trace_opts *o, const char *dbpath);

/*
 * Allocation profiling inside `loadscope run`. open: mode 0 takes the
 * scenario's target.trace_allocations (still 0: *out = NULL, and every other
 * call is a no-op on NULL); returns 0 or an exit code, having said why.
 * attach: once the session exists (sets the run's second 0). interval: the
 * collector's per-second counts (step -1 = requests per second). store:
 * waits for the target's last batches and stores the per-process summaries
 * (once). finish: after the run, prints the top hot paths to f.
 */
struct trace_run;
struct scenario;
struct store;
struct proc_inject;
struct hotpaths;
int trace_run_open(const struct scenario *s, int mode, bool children, const char *cwd,
                   struct trace_run **out);
const struct proc_inject *trace_run_inject(const struct trace_run *tr);
struct alloc *trace_run_alloc(struct trace_run *tr);
/* The run's hot-path model, fed by the tracer as each second closes (NULL when not tracing). */
struct hotpaths *trace_run_hotpaths(struct trace_run *tr);
int trace_run_attach(struct trace_run *tr, struct store *st, long long session);
void trace_run_interval(struct trace_run *tr, unsigned second, int step, unsigned long long count);
int trace_run_store(struct trace_run *tr);
int trace_run_finish(struct trace_run *tr, FILE *f, unsigned long top);
void trace_run_close(struct trace_run *tr);

#endif
