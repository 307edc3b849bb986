/*
 * dash: the dashboard, for a live run and for replay.
 *
 * Follows htop's split: each screen (a view) has an update() that turns a
 * live snapshot into text in a struct dash_frame (no curses), the frame is
 * painted by dash_term, and key handlers return flags and never draw. The
 * loop runs on the calling thread, which is the only one that touches the
 * terminal; the run itself (engine, collector, storage) goes on in other
 * threads and reaches the screen only through the live model.
 */
#ifndef LS_DASH_H
#define LS_DASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dash_term.h"
#include "engine/engine.h"
#include "stats/live.h"

/* What a key handler did. */
enum dash_key_flags {
    DASH_KEY_HANDLED = 1,
    DASH_KEY_REDRAW = 2,
    DASH_KEY_QUIT = 4,
    DASH_KEY_RESNAP = 8,   /* the model changed under the display: take a snapshot now */
};

/*
 * The screens; replay has no Target screen (the process is not stored), and
 * Hot paths is shown only when allocations are traced (hooks->hot), Downstream
 * only when the run proxies the target's AWS calls (hooks->ds).
 */
enum dash_screen { DASH_OVERVIEW = 0, DASH_STEPS, DASH_ERRORS, DASH_TARGET, DASH_HOT, DASH_DOWNSTREAM,
                   DASH__SCREENS };

struct dash_hot;
struct ds_model;

/*
 * What drives the dashboard besides the live model: a live run or a replay.
 * Every hook is optional and called on the UI thread.
 */
struct dash_hooks {
    void *ctx;
    bool replay;
    /* Each loop turn, before the snapshot: replay moves its clock here. */
    void (*tick)(void *ctx);
    /* The source's own keys (replay controls); returns enum dash_key_flags, 0 if not its key. */
    int (*key)(void *ctx, int ch);
    /* Its keys for the bottom line ("" for none) and its status for the title bar. */
    void (*keys_help)(void *ctx, char *buf, size_t cap);
    void (*status)(void *ctx, char *buf, size_t cap);
    /* Target process ids (live runs); returns how many. */
    size_t (*pids)(void *ctx, int *pids, size_t cap);
    /* Exports session of the database at dbpath; writes what happened to msg. NULL: no e key. */
    void (*export_session)(const char *dbpath, int64_t session, char *msg, size_t cap);
    const char *dbpath;
    int64_t session;
    /* Allocation hot paths (dash_hot.h), borrowed; NULL: no Hot paths screen. A live run's
       is made by dash_loop from the live model's info->alloc. */
    struct dash_hot *hot;
    /* The downstream calls' model (downstream/ds_model.h), borrowed; NULL: no Downstream
       screen. A live run's is the live model's info->ds. */
    struct ds_model *ds;
};

/* Sets h's export hook when this build has the CSV export (dash_export.c). */
void dash_hooks_add_export(struct dash_hooks *h, const char *dbpath, int64_t session);

/*
 * Runs the dashboard until the user quits (q) or a signal arrives; returns
 * DASH_QUIT_KEY or DASH_QUIT_SIGNAL. The terminal must be open (dash_term_open).
 */
enum dash_quit { DASH_QUIT_KEY = 1, DASH_QUIT_SIGNAL = 2, DASH_QUIT_ERROR = 3 };
enum dash_quit dash_loop(struct live *lv, const struct dash_hooks *hooks);

/*
 * Runs e (engine_run) on a thread of its own while the dashboard shows lv on
 * this one; returns when the user quit and the run is over (quitting during
 * the run stops it, and the stop is waited for). Same results as engine_run.
 * over(over_ctx), if not NULL, is called on the engine's thread as soon as a
 * run that did not fail is over, before the final screen says so: the caller
 * stores the run's summaries there, so that a kill while the final screen
 * waits for q loses none of them.
 */
LS_MUST_CHECK ls_err dash_watch_run(struct live *lv, struct engine *e, uint32_t nsteps,
                                    const char *dbpath, int64_t session,
                                    void (*over)(void *ctx), void *over_ctx,
                                    enum engine_end *end, char *err, size_t errcap);

/* ---- views (dash_views.c): update() fills the body rows [top, bottom) of f ---- */

struct dash_view_state {
    enum dash_screen screen;
    bool replay;
    size_t step_sel;        /* selected step row (index into snapshot steps) */
    size_t err_scroll;      /* Errors: first event shown, counted from the newest */
    size_t target_sel;
    bool paused;
    bool help;              /* the key help is open */
    char message[160];      /* a one-off note for the status line (export result) */
    /* Target screen: the previous /proc reading, for CPU % */
    int pids[16];
    size_t npids;
    int prev_pids[16];
    size_t nprev;
    uint64_t prev_cpu_ticks[16];
    uint64_t prev_read_ns;
    double cpu_pct[16];
};

void dash_view_overview(const struct live_snapshot *sn, struct dash_view_state *vs,
                        struct dash_frame *f, int top, int bottom);
void dash_view_steps(const struct live_snapshot *sn, struct dash_view_state *vs,
                     struct dash_frame *f, int top, int bottom);
void dash_view_errors(const struct live_snapshot *sn, struct dash_view_state *vs,
                      struct dash_frame *f, int top, int bottom);
void dash_view_target(const struct live_snapshot *sn, struct dash_view_state *vs,
                      struct dash_frame *f, int top, int bottom);

/* The Downstream screen (dash_ds.c): per operation and per step, from m. */
void dash_view_downstream(struct ds_model *m, const struct live_snapshot *sn,
                          struct dash_view_state *vs, struct dash_frame *f, int top, int bottom);

/* Measured seconds in the snapshot (closed seconds after the warm-up). */
double dash_measured_seconds(const struct live_snapshot *sn);

/* Latency for tables: "850us", "1.20ms", "-" when nothing was measured. */
void dash_fmt_us(int64_t us, bool any, char *buf, size_t cap);

/* ---- the target process, from /proc (dash_proc.c; no curses) ---- */

struct dash_proc_info {
    int pid;
    bool alive;
    char name[32];
    char state;
    uint64_t rss_kb;
    uint64_t threads;
    uint64_t cpu_ticks;     /* utime + stime, in clock ticks */
    uint64_t fds;           /* open file descriptors (0 if unreadable) */
};

/* Reads /proc/PID/{stat,fd} (core/target/procstat.h); false if the process is gone. */
bool dash_proc_read(int pid, struct dash_proc_info *out);

/* ---- session picker for replay (dash_pick.c) ---- */

struct dash_pick_row {
    int64_t id;
    char text[200];
};

/* Lets the user choose a row; returns its index, or -1 if they quit. Terminal must be open. */
long dash_pick(const struct dash_pick_row *rows, size_t n);

#endif
