/*
 * dash_hot_int: what the Hot paths files share, and nothing outside them.
 *
 * The figures come from the one hot-path model (core/alloc/hotpaths.h), fed
 * live by the run's tracer and in replay from storage (app/hotpaths_store.h).
 * dash_hot_model.c owns the handle (open, close), ranks the model as of the
 * second shown and makes the copies the stack view shows; dash_hot.c formats
 * the rows into the screen and the Overview's panel and handles the keys.
 * Only dash_hot_model.c writes the figures; the view writes only the view
 * state (sort, selection, stack scroll).
 */
#ifndef LS_DASH_HOT_INT_H
#define LS_DASH_HOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "dash_hot.h"
#include "stats/live.h"

#include "alloc/hotpaths.h"

#define DASH_HOT_CAP 256                 /* ranked paths kept per refresh */
#define DASH_HOT_REFRESH_NS 500000000ull /* live: re-rank at most twice a second */
#define DASH_HOT_PROCS HOTPATHS_PROCS

/* One target process as shown, as of the last second of figures. */
struct dash_hot_proc {
    int pid;
    bool alive;            /* live: it reported in the last second shown */
    uint64_t rss_bytes;
    double cpu_pct;        /* < 0: not known yet */
    uint64_t threads;
    char names[200];       /* "node x1, libuv-worker x4" */
};

struct dash_hot {
    struct alloc *a;                   /* live: the tracer, for its status; NULL in replay */
    struct hotpaths *hp;               /* the model: borrowed live, owned in replay */
    bool own_hp;

    /* the figures shown: hotpaths_rank() over the seconds [0, upto) */
    struct hotpath_row rows[DASH_HOT_CAP];
    size_t nrows;
    uint64_t total_allocs, requests, stacks, dropped;
    int64_t live_total;
    double seconds;                    /* what the rates are over: upto */
    uint32_t upto;
    char warning[512];
    struct dash_hot_proc procs[DASH_HOT_PROCS];
    size_t nprocs;
    bool have;                         /* ranked at least once */
    uint64_t refreshed_ns;
    int64_t computed_upto;             /* -1: not yet */
    bool computed_by_bytes;

    /* view state */
    bool by_bytes;
    size_t sel;
    bool stack_open;
    size_t stack_scroll;
    char *stack_title, *stack_text;    /* owned copies of the path opened */
};

/* A handle with no source yet (dash_hot_model.c); NULL when out of memory. Free: dash_hot_close. */
struct dash_hot *dash_hot_new(void);

/*
 * Re-ranks the model when due (live: at most twice a second; replay: when
 * the second shown or the ranking changes) and keeps the selection on a row.
 */
void dash_hot_refresh(struct dash_hot *h, const struct live_snapshot *sn);

/*
 * Opens the stack view on the selected row: h keeps owned copies of its title
 * ("#N blame") and frames. False (nothing changed) when out of memory.
 * The caller makes sure there is a row.
 */
bool dash_hot_stack_open(struct dash_hot *h);

/* Lines in the opened stack's text. */
size_t dash_hot_stack_lines(const struct dash_hot *h);

#endif
