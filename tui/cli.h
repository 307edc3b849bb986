/*
 * cli: the loadscope subcommands, each a function main() dispatches to.
 *
 * Exit codes are shared by every command (and documented in the README):
 */
#ifndef LS_CLI_H
#define LS_CLI_H

#include <stdbool.h>
#include <stdio.h>

enum ls_exit {
    LS_EXIT_OK = 0,
    LS_EXIT_RUNTIME = 1,      /* could not start the target, database failure, ... */
    LS_EXIT_USAGE = 2,        /* bad command line or invalid scenario: nothing ran */
    LS_EXIT_TARGET_DIED = 3,  /* the target process exited during the run */
    LS_EXIT_THRESHOLDS = 99,  /* the run completed but a threshold was crossed (as k6) */
    LS_EXIT_INTERRUPTED = 130 /* stopped by SIGINT/SIGTERM; what was recorded is kept */
};

int cli_run(int argc, char **argv);
int cli_sessions(int argc, char **argv);
/* `loadscope demo [run options]`: the bundled demo scenario with the dashboard (cmd_demo.c) */
int cli_demo(int argc, char **argv);
/* `loadscope replay [SESSION] [--db FILE] [--speed X]`: a stored session's screens (cmd_replay.c) */
int cli_replay(int argc, char **argv);
/* `loadscope aws sign ...`: SigV4 canonical request, string to sign, signature (cmd_aws.c) */
int cli_aws(int argc, char **argv);
/* `loadscope export SESSION --what samples|intervals|summary|hotpaths|folded [--format csv|json|jsonl]
 * [-o FILE] [--db FILE]` (cmd_export.c, over app/export.h) */
int cli_export(int argc, char **argv);
/* `loadscope trace [options] -- COMMAND [ARGS]`: a program under the allocation tracer (cmd_trace.c) */
int cli_trace(int argc, char **argv);

/*
 * Allocation profiling inside `loadscope run` (cmd_trace.c). open: mode 0
 * takes the scenario's target.trace_allocations (still 0: *out = NULL, and
 * every other call is a no-op on NULL); returns 0 or an exit code, having
 * said why. attach: once the session exists (sets the run's second 0).
 * interval: the collector's per-second counts (step -1 = requests per second).
 * finish: after the run, prints the top hot paths to f. alloc: for the live model.
 */
struct trace_run;
struct scenario;
struct store;
struct alloc;
struct proc_inject;
int trace_run_open(const struct scenario *s, int mode, bool children, const char *cwd,
                   struct trace_run **out);
const struct proc_inject *trace_run_inject(const struct trace_run *tr);
struct alloc *trace_run_alloc(struct trace_run *tr);
int trace_run_attach(struct trace_run *tr, struct store *st, long long session);
void trace_run_interval(struct trace_run *tr, unsigned second, int step, unsigned long long count);
/* Waits for the target's last batches and stores the per-process summaries (once). */
int trace_run_store(struct trace_run *tr);
int trace_run_finish(struct trace_run *tr, FILE *f, unsigned long top);
void trace_run_close(struct trace_run *tr);

/*
 * Resolves the database path: --db when given, else the default location.
 * Returns 0 or prints why not and returns LS_EXIT_RUNTIME.
 */
int cli_db_path(const char *given, char *buf, unsigned long cap);

#endif
