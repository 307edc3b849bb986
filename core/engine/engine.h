/*
 * engine: runs a scenario's load against an MCP target.
 *
 * engine_run() launches the target if the scenario says how, starts the
 * worker threads (each with its own libcurl multi handle, epoll loop, virtual
 * users and sample ring) and the collector, runs the warm-up and the measured
 * duration, stops cleanly (in-flight requests get a grace period, sessions are
 * deleted, the target is stopped) and returns why it ended.
 *
 * Samples, per-second intervals and run events leave through the callbacks;
 * the engine itself keeps no sample.
 */
#ifndef LS_ENGINE_H
#define LS_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "stats/collector.h"
#include "util/lserr.h"
#include "scenario/scenario.h"

struct proc_inject; /* proc.h */

/* Set by a signal handler (SIGINT/SIGTERM) to stop the run cleanly. */
extern _Atomic int ls_stop_requested;

enum engine_end {
    ENGINE_COMPLETED = 0,   /* ran for its whole duration */
    ENGINE_INTERRUPTED,     /* stopped by ls_stop_requested */
    ENGINE_TARGET_EXITED,   /* the target process died during the run */
    ENGINE_FAILED,          /* could not start (message in err) */
};

/*
 * The MCP requests as they enter and leave the target, for the downstream
 * proxies' attribution (core/downstream; the engine does not depend on it).
 * Each is called from a worker thread and must be cheap and lock-free.
 */
struct engine_mcp_hooks {
    void *ctx;
    /* The run's second 0 on the ls_now_ns() clock; once, before the first request. */
    void (*origin)(void *ctx, uint64_t t0_mono_ns);
    /* An MCP request of step (step_count: the handshake's initialize) is handed to the transport. */
    void (*begin)(void *ctx, int step);
    /* ... and its sample is recorded (replied, failed or timed out). */
    void (*end)(void *ctx, int step);
};

struct engine_opts {
    uint32_t workers;       /* worker threads; 0 picks a default */
    uint64_t grace_ns;      /* how long in-flight requests may finish at the end */
    const char *base_dir;   /* relative target cwd/commands resolve from here (scenario's dir) */
    const struct proc_inject *inject; /* NULL, or added to every launched target (allocation tracer) */
    const struct engine_mcp_hooks *mcp_hooks; /* NULL, or told of each MCP request (AWS steps not) */
};

struct engine_callbacks {
    void *ctx;
    void (*samples)(void *ctx, const struct ls_sample *s, size_t n);      /* collector thread */
    void (*interval)(void *ctx, const struct coll_interval *iv);          /* collector thread */
    void (*event)(void *ctx, uint64_t t_ns, const char *kind, const char *message); /* any thread */
};

struct engine;

/* Prepares a run of s (borrowed; must outlive the engine). */
LS_MUST_CHECK ls_err engine_open(const struct scenario *s, const struct engine_opts *o,
                                 const struct engine_callbacks *cb, struct engine **out);

/*
 * Runs to the end. Returns LS_OK when the run took place (see *end for how
 * it ended), or an error with err filled when it could not start.
 */
LS_MUST_CHECK ls_err engine_run(struct engine *e, enum engine_end *end, char *err, size_t errcap);

/* After engine_run: totals of a step (see collector_totals). */
void engine_totals(const struct engine *e, int step, struct coll_totals *out);

/* Measured seconds actually run (the warm-up excluded). */
double engine_measured_seconds(const struct engine *e);

/* Requests in flight right now (any thread). */
uint64_t engine_in_flight(const struct engine *e);

/* Number of worker threads the run uses. */
uint32_t engine_workers(const struct engine *e);

/* Sessions re-initialized after the server lost them. */
uint64_t engine_sessions_reinit(const struct engine *e);

/*
 * Process ids of the targets the run launched (the HTTP server, or the
 * stdio server processes): writes at most cap of them to pids and returns
 * how many there are. Any thread, while engine_run runs and after its first
 * interval was reported (the dashboard's Target screen reads them).
 */
size_t engine_target_pids(struct engine *e, int *pids, size_t cap);

void engine_close(struct engine *e);

/*
 * Process-wide set-up of the transports' libraries (libcurl), once, before
 * any thread starts; engine_global_cleanup() undoes it at exit. Returns 0 or
 * -1 when the HTTP library failed to initialise.
 */
int engine_global_init(void);
void engine_global_cleanup(void);

/* The HTTP library's version text, for `loadscope version` (static storage). */
const char *engine_http_version(void);

#endif
