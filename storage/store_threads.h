/*
 * store_threads: what happened inside the target, per second, in the session
 * database: its thread groups (core/target/threads.h) and its CPU profile
 * (core/target/cpuprof.h).
 *
 * Two small writers, each with its own connection to the session's file,
 * like store_alloc: store_threads for the thread sampler's thread and
 * store_cpu for the CPU profiler's reader thread, so neither waits behind
 * the sample writer's queue nor behind the other, and the load engine never
 * waits for them. Each closed second is one transaction.
 *
 * The tables (schema version 10, created by store_threads_migrate):
 *
 *   thread_seconds   (session_id, second, pid, name) -> threads, created,
 *                    cpu_pct (of one core), running / runnable / blocked
 *                    (shares of the group's thread time), samples and the
 *                    observations by state (R, S, D, other), passes (the
 *                    sampler's in that second), flags (1: running and
 *                    runnable from schedstat's clocks; 2: system calls were
 *                    readable). name is the group: the thread name with
 *                    trailing digits folded ("tokio-runtime-w").
 *   thread_syscalls  (session_id, second, pid, name, syscall) -> syscall_name,
 *                    samples: the group's blocked observations by system
 *                    call, the top THREADS_TOP_SYSCALLS of each second;
 *                    syscall is this machine's number (-1: blocked outside
 *                    a call), syscall_name its name, for another machine.
 *   cpu_stacks       (session_id, stack_key) -> pid, depth, kernel, leaf
 *                    function/file/line, blame function/file/line, frames
 *                    (one per line, innermost first), folded (root;...;leaf)
 *   cpu_samples      (session_id, second, stack_key) -> samples
 *   cpu_seconds      (session_id, second) -> samples, shallow (stacks of
 *                    2 frames or fewer), lost, period_ns (CPU time a sample
 *                    stands for)
 *
 * second is since the run's start, as intervals.second; requests per second
 * are the intervals' (step -1), which the loaders give the models.
 *
 * Replay feeds the same models the live run feeds (threads_model,
 * cpuprof_model): store_threads_load and store_cpu_load read a session's
 * rows into one.
 */
#ifndef LS_STORE_THREADS_H
#define LS_STORE_THREADS_H

#include <stdint.h>

#include "target/cpuprof.h"
#include "target/threads.h"
#include "util/lserr.h"
#include "store.h"

/* ---- the thread sampler's rows ---------------------------------------------------- */

struct store_threads;

/* Opens a writer for session_id on st's database file (st must stay open while it is used). */
LS_MUST_CHECK ls_err store_threads_open(struct store *st, int64_t session_id,
                                        struct store_threads **out);

/* Records one closed second of thread groups (a threads_sink.second), in one transaction. */
LS_MUST_CHECK ls_err store_threads_second(struct store_threads *w, const struct threads_second *s);

/* The last error message ("" if none). */
const char *store_threads_errmsg(const struct store_threads *w);

void store_threads_close(struct store_threads *w);

typedef int (*store_threads_second_fn)(void *ctx, const struct threads_second *s);

/*
 * Calls fn for each stored second of the session, in order, with its groups
 * (valid during the call). fn returns non-zero to stop.
 */
LS_MUST_CHECK ls_err store_threads_each_second(struct store *st, int64_t session_id,
                                               store_threads_second_fn fn, void *ctx);

/* Feeds every stored second, and the requests per second, of the session into m. */
LS_MUST_CHECK ls_err store_threads_load(struct store *st, int64_t session_id, struct threads_model *m);

/* ---- the CPU profiler's rows ------------------------------------------------------- */

struct store_cpu;

/* Opens a writer for session_id on st's database file (st must stay open while it is used). */
LS_MUST_CHECK ls_err store_cpu_open(struct store *st, int64_t session_id, struct store_cpu **out);

/* Records a newly seen stack (a cpuprof_sink.stack). */
LS_MUST_CHECK ls_err store_cpu_stack(struct store_cpu *w, const struct cpu_stack_info *s);

/* Records one closed second: its totals and per-stack rows (a cpuprof_sink.second), in one transaction. */
LS_MUST_CHECK ls_err store_cpu_second(struct store_cpu *w, const struct cpu_second *s);

const char *store_cpu_errmsg(const struct store_cpu *w);

void store_cpu_close(struct store_cpu *w);

typedef int (*store_cpu_stack_fn)(void *ctx, const struct cpu_stack_info *s);
typedef int (*store_cpu_second_fn)(void *ctx, const struct cpu_second *s);

/* Calls fn for each stored stack of the session, by key (strings valid during the call). */
LS_MUST_CHECK ls_err store_cpu_each_stack(struct store *st, int64_t session_id, store_cpu_stack_fn fn,
                                          void *ctx);

/* Calls fn for each stored second of the session, in order, with its rows (valid during the call). */
LS_MUST_CHECK ls_err store_cpu_each_second(struct store *st, int64_t session_id,
                                           store_cpu_second_fn fn, void *ctx);

/* Feeds every stored stack and second, and the requests per second, of the session into m. */
LS_MUST_CHECK ls_err store_cpu_load(struct store *st, int64_t session_id, struct cpuprof_model *m);

#endif
