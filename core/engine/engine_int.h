/*
 * engine_int: what the engine's own parts share. Not a public header, and
 * not for transports (they see transport.h only):
 *   engine.c         run control: engine_open/run/close, launching and
 *                    watching the targets, the grace period, events
 *   engine_worker.c  the worker threads: set-up and the transports of each
 *                    slot, the event loop, the open-loop schedule, stopping
 *   engine_vu.c      the virtual users' state machine: handshake, steps,
 *                    requests and their classification, samples, and the
 *                    hooks transports call back through
 */
#ifndef LS_ENGINE_INT_H
#define LS_ENGINE_INT_H

#include "engine/transport.h"

/* engine.c */
void eng_event(struct engine *e, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The hooks handed to every transport (engine_vu.c and engine.c fill them). */
extern const struct eng_hooks eng_hooks;
/* Run control's hooks: events and the processes it watches. */
void eng_hook_event(struct engine *e, const char *kind, const char *message);
ls_err eng_hook_target_started(struct engine *e, struct ls_proc *p);
void eng_hook_target_stopping(struct engine *e, struct ls_proc *p);

/* engine_worker.c */
/* Picks the run's transports (e->tp_ops), one per slot the scenario needs. */
void worker_pick_transports(struct engine *e);
/* Sets up worker w for VUs first_vu .. first_vu + nvu - 1; err says why not. */
LS_MUST_CHECK ls_err worker_setup(struct engine *e, struct worker *w, uint32_t first_vu,
                                  uint32_t nvu, char *err, size_t errcap);
void *worker_main(void *arg);
/* Frees what worker_setup made (also after a partial set-up, or none). */
void worker_free(struct worker *w);

/* engine_vu.c */
/* A VU with nothing in flight decides what it does next. */
void vu_next(struct vu *v);
/* Open loop: a send time was handed to v (v->intended_ns, v->pending_call set). */
void vu_scheduled(struct vu *v);
/* Runs the replies queued because they came too deep in the stack. */
void vu_run_deferred(struct worker *w);
/* The VU machine's hooks (engine.c puts them in eng_hooks). */
void vu_hook_reply(struct vu *v, struct xfer_result *r);
long vu_hook_build_request(struct vu *v, int64_t id, char *buf, size_t cap);
enum ls_errclass vu_hook_classify(struct vu *v, const struct jsonrpc_msg *m, struct xfer_result *r);
void vu_hook_target_lost(struct worker *w, struct vu_share *share, const char *message);
/* Request buffer capacity the scenario's largest request needs. */
size_t vu_request_capacity(const struct scenario *s);

#endif
