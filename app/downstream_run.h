/*
 * downstream_run: the launched target's own AWS calls inside `loadscope run`.
 *
 * Wires core/downstream into a run, as trace_run_*() wires the allocation
 * tracer: the proxies start before the target is launched, their
 * AWS_ENDPOINT_URL_* entries join the tracer's in the target's environment,
 * the engine's MCP hooks (engine_opts.mcp_hooks) set the origin at the
 * run's second 0 and count the requests in flight, the recorder's calls
 * and seconds are stored (storage/store_downstream) and fed the live model
 * the Downstream screen reads, and once the target has stopped the last
 * calls are handed over and a summary is printed.
 *
 * Every function is a no-op on NULL (a scenario without target.downstream).
 */
#ifndef LS_APP_DOWNSTREAM_RUN_H
#define LS_APP_DOWNSTREAM_RUN_H

#include <stdint.h>
#include <stdio.h>

struct ds_run;
struct scenario;
struct store;
struct proc_inject;
struct engine_mcp_hooks;
struct ds_model;

/* A run event (as engine_callbacks.event: t_ns since the run's start); any thread. */
typedef void (*ds_run_event_fn)(void *ctx, uint64_t t_ns, const char *kind, const char *message);
/* The first failed write of downstream rows (the recorder's thread); as the writer's failure hook.
 */
typedef void (*ds_run_failure_fn)(void *ctx, const char *message);

/*
 * Starts the proxies of s->downstream (none: *out = NULL, returns 0).
 * base is the tracer's injection or NULL; ds_run_inject() merges it with
 * the proxies' environment. event (may be NULL) gets the proxies' events,
 * failure (may be NULL: said on stderr) the first failed write; both get event_ctx.
 * Returns 0 or an exit code (app.h), having said why on stderr.
 */
int ds_run_open(const struct scenario *s, const struct proc_inject *base, ds_run_event_fn event,
                ds_run_failure_fn failure, void *event_ctx, struct ds_run **out);

/* What every launched target gets (owned by r): base's entries, then the proxies'; base when r is
 * NULL. */
const struct proc_inject *ds_run_inject(const struct ds_run *r, const struct proc_inject *base);

/* The engine's MCP hooks (owned by r), or NULL. */
const struct engine_mcp_hooks *ds_run_hooks(struct ds_run *r);

/* The live model (owned by the proxies), or NULL: what the Downstream screen reads. */
struct ds_model *ds_run_model(struct ds_run *r);

/* Once the session exists: calls and seconds are stored from then on. Returns 0 or an exit code. */
int ds_run_attach(struct ds_run *r, struct store *st, long long session);

/*
 * After the target has stopped: lets calls in progress end, hands every call
 * and second to storage and the model. Once; returns non-zero when storing failed.
 */
int ds_run_finish(struct ds_run *r);

/* The headless summary: per operation, then per step; nothing when no call was made. */
void ds_run_print(struct ds_run *r, const struct scenario *s, FILE *f);

void ds_run_close(struct ds_run *r);

#endif
