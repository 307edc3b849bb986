/*
 * store_read: reading stored sessions back, for replay, export and compare.
 *
 * Every reader streams rows through a callback in constant memory (a
 * session may hold millions of samples); pointers handed to a callback are
 * valid only during that call. Readers use the caller's store handle and may
 * run while a writer of another session is active (WAL).
 */
#ifndef LS_STORE_READ_H
#define LS_STORE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* One session row; strings are owned by the struct (store_session_clear frees them). */
struct store_session {
    int64_t id;
    char *name, *scenario_path, *scenario_text, *target, *params_json, *host, *version;
    char *status_text;          /* "" while running */
    int64_t started_unix_ns;
    int64_t ended_unix_ns;      /* 0 while running or when the run died */
    int exit_code;              /* -1 when not ended */
};

/* Reads session id (LS_ERR_NOTFOUND if absent). */
LS_MUST_CHECK ls_err store_session_get(struct store *st, int64_t id, struct store_session *out);
void store_session_clear(struct store_session *s);

/* The newest session's id (LS_ERR_NOTFOUND in an empty database). */
LS_MUST_CHECK ls_err store_session_latest(struct store *st, int64_t *id);

struct store_step {
    int idx;
    const char *name, *method, *params;
    uint32_t weight;
};
typedef int (*store_step_fn)(void *ctx, const struct store_step *s);
/* Steps in index order; fn returns non-zero to stop. */
LS_MUST_CHECK ls_err store_steps_each(struct store *st, int64_t session, store_step_fn fn, void *ctx);

/* Intervals of a session ordered by (second, step); step_filter INT32_MIN for every step. */
typedef int (*store_interval_fn)(void *ctx, const struct store_interval *iv);
LS_MUST_CHECK ls_err store_intervals_each(struct store *st, int64_t session, int32_t step_filter,
                                          store_interval_fn fn, void *ctx);

/* Samples of a session in the order they were stored (rowid). */
typedef int (*store_sample_fn)(void *ctx, const struct ls_sample *s);
LS_MUST_CHECK ls_err store_samples_each(struct store *st, int64_t session, store_sample_fn fn,
                                        void *ctx);

/* Summaries of a session, step order (-1, the all-steps row, first). */
typedef int (*store_summary_fn)(void *ctx, const struct store_summary *sm);
LS_MUST_CHECK ls_err store_summaries_each(struct store *st, int64_t session, store_summary_fn fn,
                                          void *ctx);

/* Events in time order. */
typedef int (*store_event_fn)(void *ctx, uint64_t t_ns, const char *kind, const char *message);
LS_MUST_CHECK ls_err store_events_each(struct store *st, int64_t session, store_event_fn fn,
                                       void *ctx);

#endif
