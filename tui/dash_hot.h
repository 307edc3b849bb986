/*
 * dash_hot: the dashboard's Hot paths screen and the Overview's hot-path
 * panel, for a run traced with --trace-allocations and for the replay of a
 * traced session.
 *
 * A struct dash_hot is the screen's view of the one hot-path model
 * (core/alloc/hotpaths.h) and its view state, used on the UI thread only.
 * Live, the run's tracer feeds the model as each second closes; in replay the
 * model is fed from storage; either way the screen ranks it as of the second
 * shown, so the two cannot disagree. As the other views, the update half
 * writes text into a dash_frame and never calls curses.
 *
 * Figures: rates are over the seconds shown, per request over the requests
 * completed in them (as `export --what hotpaths` computes them); a path's
 * live bytes are flagged as a possible leak when they rose in each of the
 * last DASH_HOT_LEAK_S seconds.
 */
#ifndef LS_DASH_HOT_H
#define LS_DASH_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/hotpaths.h"
#include "dash_term.h"
#include "stats/live.h"
#include "util/lserr.h"

#define DASH_HOT_LEAK_S HOTPATHS_LEAK_S

struct alloc;
struct hotpaths;
struct dash_hot;

/*
 * A view of a live run: its hot-path model hp, fed by the run's tracer a
 * (both borrowed: they must outlive the handle; a gives the tracer's status).
 */
LS_MUST_CHECK ls_err dash_hot_open_live(struct alloc *a, struct hotpaths *hp, struct dash_hot **out);

/* A view of a stored session's model (app/hotpaths_store.h); the handle owns hp. */
LS_MUST_CHECK ls_err dash_hot_open_model(struct hotpaths *hp, struct dash_hot **out);

/* NULL-safe. */
void dash_hot_close(struct dash_hot *h);

/* The Hot paths screen in body rows [top, bottom). */
void dash_view_hot(struct dash_hot *h, const struct live_snapshot *sn, struct dash_frame *f, int top,
                   int bottom);

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
