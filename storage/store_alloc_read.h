/*
 * store_alloc_read: reading a session's allocation profile back, for the
 * hot-path export and for replaying the Hot paths screen.
 *
 * store_alloc.h's store_alloc_hotpaths() sums a session at once; replay
 * needs the per-second rows to rebuild the figures as of any second, and the
 * /proc rows (RSS, CPU, threads by name) of the processes. Readers stream
 * rows to a callback as store_read.h's do; strings are valid during the call.
 */
#ifndef LS_STORE_ALLOC_READ_H
#define LS_STORE_ALLOC_READ_H

#include <stdint.h>

#include "util/lserr.h"
#include "store.h"

/* What a session's allocation tables hold, in a few numbers. */
struct store_alloc_info {
    uint64_t stacks;           /* rows of alloc_stacks */
    uint64_t seconds;          /* what rates are over: the load run's seconds (its last stored
                                  interval + 1); for a `trace` session (no intervals) the traced
                                  seconds (the last allocation or /proc row + 1); 0: none */
    uint64_t requests;         /* requests completed in the session (all-steps intervals) */
    uint64_t processes;        /* traced processes summarized (alloc_summary rows) */
    char mode[16];             /* "full", "sampled", "count" ("" when no process summarized) */
};

/* Fills out for session_id (zeros when it was not traced). LS_ERR_NOTFOUND: no such session. */
LS_MUST_CHECK ls_err store_alloc_info(struct store *st, int64_t session_id,
                                      struct store_alloc_info *out);

/* A stored stack. */
struct store_alloc_stack_row {
    int64_t stack_key, pid, blame_line;
    const char *blame_function, *blame_file, *label, *frames, *folded;
};
typedef int (*store_alloc_stack_fn)(void *ctx, const struct store_alloc_stack_row *s);

/* Every stack of the session, by key. fn returns non-zero to stop. */
LS_MUST_CHECK ls_err store_alloc_stacks_each(struct store *st, int64_t session_id,
                                             store_alloc_stack_fn fn, void *ctx);

/* One stack's figures within one second (an alloc_intervals row). */
struct store_alloc_second {
    uint32_t second;
    int64_t stack_key;
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live_bytes;        /* at the end of the second */
    uint64_t requests;         /* requests completed in the second */
};
typedef int (*store_alloc_second_fn)(void *ctx, const struct store_alloc_second *r);

/* Every per-second row of the session, by second then stack key. */
LS_MUST_CHECK ls_err store_alloc_seconds_each(struct store *st, int64_t session_id,
                                              store_alloc_second_fn fn, void *ctx);

/* A traced process within one second (an alloc_process row). */
struct store_alloc_proc {
    uint32_t second;
    int64_t pid;
    uint64_t rss_bytes;
    double cpu_pct;            /* of one core */
    uint64_t threads;
    const char *thread_names;  /* JSON {name: count} */
};
typedef int (*store_alloc_proc_fn)(void *ctx, const struct store_alloc_proc *p);

/* Every /proc row of the session, by second then pid. */
LS_MUST_CHECK ls_err store_alloc_procs_each(struct store *st, int64_t session_id,
                                            store_alloc_proc_fn fn, void *ctx);

#endif
