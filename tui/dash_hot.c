/*
 * dash_hot: the Hot paths screen, the Overview's panel and their keys (see
 * dash_hot.h).
 *
 * The view half of the handle: each call has the model refresh the figures
 * (dash_hot_model.c, dash_hot_replay.c), then formats them as text into a
 * dash_frame, which dash_term paints. It writes only the view state (sort,
 * selection, stack scroll) and includes curses for key codes only.
 */
#include "dash_hot.h"

#include <curses.h> /* key codes only: painting is dash_term's */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dash.h"
#include "dash_hot_int.h"

/* ---- formatting ---------------------------------------------------------- */

/* 999.9, 12.3k, 4.56M, 7.89G */
static void fmt_count(double v, char *buf, size_t cap)
{
    if (v < 1000)
        snprintf(buf, cap, v < 100 && v != (double)(uint64_t)v ? "%.2f" : "%.0f", v);
    else if (v < 1e6)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else if (v < 1e9)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else
        snprintf(buf, cap, "%.2fG", v / 1e9);
}

/* 512B, 97.7K, 12.3M, 1.20G (binary units) */
static void fmt_bytes(double v, char *buf, size_t cap)
{
    static const char units[] = "BKMGT";
    int u = 0;
    bool neg = v < 0;
    if (neg)
        v = -v;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%s%.0fB", neg ? "-" : "", v);
    else
        snprintf(buf, cap, "%s%.*f%c", neg ? "-" : "", v < 10 ? 2 : 1, v, units[u]);
}

/* ---- the screen -------------------------------------------------------------- */

static void put_procs(struct dash_hot *h, struct dash_frame *f, int *r, int bottom, int maxrows)
{
    int used = 0;
    if (h->nprocs == 0 && *r < bottom) {
        dash_frame_put(f, (*r)++, 1, DS_DIM, "target: %s", h->a ? "no process running" : "no /proc rows stored");
        return;
    }
    for (size_t i = 0; i < h->nprocs && *r < bottom && used < maxrows; i++, used++) {
        const struct dash_hot_proc *p = &h->procs[i];
        if (!p->alive) {
            dash_frame_put(f, (*r)++, 1, DS_DIM, "pid %d (gone)", p->pid);
            continue;
        }
        char rss[16], cpu[16] = "...";
        fmt_bytes((double)p->rss_bytes, rss, sizeof(rss));
        if (p->cpu_pct >= 0)
            snprintf(cpu, sizeof(cpu), "%.1f%%", p->cpu_pct);
        dash_frame_put(f, *r, 1, DS_NORMAL, "pid %-7d RSS %-7s CPU %-6s threads %-3llu %s", p->pid, rss,
                       cpu, (unsigned long long)p->threads, p->names);
        dash_frame_style(f, *r, 1, 3, DS_HEAD);
        (*r)++;
    }
}

static void put_totals(struct dash_hot *h, struct dash_frame *f, int r)
{
    char tot[16], rate[16], preq[16], live[16];
    fmt_count((double)h->total_allocs, tot, sizeof(tot));
    fmt_count(h->seconds > 0 ? (double)h->total_allocs / h->seconds : 0, rate, sizeof(rate));
    fmt_count(h->requests ? (double)h->total_allocs / (double)h->requests : 0, preq, sizeof(preq));
    fmt_bytes((double)h->live_total, live, sizeof(live));
    int n = dash_frame_put(f, r, 1, DS_NORMAL, "allocations %s  %s/s  %s/req  live %s  stacks %llu  over %.0fs",
                           tot, rate, h->requests ? preq : "-", live, (unsigned long long)h->stacks,
                           h->seconds);
    if (h->dropped)
        dash_frame_put(f, r, 1 + n, DS_BAD, "  dropped %llu", (unsigned long long)h->dropped);
}

/* The table's heading and rows; wide screens get a label column. */
static int table(struct dash_hot *h, struct dash_frame *f, int top, int bottom, bool mark_sel)
{
    bool wide = f->cols >= 110;
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD, "%2s %8s %8s %7s %7s %6s %5s %8s %s%s", "#",
                   h->by_bytes ? "allocs/s" : "allocs/s*", h->by_bytes ? "bytes/s*" : "bytes/s",
                   "al/req", "B/req", "reall", "short", "live", wide ? "label          " : "",
                   "blame: function (file:line)");
    int rows = bottom - r;
    if (rows <= 0)
        return r;
    size_t first = h->sel >= (size_t)rows ? h->sel - (size_t)rows + 1 : 0;
    if (!mark_sel)
        first = 0;
    for (size_t i = first; i < h->nrows && r < bottom; i++, r++) {
        const struct hotpath_row *x = &h->rows[i];
        char as[16], bs[16], ar[16], br[16], re[16], lv[16];
        fmt_count(x->allocs_per_s, as, sizeof(as));
        fmt_bytes(x->bytes_per_s, bs, sizeof(bs));
        fmt_count(x->allocs_per_req, ar, sizeof(ar));
        fmt_bytes(x->bytes_per_req, br, sizeof(br));
        fmt_count((double)x->reallocs, re, sizeof(re));
        fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
        double sp = x->allocs ? 100.0 * (double)x->short_lived / (double)x->allocs : 0;
        char lab[24] = "";
        if (wide)
            snprintf(lab, sizeof(lab), "%-14.14s ", x->label[0] ? x->label : "-");
        dash_frame_put(f, r, 1, DS_NORMAL, "%2zu %8s %8s %7s %7s %6s %4.0f%% %7s%c %s%s", i + 1, as, bs,
                       h->requests ? ar : "-", h->requests ? br : "-", re, sp, lv, x->leak ? '!' : ' ', lab,
                       x->blame);
        if (x->leak)
            dash_frame_style(f, r, 1 + 2 + 1 + 8 + 1 + 8 + 1 + 7 + 1 + 7 + 1 + 6 + 1 + 5 + 1, 8, DS_BAD);
        if (mark_sel && i == h->sel)
            dash_frame_style(f, r, 0, f->cols, DS_SELECT);
    }
    return r;
}

static void stack_view(struct dash_hot *h, struct dash_frame *f, int top, int bottom)
{
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD, "stack of %s", h->stack_title ? h->stack_title : "?");
    size_t nlines = dash_hot_stack_lines(h);
    int rows = bottom - r;
    if (rows <= 0)
        return;
    if (h->stack_scroll + (size_t)rows > nlines)
        h->stack_scroll = nlines > (size_t)rows ? nlines - (size_t)rows : 0;
    const char *p = h->stack_text ? h->stack_text : "";
    for (size_t i = 0; *p && r < bottom; i++) {
        size_t l = strcspn(p, "\n");
        if (i >= h->stack_scroll)
            dash_frame_put(f, r++, 3, i == 0 ? DS_WARN : DS_NORMAL, "%2zu %.*s", i, (int)l, p);
        p += l;
        if (*p == '\n')
            p++;
    }
}

void dash_view_hot(struct dash_hot *h, const struct live_snapshot *sn, struct dash_frame *f, int top,
                   int bottom)
{
    dash_hot_refresh(h, sn);
    if (h->stack_open) {
        stack_view(h, f, top, bottom);
        return;
    }
    int r = top;
    if (bottom - top < 8) {
        dash_frame_put(f, r, 1, DS_WARN, "the window is too small: 80x24 or larger shows everything");
        return;
    }
    put_procs(h, f, &r, bottom, bottom - top >= 16 ? 2 : 1);
    put_totals(h, f, r++);
    if (h->warning[0] && r < bottom)
        dash_frame_put(f, r++, 1, DS_WARN, "%s", h->warning);
    /* Three rows of detail about the selected path under the table. */
    int detail = 3;
    if (h->nrows == 0) {
        dash_frame_put(f, r + 1, 3, DS_DIM, "%s",
                       h->total_allocs ? "no stacks recorded (count mode keeps none)"
                       : h->upto == 0  ? "waiting for the tracer's first second of allocations"
                                       : "no allocations traced yet");
        return;
    }
    table(h, f, r, bottom - detail, true);
    const struct hotpath_row *x = &h->rows[h->sel];
    int d = bottom - detail;
    char b[16], lv[16];
    fmt_bytes((double)x->bytes, b, sizeof(b));
    fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
    char pid[24];
    snprintf(pid, sizeof(pid), "pid %d  ", x->pid);
    int pl = (int)strlen(pid);
    /* The blame gives way to the pid on the right. */
    int room = f->cols - pl - 2 - 6 - (int)strlen(x->label);
    dash_frame_put(f, d, 1, DS_HEAD, "#%zu %s%s%.*s", h->sel + 1, x->label, x->label[0] ? ": " : "",
                   room > 8 ? room : 8, x->blame);
    dash_frame_put(f, d, f->cols - pl, DS_NORMAL, "%s", pid);
    dash_frame_put(f, d + 1, 3, DS_NORMAL, "allocs %" PRIu64 "  bytes %s  reallocs %" PRIu64 "  frees %" PRIu64
                   "  short-lived %" PRIu64 "  live %s",
                   x->allocs, b, x->reallocs, x->frees, x->short_lived, lv);
    if (x->leak)
        dash_frame_put(f, d + 2, 3, DS_BAD, "live bytes rose in each of the last %d seconds: a possible leak",
                       DASH_HOT_LEAK_S);
    else
        dash_frame_put(f, d + 2, 3, DS_DIM, "* ranking; ! live bytes rising %ds in a row (leak?); K,M = KiB,MiB",
                       DASH_HOT_LEAK_S);
}

int dash_hot_panel_rows(int body_rows)
{
    return body_rows >= 17 ? 4 : 0;
}

void dash_hot_panel(struct dash_hot *h, const struct live_snapshot *sn, struct dash_frame *f, int top,
                    int bottom)
{
    if (bottom - top < 2)
        return;
    dash_hot_refresh(h, sn);
    size_t n = h->nrows < (size_t)(bottom - top - 1) ? h->nrows : (size_t)(bottom - top - 1);
    if (n == 0) {
        dash_frame_put(f, top, 1, DS_HEAD, "allocation hot paths");
        dash_frame_put(f, top, 23, DS_DIM, "%s",
                       h->total_allocs ? "no stacks recorded"
                       : h->upto == 0  ? "waiting for the tracer's first second"
                                       : "none traced yet");
        return;
    }
    char tot[16];
    fmt_count(h->seconds > 0 ? (double)h->total_allocs / h->seconds : 0, tot, sizeof(tot));
    dash_frame_put(f, top, 1, DS_HEAD, "allocation hot paths (%s allocs/s in all)", tot);
    for (size_t i = 0; i < n; i++) {
        const struct hotpath_row *x = &h->rows[i];
        char as[16], ar[16], bs[16], lv[16];
        fmt_count(x->allocs_per_s, as, sizeof(as));
        fmt_count(x->allocs_per_req, ar, sizeof(ar));
        fmt_bytes(x->bytes_per_s, bs, sizeof(bs));
        fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
        dash_frame_put(f, top + 1 + (int)i, 1, DS_NORMAL, "%zu %8s/s %8s/s %7s/req live %7s%c %s", i + 1, as,
                       bs, h->requests ? ar : "-", lv, x->leak ? '!' : ' ', x->blame);
    }
}

int dash_hot_key(struct dash_hot *h, int ch)
{
    const int done = DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    if (h->stack_open) {
        switch (ch) {
        case '\n':
        case '\r':
        case KEY_ENTER:
        case 27: /* Esc */
        case KEY_BACKSPACE:
            h->stack_open = false;
            return done;
        case KEY_UP:
            if (h->stack_scroll > 0)
                h->stack_scroll--;
            return done;
        case KEY_DOWN:
            h->stack_scroll++; /* clamped when drawn */
            return done;
        default:
            return 0;
        }
    }
    switch (ch) {
    case 's':
        h->by_bytes = !h->by_bytes;
        h->sel = 0;
        return done;
    case KEY_UP:
        if (h->sel > 0)
            h->sel--;
        return done;
    case KEY_DOWN:
        if (h->sel + 1 < h->nrows)
            h->sel++;
        return done;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (h->nrows == 0 || !dash_hot_stack_open(h))
            return DASH_KEY_HANDLED;
        return done;
    default:
        return 0;
    }
}

void dash_hot_keys_help(const struct dash_hot *h, char *buf, size_t cap)
{
    if (h->stack_open)
        snprintf(buf, cap, "Up/Down scroll  Enter/Esc back");
    else
        snprintf(buf, cap, "Up/Down path  Enter stack  s sort by %s", h->by_bytes ? "allocs" : "bytes");
}
