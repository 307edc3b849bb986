/*
 * dash_hot: the dashboard's Hot paths screen and the Overview's hot-path
 * panel, for a run traced with --trace-allocations and for the replay of a
 * traced session.
 *
 * A struct dash_hot is both the screen's source and its view state, used on
 * the UI thread only. Live, it reads the run's allocation tracer through
 * alloc_snapshot() and alloc_status() (core/alloc.h: both take the tracer's
 * own lock, so any thread may call them) and the target's /proc; in replay it
 * holds the session's stored stacks, per-second rows and /proc rows and sums
 * them up to the second being shown. As the other views, the update half
 * writes text into a dash_frame and never calls curses.
 *
 * Figures: rates are over the traced seconds (allocations / seconds traced so
 * far), per request over the requests completed so far (as `export --what
 * hotpaths` computes them); a path's live bytes are flagged as a possible
 * leak when they rose in each of the last DASH_HOT_LEAK_S traced seconds.
 */
#ifndef LS_DASH_HOT_H
#define LS_DASH_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dash_term.h"
#include "stats/live.h"
#include "util/lserr.h"

#define DASH_HOT_LEAK_S 3

struct alloc;
struct store;
struct dash_hot;

/* A source over a live run's tracer a (borrowed: it must outlive the handle). */
LS_MUST_CHECK ls_err dash_hot_open_live(struct alloc *a, struct dash_hot **out);

/*
 * A source over stored session id: reads its stacks, per-second rows and
 * /proc rows into memory. *out stays NULL (and LS_OK is returned) when the
 * session has no stacks. On failure, why is in err.
 */
LS_MUST_CHECK ls_err dash_hot_open_replay(struct store *st, int64_t session, struct dash_hot **out,
                                          char *err, size_t errcap);

/* NULL-safe. */
void dash_hot_close(struct dash_hot *h);

/* The Hot paths screen in body rows [top, bottom); pids: the target's processes (live runs). */
void dash_view_hot(struct dash_hot *h, const struct live_snapshot *sn, const int *pids, size_t npids,
                   struct dash_frame *f, int top, int bottom);

/* The Overview's panel: the top paths in rows [top, bottom) (a heading and up to three rows). */
void dash_hot_panel(struct dash_hot *h, const struct live_snapshot *sn, struct dash_frame *f, int top,
                    int bottom);

/* Rows the Overview gives the panel on a screen with body_rows rows (0: none fits). */
int dash_hot_panel_rows(int body_rows);

/* The screen's keys; returns enum dash_key_flags (0: not its key). */
int dash_hot_key(struct dash_hot *h, int ch);

/* The screen's keys for the bottom line. */
void dash_hot_keys_help(const struct dash_hot *h, char *buf, size_t cap);

#endif
