/*
 * dash_views: the update() half of each screen. Each turns a live snapshot
 * into rows of text in a dash_frame; none calls curses (dash_term paints).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "dash.h"
#include "report.h"

static const double pct_points[] = {50, 90, 99, 99.9};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9"};

void dash_fmt_us(int64_t us, bool any, char *buf, size_t cap)
{
    if (!any) {
        snprintf(buf, cap, "-");
        return;
    }
    report_fmt_us(us, buf, cap);
}

double dash_measured_seconds(const struct live_snapshot *sn)
{
    uint32_t warm_s = (uint32_t)((sn->info->warmup_ns + 999999999ull) / 1000000000ull);
    return sn->seconds_closed > warm_s ? (double)(sn->seconds_closed - warm_s) : 0;
}

/* The histogram a step's views show: measured, or the warm-up so far when nothing is yet. */
static const struct hdr *shown_hist(const struct live_snapshot *sn, size_t step, bool *warm)
{
    const struct live_step *st = &sn->steps[step];
    *warm = false;
    if (hdr_total_count(st->corrected) == 0 && step == sn->nsteps_total - 1 &&
        hdr_total_count(sn->run_corrected) > 0) {
        *warm = true;
        return sn->run_corrected;
    }
    return st->corrected;
}

/* ---- latency histogram with logarithmic (1-2-5) buckets ---- */

#define EDGES 30
static int64_t edge_us(int i)
{
    static const int64_t m[3] = {1, 2, 5};
    int64_t v = m[i % 3];
    for (int k = 0; k < i / 3; k++)
        v *= 10;
    return v;
}

static void fmt_edge(int64_t us, char *buf, size_t cap)
{
    if (us >= 1000000)
        snprintf(buf, cap, "%llds", (long long)(us / 1000000));
    else if (us >= 1000)
        snprintf(buf, cap, "%lldms", (long long)(us / 1000));
    else
        snprintf(buf, cap, "%lldus", (long long)us);
}

static void histogram(const struct hdr *h, struct dash_frame *f, int top, int rows, int col, int width)
{
    int64_t total = hdr_total_count(h);
    if (rows <= 0)
        return;
    if (total == 0) {
        dash_frame_put(f, top, col + 2, DS_DIM, "no requests measured yet");
        return;
    }
    int lo = 0, hi = 0;
    while (lo < EDGES - 1 && edge_us(lo) < hdr_min(h))
        lo++;
    while (hi < EDGES - 1 && edge_us(hi) < hdr_max(h))
        hi++;
    /* Buckets (edge[i-1], edge[i]] for i in lo..hi; merged k at a time to fit the rows. */
    int n = hi - lo + 1;
    int k = (n + rows - 1) / rows;
    int nb = (n + k - 1) / k;
    int64_t counts[EDGES] = {0}, upper[EDGES];
    for (int b = 0; b < nb; b++) {
        int last = lo + (b + 1) * k - 1;
        upper[b] = edge_us(last > hi ? hi : last);
    }
    upper[nb - 1] = edge_us(hi);
    struct hdr_iter it;
    hdr_iter_init(&it, h);
    int b = 0;
    while (hdr_iter_next(&it)) {
        while (b < nb - 1 && it.value_lowest > upper[b])
            b++;
        counts[b] += it.count;
    }
    int64_t maxc = 1;
    for (int i = 0; i < nb; i++)
        maxc = counts[i] > maxc ? counts[i] : maxc;
    int barw = width - 8 - 16;
    if (barw < 4)
        barw = 4;
    for (int i = 0; i < nb && i < rows; i++) {
        char lab[32];
        fmt_edge(upper[i], lab, sizeof(lab));
        int len = (int)((counts[i] * barw + maxc - 1) / maxc);
        char bar[DASH_MAX_COLS + 1];
        memset(bar, '#', (size_t)len);
        bar[len] = '\0';
        int r = top + i;
        dash_frame_put(f, r, col, DS_NORMAL, "<=%5s %-*s %7lld %5.1f%%", lab, barw, bar,
                       (long long)counts[i], 100.0 * (double)counts[i] / (double)total);
        dash_frame_style(f, r, col + 8, len, DS_BAR);
    }
}

/* Percentile table for one step: corrected and uncorrected side by side. */
static int percentile_table(const struct live_step *st, struct dash_frame *f, int top, int bottom,
                            int col)
{
    int r = top;
    bool any = hdr_total_count(st->corrected) > 0;
    dash_frame_put(f, r++, col, DS_HEAD, "%-10s %11s %12s", "percentile", "corrected", "uncorrected");
    char a[24], b[24];
    for (int i = 0; i < 4 && r < bottom; i++) {
        dash_fmt_us(hdr_value_at_percentile(st->corrected, pct_points[i]), any, a, sizeof(a));
        dash_fmt_us(hdr_value_at_percentile(st->uncorrected, pct_points[i]), any, b, sizeof(b));
        dash_frame_put(f, r++, col, DS_NORMAL, "%-10s %11s %12s", pct_names[i], a, b);
    }
    if (r < bottom) {
        dash_fmt_us(hdr_max(st->corrected), any, a, sizeof(a));
        dash_fmt_us(hdr_max(st->uncorrected), any, b, sizeof(b));
        dash_frame_put(f, r++, col, DS_NORMAL, "%-10s %11s %12s", "max", a, b);
    }
    if (r < bottom) {
        dash_fmt_us((int64_t)(hdr_mean(st->corrected) + 0.5), any, a, sizeof(a));
        dash_fmt_us((int64_t)(hdr_mean(st->uncorrected) + 0.5), any, b, sizeof(b));
        dash_frame_put(f, r++, col, DS_NORMAL, "%-10s %11s %12s", "mean", a, b);
    }
    return r;
}

/* One line of time series: label, a sparkline of the last seconds, the last value. */
static void series(const struct live_snapshot *sn, struct dash_frame *f, int row, const char *label,
                   int which)
{
    static const char levels[] = " .:-=+*#";
    int width = f->cols - 12 - 14;
    if (width < 8)
        return;
    size_t n = sn->nhistory < (size_t)width ? sn->nhistory : (size_t)width;
    const struct live_second *h = sn->history + (sn->nhistory - n);
    uint64_t vmax = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = which == 0 ? h[i].count : which == 1 ? (uint64_t)h[i].p99_us : h[i].errors;
        vmax = v > vmax ? v : vmax;
        last = v;
    }
    char spark[DASH_MAX_COLS + 1];
    for (size_t i = 0; i < n; i++) {
        uint64_t v = which == 0 ? h[i].count : which == 1 ? (uint64_t)h[i].p99_us : h[i].errors;
        int lv = vmax ? (int)((v * 7 + vmax - 1) / vmax) : 0;
        spark[i] = levels[lv];
    }
    spark[n] = '\0';
    char lastbuf[24], maxbuf[24];
    if (which == 1) {
        dash_fmt_us((int64_t)last, n > 0, lastbuf, sizeof(lastbuf));
        dash_fmt_us((int64_t)vmax, n > 0, maxbuf, sizeof(maxbuf));
    } else {
        snprintf(lastbuf, sizeof(lastbuf), "%llu", (unsigned long long)last);
        snprintf(maxbuf, sizeof(maxbuf), "%llu", (unsigned long long)vmax);
    }
    dash_frame_put(f, row, 1, DS_HEAD, "%-10s", label);
    dash_frame_put(f, row, 12, DS_NORMAL, "|%-*s|", width, spark);
    dash_frame_style(f, row, 13, (int)n, which == 2 && vmax ? DS_BAD : DS_BAR);
    dash_frame_put(f, row, 12 + width + 2, DS_NORMAL, "%9s", lastbuf);
    (void)maxbuf;
}

static void step_table(const struct live_snapshot *sn, struct dash_view_state *vs,
                       struct dash_frame *f, int top, int bottom)
{
    bool wide = f->cols >= 100;
    dash_frame_put(f, top, 1, DS_HEAD, "%-14s %8s %8s %7s %8s %8s%s %8s %8s", "step", "requests",
                   "rate/s", "errors", "p50", "p99", wide ? "    p99.9" : "", "p99 unc", "max");
    int rows = bottom - top - 1;
    if (rows <= 0)
        return;
    size_t n = sn->nsteps_total;
    size_t first = 0;
    if (vs->step_sel >= (size_t)rows)
        first = vs->step_sel - (size_t)rows + 1;
    double secs = dash_measured_seconds(sn);
    for (size_t i = first; i < n && (int)(i - first) < rows; i++) {
        const struct live_step *st = &sn->steps[i];
        int r = top + 1 + (int)(i - first);
        bool any = hdr_total_count(st->corrected) > 0;
        char p50[24], p99[24], u99[24], mx[24], p999[24];
        dash_fmt_us(hdr_value_at_percentile(st->corrected, 50), any, p50, sizeof(p50));
        dash_fmt_us(hdr_value_at_percentile(st->corrected, 99), any, p99, sizeof(p99));
        dash_fmt_us(hdr_value_at_percentile(st->uncorrected, 99), any, u99, sizeof(u99));
        dash_fmt_us(hdr_max(st->corrected), any, mx, sizeof(mx));
        dash_fmt_us(hdr_value_at_percentile(st->corrected, 99.9), any, p999, sizeof(p999));
        double errpct = st->count ? 100.0 * (double)st->errors / (double)st->count : 0;
        char name[15];
        snprintf(name, sizeof(name), "%s", st->name);
        char p999col[32] = "";
        if (wide)
            snprintf(p999col, sizeof(p999col), " %8s", p999);
        dash_frame_put(f, r, 1, DS_NORMAL, "%-14s %8llu %8.1f %6.2f%% %8s %8s%s %8s %8s", name,
                       (unsigned long long)st->count, secs > 0 ? (double)st->count / secs : 0.0,
                       errpct, p50, p99, p999col, u99, mx);
        if (st->errors)
            dash_frame_style(f, r, 33, 7, DS_BAD);
        if (i == vs->step_sel)
            dash_frame_style(f, r, 0, f->cols, DS_SELECT);
    }
}

void dash_view_overview(const struct live_snapshot *sn, struct dash_view_state *vs,
                        struct dash_frame *f, int top, int bottom)
{
    int h = bottom - top;
    if (h < 8) {
        dash_frame_put(f, top, 1, DS_WARN, "the window is too small: 80x24 or larger shows everything");
        return;
    }
    int want_table = (int)sn->nsteps_total + 1;
    int hist_rows = h - 3 - want_table;
    if (hist_rows < 7)
        hist_rows = 7;
    if (hist_rows > 16)
        hist_rows = 16;
    if (hist_rows > h - 5)
        hist_rows = h - 5;
    int left_w = f->cols / 2;
    bool warm;
    const struct hdr *hist = shown_hist(sn, vs->step_sel, &warm);
    const struct live_step *st = &sn->steps[vs->step_sel];
    dash_frame_put(f, top, 1, DS_HEAD, "latency: %.20s%s", st->name,
                   warm ? " (warm-up)" : ", corrected");
    histogram(hist, f, top + 1, hist_rows - 1, 1, left_w - 2);
    int r = percentile_table(st, f, top, top + hist_rows, left_w + 1);
    if (r < top + hist_rows) {
        double errpct = st->count ? 100.0 * (double)st->errors / (double)st->count : 0;
        dash_frame_put(f, r, left_w + 1, DS_NORMAL, "requests %llu  errors %llu (%.2f%%)",
                       (unsigned long long)st->count, (unsigned long long)st->errors, errpct);
    }
    int s = top + hist_rows;
    series(sn, f, s, "rate/s", 0);
    series(sn, f, s + 1, "p99", 1);
    series(sn, f, s + 2, "errors/s", 2);
    step_table(sn, vs, f, s + 3, bottom);
}

static void step_list(const struct live_snapshot *sn, const struct dash_view_state *vs,
                      struct dash_frame *f, int top, int bottom, int width)
{
    dash_frame_put(f, top, 1, DS_HEAD, "steps");
    int rows = bottom - top - 1;
    size_t first = vs->step_sel >= (size_t)rows && rows > 0 ? vs->step_sel - (size_t)rows + 1 : 0;
    for (size_t i = first; i < sn->nsteps_total && (int)(i - first) < rows; i++) {
        int r = top + 1 + (int)(i - first);
        dash_frame_put(f, r, 1, DS_NORMAL, "%-*.*s", width - 2, width - 2, sn->steps[i].name);
        if (i == vs->step_sel)
            dash_frame_style(f, r, 1, width - 2, DS_SELECT);
    }
}

void dash_view_steps(const struct live_snapshot *sn, struct dash_view_state *vs,
                     struct dash_frame *f, int top, int bottom)
{
    const int lw = 19;
    step_list(sn, vs, f, top, bottom, lw);
    const struct live_step *st = &sn->steps[vs->step_sel];
    int c = lw + 1, r = top;
    double secs = dash_measured_seconds(sn);
    double errpct = st->count ? 100.0 * (double)st->errors / (double)st->count : 0;
    dash_frame_put(f, r++, c, DS_HEAD, "%.30s", st->name);
    dash_frame_put(f, r++, c, DS_NORMAL, "requests %llu   rate %.1f/s   errors %llu (%.2f%%)   late %llu",
                   (unsigned long long)st->count, secs > 0 ? (double)st->count / secs : 0.0,
                   (unsigned long long)st->errors, errpct, (unsigned long long)st->late);
    r = percentile_table(st, f, r, bottom, c);
    if (r >= bottom)
        return;
    const struct live_phases *ph = &st->phases;
    if (vs->replay) {
        dash_frame_put(f, r++, c, DS_DIM, "phases: not stored per second (live runs show them)");
    } else {
        dash_frame_put(f, r++, c, DS_HEAD, "phase (mean per request)");
        const char *names[] = {"DNS", "connect", "TLS", "first byte", "transfer"};
        uint64_t sums[] = {ph->dns_us, ph->connect_us, ph->tls_us, ph->ttfb_us, ph->transfer_us};
        double maxm = 0;
        for (int i = 0; i < 5; i++) {
            double m = ph->requests ? (double)sums[i] / (double)ph->requests : 0;
            maxm = m > maxm ? m : maxm;
        }
        int barw = f->cols - c - 24;
        for (int i = 0; i < 5 && r < bottom; i++) {
            double m = ph->requests ? (double)sums[i] / (double)ph->requests : 0;
            char v[24];
            dash_fmt_us((int64_t)(m + 0.5), ph->requests > 0, v, sizeof(v));
            int len = maxm > 0 && barw > 0 ? (int)(m / maxm * barw + 0.5) : 0;
            char bar[DASH_MAX_COLS + 1];
            memset(bar, '#', (size_t)len);
            bar[len] = '\0';
            dash_frame_put(f, r, c + 2, DS_NORMAL, "%-11s %9s %s", names[i], v, bar);
            dash_frame_style(f, r, c + 24, len, DS_BAR);
            r++;
        }
        if (r < bottom)
            dash_frame_put(f, r++, c + 2, DS_NORMAL, "new connections per request %.4f (%llu of %llu)",
                           ph->requests ? (double)ph->new_conns / (double)ph->requests : 0.0,
                           (unsigned long long)ph->new_conns, (unsigned long long)ph->requests);
    }
    if (r < bottom) {
        char line[DASH_MAX_COLS + 1];
        size_t off = (size_t)snprintf(line, sizeof(line), "errors by class:");
        bool any = false;
        for (int k = 1; k < LS_EC__COUNT && off < sizeof(line); k++) {
            if (st->err_by_class[k]) {
                off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%llu",
                                        ls_errclass_name((enum ls_errclass)k),
                                        (unsigned long long)st->err_by_class[k]);
                any = true;
            }
        }
        dash_frame_put(f, r++, c, any ? DS_BAD : DS_NORMAL, "%s%s", line, any ? "" : " none");
    }
}

void dash_view_errors(const struct live_snapshot *sn, struct dash_view_state *vs,
                      struct dash_frame *f, int top, int bottom)
{
    int r = top;
    const struct live_step *all = &sn->steps[sn->nsteps_total - 1];
    const struct live_step *init = &sn->steps[sn->nsteps_total - 2];
    uint64_t total = 0, by[LS_EC__COUNT];
    for (int k = 0; k < LS_EC__COUNT; k++) {
        by[k] = k ? all->err_by_class[k] + init->err_by_class[k] : 0;
        total += by[k];
    }
    dash_frame_put(f, r++, 1, DS_HEAD, "errors by class%s", vs->replay ? " (stored summary, whole session)"
                                                                         : " (measured, all steps and the handshake)");
    if (total == 0)
        dash_frame_put(f, r++, 3, DS_GOOD, "no errors");
    for (int k = 1; k < LS_EC__COUNT && r < bottom - 2; k++) {
        if (!by[k])
            continue;
        dash_frame_put(f, r, 3, DS_NORMAL, "%-14s %10llu  %5.1f%%", ls_errclass_name((enum ls_errclass)k),
                       (unsigned long long)by[k], 100.0 * (double)by[k] / (double)total);
        dash_frame_style(f, r, 3, 14, DS_BAD);
        r++;
    }
    r++;
    if (r >= bottom)
        return;
    int head = r++;
    int rows = bottom - r;
    if (rows <= 0)
        return;
    if (vs->err_scroll >= sn->nevents)
        vs->err_scroll = sn->nevents ? sn->nevents - 1 : 0;
    size_t end = sn->nevents - vs->err_scroll;
    size_t start = end > (size_t)rows ? end - (size_t)rows : 0;
    dash_frame_put(f, head, 1, DS_HEAD, "last messages, newest last: %zu-%zu of %zu kept%s",
                   sn->nevents ? start + 1 : 0, end, sn->nevents,
                   sn->events_dropped ? " (older ones dropped)" : "");
    if (sn->nevents == 0)
        dash_frame_put(f, r, 3, DS_DIM, "none yet");
    for (size_t i = start; i < end; i++, r++) {
        const struct live_event *ev = &sn->events[i];
        bool err = strcmp(ev->kind, "target_start") != 0;
        dash_frame_put(f, r, 1, DS_NORMAL, "[%7.1fs] %s: %s", (double)ev->t_ns / 1e9, ev->kind,
                       ev->message);
        dash_frame_style(f, r, 12, (int)strlen(ev->kind), err ? DS_WARN : DS_GOOD);
    }
}

static double find_prev_cpu(const struct dash_view_state *vs, int pid)
{
    for (size_t i = 0; i < vs->nprev; i++) {
        if (vs->prev_pids[i] == pid)
            return vs->cpu_pct[i];
    }
    return -1;
}

void dash_view_target(const struct live_snapshot *sn, struct dash_view_state *vs,
                      struct dash_frame *f, int top, int bottom)
{
    int r = top;
    (void)sn;
    dash_frame_put(f, r++, 1, DS_HEAD, "target processes launched by this run");
    if (vs->npids == 0) {
        dash_frame_put(f, r++, 3, DS_DIM, "none running: the target was not launched by loadscope, or has stopped");
        return;
    }
    struct dash_proc_info info[16];
    uint64_t now = ls_now_ns();
    bool fresh = vs->prev_read_ns == 0 || now - vs->prev_read_ns >= 1000000000ull;
    long hz = sysconf(_SC_CLK_TCK);
    double cpu[16];
    for (size_t i = 0; i < vs->npids; i++) {
        if (!dash_proc_read(vs->pids[i], &info[i]))
            info[i].alive = false;
        cpu[i] = find_prev_cpu(vs, vs->pids[i]);
    }
    if (fresh) {
        double dt = (double)(now - vs->prev_read_ns) / 1e9;
        for (size_t i = 0; i < vs->npids; i++) {
            cpu[i] = -1;
            for (size_t j = 0; j < vs->nprev && vs->prev_read_ns; j++) {
                if (vs->prev_pids[j] == vs->pids[i] && info[i].alive && hz > 0 && dt > 0)
                    cpu[i] = 100.0 * (double)(info[i].cpu_ticks - vs->prev_cpu_ticks[j]) / (double)hz / dt;
            }
        }
        for (size_t i = 0; i < vs->npids; i++) {
            vs->prev_pids[i] = vs->pids[i];
            vs->prev_cpu_ticks[i] = info[i].alive ? info[i].cpu_ticks : 0;
            vs->cpu_pct[i] = cpu[i];
        }
        vs->nprev = vs->npids;
        vs->prev_read_ns = now;
    }
    dash_frame_put(f, r++, 1, DS_HEAD, "%8s  %-16s %5s %12s %7s %8s %6s", "pid", "name", "state", "RSS",
                   "CPU %", "threads", "fds");
    for (size_t i = 0; i < vs->npids && r < bottom; i++, r++) {
        const struct dash_proc_info *p = &info[i];
        if (!p->alive) {
            dash_frame_put(f, r, 1, DS_DIM, "%8d  (gone)", vs->pids[i]);
            continue;
        }
        char rss[24], c[16] = "...";
        if (p->rss_kb >= 10240)
            snprintf(rss, sizeof(rss), "%.1f MiB", (double)p->rss_kb / 1024.0);
        else
            snprintf(rss, sizeof(rss), "%llu KiB", (unsigned long long)p->rss_kb);
        if (cpu[i] >= 0)
            snprintf(c, sizeof(c), "%.1f", cpu[i]);
        dash_frame_put(f, r, 1, DS_NORMAL, "%8d  %-16.16s %5c %12s %7s %8llu %6llu", p->pid, p->name,
                       p->state, rss, c, (unsigned long long)p->threads, (unsigned long long)p->fds);
        if (i == vs->target_sel && vs->npids > 1)
            dash_frame_style(f, r, 0, f->cols, DS_SELECT);
    }
    if (r + 1 < bottom)
        dash_frame_put(f, r + 1, 1, DS_DIM, "from /proc/PID/status, stat and fd; CPU %% over the last second (100 = one core)");
}
