/*
 * store_inside: the inside-the-target rows of a session (connections, DNS
 * lookups, blocking calls on runtime workers, lock waits and parking,
 * thread creations; core/alloc/alloc_inside.h) read back.
 *
 * They are written with the allocation rows of each second (store_alloc.c,
 * one transaction a second) into the table inside_seconds, described in
 * store_inside.c. Replay feeds them to the same model the live run feeds
 * (alloc_inside_model), so the two cannot disagree.
 */
#ifndef LS_STORE_INSIDE_H
#define LS_STORE_INSIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "alloc/alloc_inside.h"
#include "util/lserr.h"
#include "store.h"

/* A stored row, with its stack's blame and frames ("" when it has none). */
struct store_inside_row {
    uint32_t second;
    enum alloc_inside_kind kind;
    bool worker;
    int64_t stack_key, pid;
    const char *target;        /* "ip:port", a name, or "" */
    uint64_t count, failed, time_ns;
    uint64_t requests;         /* requests completed in the second (all steps) */
    const char *blame;         /* "function (file:line)", as the live model has it */
    const char *frames;
};
typedef int (*store_inside_fn)(void *ctx, const struct store_inside_row *r);

/*
 * Calls fn for every inside row of the session, by second; fn returns
 * non-zero to stop. Strings are valid during the call only.
 */
LS_MUST_CHECK ls_err store_inside_each(struct store *st, int64_t session_id, store_inside_fn fn,
                                       void *ctx);

/*
 * Feeds a model (alloc_inside_model_open) with the session's rows and the
 * requests completed each second (the all-steps intervals): what the live
 * run's model held at its end.
 */
LS_MUST_CHECK ls_err store_inside_load(struct store *st, int64_t session_id,
                                       struct alloc_inside_model *m);

#endif
