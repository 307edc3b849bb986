/*
 * cli: the loadscope subcommands, each a function main() dispatches to.
 *
 * Exit codes are shared by every command (and documented in the README):
 */
#ifndef LS_CLI_H
#define LS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "app.h"



int cli_run(int argc, char **argv);
int cli_sessions(int argc, char **argv);
/* `loadscope demo [run options]`: the bundled demo scenario with the dashboard (cmd_demo.c) */
int cli_demo(int argc, char **argv);
/* `loadscope replay [SESSION] [--db FILE] [--speed X]`: a stored session's screens (cmd_replay.c) */
int cli_replay(int argc, char **argv);
/* `loadscope aws sign ...`: SigV4 canonical request, string to sign, signature (cmd_aws.c) */
int cli_aws(int argc, char **argv);
/* `loadscope export SESSION --what samples|intervals|summary|hotpaths|folded|downstream|downstream-seconds [--format csv|json|jsonl]
 * [-o FILE] [--db FILE]` (cmd_export.c, over app/export.h) */
int cli_export(int argc, char **argv);
/* `loadscope trace [options] -- COMMAND [ARGS]`: a program under the allocation tracer (cmd_trace.c) */
int cli_trace(int argc, char **argv);
/* `loadscope compare A B [options]`: two sessions side by side, with intervals and gates (cmd_compare.c) */
int cli_compare(int argc, char **argv);

#include "trace.h" /* trace_run_*: allocation profiling inside `loadscope run` */

/*
 * Resolves the database path: --db when given, else the default location.
 * Returns 0 or prints why not and returns LS_EXIT_RUNTIME.
 */
int cli_db_path(const char *given, char *buf, unsigned long cap);

#endif
