/*
 * dash_hot_int: what the Hot paths files share, and nothing outside them.
 *
 * The handle is split over three files by responsibility: dash_hot_model.c
 * owns it (open, close), follows live bytes for the leak flag, reads the
 * live tracer and /proc, and makes the copies the stack view shows;
 * dash_hot_replay.c loads a stored session and sums it up to the second
 * shown; dash_hot.c formats the rows into the screen and the Overview's
 * panel and handles the keys. Only the model files write the figures; the
 * view writes only the view state (sort, selection, stack scroll).
 */
#ifndef LS_DASH_HOT_INT_H
#define LS_DASH_HOT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "dash_hot.h"
#include "stats/live.h"

struct store_alloc_second;

#define DASH_HOT_CAP 256                 /* ranked paths kept per refresh */
#define DASH_HOT_REFRESH_NS 500000000ull /* live: re-read the tracer at most twice a second */
#define DASH_HOT_PROCS 8
#define DASH_HOT_LEAK_SLOTS 8192         /* paths whose live bytes are followed (power of two) */

/* One ranked path as shown; the figures are over the seconds traced so far. */
struct dash_hot_row {
    uint32_t key;
    int pid;
    const char *blame, *label, *stack; /* borrowed */
    uint64_t allocs, bytes, reallocs, frees, short_lived;
    int64_t live_bytes;
    double allocs_per_s, bytes_per_s, allocs_per_req, bytes_per_req;
    bool leak;
};

/* One target process as shown (live: /proc now; replay: its last stored second). */
struct dash_hot_proc {
    int pid;
    bool alive;
    uint64_t rss_bytes;
    double cpu_pct;        /* < 0: not known yet */
    uint64_t threads;
    char names[200];       /* "node x1, libuv-worker x4" */
};

/* A path's live bytes second by second: how many seconds in a row they rose. */
struct dash_hot_leak {
    uint32_t key1;         /* key + 1; 0: free */
    uint32_t last_sec;
    int64_t last_live;
    uint32_t streak;
    uint32_t records;
};

/* Replay: a stored stack and its figures summed up to the second shown. */
struct dash_hot_rp_stack {
    uint32_t key;
    int pid;
    char *blame, *label, *stack;
    uint64_t allocs, bytes, reallocs, frees, short_lived; /* summed up to the second shown */
    int64_t live;
    bool seen;
};

/* Replay: one stored /proc row. */
struct dash_hot_rp_proc {
    uint32_t second;
    int pid;
    uint64_t rss_bytes, threads;
    double cpu_pct;
    char *names_json;
};

struct dash_hot {
    struct alloc *a;                   /* live; NULL in replay */
    /* replay: the stored session */
    struct dash_hot_rp_stack *st;
    size_t nst, capst;
    struct store_alloc_second *sec;
    size_t nsec, capsec;
    struct dash_hot_rp_proc *pr;
    size_t npr, cappr;
    bool oom;

    /* the figures shown */
    struct dash_hot_row rows[DASH_HOT_CAP];
    size_t nrows;
    uint64_t total_allocs, requests, stacks, dropped;
    int64_t live_total;
    double seconds;                    /* what the rates are over: run time so far */
    char warning[512];
    struct dash_hot_proc procs[DASH_HOT_PROCS];
    size_t nprocs;
    bool have;                         /* refreshed at least once */
    uint64_t refreshed_ns;
    int64_t computed_upto;             /* replay: seconds summed (-1: none) */
    bool computed_by_bytes;
    struct alloc_hot snap[DASH_HOT_CAP];    /* live: the tracer's copy */

    struct dash_hot_leak *leak;            /* DASH_HOT_LEAK_SLOTS */
    uint32_t leak_seconds;             /* live: traced seconds when last recorded */

    /* live CPU %: the previous reading */
    int prev_pid[DASH_HOT_PROCS];
    uint64_t prev_ticks[DASH_HOT_PROCS];
    double prev_cpu[DASH_HOT_PROCS];
    size_t nprev;
    uint64_t prev_ns;

    /* view state */
    bool by_bytes;
    size_t sel;
    bool stack_open;
    size_t stack_scroll;
    char *stack_title, *stack_text;    /* owned copies of the path opened */
};

/* A handle with no source yet (dash_hot_model.c); NULL when out of memory. Free: dash_hot_close. */
struct dash_hot *dash_hot_new(void);

/* Records a path's live bytes at the end of traced second sec (the first sets the base). */
void dash_hot_leak_record(struct dash_hot *h, uint32_t key, uint32_t sec, int64_t live);

/* True when the path's live bytes rose in each of the DASH_HOT_LEAK_S seconds up to cur_sec. */
bool dash_hot_leak_flag(struct dash_hot *h, uint32_t key, uint32_t cur_sec);

/* Refills rows, totals and procs from the stored session up to sn's closed seconds. */
void dash_hot_refresh_replay(struct dash_hot *h, const struct live_snapshot *sn);

/*
 * Refills the figures from the source when due and keeps the selection on a
 * row; pids NULL keeps the previous /proc reading (live runs).
 */
void dash_hot_refresh(struct dash_hot *h, const struct live_snapshot *sn, const int *pids,
                      size_t npids);

/*
 * Opens the stack view on the selected row: h keeps owned copies of its title
 * ("#N blame") and frames. False (nothing changed) when out of memory.
 * The caller makes sure there is a row.
 */
bool dash_hot_stack_open(struct dash_hot *h);

/* Lines in the opened stack's text. */
size_t dash_hot_stack_lines(const struct dash_hot *h);

#endif
