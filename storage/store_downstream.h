/*
 * store_downstream: the launched target's downstream AWS calls in the
 * session database (core/downstream/downstream.h produces them).
 *
 * Four tables (created by store.c's migration 6, see
 * store_downstream_migrate): downstream_calls, one row per call;
 * downstream_seconds, one row per second per operation with encoded HDR
 * histograms of the latency through the proxy and of the upstream alone;
 * downstream_attribution, per second, step and operation, the calls, time
 * and new connections attributed to the step's MCP requests (fractions
 * when several steps were in flight); downstream_requests, per second and
 * step, the MCP requests that ended.
 *
 * A store_downstream is a writer of its own, like store_alloc: one
 * connection to the session's file, used from the downstream recorder
 * thread (the sink's thread); each batch of calls and each second is one
 * transaction. The readers give back the same structs the recorder emits,
 * so replay feeds the same model (core/downstream/ds_model.h).
 */
#ifndef LS_STORE_DOWNSTREAM_H
#define LS_STORE_DOWNSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "downstream/downstream.h"
#include "downstream/ds_model.h"
#include "util/lserr.h"
#include "store.h"

struct sqlite3;

/* Creates the tables (run by store.c's migration from schema 5 to 6). */
LS_MUST_CHECK ls_err store_downstream_migrate(struct sqlite3 *db, char *msg, size_t cap);

struct store_downstream;

/* Opens a writer for session_id on st's database file (st must stay open while it is used). */
LS_MUST_CHECK ls_err store_downstream_open(struct store *st, int64_t session_id,
                                           struct store_downstream **out);

/* Stores n finished calls in one transaction. */
LS_MUST_CHECK ls_err store_downstream_calls(struct store_downstream *w, const struct ds_call *c,
                                            size_t n);

/* Stores one closed second (operations, attribution, requests) in one transaction. */
LS_MUST_CHECK ls_err store_downstream_second(struct store_downstream *w, const struct ds_second *s);

/* The last error message ("" if none). */
const char *store_downstream_errmsg(const struct store_downstream *w);

void store_downstream_close(struct store_downstream *w);

/* ---- reading back ---- */

typedef int (*store_ds_call_fn)(void *ctx, const struct ds_call *c);
/* Every call of the session, by seq; fn returns non-zero to stop. */
LS_MUST_CHECK ls_err store_downstream_calls_each(struct store *st, int64_t session_id,
                                                 store_ds_call_fn fn, void *ctx);

typedef int (*store_ds_second_fn)(void *ctx, const struct ds_second *s);
/*
 * Every stored second of the session, in order, rebuilt as the recorder
 * emitted it (histograms decoded; strings and histograms valid during the
 * call only). Seconds with no row in any table are not there.
 */
LS_MUST_CHECK ls_err store_downstream_seconds_each(struct store *st, int64_t session_id,
                                                   store_ds_second_fn fn, void *ctx);

/* Feeds every stored second of the session into m: the Downstream screen in replay. */
LS_MUST_CHECK ls_err store_downstream_model(struct store *st, int64_t session_id,
                                            struct ds_model *m);

#endif
