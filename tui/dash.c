/*
 * dash: the dashboard's loop, header, screen switching and keys (see dash.h).
 *
 * The loop waits for a key until the next snapshot is due, takes a snapshot
 * of the live model five times a second (unless paused), lets the current
 * view fill a frame and paints it (curses sends only the cells that changed). Key handlers only change the view state and return
 * flags; painting happens once per turn, after them.
 */
#include "dash.h"

#include <curses.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "dash_hot.h"
#include "report.h"

#define SNAP_EVERY_NS 200000000ull /* five refreshes a second */
#define KEY_WAIT_MAX_MS 200       /* paused: how often signals, ticks and messages are looked at */

static const char *const screen_names[DASH__SCREENS] = {"Overview", "Steps", "Errors", "Target",
                                                         "Hot paths", "Downstream"};

/* The screens shown, in order: Target in live runs only, Hot paths when allocations are traced. */
static int screen_list(const struct dash_hooks *h, enum dash_screen out[DASH__SCREENS])
{
    int n = 0;
    for (int s = 0; s < DASH__SCREENS; s++) {
        if ((s == DASH_TARGET && h->replay) || (s == DASH_HOT && !h->hot) ||
            (s == DASH_DOWNSTREAM && !h->ds))
            continue;
        out[n++] = (enum dash_screen)s;
    }
    return n;
}

static int screen_count(const struct dash_hooks *h)
{
    enum dash_screen l[DASH__SCREENS];
    return screen_list(h, l);
}

/* The screen n places after (or before) the current one in the shown order. */
static enum dash_screen screen_step(const struct dash_hooks *h, enum dash_screen cur, int n)
{
    enum dash_screen l[DASH__SCREENS];
    int cnt = screen_list(h, l), pos = 0;
    while (pos < cnt && l[pos] != cur)
        pos++;
    return l[((pos + n) % cnt + cnt) % cnt];
}

static const char *state_text(const struct live_snapshot *sn, bool replay)
{
    if (replay)
        return sn->state == LIVE_DONE ? "REPLAY END" : "REPLAY";
    bool warm = sn->nhistory && sn->history[sn->nhistory - 1].warmup;
    switch (sn->state) {
    case LIVE_STARTING:
        return "STARTING";
    case LIVE_RUNNING:
        return warm ? "WARM-UP" : "RUNNING";
    case LIVE_STOPPING:
        return "STOPPING";
    case LIVE_DONE:
        return "DONE";
    }
    return "";
}

/* The keys that work on the current screen, in the order people look for them. */
static void keys_line(const struct dash_hooks *h, const struct dash_view_state *vs,
                      const struct live_snapshot *sn, char *buf, size_t cap)
{
    size_t off = 0;
#define ADD(...) off += (size_t)snprintf(buf + off, off < cap ? cap - off : 0, __VA_ARGS__)
    if (vs->help) {
        ADD("any key: close this help");
        return;
    }
    ADD("Tab/1-%d screen", screen_count(h));
    switch (vs->screen) {
    case DASH_OVERVIEW:
        ADD("  Up/Down step  Enter detail");
        break;
    case DASH_STEPS:
        ADD("  Up/Down step");
        break;
    case DASH_ERRORS:
        if (sn->nevents > 1)
            ADD("  Up/Down scroll");
        break;
    case DASH_TARGET:
        if (vs->npids > 1)
            ADD("  Up/Down process");
        break;
    case DASH_HOT:
        if (h->hot) {
            char hk[120];
            dash_hot_keys_help(h->hot, hk, sizeof(hk));
            ADD("  %s", hk);
        }
        break;
    default:
        break;
    }
    if (h->keys_help) {
        char extra[200];
        h->keys_help(h->ctx, extra, sizeof(extra));
        if (extra[0])
            ADD("  %s", extra);
    } else {
        ADD("  p %s", vs->paused ? "resume" : "pause");
    }
    if (h->export_session)
        ADD("  e export");
    ADD("  ? keys  q quit");
#undef ADD
}

/* Splits the key line into rows of the screen's width at two-space gaps. */
static int wrap_keys(const char *keys, int cols, char rows[][DASH_MAX_COLS + 1], int maxrows)
{
    int n = 0;
    const char *p = keys;
    while (*p && n < maxrows) {
        int len = (int)strlen(p);
        int take = len;
        if (len > cols - 1) {
            take = 0;
            for (int i = 0; i + 1 < len && i < cols - 1; i++) {
                if (p[i] == ' ' && p[i + 1] == ' ')
                    take = i;
            }
            if (take == 0)
                take = cols - 1;
        }
        snprintf(rows[n], DASH_MAX_COLS + 1, " %.*s", take, p);
        n++;
        p += take;
        while (*p == ' ')
            p++;
    }
    return n;
}

static void header(const struct live_snapshot *sn, const struct dash_hooks *h,
                   const struct dash_view_state *vs, struct dash_frame *f)
{
    const struct live_info *in = sn->info;
    char status[160] = "";
    if (h->status)
        h->status(h->ctx, status, sizeof(status));
    f->line[0].style = DS_TITLE;
    char right[240];
    snprintf(right, sizeof(right), "%.80s%s%.80s%s%s ", vs->message[0] ? vs->message : "",
             vs->message[0] ? "  " : "", status, status[0] ? "  " : "",
             vs->paused ? "PAUSED" : state_text(sn, h->replay));
    int rl = (int)strlen(right);
    int rcol = f->cols - rl > 24 ? f->cols - rl : 24;
    /* The scenario name gives way to the state on the right. */
    dash_frame_put(f, 0, 0, DS_TITLE, " loadscope  %.*s", rcol - 14 > 0 ? rcol - 14 : 0, in->scenario);
    dash_frame_put(f, 0, rcol, DS_TITLE, "%s", right);

    char sess[32] = "";
    if (in->session)
        snprintf(sess, sizeof(sess), "  session %lld", (long long)in->session);
    int sl = (int)strlen(sess);
    dash_frame_put(f, 1, 1, DS_NORMAL, "target %.*s", f->cols - 10 - sl > 0 ? f->cols - 10 - sl : 0,
                   in->target);
    dash_frame_put(f, 1, f->cols - sl - 1, DS_NORMAL, "%s", sess);

    char el[24], tot[24], rem[24];
    snprintf(el, sizeof(el), "%.1fs", (double)sn->elapsed_ns / 1e9);
    snprintf(tot, sizeof(tot), "%.1fs", (double)(in->warmup_ns + in->duration_ns) / 1e9);
    snprintf(rem, sizeof(rem), "%.1fs", (double)live_remaining_ns(sn) / 1e9);
    dash_frame_put(f, 2, 1, DS_NORMAL, "elapsed %8s / %-8s remaining %8s   %s", el, tot, rem, in->load);

    const struct live_step *all = &sn->steps[sn->nsteps_total - 1];
    /* Per second while running; over, the measured mean (the last second is a partial one). */
    double secs = dash_measured_seconds(sn);
    bool over = sn->state == LIVE_DONE && secs > 0;
    uint64_t rate = over ? (uint64_t)((double)all->count / secs + 0.5)
                    : sn->nhistory ? sn->history[sn->nhistory - 1].count : 0;
    char infl[24] = "-";
    if (sn->in_flight_known)
        snprintf(infl, sizeof(infl), "%llu", (unsigned long long)sn->in_flight);
    double errpct = all->count ? 100.0 * (double)all->errors / (double)all->count : 0;
    dash_frame_put(f, 3, 1, DS_NORMAL, "rate %8llu/s%s in flight %6s  errors %8llu (%5.2f%%)  late %8llu",
                   (unsigned long long)rate, over ? " avg" : "    ", infl, (unsigned long long)all->errors, errpct,
                   (unsigned long long)all->late);
    if (all->errors)
        dash_frame_style(f, 3, 39, 25, DS_BAD);

    int col = 1;
    enum dash_screen shown[DASH__SCREENS];
    int nshown = screen_list(h, shown);
    for (int i = 0; i < nshown; i++) {
        bool cur = vs->screen == shown[i];
        int n = dash_frame_put(f, 4, col, cur ? DS_SELECT : DS_HEAD, "%s%d %s%s", cur ? "[" : " ",
                               i + 1, screen_names[shown[i]], cur ? "]" : " ");
        col += n + 1;
    }
}

static void help_view(const struct dash_hooks *h, struct dash_frame *f, int top, int bottom)
{
    static const char *const common[] = {
        "Tab, Shift-Tab   next / previous screen",
        "1 2 3 4          Overview, Steps, Errors, Target (replay: 1-3)",
        "Up, Down         select a step (Overview, Steps), scroll (Errors), process (Target)",
        "Enter            Overview: open the selected step's detail",
        "                 (traced runs: Hot paths is the last screen; Up/Down path, Enter its",
        "                 full stack, s ranks by bytes/s or allocations/s)",
        "                 (target.downstream: Downstream lists the target's AWS calls)",
        "?                this help; q quits (a live run is stopped, the session is kept)",
    };
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD, "keys");
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]) && r < bottom; i++)
        dash_frame_put(f, r++, 3, DS_NORMAL, "%s", common[i]);
    if (h->replay) {
        static const char *const rk[] = {
            "space, p         play / pause",
            "- +              slower / faster (0.5x to 16x)",
            "Left, Right      back / forward one second",
            "[ ]              back / forward ten seconds",
            "Home, End        start / end of the session",
            "w                jump to the worst second (highest p99) and pause",
        };
        for (size_t i = 0; i < sizeof(rk) / sizeof(rk[0]) && r < bottom; i++)
            dash_frame_put(f, r++, 3, DS_NORMAL, "%s", rk[i]);
    } else if (r < bottom) {
        dash_frame_put(f, r++, 3, DS_NORMAL, "p                pause / resume the display (the run goes on)");
    }
    if (h->export_session && r < bottom)
        dash_frame_put(f, r++, 3, DS_NORMAL, "e                export the session as CSV (samples, intervals, summary)");
}

static void compose(const struct live_snapshot *sn, const struct dash_hooks *h,
                    struct dash_view_state *vs, struct dash_frame *f, int rows, int cols)
{
    dash_frame_reset(f, rows, cols);
    if ((vs->screen == DASH_TARGET || vs->screen == DASH_HOT) && h->pids) {
        size_t cap = sizeof(vs->pids) / sizeof(vs->pids[0]);
        vs->npids = h->pids(h->ctx, vs->pids, cap);
        if (vs->npids > cap)
            vs->npids = cap;
        if (vs->target_sel >= vs->npids)
            vs->target_sel = 0;
    }
    header(sn, h, vs, f);
    char keys[600];
    keys_line(h, vs, sn, keys, sizeof(keys));
    char krows[3][DASH_MAX_COLS + 1];
    int nk = wrap_keys(keys, f->cols, krows, 3);
    for (int i = 0; i < nk; i++) {
        int r = f->rows - nk + i;
        if (r < 5)
            continue;
        f->line[r].style = DS_KEYS;
        dash_frame_put(f, r, 0, DS_KEYS, "%s", krows[i]);
    }
    int top = 5, bottom = f->rows - nk;
    if (vs->help) {
        help_view(h, f, top, bottom);
        return;
    }
    switch (vs->screen) {
    case DASH_OVERVIEW:
        if (h->hot && dash_hot_panel_rows(bottom - top) > 0) {
            int pr = dash_hot_panel_rows(bottom - top);
            dash_hot_panel(h->hot, sn, f, bottom - pr, bottom);
            bottom -= pr;
        }
        dash_view_overview(sn, vs, f, top, bottom);
        break;
    case DASH_STEPS:
        dash_view_steps(sn, vs, f, top, bottom);
        break;
    case DASH_ERRORS:
        dash_view_errors(sn, vs, f, top, bottom);
        break;
    case DASH_TARGET:
        dash_view_target(sn, vs, f, top, bottom);
        break;
    case DASH_HOT:
        if (h->hot)
            dash_view_hot(h->hot, sn, f, top, bottom);
        break;
    case DASH_DOWNSTREAM:
        dash_view_downstream(h->ds, sn, vs, f, top, bottom);
        break;
    default:
        break;
    }
}

/* Keys the dashboard itself understands; returns enum dash_key_flags. */
static int on_key(int ch, const struct dash_hooks *h, struct dash_view_state *vs,
                  const struct live_snapshot *sn, char *msg, size_t msgcap)
{
    int nscreens = screen_count(h);
    if (vs->help) {
        vs->help = false;
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    }
    if (vs->screen == DASH_HOT && h->hot) {
        int fl = dash_hot_key(h->hot, ch);
        if (fl)
            return fl;
    }
    switch (ch) {
    case 'q':
    case 'Q':
        return DASH_KEY_HANDLED | DASH_KEY_QUIT;
    case '?':
        vs->help = true;
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case '\t':
        vs->screen = screen_step(h, vs->screen, 1);
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case KEY_BTAB:
        vs->screen = screen_step(h, vs->screen, -1);
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
        if (ch - '1' >= nscreens)
            return 0;
        vs->screen = screen_step(h, DASH_OVERVIEW, ch - '1');
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case KEY_UP:
    case KEY_DOWN: {
        int d = ch == KEY_UP ? -1 : 1;
        if (vs->screen == DASH_OVERVIEW || vs->screen == DASH_STEPS) {
            size_t n = sn->nsteps_total;
            vs->step_sel = d < 0 ? (vs->step_sel + n - 1) % n : (vs->step_sel + 1) % n;
        } else if (vs->screen == DASH_ERRORS) {
            /* Up shows older messages. */
            if (d < 0 && vs->err_scroll + 1 < sn->nevents)
                vs->err_scroll++;
            else if (d > 0 && vs->err_scroll > 0)
                vs->err_scroll--;
        } else if (vs->screen == DASH_TARGET && vs->npids > 1) {
            size_t n = vs->npids;
            vs->target_sel = d < 0 ? (vs->target_sel + n - 1) % n : (vs->target_sel + 1) % n;
        } else {
            return 0;
        }
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    }
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (vs->screen != DASH_OVERVIEW)
            return 0;
        vs->screen = DASH_STEPS;
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case 'p':
        vs->paused = !vs->paused;
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW | DASH_KEY_RESNAP;
    case 'e':
        if (!h->export_session)
            return 0;
        h->export_session(h->dbpath, h->session, msg, msgcap);
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    case KEY_RESIZE:
        return DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    default:
        return 0;
    }
}

enum dash_quit dash_loop(struct live *lv, const struct dash_hooks *h)
{
    enum dash_quit why = DASH_QUIT_ERROR;
    struct dash_hot *own_hot = NULL;
    struct live_snapshot *sn = NULL;
    struct dash_frame *f = calloc(1, sizeof(*f));
    struct dash_view_state *vs = calloc(1, sizeof(*vs));
    if (!f || !vs || live_snapshot_new(lv, &sn) != LS_OK)
        goto out;
    /* A traced live run gets its Hot paths screen from the model's tracer. */
    struct dash_hooks with_hot = *h;
    if (!h->hot && sn->info->alloc && sn->info->hot &&
        dash_hot_open_live(sn->info->alloc, sn->info->hot, &own_hot) == LS_OK)
        with_hot.hot = own_hot;
    /* A run that proxies the target's AWS calls gets its Downstream screen from the model. */
    if (!h->ds && sn->info->ds)
        with_hot.ds = sn->info->ds;
    h = &with_hot;
    vs->replay = h->replay;
    vs->step_sel = sn->nsteps_total - 1; /* ALL STEPS */
    uint64_t last_snap = 0, msg_until = 0;
    bool dirty = true;
    for (;;) {
        if (dash_term_signals() > 0) {
            why = DASH_QUIT_SIGNAL;
            break;
        }
        if (h->tick)
            h->tick(h->ctx);
        uint64_t now = ls_now_ns();
        if (!vs->paused && now - last_snap >= SNAP_EVERY_NS) {
            live_snapshot_take(lv, sn);
            last_snap = now;
            dirty = true;
        }
        if (msg_until && now > msg_until) {
            vs->message[0] = '\0';
            msg_until = 0;
            dirty = true;
        }
        if (dirty) {
            int rows, cols;
            dash_term_size(&rows, &cols);
            compose(sn, h, vs, f, rows, cols);
            dash_term_paint(f);
            dirty = false;
        }
        /*
         * Wait until the next snapshot is due: a key ends the wait at once,
         * so keys answer as fast as before, but the thread wakes five times
         * a second instead of twenty while the load runs.
         */
        int wait_ms = KEY_WAIT_MAX_MS;
        if (!vs->paused) {
            uint64_t due = last_snap + SNAP_EVERY_NS, t = ls_now_ns();
            wait_ms = due > t ? (int)((due - t + 999999) / 1000000) : 0;
            if (wait_ms > KEY_WAIT_MAX_MS)
                wait_ms = KEY_WAIT_MAX_MS;
        }
        int ch = dash_term_key(wait_ms);
        if (ch < 0)
            continue;
        int fl = 0;
        if (!vs->help && h->key)
            fl = h->key(h->ctx, ch);
        if (!(fl & DASH_KEY_HANDLED)) {
            char msg[sizeof(vs->message)] = "";
            fl = on_key(ch, h, vs, sn, msg, sizeof(msg));
            if (msg[0]) {
                memcpy(vs->message, msg, sizeof(msg));
                msg_until = ls_now_ns() + 8000000000ull;
            }
        }
        if (fl & DASH_KEY_QUIT) {
            why = DASH_QUIT_KEY;
            break;
        }
        if (fl & DASH_KEY_RESNAP)
            last_snap = 0;
        if (fl & DASH_KEY_REDRAW)
            dirty = true;
    }
out:
    dash_hot_close(own_hot);
    live_snapshot_free(sn);
    free(f);
    free(vs);
    return why;
}

/* ---------------------------------------------------------- a live run */

struct watch {
    struct live *lv;
    struct engine *e;
    uint32_t lv_nsteps;      /* scenario steps (the handshake is step lv_nsteps) */
    enum engine_end end;
    ls_err rc;
    char *err;
    size_t errcap;
    const char *dbpath;
    int64_t session;
    void (*over)(void *ctx);
    void *over_ctx;
    _Atomic bool done;
};

static void *engine_thread(void *arg)
{
    struct watch *w = arg;
    w->rc = engine_run(w->e, &w->end, w->err, w->errcap);
    if (w->rc == LS_OK) {
        /* The last screen shows the exact totals the summary prints. */
        int nsteps = (int)w->lv_nsteps;
        for (int i = -1; i <= nsteps; i++) {
            struct coll_totals t;
            engine_totals(w->e, i, &t);
            live_set_totals(w->lv, i, &t);
        }
        if (w->over)
            w->over(w->over_ctx);
    }
    live_set_state(w->lv, LIVE_DONE);
    atomic_store(&w->done, true);
    return NULL;
}

static uint64_t in_flight(void *ctx)
{
    return engine_in_flight(ctx);
}

static size_t watch_pids(void *ctx, int *pids, size_t cap)
{
    struct watch *w = ctx;
    if (atomic_load(&w->done))
        return 0;
    return engine_target_pids(w->e, pids, cap);
}

static void watch_tick(void *ctx)
{
    struct watch *w = ctx;
    if (atomic_load(&ls_stop_requested) && !atomic_load(&w->done))
        live_set_state(w->lv, LIVE_STOPPING);
}

static void watch_status(void *ctx, char *buf, size_t cap)
{
    struct watch *w = ctx;
    if (atomic_load(&w->done))
        snprintf(buf, cap, "run over: q quits");
    else
        buf[0] = '\0';
}

ls_err dash_watch_run(struct live *lv, struct engine *e, uint32_t nsteps, const char *dbpath,
                      int64_t session, void (*over)(void *ctx), void *over_ctx,
                      enum engine_end *end, char *err, size_t errcap)
{
    struct watch w = {.lv = lv, .e = e, .err = err, .errcap = errcap, .dbpath = dbpath,
                      .session = session, .lv_nsteps = nsteps, .over = over,
                      .over_ctx = over_ctx};
    char why[256];
    if (!dash_term_open(why, sizeof(why))) {
        snprintf(err, errcap, "%s", why);
        *end = ENGINE_FAILED;
        return LS_ERR_IO;
    }
    pthread_t th;
    live_set_in_flight_fn(lv, in_flight, e);
    live_start(lv);
    if (pthread_create(&th, NULL, engine_thread, &w) != 0) {
        dash_term_close();
        live_forget_in_flight(lv);
        snprintf(err, errcap, "cannot start the engine thread");
        *end = ENGINE_FAILED;
        return LS_ERR_NOMEM;
    }
    struct dash_hooks h = {.ctx = &w, .tick = watch_tick, .status = watch_status, .pids = watch_pids};
    dash_hooks_add_export(&h, dbpath, session);
    enum dash_quit q = dash_loop(lv, &h);
    /* The run may still be going: quitting stops it, and the stop is waited for. */
    live_forget_in_flight(lv);
    dash_term_close();
    if (!atomic_load(&w.done)) {
        atomic_store(&ls_stop_requested, 1);
        fprintf(stderr, "loadscope: stopping the run (requests in flight may finish)...\n");
    }
    if (q == DASH_QUIT_SIGNAL) {
        /* As headless: a second Ctrl-C (or TERM) kills at once. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    pthread_join(th, NULL);
    *end = w.end;
    if (w.rc == LS_OK && q == DASH_QUIT_SIGNAL && w.end == ENGINE_COMPLETED)
        *end = ENGINE_INTERRUPTED;
    return w.rc;
}
