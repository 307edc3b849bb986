/*
 * store_alloc: allocation profiling rows in the session database.
 *
 * A store_alloc is a small writer of its own: one connection to the
 * session's file, used from the allocation reader thread (core/alloc.h),
 * which produces a handful of rows per second, so its writes never wait
 * behind the sample writer's queue and the load engine never waits for them.
 * Each closed second is one transaction. The tables are described in
 * store.c's migrate_v3.
 */
#ifndef LS_STORE_ALLOC_H
#define LS_STORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "util/lserr.h"
#include "store.h"

struct store_alloc;

/* Opens a writer for session_id on st's database file (st must stay open while it is used). */
LS_MUST_CHECK ls_err store_alloc_open(struct store *st, int64_t session_id,
                                      struct store_alloc **out);

/* Records a newly seen stack. */
LS_MUST_CHECK ls_err store_alloc_stack(struct store_alloc *w, const struct alloc_stack_info *s);

/* Records one closed second: its per-stack rows and process figures, in one transaction. */
LS_MUST_CHECK ls_err store_alloc_interval(struct store_alloc *w, const struct alloc_interval *iv);

/* Records a traced process's final counters; warning may be NULL. */
LS_MUST_CHECK ls_err store_alloc_summary(struct store_alloc *w, const struct alloc_proc_summary *s,
                                         const char *warning);

/* The last error message ("" if none). */
const char *store_alloc_errmsg(const struct store_alloc *w);

void store_alloc_close(struct store_alloc *w);

/* A stored hot path: a stack's totals over the session. */
struct store_hotpath {
    int64_t stack_key;
    int64_t pid;
    const char *blame_function, *blame_file, *label, *frames, *folded;
    int64_t blame_line;
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live_bytes;        /* at the stack's last second */
    uint64_t seconds;          /* seconds in which it allocated or freed */
    uint64_t requests;         /* requests completed in the session's traced seconds */
};
typedef int (*store_hotpath_fn)(void *ctx, const struct store_hotpath *h);

/*
 * Calls fn for the session's hot paths, most allocations first (by_bytes:
 * most bytes first), at most limit (0: all); fn returns non-zero to stop.
 * Strings are valid during the call only.
 */
LS_MUST_CHECK ls_err store_alloc_hotpaths(struct store *st, int64_t session_id, int by_bytes,
                                          size_t limit, store_hotpath_fn fn, void *ctx);

#endif
