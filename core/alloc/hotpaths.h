/*
 * hotpaths: the one model of allocation hot paths, fed live and from storage.
 *
 * The model holds the traced stacks and their per-second rows, exactly what
 * the tracer hands its sink (alloc.h: struct alloc_stack_info, struct
 * alloc_interval) and what storage keeps (alloc_stacks, alloc_intervals,
 * alloc_process). Live, the run's sink feeds it from the reader thread as
 * each second closes; in replay, app/ feeds it the stored rows. Either way
 * hotpaths_rank() sums the rows of the seconds before the one asked for and
 * ranks the paths, so the live screen and the replay of the same second
 * cannot disagree (heaptrack's AccumulatedTraceData serves its printer and
 * its GUI the same way).
 *
 * Figures over seconds [0, upto): a path's totals, its rates over upto
 * seconds, per request over the requests completed in those seconds, its
 * live bytes at the end of its last row, and a leak flag when its live bytes
 * rose in each of the last HOTPATHS_LEAK_S seconds up to upto - 1.
 *
 * Thread-safe: one mutex guards the model; feeding and ranking may happen
 * on different threads. Strings handed out by hotpaths_rank() are owned by
 * the model and stay valid until hotpaths_close().
 */
#ifndef LS_HOTPATHS_H
#define LS_HOTPATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "util/lserr.h"

#define HOTPATHS_LEAK_S 3  /* seconds in a row of rising live bytes that flag a path */
#define HOTPATHS_PROCS 8   /* processes reported by hotpaths_rank() */

struct hotpaths;

/* One ranked path, over seconds [0, upto). */
struct hotpath_row {
    uint32_t key;
    int pid;
    const char *blame;          /* "function (file:line)", file by its base name; owned by the model */
    const char *blame_function, *blame_file; /* the blame frame's parts (file as traced) */
    uint32_t blame_line;
    const char *label;          /* "vector growth", "format!", ... or "" */
    const char *stack;          /* every frame, innermost first, one per line */
    const char *folded;         /* "root;...;innermost" */
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live_bytes;         /* at the end of the path's last row before upto */
    double allocs_per_s, bytes_per_s;     /* over upto seconds */
    double allocs_per_req, bytes_per_req; /* over the requests of those seconds (0 if none) */
    bool leak;
};

/* A traced process as of its last second before upto. */
struct hotpath_proc {
    int pid;
    uint32_t second;            /* the second the figures are from */
    uint64_t rss_bytes;
    double cpu_pct;             /* of one core */
    uint64_t threads;
    char names[200];            /* "node x1, libuv-worker x4" */
};

/* What a ranking covered. */
struct hotpaths_totals {
    uint32_t upto;              /* seconds summed: [0, upto) */
    uint32_t seconds_fed;       /* hotpaths_seconds() */
    uint64_t allocs, bytes;     /* every path, over those seconds */
    int64_t live_bytes;
    uint64_t requests;
    uint64_t paths;             /* paths with a row before upto */
    struct hotpath_proc procs[HOTPATHS_PROCS];
    size_t nprocs;
};

/* An empty model. */
LS_MUST_CHECK ls_err hotpaths_open(struct hotpaths **out);

/* NULL-safe. */
void hotpaths_close(struct hotpaths *hp);

/*
 * A new stack (the strings are copied). A key seen before keeps its first
 * text. LS_ERR_NOMEM leaves the model as it was.
 */
LS_MUST_CHECK ls_err hotpaths_add_stack(struct hotpaths *hp, const struct alloc_stack_info *s);

/*
 * One closed second: its per-stack rows, its processes and the requests
 * completed in it. Seconds arrive in order live; in replay the caller feeds
 * them in the order storage returns them (by second). Rows of stacks the
 * model does not know are kept and count once their stack arrives.
 */
LS_MUST_CHECK ls_err hotpaths_add_interval(struct hotpaths *hp, const struct alloc_interval *iv);

/*
 * Requests completed in a second, when they come apart from the rows (a
 * replay's stored intervals, or a second with no allocation row).
 */
LS_MUST_CHECK ls_err hotpaths_set_requests(struct hotpaths *hp, uint32_t second, uint64_t requests);

/*
 * The seconds fed so far: one past the last second whose interval (rows,
 * processes) arrived. Requests alone do not count: live, the collector
 * reports a second's requests before the tracer closes it.
 */
uint32_t hotpaths_seconds(struct hotpaths *hp);

/*
 * Ranks the paths over seconds [0, upto) by allocations, bytes or live
 * bytes (ties by key), copies at most cap rows into out and fills tot
 * (may be NULL); returns the rows copied.
 */
size_t hotpaths_rank(struct hotpaths *hp, uint32_t upto, enum alloc_sort by, struct hotpath_row *out,
                     size_t cap, struct hotpaths_totals *tot);

#endif
